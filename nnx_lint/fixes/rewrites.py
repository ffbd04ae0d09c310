"""The rewrites NNX001, NNX002 and NNX003 share (see the ground truth: the module must become
an argument of the compiled function; a plain `jax.jit` -> `nnx.jit` swap does not fix a
closure)."""

from __future__ import annotations

import libcst as cst

from nnx_lint.analysis import nnx_api
from nnx_lint.analysis.context import FileContext, Function, Instance
from nnx_lint.analysis.jit_sites import JitSite, Shape, callers
from nnx_lint.analysis.nnx_api import Effect, JitKind
from nnx_lint.analysis.project_index import Verdict
from nnx_lint.analysis.scopes import FastVisitor, Scope, ScopeKind, lookup
from nnx_lint.analysis.tree_mode import mode_at
from nnx_lint.analysis.versions import PYTREE_MODULES, TREE_MODE_JIT, target_flax
from nnx_lint.diagnostics import Applicability, Edit, Fix
from nnx_lint.fixes.imports import Imports, NoFix

__all__ = [
    "NoFix",
    "add_parameters",
    "argnums",
    "check_options",
    "closure_fix",
    "compiled_object",
    "concrete_use",
    "jax_traces",
    "keeps_structure",
    "leading_args",
    "module_fix",
    "possible_classes",
    "remove_arguments",
    "respect_mode",
    "static_names",
    "swap_to_nnx_jit",
    "traced_fix",
    "tree_mode",
    "tree_mode_edits",
]


# Where Python needs a value concrete: a traced one raises there (ConcretizationTypeError).
CONCRETE = frozenset({"int", "float", "bool", "complex", "range", "len", "index"})
CONCRETE_METHODS = frozenset({"item", "tolist", "__index__", "__int__", "__float__"})


def concrete_use(ctx: FileContext, function: Function, names: set[str]) -> str | None:
    """Why making the parameters ``names`` traced arguments may break the function: one is
    read where Python needs a concrete value (a condition of ``if``/``while``/a conditional
    expression/``assert``, ``int(...)``, ``range(...)``, ``.item()``). None: no such read."""
    concrete = _Concrete(ctx, function.scope, names)
    concrete.walk(function.node.body)
    found = concrete.found
    if found:
        return (
            f"`{found[0]}` is read where Python needs a concrete value (a condition, `int()`, "
            "`range()`, `.item()`): traced, its Variables are not"
        )
    return None


class _Concrete(FastVisitor):
    """The reads of ``names`` (parameters of the function whose scope is ``scope``) where
    Python needs a concrete value (``concrete_use``), in ``found``."""

    def __init__(self, ctx: FileContext, scope: Scope, names: set[str]) -> None:
        self.reads = _Reads(ctx, scope, names)
        self.found = self.reads.found

    def visit_If(self, node: cst.If) -> None:
        self.reads.walk(node.test)

    def visit_While(self, node: cst.While) -> None:
        self.reads.walk(node.test)

    def visit_IfExp(self, node: cst.IfExp) -> None:
        self.reads.walk(node.test)

    def visit_Assert(self, node: cst.Assert) -> None:
        self.reads.walk(node.test)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Name) and func.value in CONCRETE:
            for arg in node.args:
                self.reads.walk(arg.value)
        elif isinstance(func, cst.Attribute) and func.attr.value in CONCRETE_METHODS:
            self.reads.walk(func.value)


class _Reads(FastVisitor):
    """Reads (not attribute names) of ``names`` bound in ``scope``, in ``found``."""

    def __init__(self, ctx: FileContext, scope: Scope, names: set[str]) -> None:
        self.ctx, self.scope, self.names = ctx, scope, names
        self.found: list[str] = []

    def visit_Name(self, name: cst.Name) -> None:
        ref = self.ctx.reference(name)  # a read, not an attribute's name
        if (
            ref is not None
            and ref.name in self.names
            and lookup(ref.name, ref.scope)[0] is self.scope
        ):
            self.found.append(ref.name)


def possible_classes(ctx: FileContext, instance: Instance) -> list[str]:
    """The classes an object may be: its class, and where it is known from an annotation, every
    project subclass too (none when its class is unknown)."""
    cls = instance.cls
    if cls is None:
        return []
    return [cls, *ctx.index.subclasses(cls)] if instance.annotated else [cls]


