"""NNX103: a plain list, tuple or dict of Modules, Variables or arrays assigned to a Module
attribute, which flax 0.12 rejects (an upgrade rule)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from nnx_lint.rules import Rule, report

if TYPE_CHECKING:
    from nnx_lint.analysis.containers import StaticContainer
    from nnx_lint.analysis.context import FileContext
    from nnx_lint.diagnostics import Diagnostic, Fix

CODE = "NNX103"
NAME = "static-container-of-data"
SUMMARY = "plain container of Modules or arrays in a Module attribute (flax 0.12)"

DOC = """\
## static-container-of-data (NNX103)

### What it does
An upgrade rule for flax 0.12 (selected with `--select NNX1`, when the target flax version is
0.12.0 or later). In a Module class (a subclass of `nnx.Module`, told from its bases through
the imports and the project's classes), it checks for an attribute assigned a plain `list`,
`tuple` or `dict` (a literal or a comprehension) that holds Modules, Variables, `nnx.Rngs` or
arrays (`jnp.*`, `jax.random.*`, `np.array`/`np.zeros`/...), also when the container is built
in a local name first (`layers = []`, `layers.append(nnx.Linear(...))`, `self.layers =
layers`), or is assigned empty in `__init__` and filled there (`self.layers = []`, then
`self.layers.append(...)`).

### Why is this bad?
Since flax 0.12.0 a Module is a pytree whose attributes are data or static, and a plain
container is static. A static attribute holding data raises when the module is built:
`ValueError: Found data on value of type '<class 'list'>' assigned to static attribute
'layers' of Pytree type ...` (flax 0.12.8; 0.12.0 says "Found unexpected Arrays on value ...
in static attribute"), and for a container filled after its assignment, when `__init__`
returns: `Found unexpected data on value of type <class 'list'> in static attribute
'layers'`. Code that ran on flax 0.11 stops running. A container of numbers, strings or
`None` is static and fine, and is not reported. Classes declared with `pytree=False`
(the flag is not inherited by subclasses) and attributes declared in the class body with
`nnx.data()`/`nnx.Data[...]` are not reported either.

### Example
```python
from flax import nnx


class MLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.layers = [nnx.Linear(4, 4, rngs=rngs) for _ in range(3)]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
```

### Use instead
```python
from flax import nnx


class MLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.layers = nnx.data([nnx.Linear(4, 4, rngs=rngs) for _ in range(3)])

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
```
`nnx.List([...])` and `nnx.Dict({...})` are flax's container Modules for the same purpose.

### Fix safety
The fix wraps the assigned value in `nnx.data(...)` (flax 0.11.0+), which marks the attribute
as data and keeps the value itself: the attribute is still the same `list`, `tuple` or
`dict`, so indexing, slicing, iteration, `len`, `append`, `==` and `isinstance` behave as
before, and its Params keep their paths in `nnx.state` (`layers/0/kernel`). Safe. It does not
swap in `nnx.List`/`nnx.Dict`: those are Modules, not lists or dicts (`nnx.List([...]) ==
[...]` is False, `isinstance(..., list)` is False, a slice is a plain list, and `nnx.Dict`
takes only string keys).
"""

MESSAGE = (
    "`self.{attr}` is assigned a plain {kind}{how} that holds {data}: on flax 0.12+ a {kind} "
    "attribute of a Module is static, and a static attribute holding Modules, Variables or "
    "arrays raises ValueError {when} (\"... {kind_repr} ... static attribute '{attr}' ...\")"
)
SHORT = "plain {kind} of {data} in a Module attribute: ValueError on flax 0.12+"


def check(ctx: FileContext) -> Iterator[Diagnostic]:
    from nnx_lint.analysis.containers import When, static_containers
    from nnx_lint.analysis.versions import STATIC_CONTAINERS_ERROR, target_flax
    from nnx_lint.fixes.imports import NoFix

    if target_flax(ctx.settings.target_flax_version) < STATIC_CONTAINERS_ERROR:
        return
    when = {When.ASSIGNED: "when it is assigned", When.BUILT: "when `__init__` returns"}
    for found in static_containers(ctx):
        how = " (filled later)" if found.appended else ""
        kind = found.kind.value
        text = MESSAGE.format(
            attr=found.attr,
            kind=kind,
            how=how,
            data=found.data,
            when=when[found.when],
            kind_repr=f"<class '{kind}'>",
        )
        short = SHORT.format(kind=kind, data=found.data)
        try:
            fix = _fix(ctx, found)
            yield report(ctx, CODE, found.value, text, fix, summary=short)
        except NoFix as why:
            help_ = f"wrap the value in `nnx.data(...)` (no automatic fix: {why})"
            yield report(ctx, CODE, found.value, text, None, help_, summary=short)


def _fix(ctx: FileContext, found: StaticContainer) -> Fix:
    import libcst as cst

    from nnx_lint.diagnostics import Applicability, Edit, Fix
    from nnx_lint.fixes.imports import Imports

    imports = Imports(ctx)
    start, end = ctx.span(found.value)
    text = ctx.source[start:end]
    if isinstance(found.value, cst.Tuple):
        if not found.value.lpar:
            text = f"({text})"  # `self.ws = a, b`
        else:  # the tuple's position leaves its parentheses out: take them in
            start = ctx.span(found.value.lpar[0])[0]
            end = ctx.span(found.value.rpar[-1])[1]
            text = ctx.source[start:end]
    edits = [Edit(start, end, f"{imports.nnx()}.data({text})")]
    title = (
        f"Wrap the {found.kind.value} in `nnx.data(...)`: the attribute becomes data and stays "
        f"the same {found.kind.value}"
    )
    return Fix(Applicability.SAFE, title, (*edits, *imports.edits))


def prefilter(source: str) -> bool:
    return "self." in source and ("[" in source or "{" in source or "," in source)


RULE = Rule(CODE, NAME, SUMMARY, DOC, check, prefilter=prefilter)
