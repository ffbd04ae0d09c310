"""NNX005: a structural change inside an NNX transform running in tree mode."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from nnx_lint.analysis.nnx_api import mentions_tree_mode
from nnx_lint.rules import Rule, report

if TYPE_CHECKING:
    from nnx_lint.analysis.context import FileContext
    from nnx_lint.analysis.jit_sites import JitSite
    from nnx_lint.analysis.tree_mode import StructuralChange, TreeMode
    from nnx_lint.diagnostics import Diagnostic, Fix

CODE = "NNX005"
NAME = "structural-change-in-tree-mode"
SUMMARY = "structural change dropped by tree mode"

DOC = """\
## structural-change-in-tree-mode (NNX005)

### What it does
Checks functions traced by an NNX transform in tree mode (`nnx.jit`, `nnx.grad`,
`nnx.value_and_grad`, `nnx.vmap`, `nnx.remat`) for changes to the structure of the NNX
objects they are given: replacing a Variable (`model.w = nnx.Param(v)`), assigning a new
value over one (`model.w = v`), adding or replacing an attribute (`model.cache = y`,
`self.count = self.count + 1` on a plain array), `sow`, and calls whose code does one of
these (`model(x)` where `__call__` assigns `self.cache`). Tree mode is on where the transform
says `graph=False` or `graph_updates=False`, or was made after `nnx.set_graph_mode(False)` /
`nnx.set_graph_updates(False)` (a call before it in any enclosing block, a `with` block, a
decorator of an enclosing function), `flax.config.update("nnx_graph_mode", False)`, or the
environment variables `NNX_GRAPH_MODE` / `NNX_GRAPH_UPDATES` set false before flax is
imported. Reported for flax 0.12.5+ (`graph=False`; 0.12.6+ for `graph_updates=False`).

### Why is this bad?
In tree mode NNX transforms treat Modules as plain pytrees: only the values of the Variables
the objects held when they went in come back out. A new or replaced attribute, a replaced
Variable and what `sow` stores are silently dropped: after the call the object is as it was,
and nothing raises. Changing a Variable's value in place (`model.w[...] = v`,
`model.count[...] += 1`) is kept.

### Example
```python
import jax.numpy as jnp
from flax import nnx


class Scale(nnx.Module):
    def __init__(self):
        self.w = nnx.Param(jnp.ones(2))


@nnx.jit(graph=False)
def reset(model: Scale, value):
    model.w = nnx.Param(value)
```

### Use instead
```python
import jax.numpy as jnp
from flax import nnx


class Scale(nnx.Module):
    def __init__(self):
        self.w = nnx.Param(jnp.ones(2))


@nnx.jit(graph=False)
def reset(model: Scale, value):
    model.w[...] = value
```

