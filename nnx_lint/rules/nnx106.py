"""NNX106: flax 0.12 names that were renamed (``m.iter_modules()``, ``nnx.pure``, ...)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nnx_lint.rules import Rule, report

if TYPE_CHECKING:
    import libcst as cst

    from nnx_lint.analysis.context import FileContext
    from nnx_lint.analysis.renames import Rename
    from nnx_lint.analysis.scopes import Scope
    from nnx_lint.diagnostics import Diagnostic, Fix

CODE = "NNX106"
NAME = "renamed-flax-api"
SUMMARY = "a flax 0.12 API used by its old name (iter_modules, pure, vars_as, ...)"

DOC = """\
## renamed-flax-api (NNX106)

### What it does
An upgrade rule for flax 0.12 (selected with `--select NNX1`; each rename only when the
target flax version has the new name). It checks for:

| old | new | from flax |
|---|---|---|
| `module.iter_modules()` | `nnx.iter_modules(module)` | 0.12.1 |
| `module.iter_children()` | `nnx.iter_children(module)` | 0.12.1 |
| `nnx.pure` | `nnx.as_pure` | 0.12.7 |
| `nnx.abstract_with_sharding` | `nnx.as_abstract` | 0.12.7 |
| `nnx.vars_as` | `nnx.with_vars` | 0.12.8 |

The methods are reported where the object is known to be an NNX Module from evidence (its
construction, an annotation, `self` in a method of a Module class) and neither its class nor
a subclass in the project defines a method of that name: `iter_modules()` of any other object
is not reported. The functions are found through the imports (`nnx.pure`,
`from flax.nnx import pure`, `nnx.graph.pure`, aliases), wherever they are named (called or
passed).

### Why is this bad?
The old names still work on flax 0.12.8 and 0.12.12 (measured), each with a
`DeprecationWarning` at every use: `The 'm.iter_modules()' method is deprecated; use the
'nnx.iter_modules(m)' function instead.` (and the same for `iter_children`), `This function is
deprecated. Use as_pure instead.` (`with_vars`, `as_abstract`). Under `-W error` (common in
test suites) the code stops running, and a later flax may drop the old names.

### Example
```python
from flax import nnx


class Block(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.linear = nnx.Linear(2, 3, rngs=rngs)
        self.norm = nnx.BatchNorm(3, rngs=rngs)

    def names(self):
        return [path for path, _ in self.iter_modules()]


block = Block(nnx.Rngs(0))
pure_state = nnx.pure(nnx.state(block))
```

### Use instead
```python
from flax import nnx


class Block(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.linear = nnx.Linear(2, 3, rngs=rngs)
        self.norm = nnx.BatchNorm(3, rngs=rngs)

    def names(self):
        return [path for path, _ in nnx.iter_modules(self)]


block = Block(nnx.Rngs(0))
pure_state = nnx.as_pure(nnx.state(block))
```

