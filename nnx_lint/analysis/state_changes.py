"""Which NNX-object parameters a compiled function changes, and which it hands back."""

from __future__ import annotations

from dataclasses import dataclass, replace

import libcst as cst

from nnx_lint.analysis import nnx_api
from nnx_lint.analysis.context import FileContext, Function, Instance, Ref, Value
from nnx_lint.analysis.jit_sites import (
    JitSite,
    callers,
    compiled_names,
    instance_verdict,
    passed_along,
)
from nnx_lint.analysis.nnx_api import Effect
from nnx_lint.analysis.project_index import VALUE_WRITE, Verdict
from nnx_lint.analysis.scopes import (
    Binding,
    BindingKind,
    FastVisitor,
    Scope,
    lookup,
    returned_values,
)

MODE_METHODS = {
    "train": "is put in training mode",
    "eval": "is put in evaluation mode",
    "set_attributes": "is given new attributes",
}
GRAD_TRANSFORMS = frozenset(
    {f"{nnx_api.NNX}.grad", f"{nnx_api.NNX}.value_and_grad", "jax.grad", "jax.value_and_grad"}
)


@dataclass(frozen=True)
class NnxParam:
    binding: Binding
    instance: Instance
    # Where another file passes it an NNX object, when that is the evidence: (file key, line).
    passed_at: tuple[str, int] | None = None

    @property
    def name(self) -> str:
        return self.binding.name


def nnx_params(ctx: FileContext, site: JitSite) -> dict[str, NnxParam]:
    """Parameters holding NNX objects: by annotation, `self` of a Module method, as the first
    argument of an NNX graph function in the body, or because a call passes an NNX object in
    that position: in this file, or in another file of the project that imports the function,
    calling it or handing it on with its arguments (``benchmark(step, model, x)``)."""
    assert site.function is not None  # the sites asked about compile a def or a lambda
    scope = site.function.scope
    params = sorted(
        (b for bs in scope.bindings.values() for b in bs if b.kind is BindingKind.PARAM),
        key=lambda b: b.param_index,
    )
    found: dict[str, NnxParam] = {}

    def add(param: Binding, value: Instance, passed_at: tuple[str, int] | None = None) -> None:
        if param.name not in found:
            found[param.name] = NnxParam(param, value, passed_at)
        elif value.hijax:  # annotated, and passed a hijax object by a call: hijax
            found[param.name] = NnxParam(param, replace(found[param.name].instance, hijax=True))

    for b in params:
        value = ctx.value_of_binding(b)
        if isinstance(value, Instance) and value.nnx:
            add(b, value)
    handed = _handed_to_nnx(ctx, site.function)
    for b in params:  # `nnx.split(model)`: only NNX objects go there
        if b.name in handed:
            add(b, Instance(None, True, None))
    positional = [b for b in params if isinstance(b.node, cst.Param) and b.node.star == ""]
    varargs = any(isinstance(b.node, cst.Param) and b.node.star == "*" for b in params)

    def param_at(where: int | str) -> Binding | None:
        if isinstance(where, str):
            return next((p for p in params if p.name == where), None)
        return positional[where] if where < len(positional) else None

    def fits(count: int) -> bool:  # so many positional arguments handed on with the function
        return count <= len(positional) or varargs

    uses = [
        (call.args, call_scope, ctx.call_order(call))
        for call, call_scope in callers(ctx, site).calls
    ]
    for call, position, call_scope in passed_along(ctx, site):
        rest = list(call.args[position + 1 :])
        stop = next((i for i, a in enumerate(rest) if a.star or a.keyword), len(rest))
        if fits(stop):
            uses.append((tuple(rest[:stop]), call_scope, ctx.call_order(call)))
    for args, call_scope, order in uses:
        for i, arg in enumerate(args):
            if arg.star:
                break
            param = param_at(arg.keyword.value if arg.keyword is not None else i)
            if param is None:
                continue
            value = ctx.evaluate(arg.value, call_scope, order)
            if isinstance(value, Instance) and value.nnx:
                add(param, value)
            elif _states(ctx, arg.value, call_scope, order):
                add(param, Instance(STATE, True, None, container=True))
    for name, bound in compiled_names(ctx, site):
        if bound is not ctx.module_scope:
            continue
        for key, fact in ctx.index.calls_to(f"{ctx.facts.module}.{name}"):
            if fact.passed is not None and not fits(fact.passed):
                continue
            for where, cls in fact.args:
                param = param_at(where)
                instance = ctx.instance_of(ctx.index.resolve(cls))
                if param is not None and instance is not None and instance.nnx:
                    add(param, instance, (key, fact.line))
    return found


