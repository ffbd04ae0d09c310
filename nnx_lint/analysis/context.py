"""Everything a rule knows about one file: its scopes, and what its expressions evaluate to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from nnx_lint.analysis import names, nnx_api
from nnx_lint.analysis.nnx_api import JitKind
from nnx_lint.analysis.positions import Positions
from nnx_lint.analysis.project_index import ProjectIndex
from nnx_lint.analysis.scopes import (
    Binding,
    BindingKind,
    Reference,
    Scope,
    ScopeBuilder,
    ScopeKind,
    lookup,
    reaching,
    returned_values,
)
from nnx_lint.diagnostics import LineIndex

if TYPE_CHECKING:
    from nnx_lint.settings import Settings

MAX_DEPTH = 16


@dataclass(frozen=True)
class Ref:
    """A module-level object known by its qualified name: a module, function or class."""

    qualname: str


@dataclass(frozen=True)
class Instance:
    """An instance of a class; ``nnx`` when it is an NNX object."""

    cls: str | None
    nnx: bool
    changes_state: bool | None  # True, False, or None when unknown
    hijax: bool = False  # made with hijax=True (nnx.Variable(..., hijax=True), nnx.with_vars)
    # A list, tuple, set or dict literal (or comprehension) whose elements are all NNX objects
    # (of class ``cls`` when they share one): `nets["q"](x)` calls an element.
    container: bool = False
    # Known from an annotation (or a return annotation), which a subclass also satisfies: its
    # calls do what the class's or any of its project subclasses' do.
    annotated: bool = False


@dataclass(frozen=True)
class Jit:
    """``jax.jit`` or ``nnx.jit``, possibly with options already bound (partial, factory)."""

    kind: JitKind
    spelled: cst.BaseExpression  # the expression that names jax.jit / nnx.jit
    options: tuple[cst.Arg, ...] = ()


@dataclass(frozen=True)
class Traced:
    """A JAX transform other than jit (``nnx_api.TRANSFORMS``), possibly with options bound
    (``functools.partial(jax.vmap, in_axes=...)``, ``jax.shard_map(mesh=...)``)."""

    spec: nnx_api.TransformSpec
    spelled: cst.BaseExpression  # the expression that names the transform
    options: tuple[cst.Arg, ...] = ()


@dataclass(frozen=True)
class Function:
    node: cst.FunctionDef | cst.Lambda
    scope: Scope  # the function's own scope


Value = Ref | Instance | Jit | Traced | Function | None


class FileContext:
    def __init__(
        self,
        module: cst.Module,
        source: str,
        path: str,
        index: ProjectIndex,
        settings: Settings,
        *,
        key: str,
        module_name: str,
        is_package: bool = False,
    ) -> None:
        """``key``: the file's key in the index (its absolute path); ``module_name``: its
        dotted module name."""
        self.module = module
        self.source = source
        self.path = path
        self.settings = settings
        self.index, self.facts = index.with_source(key, source, module_name, is_package)
        package = self.facts.module if is_package else self.facts.module.rpartition(".")[0]
        builder = ScopeBuilder(self.facts.module, package)
        builder.walk(module)
        self.scopes = builder
        assert builder.module_scope is not None  # set by the walk of the module
        self.module_scope: Scope = builder.module_scope

    def close(self) -> None:
        """Done with the file: its scopes are taken apart (``ScopeBuilder.dismantle``)."""
        self.scopes.dismantle()

    @property
    def hijax(self) -> bool:
        """Flax's hijax mode is on for this file: closures that mutate are legal."""
        return self.index.hijax(self.facts)

    @cached_property
    def switches_modes(self) -> bool:
        """Does the file call ``.eval()``, ``.train()`` or ``.set_attributes(...)`` on
        something? Then the mode of a Dropout or BatchNorm at a given call cannot be told."""
        compiled = [  # a switch inside a compiled function is that function's state change
            self.scopes.scope_of[id(fn)]
            for dec, fn, scope, order in self.scopes.decorators
            if self.as_jit(self.evaluate(dec.decorator, scope, order), dec.decorator)
        ]
        return any(
            isinstance(call.func, cst.Attribute)
            and call.func.attr.value in nnx_api.MODE_SWITCHES
            and not any(c.contains(scope) for c in compiled)
            for call, scope, _ in self.scopes.calls
        )

    def hijax_at(self, node: cst.CSTNode) -> bool:
        """Is hijax mode on where ``node`` stands: for the whole file, or inside a function
        decorated with, or a `with` block entered with, a call that turns it on?"""
        if self.hijax:
            return True
        if not any(word in self.source for word in nnx_api.HIJAX_WORDS):
            return False  # the cheap answer for nearly every file
        current: cst.CSTNode | None = node
        while current is not None:
            if isinstance(current, cst.FunctionDef):
                calls = [d.decorator for d in current.decorators]
            elif isinstance(current, cst.With):
                calls = [item.item for item in current.items]
            else:
                calls = []
            if any(isinstance(c, cst.Call) and self._turns_on_hijax(c) for c in calls):
                return True
            current = self.parent(current)
        return False

    def _turns_on_hijax(self, call: cst.Call) -> bool:
        func = self.value_at(call.func)
        if not isinstance(func, Ref):
            return False
        args: list[tuple[str | None, object]] = [
            (a.keyword.value if a.keyword else None, literal(a.value)) for a in call.args
        ]
        return nnx_api.hijax_call(func.qualname, args)

    # -- positions and text
    @cached_property
    def lines(self) -> LineIndex:
        return LineIndex(self.source)

    @cached_property
    def _positions(self) -> Positions:
        return Positions(self.module, self.source, self.scopes.statement_of)

    def span(self, node: cst.CSTNode) -> tuple[int, int]:
        """Character offsets of ``node`` in the source."""
        rng = self._positions[node]
        return (
            self.lines.offset(rng.start.line, rng.start.column),
            self.lines.offset(rng.end.line, rng.end.column),
        )

    def position(self, node: cst.CSTNode) -> tuple[int, int, int, int]:
        """1-based line, column, end line, end column."""
        rng = self._positions[node]
        return rng.start.line, rng.start.column + 1, rng.end.line, rng.end.column + 1

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    @cached_property
    def _references(self) -> dict[int, Reference]:
        return {id(r.node): r for s in self.module_scope.walk() for r in s.references}

    def reference(self, name: cst.Name) -> Reference | None:
        """The recorded read of a name node (its scope and order)."""
        return self._references.get(id(name))

    @cached_property
    def _references_by_name(self) -> dict[str, list[Reference]]:
        found: dict[str, list[Reference]] = {}
        for scope in self.module_scope.walk():
            for ref in scope.references:
                found.setdefault(ref.name, []).append(ref)
        return found

    def named(self, name: str) -> list[Reference]:
        """Every recorded read of ``name``, wherever it stands (in scope-walk order)."""
        return self._references_by_name.get(name, [])

    def reads_of(self, name: str, scope: Scope) -> list[Reference]:
        """The reads of ``name`` that resolve to its binding in ``scope``."""
        return [ref for ref in self.named(name) if lookup(name, ref.scope)[0] is scope]

    @cached_property
    def _call_orders(self) -> dict[int, int]:
        return {id(call): order for call, _, order in self.scopes.calls}

    def call_order(self, call: cst.Call) -> int:
        return self._call_orders[id(call)]

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        """The node ``node`` stands in (as the scope builder walked it: expressions,
        statements, arguments and targets, not punctuation or whitespace)."""
        return self.scopes.parents.get(id(node))

    def root_reference(self, node: cst.BaseExpression) -> Reference | None:
        """The recorded read of the name an expression starts from (``model`` in
        ``model.encode(x)[0]``), if any."""
        root: cst.BaseExpression = node
        while isinstance(root, cst.Attribute | cst.Subscript | cst.Call):
            root = root.func if isinstance(root, cst.Call) else root.value
        return self.reference(root) if isinstance(root, cst.Name) else None

    def value_at(self, node: cst.BaseExpression) -> Value:
        """What an expression evaluates to where it stands (through its root name's scope)."""
        ref = self.root_reference(node)
        return self.evaluate(node, ref.scope, ref.order) if ref is not None else None

    # -- evaluation
    def evaluate(self, expr: cst.BaseExpression, scope: Scope, order: int, depth: int = 0) -> Value:
        if depth > MAX_DEPTH or expr is None:
            return None
        if isinstance(expr, cst.Name):
            return self.value_of_name(expr.value, scope, order, depth)
        if isinstance(expr, cst.Attribute):
            base = self.evaluate(expr.value, scope, order, depth + 1)
            attr = expr.attr.value
            if isinstance(base, Ref):
                return Ref(self.index.foreign(nnx_api.normalize(f"{base.qualname}.{attr}")))
            if isinstance(base, Instance) and base.cls:
                attr_cls = self.index.attr_type(base.cls, attr)
                return self.instance_of(attr_cls) if attr_cls else None
            return None
        if isinstance(expr, cst.Call):
            return self._evaluate_call(expr, scope, order, depth)
        if isinstance(expr, cst.Lambda):
            return Function(expr, self.scopes.scope_of[id(expr)])
        if isinstance(expr, cst.Subscript):  # an element of a container of NNX objects
            base = self.evaluate(expr.value, scope, order, depth + 1)
            if isinstance(base, Instance) and base.container:
                return replace(base, container=False)
            return None
        return self._container(expr, scope, order, depth)

    def _container(self, expr: cst.BaseExpression, scope: Scope, order: int, depth: int) -> Value:
        """A literal list, tuple, set or dict (or a comprehension) of NNX objects."""
        elements: list[cst.BaseExpression] = []
        if isinstance(expr, cst.List | cst.Tuple | cst.Set):
            if any(isinstance(e, cst.StarredElement) for e in expr.elements):
                return None
            elements = [e.value for e in expr.elements]
        elif isinstance(expr, cst.Dict):
            if any(not isinstance(e, cst.DictElement) for e in expr.elements):
                return None  # `**other`
            elements = [e.value for e in expr.elements]
        elif isinstance(expr, cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp):
            inner = self.scopes.scope_of.get(id(expr))
            if inner is None:
                return None
            elt = expr.value if isinstance(expr, cst.DictComp) else expr.elt
            value = self.evaluate(elt, inner, 1 << 60, depth + 1)
            if isinstance(value, Instance) and value.nnx and not value.container:
                return replace(value, container=True)
            return None
        values = [self.evaluate(e, scope, order, depth + 1) for e in elements]
        found = [v for v in values if isinstance(v, Instance) and v.nnx and not v.container]
        if not values or len(found) != len(values):
            return None
        classes = {v.cls for v in found}
        states = {v.changes_state for v in found}
        changes = True if True in states else None if None in states else False
        one = classes.pop() if len(classes) == 1 else None
        return Instance(one, True, changes, any(v.hijax for v in found), container=True)

    def _evaluate_call(self, call: cst.Call, scope: Scope, order: int, depth: int) -> Value:
        func = self.evaluate(call.func, scope, order, depth + 1)
        jit = self.as_jit(func, call.func)
        if jit is not None:
            if self.jit_target(call) is None:  # decorator factory: jax.jit(static_argnums=0)
                return Jit(jit.kind, jit.spelled, jit.options + tuple(call.args))
            return None  # a jitted function
        traced = self.as_traced(func, call.func)
        if traced is not None:
            if traced.spec.operands is None and not self.traced_functions(call, traced.spec):
                # a decorator factory: jax.shard_map(mesh=mesh, in_specs=..., out_specs=...)
                return Traced(traced.spec, traced.spelled, traced.options + tuple(call.args))
            return None  # a transformed function, or what a transform applied at once returns
        if isinstance(func, Ref):
            qual = func.qualname
            if qual == "functools.partial" and call.args and call.args[0].keyword is None:
                first = call.args[0].value
                bound = self.evaluate(first, scope, order, depth + 1)
                inner = self.as_jit(bound, first)
                if inner is not None:
                    return Jit(inner.kind, inner.spelled, inner.options + tuple(call.args[1:]))
                options = tuple(call.args[1:])
                transform = self.as_traced(bound, first)
                if transform is not None and all(a.keyword is not None for a in options):
                    return Traced(transform.spec, transform.spelled, transform.options + options)
                return None
            given = {a.keyword.value: literal(a.value) for a in call.args if a.keyword}
            if qual in nnx_api.FACTORIES:
                return Instance(None, True, None, hijax=given.get("hijax") is True)
            instance = self.instance_of(qual)
            if instance is None and (returned := self.index.returned_class(qual)):
                found = self.instance_of(returned)  # `make_model(cfg)` of another module
                return replace(found, annotated=True) if found is not None else None
            if instance is not None and instance.nnx and given.get("hijax") is True:
                return Instance(instance.cls, True, instance.changes_state, hijax=True)
            quiet = nnx_api.QUIET_WHEN.get(qual)
            if instance is not None and quiet is not None:
                flag, value = quiet  # nnx.Dropout(0.5, deterministic=True): changes nothing
                given = {a.keyword.value: literal(a.value) for a in call.args if a.keyword}
                if given.get(flag) is value:
                    return Instance(qual, True, False)
            if instance is not None and qual in nnx_api.CALLING_CONTAINERS:
                # nnx.Sequential(...) calls what it holds: its contents decide.
                parts = [self.evaluate(a.value, scope, order, depth + 1) for a in call.args]
                states = [p.changes_state for p in parts if isinstance(p, Instance) and p.nnx]
                if True in states:
                    return Instance(instance.cls, True, True)
                if states and None not in states:
                    return Instance(instance.cls, True, False)
            return instance
        if isinstance(func, Function) and isinstance(func.node, cst.FunctionDef):
            returns = func.node.returns
            if returns is not None:
                outer = func.scope.parent
                assert outer is not None  # a function's scope is inside the module's
                return self.annotation_instance(returns.annotation, outer, order)
            return self._returned(func, depth)
        return None

    def _returned(self, func: Function, depth: int) -> Value:
        """The NNX object an unannotated function returns (``def make_model(): return
        Model(...)``): every return statement gives an NNX object, of one class (else its
        class is not known). None when one returns something else or nothing."""
        values = returned_values(func.node)
        found = [self.evaluate(v, func.scope, 1 << 60, depth + 1) for v in values]
        instances = [v for v in found if isinstance(v, Instance) and v.nnx]
        if not values or len(instances) != len(values):
            return None
        if len({i.cls for i in instances}) == 1:
            return instances[0]
        return Instance(None, True, None)

    def as_jit(self, value: Value, spelled: cst.BaseExpression) -> Jit | None:
        if isinstance(value, Jit):
            return value
        if isinstance(value, Ref) and value.qualname in nnx_api.JIT:
            return Jit(nnx_api.JIT[value.qualname], spelled)
        return None

    @staticmethod
    def as_traced(value: Value, spelled: cst.BaseExpression) -> Traced | None:
        """``value`` as a JAX transform other than jit, if it is one."""
        if isinstance(value, Traced):
            return value
        if isinstance(value, Ref) and value.qualname in nnx_api.TRANSFORMS:
            return Traced(nnx_api.TRANSFORMS[value.qualname], spelled)
        return None

    @staticmethod
    def traced_functions(call: cst.Call, spec: nnx_api.TransformSpec) -> list[cst.Arg]:
        """The arguments of a call of a transform that are the functions it traces (for
        `lax.switch`, the sequence of them)."""
        positional: list[cst.Arg] = []
        for arg in call.args:
            if arg.star:
                break  # `*args`: the positions after it are not known
            if arg.keyword is None:
                positional.append(arg)
        found: list[cst.Arg] = []
        for position, keyword in zip(spec.functions, spec.keywords, strict=True):
            if position < len(positional):
                found.append(positional[position])
            else:
                given = [a for a in call.args if a.keyword and a.keyword.value == keyword]
                found += given[:1]
        return found

    @staticmethod
    def jit_target(call: cst.Call) -> cst.Arg | None:
        """The argument of ``jit(...)`` that is the function compiled, if any."""
        for arg in call.args:
            if arg.keyword is None and not arg.star:
                return arg
            if arg.keyword is not None and arg.keyword.value in ("fun", "f"):
                return arg
        return None

    def instance_of(self, qualname: str) -> Instance | None:
        qualname = self.index.foreign(qualname)  # `pkg.Dropout`, flax's Dropout re-exported
        if qualname in self.index.classes or self.index.resolve(qualname) in self.index.classes:
            nnx = self.index.is_module(qualname)
            return Instance(qualname, nnx, self.index.changes_state(qualname) if nnx else None)
        if nnx_api.nnx_class_kind(qualname) is not None:
            return Instance(qualname, True, self.index.changes_state(qualname))
        return None

    def annotation_instance(
        self, annotation: cst.BaseExpression, scope: Scope, order: int
    ) -> Instance | None:
        """The instance an annotation says a value is (``names.annotated_class``): names are
        looked up where the annotation stands; in a string annotation, as they are bound at
        the end (a forward reference)."""

        def resolver(at: int) -> Callable[[tuple[str, ...]], str | None]:
            def resolve(parts: tuple[str, ...]) -> str | None:
                value = self.value_of_name(parts[0], scope, at, 1)
                return ".".join((value.qualname, *parts[1:])) if isinstance(value, Ref) else None

            return resolve

        expr = names.from_cst(annotation)
        qualname = names.annotated_class(expr, resolver(order), resolve_text=resolver(1 << 60))
        instance = self.instance_of(qualname) if qualname else None
        return replace(instance, annotated=True) if instance is not None else None

    def value_of_name(self, name: str, scope: Scope, order: int, depth: int = 0) -> Value:
        found, bindings = lookup(name, scope)
        if found is None:
            return None
        binding = reaching(bindings, order, local=found is scope)
        return self.value_of_binding(binding, depth) if binding else None

    def binding_of(self, name: str, scope: Scope, order: int) -> Binding | None:
        found, bindings = lookup(name, scope)
        return reaching(bindings, order, local=found is scope) if found else None

    def value_of_binding(self, b: Binding, depth: int = 0) -> Value:
        if b.kind is BindingKind.IMPORT and b.qualname is not None:
            return Ref(self.index.foreign(b.qualname))
        if b.kind is BindingKind.DEF:
            assert isinstance(b.node, cst.FunctionDef)  # a def binds its FunctionDef
            return Function(b.node, self.scopes.scope_of[id(b.node)])
        if b.kind is BindingKind.CLASS:
            return Ref(self.scopes.scope_of[id(b.node)].qualname)
        if b.kind is BindingKind.PARAM:
            outer = b.scope.parent
            assert outer is not None  # a parameter's scope is a function's or a lambda's
            if b.annotation is not None:
                return self.annotation_instance(b.annotation, outer, b.order)
            if (
                b.param_index == 0
                and b.scope.kind is ScopeKind.FUNCTION
                and isinstance(b.scope.node, cst.FunctionDef)  # as for every FUNCTION scope
                and outer.kind is ScopeKind.CLASS
            ):
                if not is_static_or_classmethod(b.scope.node, self):
                    return self.instance_of(outer.qualname) or Instance(outer.qualname, False, None)
            return None
        if b.kind is BindingKind.ANNASSIGN and b.annotation is not None:
            instance = self.annotation_instance(b.annotation, b.scope, b.order)
            if instance is not None:
                return instance
        if b.kind in (BindingKind.ASSIGN, BindingKind.ANNASSIGN) and b.value is not None:
            return self.evaluate(b.value, b.scope, b.order, depth + 1)
        return None


