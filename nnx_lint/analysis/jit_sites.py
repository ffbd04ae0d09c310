"""Where a jit (jax.jit or nnx.jit, in any spelling) is applied, and to what: an NNX object,
a bound method of one, or a function that captures NNX objects from an enclosing scope."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import libcst as cst

from nnx_lint.analysis import nnx_api
from nnx_lint.analysis.context import FileContext, Function, Instance, Jit, Ref
from nnx_lint.analysis.nnx_api import Effect, JitKind
from nnx_lint.analysis.project_index import EXTERNAL, Verdict, join
from nnx_lint.analysis.scopes import (
    Binding,
    BindingKind,
    Scope,
    ScopeKind,
    exported_names,
    lookup,
    reaching,
)


class Shape(enum.Enum):
    """What a jit is applied to."""

    MODULE = "module"  # an NNX object: jit(model)
    METHOD = "method"  # a bound method of one: jit(model.encode)
    CLOSURE = "closure"  # a function that reads NNX objects from an enclosing scope
    PARTIAL = "partial"  # functools.partial / nnx.cached_partial binding NNX objects to one
    FUNCTION = "function"  # a function that reads none


class Form(enum.Enum):
    DECORATOR = "decorator"  # @jit / @jit(...) / @partial(jit, ...)
    CALL = "call"  # jit(f, ...)


@dataclass(frozen=True, eq=False)
class Capture:
    """An NNX object a compiled function reads from an enclosing scope."""

    text: str  # how the function spells it: `model`, `self.model`
    name: str  # the root name: `model`, `self`
    instance: Instance
    scope: Scope  # where the root name is bound
    nodes: list[cst.CSTNode] = field(default_factory=list)  # every read of it in the function
    indirect: str | None = None  # read through a helper function of that name
    bound: bool = False  # bound to a parameter by functools.partial (the partial shape)


@dataclass(frozen=True, eq=False)
class JitSite:
    jit: Jit
    form: Form
    report_node: cst.CSTNode  # decorator expression, or the call
    scope: Scope
    order: int
    shape: Shape
    target: cst.CSTNode  # the expression compiled, or the decorated def
    options: tuple[cst.Arg, ...]  # every option, wherever it was bound
    instance: Instance | None = None  # module and method shapes
    function: Function | None = None  # closure and function shapes
    captures: tuple[Capture, ...] = ()  # closure shape
    call: cst.Call | None = None  # the call applying jit (call form)
    binder: str | None = None  # partial shape: functools.partial or flax.nnx.cached_partial

    verdict: Verdict = Verdict(Effect.UNKNOWN, ())  # what running the compiled call does

    @property
    def changes_state(self) -> bool | None:
        """True: running it changes state; False: it only reads; None: unknown."""
        effect = self.verdict.effect
        return None if effect is Effect.UNKNOWN else effect is Effect.CHANGES


# What a parameter holds, where its annotation does not say (`transforms._compiled_params`).
ParamValue = Callable[[Binding], Instance | None]


@dataclass(frozen=True)
class Target:
    """What a transform is applied to, and what running it does to state."""

    shape: Shape
    node: cst.CSTNode  # the expression transformed, or the decorated def
    instance: Instance | None = None  # module and method shapes
    function: Function | None = None  # closure, partial and function shapes
    captures: tuple[Capture, ...] = ()  # closure and partial shapes
    binder: str | None = None  # partial shape: functools.partial or flax.nnx.cached_partial
    verdict: Verdict = Verdict(Effect.UNKNOWN, ())


def function_target(
    ctx: FileContext, function: Function, order: int, params: ParamValue | None = None
) -> Target:
    """A def or lambda transformed: a closure when it reads NNX objects from outside
    (``params``: as for ``captures``)."""
    found = tuple(captures(ctx, function, order, params=params))
    verdict = join([capture_verdict(ctx, c) for c in found])
    shape = Shape.CLOSURE if found else Shape.FUNCTION
    return Target(shape, function.node, function=function, captures=found, verdict=verdict)


def classify(
    ctx: FileContext,
    expr: cst.BaseExpression,
    scope: Scope,
    order: int,
    held: bool,
    params: ParamValue | None = None,
) -> Target | None:
    """What ``expr``, handed to a transform, is: an NNX object, a bound method of one (or,
    with ``held``, of a plain object whose method uses the NNX objects it holds), a
    functools.partial binding NNX objects, or a function; None for anything else."""
    value = ctx.evaluate(expr, scope, order)
    if isinstance(value, Instance) and value.nnx:
        return Target(Shape.MODULE, expr, value, verdict=instance_verdict(ctx, value, "__call__"))
    if isinstance(expr, cst.Attribute) and not isinstance(value, Function):
        base = ctx.evaluate(expr.value, scope, order)
        method = expr.attr.value
        # A method of the object's class; an attribute of unknown kind (a submodule built by
        # a helper, flax's own `rnn.cell`) is not reported: `type(obj).attr` would break.
        # Also `jax.jit(agent.act)`: a plain object whose method uses the NNX objects it holds.
        if not isinstance(base, Instance):
            return None
        cls = base.cls or ""
        own = base.nnx and (method == "__call__" or bool(cls) and ctx.index.has_method(cls, method))
        uses = (
            held and not base.nnx and bool(cls) and bool(ctx.index.nnx_attributes_used(cls, method))
        )
        if not (own or uses):
            return None
        return Target(Shape.METHOD, expr, base, verdict=instance_verdict(ctx, base, method))
    if (bound := _partial(ctx, expr, scope, order)) is not None:
        binder, function, found = bound
        verdict = join([capture_verdict(ctx, c) for c in found])
        return Target(Shape.PARTIAL, expr, None, function, tuple(found), binder, verdict)
    if isinstance(value, Function):
        return replace(function_target(ctx, value, order, params), node=expr)
    return None


def find_jit_sites(ctx: FileContext) -> Iterator[JitSite]:
    b = ctx.scopes
    for dec, fn, scope, order in b.decorators:
        if dec is not fn.decorators[-1]:
            continue  # jit applies to another decorator's result
        jit = ctx.as_jit(ctx.evaluate(dec.decorator, scope, order), dec.decorator)
        if jit is None:
            continue
        t = function_target(ctx, Function(fn, b.scope_of[id(fn)]), order)
        yield JitSite(
            jit,
            Form.DECORATOR,
            dec.decorator,
            scope,
            order,
            t.shape,
            fn,
            jit.options,
            function=t.function,
            captures=t.captures,
            verdict=t.verdict,
        )
    for call, scope, order in b.calls:
        jit = ctx.as_jit(ctx.evaluate(call.func, scope, order), call.func)
        target = ctx.jit_target(call) if jit is not None else None
        if jit is None or target is None:
            continue
        found = classify(ctx, target.value, scope, order, held=jit.kind is JitKind.JAX)
        if found is None:
            continue
        yield JitSite(
            jit,
            Form.CALL,
            call,
            scope,
            order,
            found.shape,
            found.node,
            jit.options + tuple(a for a in call.args if a is not target),
            found.instance,
            found.function,
            found.captures,
            call,
            found.binder,
            found.verdict,
        )


BINDERS = frozenset({"functools.partial", f"{nnx_api.NNX}.cached_partial"})


def _partial(
    ctx: FileContext, expr: cst.BaseExpression, scope: Scope, order: int
) -> tuple[str, Function, list[Capture]] | None:
    """``functools.partial(f, model, ...)`` (or ``nnx.cached_partial``) of a function of this
    file, binding NNX objects to its leading parameters: the binder's name, the function, and
    each bound NNX object as a capture (its reads: the parameter's, in the function)."""
    if not isinstance(expr, cst.Call) or not expr.args:
        return None
    binder = ctx.evaluate(expr.func, scope, order)
    first = expr.args[0]
    if not (isinstance(binder, Ref) and binder.qualname in BINDERS) or first.keyword or first.star:
        return None
    function = ctx.evaluate(first.value, scope, order)
    if not isinstance(function, Function):
        return None
    params = function.node.params
    positional = [*params.posonly_params, *params.params]
    found: list[Capture] = []
    for arg, param in zip(expr.args[1:], positional, strict=False):
        if arg.keyword or arg.star:
            break
        value = ctx.evaluate(arg.value, scope, order)
        if not (isinstance(value, Instance) and value.nnx):
            continue
        name = param.name.value
        reads: list[cst.CSTNode] = [ref.node for ref in ctx.reads_of(name, function.scope)]
        if not reads:
            continue  # the function never reads it: nothing of it is compiled in
        root = ctx.root_reference(arg.value)
        where = lookup(root.name, root.scope)[0] if root is not None else None
        text = _code(arg.value)
        capture = Capture(
            text, root.name if root else text, value, where or scope, reads, bound=True
        )
        found.append(capture)
    if not found:
        return None
    return binder.qualname, function, found + captures(ctx, function, order)


def captures(
    ctx: FileContext,
    function: Function,
    order: int,
    seen: set[int] | None = None,
    params: ParamValue | None = None,
) -> list[Capture]:
    """NNX objects read by ``function`` (at any nesting depth) from outside it, in order.
    ``params``: what a parameter of an enclosing function holds where its annotation does
    not say (call sites passing it NNX objects)."""
    seen = seen if seen is not None else {id(function.node)}
    found: dict[str, Capture] = {}
    for inner in function.scope.walk():
        for ref in inner.references:
            where, bindings = lookup(ref.name, ref.scope)
            if where is None or function.scope.contains(where):
                continue  # local to the function, or a builtin
            binding = reaching(bindings, order, local=False)
            if binding is None:
                continue
            value = ctx.value_of_binding(binding)
            if value is None and params is not None and binding.kind is BindingKind.PARAM:
                value = params(binding)
            if isinstance(value, Instance) and value.container and _changed(ctx, ref.name, where):
                continue  # `layers.append(Dropout(...))`: what it holds is no longer known
            if isinstance(value, Instance) and value.nnx:
                _add(found, ref.name, ref.name, value, where, ref.node)
            elif isinstance(value, Instance) and value.cls:
                attr = ctx.scopes.attribute_of.get(id(ref.node))
                if attr is not None:
                    attr_cls = ctx.index.attr_type(value.cls, attr.attr.value)
                    inst = ctx.instance_of(attr_cls) if attr_cls else None
                    if inst is not None and inst.nnx:
                        text = f"{ref.name}.{attr.attr.value}"
                        _add(found, text, ref.name, inst, where, attr)
            elif isinstance(value, Function) and id(value.node) not in seen:
                seen.add(id(value.node))
                for cap in captures(ctx, value, order, seen, params):
                    if cap.text not in found:
                        found[cap.text] = replace(cap, indirect=cap.indirect or _name_of(value))
    return list(found.values())


MUTATORS = frozenset(
    "append extend insert update setdefault pop popitem clear remove add discard".split()
)


def _changed(ctx: FileContext, name: str, scope: Scope) -> bool:
    """Is the container bound to ``name`` in ``scope`` changed after it is built, anywhere:
    a mutating method (`layers.append(...)`), an item assigned or deleted (`nets["q"] = ...`),
    or handed to a call that may change it (`add(layers)`)?"""
    for ref in ctx.reads_of(name, scope):
        parent = ctx.parent(ref.node)
        if isinstance(parent, cst.Attribute) and parent.attr.value in MUTATORS:
            return True
        if isinstance(parent, cst.Subscript):
            above = ctx.parent(parent)
            if isinstance(above, cst.AssignTarget | cst.AugAssign | cst.Del):
                return True
        if isinstance(parent, cst.Arg):
            call = ctx.parent(parent)
            func = call.func if isinstance(call, cst.Call) else None
            builtin = (
                isinstance(func, cst.Name)
                and func.value in READ_ONLY
                and ctx.value_at(func) is None  # not rebound: the builtin
            )
            if not builtin:
                return True
    return False


# Builtins that only read a container handed to them.
READ_ONLY = frozenset("len sum list tuple iter enumerate zip sorted reversed print".split())


def made_in_hijax_mode(
    ctx: FileContext,
    captures: tuple[Capture, ...],
    shape: Shape,
    target: cst.CSTNode,
    report_node: cst.CSTNode,
) -> bool:
    """Were the NNX objects a site transforms (``captures``, or the object or method
    ``target`` of the module and method shapes) all made in hijax mode (a whole file in it,
    or their binding inside a function or `with` block that turns it on)? Hijax applies to
    the Variables made under it: a model made outside still raises inside such a block."""
    if ctx.hijax:
        return True
    made: list[cst.CSTNode] = []
    for capture in captures:
        if capture.instance.hijax:  # nnx.Variable(..., hijax=True): hijax wherever it is made
            continue
        made += [b.node for b in capture.scope.bindings.get(capture.name, [])[-1:]]
    if captures and not made and shape not in (Shape.MODULE, Shape.METHOD):
        return True
    if shape in (Shape.MODULE, Shape.METHOD):
        ref = ctx.root_reference(target) if isinstance(target, cst.BaseExpression) else None
        binding = ctx.binding_of(ref.name, ref.scope, ref.order) if ref is not None else None
        made.append(binding.node if binding is not None else report_node)
    return bool(made) and all(ctx.hijax_at(node) for node in made)


def instance_verdict(ctx: FileContext, instance: Instance, method: str) -> Verdict:
    """What calling ``method`` on an NNX object does to state (``ProjectIndex.effect``)."""
    if instance.cls is None:  # made by a factory (nnx.merge, nnx.clone, ...)
        return Verdict(Effect.UNKNOWN, ("its class is not known",))
    built = instance.changes_state
    if instance.cls in nnx_api.MODE_DEPENDENT and method == "__call__" and built is False:
        # built with deterministic=True / use_running_average=True
        return _mode_checked(ctx, Verdict(Effect.PURE, (), mode_dependent=True))
    if instance.cls in nnx_api.CALLING_CONTAINERS and method == "__call__" and built is not None:
        # nnx.Sequential(...) built here: what it was given decides.
        if built:
            verdict = Verdict(Effect.CHANGES, ("it holds a module whose calls change state",))
            return _mode_checked(ctx, replace(verdict, mode_dependent=True))
        return _mode_checked(ctx, Verdict(Effect.PURE, (), mode_dependent=True))
    verdict = ctx.index.effect(instance.cls, method)
    if instance.annotated and verdict.effect is not Effect.CHANGES:
        # `model: Base` may hold any subclass: a subclass that changes state, or that cannot
        # be told, decides (a class from outside the project may have subclasses elsewhere).
        others = [ctx.index.effect(sub, method) for sub in ctx.index.subclasses(instance.cls)]
        other = join(others)
        if other.effect is not Effect.PURE:
            why = (
                f"it is known by an annotation, `{instance.cls.rsplit('.', 1)[-1]}`, which a "
                "subclass satisfies too"
            )
            verdict = Verdict(Effect.UNKNOWN, (why, *other.reasons), other.location)
    return _mode_checked(ctx, verdict)


def _mode_checked(ctx: FileContext, verdict: Verdict) -> Verdict:
    """A verdict that rests on a Dropout's or BatchNorm's mode is no claim in a file that
    switches modes (``model.eval()``): which mode holds at the call cannot be told."""
    if verdict.mode_dependent and verdict.effect is not Effect.UNKNOWN and ctx.switches_modes:
        why = "and this file switches modes with `.eval()`/`.train()`, so its mode cannot be told"
        return replace(verdict, effect=Effect.UNKNOWN, reasons=(*verdict.reasons, why))
    return verdict


def capture_verdict(ctx: FileContext, capture: Capture) -> Verdict:
    """What a compiled function does to a captured object, by each of its uses: assigning to
    it changes it; calling it, or a method of it, does what that call does; passing it to
    nnx.grad inside the trace raises; reading an attribute only reads."""
    return join([_use_verdict(ctx, capture, node) for node in capture.nodes])


def _use_verdict(ctx: FileContext, capture: Capture, node: cst.CSTNode) -> Verdict:
    parent = ctx.parent(node)
    if capture.instance.container:  # `nets["q"](x)`, `nets[i].encode(x)`: an element's call
        element = replace(capture.instance, container=False)
        if isinstance(parent, cst.Subscript) and parent.value is node:
            above = ctx.parent(parent)
            if isinstance(above, cst.Call) and above.func is parent:
                return instance_verdict(ctx, element, "__call__")
            call = ctx.parent(above) if isinstance(above, cst.Attribute) else None
            if isinstance(call, cst.Call) and call.func is above:
                assert isinstance(above, cst.Attribute)  # as tested above
                return instance_verdict(ctx, element, above.attr.value)
        loop = parent if isinstance(parent, cst.For | cst.CompFor) else None
        if loop is not None and loop.iter is node and isinstance(loop.target, cst.Name):
            # `for m in ensemble: m(x)`: what is done with each element
            reads: list[cst.CSTNode] = [
                ref.node
                for ref in ctx.named(loop.target.value)
                if any(b.node is loop for b in lookup(ref.name, ref.scope)[1])
            ]
            each = replace(capture, text=loop.target.value, instance=element, nodes=reads)
            if reads:
                return join([_use_verdict(ctx, each, read) for read in reads])
        what = f"what the function does with the elements of `{capture.text}` is not known"
        return Verdict(Effect.UNKNOWN, (what,))
    if isinstance(parent, cst.Call) and parent.func is node:
        return instance_verdict(ctx, capture.instance, "__call__")
    top = node  # `model.kernel`, `model.count[...]`: what an assignment would target
    while isinstance(parent, cst.Attribute | cst.Subscript) and parent.value is top:
        top, parent = parent, ctx.parent(parent)
    if (
        isinstance(parent, cst.AssignTarget | cst.AugAssign | cst.AnnAssign)
        and parent.target is top
        and top is not node
    ):
        return Verdict(Effect.CHANGES, (f"the function assigns `{_code(top)}`",))
    if top is not node:
        above = ctx.parent(node)
        if isinstance(above, cst.Attribute) and above.value is node:
            call = ctx.parent(above)
            if isinstance(call, cst.Call) and call.func is above:
                return _attribute_call_verdict(ctx, capture.instance, above.attr.value)
        if isinstance(parent, cst.Call) and parent.func is top:
            return Verdict(Effect.UNKNOWN, (f"the function calls `{_code(top)}`",))
        return Verdict(Effect.PURE, ())  # an attribute or item read
    call = ctx.parent(parent) if isinstance(parent, cst.Arg) else None
    if isinstance(call, cst.Call):
        if isinstance(call.func, cst.Call):  # transform(f)(model)
            qualname = graph_transform(ctx, node)
            if qualname is not None:
                name = qualname.replace("flax.", "")
                reason = f"`{name}` runs on `{capture.text}`, captured from outside the trace"
                return Verdict(Effect.CHANGES, (reason,), captured_transform=True)
            return Verdict(
                Effect.UNKNOWN, (f"`{capture.text}` is passed to a transformed function",)
            )
        callee = ctx.value_at(call.func)
        if isinstance(callee, Ref) and callee.qualname in nnx_api.GRAPH_READERS:
            return Verdict(Effect.PURE, ())  # nnx.state(model): read where the trace sees it
        if isinstance(callee, Function):  # a function of this file: it may call the object
            return instance_verdict(ctx, capture.instance, "__call__")
        return Verdict(Effect.UNKNOWN, (f"`{capture.text}` is passed to `{_code(call.func)}`",))
    return Verdict(Effect.UNKNOWN, (f"what the function does with `{capture.text}` is not known",))


def _attribute_call_verdict(ctx: FileContext, instance: Instance, name: str) -> Verdict:
    """What `obj.name(...)` does: a method's call, or (`self.inner(x)`, an attribute holding a
    submodule of the project's class) the submodule's call."""
    cls = instance.cls
    if cls and not ctx.index.has_method(cls, name) and (held := ctx.index.attr_type(cls, name)):
        sub = ctx.instance_of(held)
        if sub is not None and sub.nnx:
            return instance_verdict(ctx, sub, "__call__")
    return instance_verdict(ctx, instance, name)


def graph_transform(ctx: FileContext, node: cst.CSTNode) -> str | None:
    """The NNX transform (``nnx_api.NESTED_TRANSFORMS``: `nnx.grad`, `nnx.vmap`, `nnx.jit`,
    ...) that ``node`` is handed to as an argument (`nnx.grad(loss_fn)(model)`), by its
    qualified name; inside a JAX transform that captured the object, it raises."""
    arg = ctx.parent(node)
    call = ctx.parent(arg) if isinstance(arg, cst.Arg) else None
    if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Call)):
        return None
    transform = ctx.value_at(call.func.func)
    if isinstance(transform, Ref) and transform.qualname in nnx_api.NESTED_TRANSFORMS:
        return transform.qualname
    return None


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