def jax_traces(ctx: FileContext, instances: list[Instance], verdict: Verdict) -> bool:
    """Whether ``jax.jit`` itself can take the objects as traced arguments: the fastest correct
    form, with no graph traversal per call (on 200 layers ~4x faster per call than nnx.jit:
    benchmarks/runtime.py). It is correct only where nothing changes: the target flax makes
    Modules pytrees (0.11+), the compiled call only reads state in whatever mode the objects are
    (not a Dropout or BatchNorm that `.train()` switches), and each object is a Module whose
    class, and every project subclass an annotation admits, is a pytree (no `pytree=False`)."""
    if target_flax(ctx.settings.target_flax_version) < PYTREE_MODULES:
        return False
    if verdict.effect is not Effect.PURE or verdict.mode_dependent:
        return False
    for instance in instances:
        if not instance.nnx or instance.container or instance.hijax or instance.cls is None:
            return False
        classes = possible_classes(ctx, instance)
        if not all(ctx.index.is_module(c) and not ctx.index.pytree_false(c) for c in classes):
            return False
    return True


def tree_mode(
    ctx: FileContext, site: JitSite, instances: list[Instance], value_only: bool | None = None
) -> bool:
    """Whether to compile with ``nnx.jit(..., graph=False)``, the faster unsafe form (on 200
    layers ~4x faster per call than graph mode: benchmarks/runtime.py): asked for
    (``--unsafe-fixes``), the target flax has it (0.12.5+), the site sets no graph option, and
    every change the call makes is to a Variable's value (tree mode drops a new or replaced
    attribute silently): ``value_only``, by default told by the site's verdict; and every one
    of the ``instances`` is of a known class that is a pytree (tree mode cannot take a
    `pytree=False` Module). Unsafe: it raises ValueError where an object holds one Variable or
    submodule at two places."""
    if not ctx.settings.unsafe_fixes:
        return False
    if target_flax(ctx.settings.target_flax_version) < TREE_MODE_JIT:
        return False
    if any(a.keyword and a.keyword.value in nnx_api.GRAPH_OPTIONS for a in site.options):
        return False
    if site.verdict.nested is not None:  # an NNX transform runs inside: not proven there
        return False
    for instance in instances:
        classes = possible_classes(ctx, instance)
        if not classes or any(ctx.index.pytree_false(c) for c in classes):
            return False
    if value_only is None:
        verdict = site.verdict
        value_only = verdict.effect is not Effect.UNKNOWN and verdict.restructures is False
    return value_only


def respect_mode(ctx: FileContext, node: cst.CSTNode, value_only: bool) -> None:
    """NoFix where an NNX transform made at ``node`` would run in tree mode (the file sets it:
    ``analysis.tree_mode``) and the call may change the objects' structure, which tree mode
    drops silently (NNX005): the fixed program would lose those changes without a word."""
    if value_only:
        return
    mode = mode_at(ctx, node)
    if mode is not None:
        raise NoFix(
            f"NNX transforms made here run in tree mode ({mode.why}), which would drop the "
            "changes the call makes to the objects' structure"
        )


def keeps_structure(verdict: Verdict) -> bool:
    """The call changes Variables' values only, or nothing."""
    return verdict.effect is Effect.PURE or (
        verdict.effect is Effect.CHANGES and verdict.restructures is False
    )


def code(node: cst.CSTNode) -> str:
    """The source of a node, as written."""
    return cst.Module([]).code_for_node(node)


def within(node: cst.CSTNode, root: cst.CSTNode) -> bool:
    """Is ``node`` ``root`` or inside it?"""
    todo = [root]
    while todo:
        current = todo.pop()
        if current is node:
            return True
        todo.extend(current.children)
    return False


