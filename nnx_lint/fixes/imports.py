"""How the file spells an imported name, adding the import where it is missing."""

from __future__ import annotations

from nnx_lint.analysis import nnx_api
from nnx_lint.analysis.context import FileContext, Ref
from nnx_lint.analysis.scopes import BindingKind, Scope
from nnx_lint.diagnostics import Edit
from nnx_lint.fixes.placement import insertion


class NoFix(Exception):
    """Why no fix is offered (a short clause: "the name `nnx` is taken in this file")."""


def import_name(ctx: FileContext, qualname: str) -> str | None:
    """The module-level name that only ever imports ``qualname``, if any."""
    for name, bindings in ctx.module_scope.bindings.items():
        if all(b.kind is BindingKind.IMPORT and b.qualname == qualname for b in bindings):
            return name
    return None


def is_free(ctx: FileContext, name: str) -> bool:
    """Is ``name`` bound nowhere in the file (no scope binds it)?"""
    return not any(name in s.bindings for s in ctx.module_scope.walk())


class Imports:
    """Local spellings of flax.nnx, jax.jit and functools.partial, adding imports where
    missing."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.edits: list[Edit] = []

    def _add(self, line: str) -> None:
        ctx = self.ctx
        first_party = {m.partition(".")[0] for m in ctx.index.modules}
        self.edits.append(insertion(ctx.module, ctx.source, ctx.span, line, first_party))

    def _spelling(self, qualname: str, new: str, line: str) -> str:
        """How the file spells ``parent.child`` (``qualname``): an import of it, an import of
        its parent plus the attribute, or else ``new`` after adding the import ``line``."""
        name = import_name(self.ctx, qualname)
        if name:
            return name
        parent, _, child = qualname.rpartition(".")
        parent_name = import_name(self.ctx, parent)
        if parent_name:
            return f"{parent_name}.{child}"
        head = new.partition(".")[0]
        if not is_free(self.ctx, head):
            raise NoFix(f"the name `{head}` is taken in this file; import it and apply by hand")
        self._add(line)
        return new

    def nnx(self) -> str:
        return self._spelling(nnx_api.NNX, "nnx", "from flax import nnx")

    def jax_jit(self) -> str:
        return self._spelling("jax.jit", "jax.jit", "import jax")

    def partial(self) -> str:
        return self._spelling("functools.partial", "functools.partial", "import functools")


def nnx_name(ctx: FileContext, name: str, scope: Scope, order: int) -> tuple[str, tuple[Edit, ...]]:
    """How ``flax.nnx.<name>`` is spelled where ``scope`` and ``order`` stand (an import of it,
    or `nnx.<name>` with `from flax import nnx` added when missing), and the import edits it
    needs; NoFix when the spelling's name means something else there."""
    qualname = f"{nnx_api.NNX}.{name}"
    spelled = import_name(ctx, qualname)
    edits: tuple[Edit, ...] = ()
    if spelled is None:
        imports = Imports(ctx)
        spelled = f"{imports.nnx()}.{name}"
        edits = tuple(imports.edits)
    head = spelled.partition(".")[0]
    value = ctx.value_of_name(head, scope, order)
    if not edits and not (isinstance(value, Ref) and value.qualname in (nnx_api.NNX, qualname)):
        raise NoFix(f"the name `{head}` means something else here")
    return spelled, edits