STATE = f"{nnx_api.NNX}.State"


def _states(ctx: FileContext, expr: cst.BaseExpression, scope: Scope, order: int) -> bool:
    """Is the value NNX state: ``nnx.state(model)``, or a dict literal of them (through a name
    bound to one)? Changed inside a compiled function, it is a traced copy as well."""
    if isinstance(expr, cst.Name):
        binding = ctx.binding_of(expr.value, scope, order)
        if binding is None or binding.kind is not BindingKind.ASSIGN or binding.value is None:
            return False
        return _states(ctx, binding.value, binding.scope, binding.order)
    if isinstance(expr, cst.Call):
        callee = ctx.evaluate(expr.func, scope, order)
        return isinstance(callee, Ref) and callee.qualname == f"{nnx_api.NNX}.state"
    if isinstance(expr, cst.Dict) and expr.elements:
        return all(
            isinstance(e, cst.DictElement) and _states(ctx, e.value, scope, order)
            for e in expr.elements
        )
    return False


NNX_GRAPH_FUNCTIONS = frozenset(
    f"{nnx_api.NNX}.{name}" for name in "state split graphdef update".split()
)


def _handed_to_nnx(ctx: FileContext, function: Function) -> set[str]:
    """Names passed, in the function's body, as the first argument of an NNX graph function
    (``nnx.state(p)``, ``nnx.split(p)``, ``nnx.graphdef(p)``, ``nnx.update(p, ...)``): evidence
    that they hold NNX objects. (``nnx.grad(f)(p)`` is not: it differentiates arrays as well.)"""
    calls = _GraphCalls(ctx)
    calls.walk(function.node.body)
    return calls.names


class _GraphCalls(FastVisitor):
    """The names passed as the first argument of an NNX graph function (``_handed_to_nnx``)."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.names: set[str] = set()

    def visit_Call(self, node: cst.Call) -> None:
        callee = self.ctx.value_at(node.func)
        if isinstance(callee, Ref) and callee.qualname in NNX_GRAPH_FUNCTIONS and node.args:
            first = node.args[0].value
            if isinstance(first, cst.Name):
                self.names.add(first.value)


def chain(node: cst.BaseExpression) -> tuple[cst.Name | None, list[str]]:
    """The root name of ``a.b[c].d`` and the attribute names on the way."""
    attrs: list[str] = []
    while isinstance(node, cst.Attribute | cst.Subscript):
        if isinstance(node, cst.Attribute):
            attrs.append(node.attr.value)
        node = node.value
    return (node if isinstance(node, cst.Name) else None), list(reversed(attrs))


def _has_item(node: cst.BaseExpression) -> bool:
    while isinstance(node, cst.Attribute | cst.Subscript):
        if isinstance(node, cst.Subscript):
            return True
        node = node.value
    return False


class Resolver:
    """Resolves names in a compiled function's body to its NNX parameters."""

    def __init__(self, ctx: FileContext, function: Function, params: dict[str, NnxParam]):
        self.ctx = ctx
        self.function = function
        self.params = params

    def _param(self, name: cst.Name | None) -> NnxParam | None:
        """The NNX parameter that a name node reads, if it does."""
        if name is None:
            return None
        ref = self.ctx.reference(name)
        if ref is None:
            return None
        where, bindings = lookup(ref.name, ref.scope)
        if where is not self.function.scope:
            return None
        param = self.params.get(ref.name)
        return param if param is not None and param.binding in bindings else None

    def _value(self, node: cst.BaseExpression) -> Value:
        """What a chain of attributes and items on a name evaluates to (never through a
        call's result). A parameter known to hold an NNX object from evidence outside its
        annotation (a call site) is that object: `model.encoder` is typed through its class."""
        root, attrs = chain(node)
        if root is None:
            return None
        param = self._param(root)
        plain = isinstance(node, cst.Name | cst.Attribute) and not _has_item(node)
        if param is None or not plain:
            return self.ctx.value_at(node)
        value: Value = param.instance
        for attr in attrs:
            if not (isinstance(value, Instance) and value.cls):
                return None
            cls = self.ctx.index.attr_type(value.cls, attr)
            value = self.ctx.instance_of(cls) if cls else None
        return value


