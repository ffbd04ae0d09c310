"""Diagnostics as text, in ruff's formats: ``full``, ``concise`` and ``json``, plus the summary."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from nnx_lint.diagnostics import Diagnostic, LineIndex

if TYPE_CHECKING:
    from nnx_lint.rules import Rule

FORMATS = ("full", "concise", "json")
# Codes reported by the front end rather than by a rule: (name, url) as in ruff's JSON.
_BUILTIN = {"E902": ("io-error", None), "E999": ("syntax-error", None)}


def render(
    fmt: str,
    diagnostics: list[Diagnostic],
    *,
    unsafe_fixes: bool = False,
    lines: Mapping[str, LineIndex] | None = None,
    rules: Mapping[str, Rule] | None = None,
) -> str:
    """The diagnostics in format ``fmt``; ``json`` needs the ``lines`` of every file with a fix."""
    if fmt == "json":
        records = [_json(d, lines or {}, rules or {}) for d in diagnostics]
        return json.dumps(records, indent=2, ensure_ascii=False) + "\n"
    one = _full if fmt == "full" else _concise
    return "".join(one(d, unsafe_fixes) + "\n" for d in diagnostics)


def _concise(d: Diagnostic, unsafe_fixes: bool) -> str:
    mark = "[*] " if d.fixable(unsafe_fixes) else ""
    return f"{d.path}:{d.line}:{d.column}: {d.code} {mark}{d.message}"


def _full(d: Diagnostic, unsafe_fixes: bool) -> str:
    """ruff's (pre-0.12) full format: header, the source line with carets, then the fix's help."""
    header = _concise(d, unsafe_fixes)
    if not d.source_line:  # parse and I/O errors: one line
        return header
    gutter = " " * len(str(d.line))
    indent = "".join(c if c == "\t" else " " for c in d.source_line[: d.column - 1])
    end = d.end_column if d.end_line == d.line else len(d.source_line) + 1
    out = [
        header,
        f"{gutter} |",
        f"{d.line} | {d.source_line}",
        f"{gutter} | {indent}{'^' * max(1, end - d.column)} {d.code}",
        f"{gutter} |",
    ]
    if d.fix is not None:
        out.append(f"{gutter} = help: {d.fix.message}")
    return "\n".join(out) + "\n"


def _location(row: int, column: int) -> dict:
    return {"column": column, "row": row}


def _json(d: Diagnostic, lines: Mapping[str, LineIndex], rules: Mapping[str, Rule]) -> dict:
    """One diagnostic with exactly the keys of ``ruff check --output-format json``."""
    rule = rules.get(d.code)
    name, url = (rule.name, rule.url) if rule else _BUILTIN.get(d.code, (None, None))
    fix = None
    if d.fix is not None:
        index = lines[d.path]
        edits = [
            {
                "content": e.content,
                "end_location": _location(*index.position(e.end)),
                "location": _location(*index.position(e.start)),
            }
            for e in d.fix.edits
        ]
        fix = {"applicability": d.fix.applicability, "edits": edits, "message": d.fix.message}
    return {
        "cell": None,
        "code": d.code,
        "end_location": _location(d.end_line, d.end_column),
        "filename": os.path.abspath(d.path),
        "fix": fix,
        "location": _location(d.line, d.column),
        "message": d.message,
        "name": name,
        "noqa_row": None if d.code in _BUILTIN else d.line,
        "severity": "error",
        "url": url,
    }


def _plural(n: int, word: str, plural: str = "") -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def summary(diagnostics: list[Diagnostic], *, fixed: int = 0, unsafe_fixes: bool = False) -> str:
    """ruff's closing lines after a check or a ``--fix``."""
    remaining = len(diagnostics)
    if not remaining and not fixed:
        return "All checks passed!\n"
    found = f"Found {_plural(remaining + fixed, 'error')}"
    out = [f"{found} ({fixed} fixed, {remaining} remaining)." if fixed else f"{found}."]
    applicable = sum(d.fixable(unsafe_fixes) for d in diagnostics)
    hidden = _hidden_fixes(diagnostics, unsafe_fixes)
    hint = f"{_plural(hidden, 'unsafe fix', 'unsafe fixes')} available with `--fix --unsafe-fixes`"
    if applicable:
        out.append(f"[*] {applicable} fixable with `--fix`" + (f" ({hint})." if hidden else "."))
    elif hidden:
        out.append(f"{hint}.")
    return "".join(line + "\n" for line in out)


def diff_summary(remaining: list[Diagnostic], *, fixed: int, unsafe_fixes: bool) -> str:
    """ruff's closing line after ``--diff``; ``remaining`` is what the fixes would leave."""
    if fixed:
        return f"Would fix {_plural(fixed, 'error')}.\n"
    hidden = _hidden_fixes(remaining, unsafe_fixes)
    if hidden:
        fixes = _plural(hidden, "fix", "fixes")
        return f"No errors would be fixed ({fixes} available with `--unsafe-fixes`).\n"
    return ""


def _hidden_fixes(diagnostics: list[Diagnostic], unsafe_fixes: bool) -> int:
    return sum(d.fix is not None and not d.fixable(unsafe_fixes) for d in diagnostics)
