"""The fastest fixes (unsafe): bind the NNX objects to the compiled function once, where they
are made (``nnx.jit_partial(f, model, graph=False)`` on flax 0.12.5+, else
``nnx.cached_partial(nnx.jit(f), model)``): the objects are flattened when they are bound, not
on every call (benchmarks/runtime.py). Both fix the objects' structure when they are bound, so
a later ``.eval()``, a replaced submodule or an added attribute is not seen: each rewrite is
offered only where every later use of the objects in the file is proven to keep their
structure. Shapes: an object or bound method compiled by an assignment or inline, a partial, a
closure, and a step taking the objects as arguments (its calls then drop them)."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from nnx_lint.analysis import nnx_api
from nnx_lint.analysis.context import FileContext, Instance, Ref
from nnx_lint.analysis.jit_sites import Form, JitSite, Shape, callers
from nnx_lint.analysis.nnx_api import Effect
from nnx_lint.analysis.scopes import BindingKind, Scope, ScopeKind, lookup
from nnx_lint.analysis.state_changes import nnx_params
from nnx_lint.analysis.tree_mode import mode_at
from nnx_lint.analysis.versions import CACHED_PARTIAL_JIT, TREE_MODE_JIT, target_flax
from nnx_lint.diagnostics import Applicability, Edit, Fix
from nnx_lint.fixes.imports import Imports, NoFix, is_free
from nnx_lint.fixes.rewrites import (
    add_parameters,
    argnums,
    compiled_object,
    keeps_structure,
    possible_classes,
    remove_arguments,
    static_names,
)

__all__ = ["bind_closure_fix", "bind_object_fix", "bind_once_fix"]

# Calls that only read an object's state or structure (they keep no reference that could
# change it later).
READERS = frozenset({f"{nnx_api.NNX}.state", f"{nnx_api.NNX}.graphdef"})


def _container(scope: Scope) -> cst.Module | cst.BaseSuite:
    """What holds the statements of a module's or a function's own body."""
    node = scope.node
    if isinstance(node, cst.Module):
        return node
    assert isinstance(node, cst.FunctionDef)  # the scopes asked about: module and functions
    return node.body


def _body(scope: Scope) -> Sequence[cst.CSTNode]:
    container = _container(scope)
    if isinstance(container, cst.Module | cst.IndentedBlock):
        return container.body
    return ()  # `def f(): return x` on one line


def _top(ctx: FileContext, node: cst.CSTNode, scope: Scope) -> int | None:
    """The index of the statement of ``scope``'s own body that holds ``node``."""
    container = _container(scope)
    child, current = node, ctx.parent(node)
    while current is not None and current is not container:
        child, current = current, ctx.parent(current)
    if current is None:
        return None
    body = _body(scope)
    return next((i for i, s in enumerate(body) if s is child), None)


def _called(ctx: FileContext, name: cst.Name) -> tuple[cst.Call, str] | None:
    """The call a read of an object makes of it (``model(x)``: ``__call__``) or of one of its
    methods (``model.train()``), with the method's name."""
    parent = ctx.parent(name)
    if isinstance(parent, cst.Call) and parent.func is name:
        return parent, "__call__"
    if isinstance(parent, cst.Attribute) and parent.value is name:
        call = ctx.parent(parent)
        if isinstance(call, cst.Call) and call.func is parent:
            return call, parent.attr.value
    return None


def _use_keeps_structure(ctx: FileContext, name: cst.Name, instance: Instance) -> bool:
    """Whether a read of an object calls it, or a method of it, that never changes its
    structure, or hands it to a function that only reads it (``nnx.state``)."""
    parent = ctx.parent(name)
    if isinstance(parent, cst.Arg) and parent.value is name and parent.keyword is None:
        outer = ctx.parent(parent)
        func = ctx.value_at(outer.func) if isinstance(outer, cst.Call) else None
        return isinstance(func, Ref) and func.qualname in READERS
    called = _called(ctx, name)
    if called is None:
        return False
    classes = possible_classes(ctx, instance)
    return bool(classes) and all(keeps_structure(ctx.index.effect(c, called[1])) for c in classes)