class _Changes(Resolver, FastVisitor):
    def __init__(self, ctx: FileContext, function: Function, params: dict[str, NnxParam]):
        super().__init__(ctx, function, params)
        self.changes: dict[str, list[str]] = {}
        self.evidence: dict[str, Verdict] = {}  # the call path behind a change, if any
        self.unknown: set[str] = set()  # parameters with a call whose effect cannot be told
        # Parameters with a change not known to be to a Variable's value (`Verdict.restructures`)
        self.moved: set[str] = set()

    def _note(self, name: cst.Name | None, how: str, value_only: bool = False) -> None:
        param = self._param(name)
        if param is not None:
            hows = self.changes.setdefault(param.name, [])
            if how not in hows:
                hows.append(how)
            if not value_only:
                self.moved.add(param.name)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        root, attrs = chain(func)
        if attrs and attrs[-1] == "update":
            # flax's Optimizer and metrics update their Variables' values (and the model's).
            owner = self._value(func.value) if isinstance(func, cst.Attribute) else None
            builtin = (
                isinstance(owner, Instance)
                and owner.cls is not None
                and nnx_api.nnx_class_kind(owner.cls) is nnx_api.ObjectKind.STATEFUL
            )
            self._note(root, "is updated", value_only=builtin)
            for arg in node.args:  # optimizer.update(model, grads) changes model too
                if isinstance(arg.value, cst.Name):
                    how = f"is updated by `{self.ctx.code(func)}`"
                    self._note(arg.value, how, value_only=builtin)
        if attrs and attrs[-1] in MODE_METHODS:
            self._note(root, MODE_METHODS[attrs[-1]])
        callee = self._value(func)
        if isinstance(callee, Ref) and callee.qualname == f"{nnx_api.NNX}.update" and node.args:
            first = node.args[0].value
            self._note(chain(first)[0], "is updated by `nnx.update`")
        if isinstance(callee, Instance) and callee.nnx:
            if callee.cls == f"{nnx_api.NNX}.Rngs":
                self._note(root, "draws from its Rngs", value_only=True)
            else:
                self._note_call(root, callee, "__call__")
        if isinstance(func, cst.Attribute) and not callee:
            owner = self._value(func.value)
            if isinstance(owner, Instance) and owner.cls == f"{nnx_api.NNX}.Rngs":
                self._note(root, "draws from its Rngs", value_only=True)
            elif isinstance(owner, Instance) and owner.nnx:
                self._note_call(root, owner, func.attr.value)
        if isinstance(func, cst.Call) and isinstance(transform := self._value(func.func), Ref):
            if transform.qualname in GRAD_TRANSFORMS:
                for arg in node.args:  # nnx.grad(loss_fn)(model) calls the model
                    value = self._value(arg.value)
                    if isinstance(value, Instance) and value.nnx:
                        self._note_call(chain(arg.value)[0], value, "__call__")

    def _note_call(self, root: cst.Name | None, instance: Instance, method: str) -> None:
        """A call of ``method`` on an NNX object: noted if it changes state, with the reasons."""
        verdict = instance_verdict(self.ctx, instance, method)
        if verdict.effect is Effect.UNKNOWN and (param := self._param(root)) is not None:
            self.unknown.add(param.name)
        if verdict.effect is Effect.CHANGES:
            param = self._param(root)
            if param is not None:
                self.evidence.setdefault(param.name, verdict)
            how = "changes state when called"
            how = f"{how}: {'; '.join(verdict.reasons)}" if verdict.reasons else how
            self._note(root, how, value_only=verdict.restructures is False)

    def _target(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Attribute | cst.Subscript):
            value_only = VALUE_WRITE.search(self.ctx.code(target)) is not None
            self._note(chain(target)[0], "has its state assigned", value_only)
        elif isinstance(target, cst.Tuple | cst.List):
            for el in target.elements:
                self._target(el.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            self._target(t.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._target(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._target(node.target)


def handed_back(
    ctx: FileContext, function: Function, params: dict[str, NnxParam]
) -> dict[str, int | None]:
    """The parameters whose object (or ``nnx.state``/``nnx.split`` of it) is returned, each
    with its position in the returned tuple (None: the whole value, or deeper inside it)."""
    values = returned_values(function.node)
    names = Resolver(ctx, function, params)
    out: dict[str, int | None] = {}
    # Depth first, in the order written (a stack, not a function calling itself: that would be
    # a reference cycle holding the file's analysis until the garbage collector runs): each
    # value with its position in the returned tuple, whether it is the returned value itself,
    # and how many assignments were followed to reach it.
    todo: list[tuple[cst.BaseExpression, int | None, bool, int]]
    todo = [(value, None, True, 0) for value in reversed(values)]
    # What a value leads to depends on it and its depth alone, and the first position found
    # is kept: a value met again at the same depth adds nothing. A cycle of bindings ends
    # there (`[(x := {"k": x}) for _ in ()]; return x`: the read of `x` is the walrus's own).
    seen: set[tuple[int, int]] = set()
    while todo:
        value, position, top, depth = todo.pop()
        if depth > 4 or (id(value), depth) in seen:
            continue
        seen.add((id(value), depth))
        if isinstance(value, cst.Tuple | cst.List):
            elements = list(enumerate(value.elements))
            todo += [
                (el.value, i if top else position, False, depth) for i, el in reversed(elements)
            ]
        elif isinstance(value, cst.Dict):
            items = [item for item in value.elements if isinstance(item, cst.DictElement)]
            todo += [(item.value, None, False, 0) for item in reversed(items)]
        elif isinstance(value, cst.Name):
            param = names._param(value)
            if param is not None:
                out.setdefault(param.name, position)
                continue
            ref = ctx.reference(value)  # `state = nnx.state((model, opt)); return loss, state`
            b = ctx.binding_of(ref.name, ref.scope, ref.order) if ref is not None else None
            if b is not None and b.kind is BindingKind.ASSIGN and b.value is not None:
                if b.scope is function.scope:
                    todo.append((b.value, position, False, depth + 1))
        elif isinstance(value, cst.Subscript | cst.Attribute):
            # `return states["model"]`: the part of it that the caller takes back
            param = names._param(chain(value)[0])
            if param is not None:
                out.setdefault(param.name, position)
        elif isinstance(value, cst.Call) and value.args:
            callee = names._value(value.func)
            if isinstance(callee, Ref) and callee.qualname in (
                f"{nnx_api.NNX}.state",
                f"{nnx_api.NNX}.split",
            ):
                todo.append((value.args[0].value, position, False, depth))
    return out


def dropping_call(ctx: FileContext, site: JitSite, position: int | None) -> cst.Call | None:
    """A call in this file that throws away what the compiled function hands back at
    ``position``: a bare call statement, or `_` at that place of the unpacking target."""
    for call, _ in callers(ctx, site).calls:
        if id(call) in ctx.scopes.discarded:
            return call
        assign = ctx.scopes.assigned_by.get(id(call))
        target = assign.targets[0].target if assign is not None else None
        if position is not None and isinstance(target, cst.Tuple | cst.List):
            elements = target.elements
            element = elements[position].value if position < len(elements) else None
            if isinstance(element, cst.Name) and element.value == "_":
                return call
    return None


@dataclass(frozen=True)
class StateChanges:
    hows: dict[str, tuple[str, ...]]  # parameter -> how its state changes, in order
    evidence: dict[str, Verdict]  # parameter -> the call path of a change made by a call
    unknown: frozenset[str]  # parameters with a call whose effect cannot be told
    # Parameters with a change not known to be to a Variable's value: a new or replaced
    # attribute, `.eval()`, ... (NNX's tree mode drops those), or what cannot be told.
    moved: frozenset[str] = frozenset()


def state_changes(
    ctx: FileContext, function: Function, params: dict[str, NnxParam]
) -> StateChanges:
    """How the function's body changes each parameter's state ("is updated", ...), in order;
    parameters it does not change are left out."""
    visitor = _Changes(ctx, function, params)
    visitor.walk(function.node.body)
    hows = {name: tuple(found) for name, found in visitor.changes.items()}
    moved = frozenset(visitor.moved)
    return StateChanges(hows, visitor.evidence, frozenset(visitor.unknown), moved)
