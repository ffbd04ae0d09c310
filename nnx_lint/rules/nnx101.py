"""NNX101: ``nnx.Optimizer(model, tx)`` without ``wrt=``, which flax 0.11 requires."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from nnx_lint.rules import Rule, report

if TYPE_CHECKING:
    import libcst as cst

    from nnx_lint.analysis.context import FileContext
    from nnx_lint.analysis.upgrades import Construction
    from nnx_lint.diagnostics import Diagnostic, Edit, Fix

CODE = "NNX101"
NAME = "optimizer-without-wrt"
SUMMARY = "nnx.Optimizer without wrt= (required from flax 0.11)"

DOC = """\
## optimizer-without-wrt (NNX101)

### What it does
An upgrade rule (opt-in: `--select NNX1`), for code moving to flax 0.11 or later (its
`target-flax-version`). Checks for constructions of `nnx.Optimizer` that do not pass `wrt`
by keyword: `nnx.Optimizer(model, tx)`, and `nnx.Optimizer(model, tx, nnx.Param)` with
`wrt` given by position. The class is found through imports (`from flax import nnx`,
`from flax.nnx import Optimizer`, `flax.nnx.Optimizer`, `nnx.optimizer.Optimizer`, aliases),
and so are the project's subclasses that keep flax's `__init__`; in a subclass whose first
base is `nnx.Optimizer`, `super().__init__(model, tx)` is checked too. A call that passes
`wrt=`, or `*args`/`**kwargs`, is not reported, nor is `nnx.ModelAndOptimizer` (whose `wrt`
still defaults to `nnx.Param`) or a subclass with an `__init__` of its own.

### Why is this bad?
From flax 0.11.0 on, `wrt` is a required keyword argument. Both forms raise at construction:
`TypeError: Missing required argument `wrt`. As of Flax 0.11.0 the `wrt` argument is
required, if you want to keep the previous use nnx.ModelAndOptimizer instead of
nnx.Optimizer.` (measured on flax 0.11.0 and 0.12.8; the positional form too, since flax
takes `wrt` by keyword only). Up to 0.10 it was optional and defaulted to `nnx.Param`.

### Example
```python
import optax
from flax import nnx

model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
optimizer = nnx.Optimizer(model, optax.adam(1e-3))
```

### Use instead
```python
import optax
from flax import nnx

model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
```
flax 0.11 also changed `optimizer.update(grads)` to `optimizer.update(model, grads)`
(NNX102), and an `nnx.Optimizer` no longer holds the model (`optimizer.model` raises
`AttributeError`): pass the model to the train step besides the optimizer.