def check_options(site: JitSite, new_arguments: int = 0) -> None:
    """NoFix unless the site's options carry over to nnx.jit with ``new_arguments`` leading
    arguments added."""
    for arg in site.options:
        if arg.star:
            raise NoFix("its options are passed with * or ** and cannot be checked")
        if arg.keyword is None:
            raise NoFix("it passes jit options positionally, which nnx.jit does not take")
        if site.jit.kind is JitKind.JAX and arg.keyword.value in nnx_api.NNX_JIT_UNSUPPORTED:
            raise NoFix(f"nnx.jit does not take `{arg.keyword.value}`")
        if new_arguments and arg.keyword.value in nnx_api.PER_ARGUMENT_OPTIONS:
            raise NoFix(f"`{arg.keyword.value}` lists the arguments, which the fix changes")


def argnums(arg: cst.Arg) -> list[cst.Integer]:
    """The literal integers of an argnums option (an int, or a tuple or list of ints)."""
    value = arg.value
    if isinstance(value, cst.Integer):
        return [value]
    if isinstance(value, cst.Tuple | cst.List):
        ints = [e.value for e in value.elements if isinstance(e.value, cst.Integer)]
        if len(ints) == len(value.elements):  # every element is one
            return ints
    assert arg.keyword is not None  # argnums options are passed by keyword
    raise NoFix(f"`{arg.keyword.value}` is not a literal, so it cannot be renumbered")


def static_names(arg: cst.Arg) -> list[cst.SimpleString]:
    """The literal strings of a ``static_argnames`` option (one string, or a tuple or list of
    them)."""
    value = arg.value
    values = [value]
    if isinstance(value, cst.Tuple | cst.List):
        values = [e.value for e in value.elements]
    strings = [v for v in values if isinstance(v, cst.SimpleString)]
    if len(strings) != len(values):
        raise NoFix("`static_argnames` is not a literal")
    return strings


def _shifted(ctx: FileContext, arg: cst.Arg, by: int) -> str:
    """The source of ``arg``'s value with its argnums shifted by ``by`` positions."""
    new = {id(n): cst.Integer(str(int(n.value, 0) + by)) for n in argnums(arg)}

    class Shift(cst.CSTTransformer):
        def leave_Integer(
            self, original_node: cst.Integer, updated_node: cst.Integer
        ) -> cst.BaseExpression:
            return new.get(id(original_node), updated_node)

    shifted = arg.value.visit(Shift())
    assert isinstance(shifted, cst.CSTNode)  # Shift neither removes nor flattens a node
    return ctx.code(shifted)


def _argnum_options(site: JitSite) -> list[cst.Arg]:
    return [a for a in site.options if a.keyword and a.keyword.value in nnx_api.ARGNUM_OPTIONS]


# -- module and bound-method shapes


def compiled_object(site: JitSite) -> tuple[cst.CSTNode, str]:
    """The object a module or method shape compiles, and the method (``__call__``)."""
    if site.shape is Shape.METHOD:
        assert isinstance(site.target, cst.Attribute)
        return site.target.value, site.target.attr.value
    return site.target, "__call__"


def module_fix(ctx: FileContext, site: JitSite) -> Fix:
    """``jax.jit(obj)`` -> ``functools.partial(nnx.jit(type(obj).__call__), obj)``."""
    check_options(site, new_arguments=1)
    obj_node, method = compiled_object(site)
    if not _simple(obj_node):
        raise NoFix("the object is not a plain name or attribute, so it cannot be repeated")
    if site.instance is not None and not site.instance.nnx:
        raise NoFix(f"`{ctx.code(obj_node)}` is not an NNX object, which nnx.jit cannot take")
    obj = ctx.code(obj_node)
    imports = Imports(ctx)
    assert site.instance is not None  # the module and method shapes know their object
    kind = JitKind.JAX if jax_traces(ctx, [site.instance], site.verdict) else JitKind.NNX
    if site.jit.kind is kind and within(site.jit.spelled, site.report_node):
        jit = ctx.code(site.jit.spelled)  # the file's own spelling
    elif kind is JitKind.JAX:
        jit = imports.jax_jit()
    else:
        jit = f"{imports.nnx()}.jit"
    opts = []
    for arg in site.options:
        assert arg.keyword is not None  # check_options: every option is passed by keyword
        key = arg.keyword.value
        value = _shifted(ctx, arg, 1) if key in nnx_api.ARGNUM_OPTIONS else ctx.code(arg.value)
        opts.append(f"{key}={value}")
    assert site.call is not None  # the module and method shapes are found in calls of jit
    outer = ctx.scopes.call_of.get(id(site.call))
    tree = outer is None and kind is JitKind.NNX and tree_mode(ctx, site, [site.instance])
    if tree:
        opts.append("graph=False")
    compiled = f"{jit}(type({obj}).{method}{''.join(', ' + o for o in opts)})"
    start, end = ctx.span(site.call)
    if outer is None:  # keeps every call site
        partial = imports.partial()
        edits = [Edit(start, end, f"{partial}({compiled}, {obj})")]
        title = f"Compile `type({obj}).{method}` with {kind.spelled} and bind `{obj}`"
        if tree:
            title = (
                f"Compile `type({obj}).{method}` with nnx.jit in tree mode and bind `{obj}` "
                "(unsafe: tree mode raises ValueError if it holds a Variable at two places)"
            )
        safety = Applicability.UNSAFE if tree else Applicability.SAFE
        return Fix(safety, title, tuple(imports.edits + edits))
    if kind is JitKind.NNX:
        raise NoFix(
            "it is compiled where it is called, and nnx.jit would trace it again on every "
            "call; compile it once and pass the object on each call"
        )
    # Called inline: pass the object to the compiled function (jax.jit compiles one function
    # once: it caches by the function, `type(obj).method`).
    edits = [Edit(start, end, compiled), leading_args(ctx, outer, [obj])]
    return Fix(
        Applicability.UNSAFE,
        f"Call `{compiled}` with `{obj}` as its first argument",
        tuple(imports.edits + edits),
    )


