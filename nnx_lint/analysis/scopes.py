"""One pass over a libcst module that records scopes, bindings, name references, calls and
decorators, in source order. A targeted visitor instead of libcst's generic metadata providers,
which cost several times more (see issue 5)."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator
from dataclasses import dataclass, field

import libcst as cst

from nnx_lint.analysis import names


class ScopeKind(enum.Enum):
    MODULE = "module"
    CLASS = "class"
    FUNCTION = "function"
    LAMBDA = "lambda"
    COMPREHENSION = "comprehension"


class BindingKind(enum.Enum):
    IMPORT = "import"
    ASSIGN = "assign"  # `name = value`, `name := value`
    ANNASSIGN = "annassign"  # `name: T = value`
    PARAM = "param"
    DEF = "def"
    CLASS = "class"
    OTHER = "other"  # for targets, `with ... as`, `except ... as`, augmented assignment


@dataclass(eq=False)
class Scope:
    kind: ScopeKind
    node: cst.CSTNode
    parent: Scope | None
    qualname: str
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    references: list[Reference] = field(default_factory=list)
    globals: set[str] = field(default_factory=set)
    nonlocals: set[str] = field(default_factory=set)
    children: list[Scope] = field(default_factory=list)

    def walk(self) -> Iterator[Scope]:
        yield self
        for child in self.children:
            yield from child.walk()

    def contains(self, other: Scope | None) -> bool:
        while other is not None:
            if other is self:
                return True
            other = other.parent
        return False


@dataclass(eq=False)
class Binding:
    name: str
    kind: BindingKind
    node: cst.CSTNode  # the statement, parameter, def or class
    scope: Scope
    order: int
    value: cst.BaseExpression | None = None
    annotation: cst.BaseExpression | None = None
    qualname: str | None = None  # imports
    param_index: int = -1


@dataclass(eq=False)
class Reference:
    name: str
    node: cst.Name
    scope: Scope
    order: int


def dotted(node: cst.BaseExpression | None) -> str:
    """The dotted name an import spells (``flax.nnx``), or "" for anything else."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{dotted(node.value)}.{node.attr.value}"
    return ""


# Fields that never hold names, calls or scopes: whitespace, punctuation, operators.
_SKIP_FIELDS = frozenset(
    """lpar rpar comma semicolon leading_lines lines_after_decorators header footer equal star
    operator asynchronous colon dot arrow default_indent default_newline encoding
    has_trailing_newline""".split()
)
# Where libcst declares fields in another order than they appear in the source.
_FIELD_ORDER: dict[type[cst.CSTNode], tuple[str, ...]] = {
    cst.FunctionDef: ("decorators", "name", "params", "returns", "body"),
    cst.ClassDef: ("decorators", "name", "bases", "keywords", "body"),
    cst.Parameters: ("posonly_params", "params", "star_arg", "kwonly_params", "star_kwarg"),
}
_LEAVES = (
    cst.SimpleString,
    cst.Integer,
    cst.Float,
    cst.Imaginary,
    cst.BaseParenthesizableWhitespace,
)
# A node class's hooks in a visitor class: visit_<Node>, leave_<Node>, and for each field the
# field's name, visit_<Node>_<field> and leave_<Node>_<field> (None: the visitor has no such hook).
_Hooks = tuple[str | None, str | None, tuple[tuple[str, str | None, str | None], ...]]
_fields_cache: dict[type[cst.CSTNode], tuple[str, ...]] = {}


def _fields(cls: type[cst.CSTNode]) -> tuple[str, ...]:
    fields = _fields_cache.get(cls)
    if fields is None:
        if issubclass(cls, _LEAVES):
            fields = ()
        else:
            fields = _FIELD_ORDER.get(cls) or tuple(
                f.name
                for f in dataclasses.fields(cls)
                if f.name not in _SKIP_FIELDS and not f.name.startswith("whitespace")
            )
        _fields_cache[cls] = fields
    return fields


