"""NNX102: ``optimizer.update(grads)`` on an ``nnx.Optimizer``, which flax 0.11 makes
``optimizer.update(model, grads)``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from nnx_lint.rules import Rule, report

if TYPE_CHECKING:
    import libcst as cst

    from nnx_lint.analysis.context import FileContext
    from nnx_lint.analysis.upgrades import Construction, Optimizers, Place
    from nnx_lint.diagnostics import Diagnostic, Fix

CODE = "NNX102"
NAME = "optimizer-update-without-model"
SUMMARY = "optimizer.update(grads) without the model (required from flax 0.11)"

DOC = """\
## optimizer-update-without-model (NNX102)

### What it does
An upgrade rule (opt-in: `--select NNX1`), for code moving to flax 0.11 or later (its
`target-flax-version`). Checks for `optimizer.update(grads)` and `optimizer.update(grads=g)`
where `optimizer` is an `nnx.Optimizer`, known from evidence, never from its name: its
construction (`optimizer = nnx.Optimizer(model, tx)`, `self.optimizer = ...` in `__init__`),
an annotation (`optimizer: nnx.Optimizer`), or the calls of the function it is a parameter
of (`train_step(model, optimizer, batch)` where every call in the file passes one). Project
subclasses that keep flax's `update` count; `nnx.ModelAndOptimizer` (which keeps the 0.10
API) and subclasses with an `update` of their own do not. An optax
`GradientTransformation`'s `tx.update(grads, state)`, a `dict.update`, and calls that pass
`*args`/`**kwargs` or already pass the model are not reported.

### Why is this bad?
From flax 0.11.0 on, an `nnx.Optimizer` no longer holds the model: `update` takes it first,
`update(model, grads)`. The one-argument form raises `TypeError: Missing required argument
`grads`. As of Flax 0.11.0 update requires both (model, grads) arguments to be passed. If you
want to keep the previous use nnx.ModelAndOptimizer instead of nnx.Optimizer.`, and
`update(grads=g)` raises `TypeError: Optimizer.update() missing 1 required positional
argument: 'model'` (measured on flax 0.11.0 and 0.12.8).

### Example
```python
import optax
from flax import nnx

model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)


def loss_fn(model, x):
    return (model(x) ** 2).mean()


def train_step(x):
    grads = nnx.grad(loss_fn)(model, x)
    optimizer.update(grads)
```

### Use instead
```python
import optax
from flax import nnx

model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)


def loss_fn(model, x):
    return (model(x) ** 2).mean()


def train_step(x):
    grads = nnx.grad(loss_fn)(model, x)
    optimizer.update(model, grads)
```