def _simple(node: cst.CSTNode) -> bool:
    while isinstance(node, cst.Attribute):
        node = node.value
    return isinstance(node, cst.Name)


def leading_args(ctx: FileContext, call: cst.Call, names: list[str]) -> Edit:
    """Insert ``names`` as the first arguments of ``call``."""
    text = ", ".join(names)
    if call.args:
        start = ctx.span(call.args[0])[0]
        return Edit(start, start, text + ", ")
    end = ctx.span(call)[1] - 1  # the closing parenthesis
    return Edit(end, end, text)


# -- closures


def closure_fix(ctx: FileContext, site: JitSite) -> Fix:
    """Captured objects become leading parameters; every call site passes them."""
    check_options(site, new_arguments=len(site.captures))
    assert site.function is not None
    parent = site.function.scope.parent
    if parent is not None and parent.kind is ScopeKind.CLASS:
        raise NoFix("it is defined in a class body, and its callers go through the class")
    for cap in site.captures:
        if cap.indirect:
            raise NoFix(f"`{cap.text}` is read through `{cap.indirect}`, so pass it by hand")
        if cap.text != cap.name or cap.name == "self":
            raise NoFix(f"`{cap.text}` would need a new parameter name; pass it by hand")
    names = [c.name for c in site.captures]
    edits: list[Edit] = []
    imports = Imports(ctx)
    instances = [c.instance for c in site.captures]
    kind = JitKind.JAX if jax_traces(ctx, instances, site.verdict) else JitKind.NNX
    tree = kind is JitKind.NNX and tree_mode(ctx, site, instances)
    if tree:
        edits += tree_mode_edits(ctx, site, imports)
    elif site.jit.kind is JitKind.JAX and kind is JitKind.NNX:
        edits.append(swap_to_nnx_jit(ctx, site, imports))
    for arg in _argnum_options(site):
        assert arg.keyword is not None  # _argnum_options: options passed by keyword
        if not within(arg, site.report_node):
            raise NoFix(f"`{arg.keyword.value}` is set through an alias defined elsewhere")
        for num in argnums(arg):
            start, end = ctx.span(num)
            edits.append(Edit(start, end, str(int(num.value, 0) + len(names))))
    edits.append(add_parameters(ctx, site.function.node, names))
    for call in _call_sites(ctx, site):
        edits.append(leading_args(ctx, call, names))
    if tree:
        how = "nnx.jit in tree mode (it raises ValueError if they hold a Variable at two places)"
    else:
        how = "jax.jit, which traces them" if site.jit.kind is kind else "nnx.jit"
    return Fix(
        Applicability.UNSAFE,
        f"Pass {', '.join(f'`{n}`' for n in names)} as arguments and compile with {how}",
        tuple(imports.edits + edits),
    )


