"""NNX003: a jax.jit-compiled function changes an NNX object it was passed, and drops it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from nnx_lint.rules import Rule, evidence, report

# The analysis (libcst) is imported when a file is checked, not with the rule registry:
# front ends read the registry on every run, also when every result comes from the cache.
if TYPE_CHECKING:
    import libcst as cst

    from nnx_lint.analysis.context import FileContext
    from nnx_lint.analysis.jit_sites import JitSite
    from nnx_lint.analysis.state_changes import NnxParam, StateChanges
    from nnx_lint.diagnostics import Diagnostic, Fix, Related

CODE = "NNX003"
NAME = "jitted-step-loses-nnx-state"
SUMMARY = "jax.jit step drops NNX state"

DOC = """\
## jitted-step-loses-nnx-state (NNX003)

### What it does
Checks for functions compiled with `jax.jit` (any spelling, including
`@functools.partial(jax.jit, ...)` and `@jax.jit` on a method of a Module subclass, where
`self` is the argument) that change the state of an NNX object they receive as an argument
and do not hand it back. An argument holds an NNX object when it is annotated with an NNX
class (`model: nnx.Module`, `opt: nnx.Optimizer`, a Module subclass from anywhere in the
project), is `self` of a Module method, is handed to `nnx.split`/`nnx.state`/`nnx.graphdef`
in the function, or is passed one by a call anywhere in the project: a call of the function
(in its file, or in a file that imports it), or a call that hands the function on with
arguments for it (`benchmark(step, model, optimizer)`, `functools.partial(step, model)`; not
jax's own, such as `fori_loop`). NNX state values (`nnx.state(model)`, or a dict literal of
them) passed in and changed in place (`states["model"] = ...`) are lost the same way; there
is no fix for those, since `nnx.jit` does not propagate them either: return them. The name of
a parameter is never evidence. State changes
are `.update(...)` (so `optimizer.update(model, grads)` changes both), assignments to
attributes, items, `.value` or `[...]`, `nnx.update(obj, ...)`, `.train()`, `.eval()`,
`.set_attributes(...)`, drawing from `Rngs`, and calling a module or a method of it whose
call path changes state (see NNX001: holding Params is not changing state; a call whose
effect cannot be told is not reported). Handing back is returning the object, `nnx.state`
of it, or a tuple containing either; it is also reported when a call in the file throws that
result away (a bare call statement, or `_` in its place when unpacking).

It also reports an NNX object listed in `static_argnums`/`static_argnames` (or `self` of a
method compiled with `static_argnums=0`): jax.jit does not trace it but hashes it by
identity, so its state is compiled in at the first call and later calls return results of the
old state, or, when the function changes it, tracing fails with `TraceContextError`.

### Why is this bad?
Since flax 0.11 Modules are JAX pytrees, so `jax.jit` accepts them as arguments, but it
traces a copy: every change made inside is thrown away when the function returns. A train
step that calls `optimizer.update(model, grads)` and returns only the loss runs without error
and never trains (the loss stays at 1.0297, 1.0297, 1.0297 instead of 1.0297, 0.694,
0.469). Before 0.11 (and for `class M(nnx.Module, pytree=False)`) passing an NNX object to
`jax.jit` at all is a `TypeError`, so on those targets every NNX argument is reported.
A module that is only read is correct on 0.11+ and is not reported.

The target is the `flax` installed where nnx-lint runs, or `--target-flax-version`.

### Example
```python
import jax
from flax import nnx


@jax.jit
def train_step(model: nnx.Module, optimizer: nnx.Optimizer, x, y):
    loss, grads = nnx.value_and_grad(loss_fn)(model, x, y)
    optimizer.update(model, grads)
    return loss
```

### Use instead
```python
from flax import nnx


@nnx.jit
def train_step(model: nnx.Module, optimizer: nnx.Optimizer, x, y):
    loss, grads = nnx.value_and_grad(loss_fn)(model, x, y)
    optimizer.update(model, grads)
    return loss
```
`nnx.jit` propagates the state of NNX arguments back to the caller's objects. Returning the
objects and rebinding them at the call site works too.

For a static NNX argument, use `nnx.jit` and leave the object out of the static arguments
(`@functools.partial(jax.jit, static_argnums=0)` on a method becomes `@nnx.jit`): nnx.jit
traces its state, so every call sees the current values.

