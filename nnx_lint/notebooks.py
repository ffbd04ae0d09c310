"""Jupyter notebooks (nbformat 4) as one program: the code cells in order, as a reader runs
them, with IPython magics and shell escapes masked; fixed programs written back into the
cells they came from, leaving everything else of the file as it was.

Read with the standard library's ``json`` and the checks of nbformat 4's schema that matter
here (``nbformat`` itself costs ~95 ms to import, more than a whole warm run may take).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

SUFFIX = ".ipynb"
# A comment line between two cells in the program: fixes never touch comments, so the fixed
# program splits back into its cells.
BOUNDARY = "# nnx-lint: cell boundary"
# A masked line: a statement, so that a block holding only a magic (`if colab:\n  !pip ...`)
# still parses; + the number of the original line in ``Notebook.masked``.
MASK_COMMENT = "# nnx-lint: masked "
_MASK = f"pass  {MASK_COMMENT}"
_MASKED = re.compile(r"^[ \t]*pass  # nnx-lint: masked (?P<k>\d+)$")
# IPython syntax that is not Python: `%magic`, `!shell`, `x = !cmd`, `x = %magic`, `obj?`.
# (`!=` and `% x` continuing an expression are Python: a magic is `%name`, a shell escape `!`
# not followed by `=`.)
_ESCAPE = r"(?:%%?[A-Za-z]|![^=])"
_MAGIC = re.compile(
    rf"^\s*(?:{_ESCAPE}|[\w.]+\s*=\s*{_ESCAPE}|[\w.]+\?{{1,2}}\s*$|\?{{1,2}}[\w.]+\s*$)"
)


# Cell magics whose body is Python run in the kernel (only their first line is masked).
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})


class ProgramError(Exception):
    """A file whose code cannot be read as a program or written back; names no path."""


class NotebookError(ProgramError):
    """A notebook that cannot be read or written back; the message names no path."""


@dataclass(frozen=True)
class Place:
    """Where a line of a notebook's or document's program stands in its file."""

    cell: int | None  # the notebook cell ``line`` counts in (None in a document)
    line: int  # 1-based, in the cell or the document
    shift: int  # columns the code is indented by in the file
    unit: int  # the cell or block it belongs to: a position never spans two


@dataclass(frozen=True)
class CodeCell:
    number: int  # 1-based position among all the notebook's cells
    start: int  # 1-based line of the program where its code starts
    lines: int  # how many lines of the program it holds


@dataclass(frozen=True)
class Notebook:
    text: str  # the file's text
    data: dict[str, Any]  # its JSON
    cells: tuple[CodeCell, ...]
    program: str  # the code cells in order, magics masked, BOUNDARY between cells
    masked: tuple[str, ...]  # the original lines the program masks, by number

    def place(self, line: int) -> Place:
        """The cell and the line in that cell of a program line."""
        for cell in reversed(self.cells):
            if line >= cell.start:
                at = min(line - cell.start + 1, max(cell.lines, 1))
                return Place(cell.number, at, 0, cell.number)
        first = self.cells[0].number if self.cells else 1
        return Place(first, 1, 0, first)

    def line_text(self, line: int) -> str | None:
        """The text of a line of the file, where it differs from the program's (never here:
        a cell's lines are the program's)."""
        return None

    def with_program(self, program: str) -> str:
        """The notebook's text with each code cell's source taken from a fixed program; only
        the cells whose code changed are rewritten."""
        body = program[:-1] if program.endswith("\n") else program
        parts = body.split(f"\n{BOUNDARY}\n")
        if len(parts) != len(self.cells):
            raise NotebookError("a fix moved a cell boundary")
        data = json.loads(self.text)  # a copy to change
        raw = data["cells"]
        changed = False
        for cell, part in zip(self.cells, parts, strict=True):
            source = raw[cell.number - 1]["source"]
            old = "".join(source) if isinstance(source, list) else source
            new = unmask(part, self.masked)
            if new != old:
                changed = True
                lines = new.splitlines(keepends=True)
                raw[cell.number - 1]["source"] = lines if isinstance(source, list) else new
        return _dump(data, self.text) if changed else self.text


def parse(text: str) -> Notebook:
    """A notebook's code as one program (NotebookError: why it cannot be read)."""
    if not text.strip():
        raise NotebookError("the file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise NotebookError("its JSON is nested too deeply to read") from None
    if not isinstance(data, dict) or "cells" not in data:
        raise NotebookError("not a Jupyter notebook: no `cells`")
    if data.get("nbformat") != 4:
        raise NotebookError(f"nbformat {data.get('nbformat')} is not supported (only 4)")
    raw = data["cells"]
    if not isinstance(raw, list):
        raise NotebookError("`cells` is not a list")
    metadata = data.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    language = "python"
    for key, field in (("language_info", "name"), ("kernelspec", "language")):
        info = metadata.get(key)
        if isinstance(info, dict) and isinstance(info.get(field), str):
            language = info[field].lower()
            break
    cells: list[CodeCell] = []
    chunks: list[str] = []
    masked: list[str] = []
    line = 1
    if language != "python":
        raw = []  # an R or Julia notebook: nothing to lint
    for number, cell in enumerate(raw, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise NotebookError(f"cell {number}: `source` is not text")
        code = mask(source, masked)
        count = code.count("\n") + 1
        cells.append(CodeCell(number, line, count))
        chunks.append(code)
        line += count + 1  # and the boundary line
    program = f"\n{BOUNDARY}\n".join(chunks) + "\n" if chunks else ""
    return Notebook(text, data, tuple(cells), program, tuple(masked))


def mask(source: str, masked: list[str]) -> str:
    """The cell's (or code block's) code with IPython-only lines replaced by numbered ``pass``
    statements, their text appended to ``masked`` (a cell magic, `%%...` on the first line,
    masks the whole cell, unless its body is Python: `%%time`, `%%timeit`, `%%capture`)."""
    lines = source.split("\n")
    magic = lines[0].strip()[2:].split(" ", 1)[0] if lines[0].lstrip().startswith("%%") else ""
    whole = bool(magic) and magic not in PYTHON_CELL_MAGICS
    out = []
    for line in lines:
        if whole or (_MAGIC.match(line) and line.strip()):
            # A line magic keeps its indentation (it stands in a block); a cell magic's body
            # is not Python: every line at the left margin.
            indent = "" if whole else line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}{_MASK}{len(masked)}")
            masked.append(line)
        else:
            out.append(line)
    return "\n".join(out)


def unmask(code: str, masked: tuple[str, ...] | list[str]) -> str:
    """The code with its masked lines as they were."""
    out = []
    for line in code.split("\n"):
        m = _MASKED.match(line)
        out.append(masked[int(m["k"])] if m else line)
    return "\n".join(out)


def _dump(data: dict[str, Any], like: str) -> str:
    """``data`` as JSON laid out as ``like`` is (indentation, escapes, final newline)."""
    for indent, ascii_only in _layouts(like):
        if _dumps(json.loads(like), indent, ascii_only, like) == like:
            return _dumps(data, indent, ascii_only, like)
    raise NotebookError("its JSON layout cannot be reproduced, so it is not rewritten")


def _layouts(text: str) -> list[tuple[int | None, bool]]:
    second = text.split("\n", 2)[1] if text.count("\n") >= 1 else ""
    indent = len(second) - len(second.lstrip(" ")) if second.strip() else None
    return [(indent, False), (indent, True)]


def _dumps(data: object, indent: int | None, ascii_only: bool, like: str) -> str:
    text = json.dumps(data, indent=indent, ensure_ascii=ascii_only)
    text = text + "\n" if like.endswith("\n") else text
    return text.replace("\n", "\r\n") if "\r\n" in like else text  # a Windows checkout
