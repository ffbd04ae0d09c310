"""Where an NNX transform runs in tree mode (flax 0.12.5+), which drops structural updates.

An NNX transform reads the mode when it is made (``nnx.jit(f)``, ``@nnx.vmap``): its own
``graph=``/``graph_updates=`` options, else the current ``nnx.set_graph_mode`` /
``nnx.set_graph_updates`` value, whose default is flax's ``nnx_graph_mode`` /
``nnx_graph_updates`` flag (``flax.config.update(...)``, or the environment variables
``NNX_GRAPH_MODE`` / ``NNX_GRAPH_UPDATES`` read when flax is imported). Either one off drops a
new or replaced attribute, a replaced Variable and ``sow`` silently
(``../shared/flax-ground-truth.md``, "Tree mode"; measured on flax 0.12.8 and 0.12.12 for
nnx.jit, grad, value_and_grad, vmap and remat). ``nnx.set_graph_mode(False)`` is
process-wide from the call on, for its block as a ``with``, and for the function's body as a
decorator.

What this module tells from one file: the options at the transform, then the statements
before it in every block around it (the last mode call wins), the ``with`` blocks and the
decorators of the functions around it, and environment variables set before flax is
imported. A mode set in another file, or by a function called earlier, is not seen.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import libcst as cst

from nnx_lint.analysis import nnx_api
from nnx_lint.analysis.context import FileContext, Function, Instance, Jit, Ref, literal
from nnx_lint.analysis.jit_sites import (
    Form,
    JitSite,
    classify,
    find_jit_sites,
    function_target,
    instance_verdict,
)
from nnx_lint.analysis.nnx_api import Effect, JitKind
from nnx_lint.analysis.scopes import FastVisitor, Scope
from nnx_lint.analysis.state_changes import NnxParam, Resolver, chain


class Option(enum.Enum):
    """What a setting turns off: graph mode (tree mode), or graph updates (simple graph mode);
    the value is the transforms' keyword."""

    GRAPH = "graph"
    GRAPH_UPDATES = "graph_updates"


# The mode's setters and what each turns off, by qualified name.
SETTERS = {
    f"{nnx_api.NNX}.set_graph_mode": Option.GRAPH,
    f"{nnx_api.NNX}.set_graph_updates": Option.GRAPH_UPDATES,
    f"{nnx_api.NNX}.graph.set_graph_mode": Option.GRAPH,
    f"{nnx_api.NNX}.graph.set_graph_updates": Option.GRAPH_UPDATES,
}
FLAGS = {"nnx_graph_mode": Option.GRAPH, "nnx_graph_updates": Option.GRAPH_UPDATES}
ENVIRON = {"NNX_GRAPH_MODE": Option.GRAPH, "NNX_GRAPH_UPDATES": Option.GRAPH_UPDATES}
CONFIG_UPDATE = ("flax.config.update", "flax.configurations.config.update")
# flax's static_bool_env: the words it reads as False (case-insensitive).
FALSE_WORDS = frozenset({"n", "no", "f", "false", "off", "0"})
TRUE_WORDS = frozenset({"y", "yes", "t", "true", "on", "1"})


@dataclass(frozen=True)
class TreeMode:
    """Tree mode is on for a transform, and why: `graph=False`, `nnx.set_graph_mode(False)`
    (line 3), ..."""

    why: str
    option: Option  # what is off


@dataclass(frozen=True)
class _Setting:
    option: Option
    on: bool
    why: str


def options_mode(options: Sequence[cst.Arg]) -> dict[str, bool | None]:
    """The transform's own graph options: option -> literal value (None: not a literal)."""
    found: dict[str, bool | None] = {}
    for arg in options:
        if arg.keyword is not None and arg.keyword.value in nnx_api.GRAPH_OPTIONS:
            value = literal(arg.value)
            found[arg.keyword.value] = value if isinstance(value, bool) else None
    return found


def tree_mode(ctx: FileContext, node: cst.CSTNode, options: Sequence[cst.Arg]) -> TreeMode | None:
    """Is an NNX transform made at ``node`` with ``options`` in tree mode? None when it is
    not, or when that cannot be told (an option that is not a literal)."""
    own = options_mode(options)
    if any(value is None for value in own.values()):
        return None
    if own.get("graph") is False:
        return TreeMode("`graph=False`", Option.GRAPH)
    if own.get("graph_updates") is False:
        return TreeMode("`graph_updates=False`", Option.GRAPH_UPDATES)
    if not any(word in ctx.source for word in nnx_api.TREE_MODE_TEXT):
        return None
    scoped = scope_mode(ctx, node)
    for option in Option:
        setting = scoped.get(option)
        if option.value not in own and setting is not None and not setting.on:
            return TreeMode(setting.why, option)
    return None


