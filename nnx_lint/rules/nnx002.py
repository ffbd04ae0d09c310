"""NNX002: `nnx.jit` applied to an NNX object, its bound method, or a closure over one."""

from nnx_lint.rules import Rule

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
forward = nnx.jit(model)

@nnx.jit
def step(x):
    return model(x)
```

### Use instead
```python
forward = functools.partial(nnx.jit(type(model).__call__), model)

@nnx.jit
def step(model, x):
    return model(x)
```

### Fix safety
The same rewrites as NNX001, without the `jax` -> `nnx` swap: `name = nnx.jit(obj)` becomes
`functools.partial(nnx.jit(type(obj).__call__), obj)` (safe); closures and inline calls get
the captured objects as leading parameters and arguments (unsafe: the signature changes).
"""


def check(ctx):
    from nnx_lint import jit_fixes  # the analysis is imported when a file is checked

    return jit_fixes.check(ctx, "nnx", "NNX002")


RULE = Rule("NNX002", "nnx-jit-on-captured-nnx-object", "nnx.jit applied to NNX state", DOC, check)
