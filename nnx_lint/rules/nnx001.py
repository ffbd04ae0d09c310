"""NNX001: `jax.jit` applied to an NNX object, its bound method, or a closure over one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

# light: the enums and names of the API
from nnx_lint.analysis.nnx_api import CACHED_PARTIAL, Effect
from nnx_lint.rules import Rule, evidence, report

if TYPE_CHECKING:
    from nnx_lint.analysis.context import FileContext
    from nnx_lint.analysis.jit_sites import JitSite
    from nnx_lint.analysis.nnx_api import JitKind
    from nnx_lint.diagnostics import Diagnostic

CODE = "NNX001"
NAME = "jax-jit-on-nnx-object"
SUMMARY = "jax.jit applied to NNX state"

DOC = """\
## jax-jit-on-nnx-object (NNX001)

### What it does
Checks for `jax.jit` (in any spelling: `jax.jit(f)`, `@jax.jit`, `@jax.jit(...)`,
`functools.partial(jax.jit, ...)`, `from jax import jit`, module-level aliases) applied to an
NNX object (a `flax.nnx` Module, a subclass of one from anywhere in the project, an
`nnx.Optimizer`, `nnx.Rngs`, metric or `nnx.Variable`), to a bound method of one, or to a
function (def or lambda, at any nesting depth) that reads such an object from an enclosing
scope (a free name, a global, `self` or `self.attr` of an enclosing method, `obj.attr` of a
plain object or dataclass holding one, an element of a list, tuple or dict of them), to a
bound method of a plain object whose method uses the NNX objects it holds
(`jax.jit(agent.act)`; no automatic fix: nnx.jit cannot take the plain object), or to
`functools.partial(f, model, ...)` / `nnx.cached_partial(f, model)` binding one to a function
of the file. An object is known from evidence: its construction, an annotation, or a function
of the project that returns one (`model = make_model(cfg)`: its return annotation, or every
return statement constructing the same class).

