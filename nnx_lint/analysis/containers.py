"""The flax 0.12 data rules: plain containers of NNX objects or arrays assigned to Module
attributes (NNX103), and ``.value`` on Variables (NNX104).

Measured on flax 0.12.8: a Module attribute holding a plain list, tuple or dict is static, and
one whose value holds a Module, a Variable, an ``nnx.Rngs`` or an array (jax or numpy) raises
ValueError when it is assigned (or, where the container was static and data was appended to
it later in ``__init__``, when the constructor returns). A container of ints, strings or
``None`` is fine. ``class M(nnx.Module, pytree=False)`` opts out; a subclass of such a class
is a pytree again (the flag is not inherited)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst

from nnx_lint.analysis import nnx_api
from nnx_lint.analysis.context import FileContext, Instance, Ref
from nnx_lint.analysis.scopes import BindingKind, ScopeKind

# jax.numpy functions that return something other than an array.
_NOT_ARRAYS = frozenset(
    """shape ndim size dtype result_type iinfo finfo issubdtype isdtype promote_types can_cast
    isscalar iscomplexobj isrealobj""".split()
)
# numpy functions that make an ndarray (numpy scalars such as np.float32(1.0) are static).
_NUMPY_ARRAYS = frozenset(
    """array asarray ones zeros empty full arange linspace eye identity ones_like zeros_like
    full_like empty_like""".split()
)
_APPENDS = frozenset({"append", "extend", "insert"})


def _call_qualname(ctx: FileContext, node: cst.BaseExpression) -> str | None:
    if not isinstance(node, cst.Call):
        return None
    func = ctx.value_at(node.func)
    return func.qualname if isinstance(func, Ref) else None


def makes_array(ctx: FileContext, node: cst.BaseExpression) -> bool:
    """Is ``node`` a call that makes a JAX or numpy array (``jnp.ones(3)``,
    ``jax.random.normal(key, (2,))``, ``np.zeros(2)``)?"""
    qual = _call_qualname(ctx, node)
    if qual is None:
        return False
    head, _, last = qual.rpartition(".")
    if qual.startswith(("jax.numpy.", "jax.random.")):
        return last not in _NOT_ARRAYS
    return head == "numpy" and last in _NUMPY_ARRAYS


def _describe(ctx: FileContext, node: cst.BaseExpression) -> str | None:
    """What data an element is (a Module, Variable, Rngs, array), or None when it is not
    known to be data."""
    if isinstance(node, cst.List | cst.Tuple | cst.Dict | cst.ListComp | cst.DictComp):
        return data_in(ctx, node)
    value = ctx.value_at(node)
    if isinstance(value, Instance) and (
        value.nnx or (value.cls is not None and is_variable_class(ctx, value.cls))
    ):
        if value.cls is None:
            return "an NNX object"
        if value.cls.startswith(f"{nnx_api.NNX}."):
            return f"`{value.cls.replace('flax.nnx.', 'nnx.')}`"
        return f"`{value.cls.rpartition('.')[2]}`"
    if makes_array(ctx, node):
        return f"an array (`{ctx.code(node).split('(')[0]}(...)`)"
    return None


def data_in(ctx: FileContext, node: cst.BaseExpression) -> str | None:
    """The first data element of a list, tuple or dict literal or comprehension, described;
    None when none is known to be data."""
    elements: list[cst.BaseExpression] = []
    if isinstance(node, cst.List | cst.Tuple):
        elements = [e.value for e in node.elements if isinstance(e, cst.Element)]
    elif isinstance(node, cst.Dict):
        elements = [e.value for e in node.elements if isinstance(e, cst.DictElement)]
    elif isinstance(node, cst.ListComp):
        elements = [node.elt]
    elif isinstance(node, cst.DictComp):
        elements = [node.value]
    for element in elements:
        found = _describe(ctx, element)
        if found is not None:
            return found
    return None


def _kind(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.List | cst.ListComp):
        return "list"
    if isinstance(node, cst.Tuple):
        return "tuple"
    if isinstance(node, cst.Dict | cst.DictComp):
        return "dict"
    return None


@dataclass(frozen=True)
class StaticContainer:
    """``self.<attr> = <value>`` in a method of a Module class, where value is a plain list,
    tuple or dict holding data: an error on flax 0.12+."""

    cls: str  # the class's qualified name
    attr: str
    value: cst.BaseExpression  # the assigned expression (a literal, or a name bound to one)
    kind: str  # "list", "tuple", "dict"
    data: str  # what data it holds, described
    appended: bool  # the data arrives later (`.append`, `[k] = `), not in the literal
    when: str  # "assigned" (raises at the assignment) or "built" (when __init__ returns)


def _is_module_class(ctx: FileContext, node: cst.ClassDef) -> str | None:
    """The class's qualified name when it is an NNX Module that is a pytree (no
    ``pytree=False`` of its own: the flag is not inherited)."""
    scope = ctx.scopes.scope_of.get(id(node))
    if scope is None:
        return None
    if any(
        k.keyword is not None
        and k.keyword.value == "pytree"
        and isinstance(k.value, cst.Name)
        and k.value.value == "False"
        for k in node.keywords
    ):
        return None
    direct = [ctx.value_at(base.value) for base in node.bases]
    bases = [value.qualname for value in direct if isinstance(value, Ref)]
    inherited = [base for facts in ctx.index.ancestors(scope.qualname) for base in facts.bases]
    if any(nnx_api.normalize(ctx.index.resolve(b)) in _NOT_PYTREES for b in bases + inherited):
        return None  # every subclass of nnx.bridge.Module is declared pytree=False
    if ctx.index.is_module(scope.qualname) or any(ctx.index.is_module(b) for b in bases):
        return scope.qualname
    return None


# flax classes whose subclasses are never pytrees: nnx.bridge.Module's __init_subclass__
# passes pytree=False (flax 0.12.8 nnx/bridge/module.py:204).
_NOT_PYTREES = frozenset({f"{nnx_api.NNX}.bridge.Module", f"{nnx_api.NNX}.bridge.module.Module"})


def _declared_data(ctx: FileContext, node: cst.ClassDef) -> set[str]:
    """Attributes the class body declares as data (``layers: list = nnx.data()``,
    ``layers: nnx.Data[list]``) or static (``nnx.static()``): left as they are."""
    found: set[str] = set()
    for line in node.body.body:
        if not isinstance(line, cst.SimpleStatementLine):
            continue
        for stmt in line.body:
            if isinstance(stmt, cst.AnnAssign) and isinstance(stmt.target, cst.Name):
                parts = [stmt.annotation.annotation]
                if stmt.value is not None:
                    parts.append(stmt.value)
                for part in parts:
                    for sub in _walk(part):
                        if isinstance(sub, cst.Attribute | cst.Name):
                            value = ctx.value_at(sub)
                            if isinstance(value, Ref) and value.qualname in _DECLARING:
                                found.add(stmt.target.value)
    return found


_DECLARING = frozenset(f"{nnx_api.NNX}.{n}" for n in ("data", "Data", "static", "Static"))


def _walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _methods(node: cst.ClassDef) -> Iterator[cst.FunctionDef]:
    for stmt in node.body.body:
        if isinstance(stmt, cst.FunctionDef):
            yield stmt


def _self_name(fn: cst.FunctionDef) -> str | None:
    params = [*fn.params.posonly_params, *fn.params.params]
    if not params:
        return None
    for dec in fn.decorators:
        d = dec.decorator
        if isinstance(d, cst.Name) and d.value in ("staticmethod", "classmethod"):
            return None
    return params[0].name.value


def _own_nodes(fn: cst.FunctionDef) -> Iterator[cst.CSTNode]:
    """The nodes of a method's body, not those of the defs and classes inside it."""

    def walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        yield node
        for child in node.children:
            if not isinstance(child, cst.FunctionDef | cst.ClassDef):
                yield from walk(child)

    yield from walk(fn.body)