def _new_name(ctx: FileContext, base: str) -> str:
    for name in (f"{base}_fn", f"{base}_bound"):
        if is_free(ctx, name) and name not in ctx.source:
            return name
    raise NoFix(f"`{base}_fn` is taken in this file")


def _decorator_line(ctx: FileContext, decorator: cst.Decorator) -> Edit:
    """Delete the decorator's line (a comment on it stays, on a line of its own)."""
    start, end = ctx.span(decorator)
    source = ctx.source
    line_start = source.rfind("\n", 0, start) + 1
    at = source.find("\n", end)
    line_end = len(source) if at < 0 else at + 1
    indent = source[line_start:start]
    rest = source[end:line_end].rstrip("\r\n")
    if indent.strip() or (rest.strip() and not rest.strip().startswith("#")):
        raise NoFix("the decorator shares its line with other code")
    comment = rest.strip()
    newline = source[end + len(rest) : line_end]
    return Edit(line_start, line_end, f"{indent}{comment}{newline}" if comment else "")


def _bound_objects(
    ctx: FileContext, site: JitSite, names: list[str], calls: list[tuple[cst.Call, Scope]]
) -> tuple[Scope, list[str]]:
    """The scope that binds the objects the calls pass at the bound positions, and their names:
    NoFix unless every call passes the same plain name at each position, all bound in one
    module or function scope (``_made_once`` checks how they are made)."""
    home: Scope | None = None
    passed: list[str] = []
    for i in range(len(names)):
        spelled: set[tuple[str, int]] = set()
        for call, scope in calls:
            args = call.args
            if len(args) <= i or any(a.keyword or a.star for a in args[: i + 1]):
                raise NoFix("a call passes the objects by keyword or with *")
            value = args[i].value
            if not isinstance(value, cst.Name):
                raise NoFix("a call passes an object that is not a plain name")
            owner = lookup(value.value, scope)[0]
            if owner is None:
                raise NoFix(f"`{value.value}` is not bound in this file")
            spelled.add((value.value, id(owner)))
            if home is None:
                home = owner
            elif owner is not home:
                raise NoFix("the calls pass objects made in different scopes")
        if len(spelled) != 1:
            raise NoFix(f"the calls pass different objects as `{names[i]}`")
        passed.append(next(iter(spelled))[0])
    assert home is not None  # at least one call, one position
    if len(set(passed)) != len(passed):
        raise NoFix("a call passes one object at two places")
    if home.kind not in (ScopeKind.MODULE, ScopeKind.FUNCTION):
        raise NoFix("the objects are made in a class body, a lambda or a comprehension")
    return home, passed


def _made_once(ctx: FileContext, home: Scope, name: str) -> int:
    """The index of the statement of ``home``'s own body that makes the object ``name``: its
    only binding, by an assignment standing directly in that body (not in a block)."""
    bindings = home.bindings.get(name, [])
    if len(bindings) != 1 or bindings[0].kind is not BindingKind.ASSIGN:
        raise NoFix(f"`{name}` is bound more than once or not by an assignment")
    if any(name in s.globals or name in s.nonlocals for s in ctx.module_scope.walk()):
        raise NoFix(f"`{name}` is rebound through `global` or `nonlocal`")
    if home.kind is ScopeKind.MODULE and ctx.index.importers(ctx.facts.module, name):
        raise NoFix(f"`{name}` is imported elsewhere, where its uses are not seen")
    line = ctx.parent(bindings[0].node)
    statement = _top(ctx, bindings[0].node, home)
    if statement is None or _body(home)[statement] is not line:
        raise NoFix(f"`{name}` is made inside a block, not once where it is used")
    return statement


