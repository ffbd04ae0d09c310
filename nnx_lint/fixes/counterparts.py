"""The fix of the transform rule: a JAX transform replaced by its NNX counterpart, which takes
the same call and carries the state of the NNX objects passed to it in and out of the trace.
Offered only where every NNX object arrives as an argument."""

from __future__ import annotations

import libcst as cst

from nnx_lint.analysis.context import FileContext, Function
from nnx_lint.analysis.jit_sites import captures
from nnx_lint.analysis.nnx_api import Effect, TransformKind, TransformSpec
from nnx_lint.analysis.scopes import Scope
from nnx_lint.analysis.transforms import Passed, TransformSite, differentiated, options
from nnx_lint.diagnostics import Applicability, Edit, Fix
from nnx_lint.fixes.imports import Imports, NoFix
from nnx_lint.fixes.rewrites import add_parameters, leading_args, within

_GRAD_OPTIONS = frozenset({"argnums", "has_aux", "holomorphic", "allow_int", "reduce_axes"})
# The options each counterpart takes as JAX's transform does (the same meaning).
OPTIONS: dict[str, frozenset[str]] = {
    "grad": _GRAD_OPTIONS,
    "value_and_grad": _GRAD_OPTIONS,
    "remat": frozenset({"prevent_cse", "static_argnums", "policy"}),
    "cond": frozenset(),
    "switch": frozenset(),
    # only for objects that nothing changes (broadcast, `in_axes` None: see `closure_fix`)
    "vmap": frozenset({"in_axes", "out_axes", "axis_name", "axis_size", "spmd_axis_name"}),
}


# Why a transform has no rewrite, where its NNX counterpart does not take the same call.
NO_REWRITE = {
    "jax.vmap": "the object's axes must be chosen (broadcast, or its RNG streams split)",
    "jax.pmap": "the object's axes must be chosen (broadcast, or its RNG streams split)",
    "jax.shard_map": "the object's sharding must be chosen",
    "shard_map": "the object's sharding must be chosen",
    "jax.lax.scan": "`nnx.scan` takes the carry and what is broadcast differently",
    "jax.lax.fori_loop": "the object must move into the loop's carry",
    "jax.lax.while_loop": "the object must move into the loop's carry",
}


def no_rewrite(spec: TransformSpec) -> NoFix:
    why = NO_REWRITE.get(spec.name, f"`{spec.name}` has no NNX counterpart")
    return NoFix(why)


def counterpart_fix(ctx: FileContext, site: TransformSite, passed: Passed) -> Fix:
    """`jax.lax.cond` -> `nnx.cond` (and switch, remat, grad, value_and_grad): safe, except
    where `nnx.grad` differentiates the object (its gradients come back as an `nnx.State`)."""
    spec = site.spec
    counterpart = spec.counterpart
    if counterpart not in OPTIONS or counterpart == "vmap":  # changed: once, not per example
        raise no_rewrite(spec)
    assert counterpart is not None  # as OPTIONS holds no None
    if site.target.captures:
        raise NoFix("the function also captures NNX objects")
    own = site.call if site.call is not None else site.report_node
    if not within(site.traced.spelled, own):
        raise NoFix(f"`{spec.name}` is reached through an alias defined elsewhere")
    _check_options(site, counterpart)
    imports = Imports(ctx)
    start, end = ctx.span(site.traced.spelled)
    edits = [Edit(start, end, f"{imports.nnx()}.{counterpart}")]
    diff = differentiated(site) if spec.kind is TransformKind.GRAD else frozenset()
    if diff is None or passed.position in diff:
        title = (
            f"Use `nnx.{counterpart}`, which carries the state of NNX arguments in and out "
            "(unsafe: the gradients of an NNX object come back as an `nnx.State` of its Params)"
        )
        return Fix(Applicability.UNSAFE, title, (*edits, *imports.edits))
    title = f"Use `nnx.{counterpart}`, which carries the state of NNX arguments in and out"
    return Fix(Applicability.SAFE, title, (*edits, *imports.edits))