def _self_attr(node: cst.BaseExpression, self_name: str) -> str | None:
    if (
        isinstance(node, cst.Attribute)
        and isinstance(node.value, cst.Name)
        and node.value.value == self_name
    ):
        return node.attr.value
    return None


def _added(ctx: FileContext, nodes: list[cst.CSTNode], holder: cst.BaseExpression) -> str | None:
    """Data added to a container (``holder.append(x)``, ``holder.extend([x])``,
    ``holder[k] = x``) among ``nodes``, described."""
    text = ctx.code(holder)
    for node in nodes:
        if (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value in _APPENDS
            and ctx.code(node.func.value) == text
            and node.args
        ):
            arg = node.args[-1].value
            found = data_in(ctx, arg) if node.func.attr.value == "extend" else _describe(ctx, arg)
            if found is not None:
                return found
        if isinstance(node, cst.Assign):
            for target in node.targets:
                t = target.target
                if isinstance(t, cst.Subscript) and ctx.code(t.value) == text:
                    found = _describe(ctx, node.value)
                    if found is not None:
                        return found
    return None


def _local_literal(
    ctx: FileContext, name: cst.Name, fn: cst.FunctionDef
) -> cst.BaseExpression | None:
    """The list or dict literal a local name of ``fn`` is bound to, once and only there."""
    ref = ctx.reference(name)
    if ref is None or ref.scope.node is not fn or ref.scope.kind is not ScopeKind.FUNCTION:
        return None
    bindings = ref.scope.bindings.get(name.value, [])
    if len(bindings) != 1 or bindings[0].kind is not BindingKind.ASSIGN:
        return None
    value = bindings[0].value
    return value if isinstance(value, cst.List | cst.Dict) else None