def _add(
    found: dict[str, Capture],
    text: str,
    name: str,
    instance: Instance,
    scope: Scope,
    node: cst.CSTNode,
) -> None:
    if text not in found:
        found[text] = Capture(text, name, instance, scope)
    found[text].nodes.append(node)


def _name_of(function: Function) -> str:
    node = function.node
    return node.name.value if isinstance(node, cst.FunctionDef) else "<lambda>"


@dataclass(frozen=True)
class Callers:
    calls: tuple[tuple[cst.Call, Scope], ...]  # each call of the compiled function, its scope
    problem: str | None = None  # why not every caller is known


def compiled_names(ctx: FileContext, site: JitSite) -> list[tuple[str, Scope]]:
    """The names the compiled function is called through, each with the scope binding it:
    the def's name, and the name the jit result is assigned to."""
    names: list[tuple[str, Scope]] = []
    assert site.function is not None
    fn = site.function.node
    if isinstance(fn, cst.FunctionDef):
        parent = site.function.scope.parent
        assert parent is not None  # a function's scope is inside the module's
        names.append((fn.name.value, parent))
    if site.call is not None:
        assign = ctx.scopes.assigned_by.get(id(site.call))
        target = assign.targets[0].target if assign else None
        if isinstance(target, cst.Name):
            names.append((target.value, site.scope))
    return names


