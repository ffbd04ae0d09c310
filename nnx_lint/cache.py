"""The persistent cache that makes a run with nothing changed near-instant.

Two tables, pickled together in ``<cache dir>/cache-v<FORMAT>.pickle``:

- index facts of each file, keyed by its resolved path and (mtime, size): a warm run builds the
  project index without reading or parsing any file that did not change;
- each file's diagnostics, keyed by a digest of nnx-lint's version, the file's settings, the
  file's path and (mtime, size) (as ruff's cache: a warm run reads no file), and the
  fingerprint of the whole project index (the classes and imports of every file), so a result
  is reused only when nothing it could depend on changed: when a Module subclass moves between
  files, every result is recomputed.

The directory holds a ``.gitignore`` of ``*`` (like ruff's), so it never shows in ``git status``.
Writes are atomic; a cache that cannot be read or written is ignored, never an error.

Journals: a save with few new entries (one file changed) writes them as a journal of their own,
``journal-<time>-<pid>.pickle``, rather than rewriting the whole file; a process that cannot
count on saving at its end (a flake8 worker, ended by its pool without running exit handlers)
journals each entry as it is put (``journal=True``). A cache read takes every journal in, in
the order they were written; once COMPACT have piled up, its save rewrites the file and
removes them. A journal cut short ends where it was cut.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, BinaryIO, Generic, TypeVar

from nnx_lint import __version__
from nnx_lint.stamps import DEFAULT_DIR as DEFAULT_DIR  # re-exported: told there, used here
from nnx_lint.stamps import Stamp as Stamp
from nnx_lint.stamps import stamp as stamp

if TYPE_CHECKING:  # the rest is imported where used: a replayed run imports DEFAULT_DIR only
    from pathlib import Path

FORMAT = 17
FILENAME = f"cache-v{FORMAT}.pickle"
JOURNAL = "journal-"
FEW = 64  # at most this many new entries are saved as a journal, not by rewriting the file
COMPACT = 8  # journals read at once, beyond which the cache file is rewritten

# What the cache holds for its caller, who names the types (this module is below both in the
# layers): a file's index facts, and one of a file's diagnostics.
FactsT = TypeVar("FactsT")
ResultT = TypeVar("ResultT")


class Cache(Generic[FactsT, ResultT]):
    """A no-op when ``directory`` is None (``--no-cache``)."""

    def __init__(self, directory: Path | None, *, journal: bool = False) -> None:
        self.directory = directory
        self.facts: dict[str, tuple[Stamp, FactsT]] = {}
        self.results: dict[str, tuple[bytes, list[ResultT]]] = {}
        self.journal = journal
        self._new: list[tuple[str, str, object]] = []  # entries put since it was read
        self._loaded = False  # the cache file was read (else it is written whole)
        self._journal: BinaryIO | None = None
        self._journal_pid = 0  # the process that opened it: a forked one opens its own
        self._taken: list[str] = []  # the journals read, removed once the file is rewritten
        if directory is not None:
            import pickle

            try:
                with open(directory / FILENAME, "rb") as f:
                    version, self.facts, self.results = pickle.load(f)
                self._loaded = version == __version__
                if not self._loaded:
                    self.facts, self.results = {}, {}
            except Exception:  # missing, truncated, from another version: start afresh
                self.facts, self.results = {}, {}
            self._take_journals(directory)

    def _take_journals(self, directory: Path) -> None:
        import pickle

        try:
            names = [n for n in os.listdir(directory) if n.startswith(JOURNAL)]
        except OSError:
            return
        for name in sorted(names, key=_journal_order):
            path = os.path.join(directory, name)
            try:
                with open(path, "rb") as f:
                    while True:
                        version, table, key, entry = pickle.load(f)
                        if version == __version__:
                            (self.facts if table == "facts" else self.results)[key] = entry
            except Exception:  # its end (EOFError), or where it was cut short
                pass
            self._taken.append(path)

    def _put(self, table: str, key: str, entry: object) -> None:
        self._new.append((table, key, entry))
        if not self.journal:
            return
        import pickle

        try:
            if self._journal is None or self._journal_pid != os.getpid():
                assert self.directory is not None
                self.directory.mkdir(parents=True, exist_ok=True)
                path = os.path.join(self.directory, _journal_name())
                self._journal = open(path, "ab")  # open for the rest of the process's life
                self._journal_pid = os.getpid()
            pickle.dump((__version__, table, key, entry), self._journal, protocol=5)
            self._journal.flush()
        except OSError:
            pass  # a read-only tree: nothing kept

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    def get_facts(self, key: str, file_stamp: Stamp) -> tuple[bool, FactsT | None]:
        entry = self.facts.get(key)
        if entry is not None and entry[0] == file_stamp:
            return True, entry[1]
        return False, None

    def put_facts(self, key: str, file_stamp: Stamp | None, facts: FactsT) -> None:
        if self.enabled and file_stamp is not None:
            self.facts[key] = (file_stamp, facts)
            self._put("facts", key, self.facts[key])

    @staticmethod
    def result_key(path: str, file_stamp: object, settings: object, fingerprint: bytes) -> bytes:
        import hashlib

        h = hashlib.blake2b(digest_size=16)
        for part in (__version__, repr(settings), path, repr(file_stamp), fingerprint.hex()):
            h.update(part.encode("utf-8", "surrogatepass") + b"\0")
        return h.digest()

    def get_results(self, path: str, key: bytes) -> list[ResultT] | None:
        entry = self.results.get(path)
        return entry[1] if entry is not None and entry[0] == key else None

    def put_results(self, path: str, key: bytes, diagnostics: list[ResultT]) -> None:
        if self.enabled:
            self.results[path] = (key, diagnostics)
            self._put("results", path, self.results[path])

    def save(self) -> None:
        """Keep what was put: a few entries as a journal of their own (the cache file is not
        rewritten for one changed file), else, or once COMPACT journals have piled up, the
        whole cache file, the journals it now holds removed."""
        directory = self.directory
        whole = not self._loaded or len(self._taken) >= COMPACT or len(self._new) > FEW
        if directory is None or not (self._new or len(self._taken) >= COMPACT):
            return  # disabled, or nothing new
        if self.journal and not whole:
            return  # journaled as it was put
        import pickle
        import tempfile

        try:
            directory.mkdir(parents=True, exist_ok=True)
            ignore = directory / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# Created by nnx-lint.\n*\n")
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".cache-", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                if whole:
                    pickle.dump((__version__, self.facts, self.results), f, protocol=5)
                else:
                    for table, key, entry in self._new:
                        pickle.dump((__version__, table, key, entry), f, protocol=5)
            os.replace(tmp, directory / (FILENAME if whole else _journal_name()))
            self._new = []
            if whole:
                for path in self._taken:
                    try:
                        os.unlink(path)
                    except OSError:
                        pass
                self._taken, self._loaded = [], True
        except OSError:
            pass  # a read-only tree: run without a cache


def _journal_name() -> str:
    """A new journal's name: in the order written (taken in that order), unique per process."""
    return f"{JOURNAL}{time.time_ns()}-{os.getpid()}.pickle"


def _journal_order(name: str) -> int:
    try:
        return int(name[len(JOURNAL) :].split("-")[0])
    except ValueError:
        return 0
