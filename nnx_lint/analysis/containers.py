"""The flax 0.12 data rules: plain containers of NNX objects or arrays assigned to Module
attributes (NNX103), and ``.value`` on Variables (NNX104).

Measured on flax 0.12.8: a Module attribute holding a plain list, tuple or dict is static, and
one whose value holds a Module, a Variable, an ``nnx.Rngs`` or an array (jax or numpy) raises
ValueError when it is assigned (or, where the container was static and data was appended to
it later in ``__init__``, when the constructor returns). A container of ints, strings or
``None`` is fine. ``class M(nnx.Module, pytree=False)`` opts out; a subclass of such a class
is a pytree again (the flag is not inherited)."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst

from nnx_lint.analysis import nnx_api
from nnx_lint.analysis.context import FileContext, Instance, Ref, is_static_or_classmethod
from nnx_lint.analysis.scopes import BindingKind, ScopeKind

# The jax.numpy functions that make an array, or a list, tuple or named tuple of arrays (read
# on jax 0.10.2: those annotated to return one, the ufuncs (`add`, ...), `where`, `unique`,
# `cross`, ..., and the scalar types, `jnp.float32(1.0)` being an array). Not: `shape`,
# `dtype`, `result_type`, `iinfo`, `vectorize`, `frompyfunc`, `broadcast_shapes`, `can_cast`,
# `isscalar`, ... Every function of jax.numpy.linalg and jax.numpy.fft makes arrays.
_JNP_ARRAYS = frozenset(
    """
    abs absolute acos acosh add all allclose amax amin angle any append apply_along_axis
    apply_over_axes arange arccos arccosh arcsin arcsinh arctan arctan2 arctanh argmax argmin
    argpartition argsort argwhere around array array_equal array_equiv array_split asarray
    asin asinh astype atan atan2 atanh atleast_1d atleast_2d atleast_3d average bartlett
    bfloat16 bincount bitwise_and bitwise_count bitwise_invert bitwise_left_shift bitwise_not
    bitwise_or bitwise_right_shift bitwise_xor blackman block bool bool_ broadcast_arrays
    broadcast_to cbrt cdouble ceil choose clip column_stack complex128 complex64 complex_
    compress concat concatenate conj conjugate convolve copy copysign corrcoef correlate cos
    cosh count_nonzero cov cross csingle cumprod cumsum cumulative_prod cumulative_sum deg2rad
    degrees delete diag diag_indices diag_indices_from diagflat diagonal diff digitize divide
    divmod dot double dsplit dstack ediff1d einsum empty empty_like equal exp exp2 expand_dims
    expm1 extract eye fabs fill_diagonal flatnonzero flip fliplr flipud float16 float32
    float4_e2m1fn float64 float8_e3m4 float8_e4m3 float8_e4m3b11fnuz float8_e4m3fn
    float8_e4m3fnuz float8_e5m2 float8_e5m2fnuz float8_e8m0fnu float_ float_power floor
    floor_divide fmax fmin fmod frexp from_dlpack frombuffer fromfile fromfunction fromiter
    fromstring full full_like gcd geomspace gradient greater greater_equal hamming hanning
    heaviside histogram histogram2d histogram_bin_edges histogramdd hsplit hstack hypot i0
    identity imag indices inner insert int1 int16 int2 int32 int4 int64 int8 int_ interp
    intersect1d invert isclose iscomplex isfinite isin isinf isnan isneginf isposinf isreal
    ix_ kaiser kron lcm ldexp left_shift less less_equal lexsort linspace load log log10 log1p
    log2 logaddexp logaddexp2 logical_and logical_not logical_or logical_xor logspace
    mask_indices matmul matrix_transpose matvec max maximum mean median meshgrid min minimum
    mod modf moveaxis multiply nan_to_num nanargmax nanargmin nancumprod nancumsum nanmax
    nanmean nanmedian nanmin nanpercentile nanprod nanquantile nanstd nansum nanvar negative
    nextafter nonzero not_equal ones ones_like outer packbits pad partition percentile
    permute_dims piecewise place poly polyadd polyder polydiv polyfit polyint polymul polysub
    polyval positive pow power prod ptp put put_along_axis quantile rad2deg radians ravel
    ravel_multi_index real reciprocal remainder repeat reshape resize right_shift rint roll
    rollaxis roots rot90 round searchsorted select setdiff1d setxor1d sign signbit sin sinc
    single sinh sort sort_complex spacing split sqrt square squeeze stack std subtract sum
    swapaxes take take_along_axis tan tanh tensordot tile trace transpose trapezoid tri tril
    tril_indices tril_indices_from trim_zeros triu triu_indices triu_indices_from true_divide
    trunc uint uint1 uint16 uint2 uint32 uint4 uint64 uint8 union1d unique unique_values
    unpackbits unravel_index unstack unwrap vander var vdot vecdot vecmat vsplit vstack where
    zeros zeros_like
    """.split()
)
_JNP_ARRAY_MODULES = ("jax.numpy.linalg", "jax.numpy.fft")
# The jax.random functions that make keys or arrays (not `key_impl`, `default_prng_impl`, ...).
_RANDOM_ARRAYS = frozenset(
    """
    PRNGKey ball bernoulli beta binomial bits categorical cauchy chisquare choice clone
    dirichlet double_sided_maxwell exponential f fold_in gamma generalized_normal geometric
    gumbel key key_data laplace loggamma logistic lognormal maxwell multinomial
    multivariate_normal normal orthogonal pareto permutation poisson rademacher randint
    rayleigh split t triangular truncated_normal uniform wald weibull_min wrap_key_data
    """.split()
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
    if head == "jax.numpy":
        return last in _JNP_ARRAYS
    if head == "jax.random":
        return last in _RANDOM_ARRAYS
    return head in _JNP_ARRAY_MODULES or (head == "numpy" and last in _NUMPY_ARRAYS)


def _describe(ctx: FileContext, node: cst.BaseExpression) -> str | None:
    """What data an element is (a Module, Variable, Rngs, array), or None when it is not
    known to be data."""
    if isinstance(node, cst.List | cst.Tuple | cst.Dict | cst.ListComp | cst.DictComp):
        return data_in(ctx, node)
    value = ctx.value_at(node)
    if isinstance(value, Instance) and (
        value.nnx or (value.cls is not None and ctx.index.is_variable(value.cls))
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


class Container(enum.Enum):
    """The plain container types a Module attribute can hold (the value is the type's name)."""

    LIST = "list"
    TUPLE = "tuple"
    DICT = "dict"


class When(enum.Enum):
    """When flax 0.12 raises for a static attribute holding data."""

    ASSIGNED = "assigned"  # at the assignment
    BUILT = "built"  # when `__init__` returns (data added to the container after it)


def _kind(node: cst.BaseExpression) -> Container | None:
    if isinstance(node, cst.List | cst.ListComp):
        return Container.LIST
    if isinstance(node, cst.Tuple):
        return Container.TUPLE
    if isinstance(node, cst.Dict | cst.DictComp):
        return Container.DICT
    return None


@dataclass(frozen=True)
class StaticContainer:
    """``self.<attr> = <value>`` in a method of a Module class, where value is a plain list,
    tuple or dict holding data: an error on flax 0.12+."""

    cls: str  # the class's qualified name
    attr: str
    value: cst.BaseExpression  # the assigned expression (a literal, or a name bound to one)
    kind: Container
    data: str  # what data it holds, described
    appended: bool  # the data arrives later (`.append`, `[k] = `), not in the literal
    when: When


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
    """Every node under ``node`` (itself first), in source order, without recursion (a deeply
    nested expression of a generated file must not reach Python's recursion limit)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _methods(node: cst.ClassDef) -> Iterator[cst.FunctionDef]:
    for stmt in node.body.body:
        if isinstance(stmt, cst.FunctionDef):
            yield stmt


def _self_name(ctx: FileContext, fn: cst.FunctionDef) -> str | None:
    params = [*fn.params.posonly_params, *fn.params.params]
    if not params or is_static_or_classmethod(fn, ctx):
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
            self_name = _self_name(ctx, fn)
            if fn.name.value == "__init__" and self_name is not None:
                init_data = {
                    attr
                    for attr, value in _self_assignments(list(_own_nodes(fn)), self_name)
                    if _makes_data(ctx, value)
                }
        for fn in _methods(node):
            self_name = _self_name(ctx, fn)
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
                if found.when is When.BUILT and any(
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
        return StaticContainer(cls, attr, value, kind, data, False, When.ASSIGNED)
    if isinstance(value, cst.Name):  # `layers = []`, `layers.append(Linear(...))`
        data = _added(ctx, nodes, value)
        if data is not None:
            return StaticContainer(cls, attr, value, kind, data, True, When.ASSIGNED)
        return None
    if fn.name.value != "__init__" or kind is Container.TUPLE:
        return None
    holder = cst.Attribute(cst.Name(self_name), cst.Name(attr))
    data = _added(ctx, nodes, holder)
    if data is not None:  # `self.layers = []`, then `self.layers.append(Linear(...))`
        return StaticContainer(cls, attr, value, kind, data, True, When.BUILT)
    return None


# -- NNX104: `.value` on Variables


class Access(enum.Enum):
    """How ``.value`` is used."""

    READ = "read"
    WRITE = "write"  # assigned (also as a loop's, a `with`'s or a tuple's target)
    AUGMENTED = "augmented"  # `v.value += x`


@dataclass(frozen=True)
class ValueAccess:
    """``<variable>.value`` where ``<variable>`` is known to be an nnx.Variable."""

    node: cst.Attribute  # the `.value` attribute
    variable: cst.BaseExpression
    cls: str  # the Variable class
    access: Access
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
        if not ctx.index.is_variable(value.cls):
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
