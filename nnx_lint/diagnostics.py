"""The engine's results: diagnostics, fixes and text edits, independent of any output format."""

from __future__ import annotations

import bisect
import enum
import re
from dataclasses import dataclass, field
from typing import NamedTuple

_NEWLINE = re.compile(r"\r\n|\r|\n")


class FrontEndCode(NamedTuple):
    name: str
    summary: str


# Codes reported by the engine rather than by a rule, whatever --select says.
FRONT_END = {
    "E902": FrontEndCode("io-error", "The file cannot be read or decoded"),
    "E999": FrontEndCode("syntax-error", "The file does not parse"),
}


@dataclass(frozen=True, order=True)
class Edit:
    """Replace ``source[start:end]`` (character offsets) with ``content``."""

    start: int
    end: int
    content: str


class Applicability(enum.Enum):
    """ruff's: a safe fix keeps the program's meaning and its signatures (``--fix``); an unsafe
    one changes a function's signature and its callers (``--fix --unsafe-fixes``)."""

    SAFE = "safe"
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class Fix:
    applicability: Applicability
    message: str  # the fix's title: what it does (``help:`` in full output)
    edits: tuple[Edit, ...]


@dataclass(frozen=True)
class Related:
    """Another place a finding's evidence points to (the first state change of a call path)."""

    path: str
    line: int
    message: str
    cell: int | None = None  # in a notebook: the cell ``line`` counts in


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str  # what is wrong and what happens at run time; never about the fix
    path: str
    line: int  # 1-based
    column: int  # 1-based, in characters, as ruff prints it
    end_line: int
    end_column: int
    fix: Fix | None = None
    # When there is no fix: what to do by hand, and why no fix is offered.
    fix_unavailable: str | None = None
    related: tuple[Related, ...] = ()  # where the evidence points
    # The source line, for `full` output (the engine fills it in with dataclasses.replace).
    source_line: str = field(default="", repr=False, compare=False)
    # In a notebook: the cell (1-based, among all its cells) that ``line`` and ``end_line``
    # count in, as ruff reports them.
    cell: int | None = None
    # The message without its evidence, for one-line output (``concise``); "": the message.
    summary: str = ""

    def fixable(self, unsafe_fixes: bool) -> bool:
        """Would ``--fix`` (with ``--unsafe-fixes`` if set) apply this diagnostic's fix?"""
        return self.fix is not None and (
            self.fix.applicability is Applicability.SAFE or unsafe_fixes
        )

    @property
    def short(self) -> str:
        """The message for one line: what is wrong and what happens, without the evidence."""
        return self.summary or self.message

    @property
    def help(self) -> str | None:
        """The fix's title, or what to do when no fix is offered."""
        return self.fix.message if self.fix is not None else self.fix_unavailable

    @property
    def sort_key(self) -> tuple[str, int, int, int, str]:
        return (self.path, self.cell or 0, self.line, self.column, self.code)

    @property
    def location(self) -> str:
        """``path:line:column``, or ``path:cell N:line:column`` in a notebook."""
        cell = f"cell {self.cell}:" if self.cell is not None else ""
        return f"{self.path}:{cell}{self.line}:{self.column}"


class LineIndex:
    """Converts between character offsets and 1-based (row, column) positions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in _NEWLINE.finditer(text)]

    def offset(self, row: int, col0: int) -> int:
        """Offset of 1-based ``row`` and 0-based column ``col0``."""
        return self.starts[row - 1] + col0

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (row, column) of a character offset."""
        row = bisect.bisect_right(self.starts, offset)
        return row, offset - self.starts[row - 1] + 1

    def line(self, row: int) -> str:
        start = self.starts[row - 1]
        end = self.starts[row] if row < len(self.starts) else len(self.text)
        return self.text[start:end].rstrip("\r\n")


def apply_edits(text: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits (sorted or not) to ``text``."""
    out = []
    pos = 0
    for edit in sorted(edits):
        out.append(text[pos : edit.start])
        out.append(edit.content)
        pos = edit.end
    out.append(text[pos:])
    return "".join(out)


class InternalError(Exception):
    """A bug in nnx-lint: the analysis failed on a file that parses, or a fix produced broken
    code or did not converge. The message names the file."""
