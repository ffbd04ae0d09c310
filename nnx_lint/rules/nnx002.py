"""NNX002: `nnx.jit` applied to an NNX object, its bound method, or a closure over one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from nnx_lint.rules import Rule
from nnx_lint.rules.nnx001 import describe, jit_on_nnx_state, summarize

if TYPE_CHECKING:
    from nnx_lint.analysis.context import FileContext
    from nnx_lint.analysis.jit_sites import JitSite
    from nnx_lint.diagnostics import Diagnostic

CODE = "NNX002"
NAME = "nnx-jit-on-captured-nnx-object"
SUMMARY = "nnx.jit applied to NNX state"

DOC = """\
## nnx-jit-on-captured-nnx-object (NNX002)

### What it does
Checks for `nnx.jit` (any spelling of `flax.nnx.jit`) applied to an NNX object
(`nnx.jit(model)`), to a bound method of one (`nnx.jit(model.encode)`), or to a function
that reads an NNX object from an enclosing scope (`nnx.jit(lambda x: model(x))`, a
closure-style `@nnx.jit`).

### Why is this bad?
`nnx.jit` propagates the state of NNX objects only when they are arguments of the compiled
function. Applied to the object itself or to a closure over it, it fails exactly like
`jax.jit`: `TraceContextError` when the object's state changes (Flax 0.10.5 and later),
stale compiled-in parameters otherwise.

### Example
```python
from flax import nnx

model = nnx.Dropout(0.5, rngs=nnx.Rngs(0))
forward = nnx.jit(model)


@nnx.jit
def step(x):
    return model(x)
```

### Use instead
```python
import functools

from flax import nnx

model = nnx.Dropout(0.5, rngs=nnx.Rngs(0))
forward = functools.partial(nnx.jit(type(model).__call__), model)


@nnx.jit
def step(model, x):
    return model(x)
```

### Fix safety
The same rewrites as NNX001, in the same fastest correct form: `name = nnx.jit(obj)` becomes
`functools.partial(nnx.jit(type(obj).__call__), obj)` (safe), or
`functools.partial(jax.jit(type(obj).__call__), obj)` where the call only reads the object
and the target flax makes it a pytree (0.11+: no graph traversal per call), or tree mode
(`graph=False`) with `--unsafe-fixes` where every change is to a Variable's value (0.12.5+;
see NNX001), or, with `--unsafe-fixes` where the file proves the object is never restructured
once bound, `nnx.jit_partial(type(obj).__call__, obj, graph=False)` (0.12.5+; before,
`nnx.cached_partial` over `nnx.jit`: see NNX001); closures and inline calls get the captured
objects as leading parameters and arguments (unsafe: the signature changes), closures keeping
`nnx.jit`.
"""


# Detection is NNX001's (the same shapes fail the same way under nnx.jit); so are the messages,
# plus this note, except for bound methods, which nnx.jit refuses outright from flax 0.12.1 on.
NOTE = " (nnx.jit only propagates the state of NNX objects passed as arguments)"


def message(ctx: FileContext, site: JitSite) -> str:
    return _refused(ctx, site) or describe(ctx, site) + NOTE


def summary(ctx: FileContext, site: JitSite) -> str:
    return _refused(ctx, site) or summarize(ctx, site)


def _refused(ctx: FileContext, site: JitSite) -> str:
    """The message for a bound method where nnx.jit refuses them (flax 0.12.1 on), else ""."""
    from nnx_lint.analysis.jit_sites import Shape
    from nnx_lint.analysis.versions import BOUND_METHODS_REFUSED, target_flax
    from nnx_lint.fixes.rewrites import code

    refused = target_flax(ctx.settings.target_flax_version) >= BOUND_METHODS_REFUSED
    if site.shape is not Shape.METHOD or not refused:
        return ""
    return (
        f"`nnx.jit` applied to a bound method of an NNX object (`{code(site.target)}`): "
        "nnx.jit does not support bound methods, so this raises ValueError (flax 0.12.1 "
        "and later)"
    )


def check(ctx: FileContext) -> Iterator[Diagnostic]:
    from nnx_lint.analysis.nnx_api import JitKind

    return jit_on_nnx_state(ctx, JitKind.NNX, CODE, message, summary)


RULE = Rule(CODE, NAME, SUMMARY, DOC, check)