def _structure_kept(
    ctx: FileContext,
    home: Scope,
    objects: list[tuple[str, Instance]],
    after: int,
    passed: set[int],
) -> None:
    """NoFix unless nothing changes the structure of the ``objects`` (made in ``home``) once
    they are bound, after statement ``after`` of its body: every read of them there, and in
    every nested scope, calls them or a method of theirs that keeps it, or hands them to
    ``nnx.state``; reads before run before binding, and may only make the objects or call them
    in a statement of their own (``model.train()``; a call that keeps the object could change
    it later). ``passed``: the reads that are the bound uses themselves."""
    binders = {id(ctx.parent(home.bindings[name][0].node)) for name, _ in objects}
    for name, instance in objects:
        for ref in ctx.reads_of(name, home):
            if id(ref.node) in passed:
                continue
            at = _top(ctx, ref.node, home) if ref.scope is home else None
            if at is not None and at <= after:
                if id(_body(home)[at]) in binders:
                    continue
                called = _called(ctx, ref.node)
                if called is not None and isinstance(ctx.parent(called[0]), cst.Expr):
                    continue
            elif _use_keeps_structure(ctx, ref.node, instance):
                continue
            line = ctx.position(ref.node)[0]
            raise NoFix(
                f"`{name}` is used on line {line} where its structure may change or it may "
                "be kept, which a bound function would not see"
            )


UNSAFE = "unsafe: a change to their structure made elsewhere after binding is not seen"
TREE_UNSAFE = ", and tree mode raises ValueError if they hold a Variable twice"


def _how(tree: bool) -> str:
    return "nnx.jit_partial in tree mode" if tree else "nnx.cached_partial over nnx.jit"


def _bound(
    ctx: FileContext, site: JitSite, nnx: str, function: str, objects: str, tree: bool
) -> str:
    if tree:
        return f"{nnx}.jit_partial({function}, {objects}, graph=False)"
    mode = mode_at(ctx, site.report_node)
    if mode is not None:  # measured on flax 0.12.8
        raise NoFix(f"nnx.cached_partial raises ValueError in tree mode ({mode.why})")
    return f"{nnx}.cached_partial({nnx}.jit({function}), {objects})"


def _tree_ok(ctx: FileContext, instances: list[Instance]) -> bool:
    """Whether tree mode can take the objects: every class known and a pytree."""
    for instance in instances:
        cls = instance.cls
        if cls is None or any(ctx.index.pytree_false(c) for c in [cls, *ctx.index.subclasses(cls)]):
            return False
    return True


def _start(ctx: FileContext, version: tuple[int, ...], value_only: bool) -> None:
    """NoFix unless a bound form may be offered at all."""
    if not ctx.settings.unsafe_fixes:
        raise NoFix("it is unsafe")
    if version < CACHED_PARTIAL_JIT:
        raise NoFix("the target flax has no nnx.cached_partial")
    if not value_only:
        raise NoFix("the call may change the objects' structure, which a bound function fixes")


def _decorated_def(site: JitSite) -> cst.FunctionDef:
    """The def a site's only decorator compiles, defined in a module or function body."""
    fn = site.function.node if site.function is not None else None
    if site.form is not Form.DECORATOR or not isinstance(fn, cst.FunctionDef):
        raise NoFix("it is not a decorated def")
    if len(fn.decorators) != 1:
        raise NoFix("it has other decorators")
    if site.scope.kind not in (ScopeKind.MODULE, ScopeKind.FUNCTION):
        raise NoFix("it is defined in a class body")
    return fn


def _binding_place(
    ctx: FileContext,
    site: JitSite,
    fn: cst.FunctionDef,
    home: Scope,
    names: list[str],
    calls: list[tuple[cst.Call, Scope]],
) -> int:
    """The statement of ``home``'s body after which the bound function is made: after the
    objects ``names`` are made (once each, by a statement of that body) and the def; NoFix
    unless every call runs later (it stands in a later statement of that body; a function
    defined there runs after its def)."""
    after = max(_made_once(ctx, home, name) for name in names)
    if site.scope is home:
        at = _top(ctx, fn, home)
        assert at is not None  # a def of the scope's own body
        after = max(after, at)
    elif not (home.kind is ScopeKind.FUNCTION and site.scope.kind is ScopeKind.MODULE):
        raise NoFix("it is not defined where the objects are made or at module level")
    for call, _ in calls:
        at = _top(ctx, call, home)
        if at is None or at <= after:
            raise NoFix("a call of it may run before the objects are made")
    return after


