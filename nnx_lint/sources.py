"""A Python file's bytes as text, as every front end reads them (``files.read_source``) and as a
replayed run with a changed file reads it (``incremental``): light enough for the latter."""

from __future__ import annotations

import io

# Larger files are reported (E902) rather than analysed (libcst needs ~10 s per MiB), and the
# project index does not read them (``Settings.max_file_size``'s default).
MAX_FILE_SIZE = 2 * 1024 * 1024


class SourceError(Exception):
    """A file that cannot be read, decoded or written; the message names no path."""


def decode_source(data: bytes) -> tuple[str, str]:
    """Source bytes (a file's, or standard input's): the text, newlines untranslated, and its
    codec (``utf-8-sig`` when it has a BOM; else its coding declaration's, or UTF-8)."""
    import tokenize

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding), encoding
    except SyntaxError as exc:  # a bad coding declaration
        raise SourceError(exc.msg) from None
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"cannot decode as {exc.encoding}: {exc.reason} at byte offset {exc.start}"
        ) from None