### Fix safety
The fix replaces `jax.jit` with `nnx.jit`, keeping the options. It is safe when every NNX
object the function uses arrives as an argument; call sites stay as they are. For a static NNX
argument it also takes the object out of `static_argnums`/`static_argnames` (other static
arguments stay; `partial(jax.jit, static_argnums=0)` with nothing left becomes `nnx.jit`):
safe, except when the function reads the object where Python needs a concrete value (a
condition of `if`, `while`, a conditional expression or `assert`; `int()`, `range()`,
`.item()`), which a traced value is not: then the fix is unsafe. Where the function only reads
the objects that were static, in whatever mode they are, and the target flax makes Modules
pytrees (0.11+), `jax.jit` stays and traces them itself: no graph traversal per call, the
fastest correct form (`benchmarks/runtime.py`).

What it costs at run time: `nnx.jit` traverses its NNX arguments' graphs on every call. On a
200-layer model a train step under `nnx.jit` takes about 4x the fastest correct form written
by hand (`nnx.jit_partial(step, model, optimizer, graph=False)` made once and called in the
loop). With `--unsafe-fixes`, where every change the function makes is to a Variable's value
(an optimizer's update, RNG draws, `v[...] = ...`), the fix is that form: the decorator goes,
`step_fn = nnx.jit_partial(step, model, optimizer, graph=False)` (flax 0.12.5+; before,
`nnx.cached_partial(nnx.jit(step), model, optimizer)`) is made right after the objects and
the step exist, and every call `step(model, optimizer, x)` becomes `step_fn(x)`: within
1.5x of the fastest form. The bound step fixes the objects' structure when it is made (a later
`.eval()` or replaced submodule is not seen), so it is offered only where the file proves that
cannot happen: `@jax.jit` on a def whose NNX parameters lead its positional ones (no options
but static marks of those parameters, which binding makes moot; none of them read where Python
needs a concrete value), every use of the step a call in this file passing the same plain
names in those places and no other NNX objects, each object made once by a statement of one
module or function body (not in a loop or block), every call after that, and every other use
of the objects after binding a call of them, or of a method, whose whole call path keeps their
structure, or `nnx.state`. Where
that does not hold, with `--unsafe-fixes` on flax 0.12.5+ the fix compiles in tree mode
instead (`functools.partial(nnx.jit, graph=False)`; about half the cost of graph mode):
unsafe because tree mode raises `ValueError` when an argument holds one Variable or submodule
at two places. Not where the function adds or replaces an attribute (tree mode drops that
silently).
There is no fix when the function also captures NNX objects (see NNX001), when the static
options are set through an alias defined elsewhere or are not literals, or with
`compiler_options` or positional options; the finding's help then says why.
"""

TYPE_ERROR = (
    "passed to a jax.jit function: on flax < 0.11 (and for pytree=False modules) "
    "NNX objects are not pytrees, so this raises TypeError"
)


def _type_error_message(params: list[NnxParam]) -> str:
    names = " and ".join(f"`{p.name}`" for p in params)
    return f"{names} {'is an NNX object' if len(params) == 1 else 'are NNX objects'} {TYPE_ERROR}"


def _lost_message(lost: list[NnxParam], changes: dict[str, tuple[str, ...]] | None) -> str:
    """The message; without ``changes``, its summary (no evidence)."""
    names = " and ".join(f"`{p.name}`" for p in lost)
    what = "the update is" if len(lost) == 1 else "the updates are"
    verb = "is" if len(lost) == 1 else "are"
    head = f"{names} {verb} changed inside the compiled function but not returned: {what} lost"
    if changes is None:
        return head
    return head + " (" + "; ".join(f"`{p.name}` {changes[p.name][0]}" for p in lost) + ")"


DONATED = (
    "; and {names} {verb} donated (`donate_argnums`/`donate_argnames`): where the call reuses "
    "{its} buffers for its results, {its} arrays are deleted, and using {them} again fails "
    "with ValueError (a deleted or donated buffer)"
)


def _donated_note(site: JitSite, lost: list[NnxParam], short: bool = False) -> str:
    """What donation adds to a lost update: the caller's object is left with deleted arrays
    (``short``: in a few words)."""
    from nnx_lint.fixes.rewrites import NoFix

    listed: list[NnxParam] = []
    for arg in site.options:
        try:
            listed += _listed(arg, lost, "donate")
        except NoFix:
            continue  # not literal: not told
    donated = [p for p in lost if p in listed]
    if not donated:
        return ""
    one = len(donated) == 1
    if short:
        return "; using a donated one again raises ValueError"
    return DONATED.format(
        names=" and ".join(f"`{p.name}`" for p in donated),
        verb="is" if one else "are",
        its="its" if one else "their",
        them="it" if one else "them",
    )


def _dropped_message(
    ctx: FileContext,
    dropped: list[tuple[NnxParam, cst.Call]],
    changes: dict[str, tuple[str, ...]] | None,
) -> str:
    """The message; without ``changes``, its summary (no evidence)."""
    param, call = dropped[0]
    names = " and ".join(f"`{p.name}`" for p, _ in dropped)
    verb = "is" if len(dropped) == 1 else "are"
    line = ctx.position(call)[0]
    head = (
        f"{names} {verb} changed inside the compiled function and returned, but the call on "
        f"line {line} throws the result away: the update is lost"
    )
    return head if changes is None else f"{head} (`{param.name}` {changes[param.name][0]})"


def _listed(arg: cst.Arg, params: Iterable[NnxParam], kind: str) -> list[NnxParam]:
    """The parameters one jit option lists when it is ``{kind}_argnums`` or
    ``{kind}_argnames`` (``static``, ``donate``); NoFix when its value is not a literal."""
    from nnx_lint.fixes.rewrites import argnums, static_names

    key = arg.keyword.value if arg.keyword else ""
    if key == f"{kind}_argnums":
        indexes = {int(n.value, 0) for n in argnums(arg)}
        return [p for p in params if p.binding.param_index in indexes]
    if key == f"{kind}_argnames":
        names = {s.evaluated_value for s in static_names(arg)}
        return [p for p in params if p.name in names]
    return []


def _static_params(site: JitSite, params: dict[str, NnxParam]) -> list[NnxParam]:
    """The NNX parameters listed in ``static_argnums``/``static_argnames`` (NoFix when those
    are not literals)."""
    hit = [p for arg in site.options for p in _listed(arg, params.values(), "static")]
    return list(dict.fromkeys(hit))


def _passed_notes(named: list[NnxParam]) -> tuple[Related, ...]:
    """Where another file passes the parameters NNX objects: the evidence that they hold one."""
    from nnx_lint.diagnostics import Related

    return tuple(
        Related(
            *p.passed_at,
            f"`{p.name}` is passed an NNX object here"
            + (f" (`{p.instance.cls.rsplit('.', 1)[-1]}`)" if p.instance.cls else ""),
        )
        for p in named
        if p.passed_at is not None
    )


def _traced_fix(
    ctx: FileContext,
    site: JitSite,
    static: list[NnxParam],
    params: dict[str, NnxParam],
    found: StateChanges,
) -> Fix:
    from nnx_lint.analysis.nnx_api import Effect
    from nnx_lint.analysis.project_index import Verdict, join
    from nnx_lint.fixes.binding import bind_once_fix
    from nnx_lint.fixes.rewrites import (
        NoFix,
        concrete_use,
        jax_traces,
        respect_mode,
        traced_fix,
        tree_mode,
    )

    if site.captures:
        raise NoFix("the function also captures NNX objects (NNX001); pass those in first")
    respect_mode(ctx, site.report_node, not found.moved and not found.unknown)
    indexes = {p.binding.param_index for p in static}
    names = {p.name for p in static}
    assert site.function is not None  # the static shape compiles a def or a lambda
    # Whether the function only reads its NNX arguments, in any mode of their classes.
    classes = [ctx.index.effect(p.instance.cls) for p in params.values() if p.instance.cls]
    verdict = join(classes) if len(classes) == len(params) else Verdict(Effect.UNKNOWN, ())
    if found.hows or found.unknown:
        verdict = Verdict(Effect.CHANGES, ())
    instances = [p.instance for p in params.values()]
    keep = jax_traces(ctx, instances, verdict)
    value_only = not found.moved and not found.unknown
    why = concrete_use(ctx, site.function, names)
    try:
        pure = not found.hows and not found.unknown
        by_name = {name: p.instance for name, p in params.items()}
        return bind_once_fix(ctx, site, by_name, value_only, why, pure)
    except NoFix:
        pass  # the per-call forms below
    tree = not keep and tree_mode(ctx, site, instances, value_only)
    return traced_fix(ctx, site, indexes, names, why, keep_jax=keep, tree=tree)


STATIC = "{names} {verb} a static argument of the compiled function, not traced by jax.jit"
STATIC_RAISES = STATIC + ", and {it} changes in it ({how}): tracing fails (TraceContextError)"
STATIC_STALE = (
    STATIC + ": its state is compiled in at the first call (hashed by identity), so a later "
    "call after its state changed returns results of the old state"
)
STATIC_UNKNOWN = (
    STATIC + ": if its state changes inside, tracing fails (TraceContextError); otherwise its "
    "state is compiled in at the first call and later calls return results of the old state"
)
# Before flax 0.10.5 nothing checks the trace a change comes from (measured on 0.10.4).
STATIC_LEAKS = (
    STATIC + ", and {it} changes in it ({how}): before flax 0.10.5 nothing checks that, so "
    "tracing leaks a tracer into its state, and using it afterwards fails on the tracer"
)
STATIC_UNKNOWN_LEAKS = (
    STATIC + ": if its state changes inside, it leaks a tracer into its state (flax before "
    "0.10.5); otherwise its state is compiled in at the first call and later calls return "
    "results of the old state"
)


def _static_message(
    static: list[NnxParam], found: StateChanges, checked: bool, short: bool = False
) -> str:
    """The message (``short``: its summary, without the evidence); ``checked``: the target
    flax raises for a change from another trace (0.10.5 on)."""
    names = " and ".join(f"`{p.name}`" for p in static)
    verb = "is" if len(static) == 1 else "are"
    changed = [p for p in static if p.name in found.hows]
    head = STATIC.format(names=names, verb=verb)
    if changed:
        if short and not checked:
            return f"{head}, and changed in it: tracing leaks a tracer into its state"
        if short:
            return f"{head}, and changed in it: tracing fails (TraceContextError)"
        how = f"`{changed[0].name}` {found.hows[changed[0].name][0]}"
        it = "it" if len(static) == 1 else f"`{changed[0].name}`"
        text = STATIC_RAISES if checked else STATIC_LEAKS
        return text.format(names=names, verb=verb, it=it, how=how)
    if any(p.name in found.unknown for p in static):
        if short and not checked:
            return f"{head}: it leaks a tracer if it is changed, else later calls see the old state"
        if short:
            return f"{head}: tracing fails if it is changed, else later calls see the old state"
        text = STATIC_UNKNOWN if checked else STATIC_UNKNOWN_LEAKS
        return text.format(names=names, verb=verb)
    if short:
        return f"{head}: later calls return results of the state at the first call"
    return STATIC_STALE.format(names=names, verb=verb)


def _fix(
    ctx: FileContext, site: JitSite, params: dict[str, NnxParam], found: StateChanges | None
) -> Fix:
    """``jax.jit`` -> ``nnx.jit`` (safe); in tree mode with ``--unsafe-fixes`` where every
    change is to a Variable's value (flax 0.12.5+; ``tree_mode``)."""
    from nnx_lint.diagnostics import Applicability, Fix
    from nnx_lint.fixes.binding import bind_once_fix
    from nnx_lint.fixes.imports import Imports
    from nnx_lint.fixes.rewrites import (
        NoFix,
        check_options,
        respect_mode,
        swap_to_nnx_jit,
        tree_mode,
        tree_mode_edits,
    )

    if site.captures:
        raise NoFix("the function also captures NNX objects (NNX001); pass those in first")
    check_options(site)
    _static_params(site, params)  # NoFix when the static options are not literals
    value_only = found is not None and not found.moved and not found.unknown
    respect_mode(ctx, site.report_node, value_only)
    instances = {name: p.instance for name, p in params.items()}
    try:
        return bind_once_fix(ctx, site, instances, value_only)
    except NoFix:
        pass  # the per-call forms below
    imports = Imports(ctx)
    if tree_mode(ctx, site, [p.instance for p in params.values()], value_only):
        edits = tree_mode_edits(ctx, site, imports)
        return Fix(
            Applicability.UNSAFE,
            "Compile with nnx.jit in tree mode, which propagates the state of NNX arguments "
            "(unsafe: it raises ValueError if they hold a Variable at two places)",
            (*imports.edits, *edits),
        )
    edit = swap_to_nnx_jit(ctx, site, imports)
    return Fix(
        Applicability.SAFE,
        "Compile with nnx.jit, which propagates the state of NNX arguments",
        (*imports.edits, edit),
    )


