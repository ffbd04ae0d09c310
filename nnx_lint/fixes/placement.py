"""Where a new import line goes, so that a file sorted the way ruff's isort rule (I001) and
isort sort imports stays sorted: sections future, standard library, third party, first party
(relative imports and the project's own modules), separated by a blank line; within a section
`import x` lines first, then `from x import y` lines, each by module name."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import libcst as cst

from nnx_lint.analysis.scopes import dotted
from nnx_lint.diagnostics import Edit
from nnx_lint.notebooks import BOUNDARY, MASK_COMMENT

SECTIONS = ("future", "stdlib", "third-party", "first-party")
STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {"functools", "typing"}
# Where a node's text starts and ends in the source (``FileContext.span``).
Span = Callable[[cst.CSTNode], tuple[int, int]]


@dataclass
class _Line:
    # An import line (or, for _after_docstring, whatever statement opens the file).
    node: cst.SimpleStatementLine | cst.BaseCompoundStatement
    section: int
    key: tuple[int, str]  # (0: `import x`, 1: `from x import y`; module name)


def section_of(module: str, relative: bool, first_party: set[str]) -> int:
    root = module.partition(".")[0]
    if module == "__future__":
        return 0
    if relative or root in first_party:
        return 3
    return 1 if root in STDLIB else 2


def _leading_imports(module: cst.Module, first_party: set[str]) -> list[_Line]:
    lines = []
    for i, stmt in enumerate(module.body):
        small = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) else None
        if isinstance(small, cst.Import):
            name = dotted(small.names[0].name)
            lines.append(_Line(stmt, section_of(name, False, first_party), (0, name.lower())))
        elif isinstance(small, cst.ImportFrom):
            name = dotted(small.module)
            relative = bool(small.relative)
            lines.append(_Line(stmt, section_of(name, relative, first_party), (1, name.lower())))
        elif i == 0 and isinstance(small, cst.Expr) and isinstance(small.value, cst.SimpleString):
            continue  # the module docstring
        elif isinstance(small, cst.Pass) and _masked(stmt):
            continue  # a notebook's `%pip install ...` above its imports
        else:
            break
    return lines


def _masked(stmt: cst.SimpleStatementLine | cst.BaseCompoundStatement) -> bool:
    """Does the statement stand for a masked IPython line (``notebooks``)?"""
    comment = (
        stmt.trailing_whitespace.comment if isinstance(stmt, cst.SimpleStatementLine) else None
    )
    return comment is not None and comment.value.startswith(MASK_COMMENT)


def insertion(
    module: cst.Module,
    source: str,
    span: Span,
    line: str,
    first_party: set[str],
) -> Edit:
    """The edit that adds ``line`` (``import x`` or ``from x import y``) in its sorted place."""
    newline = module.default_newline
    parsed = cst.parse_statement(line)
    new = _leading_imports(module.with_changes(body=[parsed]), first_party)[0]
    existing = _leading_imports(module, first_party)
    same = [x for x in existing if x.section == new.section]
    if same:
        later = next((x for x in same if x.key > new.key), None)
        if later is not None:
            at = _line_start(later, span, source)
            return Edit(at, at, line + newline)
        at = _after(same[-1].node, span, source)
        return Edit(at, at, line + newline)
    later_section = next((x for x in existing if x.section > new.section), None)
    if later_section is not None:  # a section of its own, before the next one
        # Before the import and the comments attached to it, after the blank line above it
        # (the docstring's, or the previous section's).
        at = _line_start(later_section, span, source)
        return Edit(at, at, line + newline + newline)
    if existing:  # a section of its own, after the last one
        at = _after(existing[-1].node, span, source)
        return Edit(at, at, newline + line + newline)
    at = _after_docstring(module, span, source)
    prefix = newline if at == len(source) and source and source[-1] not in "\r\n" else ""
    # The file's only import block: a blank line parts it from the code (as isort puts it).
    suffix = newline if at < len(source) and not source.startswith(("\n", "\r"), at) else ""
    return Edit(at, at, prefix + line + newline + suffix)


def _line_start(line: _Line, span: Span, source: str) -> int:
    """Before the statement and the comment lines right above it (not the blank lines that
    separate it from the previous section)."""
    start = span(line.node)[0]
    for empty in reversed(line.node.leading_lines):
        if empty.comment is None or empty.comment.value == BOUNDARY:
            break  # (nor above the boundary of a notebook's cell or a document's block)
        start = source.rfind("\n", 0, source.rfind("\n", 0, start)) + 1
    return start


def _after(node: cst.CSTNode, span: Span, source: str) -> int:
    """Past the end of the statement's line (and of a comment trailing it)."""
    end = span(node)[1]
    newline = min(
        (i for i in (source.find("\n", end), source.find("\r", end)) if i >= 0), default=-1
    )
    if newline < 0:
        return len(source)
    return newline + (2 if source.startswith("\r\n", newline) else 1)


def _after_docstring(module: cst.Module, span: Span, source: str) -> int:
    """After the docstring, else before the first statement: never above the comments that
    open the file (a shebang, a PEP 263 coding line, a licence)."""
    first = module.body[0] if module.body else None
    if first is None:
        return len(source)
    small = first.body[0] if isinstance(first, cst.SimpleStatementLine) else None
    if isinstance(small, cst.Expr) and isinstance(small.value, cst.SimpleString):
        return _after(first, span, source)
    return _line_start(_Line(first, 0, (0, "")), span, source)