### Fix safety
Safe: on every flax that has the new name, the old one only warns and calls it. The
methods are `yield from iter_modules(self)` / `yield from iter_children(self)` (flax 0.12.1 to
0.12.8, read in each tag; same paths and the same objects, measured on 0.12.8 and 0.12.12),
and both are generators, run when iterated; `nnx.pure`, `nnx.vars_as` and
`nnx.abstract_with_sharding` are `deprecated(as_pure)` / `deprecated(with_vars)` /
`deprecated(as_abstract)`, a `functools.wraps` wrapper that warns and delegates with the same
arguments. `nnx` is spelled as the file imports it (`from flax import nnx` is added where
nothing imports it); an import `from flax.nnx import pure` is renamed with every use of the
name, and not where other modules import the name from this one.
"""


@dataclass(frozen=True)
class Renamed:
    old: frozenset[str]  # normalized qualnames of the old object
    new: str  # the new name, in the same modules
    modules: frozenset[str]  # the modules (as imported) that export the new name
    since: str  # the flax version of the new name
    warning: str


_GRAPH = frozenset({"flax.nnx", "flax.nnx.graph", "flax.nnx.graphlib"})
FUNCTIONS = (
    Renamed(
        frozenset({"flax.nnx.pure", "flax.nnx.graph.pure", "flax.nnx.graphlib.pure"}),
        "as_pure",
        _GRAPH,
        "0.12.7",
        "This function is deprecated. Use as_pure instead.",
    ),
    Renamed(
        frozenset(
            {
                "flax.nnx.abstract_with_sharding",
                "flax.nnx.spmd.abstract_with_sharding",
            }
        ),
        "as_abstract",
        frozenset({"flax.nnx", "flax.nnx.spmd"}),
        "0.12.7",
        "This function is deprecated. Use as_abstract instead.",
    ),
    Renamed(
        frozenset({"flax.nnx.vars_as", "flax.nnx.graph.vars_as", "flax.nnx.graphlib.vars_as"}),
        "with_vars",
        _GRAPH,
        "0.12.8",
        "This function is deprecated. Use with_vars instead.",
    ),
)
METHODS = ("iter_modules", "iter_children")

FUNCTION_MESSAGE = (
    "{text} was renamed `{new}` in flax {since}: each call warns DeprecationWarning: {warning}"
)
FUNCTION_SHORT = "{text} was renamed `{new}` in flax {since}"
FUNCTION_TITLE = "Use `{new}`, which `{old}` calls (without the warning)"
METHOD_MESSAGE = (
    "`{text}` on an NNX Module (`{cls}`) is deprecated since flax 0.12.1: iterating it warns "
    "DeprecationWarning: The 'm.{name}()' method is deprecated; use the 'nnx.{name}(m)' "
    "function instead."
)
METHOD_SHORT = "`.{name}()` is deprecated since flax 0.12.1 (use `nnx.{name}(m)`)"
METHOD_TITLE = "Use `nnx.{name}(...)`, which the method calls (without the warning)"


def check(ctx: FileContext) -> Iterator[Diagnostic]:
    from nnx_lint.analysis.versions import AS_PURE, ITER_FUNCTIONS, WITH_VARS, target_flax

    target = target_flax(ctx.settings.target_flax_version)
    if target >= ITER_FUNCTIONS:
        yield from _methods(ctx)
    since = {"0.12.7": AS_PURE, "0.12.8": WITH_VARS}
    for renamed in FUNCTIONS:
        if target >= since[renamed.since]:
            yield from _functions(ctx, renamed)


def _functions(ctx: FileContext, renamed: Renamed) -> Iterator[Diagnostic]:
    from nnx_lint.analysis import renames

    found = list(renames.uses(ctx, renamed.old))
    by_binding: dict[int, Rename] = {}
    for imp in renames.imported(ctx, renamed.old):
        reads = [u for u in found if u.binding is imp.binding]
        rename = renames.rename_import(ctx, imp, renamed.new, renamed.modules, reads)
        by_binding[id(imp.binding)] = rename
        old = imp.qualname.rpartition(".")[2]
        text = f"`from {imp.module} import {ctx.code(imp.alias).rstrip(', ')}`"
        yield _function_report(ctx, renamed, imp.alias, text, old, rename)
    for use in found:
        old = use.qualname.rpartition(".")[2]
        text = renames.spelled(ctx, use)
        if use.binding is not None:
            rename = by_binding.get(id(use.binding)) or renames.Rename((), "not imported by name")
        else:
            edit = renames.attribute_edit(ctx, use, renamed.new, renamed.modules)
            rename = renames.Rename((edit,) if edit else (), f"read from `{use.prefix}`")
        yield _function_report(ctx, renamed, use.node, text, old, rename)


def _function_report(
    ctx: FileContext, renamed: Renamed, node: cst.CSTNode, text: str, old: str, rename: Rename
) -> Diagnostic:
    from nnx_lint.diagnostics import Applicability, Fix

    values = {"text": text, "new": renamed.new, "since": renamed.since}
    message = FUNCTION_MESSAGE.format(**values, warning=renamed.warning)
    short = FUNCTION_SHORT.format(**values)
    if not rename.edits:
        why = f"write `{renamed.new}` (no automatic fix: {rename.why_not})"
        return report(ctx, CODE, node, message, None, why, summary=short)
    title = FUNCTION_TITLE.format(new=renamed.new, old=old)
    fix = Fix(Applicability.SAFE, title, rename.edits)
    return report(ctx, CODE, node, message, fix, summary=short)


def _methods(ctx: FileContext) -> Iterator[Diagnostic]:
    import libcst as cst

    from nnx_lint.analysis.context import Instance

    for scope in ctx.module_scope.walk():
        for ref in scope.references:
            call = _method_call(ctx, ref.node)
            if call is None:
                continue
            assert isinstance(call.func, cst.Attribute)  # _method_call checks it
            receiver = call.func.value
            value = ctx.evaluate(receiver, ref.scope, ref.order)
            if not isinstance(value, Instance) or value.container or value.cls is None:
                continue
            name = call.func.attr.value
            if not ctx.index.is_module(value.cls) or _overrides(ctx, value.cls, name):
                continue
            flax_class = value.cls.startswith("flax.nnx.")
            cls = value.cls.replace("flax.nnx.", "nnx.") if flax_class else _short(value.cls)
            message = METHOD_MESSAGE.format(text=ctx.code(call), cls=cls, name=name)
            short = METHOD_SHORT.format(name=name)
            fix, why = _method_fix(ctx, call, receiver, name, ref.scope, ref.order)
            yield report(ctx, CODE, call, message, fix, why, summary=short)


def _short(qualname: str) -> str:
    return qualname.rpartition(".")[2]


def _method_call(ctx: FileContext, name: cst.Name) -> cst.Call | None:
    """``<receiver>.iter_modules()`` whose receiver's root name is ``name``."""
    import libcst as cst

    node: cst.CSTNode = name
    while True:
        parent = ctx.parent(node)
        if isinstance(parent, cst.Attribute) and parent.value is node:
            if parent.attr.value in METHODS:
                call = ctx.parent(parent)
                if isinstance(call, cst.Call) and call.func is parent and not call.args:
                    return call
            node = parent
        elif isinstance(parent, cst.Call) and parent.func is node:
            node = parent  # `Block(rngs).iter_modules()`, `get()().iter_children()`
        elif isinstance(parent, cst.Subscript) and parent.value is node:
            node = parent
        else:
            return None