def static_containers(ctx: FileContext) -> Iterator[StaticContainer]:
    for node in _walk(ctx.module):
        if not isinstance(node, cst.ClassDef):
            continue
        cls = _is_module_class(ctx, node)
        if cls is None:
            continue
        declared = _declared_data(ctx, node)
        init_data: set[str] = set()  # attributes `__init__` makes data somewhere
        for fn in _methods(node):
            self_name = _self_name(fn)
            if fn.name.value == "__init__" and self_name is not None:
                init_data = {
                    attr
                    for attr, value in _self_assignments(list(_own_nodes(fn)), self_name)
                    if _makes_data(ctx, value)
                }
        for fn in _methods(node):
            self_name = _self_name(fn)
            if self_name is None:
                continue
            nodes = list(_own_nodes(fn))
            outside_init = fn.name.value != "__init__"
            for i, stmt in enumerate(nodes):
                if not isinstance(stmt, cst.Assign) or len(stmt.targets) != 1:
                    continue
                attr = _self_attr(stmt.targets[0].target, self_name)
                if attr is None or attr in declared or (outside_init and attr in init_data):
                    continue
                if any(
                    a == attr and _makes_data(ctx, v)
                    for a, v in _self_assignments(nodes[:i], self_name)
                ):
                    continue  # the attribute is data already: a container of data is fine
                found = _container(ctx, stmt.value, fn, nodes, self_name, attr, cls)
                if found is None:
                    continue
                if found.when == "built" and any(
                    a == attr for a, _ in _self_assignments(nodes[i + 1 :], self_name)
                ):
                    continue  # assigned again before `__init__` returns (`nnx.data(self.x)`)
                yield found


def _self_assignments(
    nodes: list[cst.CSTNode], self_name: str
) -> Iterator[tuple[str, cst.BaseExpression]]:
    """``self.<attr> = <value>`` (and annotated) among ``nodes``: (attr, value)."""
    for node in nodes:
        if isinstance(node, cst.Assign):
            for target in node.targets:
                attr = _self_attr(target.target, self_name)
                if attr is not None:
                    yield attr, node.value
        elif isinstance(node, cst.AnnAssign) and node.value is not None:
            attr = _self_attr(node.target, self_name)
            if attr is not None:
                yield attr, node.value


def _makes_data(ctx: FileContext, value: cst.BaseExpression) -> bool:
    """Does assigning ``value`` make an attribute data (flax 0.12 keeps an attribute's first
    status: ``nnx.data(...)``, a Module, Variable or array), so that a container of data
    assigned to it later is accepted?"""
    if _call_qualname(ctx, value) == f"{nnx_api.NNX}.data":
        return True
    if _kind(value) is not None:
        return False  # a plain container is static itself
    return _describe(ctx, value) is not None