### Why is this bad?
`jax.jit` does not know that NNX objects are stateful Python objects. When the object's state
changes as it runs (Dropout and RNN cells draw from `Rngs`, BatchNorm updates its statistics,
an optimizer steps), tracing it raises `TraceContextError` (Flax 0.10.5 and later;
`jax.jit(nnx.RNN(nnx.LSTMCell(...)))` is the reported case), or a `ValueError` ("Cannot
extract graph node from different trace level") when `nnx.grad` runs inside a train step.
When it does not, its parameters are compiled in as constants: later updates to them are
silently ignored.

Which of the two happens is decided per call path, not per class: holding `nnx.Param`s or
other Variables is not changing state (nearly every model holds Params). A call changes state
when what it runs does: an assignment to the object's attributes, items or Variables
(`self.count[...] += 1`, or `m.kernel = ...` in the compiled function itself), a draw from
`Rngs`, `sow`, `optimizer.update`, a metric's `update`, a flax `Dropout`, `BatchNorm` or RNN
layer, or a method of its own or of a submodule that does, followed through `self.method(...)`,
`self.submodule(...)`, `self.submodule.method(...)` and the elements of containers
(`for block in self.blocks`). A class whose *other* method writes a cache does not make its
`__call__` change state. The message says which it is and why (the chain of calls to the first
state change); where that cannot be told (a class from outside the project, a call that
cannot be followed), it claims neither. `nnx.value_and_grad`/`nnx.grad` run on a captured
object inside the compiled function raise `ValueError` even when nothing changes.
`nnx.cached_partial` works only inside NNX transforms: under `jax.jit` calling it raises
`ValueError` (flax 0.10.4 and later).

### Example
```python
import jax
from flax import nnx

model = nnx.RNN(nnx.LSTMCell(3, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(1))
forward = jax.jit(model)


@jax.jit
def step(x):
    return model(x)
```

### Use instead
```python
import functools

from flax import nnx

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
`functools.partial(<jit>(type(obj).__call__), obj)` (`type(obj).method`): every call site
stays the same, the function is traced once, and later changes to the object (parameter
updates, `.eval()`, a replaced submodule) are seen. This fix is safe. `<jit>` is the fastest
form that is correct for what the call does (`benchmarks/runtime.py` measures each):

- `jax.jit` itself where the call only reads the object's state in whatever mode it is in,
  the target flax makes Modules pytrees (0.11+) and the class does not opt out
  (`pytree=False`): the object is a traced argument, with no graph traversal per call
  (several times faster than `nnx.jit`; on a 200-layer model still about 3-5x the fastest
  hand-written form, `nnx.jit_partial`, which flattens the object once);
- `nnx.jit` otherwise: its state changes propagate. On a 200-layer model a call costs about
  20x the fastest hand-written form (the traversal of the object's graph on every call);
- with `--unsafe-fixes`, on flax 0.12.5+, where every change the call makes is to a
  Variable's value (RNG draws, BatchNorm statistics, `v[...] = ...`, an optimizer's update),
  `nnx.jit(..., graph=False)` (tree mode) instead, about 3.5x as fast as graph mode. Unsafe
  because tree mode raises `ValueError` when the object holds one Variable or submodule at two
  places. Not where the call adds or replaces an attribute or calls `sow` (tree mode drops
  those silently), nor where that cannot be told.

The fastest form binds the object once: `name = nnx.jit_partial(type(obj).__call__, obj,
graph=False)` (flax 0.12.5+; before, for an object whose state changes,
`nnx.cached_partial(nnx.jit(type(obj).__call__), obj)`), within 1.5x of the fastest
hand-written form on a 200-layer model. Both fix the object's structure when they are made, so
a later `.eval()`, a replaced submodule or an added attribute is not seen and stale results
come back silently. With `--unsafe-fixes` it is emitted where the file proves that nothing
restructures the object once it is bound: the call changes Variable values only (or nothing),
the object is a plain name made once, by a statement of the scope that compiles it, and every
later use (in that scope or any nested one) calls it or a method whose whole call path keeps
its structure, or passes it to `nnx.state`/`nnx.graphdef`; before binding, only bare calls
(`model.train()`) and the statements that make the objects may use it. Any other use (handed
to a function, put in a list, `.eval()`, rebound, imported by another file) keeps the forms
above. Unsafe, because another module can still change the object. Keyword options are
carried over to the per-call forms (`static_argnums`/`donate_argnums` renumbered); the bound
form is offered without options; options `nnx.jit` does not take (`compiler_options`,
positional options) mean no fix.

For inline use (`jax.jit(model)(x)`), where the file proves the structure is kept as above,
the bound function is made once right after the object (`model_fn = nnx.jit_partial(...)`)
and called in its place (`model_fn(x)`, unsafe). Otherwise the object is passed to the
compiled function (`jax.jit(type(model).__call__)(model, x)`, unsafe): only where `jax.jit`
can take it, since `jax.jit` compiles one function once while an inline `nnx.jit` would
compile it again on every call (no fix then). For closures, the same proof gives
`def f(model, x)` with `f = nnx.jit_partial(f, model, graph=False)` once the objects and the
def exist (calls stay as they are); otherwise the captured objects become leading parameters
of the compiled function, it is compiled with the form above (`jax.jit` kept where it can trace
them; `nnx.jit`, or tree mode under the conditions above), and every call site in the file
passes them. That changes the function's signature, so the fix is unsafe (applied with
`--unsafe-fixes`), and offered only when every use of the function is a call in this file
that can see the captured names (not for functions in a class body, imported by another file
of the project, listed in `__all__` or rebound). Options with one entry per argument
(`in_shardings`) mean no fix. Where there is no fix, the finding's help says what to do by
hand and why no fix is offered.

`jax.jit(functools.partial(f, model))` becomes `functools.partial(<jit>(f), model)` (and
`nnx.cached_partial(nnx.jit(f), model)` for `nnx.cached_partial`): the partial object is
called as before, the bound objects are traced arguments. Safe when every bound value is an
NNX object and the function does not need their values concrete; unsafe when other values are
bound too (they become traced arguments, which Python control flow on them cannot read), when
the function reads the objects in a condition, `int()`, `range()` or `.item()`, or in tree
mode; no fix when the partial binds keywords or the function also captures NNX objects.
"""


# What happens at run time, by what running the compiled call does to state (the verdict).
RAISES = (
    "tracing it fails, because {why} (TraceContextError; a ValueError when nnx.grad runs on "
    "a captured object)"
)
STALE = "it only reads its state, so its parameters are compiled in as constants and later "
STALE += "updates are ignored"
UNKNOWN = (
    "whether its state changes when it runs cannot be told ({why}): if it does, tracing "
    "raises TraceContextError, and otherwise its parameters are compiled in as stale constants"
)
# Before flax 0.10.5 nothing checks the trace a change comes from (measured on 0.10.4): the
# change runs and leaves tracers in the object, and NNX transforms inside raise nothing.
LEAKS = (
    "it changes its state, because {why}: before flax 0.10.5 nothing checks that, so tracing "
    "runs and leaks a tracer into the object's state, and using the object afterwards fails "
    "(UnexpectedTracerError)"
)
# ... and an NNX transform given a captured object runs: on 0.10.4 `nnx.value_and_grad` and an
# `@nnx.jit` method compiled stale constants in, `nnx.scan` leaked tracers.
UNCHECKED_NESTED = (
    "{why}: before flax 0.10.5 nothing checks the trace an NNX transform's object comes from, "
    "and what happens then cannot be told (stale constants for some transforms, a tracer "
    "leaked into the object's state for others)"
)
UNKNOWN_LEAKS = (
    "whether its state changes when it runs cannot be told ({why}): if it does, it leaks a "
    "tracer into the object's state (flax before 0.10.5), and otherwise its parameters are "
    "compiled in as stale constants"
)


CACHED = (
    "nnx.cached_partial works only inside NNX transforms, so calling it raises ValueError "
    "(GRAPH_CONTEXT.tmp_static_cache should be None, no context consumed it)"
)


# What happens, in a few words, for one-line output (``Diagnostic.summary``), by the effect
# of the call, or for nnx.cached_partial under jax.jit (None).
SHORT: dict[Effect | None, str] = {
    Effect.CHANGES: "tracing it fails (TraceContextError)",
    Effect.PURE: "its parameters are compiled in as stale constants",
    Effect.UNKNOWN: "tracing fails if its state changes, else its parameters are stale constants",
    None: "calling it raises ValueError",
}
SHORT_UNCHECKED_NESTED = "an NNX transform on a captured object: what happens cannot be told"
SHORT_LEAKS = {  # flax before 0.10.5
    Effect.CHANGES: "tracing it leaks a tracer into its state",
    Effect.UNKNOWN: "it leaks a tracer if its state changes, else its parameters are stale",
}


NESTED = (
    "tracing it fails, because {why}: an NNX transform given an object the trace captured "
    "raises {error}"
)
SHORT_NESTED = "tracing it fails ({error} from an NNX transform inside)"


def describe(ctx: FileContext, site: JitSite) -> str:
    """What is wrong with a jit applied to NNX state, and what happens at run time (on the
    target flax version)."""
    head, effect, why = _parts(ctx, site)
    if effect is None:
        return f"{head}: {CACHED}"
    checked = _checked(ctx)
    nested = site.verdict.nested
    if nested is not None and effect is not Effect.CHANGES and checked:
        return f"{head}: {NESTED.format(why=nested.reason, error=nested.raises)}"
    if not checked and (nested is not None and effect is not Effect.CHANGES):
        return f"{head}: {UNCHECKED_NESTED.format(why=nested.reason)}"
    if not checked and site.verdict.captured_transform:
        return f"{head}: {UNCHECKED_NESTED.format(why=why)}"
    if effect is Effect.CHANGES:
        return f"{head}: {(RAISES if checked else LEAKS).format(why=why)}"
    if effect is Effect.PURE:
        return f"{head}: {STALE}"
    return f"{head}: {(UNKNOWN if checked else UNKNOWN_LEAKS).format(why=why)}"


def _checked(ctx: FileContext) -> bool:
    """Whether the target flax raises for a state change from another trace (0.10.5 on)."""
    from nnx_lint.analysis.versions import TRACE_LEVEL_CHECKED, target_flax

    return target_flax(ctx.settings.target_flax_version) >= TRACE_LEVEL_CHECKED


def summarize(ctx: FileContext, site: JitSite) -> str:
    """``describe`` without the evidence: what is wrong and what happens, for one line."""
    head, effect, _ = _parts(ctx, site)
    checked = _checked(ctx)
    nested = site.verdict.nested
    if nested is not None and effect is not None and effect is not Effect.CHANGES and checked:
        return f"{head}: {SHORT_NESTED.format(error=nested.error)}"
    if not checked and (
        (nested is not None and effect is not None) or site.verdict.captured_transform
    ):
        return f"{head}: {SHORT_UNCHECKED_NESTED}"
    if not checked and effect in SHORT_LEAKS:
        return f"{head}: {SHORT_LEAKS[effect]}"
    return f"{head}: {SHORT[effect]}"


def _parts(ctx: FileContext, site: JitSite) -> tuple[str, Effect | None, str]:
    """What is compiled, the effect of running it (None: an nnx.cached_partial, which fails
    whatever it does), and why (the evidence)."""
    import libcst as cst

    from nnx_lint.analysis.jit_sites import Shape
    from nnx_lint.analysis.versions import CACHED_PARTIAL_JIT, target_flax
    from nnx_lint.fixes.rewrites import code

    jit_name = site.jit.kind.spelled
    if site.shape is Shape.CLOSURE:
        names = ", ".join(
            f"`{c.text}`"
            + (" (a container of them)" if c.instance.container else "")
            + (f" (through `{c.indirect}`)" if c.indirect else "")
            for c in site.captures
        )
        fn = site.function.node if site.function is not None else None
        what = f"function `{fn.name.value}`" if isinstance(fn, cst.FunctionDef) else "a lambda"
        plural = "objects" if len(site.captures) > 1 else "object"
        head = (
            f"`{jit_name}` compiles {what}, which captures NNX {plural} {names} "
            "from an enclosing scope"
        )
    elif site.shape is Shape.PARTIAL:
        names = ", ".join(f"`{c.text}`" for c in site.captures)
        plural = "objects" if len(site.captures) > 1 else "object"
        head = f"`{jit_name}` compiles `{code(site.target)}`, which binds NNX {plural} {names}"
        version = target_flax(ctx.settings.target_flax_version)
        if site.binder == CACHED_PARTIAL and version >= CACHED_PARTIAL_JIT:
            return head, None, ""
    elif site.shape is Shape.METHOD and site.instance is not None and not site.instance.nnx:
        held = ", ".join(f"`self.{a}`" for a in _held(ctx, site))
        head = (
            f"`{jit_name}` applied to a bound method (`{code(site.target)}`) of an object that "
            f"holds NNX objects and uses them ({held})"
        )
    elif site.shape is Shape.METHOD:
        head = f"`{jit_name}` applied to a bound method of an NNX object (`{code(site.target)}`)"
    else:
        head = f"`{jit_name}` applied to an NNX object (`{code(site.target)}`)"
    verdict = site.verdict
    why = "; ".join(verdict.reasons) or "nothing is known of it"
    return head, verdict.effect, why


def _held(ctx: FileContext, site: JitSite) -> list[str]:
    """The NNX attributes a bound method of a plain object uses."""
    import libcst as cst

    assert site.instance is not None and site.instance.cls is not None
    assert isinstance(site.target, cst.Attribute)  # the method shape compiles `obj.method`
    return ctx.index.nnx_attributes_used(site.instance.cls, site.target.attr.value)


def by_hand(ctx: FileContext, site: JitSite) -> str:
    """What to do when no fix is offered."""
    import libcst as cst

    from nnx_lint.analysis.jit_sites import Shape
    from nnx_lint.fixes.rewrites import code

    if site.shape is Shape.PARTIAL and site.function is not None:
        fn = site.function.node
        name = fn.name.value if isinstance(fn, cst.FunctionDef) else "the function"
        binder = "nnx.cached_partial" if site.binder == CACHED_PARTIAL else "functools.partial"
        return f"bind the objects to `nnx.jit({name})` instead: `{binder}(nnx.jit({name}), ...)`"
    if site.shape is Shape.CLOSURE:
        names = ", ".join(f"`{c.text}`" for c in site.captures)
        if len(site.captures) == 1:
            advice = f"make {names} a parameter of the function and pass it in"
        else:
            advice = f"make {names} parameters of the function and pass them in"
        return advice + ", compiling it with nnx.jit"
    target = site.target
    if site.shape is Shape.METHOD and site.instance is not None and not site.instance.nnx:
        assert isinstance(target, cst.Attribute)  # the method shape compiles `obj.method`
        obj = code(target.value)
        held = ", ".join(f"`{obj}.{a}`" for a in _held(ctx, site))
        return f"compile, with nnx.jit, a function that takes {held} as arguments"
    if site.shape is Shape.METHOD and isinstance(target, cst.Attribute):
        obj, method = code(target.value), target.attr.value
    else:
        obj, method = code(target), "__call__"
    return f"compile `type({obj}).{method}` with nnx.jit and pass `{obj}` to it"


def jit_on_nnx_state(
    ctx: FileContext,
    kind: JitKind,
    code: str,
    message: Callable[[FileContext, JitSite], str] = describe,
    summary: Callable[[FileContext, JitSite], str] = summarize,
) -> Iterator[Diagnostic]:
    """Findings for a jit of ``kind`` applied to an NNX object, a bound method of one, or a
    closure over one (NNX001 for jax.jit; NNX002, with its own ``message`` and ``summary``,
    for nnx.jit)."""
    from nnx_lint.analysis.jit_sites import Shape, find_jit_sites, made_in_hijax_mode
    from nnx_lint.fixes.binding import bind_closure_fix, bind_object_fix
    from nnx_lint.fixes.rewrites import NoFix, keeps_structure, respect_mode, site_fix

    if ctx.hijax:
        return
    for site in find_jit_sites(ctx):
        if site.jit.kind is not kind or site.shape is Shape.FUNCTION:
            continue
        if made_in_hijax_mode(ctx, site.captures, site.shape, site.target, site.report_node):
            continue
        text, short = message(ctx, site), summary(ctx, site)
        related = evidence(site.verdict)
        try:
            respect_mode(ctx, site.report_node, keeps_structure(site.verdict))
            try:  # the fastest form, where it is proven
                if site.verdict.nested is not None:
                    raise NoFix("an NNX transform runs inside: not bound in tree mode")
                bind = bind_closure_fix if site.shape is Shape.CLOSURE else bind_object_fix
                fix = bind(ctx, site)
            except NoFix:
                fix = site_fix(ctx, site)
            yield report(ctx, code, site.report_node, text, fix, None, related, short)
        except NoFix as why:
            unavailable = f"{by_hand(ctx, site)} (no automatic fix: {why})"
            yield report(ctx, code, site.report_node, text, None, unavailable, related, short)


def check(ctx: FileContext) -> Iterator[Diagnostic]:
    from nnx_lint.analysis.nnx_api import JitKind

    return jit_on_nnx_state(ctx, JitKind.JAX, CODE)


RULE = Rule(CODE, NAME, SUMMARY, DOC, check)