class FastVisitor:
    """A read-only walk over a libcst tree in source order, calling ``visit_<Node>``,
    ``visit_<Node>_<field>``, ``leave_<Node>_<field>`` and ``leave_<Node>`` like libcst's
    visitors, without rebuilding every node as ``CSTNode.visit`` does (several times faster).

    Each visitor class keeps its hooks per node class in a table of its own (``_hooks``), which
    goes with the class: one table for all visitor classes kept every class put in it alive,
    with what its methods close over (a class made inside a function kept the file's analysis
    and whole tree alive for the rest of the run)."""

    _hooks: dict[type[cst.CSTNode], _Hooks] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._hooks = {}

    def walk(self, node: cst.CSTNode) -> None:
        cls = type(node)
        entry = self._hooks.get(cls)
        if entry is None:
            name = cls.__name__
            field_names = _fields(cls)
            entry = self._hooks[cls] = (
                getattr(self, f"visit_{name}", None) and f"visit_{name}",
                getattr(self, f"leave_{name}", None) and f"leave_{name}",
                tuple(
                    (
                        f,
                        getattr(self, f"visit_{name}_{f}", None) and f"visit_{name}_{f}",
                        getattr(self, f"leave_{name}_{f}", None) and f"leave_{name}_{f}",
                    )
                    for f in field_names
                ),
            )
        visit, leave, fields = entry
        if visit is None or getattr(self, visit)(node) is not False:
            for field, pre, post in fields:
                value = getattr(node, field)
                if pre:
                    getattr(self, pre)(node)
                if isinstance(value, cst.CSTNode):
                    self.walk(value)
                elif isinstance(value, tuple | list):
                    for item in value:
                        if isinstance(item, cst.CSTNode):
                            self.walk(item)
                if post:
                    getattr(self, post)(node)
        if leave:
            getattr(self, leave)(node)