def _line_after(ctx: FileContext, home: Scope, after: int, text: str) -> Edit:
    """Insert the statement ``text`` after statement ``after`` of ``home``'s body."""
    statement = _body(home)[after]
    source = ctx.source
    start, end = ctx.span(statement)
    indent = source[source.rfind("\n", 0, start) + 1 : start]
    at = source.find("\n", end)
    newline = "\r\n" if at > 0 and source[at - 1] == "\r" else "\n"
    # After a def or a class, the blank lines a formatter puts there (two at module level).
    blank = newline * (2 if home.kind is ScopeKind.MODULE else 1)
    gap = blank if isinstance(statement, cst.FunctionDef | cst.ClassDef) else ""
    line = f"{gap}{indent}{text}{newline}"
    if at < 0:
        return Edit(len(source), len(source), newline + line)
    return Edit(at + 1, at + 1, line)


def _static_only(site: JitSite, leading: list[str]) -> None:
    """NoFix unless every option marks some of the ``leading`` parameters static (binding
    them makes that moot)."""
    for arg in site.options:
        key = arg.keyword.value if arg.keyword and not arg.star else ""
        if key == "static_argnums":
            if any(int(n.value, 0) >= len(leading) for n in argnums(arg)):
                raise NoFix("other arguments are static too")
        elif key == "static_argnames":
            if any(s.evaluated_value not in leading for s in static_names(arg)):
                raise NoFix("other arguments are static too")
        else:
            raise NoFix("it has options other than the objects' static marks")


def _no_objects_passed(ctx: FileContext, calls: list[tuple[cst.Call, Scope]], skip: int) -> None:
    """NoFix if a call passes an NNX object past its first ``skip`` arguments: tree mode's
    ``jit_partial`` takes Variables only in the bound arguments (ValueError)."""
    for call, _ in calls:
        for arg in call.args[skip:]:
            value = ctx.value_at(arg.value)
            if arg.star or (isinstance(value, Instance) and (value.nnx or value.cls is None)):
                raise NoFix("a call passes other objects, which a bound function cannot take")


def _calls_of_assigned(
    ctx: FileContext, site: JitSite, home: Scope
) -> list[tuple[cst.Call, Scope]]:
    """The calls of the name the compiled function is assigned to; NoFix unless every use of
    it is one."""
    assert site.call is not None  # the shapes asked about are calls of jit
    assign = ctx.scopes.assigned_by.get(id(site.call))
    target = assign.targets[0].target if assign is not None and len(assign.targets) == 1 else None
    if not isinstance(target, cst.Name):
        raise NoFix("the compiled function is not assigned to a name")
    calls = []
    for ref in ctx.reads_of(target.value, home):
        call = ctx.scopes.call_of.get(id(ref.node))
        if call is None:
            raise NoFix(f"`{target.value}` is used other than by calling it")
        calls.append((call, ref.scope))
    return calls


def _title(names: list[str], tree: bool, then: str = "") -> str:
    named = ", ".join(f"`{n}`" for n in names)
    caveat = UNSAFE + (TREE_UNSAFE if tree else "")
    return f"Bind {named} once with {_how(tree)}{then} ({caveat})"


