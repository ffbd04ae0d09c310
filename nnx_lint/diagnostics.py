"""The engine's results: diagnostics, fixes and text edits, independent of any output format."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

_NEWLINE = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, order=True)
class Edit:
    """Replace ``source[start:end]`` (character offsets) with ``content``."""

    start: int
    end: int
    content: str


@dataclass(frozen=True)
class Fix:
    applicability: str  # "safe" or "unsafe"
    message: str
    edits: tuple[Edit, ...]


@dataclass
class Diagnostic:
    code: str
    message: str
    path: str
    line: int  # 1-based
    column: int  # 1-based, in characters, as ruff prints it
    end_line: int
    end_column: int
    fix: Fix | None = None
    # Set by the engine once the file's text is known: the source line, for `full` output.
    source_line: str = field(default="", repr=False)

    def fixable(self, unsafe_fixes: bool) -> bool:
        """Would ``--fix`` (with ``--unsafe-fixes`` if set) apply this diagnostic's fix?"""
        return self.fix is not None and (self.fix.applicability == "safe" or unsafe_fixes)

    @property
    def sort_key(self) -> tuple:
        return (self.path, self.line, self.column, self.code)


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