def mode_at(ctx: FileContext, node: cst.CSTNode) -> TreeMode | None:
    """Is tree mode on where ``node`` stands, for a transform made there without options?"""
    return tree_mode(ctx, node, ())


def scope_mode(ctx: FileContext, node: cst.CSTNode) -> dict[Option, _Setting]:
    """The mode settings in force at ``node``: option -> the nearest setting before it.

    Within the function (or module body) the transform is made in, the statements before it
    tell the mode. Once the walk leaves a function, what stands before the def in the outer
    blocks is not evidence of the mode when the function is called (a later
    `nnx.set_graph_mode(True)` may run first): a setting there counts only if the file sets
    that option to nothing else anywhere (one `nnx.set_graph_mode(False)`, never undone). The
    decorators of the functions around it do count: they run the body in their mode."""
    found: dict[Option, _Setting] = {}
    current: cst.CSTNode | None = node
    child: cst.CSTNode = node
    crossed = False  # the walk has left a function: outer settings need the whole file's say
    settled: dict[Option, bool] | None = None

    def note(setting: _Setting | None) -> None:
        nonlocal settled
        if setting is None or setting.option in found:
            return
        if crossed:
            if settled is None:
                settled = _settled(ctx)
            if settled.get(setting.option) is not setting.on:
                return  # set otherwise elsewhere in the file: when it runs cannot be told
        found[setting.option] = setting

    while current is not None:
        if isinstance(current, cst.FunctionDef | cst.Lambda) and child is current.body:
            if isinstance(current, cst.FunctionDef):
                for dec in current.decorators:  # they run the body in their mode
                    note(_setter(ctx, dec.decorator, "a decorator"))
            crossed = True
        if isinstance(current, cst.With) and child is current.body and not crossed:
            for item in current.items:
                note(_setter(ctx, item.item, "a `with` block"))
        body = _statements(current)
        if body is not None and child is not current:
            index = next((i for i, s in enumerate(body) if s is child), len(body))
            for statement in reversed(body[:index]):
                for setting in _statement_settings(ctx, statement):
                    note(setting)
            if isinstance(current, cst.Module):
                for setting in _environment(ctx, current):
                    note(setting)
        child = current
        current = ctx.parent(current)
    return found


def _settled(ctx: FileContext) -> dict[Option, bool]:
    """The options the whole file sets to one value only (by statements, `with` blocks,
    decorators or environment variables): option -> that value."""
    walk = _AllSettings(ctx)
    walk.walk(ctx.module)
    for setting in _environment(ctx, ctx.module):
        walk.values.setdefault(setting.option, set()).add(setting.on)
    return {option: next(iter(seen)) for option, seen in walk.values.items() if len(seen) == 1}


class _AllSettings(FastVisitor):
    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.values: dict[Option, set[bool]] = {}

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        for setting in _statement_settings(self.ctx, node):
            self.values.setdefault(setting.option, set()).add(setting.on)

    def visit_Call(self, node: cst.Call) -> None:  # `with` items and decorators too
        setting = _setter(self.ctx, node, "")
        if setting is not None:
            self.values.setdefault(setting.option, set()).add(setting.on)


def _note(found: dict[Option, _Setting], setting: _Setting | None) -> None:
    if setting is not None and setting.option not in found:  # the nearest one wins
        found[setting.option] = setting


def _statements(node: cst.CSTNode) -> Sequence[cst.CSTNode] | None:
    if isinstance(node, cst.Module):
        return node.body
    if isinstance(node, cst.IndentedBlock):
        return node.body
    return None


def _statement_settings(ctx: FileContext, statement: cst.CSTNode) -> list[_Setting]:
    """Mode calls standing as whole statements (`nnx.set_graph_mode(False)`), last first."""
    if not isinstance(statement, cst.SimpleStatementLine):
        return []
    found = []
    for small in reversed(statement.body):
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            setting = _setter(ctx, small.value, "") or _config(ctx, small.value)
            if setting is not None:
                found.append(setting)
    return found