### Fix safety
The fix adds `wrt=nnx.Param` (or makes a positional `wrt` a keyword). It is safe: `nnx.Param`
is the default of flax 0.10, so the optimizer tracks the same Variables, and flax 0.10.5
accepts the keyword, so the fixed code runs on 0.10 as before. `nnx.Param` is spelled as the
file imports it (`from flax import nnx` is added where nothing imports it).
"""

MESSAGE = (
    "`{call}` without `wrt`{how}: on flax 0.11+ this raises TypeError: Missing required "
    "argument `wrt`. As of Flax 0.11.0 the `wrt` argument is required, if you want to keep the "
    "previous use nnx.ModelAndOptimizer instead of nnx.Optimizer."
)
SHORT = "`{call}` without `wrt`{how}: TypeError on flax 0.11+"
POSITIONAL = " by keyword (flax 0.11 takes it by keyword only)"
TITLE = "Pass `wrt={param}`, the default of flax 0.10 (accepted there too)"
KEYWORD_TITLE = "Pass `wrt` by keyword (flax 0.10 accepts it too)"
KNOWN = frozenset({"model", "tx"})


def check(ctx: FileContext) -> Iterator[Diagnostic]:
    from nnx_lint.analysis.upgrades import Optimizers
    from nnx_lint.analysis.versions import OPTIMIZER_WRT, target_flax

    if target_flax(ctx.settings.target_flax_version) < OPTIMIZER_WRT:
        return
    optimizers = Optimizers(ctx)
    for found in optimizers.constructions():
        args = found.call.args
        if any(a.star for a in args):
            continue
        keywords = {a.keyword.value for a in args if a.keyword is not None}
        positional = [a for a in args if a.keyword is None]
        if "wrt" in keywords or not keywords <= KNOWN or len(positional) > 3:
            continue
        if len(positional) + len(keywords) < 2:
            continue  # model or tx missing: an error on every version
        call = _called(ctx, found.call)
        how = POSITIONAL if len(positional) == 3 else ""
        message = MESSAGE.format(call=call, how=how)
        short = SHORT.format(call=call, how=how)
        fix, why = _fix(ctx, found)
        yield report(ctx, CODE, found.call, message, fix, why, summary=short)


def _called(ctx: FileContext, call: cst.Call) -> str:
    """How the message names the call: `nnx.Optimizer(...)`."""
    return f"{ctx.code(call.func)}(...)"


def _fix(ctx: FileContext, found: Construction) -> tuple[Fix | None, str | None]:
    from nnx_lint.diagnostics import Applicability, Edit, Fix
    from nnx_lint.fixes.imports import NoFix

    args = found.call.args
    positional = [a for a in args if a.keyword is None]
    if len(positional) == 3:
        start, _ = ctx.span(positional[2].value)
        edit = Edit(start, start, "wrt=")
        return Fix(Applicability.SAFE, KEYWORD_TITLE, (edit,)), None
    try:
        param, edits = param_spelling(ctx, found)
    except NoFix as e:
        return None, f"add `wrt=nnx.Param` by hand (no automatic fix: {e})"
    _, end = ctx.span(args[-1].value)
    _, close = ctx.span(found.call)
    between = ctx.source[end : close - 1]  # after the last argument, up to `)`
    if "\n" in between and between.lstrip(" \t").startswith(","):
        # one argument a line, with a trailing comma: add one more line like it
        line = ctx.lines.line(ctx.position(args[-1].value)[0])
        indent = line[: len(line) - len(line.lstrip())]
        at = end + between.index("\n") + 1
        edit = Edit(at, at, f"{indent}wrt={param},\n")
    else:
        edit = Edit(end, end, f", wrt={param}")
    return Fix(Applicability.SAFE, TITLE.format(param=param), (edit, *edits)), None


def param_spelling(ctx: FileContext, found: Construction) -> tuple[str, tuple[Edit, ...]]:
    """How ``nnx.Param`` is spelled at the construction, and the import edits that needs."""
    import libcst as cst

    from nnx_lint.fixes.imports import nnx_name

    place = found.place
    func = found.call.func
    if isinstance(func, cst.Attribute) and _spells_nnx(ctx, func.value, found):
        return f"{ctx.code(func.value)}.Param", ()  # as the call spells flax.nnx
    return nnx_name(ctx, "Param", place.scope, place.order)


def _spells_nnx(ctx: FileContext, expr: cst.BaseExpression, found: Construction) -> bool:
    """Is ``expr`` ``flax.nnx`` itself (``nnx``, ``flax.nnx``, an alias of the package), not
    one of its submodules (``nnx.optimizer``)?"""
    import libcst as cst

    from nnx_lint.analysis.context import Ref
    from nnx_lint.analysis.renames import raw_import
    from nnx_lint.analysis.scopes import BindingKind, dotted

    place = found.place
    if isinstance(expr, cst.Attribute):
        root = ctx.evaluate(expr.value, place.scope, place.order)
        return dotted(expr) == "flax.nnx" and root == Ref("flax")
    if not isinstance(expr, cst.Name):
        return False
    binding = ctx.binding_of(expr.value, place.scope, place.order)
    if binding is None or binding.kind is not BindingKind.IMPORT:
        return False
    return raw_import(binding) == "flax.nnx"  # `from flax import nnx`, `import flax.nnx as n`


RULE = Rule(CODE, NAME, SUMMARY, DOC, check, prefilter=lambda source: "Optimizer" in source)