def _container(
    ctx: FileContext,
    value: cst.BaseExpression,
    fn: cst.FunctionDef,
    nodes: list[cst.CSTNode],
    self_name: str,
    attr: str,
    cls: str,
) -> StaticContainer | None:
    literal = value
    if isinstance(value, cst.Name):
        bound = _local_literal(ctx, value, fn)
        if bound is None:
            return None
        literal = bound
    kind = _kind(literal)
    if kind is None:
        return None
    data = data_in(ctx, literal)
    if data is not None:
        return StaticContainer(cls, attr, value, kind, data, False, "assigned")
    if isinstance(value, cst.Name):  # `layers = []`, `layers.append(Linear(...))`
        data = _added(ctx, nodes, value)
        if data is not None:
            return StaticContainer(cls, attr, value, kind, data, True, "assigned")
        return None
    if fn.name.value != "__init__" or kind == "tuple":
        return None
    holder = cst.Attribute(cst.Name(self_name), cst.Name(attr))
    data = _added(ctx, nodes, holder)
    if data is not None:  # `self.layers = []`, then `self.layers.append(Linear(...))`
        return StaticContainer(cls, attr, value, kind, data, True, "built")
    return None


# -- NNX104: `.value` on Variables


def is_variable_class(ctx: FileContext, qualname: str) -> bool:
    """Is ``qualname`` flax's ``nnx.Variable`` or a subclass of it (flax's or the project's)?"""
    variables = {f"{nnx_api.NNX}.{name}" for name in nnx_api.VARIABLE_CLASSES}
    if nnx_api.normalize(qualname) in variables:
        return True
    return any(
        nnx_api.normalize(base) in variables
        for facts in ctx.index.ancestors(qualname)
        for base in facts.bases
    )


class Access:
    READ = "read"
    WRITE = "write"
    AUGMENTED = "augmented"


@dataclass(frozen=True)
class ValueAccess:
    """``<variable>.value`` where ``<variable>`` is known to be an nnx.Variable."""

    node: cst.Attribute  # the `.value` attribute
    variable: cst.BaseExpression
    cls: str  # the Variable class
    access: str  # Access.*
    # for writes: the statement (an Assign, AugAssign, or the For / With / comprehension whose
    # target it is)
    statement: cst.CSTNode | None


def _targets(target: cst.BaseExpression) -> Iterator[cst.BaseExpression]:
    """An assignment target and, inside tuple and list targets, each element's."""
    yield target
    if isinstance(target, cst.Tuple | cst.List):
        for element in target.elements:
            yield from _targets(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _targets(target.value)


def value_accesses(ctx: FileContext) -> Iterator[ValueAccess]:
    writes: dict[int, cst.CSTNode] = {}
    deleted: set[int] = set()
    attributes: list[cst.Attribute] = []
    for node in _walk(ctx.module):
        if isinstance(node, cst.Assign):
            for target in node.targets:
                for t in _targets(target.target):
                    writes[id(t)] = node
        elif isinstance(node, cst.AugAssign):
            writes[id(node.target)] = node
        elif isinstance(node, cst.AnnAssign) and node.value is not None:
            writes[id(node.target)] = node
        elif isinstance(node, cst.For | cst.CompFor):
            for t in _targets(node.target):
                writes[id(t)] = node
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            for t in _targets(node.asname.name):
                writes[id(t)] = node
        elif isinstance(node, cst.Del):
            deleted.update(id(n) for n in _walk(node.target))
        elif isinstance(node, cst.Attribute) and node.attr.value == "value":
            attributes.append(node)
    for node in attributes:
        if id(node) in deleted:
            continue
        value = ctx.value_at(node.value)
        if not isinstance(value, Instance) or value.container or not value.cls:
            continue
        if not is_variable_class(ctx, value.cls):
            continue
        if any("value" in f.methods for f in ctx.index.ancestors(value.cls)):
            continue  # the project's Variable class defines its own `value`
        statement = writes.get(id(node))
        if statement is None:
            access = Access.READ
        elif isinstance(statement, cst.AugAssign):
            access = Access.AUGMENTED
        else:
            access = Access.WRITE
        yield ValueAccess(node, node.value, value.cls, access, statement)