def _check_options(site: TransformSite, counterpart: str, moved: str | None = None) -> None:
    """NoFix unless every option is a keyword the counterpart takes with the same meaning
    (``moved``: the option the fix rewrites, which must then be given where the call is)."""
    accepted = OPTIONS[counterpart]
    call = site.call
    if call is not None and any(
        a.value is site.target.node and a.keyword is not None for a in call.args
    ):
        raise NoFix("the function is given by keyword, which the NNX transform names otherwise")
    for arg in options(site):
        if arg.keyword is None or arg.star:
            raise NoFix("an option is given by position, which the NNX transform does not take")
        if arg.keyword.value not in accepted:
            raise NoFix(f"`nnx.{counterpart}` does not take `{arg.keyword.value}`")
        if arg.keyword.value == moved and arg in site.traced.options:
            raise NoFix(f"`{moved}` is bound elsewhere, where it cannot be changed")


def _at_call(site: TransformSite, name: str) -> cst.Arg | None:
    """The option ``name`` given by keyword in the transform's call."""
    assert site.call is not None
    return next((a for a in site.call.args if a.keyword and a.keyword.value == name), None)


def closure_fix(ctx: FileContext, site: TransformSite) -> Fix:
    """A transform of inline lambdas that capture NNX objects, applied where it stands
    (`jax.grad(lambda x: model(x).sum())(x)`, `lax.cond(p, lambda: model(x), lambda: x)`):
    the objects become leading parameters of every lambda the transform traces, and are passed
    to it, under the NNX counterpart (`nnx.grad(lambda model, x: ..., argnums=1)(model, x)`,
    `nnx.cond(p, lambda model: model(x), lambda model: x, model)`). Unsafe: the lambdas'
    signatures change. For `jax.vmap`, only where nothing changes the objects (a module that
    fails only for the NNX transform its call runs): they are broadcast, `in_axes` None for
    each, as eagerly every example sees the same object; a changing object would be changed
    once for the whole batch, not once per example."""
    spec = site.spec
    counterpart = spec.counterpart
    if counterpart not in OPTIONS:
        raise no_rewrite(spec)
    if counterpart == "vmap" and site.target.verdict.effect is not Effect.PURE:
        raise no_rewrite(spec)
    if site.call is None:
        raise NoFix("the decorated function's signature and every call of it would change")
    assert counterpart is not None  # as OPTIONS holds no None
    lambdas = _traced_lambdas(ctx, site)
    found = [c for fn in lambdas for c in captures(ctx, Function(fn, _scope(ctx, fn)), site.order)]
    if any(c.indirect or c.instance.container or c.text != c.name for c in found):
        raise NoFix("an object is captured through a helper, an attribute or a container")
    if spec.operands is not None:  # lax.cond(pred, f, g, *operands): the objects lead them
        call = site.call
    else:  # jax.grad(f)(x): the call of what it returns
        outer = ctx.scopes.call_of.get(id(site.call))
        if outer is None:
            raise NoFix("the transformed function is not called where it is made")
        call = outer
    if any(a.star or a.keyword for a in call.args[spec.operands or 0 :]):
        raise NoFix("the call passes `*args` or keywords")
    own = site.call
    if not within(site.traced.spelled, own):
        raise NoFix(f"`{spec.name}` is reached through an alias defined elsewhere")
    names = list(dict.fromkeys(c.name for c in found))
    if counterpart == "remat" and any(
        a.keyword is not None and a.keyword.value == "static_argnums"
        for a in (*site.traced.options, *site.call.args)
    ):
        raise NoFix("`static_argnums` would have to move past the new arguments")
    moved = {"grad": "argnums", "value_and_grad": "argnums", "vmap": "in_axes"}
    _check_options(site, counterpart, moved.get(counterpart))
    imports = Imports(ctx)
    start, end = ctx.span(site.traced.spelled)
    edits = [Edit(start, end, f"{imports.nnx()}.{counterpart}")]
    edits += [add_parameters(ctx, fn, names) for fn in lambdas]
    if spec.operands is not None:
        edits.append(_operands(ctx, call, spec.operands, names))
    else:
        edits.append(leading_args(ctx, call, names))
    if counterpart in ("grad", "value_and_grad"):
        edits.append(_argnums(ctx, site, len(names)))
    if counterpart == "vmap":
        edits.append(_in_axes(ctx, site, len(names), len(call.args)))
    listed = ", ".join(f"`{n}`" for n in names)
    noun = "an argument" if len(names) == 1 else "arguments"
    title = (
        f"Pass {listed} to the traced function as {noun}, under `nnx.{counterpart}` "
        "(unsafe: the function's signature changes)"
    )
    return Fix(Applicability.UNSAFE, title, (*edits, *imports.edits))