def bind_once_fix(
    ctx: FileContext,
    site: JitSite,
    params: dict[str, Instance],
    value_only: bool,
    why_not: str | None = None,
    pure: bool = False,
) -> Fix:
    """``@jax.jit def step(model, optimizer, x)`` called as ``step(model, optimizer, x)`` ->
    ``step_fn = nnx.jit_partial(step, model, optimizer, graph=False)`` after the objects are
    made, called as ``step_fn(x)`` (``params``: the step's NNX parameters by name, which must be
    its leading positional ones; options may only mark them static). ``why_not``: a reason the
    objects cannot be traced; ``pure``: the step changes none of them. Unsafe; NoFix where it
    is not proven to behave as before."""
    version = target_flax(ctx.settings.target_flax_version)
    _start(ctx, version, value_only)
    if why_not:
        raise NoFix(why_not)
    fn = _decorated_def(site)
    positional = [*fn.params.posonly_params, *fn.params.params]
    leading = [p.name.value for p in positional[: len(params)]]
    if set(leading) != set(params) or any(p.default for p in positional[: len(params)]):
        raise NoFix("its NNX parameters are not its leading positional ones")
    _static_only(site, leading)
    found = callers(ctx, site)
    if found.problem:
        raise NoFix(found.problem)
    if not found.calls:
        raise NoFix("it is not called in this file")
    home, passed = _bound_objects(ctx, site, leading, list(found.calls))
    _no_objects_passed(ctx, list(found.calls), len(passed))
    after = _binding_place(ctx, site, fn, home, passed, list(found.calls))
    passed_nodes = {id(call.args[i].value) for call, _ in found.calls for i in range(len(passed))}
    objects = [(name, params[param]) for name, param in zip(passed, leading, strict=True)]
    _structure_kept(ctx, home, objects, after, passed_nodes)
    tree = version >= TREE_MODE_JIT and _tree_ok(ctx, list(params.values()))
    if not tree and pure:
        raise NoFix("jax.jit tracing the objects is as fast on the target flax")
    imports = Imports(ctx)
    new = _new_name(ctx, fn.name.value)
    bound = _bound(ctx, site, imports.nnx(), fn.name.value, ", ".join(passed), tree)
    edits = [
        _decorator_line(ctx, fn.decorators[0]),
        _line_after(ctx, home, after, f"{new} = {bound}"),
    ]
    for call, _ in found.calls:
        start, end = ctx.span(call.func)
        edits.append(Edit(start, end, new))
        edits += remove_arguments(ctx, call, len(passed))
    return Fix(
        Applicability.UNSAFE, _title(passed, tree, f" and call `{new}`"), (*imports.edits, *edits)
    )


def bind_closure_fix(ctx: FileContext, site: JitSite) -> Fix:
    """``@jax.jit def forward(x): return model(x)`` -> ``def forward(model, x): ...`` and, once
    the objects and the def exist, ``forward = nnx.jit_partial(forward, model, graph=False)``:
    every call stays as it is. Unsafe; NoFix where it is not proven to behave as before."""
    version = target_flax(ctx.settings.target_flax_version)
    _start(ctx, version, keeps_structure(site.verdict))
    fn = _decorated_def(site)
    if site.options:
        raise NoFix("it has options")
    scopes = {id(c.scope) for c in site.captures}
    if any(c.indirect or c.text != c.name or c.name == "self" for c in site.captures):
        raise NoFix("a captured object is not a plain name read by the function itself")
    if len(scopes) != 1 or any(c.instance.container or c.instance.hijax for c in site.captures):
        raise NoFix("the captured objects are not plain NNX objects made in one scope")
    home = site.captures[0].scope
    if home.kind not in (ScopeKind.MODULE, ScopeKind.FUNCTION):
        raise NoFix("the objects are made in a class body, a lambda or a comprehension")
    if not all(c.instance.nnx for c in site.captures):
        raise NoFix("a captured value is not a known NNX object")
    found = callers(ctx, site)
    if found.problem:
        raise NoFix(found.problem)
    if nnx_params(ctx, site):
        raise NoFix("it also takes NNX objects as arguments, which a bound function cannot")
    _no_objects_passed(ctx, list(found.calls), 0)
    names = list(dict.fromkeys(c.name for c in site.captures))
    instances = {c.name: c.instance for c in site.captures}
    if version < TREE_MODE_JIT and site.verdict.effect is Effect.PURE:
        raise NoFix("jax.jit tracing the objects is as fast on the target flax")
    after = _binding_place(ctx, site, fn, home, names, list(found.calls))
    inside = {id(n) for c in site.captures for n in c.nodes}
    _structure_kept(ctx, home, [(n, instances[n]) for n in names], after, inside)
    imports = Imports(ctx)
    tree = version >= TREE_MODE_JIT and _tree_ok(ctx, list(instances.values()))
    name = fn.name.value
    bound = _bound(ctx, site, imports.nnx(), name, ", ".join(names), tree)
    edits = [
        _decorator_line(ctx, fn.decorators[0]),
        add_parameters(ctx, fn, names),
        _line_after(ctx, home, after, f"{name} = {bound}"),
    ]
    return Fix(
        Applicability.UNSAFE,
        _title(names, tree, " as leading parameters"),
        (*imports.edits, *edits),
    )


