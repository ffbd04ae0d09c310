"""Names flax renamed (NNX105, NNX106): where a file names an old object, through any import
spelling (``nnx.pure``, ``flax.nnx.pure``, ``from flax.nnx import pure as p``,
``nnx.graph.pure``), and the edits that rename it.

An attribute spelling (``nnx.pure``) is renamed in place (``nnx.as_pure``) where the module it
is read from, as the file imports it, has the new name too. A name imported from flax
(``from flax.nnx import VariableState``) is renamed at its import, together with every read of
it when the import has no ``as`` (``from flax.nnx import Variable`` and each ``Variable``):
the findings of one import all carry the same edits, which the engine applies once."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass

import libcst as cst

from nnx_lint.analysis import nnx_api
from nnx_lint.analysis.context import FileContext, Ref
from nnx_lint.analysis.scopes import Binding, BindingKind, Scope, alias_names, dotted
from nnx_lint.analysis.scopes import exported_names as all_names
from nnx_lint.diagnostics import Edit


@dataclass(frozen=True)
class Use:
    """A read of an old name: ``nnx.VariableState`` (an attribute) or ``VariableState`` (a
    name an import binds)."""

    node: cst.Name | cst.Attribute
    qualname: str  # what it names, normalized (``flax.nnx.VariableState``)
    scope: Scope
    order: int
    binding: Binding | None  # a bare name: the import that binds it
    prefix: str | None  # an attribute: the module it is read from, as imported (``flax.nnx``)


@dataclass(frozen=True)
class Imported:
    """``from <module> import <old> [as <local>]``."""

    alias: cst.ImportAlias
    statement: cst.ImportFrom
    binding: Binding
    qualname: str  # normalized
    module: str  # the module as the statement spells it (``flax.nnx.variablelib``)


def _last(qualname: str) -> str:
    return qualname.rpartition(".")[2]


def _is_target(ctx: FileContext, node: cst.CSTNode) -> bool:
    """Is ``node`` assigned or deleted (``nnx.pure = f``, ``for nnx.pure in ...``, ``with ...
    as nnx.pure``), not read?"""
    parent = ctx.parent(node)
    if isinstance(parent, cst.AssignTarget | cst.Del | cst.AsName):
        return True
    return (
        isinstance(parent, cst.AnnAssign | cst.AugAssign | cst.For | cst.CompFor)
        and parent.target is node
    )


def raw_import(binding: Binding) -> str | None:
    """What an import binding names, spelled as the statement spells it (not normalized:
    ``import flax.nnx.variablelib as vl`` gives ``flax.nnx.variablelib``)."""
    node = binding.node
    if isinstance(node, cst.Import):
        for alias in node.names:
            name, asname = alias_names(alias)
            if asname == binding.name:
                return name
            if asname is None and name.partition(".")[0] == binding.name:
                return binding.name
        return None
    if isinstance(node, cst.ImportFrom) and not node.relative and node.module is not None:
        if isinstance(node.names, cst.ImportStar):
            return None
        for alias in node.names:
            name, asname = alias_names(alias)
            if (asname or name) == binding.name:
                return f"{dotted(node.module)}.{name}"
    return None


def uses(ctx: FileContext, qualnames: Collection[str]) -> Iterator[Use]:
    """Every read of one of ``qualnames`` (normalized flax names) in the file, in scope-walk
    order: the name an import binds, or the attribute read from a module."""
    lasts = {_last(q) for q in qualnames}
    for scope in ctx.module_scope.walk():
        for ref in scope.references:
            binding = ctx.binding_of(ref.name, ref.scope, ref.order)
            if binding is None or binding.kind is not BindingKind.IMPORT:
                continue
            node: cst.Name | cst.Attribute = ref.node
            while True:
                name = node.value if isinstance(node, cst.Name) else node.attr.value
                if name in lasts or node is ref.node and binding.qualname in qualnames:
                    value = ctx.evaluate(node, ref.scope, ref.order)
                    if isinstance(value, Ref) and value.qualname in qualnames:
                        if not _is_target(ctx, node):
                            yield _use(node, value.qualname, ref.scope, ref.order, binding)
                        break
                parent = ctx.parent(node)
                if not (isinstance(parent, cst.Attribute) and parent.value is node):
                    break
                node = parent


def _use(
    node: cst.Name | cst.Attribute, qualname: str, scope: Scope, order: int, binding: Binding
) -> Use:
    if isinstance(node, cst.Name):
        return Use(node, qualname, scope, order, binding, None)
    root = raw_import(binding)
    spelled = dotted(node.value)
    prefix = None
    if root is not None and spelled:
        prefix = root + spelled[len(binding.name) :]
    return Use(node, qualname, scope, order, None, prefix)


def spelled(ctx: FileContext, use: Use) -> str:
    """How a message quotes a use: `` `nnx.pure` ``, or `` `p` (`flax.nnx.pure`) `` for a name
    bound to it under another name."""
    text = ctx.code(use.node)
    if isinstance(use.node, cst.Name) and use.node.value != _last(use.qualname):
        return f"`{text}` (`{use.qualname}`)"
    return f"`{text}`"


def origin(use: Use) -> str | None:
    """Where the file reads the old name from, as imported (``flax.nnx.variablelib...``)."""
    if use.binding is not None:
        return raw_import(use.binding)
    return use.prefix


def imported(ctx: FileContext, qualnames: Collection[str]) -> Iterator[Imported]:
    """Every ``from ... import <old>`` of one of ``qualnames``, in any scope."""
    for scope in ctx.module_scope.walk():
        for bindings in scope.bindings.values():
            for binding in bindings:
                node = binding.node
                if (
                    binding.kind is not BindingKind.IMPORT
                    or binding.qualname not in qualnames
                    or not isinstance(node, cst.ImportFrom)
                    or isinstance(node.names, cst.ImportStar)
                    or node.module is None
                    or node.relative
                ):
                    continue
                for alias in node.names:
                    name, asname = alias_names(alias)
                    if (asname or name) == binding.name:
                        module = dotted(node.module)
                        yield Imported(alias, node, binding, str(binding.qualname), module)


def attribute_edit(ctx: FileContext, use: Use, new: str, modules: Collection[str]) -> Edit | None:
    """``nnx.old`` -> ``nnx.new``, where the module it is read from (``use.prefix``) is one of
    ``modules`` (those that have the new name on the target flax)."""
    if not isinstance(use.node, cst.Attribute) or use.prefix not in modules:
        return None
    start, end = ctx.span(use.node.attr)
    return Edit(start, end, new)


@dataclass(frozen=True)
class Rename:
    """The edits that rename an imported old name (at its import and, without ``as``, at
    every read), or why there are none."""

    edits: tuple[Edit, ...]
    why_not: str = ""


def rename_import(
    ctx: FileContext,
    found: Imported,
    new: str,
    modules: Collection[str],
    reads: list[Use],
) -> Rename:
    """Rename ``from module import old [as x]`` to ``new`` (``reads``: the reads of the name it
    binds). ``modules``: the modules that export ``new`` on the target flax."""
    if found.module not in modules:
        return Rename((), f"`{found.module}` is not known to export `{new}`")
    name, asname = alias_names(found.alias)
    start, end = ctx.span(found.alias.name)
    rename_alias = Edit(start, end, new)
    if asname is not None:
        return Rename((rename_alias,))  # `old as x` -> `new as x`: the reads stay `x`
    binding = found.binding
    if binding.scope is ctx.module_scope and (
        name in all_names(ctx.module_scope) or ctx.index.importers(ctx.facts.module, name)
    ):
        return Rename((), f"other modules import `{name}` from this one")
    new_qualname = nnx_api.normalize(f"{found.module}.{new}")
    same = [
        b
        for b in binding.scope.bindings.get(new, [])
        if b.kind is BindingKind.IMPORT and b.qualname == new_qualname
    ]
    others = [
        b
        for s in ctx.module_scope.walk()
        for b in s.bindings.get(new, [])
        if not (b.kind is BindingKind.IMPORT and b.qualname == new_qualname)
    ]
    if others:
        return Rename((), f"the name `{new}` is taken in this file")
    renamed = tuple(Edit(*ctx.span(u.node), new) for u in reads)
    if not same:
        return Rename((rename_alias, *renamed))
    # `new` is imported already: drop the old name from its statement.
    statement = found.statement
    assert not isinstance(statement.names, cst.ImportStar)  # `imported` skips star imports
    rest = [a for a in statement.names if a is not found.alias]
    if rest:
        last = rest[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        text = ctx.module.code_for_node(statement.with_changes(names=[*rest[:-1], last]))
        return Rename((Edit(*ctx.span(statement), text), *renamed))
    if binding.scope is ctx.module_scope and renamed:
        return Rename(renamed)  # the import, now unused, is removed after the fix
    return Rename((), f"`{new}` is imported too; remove this import by hand")
