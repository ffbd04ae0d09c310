"""Where a JAX transform other than jit (vmap, grad, checkpoint, scan, cond, ...) is applied,
to what, and which NNX objects reach the functions it traces as arguments."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import libcst as cst

from nnx_lint.analysis.context import FileContext, Function, Instance, Traced
from nnx_lint.analysis.jit_sites import (
    Capture,
    Form,
    Shape,
    Target,
    classify,
    find_jit_sites,
    function_target,
    graph_transform,
)
from nnx_lint.analysis.nnx_api import NNX, TransformKind, TransformSpec
from nnx_lint.analysis.scopes import Binding, BindingKind, Scope
from nnx_lint.analysis.state_changes import (
    NnxParam,
    StateChanges,
    handed_back,
    nnx_params,
    state_changes,
)

BRANCH = TransformKind.BRANCH


@dataclass(frozen=True, eq=False)
class TransformSite:
    traced: Traced
    form: Form
    report_node: cst.CSTNode  # the decorator, the call, or (several functions) the function
    scope: Scope
    order: int
    target: Target  # what the transform traces
    call: cst.Call | None = None  # the call applying the transform (call form)

    @property
    def spec(self) -> TransformSpec:
        return self.traced.spec


def _compiled_params(ctx: FileContext) -> Callable[[Binding], Instance | None]:
    """What a parameter of the file's jit-compiled functions holds (``nnx_params``: from its
    annotation and the calls passing it NNX objects), found when first asked for. A
    `jax.lax.scan` body inside `@nnx.jit def train(model, ...)` reads `model` from there."""
    table: dict[int, Instance] | None = None

    def value(binding: Binding) -> Instance | None:
        nonlocal table
        if table is None:
            table = {}
            for site in find_jit_sites(ctx):
                if site.function is None:
                    continue
                for param in nnx_params(ctx, site).values():
                    instance = param.instance
                    if not (instance.hijax or instance.container):
                        table.setdefault(id(param.binding), instance)
        return table.get(id(binding))

    return value


def find_transform_sites(ctx: FileContext) -> Iterator[TransformSite]:
    b = ctx.scopes
    params = _compiled_params(ctx)
    for dec, fn, scope, order in b.decorators:
        if dec is not fn.decorators[-1]:
            continue  # it applies to another decorator's result
        traced = ctx.as_traced(ctx.evaluate(dec.decorator, scope, order), dec.decorator)
        if traced is None or traced.spec.operands is not None:
            continue
        target = function_target(ctx, Function(fn, b.scope_of[id(fn)]), order, params)
        yield TransformSite(traced, Form.DECORATOR, dec.decorator, scope, order, target)
    for call, scope, order in b.calls:
        traced = ctx.as_traced(ctx.evaluate(call.func, scope, order), call.func)
        if traced is None:
            continue
        functions: list[cst.BaseExpression] = []
        for arg in ctx.traced_functions(call, traced.spec):
            value = arg.value
            if traced.spec.sequence and isinstance(value, cst.List | cst.Tuple):
                functions += [e.value for e in value.elements if isinstance(e, cst.Element)]
            elif not traced.spec.sequence:
                functions.append(value)
        for expr in functions:
            what = classify(ctx, expr, scope, order, held=False, params=params)
            if what is None:
                continue
            report: cst.CSTNode = call if len(functions) == 1 else expr
            yield TransformSite(traced, Form.CALL, report, scope, order, what, call)


def captured_graph_transform(ctx: FileContext, site: TransformSite) -> tuple[str, Capture] | None:
    """An NNX transform (`nnx.grad`, `nnx.jit`, ...) that the traced function runs on an object
    captured from outside the trace: its qualified name and the capture."""
    for capture in site.target.captures:
        if capture.bound:
            continue
        for node in capture.nodes:
            name = graph_transform(ctx, node)
            if name is not None:
                return name, capture
    return None


@dataclass(frozen=True)
class Passed:
    """An NNX object handed to a traced function as an argument."""

    param: NnxParam  # the function's parameter that receives it
    position: int  # its place among the function's positional parameters
    expr: cst.BaseExpression  # the argument, as the call spells it
    call: cst.Call  # the call handing it over


def passed_objects(ctx: FileContext, site: TransformSite) -> list[Passed]:
    """The NNX objects the file hands the traced function as arguments: the operands of a
    `lax.cond`/`lax.switch`, or the arguments of each call of what `jax.vmap`, `jax.grad`,
    `jax.checkpoint`, ... return (called at once, through the name it is assigned to, or
    through a decorated def's name). Loops and `lax.map` are left out: what they hand on is a
    carry or a slice."""
    function = site.target.function
    if function is None or site.target.shape not in (Shape.FUNCTION, Shape.CLOSURE):
        return []
    applied_at_once = site.spec.operands is not None
    if site.spec.kind is TransformKind.LOOP or applied_at_once and site.spec.kind is not BRANCH:
        return []
    params = sorted(
        (b for bs in function.scope.bindings.values() for b in bs if b.kind is BindingKind.PARAM),
        key=lambda b: b.param_index,
    )
    positional = [p for p in params if isinstance(p.node, cst.Param) and p.node.star == ""]
    found: list[Passed] = []
    for call, scope, order, args in _calls(ctx, site):
        for i, arg in enumerate(args):
            if arg.star:
                break
            param: Binding | None
            if arg.keyword is not None:
                param = next((p for p in params if p.name == arg.keyword.value), None)
            else:
                param = positional[i] if i < len(positional) else None
            if param is None:
                continue
            value = ctx.evaluate(arg.value, scope, order)
            if isinstance(value, Instance) and value.nnx and not value.container:
                if value.hijax:
                    continue  # a hijax object changed inside a transform: legal
                index = positional.index(param) if param in positional else -1
                found.append(Passed(NnxParam(param, value), index, arg.value, call))
    return found


def _calls(
    ctx: FileContext, site: TransformSite
) -> Iterator[tuple[cst.Call, Scope, int, tuple[cst.Arg, ...]]]:
    """Each call handing the traced function arguments, its scope and order, and those
    arguments."""
    if site.spec.operands is not None:  # lax.cond(pred, f, g, *operands)
        assert site.call is not None  # a transform applied at once is a call
        start = site.spec.operands
        given = site.call.args
        if any(a.keyword is not None or a.star for a in given[:start]):
            return
        yield site.call, site.scope, site.order, tuple(given[start:])
        return
    names: list[tuple[str, Scope]] = []
    node = site.target.node
    if site.form is Form.DECORATOR:
        assert isinstance(node, cst.FunctionDef)  # a decorator transforms a def
        parent = site.target.function.scope.parent if site.target.function else None
        if parent is not None:
            names.append((node.name.value, parent))
    else:
        assert site.call is not None  # the call form has its call
        outer = ctx.scopes.call_of.get(id(site.call))
        if outer is not None:  # jax.vmap(f)(model, x)
            yield outer, site.scope, ctx.call_order(outer), tuple(outer.args)
            return
        assign = ctx.scopes.assigned_by.get(id(site.call))
        target = assign.targets[0].target if assign is not None else None
        if isinstance(target, cst.Name):
            names.append((target.value, site.scope))
    for name, scope in names:
        for ref in ctx.reads_of(name, scope):
            call = ctx.scopes.call_of.get(id(ref.node))
            if call is not None:
                yield call, ref.scope, ctx.call_order(call), tuple(call.args)


@dataclass(frozen=True)
class PassedChanges:
    """What the traced function does to the NNX objects it is handed."""

    passed: list[Passed]
    changes: StateChanges
    handed_back: frozenset[str]  # parameters it returns (or nnx.state of them)

    def changed(self) -> list[Passed]:
        """The objects changed and not handed back, one per parameter, in order."""
        seen: set[str] = set()
        out: list[Passed] = []
        for p in self.passed:
            name = p.param.name
            if name in self.changes.hows and name not in self.handed_back and name not in seen:
                seen.add(name)
                out.append(p)
        return out


def passed_changes(ctx: FileContext, site: TransformSite) -> PassedChanges:
    passed = passed_objects(ctx, site)
    function = site.target.function
    if not passed or function is None:
        return PassedChanges([], StateChanges({}, {}, frozenset()), frozenset())
    params = {p.param.name: p.param for p in passed}
    changes = state_changes(ctx, function, params)
    back = frozenset(handed_back(ctx, function, params))
    return PassedChanges(passed, changes, back)


def options(site: TransformSite) -> list[cst.Arg]:
    """Every option of the transform: bound by `functools.partial` or a decorator factory, and
    the call's other arguments where it transforms a function (`jax.grad(f, argnums=1)`,
    `jax.grad(f, 1)`), its keywords where it is applied at once (`lax.cond`'s positional
    arguments are operands)."""
    given = list(site.traced.options)
    call = site.call
    if call is not None and site.spec.operands is None:
        given += [a for a in call.args if a.value is not site.target.node]
    elif call is not None:
        given += [a for a in call.args if a.keyword is not None]
    return given


def differentiated(site: TransformSite) -> frozenset[int] | None:
    """The positions `jax.grad` (and kin) differentiates: `argnums` given as an integer or a
    tuple of them (by keyword, or as the first option by position: `jax.grad(f, 1)`), else 0;
    None when it cannot be read."""
    given = options(site)
    named = [a for a in given if a.keyword is not None and a.keyword.value == "argnums"]
    by_position = [a for a in given if a.keyword is None and not a.star]
    argnums = named[:1] or by_position[:1]
    if not argnums:
        return frozenset({0})
    value = argnums[0].value
    items = value.elements if isinstance(value, cst.Tuple | cst.List) else None
    nodes = [e.value for e in items] if items is not None else [value]
    if not all(isinstance(n, cst.Integer) for n in nodes):
        return None
    return frozenset(int(n.value) for n in nodes if isinstance(n, cst.Integer))


RNG_HOLDERS = frozenset({f"{NNX}.Rngs", f"{NNX}.RngStream", f"{NNX}.RNN"})  # always
RNG_WHEN_GIVEN = frozenset({f"{NNX}.Dropout"})  # when built with `rngs`


def integer_state(
    ctx: FileContext, instance: Instance, path: str = "", depth: int = 0
) -> str | None:
    """Evidence that an NNX object holds integer state, which `jax.grad` cannot differentiate
    (an RNG count: `nnx.Rngs`, `nnx.RNN`, an `nnx.Dropout` built with `rngs`), found through
    the attributes of the project's classes; None when there is none."""
    cls = instance.cls
    if cls is None or depth > 4:
        return None
    where = f"`{path}` " if path else "it "
    if cls in RNG_HOLDERS:
        return f"{where}is an `nnx.{cls.rsplit('.', 1)[1]}`, whose RNG count is an integer"
    for facts in ctx.index.ancestors(cls):
        for attr, attr_cls in facts.attrs.items():
            inner = f"{path or 'self'}.{attr}"
            resolved = ctx.index.resolve(attr_cls)
            if resolved in RNG_WHEN_GIVEN and "rngs" in ctx.index.flags_of(cls, attr):
                name = resolved.rsplit(".", 1)[1]
                return (
                    f"`{inner}` is an `nnx.{name}` built with `rngs`, whose RNG count is an integer"
                )
            held = ctx.instance_of(resolved)
            if held is not None and held.nnx:
                found = integer_state(ctx, held, inner, depth + 1)
                if found is not None:
                    return found
    return None
