"""What the upgrade rules for flax 0.11's Optimizer API (NNX101, NNX102) know of a file: which
calls construct an ``nnx.Optimizer``, which expressions are one (from evidence: a construction,
an annotation, the calls of a function), which model it updates, and whether an expression
names the same object at two places of the file."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import libcst as cst

from nnx_lint.analysis.context import FileContext, Instance, Ref, is_static_or_classmethod
from nnx_lint.analysis.nnx_api import NNX, normalize
from nnx_lint.analysis.scopes import (
    Binding,
    BindingKind,
    FastVisitor,
    Scope,
    ScopeKind,
    lookup,
    reaching,
)

OPTIMIZER = f"{NNX}.Optimizer"
MODEL_AND_OPTIMIZER = f"{NNX}.ModelAndOptimizer"  # flax 0.11+: the 0.10 API, kept
GRAD = f"{NNX}.grad"
VALUE_AND_GRAD = f"{NNX}.value_and_grad"
DIFF_STATE = f"{NNX}.DiffState"
# Bases a project subclass of nnx.Optimizer may also list without changing its methods.
_NEUTRAL_BASES = frozenset({"typing.Generic", "builtins.object", "object"})
MAX_DEPTH = 8


@dataclass(frozen=True)
class Place:
    """Where an expression is evaluated: its scope and its order in the walk."""

    scope: Scope
    order: int


@dataclass(frozen=True)
class Construction:
    """A call that builds an ``nnx.Optimizer`` (or a project subclass that keeps its
    ``__init__``): ``nnx.Optimizer(model, tx)``, ``TrainState(model, tx)``, or
    ``super().__init__(model, tx)`` in a subclass whose first base is ``nnx.Optimizer``."""

    call: cst.Call
    place: Place

    @property
    def model(self) -> cst.BaseExpression | None:
        """The model argument (first positional, or ``model=``)."""
        for arg in self.call.args:
            if arg.star:
                return None
            if arg.keyword is None:
                return arg.value
            if arg.keyword.value == "model":
                return arg.value
        return None


@dataclass(frozen=True)
class Model:
    """A model expression and the place it is evaluated at."""

    expr: cst.BaseExpression
    place: Place


class _AttributeWrites(FastVisitor):
    """Every assignment to an attribute (``x.attr = ...``, ``x.attr += ...``, in a tuple target
    too), by attribute name."""

    def __init__(self) -> None:
        self.writes: dict[str, list[cst.Attribute]] = {}

    def _target(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Attribute):
            self.writes.setdefault(target.attr.value, []).append(target)
        elif isinstance(target, cst.Tuple | cst.List):
            for element in target.elements:
                self._target(element.value)
        elif isinstance(target, cst.StarredElement):
            self._target(target.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._target(target.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._target(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._target(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._target(node.target)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._target(node.asname.name)


class Optimizers:
    """The Optimizer facts of one file, computed on demand."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx

    # -- classes
    def optimizer_class(self, qualname: str, method: str) -> bool:
        """Is ``qualname`` ``nnx.Optimizer``, or a project class deriving from it alone (not
        from ``nnx.ModelAndOptimizer``) whose classes in the project do not define ``method``
        (so that flax's ``method`` runs)?"""
        if qualname == OPTIMIZER:
            return True
        index = self.ctx.index
        if index.class_facts(qualname) is None:
            return False
        chain = list(index.ancestors(qualname))
        if any(method in facts.methods for facts in chain):
            return False
        outside = {
            index.resolve(base)
            for facts in chain
            for base in facts.bases
            if index.class_facts(base) is None
        }
        return OPTIMIZER in outside and not (outside - {OPTIMIZER} - _NEUTRAL_BASES)

    # -- constructions
    def construction(self, call: cst.Call, place: Place) -> bool:
        """Does ``call`` run flax's ``Optimizer.__init__``?"""
        ctx = self.ctx
        func = call.func
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value == "__init__"
            and isinstance(func.value, cst.Call)
            and isinstance(func.value.func, cst.Name)
            and func.value.func.value == "super"
            and not func.value.args
        ):
            return self._super_init(place)
        value = ctx.evaluate(func, place.scope, place.order)
        return isinstance(value, Ref) and self.optimizer_class(value.qualname, "__init__")

    def _super_init(self, place: Place) -> bool:
        """``super().__init__(...)`` in a method of a class whose first base is
        ``nnx.Optimizer`` (so it calls flax's ``__init__``)."""
        scope = place.scope
        if lookup("super", scope)[0] is not None or scope.kind is not ScopeKind.FUNCTION:
            return False
        outer = scope.parent
        if outer is None or outer.kind is not ScopeKind.CLASS:
            return False
        facts = self.ctx.index.class_facts(outer.qualname)
        return facts is not None and bool(facts.bases) and facts.bases[0] == OPTIMIZER

    def constructions(self) -> list[Construction]:
        found = []
        for call, scope, order in self.ctx.scopes.calls:
            place = Place(scope, order)
            if self.construction(call, place):
                found.append(Construction(call, place))
        return found

    # -- what an expression is
    def optimizer_at(
        self, expr: cst.BaseExpression, place: Place, depth: int = 0
    ) -> tuple[bool, Construction | None]:
        """Is ``expr`` (at ``place``) an ``nnx.Optimizer`` whose ``update`` is flax's, and the
        construction it comes from when the file tells it."""
        if depth > MAX_DEPTH:
            return False, None
        ctx = self.ctx
        value = ctx.evaluate(expr, place.scope, place.order)
        if isinstance(value, Instance):
            if value.cls is None or value.container:
                return False, None
            if not self.optimizer_class(value.cls, "update"):
                return False, None
            if value.annotated and ctx.index.subclasses(value.cls):
                return False, None  # a subclass may define its own update
            if value.annotated and self.builds_model_and_optimizer:
                # `nnx.ModelAndOptimizer` subclasses `nnx.Optimizer` and keeps `update(grads)`:
                # in a file that builds one, the annotation does not tell which it is.
                return False, None
            return True, self._constructed_by(expr, place)
        if isinstance(expr, cst.Name):
            binding = self._binding(expr.value, place)
            if binding is not None and binding.kind is BindingKind.PARAM:
                if binding.annotation is None and self._passed_optimizers(binding, depth):
                    return True, None
        return False, None

    def _binding(self, name: str, place: Place) -> Binding | None:
        """The binding ``name`` has at ``place``, when it is the only one that can reach it."""
        found, bindings = lookup(name, place.scope)
        if found is None:
            return None
        if found is place.scope:
            return reaching(bindings, place.order, local=True)
        if len(bindings) == 1 and not self._rebound_elsewhere(name):
            return bindings[0]
        return None

    def _rebound_elsewhere(self, name: str) -> bool:
        return any(name in s.globals or name in s.nonlocals for s in self.ctx.module_scope.walk())

    def _constructed_by(self, expr: cst.BaseExpression, place: Place) -> Construction | None:
        """The construction a name or ``self.attr`` was bound to, if it is the only one."""
        if isinstance(expr, cst.Name):
            binding = self._binding(expr.value, place)
            if (
                binding is not None
                and binding.kind in (BindingKind.ASSIGN, BindingKind.ANNASSIGN)
                and isinstance(binding.value, cst.Call)
            ):
                at = Place(binding.scope, binding.order)
                if self.construction(binding.value, at):
                    return Construction(binding.value, self._call_place(binding.value, at))
            return None
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
            cls = self._method_class(expr.value.value, place)
            writes = self.attribute_writes.get(expr.attr.value, [])
            if cls is None or len(writes) != 1:
                return None
            write = writes[0]
            target = self.ctx.parent(write)
            assign = self.ctx.parent(target) if isinstance(target, cst.AssignTarget) else None
            root = write.value
            if not isinstance(assign, cst.Assign) or not isinstance(root, cst.Name):
                return None
            value = assign.value
            ref = self.ctx.reference(root)
            if ref is None or not isinstance(value, cst.Call):
                return None
            if self._method_class(root.value, Place(ref.scope, ref.order)) is not cls:
                return None
            at = Place(ref.scope, self.ctx.call_order(value))
            return Construction(value, at) if self.construction(value, at) else None
        return None

    def _call_place(self, call: cst.Call, fallback: Place) -> Place:
        for c, scope, order in self.ctx.scopes.calls:
            if c is call:
                return Place(scope, order)
        return fallback

    def _method_class(self, name: str, place: Place) -> Scope | None:
        """The class scope when ``name`` is the first parameter (``self``) of a method of
        it, read at ``place``."""
        binding = self._binding(name, place)
        if binding is None or binding.kind is not BindingKind.PARAM or binding.param_index:
            return None
        fn = binding.scope
        if fn.kind is not ScopeKind.FUNCTION or not isinstance(fn.node, cst.FunctionDef):
            return None
        outer = fn.parent
        if outer is None or outer.kind is not ScopeKind.CLASS:
            return None
        if is_static_or_classmethod(fn.node, self.ctx):
            return None
        return outer

    def _calls_of(self, param: Binding) -> list[tuple[cst.Call, Place]] | None:
        """Every call of the function ``param`` belongs to, when they are all of its uses and
        they are in this file (none: it is used otherwise, or also from other files)."""
        ctx = self.ctx
        fn = param.scope
        if fn.kind is not ScopeKind.FUNCTION or not isinstance(fn.node, cst.FunctionDef):
            return None
        node = fn.node
        outer = fn.parent
        if outer is None or outer.kind is ScopeKind.CLASS:
            return None  # methods are called through instances: not followed
        for dec in node.decorators:
            if ctx.as_jit(ctx.evaluate(dec.decorator, outer, param.order), dec.decorator) is None:
                return None  # a decorator that may change how arguments arrive
        name = node.name.value
        if len(outer.bindings.get(name, [])) != 1 or self._rebound_elsewhere(name):
            return None
        if outer.kind is ScopeKind.MODULE and ctx.index.importers(ctx.facts.module, name):
            return None  # called from other files too
        calls = []
        for ref in ctx.reads_of(name, outer):
            call = ctx.scopes.call_of.get(id(ref.node))
            if call is None:
                return None
            calls.append((call, Place(ref.scope, ref.order)))
        return calls or None

    def _passed_optimizers(self, param: Binding, depth: int) -> bool:
        """Is every call of the function ``param`` belongs to (at least one, all of its uses,
        in this file) given an ``nnx.Optimizer`` for it?"""
        calls = self._calls_of(param)
        if calls is None:
            return False
        for call, at in calls:
            arg = _argument(call, param)
            if arg is None or not self.optimizer_at(arg, at, depth + 1)[0]:
                return False
        return True

    def passes_built_model(
        self, optimizer: cst.BaseExpression, model: cst.BaseExpression, place: Place
    ) -> bool:
        """Are ``optimizer`` and ``model`` (at ``place``) parameters of one function, every
        call of which passes for ``model`` the very object the optimizer it passes was built
        with (``train_step(model, optimizer, x)`` after ``optimizer = nnx.Optimizer(model,
        tx)``)?"""
        if not isinstance(optimizer, cst.Name) or not isinstance(model, cst.Name):
            return False
        opt = self._binding(optimizer.value, place)
        mod = self._binding(model.value, place)
        if opt is None or mod is None or opt.scope is not mod.scope:
            return False
        if opt.kind is not BindingKind.PARAM or mod.kind is not BindingKind.PARAM:
            return False
        calls = self._calls_of(opt)
        if calls is None:
            return False
        for call, at in calls:
            given_opt, given_model = _argument(call, opt), _argument(call, mod)
            if given_opt is None or given_model is None:
                return False
            known, built = self.optimizer_at(given_opt, at)
            if not known or built is None or built.model is None:
                return False
            code = self.ctx.code
            if code(built.model) != code(given_model):
                return False
            if not self.same_object(built.model, built.place, at):
                return False
        return True

    @cached_property
    def builds_model_and_optimizer(self) -> bool:
        """Does the file build an ``nnx.ModelAndOptimizer`` (or a project subclass of it)?"""
        index = self.ctx.index
        for call, scope, order in self.ctx.scopes.calls:
            value = self.ctx.evaluate(call.func, scope, order)
            if not isinstance(value, Ref):
                continue
            if normalize(value.qualname) == MODEL_AND_OPTIMIZER or any(
                normalize(index.resolve(base)) == MODEL_AND_OPTIMIZER
                for facts in index.ancestors(value.qualname)
                for base in facts.bases
            ):
                return True
        return False

    @cached_property
    def attribute_writes(self) -> dict[str, list[cst.Attribute]]:
        visitor = _AttributeWrites()
        visitor.walk(self.ctx.module)
        return visitor.writes

    # -- the model
    def grad_model(self, grads: cst.BaseExpression, place: Place) -> Model | None:
        """The model ``grads`` are the gradients of: a local name bound by a call of
        ``nnx.grad(f, ...)`` / ``nnx.value_and_grad(f, ...)`` (applied at once, or through a
        name bound once), at the position it differentiates."""
        ctx = self.ctx
        if not isinstance(grads, cst.Name):
            return None
        found, bindings = lookup(grads.value, place.scope)
        if found is not place.scope:
            return None
        binding = reaching(bindings, place.order, local=True)
        if binding is None or not isinstance(binding.node, cst.Assign):
            return None
        assign = binding.node
        if len(assign.targets) != 1 or not isinstance(assign.value, cst.Call):
            return None
        applied = assign.value
        path = _path(assign.targets[0].target, grads.value)
        at = self._call_place(applied, Place(binding.scope, binding.order))
        transform = applied.func
        if isinstance(transform, cst.Name):
            bound = self._binding(transform.value, at)
            if bound is None or bound.kind is not BindingKind.ASSIGN:
                return None
            if not isinstance(bound.value, cst.Call):
                return None
            transform = bound.value
            transform_place = Place(bound.scope, bound.order)
        else:
            transform_place = at
        if not isinstance(transform, cst.Call):
            return None
        kind = ctx.evaluate(transform.func, transform_place.scope, transform_place.order)
        if not isinstance(kind, Ref) or kind.qualname not in (GRAD, VALUE_AND_GRAD):
            return None
        options = {a.keyword.value: a.value for a in transform.args if a.keyword}
        if any(a.star for a in transform.args):
            return None
        has_aux = _bool(options.get("has_aux", cst.Name("False")))
        position = self._argnum(options.get("argnums"), transform_place)
        if has_aux is None or position is None:
            return None
        if kind.qualname == VALUE_AND_GRAD:
            expected: tuple[int, ...] | None = (1,)
        else:
            expected = (0,) if has_aux else ()
        if path != expected:
            return None
        positional = []
        for arg in applied.args:
            if arg.star:
                break
            if arg.keyword is None:
                positional.append(arg.value)
        if position >= len(positional):
            return None
        return Model(positional[position], at)

    def _argnum(self, node: cst.BaseExpression | None, place: Place) -> int | None:
        """The one position ``argnums`` differentiates (0 by default), if literal."""
        if node is None:
            return 0
        if isinstance(node, cst.Integer):
            return int(node.value, 0)
        if isinstance(node, cst.Call) and node.args and isinstance(node.args[0].value, cst.Integer):
            kind = self.ctx.evaluate(node.func, place.scope, place.order)
            if isinstance(kind, Ref) and kind.qualname == DIFF_STATE:
                return int(node.args[0].value.value, 0)
        return None

    # -- identity
    def same_object(self, expr: cst.BaseExpression, first: Place, second: Place) -> bool:
        """Does ``expr`` (a name, or attributes of one) evaluate to the same object at both
        places? A name: the same binding reaches both (or the only binding of a name that
        nothing rebinds). ``self.a.b``: ``self`` of methods of one class, and each attribute
        assigned once in the file, in that class's ``__init__``, before ``first``."""
        chain: list[str] = []
        root = expr
        while isinstance(root, cst.Attribute):
            chain.append(root.attr.value)
            root = root.value
        if not isinstance(root, cst.Name):
            return False
        name = root.value
        if not chain:
            a, b = self._binding(name, first), self._binding(name, second)
            return a is not None and a is b and a.kind is not BindingKind.OTHER
        a, b = self._binding(name, first), self._binding(name, second)
        if a is not None and a is b:
            if a.kind is BindingKind.OTHER:
                return False
            owner = self._method_class(name, first)
        else:
            owner = self._method_class(name, first)
            if owner is None or self._method_class(name, second) is not owner:
                return False
        if owner is None:
            return False  # attributes of another object: what sets them is not known
        return self._set_once_in_init(chain, owner, first)

    def _set_once_in_init(self, chain: list[str], owner: Scope, first: Place) -> bool:
        if len(chain) != 1:
            return False  # `self.a.b`: a write `x.b = ...` may be to any object
        writes = self.attribute_writes.get(chain[0], [])
        if len(writes) != 1 or not isinstance(writes[0].value, cst.Name):
            return False
        root = writes[0].value
        ref = self.ctx.reference(root)
        if ref is None:
            return False
        fn = ref.scope
        if (
            fn.parent is not owner
            or not isinstance(fn.node, cst.FunctionDef)
            or fn.node.name.value != "__init__"
            or self._method_class(root.value, Place(ref.scope, ref.order)) is not owner
        ):
            return False
        return not (first.scope is fn and ref.order > first.order)


def _argument(call: cst.Call, param: Binding) -> cst.BaseExpression | None:
    """The argument ``call`` gives parameter ``param``, if it can be told."""
    position = 0
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is None:
            if position == param.param_index:
                return arg.value
            position += 1
        elif arg.keyword.value == param.name:
            return arg.value
    return None


def _path(target: cst.BaseExpression, name: str) -> tuple[int, ...] | None:
    """Where ``name`` stands in an assignment target: () for the whole, (1,) for the second
    element of a tuple, ..."""
    if isinstance(target, cst.Name):
        return () if target.value == name else None
    if isinstance(target, cst.Tuple | cst.List):
        for i, element in enumerate(target.elements):
            if isinstance(element, cst.StarredElement):
                return None
            inner = _path(element.value, name)
            if inner is not None:
                return (i, *inner)
    return None


def _bool(node: cst.BaseExpression) -> bool | None:
    if isinstance(node, cst.Name) and node.value in ("True", "False"):
        return node.value == "True"
    return None
