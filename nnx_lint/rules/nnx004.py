"""NNX004: a JAX transform other than jit (vmap, grad, checkpoint, scan, cond, ...) over NNX
objects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from nnx_lint.rules import Rule, evidence, report

if TYPE_CHECKING:
    import libcst as cst

    from nnx_lint.analysis.context import FileContext
    from nnx_lint.analysis.transforms import Passed, PassedChanges, TransformSite
    from nnx_lint.diagnostics import Diagnostic, Fix

CODE = "NNX004"
NAME = "jax-transform-on-nnx-object"
SUMMARY = "JAX transform over NNX state"

DOC = """\
## jax-transform-on-nnx-object (NNX004)

### What it does
Checks for the JAX transforms other than `jit` applied to NNX objects: `jax.vmap`,
`jax.grad`, `jax.value_and_grad`, `jax.jacfwd`/`jacrev`, `jax.checkpoint`/`jax.remat`,
`jax.lax.scan`, `fori_loop`, `while_loop`, `cond`, `switch`, `jax.lax.map`, `jax.shard_map`
(and `jax.experimental.shard_map.shard_map`), `jax.pmap` and `jax.custom_vjp`/`custom_jvp`,
in every spelling (imports, aliases, `functools.partial(jax.vmap, ...)`, decorators and
decorator factories). It reports, where running the code goes wrong:

- the transform traces an NNX object, a bound method of one, or a function (def or lambda,
  at any depth) that reads one from an enclosing scope, and running it changes the object's
  state: `TraceContextError` ("Cannot mutate ... from a different trace level");
- an NNX transform is given an object the JAX transform captured: the traced function runs
  `nnx.grad`/`nnx.value_and_grad`/`nnx.vmap`/`nnx.scan` on it (a `jax.lax.scan` training
  loop inside `@nnx.jit def train(model, ...)` is the common case), or the object's own call
  does (a Module whose `__call__` runs `nnx.scan` over its layers, an `@nnx.jit` method):
  `ValueError` ("Cannot extract graph node from different trace level"; `TraceContextError`
  for `nnx.jit`, and first for `nnx.split_rngs` where it splits Rngs the object holds), even
  when nothing changes. `jax.jit` is such a JAX transform too: NNX001 says so there;
- `jax.grad`, `value_and_grad`, `jacfwd` or `jacrev` differentiates an NNX object that
  holds integer state (an `nnx.Rngs`, an `nnx.RNN`, an `nnx.Dropout` built with `rngs`, at any
  depth of the project's classes): `TypeError` ("grad requires real- or complex-valued
  inputs"; "jacfwd requires real-valued inputs");
- an NNX object is passed to a function transformed by `jax.grad` (and kin) at a position it
  does not differentiate, and the function changes it: `TraceContextError`, since JAX keeps
  such arguments as they are, outside the trace;
- on flax 0.11+ (Modules are pytrees), an NNX object is passed as an argument to a function
  transformed by `jax.vmap`, `jax.pmap`, `jax.shard_map`, `jax.checkpoint`,
  `jax.custom_vjp`/`custom_jvp` or the differentiating transforms, or as an operand of
  `jax.lax.cond`/`switch`, and the function changes it without returning it: the transform
  traces a copy, so the change is silently lost (as NNX003 for `jax.jit`).

Which objects change state is decided per call path, as for NNX001 (holding Params is not
changing state; a call whose effect cannot be told is not reported). What holds an NNX
object is told from evidence, never from a name: constructions, annotations, and for the
parameters of a jit-compiled function, the calls that pass it NNX objects.

It stays silent where the code is correct: a pure module only read in a closure (nothing is
cached, unlike `jax.jit`), the `nnx.split`/`nnx.merge` functional style, hijax mode, the
`nnx.*` transforms, and objects passed as arguments and returned.

### Why is this bad?
JAX's transforms do not know that NNX objects are stateful Python objects. A Variable
belongs to the trace it was made in; changing it from inside another trace raises. Objects
passed as arguments are flattened into a traced copy on flax 0.11+, and whatever the
function does to the copy is thrown away: a Dropout draws the same mask every step, BatchNorm
statistics never move.

### Example
```python
import jax
from flax import nnx

model = nnx.Dropout(0.5, rngs=nnx.Rngs(0))
ys = jax.vmap(lambda x: model(x))(xs)


def step(model, x):
    return model(x)


y = jax.lax.cond(x.sum() > 0, step, lambda model, x: x, model, x)
```

### Use instead
```python
from flax import nnx

model = nnx.Dropout(0.5, rngs=nnx.Rngs(0))


def step(model, x):
    return model(x)


y = nnx.cond(x.sum() > 0, step, lambda model, x: x, model, x)
```
The NNX transforms (`nnx.vmap`, `nnx.grad`, `nnx.remat`, `nnx.cond`, `nnx.switch`,
`nnx.fori_loop`, `nnx.while_loop`, `nnx.scan`, `nnx.shard_map`) carry the state of the NNX
objects passed to them as arguments in and out of the trace. For a batched forward pass
through a module that draws random numbers, pass it to `nnx.vmap` with `in_axes=None` for its
state, or split its RNG streams (`nnx.split_rngs`) when each example needs its own draw.

### Fix safety
Where every NNX object arrives as an argument, the fix replaces the JAX transform with its
NNX counterpart, keeping the call and its options: `jax.lax.cond` -> `nnx.cond`,
`jax.lax.switch` -> `nnx.switch`, `jax.checkpoint`/`jax.remat` -> `nnx.remat`, and
`jax.grad`/`value_and_grad` -> `nnx.grad`/`value_and_grad` where the object is not
differentiated. These are safe: the signature and every call site stay the same, and the
results are those of the function run eagerly, with the object's state changed as eagerly.
Where `jax.grad`/`value_and_grad` differentiates the object, the swap is unsafe (applied with
`--unsafe-fixes`): `nnx.grad` returns the gradients as an `nnx.State` of the object's Params,
not as a copy of the object, which code reading them may not expect. Options the NNX
transform does not take (or positional ones) mean no fix.

Where inline lambdas written in the call capture the objects (`jax.grad(lambda x:
model(x).sum())(x)`, `jax.lax.cond(p, lambda: model(x), lambda: x)`), the objects become
their leading parameters and are passed in, under the NNX counterpart:
`nnx.grad(lambda model, x: model(x).sum(), argnums=1)(model, x)`, `nnx.cond(p, lambda model:
model(x), lambda model: x, model)`. Unsafe: the lambdas' signatures change (nothing else sees
them). Not for a def (its other callers would change), an object captured through a helper,
an attribute or a container, or `static_argnums`/an `argnums` bound elsewhere.

