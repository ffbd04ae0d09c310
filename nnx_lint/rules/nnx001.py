"""NNX001: `jax.jit` applied to an NNX object, its bound method, or a closure over one."""

from nnx_lint.rules import Rule

DOC = """\
## jax-jit-on-nnx-object (NNX001)

### What it does
Checks for `jax.jit` (in any spelling: `jax.jit(f)`, `@jax.jit`, `@jax.jit(...)`,
`functools.partial(jax.jit, ...)`, `from jax import jit`, module-level aliases) applied to an
NNX object (a `flax.nnx` Module, a subclass of one from anywhere in the project, an
`nnx.Optimizer`, `nnx.Rngs`, metric or `nnx.Variable`), to a bound method of one, or to a
function (def or lambda, at any nesting depth) that reads such an object from an enclosing
scope (a free name, a global, `self` or `self.attr` of an enclosing method).

### Why is this bad?
`jax.jit` does not know that NNX objects are stateful Python objects. When the object's state
changes as it runs (Dropout and RNN cells draw from `Rngs`, BatchNorm updates its statistics,
an optimizer steps), tracing it raises `TraceContextError` (Flax 0.10.5 and later;
`jax.jit(nnx.RNN(nnx.LSTMCell(...)))` is the reported case), or a `ValueError` ("Cannot
extract graph node from different trace level") when `nnx.grad` runs inside a train step.
When it does not, its parameters are compiled in as constants: later updates to them are
silently ignored.

### Example
```python
model = nnx.RNN(nnx.LSTMCell(3, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(1))
forward = jax.jit(model)

@jax.jit
def step(x):
    return model(x)
```

### Use instead
```python
model = nnx.RNN(nnx.LSTMCell(3, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(1))
forward = functools.partial(nnx.jit(type(model).__call__), model)

@nnx.jit
def step(model, x):
    return model(x)
```
Replacing `jax.jit` with `nnx.jit` alone is not enough: `nnx.jit` only propagates the state
of NNX objects passed to the compiled function as arguments.

### Fix safety
`name = jax.jit(obj)` and `jax.jit(obj.method)` become
`functools.partial(nnx.jit(type(obj).__call__), obj)` (`type(obj).method`): every call site
stays the same, the function is traced once, and state changes propagate. This fix is safe.
Keyword options are carried over (`static_argnums`/`donate_argnums` renumbered); options
`nnx.jit` does not take (`compiler_options`, positional options) mean no fix.

For inline use (`jax.jit(model)(x)`) and closures, the captured objects become leading
parameters of the compiled function, it is compiled with `nnx.jit`, and every call site in
the file passes them. That changes the function's signature, so the fix is unsafe (applied
with `--unsafe-fixes`), and offered only when every use of the function is a call in this
file that can see the captured names (not for functions in a class body, imported by another
file of the project, listed in `__all__` or rebound). Options with one entry per argument
(`in_shardings`) mean no fix.
"""


def check(ctx):
    from nnx_lint import jit_fixes  # the analysis is imported when a file is checked

    return jit_fixes.check(ctx, "jax", "NNX001")


RULE = Rule("NNX001", "jax-jit-on-nnx-object", "jax.jit applied to NNX state", DOC, check)