def tree_mode_edits(ctx: FileContext, site: JitSite, imports: Imports) -> list[Edit]:
    """``nnx.jit`` in tree mode where the site spells jit: ``@jax.jit`` ->
    ``@functools.partial(nnx.jit, graph=False)``; ``jax.jit(f, ...)``, ``@jax.jit(...)`` and
    ``@partial(jax.jit, ...)`` get ``graph=False`` as their last argument."""
    if not within(site.jit.spelled, site.report_node):
        raise NoFix("jit is reached through an alias defined elsewhere")
    call = site.call if site.call is not None else site.report_node
    if not isinstance(call, cst.Call):  # a bare decorator: `@jax.jit`
        start, end = ctx.span(site.report_node)
        return [Edit(start, end, f"{imports.partial()}({imports.nnx()}.jit, graph=False)")]
    edits = [] if site.jit.kind is JitKind.NNX else [swap_to_nnx_jit(ctx, site, imports)]
    if call.args:  # after the last one's value (before a trailing comma: `f(a, b,)`)
        at = ctx.span(call.args[-1])[1]
        return [*edits, Edit(at, at, ", graph=False")]
    end = ctx.span(call)[1] - 1  # the closing parenthesis
    return [*edits, Edit(end, end, "graph=False")]


def swap_to_nnx_jit(ctx: FileContext, site: JitSite, imports: Imports) -> Edit:
    """Replace the site's own spelling of jax.jit with nnx.jit (options stay as they are)."""
    if not within(site.jit.spelled, site.report_node):
        raise NoFix("jit is reached through an alias defined elsewhere")
    start, end = ctx.span(site.jit.spelled)
    return Edit(start, end, f"{imports.nnx()}.jit")


def add_parameters(ctx: FileContext, fn: cst.FunctionDef | cst.Lambda, names: list[str]) -> Edit:
    """Insert ``names`` as the first parameters of ``fn``."""
    params = fn.params
    first = [*params.posonly_params, *params.params]
    node: cst.Param | cst.ParamStar | None
    if first:
        node = first[0]
    elif isinstance(params.star_arg, cst.Param | cst.ParamStar):
        node = params.star_arg
    elif params.kwonly_params:
        node = params.kwonly_params[0]
    elif params.star_kwarg is not None:
        node = params.star_kwarg
    else:
        node = None
    text = ", ".join(names)
    if node is not None:
        start = ctx.span(node)[0]
        return Edit(start, start, text + ", ")
    start = ctx.span(fn)[0]
    if isinstance(fn, cst.Lambda):  # `lambda: ...` -> `lambda model: ...`
        at = start + len("lambda")
        return Edit(at, ctx.span(fn.body)[0], f" {text}: ")
    # `def f():` -> `def f(model):` -- just after the opening parenthesis (nothing but
    # spaces stands between a def's name and it; a comment may stand inside).
    at = ctx.source.index("(", ctx.span(fn.name)[1]) + 1
    return Edit(at, at, text)


def _call_sites(ctx: FileContext, site: JitSite) -> list[cst.Call]:
    """Every call of the compiled function; NoFix unless all references are such calls that
    can see the captured names."""
    found = callers(ctx, site)
    if found.problem:
        raise NoFix(found.problem)
    for _call, scope in found.calls:
        for cap in site.captures:
            if lookup(cap.name, scope)[0] is not cap.scope:
                raise NoFix(f"`{cap.name}` is not visible where the function is called")
    return [call for call, _ in found.calls]


