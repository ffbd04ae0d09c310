"""After fixing: remove imports that the fixes made unused (and only those)."""

from __future__ import annotations

import libcst as cst

from nnx_lint.analysis.scopes import ScopeBuilder, lookup


def _import_uses(module: cst.Module) -> dict[str, int]:
    """Module-level imported names and how many reads resolve to them."""
    builder = ScopeBuilder("", "")
    module.visit(builder)
    top = builder.module_scope
    counts = {
        name: 0 for name, bs in top.bindings.items() if any(b.kind == "import" for b in bs)
    }
    for scope in top.walk():
        for ref in scope.references:
            if ref.name in counts and lookup(ref.name, ref.scope)[0] is top:
                counts[ref.name] += 1
    # Names listed in __all__ count as used.
    for b in top.bindings.get("__all__", []):
        if b.value is not None:
            for name in counts:
                if f"'{name}'" in module.code_for_node(b.value) or f'"{name}"' in module.code_for_node(b.value):
                    counts[name] += 1
    return counts


class _Remove(cst.CSTTransformer):
    def __init__(self, names: set[str]) -> None:
        self.names = names

    def _bound(self, alias: cst.ImportAlias) -> str:
        if alias.asname is not None:
            return cst.Module([]).code_for_node(alias.asname.name)
        return cst.Module([]).code_for_node(alias.name).partition(".")[0]

    def leave_Import(self, original_node, updated_node):
        return self._filter(updated_node)

    def leave_ImportFrom(self, original_node, updated_node):
        if isinstance(updated_node.names, cst.ImportStar):
            return updated_node
        return self._filter(updated_node)

    def _filter(self, node):
        keep = [a for a in node.names if self._bound(a) not in self.names]
        if len(keep) == len(node.names):
            return node
        if not keep:
            return cst.RemoveFromParent()
        keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return node.with_changes(names=keep)

    def visit_FunctionDef(self, node) -> bool:
        return False  # only module-level imports

    def visit_ClassDef(self, node) -> bool:
        return False


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
    return new.visit(_Remove(gone)).code