def _overrides(ctx: FileContext, cls: str, name: str) -> bool:
    """Does the class, a base or a subclass of it in the project define ``name``?"""
    classes = [*ctx.index.ancestors(cls)]
    classes += [f for sub in ctx.index.subclasses(cls) if (f := ctx.index.class_facts(sub))]
    return any(name in facts.methods for facts in classes)


def _method_fix(
    ctx: FileContext,
    call: cst.Call,
    receiver: cst.BaseExpression,
    name: str,
    scope: Scope,
    order: int,
) -> tuple[Fix | None, str | None]:
    from nnx_lint.diagnostics import Applicability, Edit, Fix
    from nnx_lint.fixes.imports import NoFix, nnx_name

    try:
        spelled, edits = nnx_name(ctx, name, scope, order)
    except NoFix as e:
        return None, f"write `nnx.{name}(...)` (no automatic fix: {e})"
    start, end = ctx.span(receiver)
    text = f"{spelled}({ctx.source[start:end]})"
    a, b = ctx.span(call)
    title = METHOD_TITLE.format(name=name)
    return Fix(Applicability.SAFE, title, (Edit(a, b, text), *edits)), None


def prefilter(source: str) -> bool:
    return (
        "iter_modules" in source
        or "iter_children" in source
        or "pure" in source
        or "vars_as" in source
        or "abstract_with_sharding" in source
    )


RULE = Rule(CODE, NAME, SUMMARY, DOC, check, prefilter=prefilter)