def bind_object_fix(ctx: FileContext, site: JitSite) -> Fix:
    """``f = jax.jit(model)`` (or ``jax.jit(model.method)``, ``jax.jit(partial(g, model))``) ->
    ``f = nnx.jit_partial(type(model).__call__, model, graph=False)`` (``g``; flax 0.12.5+;
    before, for an object whose state changes, ``nnx.cached_partial(nnx.jit(...), model)``).
    Compiled where it is called (``jax.jit(model)(x)``), the bound function is made once, after
    the object, and called there instead (``model_fn(x)``). Unsafe; NoFix where it is not proven
    to behave as before."""
    version = target_flax(ctx.settings.target_flax_version)
    _start(ctx, version, keeps_structure(site.verdict))
    if site.call is None:
        raise NoFix("it is not a call of jit")
    inline = ctx.scopes.call_of.get(id(site.call))
    if site.options:
        raise NoFix("it has options")
    if site.shape is Shape.PARTIAL:
        target = site.target
        assert isinstance(target, cst.Call)  # the partial shape is a call of the binder
        bound_args = target.args[1:]
        if site.binder == nnx_api.CACHED_PARTIAL or any(a.keyword or a.star for a in bound_args):
            raise NoFix("it binds by keyword, or through nnx.cached_partial")
        nodes: list[cst.CSTNode] = [a.value for a in bound_args]
        function = ctx.code(target.args[0].value)
        instances = [c.instance for c in site.captures]
        if len(site.captures) != len(nodes) or not all(c.bound for c in site.captures):
            raise NoFix("it binds values that are not NNX objects, or captures others")
    else:
        obj, method = compiled_object(site)
        if site.instance is None:
            raise NoFix("the object is not known")
        nodes, instances = [obj], [site.instance]
        function = f"type({ctx.code(obj)}).{method}"
    if not all(isinstance(n, cst.Name) for n in nodes):
        raise NoFix("an object is not a plain name")
    if any(not i.nnx or i.container or i.hijax for i in instances):
        raise NoFix("an object is not a plain NNX object")
    tree = version >= TREE_MODE_JIT and _tree_ok(ctx, instances)
    if not tree and site.verdict.effect is Effect.PURE:
        raise NoFix("jax.jit tracing the object is as fast on the target flax")
    names = [n.value for n in nodes if isinstance(n, cst.Name)]
    home = lookup(names[0], site.scope)[0]
    if home is None or home.kind not in (ScopeKind.MODULE, ScopeKind.FUNCTION):
        raise NoFix("the object is not made in a module or function body")
    if home is not site.scope and inline is None:
        raise NoFix("the object is not made in the scope that compiles it")
    if any(lookup(n, site.scope)[0] is not home for n in names) or len(set(names)) != len(names):
        raise NoFix("the objects are not made in one scope")
    made = max(_made_once(ctx, home, n) for n in names)
    at = _top(ctx, site.call, home)
    if at is None or at <= made:
        raise NoFix("it is not compiled by a statement of its own after the object is made")
    objects = list(zip(names, instances, strict=True))
    # Inline, the bound function is made right after the objects instead of on every call.
    _structure_kept(ctx, home, objects, made if inline is not None else at, {id(n) for n in nodes})
    calls = [(inline, site.scope)] if inline is not None else _calls_of_assigned(ctx, site, home)
    _no_objects_passed(ctx, calls, 0)
    imports = Imports(ctx)
    bound = _bound(ctx, site, imports.nnx(), function, ", ".join(names), tree)
    start, end = ctx.span(site.call)
    if inline is None:
        edits = [Edit(start, end, bound)]
        return Fix(Applicability.UNSAFE, _title(names, tree), (*imports.edits, *edits))
    method = "" if function.endswith(".__call__") else f"_{function.rpartition('.')[2]}"
    new = _new_name(ctx, f"{names[0]}{method}")
    edits = [_line_after(ctx, home, made, f"{new} = {bound}"), Edit(start, end, new)]
    title = _title(names, tree, f" after `{names[0]}` is made and call `{new}`")
    return Fix(Applicability.UNSAFE, title, (*imports.edits, *edits))