### Fix safety
Where a Variable the object is known to hold is replaced by a new one of its class built
from one value (`model.w = nnx.Param(v)`), the fix writes the value in place: `model.w[...] =
v`. It is unsafe (applied with `--unsafe-fixes`): writing in place needs `v` to have the
Variable's shape (flax raises ValueError otherwise) and casts it to the Variable's dtype, and
any other reference to the old Variable now sees the new value. A plain value assigned over a
Variable (`model.w = v`) has no fix: run eagerly, that replaces the Variable with the plain
value, which writing in place would not do. Nor do the other changes: keep the state in a
Variable made in `__init__` and write its value, return what `sow` would store, or run the
transform in graph mode.
"""


def check(ctx: FileContext) -> Iterator[Diagnostic]:
    from nnx_lint.analysis.state_changes import nnx_params
    from nnx_lint.analysis.tree_mode import (
        Option,
        structural_changes,
        transformed_functions,
        tree_mode,
    )
    from nnx_lint.analysis.versions import GRAPH_UPDATES_OPTION, TREE_MODE_JIT, target_flax

    version = target_flax(ctx.settings.target_flax_version)
    if version < TREE_MODE_JIT or ctx.hijax:
        return
    for transformed in transformed_functions(ctx):
        site = transformed.site
        assert site.function is not None  # transformed_functions yields functions only
        mode = tree_mode(ctx, site.report_node, site.options)
        if mode is None or (mode.option is Option.GRAPH_UPDATES and version < GRAPH_UPDATES_OPTION):
            continue
        params = {k: p for k, p in nnx_params(ctx, site).items() if not p.instance.hijax}
        for change in structural_changes(ctx, site.function, params):
            yield _finding(ctx, transformed.transform, site, mode, change)


def _finding(
    ctx: FileContext, transform: str, site: JitSite, mode: TreeMode, change: StructuralChange
) -> Diagnostic:
    from nnx_lint.analysis.tree_mode import Dropped
    from nnx_lint.diagnostics import Related
    from nnx_lint.fixes.rewrites import code

    name = _name(site)
    what = code(change.node)
    if change.kind is Dropped.CALL:
        did = f"`{what}` changes the structure of `{change.param}`"
    elif change.kind is Dropped.SOW:
        did = f"`{what}` stores a value on `{change.param}`"
    elif change.kind is Dropped.REPLACES_VARIABLE:
        did = f"assigning `{what}` replaces the Variable it held with a new one"
    elif change.kind is Dropped.OVERWRITES_VARIABLE:
        did = f"assigning `{what}` puts a plain value in place of the Variable it held"
    else:
        did = f"assigning `{what}` adds or replaces an attribute of `{change.param}`"
    head = f"`{transform}` runs {name} in tree mode ({mode.why})"
    because = f": {'; '.join(change.reasons)}" if change.reasons else ""
    message = (
        f"{head}, which drops changes to an object's structure silently: {did}{because}. "
        "That change is lost when the call returns; only values written in place into the "
        f"Variables `{change.param}` held (`x[...] = v`) come back"
    )
    short = f"`{transform}` runs {name} in tree mode: {did}, which it drops silently"
    related = [Related(ctx.path, ctx.position(site.report_node)[0], f"tree mode: {mode.why}")]
    if change.location is not None:
        related.append(Related(*change.location, "the structure changes here"))
    fix = _fix(ctx, change)
    unavailable = None if fix else _by_hand(change)
    return report(ctx, CODE, change.node, message, fix, unavailable, tuple(related), summary=short)


def _name(site: JitSite) -> str:
    import libcst as cst

    fn = site.function.node if site.function is not None else None
    return f"`{fn.name.value}`" if isinstance(fn, cst.FunctionDef) else "a lambda"


def _fix(ctx: FileContext, change: StructuralChange) -> Fix | None:
    """`model.w = nnx.Param(v)` -> `model.w[...] = v` (unsafe; see the Fix safety section)."""
    import libcst as cst

    from nnx_lint.diagnostics import Applicability, Edit, Fix
    from nnx_lint.fixes.rewrites import code

    if change.variable_write is None or not ctx.settings.unsafe_fixes:
        return None
    target, value = change.variable_write
    holder = ctx.parent(target)
    assign = ctx.parent(holder) if holder is not None else None
    if not isinstance(assign, cst.Assign) or len(assign.targets) != 1:
        return None
    start, end = ctx.span(assign)
    text = f"{code(target)}[...] = {code(value)}"
    title = f"Write the value in place: `{code(target)}[...] = ...`"
    return Fix(Applicability.UNSAFE, title, (Edit(start, end, text),))


def _by_hand(change: StructuralChange) -> str:
    from nnx_lint.analysis.tree_mode import Dropped

    if change.kind is Dropped.SOW:
        return "return the value instead of sowing it, or run the transform in graph mode"
    if change.variable_write is not None:
        return "write the value in place (`x[...] = v`); the fix does that with --unsafe-fixes"
    if change.kind is Dropped.OVERWRITES_VARIABLE:
        return (
            "write the value in place (`x[...] = v`) to keep the Variable; run eagerly, this "
            "assignment replaces it with the plain value"
        )
    return (
        "keep the state in a Variable made in `__init__` and write its value in place "
        "(`self.count[...] = v`), or run the transform in graph mode"
    )


# Tree mode spelled (a text check: most files name no graph at all).
RULE = Rule(CODE, NAME, SUMMARY, DOC, check, mentions_tree_mode)