### Fix safety
The fix passes the model first: the model the optimizer was built with (its construction's
first argument), or else the model the gradients are of (the argument `nnx.grad` /
`nnx.value_and_grad` differentiates, `argnums` 0 by default, where the gradients come from
that call in the same function). flax 0.10's `update(grads)` updated the optimizer's own
model, so the fix is safe only where the file proves that the expression passed is that very
object at the update: the model of the construction, written where the update is, names the
same object there (a local or global name that nothing rebinds in between, or `self.model`
of a method of the class whose `__init__` sets `self.model` once, before building the
optimizer). It is unsafe (`--unsafe-fixes`) where the model is known only from the
gradients (an optimizer that is a parameter or an annotated attribute: the file does not
prove it was built with that model), or where the construction's model may be rebound before
the update. Where neither is known (an optimizer built in another file whose gradients come
from elsewhere, a model built inline in the construction), there is no fix, and the help says
what to pass. The fixed `update(model, grads)` needs flax 0.11 or later (0.10 raises
`TypeError: Optimizer.update() takes 2 positional arguments but 3 were given`).
"""

ONE_ARGUMENT = (
    "`{call}` on an `nnx.Optimizer` without the model: on flax 0.11+ this raises "
    "TypeError: Missing required argument `grads`. As of Flax 0.11.0 update requires both "
    "(model, grads) arguments to be passed. If you want to keep the previous use "
    "nnx.ModelAndOptimizer instead of nnx.Optimizer."
)
KEYWORD = (
    "`{call}` on an `nnx.Optimizer` without the model: on flax 0.11+ this raises "
    "TypeError: Optimizer.update() missing 1 required positional argument: 'model'"
)
SHORT = "`{call}` without the model: TypeError on flax 0.11+"
SAFE_TITLE = "Pass the model first: `{model}`, the model the optimizer was built with"
PASSED_TITLE = (
    "Pass the model first: `{model}`, the model every call passes with the optimizer built with it"
)
UNSAFE_TITLE = (
    "Pass the model first: `{model}` (unsafe: {why}; flax 0.10 updated the model the "
    "optimizer was built with)"
)
FROM_GRADS = (
    "the gradients are of `{model}`, but the file does not prove the optimizer was built with it"
)
REBOUND = "`{model}` built the optimizer, but may name another object at the update"
NO_FIX = (
    "pass the model the optimizer updates first, `{receiver}.update(model, grads)` (no "
    "automatic fix: {why})"
)


def check(ctx: FileContext) -> Iterator[Diagnostic]:
    import libcst as cst

    from nnx_lint.analysis.upgrades import Optimizers, Place
    from nnx_lint.analysis.versions import OPTIMIZER_WRT, target_flax

    if target_flax(ctx.settings.target_flax_version) < OPTIMIZER_WRT:
        return
    optimizers = Optimizers(ctx)
    for call, scope, order in ctx.scopes.calls:
        func = call.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "update":
            continue
        grads = _grads(call)
        if grads is None:
            continue
        place = Place(scope, order)
        known, construction = optimizers.optimizer_at(func.value, place)
        if not known:
            continue
        text = ctx.code(call)
        shown = text if len(text) <= 60 and "\n" not in text else f"{ctx.code(func)}(...)"
        template = ONE_ARGUMENT if call.args[0].keyword is None else KEYWORD
        message = template.format(call=shown)
        short = SHORT.format(call=shown)
        fix, why = _fix(ctx, optimizers, call, grads, place, construction, func.value)
        yield report(ctx, CODE, call, message, fix, why, summary=short)


def _grads(call: cst.Call) -> cst.BaseExpression | None:
    """The gradients of a 0.10-style ``update(grads, **kwargs)`` / ``update(grads=g)``."""
    if not call.args or any(a.star for a in call.args):
        return None
    positional = [a for a in call.args if a.keyword is None]
    keywords = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
    if "model" in keywords:
        return None
    if len(positional) == 1 and call.args[0].keyword is None and "grads" not in keywords:
        return positional[0].value
    if not positional and "grads" in keywords:
        return keywords["grads"]
    return None


def _fix(
    ctx: FileContext,
    optimizers: Optimizers,
    call: cst.Call,
    grads: cst.BaseExpression,
    place: Place,
    construction: Construction | None,
    receiver: cst.BaseExpression,
) -> tuple[Fix | None, str | None]:
    from nnx_lint.diagnostics import Applicability, Edit, Fix

    first = call.args[0]
    start, _ = ctx.span(first.keyword if first.keyword is not None else first.value)
    built = _built_with(ctx, optimizers, construction, place)
    if built is not None and built[1]:
        model = built[0]
        edit = Edit(start, start, f"{model}, ")
        return Fix(Applicability.SAFE, SAFE_TITLE.format(model=model), (edit,)), None
    found = optimizers.grad_model(grads, place)
    if found is not None and _nameable(found.expr):
        if optimizers.same_object(found.expr, found.place, place):
            model = ctx.code(found.expr)
            edit = Edit(start, start, f"{model}, ")
            if optimizers.passes_built_model(receiver, found.expr, place):
                return Fix(Applicability.SAFE, PASSED_TITLE.format(model=model), (edit,)), None
            why = FROM_GRADS.format(model=model)
            if built is not None and built[0] == model:
                why = REBOUND.format(model=model)
            return Fix(
                Applicability.UNSAFE, UNSAFE_TITLE.format(model=model, why=why), (edit,)
            ), None
    if built is not None:
        model = built[0]
        title = UNSAFE_TITLE.format(model=model, why=REBOUND.format(model=model))
        return Fix(Applicability.UNSAFE, title, (Edit(start, start, f"{model}, "),)), None
    if construction is None:
        why = "the file does not tell which model the optimizer was built with"
    else:
        why = "the model of its construction cannot be named here"
    return None, NO_FIX.format(receiver=ctx.code(receiver), why=why)


def _built_with(
    ctx: FileContext, optimizers: Optimizers, construction: Construction | None, place: Place
) -> tuple[str, bool] | None:
    """The construction's model as written where the update is, and whether it provably names
    the same object there."""
    if construction is None:
        return None
    model = construction.model
    if model is None or not _nameable(model):
        return None
    same = optimizers.same_object(model, construction.place, place)
    if not same and not _visible(ctx, model, place):
        return None
    return ctx.code(model), same


def _nameable(expr: cst.BaseExpression) -> bool:
    """A name, or attributes of one."""
    import libcst as cst

    while isinstance(expr, cst.Attribute):
        expr = expr.value
    return isinstance(expr, cst.Name)


def _visible(ctx: FileContext, expr: cst.BaseExpression, place: Place) -> bool:
    """Does the root name of ``expr`` mean something at ``place`` (not necessarily the same
    object)?"""
    import libcst as cst

    from nnx_lint.analysis.scopes import lookup

    while isinstance(expr, cst.Attribute):
        expr = expr.value
    return isinstance(expr, cst.Name) and lookup(expr.value, place.scope)[0] is not None


RULE = Rule(CODE, NAME, SUMMARY, DOC, check, prefilter=lambda source: ".update(" in source)