class ScopeBuilder(FastVisitor):
    def __init__(self, module_name: str, package: str) -> None:
        self.module_name = module_name
        self.package = package
        self.order = 0
        self.module_scope: Scope | None = None
        self.stack: list[Scope] = []
        self.stores: set[int] = set()
        self.calls: list[tuple[cst.Call, Scope, int]] = []
        self.decorators: list[tuple[cst.Decorator, cst.FunctionDef, Scope, int]] = []
        self.attribute_of: dict[int, cst.Attribute] = {}  # id(Name) -> Attribute it is the base of
        self.call_of: dict[int, cst.Call] = {}  # id(func expression) -> Call
        self.scope_of: dict[int, Scope] = {}  # id(def/lambda/class) -> its scope
        self.assigned_by: dict[int, cst.Assign] = {}  # id(value) -> `name = value`
        self.statement_of: dict[int, int] = {}  # id(node) -> index of its top-level statement
        self.discarded: set[int] = set()  # ids of calls whose result is thrown away (`f(x)`)
        self._statement = -1
        self.parents: dict[int, cst.CSTNode] = {}  # id(node) -> the node it stands in
        self._path: list[cst.CSTNode] = []

    def dismantle(self) -> None:
        """Take the scope graph apart once the file is checked. It is cyclic (a scope and its
        children, a binding or reference and its scope), and its module scope holds the file's
        whole tree: left whole, all of it waits for the garbage collector, which flake8's own
        work then runs over and over (1.5 s of a cold flake8 run over google/flax's
        repository). Apart, reference counting frees the tree at once."""
        assert self.module_scope is not None  # set by the walk of the module
        for scope in list(self.module_scope.walk()):
            scope.bindings.clear()
            scope.references.clear()
            scope.children.clear()

    # -- helpers
    def _next(self) -> int:
        self.order += 1
        return self.order

    @property
    def scope(self) -> Scope:
        return self.stack[-1]

    def _push(self, kind: ScopeKind, node: cst.CSTNode, name: str = "") -> Scope:
        parent = self.stack[-1] if self.stack else None
        if parent is None:
            qualname = self.module_name
        elif parent.kind in (ScopeKind.FUNCTION, ScopeKind.LAMBDA):
            qualname = f"{parent.qualname}.<locals>.{name}"
        else:
            qualname = f"{parent.qualname}.{name}"
        scope = Scope(kind, node, parent, qualname)
        if parent is not None:
            parent.children.append(scope)
        self.scope_of[id(node)] = scope
        self.stack.append(scope)
        return scope

    def _bind(
        self,
        name: str,
        kind: BindingKind,
        node: cst.CSTNode,
        scope: Scope | None = None,
        *,
        value: cst.BaseExpression | None = None,
        annotation: cst.BaseExpression | None = None,
        qualname: str | None = None,
        param_index: int = -1,
    ) -> Binding:
        scope = scope or self.scope
        binding = Binding(
            name,
            kind,
            node,
            scope,
            self._next(),
            value=value,
            annotation=annotation,
            qualname=qualname,
            param_index=param_index,
        )
        scope.bindings.setdefault(name, []).append(binding)
        return binding

    def _mark_targets(self, target: cst.BaseExpression) -> list[cst.Name]:
        """Names bound by an assignment target (their Name nodes are not reads)."""
        if isinstance(target, cst.Name):
            self.stores.add(id(target))
            return [target]
        if isinstance(target, cst.Tuple | cst.List):
            return [n for el in target.elements for n in self._mark_targets(el.value)]
        if isinstance(target, cst.StarredElement):
            return self._mark_targets(target.value)
        return []

    def _bind_target(
        self,
        target: cst.BaseExpression,
        kind: BindingKind,
        stmt: cst.CSTNode,
        value: cst.BaseExpression | None = None,
        annotation: cst.BaseExpression | None = None,
    ) -> None:
        if isinstance(target, cst.Name):
            self._bind(target.value, kind, stmt, value=value, annotation=annotation)
            return
        if isinstance(target, cst.Tuple | cst.List):
            values = None
            if isinstance(value, cst.Tuple | cst.List) and len(value.elements) == len(
                target.elements
            ):
                values = [el.value for el in value.elements]
            for i, el in enumerate(target.elements):
                self._bind_target(el.value, kind, stmt, values[i] if values else None)
        elif isinstance(target, cst.StarredElement):
            self._bind_target(target.value, BindingKind.OTHER, stmt)

    # -- module
    def visit_Module(self, node: cst.Module) -> bool:
        """The module's statements one by one, noting which top-level statement holds each
        node (positions are computed one statement at a time, see positions.py)."""
        self.module_scope = self._push(ScopeKind.MODULE, node)
        for i, stmt in enumerate(node.body):
            self._statement = i
            self.walk(stmt)
        return False

    def walk(self, node: cst.CSTNode) -> None:
        if self._statement >= 0:
            self.statement_of[id(node)] = self._statement
        if self._path:
            self.parents[id(node)] = self._path[-1]
        self._path.append(node)
        super().walk(node)
        self._path.pop()

    # -- imports
    def visit_Import(self, node: cst.Import) -> bool:
        for imported in names.import_names([alias_names(a) for a in node.names]):
            self._bind(imported.local, BindingKind.IMPORT, node, qualname=imported.qualname)
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        if isinstance(node.names, cst.ImportStar):
            return False
        module = dotted(node.module) if node.module is not None else None
        aliases = [alias_names(a) for a in node.names]
        for imported in names.from_import_names(module, len(node.relative), self.package, aliases):
            self._bind(imported.local, BindingKind.IMPORT, node, qualname=imported.qualname)
        return False

    def visit_Global(self, node: cst.Global) -> bool:
        self.scope.globals.update(n.name.value for n in node.names)
        return False

    def visit_Nonlocal(self, node: cst.Nonlocal) -> bool:
        self.scope.nonlocals.update(n.name.value for n in node.names)
        return False

    # -- definitions
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.stores.add(id(node.name))
        for dec in node.decorators:
            self.decorators.append((dec, node, self.scope, self._next()))

    def visit_FunctionDef_body(self, node: cst.FunctionDef) -> None:
        scope = self._push(ScopeKind.FUNCTION, node, node.name.value)
        self._bind_params(node.params, scope)

    def leave_FunctionDef_body(self, node: cst.FunctionDef) -> None:
        self.stack.pop()

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._bind(original_node.name.value, BindingKind.DEF, original_node)

    def visit_Lambda_body(self, node: cst.Lambda) -> None:
        scope = self._push(ScopeKind.LAMBDA, node, "<lambda>")
        self._bind_params(node.params, scope)

    def leave_Lambda_body(self, node: cst.Lambda) -> None:
        self.stack.pop()

    def _bind_params(self, params: cst.Parameters, scope: Scope) -> None:
        ordered = [*params.posonly_params, *params.params]
        if isinstance(params.star_arg, cst.Param):
            ordered.append(params.star_arg)
        ordered += [*params.kwonly_params]
        if params.star_kwarg is not None:
            ordered.append(params.star_kwarg)
        for i, param in enumerate(ordered):
            annotation = param.annotation.annotation if param.annotation else None
            self._bind(
                param.name.value,
                BindingKind.PARAM,
                param,
                scope,
                annotation=annotation,
                param_index=i,
            )

    def visit_Param(self, node: cst.Param) -> None:
        self.stores.add(id(node.name))

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.stores.add(id(node.name))

    def visit_ClassDef_body(self, node: cst.ClassDef) -> None:
        self._push(ScopeKind.CLASS, node, node.name.value)

    def leave_ClassDef_body(self, node: cst.ClassDef) -> None:
        self.stack.pop()

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._bind(original_node.name.value, BindingKind.CLASS, original_node)

    # -- comprehensions
    def _comp(self, node: cst.BaseComp) -> None:
        self._push(ScopeKind.COMPREHENSION, node, "<comp>")

    def _leave_comp(self, node: cst.BaseComp) -> None:
        self.stack.pop()

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comp
    leave_ListComp = leave_SetComp = leave_DictComp = leave_GeneratorExp = _leave_comp

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._mark_targets(node.target)
        self._bind_target(node.target, BindingKind.OTHER, node)

    # -- assignments
    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            self._mark_targets(t.target)
        if len(node.targets) == 1:
            self.assigned_by[id(node.value)] = node

    def leave_Assign(self, original_node: cst.Assign) -> None:
        for t in original_node.targets:
            self._bind_target(t.target, BindingKind.ASSIGN, original_node, original_node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._mark_targets(node.target)

    def leave_AnnAssign(self, original_node: cst.AnnAssign) -> None:
        node = original_node
        annotation = node.annotation.annotation
        self._bind_target(node.target, BindingKind.ANNASSIGN, node, node.value, annotation)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Name):
            # A read and a write: record the read, then the (unknown) new value.
            self.scope.references.append(
                Reference(node.target.value, node.target, self.scope, self._next())
            )
            self._mark_targets(node.target)

    def leave_AugAssign(self, original_node: cst.AugAssign) -> None:
        self._bind_target(original_node.target, BindingKind.OTHER, original_node)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._mark_targets(node.target)

    def leave_NamedExpr(self, original_node: cst.NamedExpr) -> None:
        # In a comprehension, `:=` binds in the enclosing function (or module), as Python does.
        scope = self.scope
        while scope.kind is ScopeKind.COMPREHENSION and scope.parent is not None:
            scope = scope.parent
        target = original_node.target
        if isinstance(target, cst.Name):
            value = original_node.value
            self._bind(target.value, BindingKind.ASSIGN, original_node, scope, value=value)

    def visit_For(self, node: cst.For) -> None:
        self._mark_targets(node.target)
        self._bind_target(node.target, BindingKind.OTHER, node)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._mark_targets(node.asname.name)
            self._bind_target(node.asname.name, BindingKind.OTHER, node)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            self._mark_targets(node.name.name)
            self._bind_target(node.name.name, BindingKind.OTHER, node)

    def visit_MatchAs(self, node: cst.MatchAs) -> None:
        if node.name is not None:
            self._mark_targets(node.name)
            self._bind_target(node.name, BindingKind.OTHER, node)

    # -- reads
    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.stores.add(id(node.attr))
        if isinstance(node.value, cst.Name):
            self.attribute_of[id(node.value)] = node

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.stores.add(id(node.keyword))

    def visit_Expr(self, node: cst.Expr) -> None:
        if isinstance(node.value, cst.Call):
            self.discarded.add(id(node.value))

    def visit_Call(self, node: cst.Call) -> None:
        self.call_of[id(node.func)] = node
        self.calls.append((node, self.scope, self._next()))

    def visit_Name(self, node: cst.Name) -> None:
        if id(node) not in self.stores:
            self.scope.references.append(Reference(node.value, node, self.scope, self._next()))