Under `jax.vmap` the same is offered only where nothing changes the objects (a module that
fails only for the NNX transform its call runs): `nnx.vmap(lambda model, x: model(x),
in_axes=(None, 0))(model, xs)`, the objects broadcast as each example sees them eagerly.

There is no fix for `jax.vmap` over objects whose state changes, `jax.pmap` and
`jax.shard_map` (the object's axes must be chosen: changed once for the whole batch under a
broadcast, or its RNG streams split), for `jax.lax.scan` (`nnx.scan` takes the carry
and the broadcast objects differently), the loops (the object must move into the carry),
`jax.lax.map`, `custom_vjp`/`custom_jvp` and `jacfwd`/`jacrev` (no NNX counterpart), for a
decorated function, and for an NNX transform given a captured object; the finding's help says
what to write.
"""

TCE = "tracing it raises TraceContextError, because {why}"
GRAPH = (
    "`{name}` runs on `{text}`, captured from outside the trace, which raises {error} even "
    "when nothing changes"
)
INTEGERS = '{what}, which holds integer state ({why}): `{t}` raises TypeError ("{says}")'
# What JAX says (jax 0.5.3 to 0.10.2), by transform.
REAL_INPUTS = {
    "jax.grad": "grad requires real- or complex-valued inputs",
    "jax.value_and_grad": "grad requires real- or complex-valued inputs",
    "jax.jacrev": "jacrev requires real- or complex-valued inputs",
    "jax.jacfwd": "jacfwd requires real-valued inputs",
}
KEPT = (
    "{what} at a position it does not differentiate, and {fn} changes it ({how}): `{t}` keeps "
    "such arguments as they are, outside the trace, so that raises TraceContextError"
)
LOST = (
    "{what}, and {fn} changes it ({how}) without returning it: on flax 0.11+ `{t}` traces a "
    "copy of it, so the change is lost"
)
LOST_GRAD = "; where it holds integer state (RNG counts), `{t}` raises TypeError instead"

NESTED = (
    "tracing it raises {error}, because {why}, and an NNX transform cannot take an object "
    "captured from outside the trace"
)
# Before flax 0.10.5 nothing checks the trace an NNX transform's object comes from: on 0.10.4
# a jax.lax.scan body running nnx.value_and_grad on a captured module runs.
UNCHECKED = (
    "`{name}` runs on `{text}`, captured from outside the trace: before flax 0.10.5 nothing "
    "checks that, and what happens then cannot be told (stale constants or a leaked tracer)"
)
SHORT_UNCHECKED = "`{name}` on a captured object: what happens cannot be told"
SHORT_TCE = "tracing it raises TraceContextError"
SHORT_NESTED = "tracing it raises {error} (an NNX transform inside)"
SHORT_GRAPH = "`{name}` on a captured object raises {error}"
SHORT_INTEGERS = "it holds integer state: TypeError"
SHORT_KEPT = "it is changed outside the trace: TraceContextError"
SHORT_LOST = "its state changes are lost"


def check(ctx: FileContext) -> Iterator[Diagnostic]:
    from nnx_lint.analysis.jit_sites import made_in_hijax_mode
    from nnx_lint.analysis.nnx_api import Effect
    from nnx_lint.analysis.project_index import Nested
    from nnx_lint.analysis.transforms import (
        captured_graph_transform,
        find_transform_sites,
        passed_changes,
    )
    from nnx_lint.analysis.versions import TRACE_LEVEL_CHECKED, target_flax
    from nnx_lint.fixes.imports import NoFix

    if ctx.hijax:
        return
    for site in find_transform_sites(ctx):
        target = site.target
        if made_in_hijax_mode(ctx, target.captures, target.shape, target.node, site.report_node):
            continue
        head = _head(site)
        graph = captured_graph_transform(ctx, site)
        if graph is not None:
            qualname, capture = graph
            name, runs = qualname.replace("flax.", ""), Nested("", qualname)
            text = f"{head}: {GRAPH.format(name=name, text=capture.text, error=runs.raises)}"
            short = f"{head}: {SHORT_GRAPH.format(name=name, error=runs.error)}"
            if target_flax(ctx.settings.target_flax_version) < TRACE_LEVEL_CHECKED:
                text = f"{head}: {UNCHECKED.format(name=name, text=capture.text)}"
                short = f"{head}: {SHORT_UNCHECKED.format(name=name)}"
            help_ = f"{_by_hand(site, [capture.text])} (no automatic fix: the object is captured)"
            yield report(ctx, CODE, site.report_node, text, None, help_, summary=short)
            continue
        if target.captures or target.instance is not None:
            verdict = target.verdict
            nested = verdict.nested if verdict.effect is not Effect.CHANGES else None
            if site.spec.traces and (verdict.effect is Effect.CHANGES or nested is not None):
                if nested is not None:
                    text = f"{head}: {NESTED.format(why=nested.reason, error=nested.raises)}"
                    short = f"{head}: {SHORT_NESTED.format(error=nested.error)}"
                else:
                    why = "; ".join(verdict.reasons) or "its state changes"
                    text = f"{head}: {TCE.format(why=why)}"
                    short = f"{head}: {SHORT_TCE}"
                related = evidence(verdict)
                try:
                    fix = _captured_fix(ctx, site)
                    yield report(ctx, CODE, site.report_node, text, fix, None, related, short)
                except NoFix as no:
                    names = [c.text for c in target.captures] or [_object(target.node)]
                    help_ = f"{_by_hand(site, names)} (no automatic fix: {no})"
                    yield report(ctx, CODE, site.report_node, text, None, help_, related, short)
            continue
        found = _passed_finding(ctx, site, passed_changes(ctx, site))
        if found is None:
            continue
        text, short, passed = found
        try:
            fix = _fix(ctx, site, passed)
            yield report(ctx, CODE, site.report_node, text, fix, None, summary=short)
        except NoFix as why:
            help_ = f"{_by_hand(site, [_code(passed.expr)])} (no automatic fix: {why})"
            yield report(ctx, CODE, site.report_node, text, None, help_, summary=short)


def _head(site: TransformSite) -> str:
    """What the transform is applied to."""
    from nnx_lint.analysis.jit_sites import Shape

    t = f"`{site.spec.name}`"
    target = site.target
    node = target.node
    if target.shape is Shape.MODULE:
        return f"{t} applied to an NNX object (`{_code(node)}`)"
    if target.shape is Shape.METHOD:
        return f"{t} applied to a bound method of an NNX object (`{_code(node)}`)"
    names = ", ".join(f"`{c.text}`" for c in target.captures)
    plural = "objects" if len(target.captures) > 1 else "object"
    if target.shape is Shape.PARTIAL:
        return f"{t} traces `{_code(node)}`, which binds NNX {plural} {names}"
    if target.shape is Shape.CLOSURE:
        what = f"{_function(site)}, which captures NNX {plural} {names}"
        return f"{t} traces {what} from an enclosing scope"
    return f"{t} traces {_function(site)}"


def _function(site: TransformSite) -> str:
    import libcst as cst

    fn = site.target.function.node if site.target.function is not None else None
    return f"function `{fn.name.value}`" if isinstance(fn, cst.FunctionDef) else "a lambda"


def _passed_finding(
    ctx: FileContext, site: TransformSite, changes: PassedChanges
) -> tuple[str, str, Passed] | None:
    """The message, its summary, and the object it is about, for NNX objects passed to the
    traced function; None when nothing goes wrong."""
    from nnx_lint.analysis.nnx_api import TransformKind
    from nnx_lint.analysis.transforms import differentiated, integer_state, options
    from nnx_lint.analysis.versions import PYTREE_MODULES, target_flax

    t = site.spec.name
    fn = _function(site)
    pytrees = target_flax(ctx.settings.target_flax_version) >= PYTREE_MODULES
    grad = site.spec.kind is TransformKind.GRAD
    diff = differentiated(site) if grad else frozenset()
    allow_int = any(a.keyword is not None and a.keyword.value == "allow_int" for a in options(site))

    def what(p: Passed) -> str:
        verb = "differentiates" if grad and diff is not None and p.position in diff else "is handed"
        return f"`{t}` {verb} NNX object `{_code(p.expr)}` (parameter `{p.param.name}` of {fn})"

    def pytree(p: Passed) -> bool:  # `class M(nnx.Module, pytree=False)`: a TypeError anyway
        cls = p.param.instance.cls
        return pytrees and not (cls is not None and ctx.index.pytree_false(cls))

    if grad and diff is not None and not allow_int:
        for p in filter(pytree, changes.passed):
            why = integer_state(ctx, p.param.instance) if p.position in diff else None
            if why is not None:
                text = INTEGERS.format(what=what(p), why=why, t=t, says=REAL_INPUTS[t])
                return text, f"{what(p)}: {SHORT_INTEGERS}", p
    for p in changes.changed():
        how = "; ".join(f"`{p.param.name}` {h}" for h in changes.changes.hows[p.param.name])
        if grad and diff is not None and p.position not in diff:
            text = KEPT.format(what=what(p), fn=fn, how=how, t=t)
            return text, f"{what(p)}: {SHORT_KEPT}", p
        if not pytree(p) or (grad and diff is None):
            continue
        text = LOST.format(what=what(p), fn=fn, how=how, t=t)
        if grad and not allow_int:
            text += LOST_GRAD.format(t=t)
        return text, f"{what(p)}: {SHORT_LOST}", p
    return None


def _fix(ctx: FileContext, site: TransformSite, passed: Passed) -> Fix:
    from nnx_lint.fixes.counterparts import counterpart_fix
    from nnx_lint.fixes.rewrites import respect_mode

    respect_mode(ctx, site.report_node, False)  # what changes in the objects is not told here
    return counterpart_fix(ctx, site, passed)


def _captured_fix(ctx: FileContext, site: TransformSite) -> Fix:
    """For objects captured by inline lambdas; NoFix for the other shapes."""
    from nnx_lint.analysis.jit_sites import Shape
    from nnx_lint.fixes.counterparts import closure_fix
    from nnx_lint.fixes.imports import NoFix
    from nnx_lint.fixes.rewrites import keeps_structure, respect_mode

    if site.target.shape is Shape.PARTIAL:
        raise NoFix("the bound objects must become arguments of the transformed function")
    if site.target.shape is not Shape.CLOSURE:
        raise NoFix("the object must become an argument of a function that calls it")
    respect_mode(ctx, site.report_node, keeps_structure(site.target.verdict))
    return closure_fix(ctx, site)


def _by_hand(site: TransformSite, names: list[str]) -> str:
    """What to write instead."""
    listed = ", ".join(f"`{n}`" for n in names)
    spec = site.spec
    if spec.name == "jax.lax.scan":
        return (
            f"pass {listed} to `nnx.scan` as an argument (in its carry, or broadcast with "
            "`in_axes`), or split it with `nnx.split` and carry its state"
        )
    if spec.name in ("jax.vmap", "jax.pmap"):
        return (
            f"pass {listed} to `nnx.{spec.name[4:]}` as an argument, with `in_axes` saying how "
            "its state is mapped (None to broadcast it; `nnx.split_rngs` where each example "
            "needs its own random draw)"
        )
    if spec.name in ("jax.shard_map", "shard_map"):
        return (
            f"pass {listed} to `nnx.shard_map` as an argument, with `in_specs` saying how its "
            "state is sharded"
        )
    nnx_names = {
        "jax.lax.fori_loop": "nnx.fori_loop",
        "jax.lax.while_loop": "nnx.while_loop",
    }
    if spec.name in nnx_names:
        return f"carry {listed} through `{nnx_names[spec.name]}` (put it in the loop's carry)"
    if spec.counterpart is not None:
        name = f"nnx.{spec.counterpart}"
        return f"pass {listed} to the function as an argument and transform it with `{name}`"
    return (
        f"make {listed} an argument of a function transformed by an NNX transform, or split it "
        "with `nnx.split` and pass its state"
    )


def _object(node: cst.CSTNode) -> str:
    """The object a transform is applied to: `model` for `model` and `model.encode`."""
    import libcst as cst

    return _code(node.value if isinstance(node, cst.Attribute) else node)


def _code(node: cst.CSTNode) -> str:
    from nnx_lint.fixes.rewrites import code

    return code(node)


RULE = Rule(CODE, NAME, SUMMARY, DOC, check)