def check(ctx: FileContext) -> Iterator[Diagnostic]:
    from nnx_lint.analysis.jit_sites import Shape, find_jit_sites
    from nnx_lint.analysis.nnx_api import JitKind
    from nnx_lint.analysis.state_changes import (
        STATE,
        dropping_call,
        handed_back,
        nnx_params,
        state_changes,
    )
    from nnx_lint.analysis.versions import PYTREE_MODULES, TRACE_LEVEL_CHECKED, target_flax
    from nnx_lint.fixes.rewrites import NoFix

    if ctx.hijax:
        return
    old = target_flax(ctx.settings.target_flax_version) < PYTREE_MODULES
    for site in find_jit_sites(ctx):
        if site.jit.kind is not JitKind.JAX or site.function is None:
            continue
        if site.shape is Shape.PARTIAL:  # its bound objects are NNX001's
            continue
        if ctx.hijax_at(site.report_node):  # its arguments are most likely made there too
            continue
        # Hijax objects (made with hijax=True) are mutable references: their changes stay.
        params = {k: p for k, p in nnx_params(ctx, site).items() if not p.instance.hijax}
        if not params:
            continue
        related: tuple[Related, ...] = ()
        try:
            static = _static_params(site, params)
        except NoFix:
            static = []
        found: StateChanges | None = None
        if static:
            found = state_changes(ctx, site.function, params)
            checked = target_flax(ctx.settings.target_flax_version) >= TRACE_LEVEL_CHECKED
            message = _static_message(static, found, checked)
            short = _static_message(static, found, checked, short=True)
            traced = [p.name for p in static if p.name in found.evidence]
            related = evidence(found.evidence[traced[0]]) if traced else ()
            related += _passed_notes(static)
            try:
                fix = _traced_fix(ctx, site, static, params, found)
                yield report(ctx, CODE, site.report_node, message, fix, None, related, short)
            except NoFix as why:
                names = " and ".join(f"`{p.name}`" for p in static)
                unavailable = (
                    f"remove {names} from the static arguments and compile with nnx.jit (no "
                    f"automatic fix: {why})"
                )
                yield report(
                    ctx, CODE, site.report_node, message, None, unavailable, related, short
                )
            continue
        not_pytrees = [
            p
            for p in params.values()
            if p.instance.cls != STATE
            and (old or (p.instance.cls and ctx.index.pytree_false(p.instance.cls)))
        ]
        if not_pytrees:
            message = short = _type_error_message(not_pytrees)
            related = _passed_notes(not_pytrees)
        else:
            found = state_changes(ctx, site.function, params)
            changes = found.hows
            back = handed_back(ctx, site.function, params)
            changed = [p for p in params.values() if p.name in changes]
            lost = [p for p in changed if p.name not in back]
            dropped = [
                (p, call)
                for p in changed
                if p.name in back
                for call in [dropping_call(ctx, site, back[p.name])]
                if call is not None
            ]
            if not lost and not dropped:
                continue
            if lost:
                message = _lost_message(lost, changes) + _donated_note(site, lost)
                short = _lost_message(lost, None) + _donated_note(site, lost, short=True)
            else:
                message = _dropped_message(ctx, dropped, changes)
                short = _dropped_message(ctx, dropped, None)
            named = lost or [p for p, _ in dropped]
            if named[0].name in found.evidence:
                related = evidence(found.evidence[named[0].name])
            related += _passed_notes(named)
            states = [p for p in named if p.instance.cls == STATE]
            if states:  # nnx.jit propagates the state of NNX objects, not of State values
                unavailable = (
                    f"return `{states[0].name}` and rebind it where the function is called "
                    "(nnx.jit does not propagate changes to NNX state values either)"
                )
                yield report(
                    ctx, CODE, site.report_node, message, None, unavailable, related, short
                )
                continue
        try:
            fix = _fix(ctx, site, params, found)
            yield report(ctx, CODE, site.report_node, message, fix, None, related, short)
        except NoFix as why:
            unavailable = f"compile it with nnx.jit (no automatic fix: {why})"
            yield report(ctx, CODE, site.report_node, message, None, unavailable, related, short)


RULE = Rule(CODE, NAME, SUMMARY, DOC, check)
