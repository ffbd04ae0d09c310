"""The rewrites NNX001 and NNX002 share (see the ground truth: the module must become an
argument of the compiled function; a plain `jax.jit` -> `nnx.jit` swap does not fix it)."""

from __future__ import annotations

import libcst as cst

from nnx_lint.analysis import nnx_api
from nnx_lint.analysis.context import FileContext
from nnx_lint.analysis.jit_sites import JitSite, callers
from nnx_lint.analysis.scopes import lookup
from nnx_lint.diagnostics import Edit, Fix
from nnx_lint.import_placement import insertion


class NoFix(Exception):
    """Why no fix is offered; the reason is added to the diagnostic's message."""


def describe(site: JitSite, jit_name: str) -> str:
    """What the diagnostic says: the shape, and what goes wrong at run time."""
    state = site.changes_state
    if site.shape == "closure":
        names = ", ".join(
            f"`{c.text}`" + (f" (through `{c.indirect}`)" if c.indirect else "")
            for c in site.captures
        )
        fn = site.function.node
        what = f"function `{fn.name.value}`" if isinstance(fn, cst.FunctionDef) else "a lambda"
        plural = "objects" if len(site.captures) > 1 else "object"
        head = (
            f"`{jit_name}` compiles {what}, which captures NNX {plural} {names} "
            "from an enclosing scope"
        )
    elif site.shape == "method":
        head = f"`{jit_name}` applied to a bound method of an NNX object (`{_code(site.target)}`)"
    else:
        head = f"`{jit_name}` applied to an NNX object (`{_code(site.target)}`)"
    if state is True:
        tail = (
            "its state changes when it is used, so tracing fails (TraceContextError; a ValueError "
            "when nnx.grad runs inside)"
        )
    elif state is False:
        tail = "its parameters are compiled in as constants, so later updates are ignored"
    else:
        tail = (
            "this raises TraceContextError if its state changes when called, and otherwise "
            "compiles its parameters in as stale constants"
        )
    if jit_name == "nnx.jit":
        tail += " (nnx.jit only propagates the state of NNX objects passed as arguments)"
    return f"{head}: {tail}"


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


# -- helpers on the file


def _import_name(ctx: FileContext, qualname: str) -> str | None:
    for name, bindings in ctx.module_scope.bindings.items():
        if all(b.kind == "import" and b.qualname == qualname for b in bindings):
            return name
    return None