def partial_fix(ctx: FileContext, site: JitSite) -> Fix:
    """``jax.jit(partial(f, model), ...)`` -> ``partial(nnx.jit(f, ...), model)``: the bound
    objects become arguments of the compiled function; the partial object is called as
    before."""
    target = site.target
    assert isinstance(target, cst.Call) and site.function is not None and site.call is not None
    bound = target.args[1:]
    if not all(cap.bound for cap in site.captures):  # read from an enclosing scope too
        raise NoFix("the function also captures NNX objects; pass those in first")
    if any(a.keyword or a.star for a in bound):
        raise NoFix("the partial binds keyword arguments, which nnx.jit would trace")
    check_options(site, new_arguments=len(bound))
    imports = Imports(ctx)
    instances = [c.instance for c in site.captures]
    # nnx.cached_partial takes functions compiled by nnx.jit only, and fails in tree mode
    # (ValueError, as under graph_updates=False).
    cached = site.binder == nnx_api.CACHED_PARTIAL
    if cached and (mode := mode_at(ctx, site.report_node)) is not None:
        raise NoFix(f"nnx.cached_partial raises ValueError in tree mode ({mode.why})")
    fast = not cached and jax_traces(ctx, instances, site.verdict)
    if fast and site.jit.kind is JitKind.JAX and within(site.jit.spelled, site.report_node):
        jit = ctx.code(site.jit.spelled)
    else:
        jit = imports.jax_jit() if fast else f"{imports.nnx()}.jit"
    opts = []
    for arg in site.options:
        assert arg.keyword is not None  # check_options: every option is passed by keyword
        key = arg.keyword.value
        by = len(bound)
        value = _shifted(ctx, arg, by) if key in nnx_api.ARGNUM_OPTIONS else ctx.code(arg.value)
        opts.append(f"{key}={value}")
    tree = not fast and not cached and tree_mode(ctx, site, instances)
    if tree:
        opts.append("graph=False")
    function = ctx.code(target.args[0].value)
    compiled = f"{jit}({function}{''.join(', ' + o for o in opts)})"
    args = ", ".join(ctx.code(a.value) for a in bound)
    named = ", ".join(f"`{ctx.code(a.value)}`" for a in bound)
    start, end = ctx.span(site.call)
    text = f"{ctx.code(target.func)}({compiled}, {args})"
    # Bound values that are not NNX objects become traced arguments too, and so do the
    # objects' Variables: where the function needs them concrete, the fix breaks it.
    others = len(bound) - len(site.captures)  # every capture is bound (checked above)
    params = [*site.function.node.params.posonly_params, *site.function.node.params.params]
    bound_names = {p.name.value for p in params[: len(bound)]}
    why = concrete_use(ctx, site.function, bound_names)
    if why is None and others:
        why = "other bound values become traced arguments"
    if why is None and tree:
        why = "tree mode raises ValueError if they hold a Variable at two places"
    how = "jax.jit" if fast else "nnx.jit in tree mode" if tree else "nnx.jit"
    return Fix(
        Applicability.SAFE if why is None else Applicability.UNSAFE,
        f"Bind {named} to the function compiled with {how}"
        + ("" if why is None else f" (unsafe: {why})"),
        (*imports.edits, Edit(start, end, text)),
    )


def site_fix(ctx: FileContext, site: JitSite) -> Fix:
    """The fix for jit applied to an NNX object, a bound method, a closure or a partial
    binding NNX objects (NoFix: why not)."""
    if site.shape is Shape.CLOSURE:
        return closure_fix(ctx, site)
    if site.shape is Shape.PARTIAL:
        return partial_fix(ctx, site)
    return module_fix(ctx, site)


# -- static NNX arguments