def passed_along(ctx: FileContext, site: JitSite) -> list[tuple[cst.Call, int, Scope]]:
    """Calls in this file that hand the compiled function on together with arguments for it
    (``benchmark(step, model, x)``, ``functools.partial(step, model)``): each call, the
    position of the function among its arguments, and the call's scope. Calls of jax's and
    flax's own functions are left out (``fori_loop(0, n, body, init)`` gives ``body`` other
    arguments)."""
    found: list[tuple[cst.Call, int, Scope]] = []
    for name, scope in compiled_names(ctx, site):
        for ref in ctx.reads_of(name, scope):
            arg = ctx.parent(ref.node)
            if not isinstance(arg, cst.Arg) or arg.keyword or arg.star:
                continue
            call = ctx.parent(arg)
            if not isinstance(call, cst.Call):
                continue
            outer = ctx.evaluate(call.func, ref.scope, ref.order)
            if isinstance(outer, Ref) and outer.qualname.partition(".")[0] in EXTERNAL:
                continue
            found.append((call, call.args.index(arg), ref.scope))
    return found


def callers(ctx: FileContext, site: JitSite) -> Callers:
    """The calls of a compiled function in this file (through the def's name and the name the
    jit result is assigned to), and whether they are all of its uses."""
    outer = ctx.scopes.call_of.get(id(site.call)) if site.call is not None else None
    if outer is not None:  # jit(f)(x): the only call
        return Callers(((outer, site.scope),))
    names = compiled_names(ctx, site)
    assert site.function is not None
    fn = site.function.node
    calls: list[tuple[cst.Call, Scope]] = []
    problem: str | None = None
    if site.call is not None:
        assign = ctx.scopes.assigned_by.get(id(site.call))
        if assign is None or not isinstance(assign.targets[0].target, cst.Name):
            problem = "the compiled function is not assigned to a name, so its callers are unknown"
    for name, scope in names:
        at_top = scope.kind is ScopeKind.MODULE
        if at_top and name in exported_names(ctx.module_scope):
            problem = f"`{name}` is exported in __all__, so callers elsewhere are unknown"
        importers = ctx.index.importers(ctx.facts.module, name) if at_top else []
        if importers:
            problem = f"`{name}` is imported by {importers[0]}, whose calls the fix cannot see"
        if at_top and any(
            name in s.globals and name in s.bindings for s in ctx.module_scope.walk()
        ):
            problem = f"`{name}` is rebound elsewhere (through `global`)"
        for b in scope.bindings.get(name, []):
            if b.kind not in (BindingKind.DEF, BindingKind.ASSIGN) or (
                b.kind is BindingKind.ASSIGN
                and getattr(b.node, "value", None) is not site.call
                and getattr(b.node, "value", None) is not fn
            ):
                problem = f"`{name}` is rebound elsewhere"
        for ref in ctx.reads_of(name, scope):
            if ref.node is site.target:
                continue
            call = ctx.scopes.call_of.get(id(ref.node))
            if call is None:
                problem = f"`{name}` is used other than by calling it"
            else:
                calls.append((call, ref.scope))
    return Callers(tuple(calls), problem)