def alias_names(alias: cst.ImportAlias) -> tuple[str, str | None]:
    """An import alias as (dotted name, local name or None), as ``names`` takes it."""
    asname = dotted(alias.asname.name) if alias.asname is not None else None
    return dotted(alias.name), asname


def lookup(name: str, scope: Scope) -> tuple[Scope | None, list[Binding]]:
    """The scope that binds ``name`` as seen from ``scope`` (Python's rules), and its bindings."""
    current: Scope | None = scope
    first = True
    while current is not None:
        if name in current.globals:
            module = current
            while module.parent is not None:
                module = module.parent
            return module, module.bindings.get(name, [])
        if (first or current.kind is not ScopeKind.CLASS) and name in current.bindings:
            if name not in current.nonlocals:
                return current, current.bindings[name]
        first = False
        current = current.parent
    return None, []


def reaching(bindings: list[Binding], order: int, local: bool) -> Binding | None:
    """The binding in effect at ``order``: the last one before it in source order. For a name
    of an enclosing scope read later (a closure, a global), the last binding of all."""
    if not bindings:
        return None
    before = [b for b in bindings if b.order < order]
    if before:
        return before[-1]
    return None if local else bindings[-1]


def exported_names(module_scope: Scope) -> set[str]:
    """The names listed in a literal ``__all__``."""
    names: set[str] = set()
    for b in module_scope.bindings.get("__all__", []):
        if isinstance(b.value, cst.List | cst.Tuple):
            for el in b.value.elements:
                if isinstance(el.value, cst.SimpleString):
                    value = el.value.evaluated_value
                    if isinstance(value, str):  # not a bytes literal
                        names.add(value)
    return names


class _Returns(FastVisitor):
    """Return values of the function itself (not of functions nested in it)."""

    def __init__(self) -> None:
        self.values: list[cst.BaseExpression] = []

    def visit_Return(self, node: cst.Return) -> None:
        if node.value is not None:
            self.values.append(node.value)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False


def returned_values(fn: cst.FunctionDef | cst.Lambda) -> list[cst.BaseExpression]:
    """What a function returns: a lambda's body, or the values of a def's return statements."""
    if isinstance(fn, cst.Lambda):
        return [fn.body]
    visitor = _Returns()
    visitor.walk(fn.body)
    return visitor.values