def literal(node: cst.BaseExpression) -> object:
    """The value of a literal argument (True, False, None, a string, a number), else None."""
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[node.value]
    if isinstance(node, cst.SimpleString):
        return node.evaluated_value
    if isinstance(node, cst.Integer):
        return int(node.value, 0)
    return None


_STATIC_DECORATORS = frozenset({"staticmethod", "classmethod"})


def is_static_or_classmethod(fn: cst.FunctionDef, ctx: FileContext | None = None) -> bool:
    """Is ``fn`` a static or class method, decorated with the builtin ``staticmethod`` or
    ``classmethod`` (``@staticmethod``, ``@builtins.classmethod``)? With ``ctx`` the decorator
    is resolved where it stands (a name the file binds to something else does not count);
    without it (while the file's scopes are built), the decorator's last name decides."""
    for dec in fn.decorators:
        d = dec.decorator
        if isinstance(d, cst.Name):
            last = d.value
        elif isinstance(d, cst.Attribute):
            last = d.attr.value
        else:
            continue
        if last in _STATIC_DECORATORS and (ctx is None or is_builtin(ctx, d)):
            return True
    return False


def is_builtin(ctx: FileContext, node: cst.Name | cst.Attribute) -> bool:
    """Does ``node`` name the builtin of its name where it stands: a name the file does not
    bind there (``type``, ``staticmethod``), or ``builtins.<name>``?"""
    if isinstance(node, cst.Name):
        ref = ctx.reference(node)
        return ref is not None and ctx.binding_of(node.value, ref.scope, ref.order) is None
    value = ctx.value_at(node)
    return isinstance(value, Ref) and value.qualname == f"builtins.{node.attr.value}"