class Imports:
    """Local spellings of flax.nnx and functools.partial, adding imports where missing."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.edits: list[Edit] = []

    def _add(self, line: str) -> None:
        ctx = self.ctx
        first_party = {m.partition(".")[0] for m in ctx.index.modules}
        self.edits.append(insertion(ctx.module, ctx.source, ctx.span, line, first_party))

    def _free(self, name: str) -> bool:
        return name not in self.ctx.module_scope.bindings and not any(
            name in s.bindings for s in self.ctx.module_scope.walk()
        )

    def _spelling(self, qualname: str, new: str, line: str) -> str:
        """How the file spells ``parent.child`` (``qualname``): an import of it, an import of
        its parent plus the attribute, or else ``new`` after adding the import ``line``."""
        name = _import_name(self.ctx, qualname)
        if name:
            return name
        parent, _, child = qualname.rpartition(".")
        parent_name = _import_name(self.ctx, parent)
        if parent_name:
            return f"{parent_name}.{child}"
        head = new.partition(".")[0]
        if not self._free(head):
            raise NoFix(f"the name `{head}` is taken in this file; import it and apply by hand")
        self._add(line)
        return new

    def nnx(self) -> str:
        return self._spelling(nnx_api.NNX, "nnx", "from flax import nnx")

    def partial(self) -> str:
        return self._spelling("functools.partial", "functools.partial", "import functools")


def within(node: cst.CSTNode, root: cst.CSTNode) -> bool:
    found = False

    class Finder(cst.CSTVisitor):
        def on_visit(self, n: cst.CSTNode) -> bool:
            nonlocal found
            if n is node:
                found = True
            return not found

    root.visit(Finder())
    return found


def check_options(site: JitSite, new_arguments: int = 0) -> None:
    """NoFix unless the site's options carry over to nnx.jit with ``new_arguments`` leading
    arguments added."""
    for arg in site.options:
        if arg.star:
            raise NoFix("its options are passed with * or ** and cannot be checked")
        if arg.keyword is None:
            raise NoFix("it passes jit options positionally, which nnx.jit does not take")
        if site.jit.kind == "jax" and arg.keyword.value in nnx_api.NNX_JIT_UNSUPPORTED:
            raise NoFix(f"nnx.jit does not take `{arg.keyword.value}`")
        if new_arguments and arg.keyword.value in nnx_api.PER_ARGUMENT_OPTIONS:
            raise NoFix(f"`{arg.keyword.value}` lists the arguments, which the fix changes")


def argnums(arg: cst.Arg) -> list[cst.Integer]:
    """The literal integers of an argnums option (an int, or a tuple or list of ints)."""
    value = arg.value
    if isinstance(value, cst.Integer):
        return [value]
    if isinstance(value, cst.Tuple | cst.List) and all(
        isinstance(e.value, cst.Integer) for e in value.elements
    ):
        return [e.value for e in value.elements]
    raise NoFix(f"`{arg.keyword.value}` is not a literal, so it cannot be renumbered")


def _shifted(ctx: FileContext, arg: cst.Arg, by: int) -> str:
    """The source of ``arg``'s value with its argnums shifted by ``by`` positions."""
    new = {id(n): cst.Integer(str(int(n.value, 0) + by)) for n in argnums(arg)}

    class Shift(cst.CSTTransformer):
        def leave_Integer(self, original_node, updated_node):
            return new.get(id(original_node), updated_node)

    return ctx.code(arg.value.visit(Shift()))


def _argnum_options(site: JitSite) -> list[cst.Arg]:
    return [a for a in site.options if a.keyword and a.keyword.value in nnx_api.ARGNUM_OPTIONS]


# -- module and bound-method shapes


def module_fix(ctx: FileContext, site: JitSite) -> Fix:
    """``jax.jit(obj)`` -> ``functools.partial(nnx.jit(type(obj).__call__), obj)``."""
    check_options(site, new_arguments=1)
    if site.shape == "method":
        obj_node, method = site.target.value, site.target.attr.value
    else:
        obj_node, method = site.target, "__call__"
    if not _simple(obj_node):
        raise NoFix("the object is not a plain name or attribute, so it cannot be repeated")
    obj = ctx.code(obj_node)
    imports = Imports(ctx)
    if site.jit.kind == "nnx" and within(site.jit.spelled, site.report_node):
        jit = ctx.code(site.jit.spelled)  # the file's own spelling of nnx.jit
    else:
        jit = f"{imports.nnx()}.jit"
    opts = []
    for arg in site.options:
        key = arg.keyword.value
        value = _shifted(ctx, arg, 1) if key in nnx_api.ARGNUM_OPTIONS else ctx.code(arg.value)
        opts.append(f"{key}={value}")
    compiled = f"{jit}(type({obj}).{method}{''.join(', ' + o for o in opts)})"
    start, end = ctx.span(site.call)
    outer = ctx.scopes.call_of.get(id(site.call))
    if outer is None:  # keeps every call site: the safe fix
        partial = imports.partial()
        edits = [Edit(start, end, f"{partial}({compiled}, {obj})")]
        return Fix(
            "safe",
            f"Compile `type({obj}).{method}` with nnx.jit and bind `{obj}`",
            tuple(imports.edits + edits),
        )
    # Called inline: pass the object to the compiled function.
    edits = [Edit(start, end, compiled), _leading_args(ctx, outer, [obj])]
    return Fix(
        "unsafe",
        f"Call `{compiled}` with `{obj}` as its first argument",
        tuple(imports.edits + edits),
    )


