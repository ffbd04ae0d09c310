"""After fixing: remove imports that the fixes made unused (and only those)."""

from __future__ import annotations

import re

import libcst as cst

from nnx_lint.analysis import names
from nnx_lint.analysis.scopes import (
    BindingKind,
    FastVisitor,
    ScopeBuilder,
    alias_names,
    exported_names,
    lookup,
)


class _Strings(FastVisitor):
    """The strings inside annotations (``x: "jax.Array"``): a name there is a use. A name in a
    docstring, comment or other string is not."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self.depth = 0

    def visit_Annotation(self, node: cst.Annotation) -> None:
        self.depth += 1

    def leave_Annotation(self, original_node: cst.Annotation) -> None:
        self.depth -= 1

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        if self.depth:
            self.values.append(node.value)


def _import_uses(module: cst.Module) -> dict[str, int]:
    """Module-level imported names and how many reads resolve to them."""
    builder = ScopeBuilder("", "")
    builder.walk(module)
    top = builder.module_scope
    assert top is not None  # set by the walk of the module
    counts = {
        name: 0
        for name, bs in top.bindings.items()
        if any(b.kind is BindingKind.IMPORT for b in bs)
    }
    for scope in top.walk():
        for ref in scope.references:
            if ref.name in counts and lookup(ref.name, ref.scope)[0] is top:
                counts[ref.name] += 1
    for name in exported_names(top) & counts.keys():  # listed in __all__: used
        counts[name] += 1
    strings = _Strings()
    strings.walk(module)
    text = "\n".join(strings.values)
    for name in counts:  # named in a string annotation ("jax.Array"): used, to be safe
        if re.search(rf"\b{re.escape(name)}\b", text):
            counts[name] += 1
    return counts


def _bound(alias: cst.ImportAlias) -> str:
    """The name an import alias binds (``names.import_names`` decides)."""
    return names.import_names([alias_names(alias)])[0].local


def _without(stmt: cst.BaseSmallStatement, names: set[str]) -> cst.BaseSmallStatement | None:
    """An import statement without the aliases binding ``names`` (None when none is left)."""
    if not isinstance(stmt, cst.Import | cst.ImportFrom) or isinstance(stmt.names, cst.ImportStar):
        return stmt
    keep = [a for a in stmt.names if _bound(a) not in names]
    if len(keep) == len(stmt.names):
        return stmt
    if not keep:
        return None
    keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return stmt.with_changes(names=keep)


def _remove(module: cst.Module, names: set[str]) -> cst.Module:
    """Remove module-level imports of ``names``; the blank lines and comments above a removed
    line stay where they were."""
    body: list[cst.BaseStatement] = []
    carried: list[cst.EmptyLine] = []
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            small = [x for x in (_without(s, names) for s in stmt.body) if x is not None]
            if not small:
                carried += list(stmt.leading_lines)
                continue
            if len(small) != len(stmt.body) or any(
                a is not b for a, b in zip(small, stmt.body, strict=True)
            ):
                small[-1] = small[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
                stmt = stmt.with_changes(body=small)
        if carried or (not body and stmt is not module.body[0]):
            lines = [*carried, *stmt.leading_lines]
            if not body:  # the file's first statement: no blank lines above it
                while lines and lines[0].comment is None:
                    lines.pop(0)
            stmt = stmt.with_changes(leading_lines=lines)
            carried = []
        body.append(stmt)
    if carried:
        return module.with_changes(body=body, footer=[*carried, *module.footer])
    return module.with_changes(body=body)


def remove_unused_imports(before: str, after: str) -> str:
    """``after`` without the module-level imports that were used in ``before`` and no longer are."""
    try:
        old, new = cst.parse_module(before), cst.parse_module(after)
    except cst.ParserSyntaxError:
        return after
    used_before = _import_uses(old)
    used_after = _import_uses(new)
    gone = {n for n, c in used_after.items() if c == 0 and used_before.get(n, 0) > 0}
    if not gone:
        return after
    return _remove(new, gone).code