def _traced_lambdas(ctx: FileContext, site: TransformSite) -> list[cst.Lambda]:
    """Every function the transform call traces, all inline lambdas (else NoFix)."""
    assert site.call is not None
    found: list[cst.Lambda] = []
    for arg in ctx.traced_functions(site.call, site.spec):
        value = arg.value
        if site.spec.sequence and isinstance(value, cst.List | cst.Tuple):
            values = [e.value for e in value.elements]
        else:
            values = [value]
        for fn in values:
            if not isinstance(fn, cst.Lambda):
                raise NoFix("a traced function is not a lambda written in the call")
            found.append(fn)
    if not found:
        raise NoFix("the traced functions are not known")
    return found


def _scope(ctx: FileContext, fn: cst.Lambda) -> Scope:
    return ctx.scopes.scope_of[id(fn)]


def _in_axes(ctx: FileContext, site: TransformSite, by: int, given: int) -> Edit:
    """`in_axes` with None for ``by`` new leading arguments, before the axes of the ``given``
    ones: an integer (the default, 0) becomes one entry per argument, a tuple gets the Nones
    in front (NoFix for anything else; `_check_options` refuses one bound elsewhere)."""
    assert site.call is not None
    nones = ", ".join(["None"] * by)
    given_axes = _at_call(site, "in_axes")
    value = given_axes.value if given_axes is not None else None
    if value is None or isinstance(value, cst.Integer):
        axis = value.value if isinstance(value, cst.Integer) else "0"
        axes = f"({nones}, {', '.join([axis] * given)})" if given else f"({nones},)"
        if value is None:
            at = ctx.span(site.call.args[-1])[1]
            return Edit(at, at, f", in_axes={axes}")
        start, end = ctx.span(value)
        return Edit(start, end, axes)
    if isinstance(value, cst.Tuple) and value.elements:
        at = ctx.span(value.elements[0])[0]
        return Edit(at, at, nones + ", ")
    raise NoFix("`in_axes` is not an integer or a tuple written in the call")


def _operands(ctx: FileContext, call: cst.Call, start: int, names: list[str]) -> Edit:
    """``names`` as the first operands of `lax.cond(pred, f, g, *operands)`."""
    text = ", ".join(names)
    if len(call.args) > start:
        at = ctx.span(call.args[start])[0]
        return Edit(at, at, text + ", ")
    at = ctx.span(call.args[-1])[1]
    return Edit(at, at, ", " + text)


def _argnums(ctx: FileContext, site: TransformSite, by: int) -> Edit:
    """The differentiated positions moved past ``by`` new leading arguments (NoFix when
    they are not literal)."""
    assert site.call is not None
    diff = differentiated(site)
    if diff is None:
        raise NoFix("`argnums` is not a literal")
    moved = sorted(n + by for n in diff)
    value = str(moved[0]) if len(moved) == 1 else "(" + ", ".join(map(str, moved)) + ")"
    given = _at_call(site, "argnums")
    if given is not None:
        start, end = ctx.span(given.value)
        return Edit(start, end, value)
    at = ctx.span(site.call.args[-1])[1]
    return Edit(at, at, f", argnums={value}")