def _line(ctx: FileContext, node: cst.CSTNode) -> int:
    return ctx.position(node)[0]


def _setter(ctx: FileContext, expr: cst.BaseExpression, how: str) -> _Setting | None:
    """`nnx.set_graph_mode(False)` / `nnx.set_graph_updates(True)` with a literal value."""
    if not isinstance(expr, cst.Call) or len(expr.args) != 1 or expr.args[0].keyword:
        return None
    func = ctx.value_at(expr.func)
    if not isinstance(func, Ref) or func.qualname not in SETTERS:
        return None
    value = literal(expr.args[0].value)
    if not isinstance(value, bool):
        return None
    where = f" as {how}" if how else ""
    why = f"`{ctx.code(expr)}`{where} (line {_line(ctx, expr)})"
    return _Setting(SETTERS[func.qualname], value, why)


def _config(ctx: FileContext, call: cst.Call) -> _Setting | None:
    """`flax.config.update("nnx_graph_mode", False)`."""
    func = ctx.value_at(call.func)
    if not isinstance(func, Ref) or func.qualname not in CONFIG_UPDATE or len(call.args) != 2:
        return None
    flag, value = literal(call.args[0].value), literal(call.args[1].value)
    if flag not in FLAGS or not isinstance(value, bool):
        return None
    return _Setting(FLAGS[str(flag)], value, f"`{ctx.code(call)}` (line {_line(ctx, call)})")


def _environment(ctx: FileContext, module: cst.Module) -> list[_Setting]:
    """`os.environ["NNX_GRAPH_MODE"] = "false"` (or `.setdefault`) at module level before
    the first import of flax, which reads the variables; the last one first."""
    found: list[_Setting] = []
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        if any(_imports_flax(small) for small in statement.body):
            break
        for small in statement.body:
            setting = _environ_setting(ctx, small)
            if setting is not None:
                found.append(setting)
    return list(reversed(found))


def _imports_flax(small: cst.BaseSmallStatement) -> bool:
    if isinstance(small, cst.Import):
        return any(_root(a.name) == "flax" for a in small.names)
    if isinstance(small, cst.ImportFrom) and small.module is not None:
        return _root(small.module) == "flax"
    return False


def _root(name: cst.BaseExpression) -> str:
    while isinstance(name, cst.Attribute):
        name = name.value
    return name.value if isinstance(name, cst.Name) else ""


def _environ_setting(ctx: FileContext, small: cst.BaseSmallStatement) -> _Setting | None:
    key: object = None
    value: object = None
    node: cst.CSTNode = small
    if isinstance(small, cst.Assign) and len(small.targets) == 1:
        target = small.targets[0].target
        if isinstance(target, cst.Subscript) and len(target.slice) == 1:
            index = target.slice[0].slice
            if isinstance(index, cst.Index) and _is_environ(ctx, target.value):
                key, value = literal(index.value), literal(small.value)
    elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
        call = small.value
        func = call.func
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value == "setdefault"
            and _is_environ(ctx, func.value)
            and len(call.args) == 2
        ):
            key, value = literal(call.args[0].value), literal(call.args[1].value)
    if key not in ENVIRON or not isinstance(value, str):
        return None
    word = value.lower()
    if word not in FALSE_WORDS | TRUE_WORDS:
        return None  # flax raises ValueError on import
    why = f"`{ctx.code(node)}` before flax is imported (line {_line(ctx, node)})"
    return _Setting(ENVIRON[str(key)], word in TRUE_WORDS, why)


def _is_environ(ctx: FileContext, expr: cst.BaseExpression) -> bool:
    value = ctx.value_at(expr)
    return isinstance(value, Ref) and value.qualname == "os.environ"


# -- the functions NNX transforms trace, and what tree mode drops of what they change

# The NNX transforms of a function that NNX005 looks into (tree mode measured on flax 0.12.8
# for each: a new attribute, a replaced Variable and sow are dropped).
FUNCTION_TRANSFORMS = {
    f"{nnx_api.NNX}.{name}": f"nnx.{name}"
    for name in ("jit", "grad", "value_and_grad", "vmap", "remat")
}


