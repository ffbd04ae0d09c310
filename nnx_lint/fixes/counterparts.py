"""The fix of the transform rule: a JAX transform replaced by its NNX counterpart, which takes
the same call and carries the state of the NNX objects passed to it in and out of the trace.
Offered only where every NNX object arrives as an argument."""

from __future__ import annotations

import libcst as cst

from nnx_lint.analysis.context import FileContext
from nnx_lint.analysis.nnx_api import TransformKind
from nnx_lint.analysis.transforms import Passed, TransformSite, differentiated
from nnx_lint.diagnostics import Applicability, Edit, Fix
from nnx_lint.fixes.imports import Imports, NoFix
from nnx_lint.fixes.rewrites import within

_GRAD_OPTIONS = frozenset({"argnums", "has_aux", "holomorphic", "allow_int", "reduce_axes"})
# The options each counterpart takes as JAX's transform does (the same meaning).
OPTIONS: dict[str, frozenset[str]] = {
    "grad": _GRAD_OPTIONS,
    "value_and_grad": _GRAD_OPTIONS,
    "remat": frozenset({"prevent_cse", "static_argnums", "policy"}),
    "cond": frozenset(),
    "switch": frozenset(),
}


def counterpart_fix(ctx: FileContext, site: TransformSite, passed: Passed) -> Fix:
    """`jax.lax.cond` -> `nnx.cond` (and switch, remat, grad, value_and_grad): safe, except
    where `nnx.grad` differentiates the object (its gradients come back as an `nnx.State`)."""
    spec = site.spec
    counterpart = spec.counterpart
    if counterpart not in OPTIONS:
        raise NoFix(f"`{spec.name}` has no NNX counterpart that takes the same call")
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


def _check_options(site: TransformSite, counterpart: str) -> None:
    """NoFix unless every option is a keyword the counterpart takes with the same meaning."""
    accepted = OPTIONS[counterpart]
    given: list[cst.Arg] = list(site.traced.options)
    call = site.call
    if call is not None and site.spec.operands is None:  # jax.grad(f, ...): after f
        given += [a for a in call.args if a.value is not site.target.node]
    elif call is not None:  # lax.cond(pred, f, g, *operands): no keywords
        given += [a for a in call.args if a.keyword is not None]
    if call is not None and any(
        a.value is site.target.node and a.keyword is not None for a in call.args
    ):
        raise NoFix("the function is given by keyword, which the NNX transform names otherwise")
    for arg in given:
        if arg.keyword is None or arg.star:
            raise NoFix("an option is given by position, which the NNX transform does not take")
        if arg.keyword.value not in accepted:
            raise NoFix(f"`nnx.{counterpart}` does not take `{arg.keyword.value}`")