def _simple(node: cst.CSTNode) -> bool:
    while isinstance(node, cst.Attribute):
        node = node.value
    return isinstance(node, cst.Name)


def _leading_args(ctx: FileContext, call: cst.Call, names: list[str]) -> Edit:
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
    if site.function.scope.parent.kind == "class":
        raise NoFix("it is defined in a class body, and its callers go through the class")
    for cap in site.captures:
        if cap.indirect:
            raise NoFix(f"`{cap.text}` is read through `{cap.indirect}`, so pass it by hand")
        if cap.text != cap.name or cap.name == "self":
            raise NoFix(f"`{cap.text}` would need a new parameter name; pass it by hand")
    names = [c.name for c in site.captures]
    edits: list[Edit] = []
    imports = Imports(ctx)
    if site.jit.kind == "jax":
        edits.append(swap_to_nnx_jit(ctx, site, imports))
    for arg in _argnum_options(site):
        if not within(arg, site.report_node):
            raise NoFix(f"`{arg.keyword.value}` is set through an alias defined elsewhere")
        for num in argnums(arg):
            start, end = ctx.span(num)
            edits.append(Edit(start, end, str(int(num.value, 0) + len(names))))
    edits.append(_parameters(ctx, site.function.node, names))
    for call in _call_sites(ctx, site):
        edits.append(_leading_args(ctx, call, names))
    return Fix(
        "unsafe",
        f"Pass {', '.join(f'`{n}`' for n in names)} as arguments and compile with nnx.jit",
        tuple(imports.edits + edits),
    )


def swap_to_nnx_jit(ctx: FileContext, site: JitSite, imports: Imports) -> Edit:
    """Replace the site's own spelling of jax.jit with nnx.jit (options stay as they are)."""
    if not within(site.jit.spelled, site.report_node):
        raise NoFix("jit is reached through an alias defined elsewhere")
    start, end = ctx.span(site.jit.spelled)
    return Edit(start, end, f"{imports.nnx()}.jit")


def _parameters(ctx: FileContext, fn: cst.FunctionDef | cst.Lambda, names: list[str]) -> Edit:
    params = fn.params
    first = [*params.posonly_params, *params.params]
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


def diagnose(ctx: FileContext, site: JitSite, code: str, jit_name: str):
    """The diagnostic for one jit site, with its fix or the reason there is none."""
    from nnx_lint.diagnostics import Diagnostic

    message = describe(site, jit_name)
    try:
        if site.shape == "closure":
            fix = closure_fix(ctx, site)
        else:
            fix = module_fix(ctx, site)
    except NoFix as why:
        fix = None
        if site.shape == "closure":
            names = ", ".join(f"`{c.text}`" for c in site.captures)
            if len(site.captures) == 1:
                advice = f"make {names} a parameter of the function and pass it in"
            else:
                advice = f"make {names} parameters of the function and pass them in"
            advice += ", compiling it with nnx.jit"
        else:
            obj = _code(site.target.value if site.shape == "method" else site.target)
            method = site.target.attr.value if site.shape == "method" else "__call__"
            advice = f"compile `type({obj}).{method}` with nnx.jit and pass `{obj}` to it"
        message += f"; {advice} (no automatic fix: {why})"
    line, col, end_line, end_col = ctx.position(site.report_node)
    return Diagnostic(code, message, ctx.path, line, col, end_line, end_col, fix)


def check(ctx: FileContext, kind: str, code: str):
    from nnx_lint.analysis.jit_sites import find_jit_sites

    if ctx.hijax:
        return
    jit_name = f"{kind}.jit"
    for site in find_jit_sites(ctx):
        if site.jit.kind == kind and site.shape != "function":
            yield diagnose(ctx, site, code, jit_name)