def traced_fix(
    ctx: FileContext,
    site: JitSite,
    indexes: set[int],
    names: set[str],
    why_unsafe: str | None,
    keep_jax: bool = False,
    tree: bool = False,
) -> Fix:
    """``jax.jit`` -> ``nnx.jit`` with the parameters at ``indexes`` (positions) and named
    ``names`` no longer static: nnx.jit traces their state and propagates its changes. Call
    sites stay as they are; ``why_unsafe``: what may still behave differently. ``keep_jax``:
    the objects only need tracing (``jax_traces``), so jax.jit stays; ``tree``: nnx.jit in tree
    mode (``tree_mode``; unsafe)."""
    check_options(site)
    imports = Imports(ctx)
    removed: set[int] = set()
    edits: list[Edit] = []
    for arg in site.options:
        key = arg.keyword.value if arg.keyword else ""
        if key == "static_argnums":
            kept = [ctx.code(n) for n in argnums(arg) if int(n.value, 0) not in indexes]
            count = len(argnums(arg))
        elif key == "static_argnames":
            strings = static_names(arg)
            kept = [ctx.code(s) for s in strings if s.evaluated_value not in names]
            count = len(strings)
        else:
            continue
        if len(kept) == count:
            continue
        if not within(arg, site.report_node):
            raise NoFix(f"`{key}` is set through an alias defined elsewhere")
        if not kept:
            removed.add(id(arg))
            continue
        start, end = ctx.span(arg.value)
        if isinstance(arg.value, cst.List):
            edits.append(Edit(start, end, f"[{', '.join(kept)}]"))
        elif isinstance(arg.value, cst.Tuple):  # its span leaves out the parentheses
            edits.append(Edit(start, end, f"{', '.join(kept)}{',' if len(kept) == 1 else ''}"))
        else:
            edits.append(Edit(start, end, kept[0]))
    swapped = False
    holder: cst.Call | None = None  # the call whose arguments hold the static options
    options = {id(a) for a in site.options}
    for call in _calls_within(site.report_node):
        args = list(call.args)
        if any(id(a) in options for a in args):
            holder = call
        if not any(id(a) in removed for a in args):
            continue
        if all(id(a) in removed or a.value is site.jit.spelled for a in args):
            # `partial(jax.jit, static_argnums=0)` or `jax.jit(static_argnums=0)` -> `nnx.jit`
            start, end = ctx.span(call)
            jit = ctx.code(site.jit.spelled) if keep_jax else f"{imports.nnx()}.jit"
            if tree:
                jit = f"{imports.partial()}({jit}, graph=False)"
            edits.append(Edit(start, end, jit))
            swapped = True
        else:
            edits += _removals(ctx, args, removed)
    if not swapped and not keep_jax:
        edits.append(swap_to_nnx_jit(ctx, site, imports))
        if tree:
            assert holder is not None and holder.args  # it holds the static options
            at = _end(ctx, holder.args[-1].value)  # after the last value (and its removal)
            edits.append(Edit(at, at, ", graph=False"))
    if tree:
        why_unsafe = why_unsafe or "tree mode raises ValueError if it holds a Variable twice"
    how = "Compile with nnx.jit, which traces NNX arguments,"
    if keep_jax:
        how = "Trace the NNX arguments with jax.jit"
    elif tree:
        how = "Compile with nnx.jit in tree mode, which traces NNX arguments,"
    return Fix(
        Applicability.SAFE if why_unsafe is None else Applicability.UNSAFE,
        f"{how} instead of a static argument" + (f" (unsafe: {why_unsafe})" if why_unsafe else ""),
        (*imports.edits, *edits),
    )


def _calls_within(root: cst.CSTNode) -> list[cst.Call]:
    calls: list[cst.Call] = []

    class Calls(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            calls.append(node)

    root.visit(Calls())
    return calls


def _end(ctx: FileContext, value: cst.BaseExpression) -> int:
    """Where ``value`` ends, with its closing parentheses (a node's span leaves them out:
    `("model",)`)."""
    end = ctx.span(value)[1]
    for _ in value.rpar:
        end = ctx.source.index(")", end) + 1
    return end


def remove_arguments(ctx: FileContext, call: cst.Call, count: int) -> list[Edit]:
    """Edits deleting the first ``count`` arguments of ``call``."""
    args = list(call.args)
    if count < len(args):
        return _removals(ctx, args, {id(a) for a in args[:count]})
    # All of them: from the first to the closing parenthesis (a trailing comma included).
    return [Edit(ctx.span(args[0])[0], ctx.span(call)[1] - 1, "")]


def _removals(ctx: FileContext, args: list[cst.Arg], removed: set[int]) -> list[Edit]:
    """Edits deleting the ``removed`` arguments of a call, with their separating commas."""
    edits: list[Edit] = []
    i = 0
    while i < len(args):
        if id(args[i]) not in removed:
            i += 1
            continue
        j = i
        while j + 1 < len(args) and id(args[j + 1]) in removed:
            j += 1
        if i > 0:  # `f(a, static_argnums=0)`: from after `a` to after the removed value
            edits.append(Edit(_end(ctx, args[i - 1].value), _end(ctx, args[j].value), ""))
        else:  # the first ones: up to the next kept argument
            assert j + 1 < len(args)  # the caller keeps at least one argument
            edits.append(Edit(ctx.span(args[i])[0], ctx.span(args[j + 1])[0], ""))
        i = j + 1
    return edits