@dataclass(frozen=True)
class TransformedFunction:
    """A function an NNX transform traces: the transform (`nnx.grad`), and the site, as a
    jit site is told (its function, options, callers), though the transform may not be jit."""

    transform: str
    site: JitSite


def transformed_functions(ctx: FileContext) -> Iterator[TransformedFunction]:
    """Every def or lambda an NNX function transform is applied to: by decorator (`@nnx.grad`,
    `@nnx.vmap(in_axes=0)`) or by a call (`nnx.value_and_grad(loss_fn, has_aux=True)`)."""
    for site in find_jit_sites(ctx):
        if site.jit.kind is JitKind.NNX and site.function is not None:
            yield TransformedFunction("nnx.jit", site)
    b = ctx.scopes
    for dec, fn, scope, order in b.decorators:
        if dec is not fn.decorators[-1]:
            continue  # the transform applies to another decorator's result
        found = _transform(ctx, dec.decorator, scope, order)
        if found is None:
            continue
        name, jit = found
        t = function_target(ctx, Function(fn, b.scope_of[id(fn)]), order)
        if t.function is None:
            continue
        site = JitSite(
            jit, Form.DECORATOR, dec.decorator, scope, order, t.shape, fn, jit.options,
            function=t.function, captures=t.captures, verdict=t.verdict,
        )  # fmt: skip
        yield TransformedFunction(name, site)
    for call, scope, order in b.calls:
        func = ctx.evaluate(call.func, scope, order)
        if not isinstance(func, Ref) or func.qualname not in FUNCTION_TRANSFORMS:
            continue
        name = FUNCTION_TRANSFORMS[func.qualname]
        if name == "nnx.jit" or not call.args or call.args[0].keyword or call.args[0].star:
            continue
        target = call.args[0]
        found_target = classify(ctx, target.value, scope, order, held=False)
        if found_target is None or found_target.function is None:
            continue
        options = tuple(call.args[1:])
        site = JitSite(
            Jit(JitKind.NNX, call.func, ()), Form.CALL, call, scope, order,
            found_target.shape, found_target.node, options, found_target.instance,
            found_target.function, found_target.captures, call, found_target.binder,
            found_target.verdict,
        )  # fmt: skip
        yield TransformedFunction(name, site)


def _transform(
    ctx: FileContext, expr: cst.BaseExpression, scope: Scope, order: int
) -> tuple[str, Jit] | None:
    """An NNX function transform other than jit named by a decorator: `@nnx.grad`, or its
    factory form with options only, `@nnx.vmap(in_axes=(None, 0))`."""
    options: tuple[cst.Arg, ...] = ()
    spelled = expr
    if isinstance(expr, cst.Call):
        if any(not a.keyword for a in expr.args):
            return None
        options, spelled = tuple(expr.args), expr.func
    func = ctx.evaluate(spelled, scope, order)
    if not isinstance(func, Ref) or func.qualname not in FUNCTION_TRANSFORMS:
        return None
    name = FUNCTION_TRANSFORMS[func.qualname]
    if name == "nnx.jit":
        return None  # find_jit_sites has it
    return name, Jit(JitKind.NNX, spelled, options)


# -- what tree mode drops: the structural changes a transformed function makes


class Dropped(enum.Enum):
    """A change to an NNX object's structure, which tree mode drops."""

    REPLACES_VARIABLE = "replaces a Variable"  # `model.w = nnx.Param(v)`
    OVERWRITES_VARIABLE = "assigns a value over a Variable"  # `model.w = v`
    ATTRIBUTE = "adds or replaces an attribute"  # `model.cache = v`
    SOW = "sows"  # `model.sow(nnx.Intermediate, "y", y)`
    CALL = "calls something that changes its structure"  # `model(x)`, with evidence


@dataclass(frozen=True)
class StructuralChange:
    param: str  # the transformed function's parameter whose object changes
    kind: Dropped
    node: cst.CSTNode  # the statement's target, or the call, in the function's body
    reasons: tuple[str, ...] = ()  # for a call: the steps to the change
    location: tuple[str, int] | None = None  # for a call: where the change stands
    # The fixable form, `X.attr = C(value)` over a Variable of class C: (the target, value).
    variable_write: tuple[cst.Attribute, cst.BaseExpression] | None = None


def structural_changes(
    ctx: FileContext, function: Function, params: dict[str, NnxParam]
) -> list[StructuralChange]:
    """The changes the function's own body makes to the structure of the NNX objects its
    parameters hold, whenever it runs them (a statement under a condition too: when it runs,
    the change is dropped); not those of functions defined inside it. A call counts when the
    index tells a structural change its code certainly makes (``Verdict.moved``)."""
    visitor = _Structure(ctx, function, params)
    visitor.walk(function.node.body)
    return visitor.found


def variable_write(
    ctx: FileContext, cls: str | None, target: cst.BaseExpression, value: cst.BaseExpression
) -> tuple[Dropped, tuple[cst.Attribute, cst.BaseExpression] | None] | None:
    """What `target = value` does where ``target`` is an attribute of an object of class
    ``cls``: None for no structural change that can be told, else its kind and, for a
    Variable replaced by a new one of its class, the fixable form: `(target, the value)`."""
    if not isinstance(target, cst.Attribute):
        return None
    if target.attr.value == "value":  # `v.value = x`: the Variable's value
        return None
    if cls is None or not ctx.index.is_module(cls):
        return None  # measured on Modules; what another object does is not told
    held = ctx.index.attr_type(cls, target.attr.value)
    if held is None or not ctx.index.is_variable(held):
        return Dropped.ATTRIBUTE, None
    if isinstance(value, cst.Call):
        made = ctx.value_at(value.func)
        if isinstance(made, Ref) and ctx.index.is_variable(made.qualname):
            simple = len(value.args) == 1 and not value.args[0].keyword and not value.args[0].star
            same = nnx_api.normalize(made.qualname) == nnx_api.normalize(held)
            fix = (target, value.args[0].value) if simple and same else None
            return Dropped.REPLACES_VARIABLE, fix
    # Eagerly (graph mode) the attribute then holds the plain value, no Variable: writing in
    # place would keep the Variable, so there is no fix that behaves as eager execution.
    return Dropped.OVERWRITES_VARIABLE, None


class _Structure(Resolver, FastVisitor):
    def __init__(self, ctx: FileContext, function: Function, params: dict[str, NnxParam]):
        super().__init__(ctx, function, params)
        self.found: list[StructuralChange] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # runs when called, maybe elsewhere

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def _owner(self, target: cst.BaseExpression) -> tuple[NnxParam, Instance] | None:
        """The parameter and the NNX object whose attribute ``target`` is."""
        if not isinstance(target, cst.Attribute):
            return None
        param = self._param(chain(target)[0])
        owner = self._value(target.value)
        if param is None or not isinstance(owner, Instance) or not owner.nnx:
            return None
        return param, owner

    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            owned = self._owner(t.target)
            if owned is None:
                continue
            told = variable_write(self.ctx, owned[1].cls, t.target, node.value)
            if told is not None:
                kind, fix = told
                self.found.append(StructuralChange(owned[0].name, kind, t.target, (), None, fix))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        # `model.count += 1`: over a Variable it raises (NotImplementedError) on flax 0.12;
        # only an attribute known to hold something else is told.
        owned = self._owner(node.target)
        if owned is None or owned[1].cls is None or not isinstance(node.target, cst.Attribute):
            return
        attr = node.target.attr.value
        facts = [f for f in self.ctx.index.ancestors(owned[1].cls) if attr in f.attrs]
        held = self.ctx.index.attr_type(owned[1].cls, attr)
        if facts and held is not None and not self.ctx.index.is_variable(held):
            self.found.append(StructuralChange(owned[0].name, Dropped.ATTRIBUTE, node.target))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        root = chain(func)[0]
        param = self._param(root)
        if param is None:
            return
        callee = self._value(func)
        if isinstance(callee, Instance) and callee.nnx:
            owner, method = callee, "__call__"
        elif isinstance(func, cst.Attribute):
            value = self._value(func.value)
            if not (isinstance(value, Instance) and value.nnx):
                return
            owner, method = value, func.attr.value
        else:
            return
        if method == "sow" and owner.cls is not None and self.ctx.index.is_module(owner.cls):
            self.found.append(StructuralChange(param.name, Dropped.SOW, node))
            return
        verdict = instance_verdict(self.ctx, owner, method)
        if verdict.effect is Effect.CHANGES and verdict.moved is not None:
            moved = verdict.moved
            change = StructuralChange(
                param.name, Dropped.CALL, node, moved.reasons, moved.location or verdict.location
            )
            self.found.append(change)
