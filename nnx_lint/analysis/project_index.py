"""The project-wide index of classes: which are NNX Modules, which change state when called.

Built with the standard library's ``ast`` (cheap) from the facts of every file of the project,
which the caller reads and hands in (``scan_source``; reading and caching live in
``nnx_lint.project``); the file being checked is re-read from its current text
(``with_source``). Rules ask it about qualified class names (``pkg.models.Ranker``), whatever
file the class lives in. Pure: no file system, no cache.
"""

from __future__ import annotations

import ast
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

try:  # the C module itself: hashlib would load OpenSSL first, ~5 ms of a replayed run's time
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import blake2b

from nnx_lint.analysis import names, nnx_api
from nnx_lint.analysis.nnx_api import Effect

TYPE_CHECKING = False  # as typing's: a replayed run does not import typing (``runs``)
if TYPE_CHECKING:
    from typing import Any


@dataclass(frozen=True)
class Site:
    """Where something happens in a method: its line and its source text, and whether it
    runs only under a condition (in an ``if``, ``while``, ``except`` or ``match`` branch, a
    conditional expression, or after ``and``/``or``)."""

    line: int
    text: str
    conditional: bool = False


NOT_LITERAL = "<not a literal>"  # a keyword argument whose value is not a constant

# Keyword arguments worth keeping from calls and constructions: they decide whether flax's
# Dropout and BatchNorm change state.
FLAGS = frozenset({"deterministic", "use_running_average", "rate", "rngs"})


ITEM = "[]"  # in a call path: an element of the attribute before it (`self.blocks[i]`)
# flax's Variable classes, as `nnx_api.normalize` names them.
_VARIABLES = frozenset(f"{nnx_api.NNX}.{name}" for name in nnx_api.VARIABLE_CLASSES)


@dataclass(frozen=True)
class CallSite(Site):
    """A call a method makes on ``self``: ``path`` is ``()`` for ``self(x)``, ``("m",)`` for
    ``self.m(x)`` (a method or a callable attribute), ``("sub", "m")`` for ``self.sub.m(x)``,
    ``("blocks", ITEM)`` for ``self.blocks[i](x)`` or ``for b in self.blocks: b(x)``,
    ``("super", "m")`` for ``super().m(x)``."""

    path: tuple[str, ...] = ()
    flags: tuple[tuple[str, object], ...] = ()  # FLAGS given at the call, literal or not


@dataclass(frozen=True)
class MethodSummary:
    """What one method does to the state of its object when it runs."""

    writes: tuple[Site, ...]  # assignments to self's state (outside __init__)
    calls: tuple[CallSite, ...]  # calls on self, its methods, attributes and their elements
    unknown: tuple[CallSite, ...]  # calls on something of self's not followed as calls
    passed: tuple[CallSite, ...] = ()  # self's attributes handed to other calls (path: attr)
    # NNX transforms run on self or its attributes (text: the transform's qualified name; path:
    # () for self, (attr,)), or the method compiled by one (`@nnx.jit`): see `Nested`.
    nested: tuple[CallSite, ...] = ()


@dataclass(frozen=True)
class ClassFacts:
    qualname: str
    bases: tuple[str, ...]
    attrs: dict[str, str]  # self.attr -> class qualname
    pytree_false: bool
    methods: frozenset[str]
    summaries: dict[str, MethodSummary]  # method name -> what it does to self's state
    contents: dict[str, frozenset[str]]  # self.attr -> classes constructed in its value
    flags: dict[str, tuple[tuple[str, object], ...]]  # self.attr -> FLAGS it was built with


@dataclass(frozen=True)
class CallFact:
    """A call, in one file, of a function imported from another module (``step(model, x)``,
    or ``benchmark(step, model, x)`` / ``partial(step, model)``: ``passed``, the arguments
    after it), with the class of each argument whose class the file tells: a local name
    bound by a construction or annotated, ``self.attr`` of a known class, a construction."""

    callee: str  # qualified name of the function called (or passed)
    line: int
    args: tuple[tuple[int | str, str], ...]  # (position or keyword, class qualname)
    passed: int | None = None  # passed along: how many positional arguments follow it


# Packages whose functions are never the project's compiled functions, nor call them with
# the arguments after them (``jax.lax.fori_loop(0, n, body, init)``).
EXTERNAL = frozenset({"jax", "flax", "optax", "numpy", "orbax", "chex", "einops", "typing"})


@dataclass(frozen=True)
class FileFacts:
    module: str
    imports: dict[str, str] = field(default_factory=dict)  # module-level name -> qualified name
    classes: dict[str, ClassFacts] = field(default_factory=dict)
    hijax: bool = False
    digest: bytes = b""  # digest of the text the facts were read from
    calls: tuple[CallFact, ...] = ()  # calls of imported functions with NNX-looking arguments
    returns: dict[str, str] = field(default_factory=dict)  # function -> the class it returns
    identity: bytes = b""  # digest of the facts above (``facts_digest``), made by the scan
    is_package: bool = False  # the module is a package's __init__ (relative imports start there)
    # Imported module-level names whose binding another module gets is not told by
    # ``imports`` (``_rebound``: bound twice, or before a star import).
    rebound: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Verdict:
    """What a call does to state, and why: the steps from the call to the first state change
    (or to what cannot be told)."""

    effect: Effect
    reasons: tuple[str, ...]
    # Where the first state change (or what cannot be told) stands: (file key, line).
    location: tuple[str, int] | None = None
    # Decided by a module's mode (Dropout, BatchNorm), which .eval()/.train() may switch.
    mode_dependent: bool = False
    # Whether a change adds or replaces an attribute (`self.cache = x`, `sow`, `.eval()`)
    # rather than a Variable's value (`self.count[...] += 1`, an Rngs draw, BatchNorm's
    # statistics, `optimizer.update`): NNX's tree mode drops those silently. None: cannot tell.
    restructures: bool | None = None
    # The call runs an NNX transform on the object's own state, which raises when the object
    # is captured by a JAX transform (and is fine when it is passed as an argument).
    nested: Nested | None = None
    # The first change that certainly adds or replaces an attribute (run unconditionally).
    moved: Moved | None = None
    # The change is an NNX transform run on an object captured from outside the trace (which
    # flax 0.10.5+ refuses), not a change to the object's state.
    captured_transform: bool = False


@dataclass(frozen=True)
class Moved:
    """A change to an object's structure: the steps to it, and where it stands."""

    reasons: tuple[str, ...]  # "`M.reset` assigns `self.cache` (line 9)"
    location: tuple[str, int] | None = None

    def after(self, step: str, location: tuple[str, int] | None) -> Moved:
        """The same change reached through one more step (a call)."""
        return Moved((step, *self.reasons), self.location or location)


@dataclass(frozen=True)
class Nested:
    """An NNX transform a call runs on its object's state (``nnx_api.NESTED_TRANSFORMS``)."""

    reason: str  # the steps to it: "`Stack.__call__` runs `nnx.scan` on `self.layers` (line 9)"
    transform: str  # its qualified name: flax.nnx.scan

    @property
    def raises(self) -> str:
        """What it raises, with the error's words: `ValueError ("Cannot extract ...")`."""
        return nnx_api.NESTED_TRANSFORMS[self.transform]

    @property
    def error(self) -> str:
        """The exception's name alone, for one line: `ValueError`."""
        return self.raises.split(" ", 1)[0]


def join(verdicts: list[Verdict]) -> Verdict:
    """Any change wins; else anything unknown makes the whole unknown; else pure (resting on
    a mode when any part does). Whether the whole restructures is told from every part."""
    if any(v.restructures for v in verdicts if v.effect is not Effect.PURE):
        restructures: bool | None = True
    elif any(
        v.effect is Effect.UNKNOWN or v.restructures is None
        for v in verdicts
        if v.effect is not Effect.PURE
    ):
        restructures = None
    else:
        restructures = False
    nested = next((v.nested for v in verdicts if v.nested is not None), None)
    moved = next((v.moved for v in verdicts if v.moved and v.effect is Effect.CHANGES), None)
    for effect in (Effect.CHANGES, Effect.UNKNOWN):
        for verdict in verdicts:
            if verdict.effect is effect:
                return replace(verdict, restructures=restructures, nested=nested, moved=moved)
    modal = any(v.mode_dependent for v in verdicts)
    return Verdict(Effect.PURE, (), mode_dependent=modal, restructures=False, nested=nested)


# A write into a Variable's value (`self.count.value = ...`, `self.count[...] += 1`), not of an
# attribute itself.
VALUE_WRITE = re.compile(r"(\.value|\[\.\.\.\])$")


def write_moves(target: str) -> bool | None:
    """Does assigning ``target`` (`self.cache`, `self.w[...]`) add or replace an attribute
    rather than change a Variable's value? None for another item (`self.w[0]`: a Variable's
    value, or a container's element)."""
    if VALUE_WRITE.search(target):
        return False
    return None if target.endswith("]") else True


def _short(qualname: str) -> str:
    return qualname.rsplit(".", 1)[-1]


def _literal(node: ast.expr) -> object:
    return node.value if isinstance(node, ast.Constant) else None


def facts_digest(f: FileFacts) -> bytes:
    """Identifies a file's facts (not its text): the index's fingerprint is made of these, so
    every field but the text's digest must be here (a result cached under the fingerprint, or a
    replayed run with a changed file, stands only while they are the same)."""
    classes = [
        (
            c.qualname,
            c.bases,
            sorted(c.attrs.items()),
            c.pytree_false,
            sorted(c.methods),
            sorted(c.summaries.items()),
            sorted((k, sorted(v)) for k, v in c.contents.items()),
            sorted(c.flags.items()),
        )
        for c in sorted(f.classes.values(), key=lambda c: c.qualname)
    ]
    returns = sorted(f.returns.items())
    facts = (
        f.module,
        f.is_package,
        sorted(f.imports.items()),
        f.hijax,
        classes,
        f.calls,
        returns,
        sorted(f.rebound),
    )
    return blake2b(repr(facts).encode(), digest_size=16).digest()


def text_digest(text: str) -> bytes:
    """Identifies a text: the index knows whether it parsed exactly the text being checked."""
    return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _imports(node: ast.AST, package: str) -> list[names.ImportedName]:
    if isinstance(node, ast.Import):
        return names.import_names([(a.name, a.asname) for a in node.names])
    if isinstance(node, ast.ImportFrom):
        aliases = [(a.name, a.asname) for a in node.names]
        return names.from_import_names(node.module, node.level, package, aliases)
    return []


class _FileScanner:
    def __init__(self, module: str, is_package: bool, hijax_possible: bool) -> None:
        self.hijax_possible = hijax_possible  # the text mentions hijax at all
        self.module = module
        self.imports: dict[str, str] = {}  # module-level name -> qualified name
        self.classes: dict[str, ClassFacts] = {}
        self.hijax = False
        self.is_package = is_package
        self.package = module if is_package else module.rpartition(".")[0]
        self.local_classes: dict[str, str] = {}
        self.local_imports: dict[str, str] = {}  # imports of the method being scanned
        self.flags: dict[str, tuple[tuple[str, object], ...]] = {}  # of the class scanned
        self.calls: list[CallFact] = []
        self.globals: dict[str, str] = {}  # module-level names bound by a construction
        self.imports_functions = False  # imports something other than jax's and its kind

    def _name(self, parts: tuple[str, ...]) -> str | None:
        head, rest = parts[0], parts[1:]
        base = (
            self.local_imports.get(head) or self.imports.get(head) or self.local_classes.get(head)
        )
        return ".".join((base, *rest)) if base else None

    def qualify(self, node: ast.expr | None) -> str | None:
        """The class an annotation or a called name stands for (``names.annotated_class``)."""
        return names.annotated_class(names.from_ast(node), self._name)

    def scan(self, tree: ast.Module, digest: bytes) -> FileFacts:
        # Imports and class names first, wherever they stand: a class may use a later import.
        for node in tree.body:
            self._import(node)
            if isinstance(node, ast.ClassDef):
                self.local_classes[node.name] = f"{self.module}.{node.name}"
        for node in tree.body:  # then aliases of what they bind: `Drop = nnx.Dropout`
            self._alias(node)
        if self.hijax_possible:
            # As a decorator or a `with` item, hijax is on inside that function or block only
            # (the checked file's context looks at those); elsewhere for the whole program.
            everything = walk(tree)
            scoped = {
                id(call)
                for node in everything
                for call in (
                    node.decorator_list
                    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                    else [item.context_expr for item in node.items]
                    if isinstance(node, ast.With | ast.AsyncWith)
                    else []
                )
            }
            for sub in everything:
                if isinstance(sub, ast.Call) and id(sub) not in scoped:
                    self._hijax(sub)
                elif isinstance(sub, ast.Assign) and isinstance(sub.targets[0], ast.Subscript):
                    target = sub.targets[0]
                    key, value = _literal(target.slice), _literal(sub.value)
                    if nnx_api.hijax_environ(self.qualify(target.value), key, value):
                        self.hijax = True
        # Calls of other modules' functions need an import of something not jax's and its kind.
        self.imports_functions = any(
            q.partition(".")[0] not in EXTERNAL for q in self.imports.values()
        )
        if self.imports_functions:
            top = [n for n in tree.body if not isinstance(n, _DEFINITIONS)]
            top_nodes = _Walked.of([n for stmt in top for n in walk(stmt)])
            self.globals = _constructed(top_nodes, self.qualify)
            self._calls(top_nodes, {})
        self._classes(tree.body, self.module)
        for node in tree.body if self.imports_functions else ():
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self._calls(_Walked.of(walk(node)), _annotated(node, self.qualify))
        returns = {
            node.name: cls
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and (cls := self._returned(node))
        }
        facts = FileFacts(self.module, self.imports, self.classes, self.hijax, digest)
        facts = replace(
            facts,
            calls=tuple(self.calls),
            returns=returns,
            is_package=self.is_package,
            rebound=_rebound(tree.body, self.imports),
        )
        return replace(facts, identity=facts_digest(facts))

    def _returned(self, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
        """The class a module-level function returns: its annotation's, or the one class that
        every return statement constructs (``return Model(...)``, or a local name bound by
        such a construction)."""
        if fn.returns is not None:
            return self.qualify(fn.returns)
        values: list[ast.expr | None] = []
        todo: list[ast.AST] = list(fn.body)
        while todo:  # the function's own returns, not those of functions nested in it
            node = todo.pop()
            if isinstance(node, ast.Return):
                values.append(node.value)
            elif not isinstance(node, (*_DEFINITIONS, ast.Lambda)):
                todo.extend(ast.iter_child_nodes(node))
        if not values or any(v is None for v in values):
            return None
        local: dict[str, str] | None = None
        classes = set()
        for value in values:
            if isinstance(value, ast.Call):
                classes.add(self.qualify(value.func))
            elif isinstance(value, ast.Name):
                if local is None:
                    local = _constructed(_Walked.of(walk(fn)), self.qualify)
                classes.add(local.get(value.id))
            else:
                return None
        return classes.pop() if len(classes) == 1 else None

    def _callee(self, node: ast.expr) -> str | None:
        """The imported function a name or attribute stands for (not the file's own, nor
        jax's and its kind)."""
        root = node
        while isinstance(root, ast.Attribute):
            root = root.value
        if not isinstance(root, ast.Name):
            return None
        qual = self.local_imports.get(root.id) or self.imports.get(root.id)
        if qual is None or qual.partition(".")[0] in EXTERNAL:
            return None  # the common case, told without building the dotted name
        dotted = names.from_ast(node)
        qual = self._name(dotted.parts) if isinstance(dotted, names.Dotted) else None
        if qual is None or qual.partition(".")[0] in EXTERNAL or qual in self.classes:
            return None
        return qual

    def _calls(
        self, nodes: _Walked, params: dict[str, str], attrs: dict[str, str] | None = None
    ) -> None:
        """Record the calls among ``nodes`` (a function's, or the module's top level) of
        imported functions with arguments of known classes (``CallFact``)."""
        # Calls of imported functions, and calls handing one on: (call, callee, where).
        found: list[tuple[ast.Call, str, int | None]] = []
        for node in nodes.calls:
            if not (node.args or node.keywords):
                continue
            callee = self._callee(node.func)
            if callee is not None:
                found.append((node, callee, None))
            for i, arg in enumerate(node.args):
                passed = self._callee(arg)
                if passed is not None:
                    outer = self.qualify(node.func)
                    # `jax.lax.fori_loop(0, n, body, init)` gives `body` other arguments
                    if outer is None or outer.partition(".")[0] not in EXTERNAL:
                        found.append((node, passed, i))
                    break
        if not found:
            return
        known: dict[str, str] = {}
        built: list[bool] = []

        def cls(arg: ast.expr) -> str | None:
            if isinstance(arg, ast.Name):
                if not built:  # once, when a name needs it
                    known.update({**self.globals, **_constructed(nodes, self.qualify), **params})
                    built.append(True)
                return known.get(arg.id)
            if attrs is not None and (attr := _self_attr(arg)):
                return attrs.get(attr)
            if isinstance(arg, ast.Call):
                return self.qualify(arg.func)
            return None

        for node, callee, where in found:
            args: list[tuple[int | str, str]] = []
            rest = node.args if where is None else node.args[where + 1 :]
            count = 0
            for i, arg in enumerate(rest):
                if isinstance(arg, ast.Starred):
                    break
                count += 1
                if c := cls(arg):
                    args.append((i, c))
            if where is None:
                args += [(k.arg, c) for k in node.keywords if k.arg and (c := cls(k.value))]
            if args:
                handed = None if where is None else count
                self.calls.append(CallFact(callee, node.lineno, tuple(args), handed))

    def _import(self, node: ast.stmt) -> None:
        for imported in _imports(node, self.package):
            self.imports[imported.local] = imported.qualname
        if isinstance(node, ast.If | ast.Try):  # guarded imports
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    self._import(child)
                elif isinstance(child, ast.ExceptHandler):
                    for stmt in child.body:
                        self._import(stmt)

    def _alias(self, node: ast.stmt) -> None:
        """``Name = dotted.name`` (or annotated, or ``type Name = ...``) at module level binds
        ``Name`` to what the dotted name names, as an import would."""
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif type(node).__name__ == "TypeAlias":  # Python 3.12+: `type Name = value`
            target, value = getattr(node, "name", None), getattr(node, "value", None)
        if not isinstance(target, ast.Name) or not isinstance(value, ast.Name | ast.Attribute):
            return
        dotted = names.from_ast(value)
        qual = self._name(dotted.parts) if isinstance(dotted, names.Dotted) else None
        if qual is not None and target.id not in self.imports:
            self.imports[target.id] = nnx_api.normalize(qual)

    def _hijax(self, call: ast.Call) -> None:
        qual = self.qualify(call.func)
        if qual is None:
            return
        args: list[tuple[str | None, object]] = [(None, _literal(a)) for a in call.args]
        args += [(k.arg, _literal(k.value)) for k in call.keywords]
        if nnx_api.hijax_call(qual, args):
            self.hijax = True

    def _classes(self, body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                self._class(node, f"{prefix}.{node.name}")
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self._classes(node.body, f"{prefix}.{node.name}.<locals>")
            elif isinstance(node, ast.If | ast.Try | ast.With):
                self._classes(
                    [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt)], prefix
                )

    def _class(self, node: ast.ClassDef, qualname: str) -> None:
        self.local_classes.setdefault(node.name, qualname)
        attrs: dict[str, str] = {}
        contents: dict[str, set[str]] = {}
        self.flags = {}
        summaries: dict[str, MethodSummary] = {}
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                self._attr(attrs, stmt.target.id, self.qualify(stmt.annotation))
            elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                summaries[stmt.name] = self._method(attrs, contents, stmt)
        self.classes[qualname] = ClassFacts(
            qualname=qualname,
            bases=tuple(q for q in map(self.qualify, node.bases) if q),
            attrs=attrs,
            pytree_false=any(
                k.arg == "pytree" and _literal(k.value) is False for k in node.keywords
            ),
            methods=frozenset(summaries),
            summaries=summaries,
            contents={attr: frozenset(classes) for attr, classes in contents.items()},
            flags=self.flags,
        )
        self._classes(node.body, qualname)

    def _attr(self, attrs: dict[str, str], name: str, qual: str | None) -> None:
        if qual:
            attrs.setdefault(name, qual)

    def _method(
        self,
        attrs: dict[str, str],
        contents: dict[str, set[str]],
        fn: ast.FunctionDef | ast.AsyncFunctionDef,
    ) -> MethodSummary:
        nodes = _Walked.of(walk(fn))  # walked once: every question below reads these lists
        # Imports inside the method count for it, as Python binds them (function-local imports).
        self.local_imports = {
            imported.local: imported.qualname
            for node in nodes.imports
            for imported in _imports(node, self.package)
        }
        params = {
            a.arg: self.qualify(a.annotation)
            for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs
        }
        in_init = fn.name == "__init__"
        writes: list[Site] = []
        conditional = _conditional_nodes(nodes)
        items, tainted = _self_names(nodes)
        aliases = tainted | set(items)
        for node in nodes.assigns:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                writes_self = self._assignment(attrs, contents, target, node, params)
                # `cache = self.cache; cache.value = k`: through a name taken from self
                through = not isinstance(target, ast.Name) and _root_name(target) in aliases
                if (writes_self or through) and not in_init:
                    when = id(node) in conditional
                    writes.append(Site(node.lineno, ast.unparse(target), when))
        calls, unknown = _self_calls(nodes, conditional, items, tainted)
        passed = _passed(nodes, conditional, items)
        nested = self._nested(fn, nodes, conditional, items)
        if self.imports_functions or self.local_imports:
            self._calls(nodes, {k: v for k, v in params.items() if v}, attrs)
        self.local_imports = {}
        return MethodSummary(
            tuple(writes), tuple(calls), tuple(unknown), tuple(passed), tuple(nested)
        )

    def _nested_transform(self, node: ast.expr) -> str | None:
        """The NNX transform (``nnx_api.NESTED_TRANSFORMS``) a decorator or a transform's call
        names: `nnx.jit`, `nnx.scan(...)`, `functools.partial(nnx.jit, ...)`."""
        if isinstance(node, ast.Call):
            func = self.qualify(node.func)
            if func == "functools.partial" and node.args:
                return self._nested_transform(node.args[0])
            node = node.func
        qual = self.qualify(node)
        qual = nnx_api.normalize(qual) if qual else None
        return qual if qual in nnx_api.NESTED_TRANSFORMS else None

    def _decorated_by(self, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
        """The NNX transform a def's decorators apply to it: `nnx.split_rngs` where it is one
        of them (it runs first, and may raise otherwise), else the first."""
        found = [q for d in fn.decorator_list if (q := self._nested_transform(d)) is not None]
        split = f"{nnx_api.NNX}.split_rngs"
        return split if split in found else next(iter(found), None)

    def _nested(
        self,
        fn: ast.FunctionDef | ast.AsyncFunctionDef,
        nodes: _Walked,
        conditional: set[int],
        items: dict[str, str],
    ) -> list[CallSite]:
        """The NNX transforms the method runs on self or its attributes: the method compiled by
        one (`@nnx.jit`, path ()), `nnx.scan(f, ...)(x, self.layers)`, or a local def
        decorated by one called with them (path (attr,), or () for self)."""
        found: list[CallSite] = []
        if (own := self._decorated_by(fn)) is not None:
            found.append(CallSite(fn.lineno, own, False, ()))
        local = {
            node.name: qual
            for node in nodes.defs
            if node is not fn
            if (qual := self._decorated_by(node)) is not None
        }
        for node in nodes.calls:
            if isinstance(node.func, ast.Call):
                qual = self._nested_transform(node.func)
            elif isinstance(node.func, ast.Name):
                qual = local.get(node.func.id)
            else:
                qual = None
            if qual is None:
                continue
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                is_self = isinstance(arg, ast.Name) and arg.id == "self"
                path = () if is_self else _held_path(arg, items)
                if path is not None:
                    found.append(CallSite(node.lineno, qual, id(node) in conditional, path))
        return found

    def _assignment(
        self,
        attrs: dict[str, str],
        contents: dict[str, set[str]],
        target: ast.expr,
        node: ast.Assign | ast.AnnAssign | ast.AugAssign,
        params: dict[str, str | None],
    ) -> bool:
        """Note what an assignment tells of self's attributes; True if it assigns self's
        state (``self.x = ...``, ``self.x[...] = ...``, ``self.count.value += 1``)."""
        root = target
        while isinstance(root, ast.Attribute | ast.Subscript):
            root = root.value
        if not (isinstance(root, ast.Name) and root.id == "self") or target is root:
            return False
        # A direct assignment to an attribute of self (`self.x = ...`, not `self.x[i] = ...`).
        if (
            isinstance(target, ast.Attribute)
            and target.value is root
            and not isinstance(node, ast.AugAssign)
        ):
            value = node.value
            if isinstance(node, ast.AnnAssign):
                self._attr(attrs, target.attr, self.qualify(node.annotation))
            if isinstance(value, ast.Call):
                self._attr(attrs, target.attr, self.qualify(value.func))
                self.flags.setdefault(target.attr, _flags(value))
            elif isinstance(value, ast.Name) and params.get(value.id):
                self._attr(attrs, target.attr, params[value.id])
            elif isinstance(value, ast.Name | ast.Attribute):  # self.act = nnx.gelu
                self._attr(attrs, target.attr, self.qualify(value))
            for sub in ast.walk(value) if value is not None else ():
                if isinstance(sub, ast.Call) and (q := self.qualify(sub.func)):
                    contents.setdefault(target.attr, set()).add(q)
        return True


_FOLLOWED = (
    ("name",),  # self.m(x): a method, or a callable attribute
    ("name", "name"),  # self.sub.m(x)
    ("name", "item"),  # self.blocks[i](x)
    ("name", "item", "name"),  # self.blocks[i].m(x)
)


def _self_path(node: ast.expr, items: dict[str, str]) -> tuple[str, ...] | None:
    """The call path (see ``CallSite``) of a callee rooted at ``self``; ``items``: local names
    bound to elements of an attribute (``for block in self.blocks``). None: not rooted at self;
    ``("unfollowed", *path)``: rooted at self, but not a shape that is followed as a call."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute | ast.Subscript):
        parts.append(node.attr if isinstance(node, ast.Attribute) else ITEM)
        node = node.value
    parts.reverse()
    if isinstance(node, ast.Name) and node.id == "self":
        path = tuple(parts)
    elif isinstance(node, ast.Name) and node.id in items:
        path = (items[node.id], ITEM, *parts)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id == "super" and len(parts) == 1:
            return ("super", parts[0])
        return None
    else:
        return None
    shape = tuple("item" if p == ITEM else "name" for p in path)
    return path if path == () or shape in _FOLLOWED else ("unfollowed", *path)


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _constructed(nodes: _Walked, qualify: Callable[[ast.expr], str | None]) -> dict[str, str]:
    """Names bound by a construction (``model = Model(...)``) to that class; a name bound to
    two different classes is left out."""
    found: dict[str, str | None] = {}
    for node in nodes.assigns:
        if not isinstance(node, ast.AugAssign) and isinstance(node.value, ast.Call):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    qual = qualify(node.value.func)
                    if target.id in found and found[target.id] != qual:
                        qual = None
                    found[target.id] = qual
    return {k: v for k, v in found.items() if v}


def _annotated(
    fn: ast.FunctionDef | ast.AsyncFunctionDef, qualify: Callable[[ast.expr], str | None]
) -> dict[str, str]:
    """A function's parameters with the class their annotation names."""
    args = fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs
    return {a.arg: q for a in args if (q := qualify(a.annotation) if a.annotation else None)}


def _mentions_self(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "self" for n in ast.walk(node))


def _flags(call: ast.Call) -> tuple[tuple[str, object], ...]:
    """The FLAGS a call passes (and its first positional argument), each with its literal
    value or NOT_LITERAL."""
    given = [(k.arg, k.value) for k in call.keywords if k.arg in FLAGS]
    given += [(nnx_api.FIRST_ARGUMENT, a) for a in call.args[:1]]
    return tuple(
        (str(name), value.value if isinstance(value, ast.Constant) else NOT_LITERAL)
        for name, value in given
    )


# Nodes that hold lists of statements (body, orelse, finalbody).
_BLOCKS = tuple(
    getattr(ast, name)
    for name in """FunctionDef AsyncFunctionDef If For AsyncFor While With AsyncWith Try TryStar
    ExceptHandler match_case""".split()
    if hasattr(ast, name)
)


# And the nodes whose other parts run only under a condition: a conditional expression, the
# operands of `and`/`or` after the first, a `match` statement's cases.
_BRANCHES = (*_BLOCKS, ast.IfExp, ast.BoolOp, ast.Match)
# Expressions with parts that may not run: a filtered comprehension's element, a chained
# comparison's later operands, a lambda's body (it runs when called, if ever).
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
_MAYBE = (*_COMPREHENSIONS, ast.Compare, ast.Lambda)
_TRIES = tuple(getattr(ast, name) for name in ("Try", "TryStar") if hasattr(ast, name))
# Statements that hold others: a return or raise anywhere in one may leave the function.
_COMPOUND = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Match, *_TRIES)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def walk(node: ast.AST) -> list[ast.AST]:
    """Every node of the tree, in ``ast.walk``'s order (breadth first), as a list: a third
    faster than ``list(ast.walk(node))``, which the index scan would spend a fifth of its
    time in."""
    found = [node]
    for each in found:  # the list grows as it is read
        for name in each._fields:
            value = getattr(each, name, None)
            if type(value) is list:
                found.extend([item for item in value if isinstance(item, ast.AST)])
            elif isinstance(value, ast.AST):
                found.append(value)
    return found


@dataclass(frozen=True, slots=True)
class _Walked:
    """The nodes of a subtree the scan asks about, each kind in ``ast.walk``'s order: sorted
    out in one pass (``of``) rather than by a pass over every node for each question."""

    calls: list[ast.Call]
    assigns: list[ast.Assign | ast.AnnAssign | ast.AugAssign]
    # What binds a name to something of self's (``_self_names``): loops and assignments.
    binds: list[ast.For | ast.comprehension | ast.Assign | ast.AnnAssign | ast.NamedExpr]
    defs: list[ast.FunctionDef | ast.AsyncFunctionDef]
    imports: list[ast.Import | ast.ImportFrom]
    # Nodes with branches (``_BRANCHES``, ``_MAYBE``), for ``_conditional_nodes``.
    blocks: list[ast.AST]

    @classmethod
    def of(cls, nodes: list[ast.AST]) -> _Walked:
        lists: tuple[list[Any], ...] = ([], [], [], [], [], [])
        routes = _ROUTES
        for node in nodes:
            for i in routes.get(type(node), ()):
                lists[i].append(node)
        return cls(*lists)


# Where ``_Walked.of`` files each kind of node: the indexes of its lists (exact types, as the
# standard parser makes no subclasses of these).
_ROUTES: dict[type, tuple[int, ...]] = {
    ast.Call: (0,),
    ast.Assign: (1, 2),
    ast.AnnAssign: (1, 2),
    ast.AugAssign: (1,),
    ast.For: (2, 5),
    ast.comprehension: (2,),
    ast.NamedExpr: (2,),
    ast.FunctionDef: (3, 5),
    ast.AsyncFunctionDef: (3, 5),
    ast.Import: (4,),
    ast.ImportFrom: (4,),
    **{
        kind: (5,)
        for kind in (*_BRANCHES, *_MAYBE)
        if kind not in (ast.For, ast.FunctionDef, ast.AsyncFunctionDef)
    },
}


def _conditional_nodes(nodes: _Walked) -> set[int]:
    """The ids of the nodes of a method (all of them, as walked) that run only under a
    condition."""
    found: set[int] = set()

    def mark(node: ast.AST) -> None:
        if id(node) not in found:  # a branch inside a marked one is marked already
            found.update(map(id, walk(node)))

    for node in nodes.blocks:
        for block in ("body", "orelse", "finalbody"):  # after `if c: return`, only if not c
            stmts = getattr(node, block, None)
            if not isinstance(stmts, list):
                continue
            guarded = False
            for stmt in stmts:
                if guarded:
                    mark(stmt)
                elif _may_leave(stmt):
                    guarded = True
        if isinstance(node, ast.If | ast.While):
            for stmt in (*node.body, *node.orelse):
                mark(stmt)
        elif isinstance(node, (ast.For, ast.AsyncFor, *_TRIES)):
            for stmt in getattr(node, "orelse", []):
                mark(stmt)
            for handler in getattr(node, "handlers", []):
                mark(handler)
        elif isinstance(node, ast.IfExp):
            mark(node.body)
            mark(node.orelse)
        elif isinstance(node, ast.BoolOp):
            for value in node.values[1:]:
                mark(value)
        elif isinstance(node, ast.Match):
            for case in node.cases:
                mark(case)
        elif isinstance(node, _COMPREHENSIONS):
            filtered = [i for i, g in enumerate(node.generators) if g.ifs]
            if filtered:
                for later in node.generators[filtered[0] + 1 :]:
                    mark(later)
                for part in ("elt", "key", "value"):
                    if (produced := getattr(node, part, None)) is not None:
                        mark(produced)
        elif isinstance(node, ast.Compare):
            for operand in node.comparators[1:]:
                mark(operand)
        elif isinstance(node, ast.Lambda):
            mark(node.body)
    return found


def _may_leave(stmt: ast.stmt) -> bool:
    """Can the statements after ``stmt`` in its block be skipped by it: an ``if`` with a
    return, raise, continue or break in its own blocks, or any statement holding others with a
    return or raise anywhere in it (not in a function or class it defines)?"""
    if isinstance(stmt, ast.If) and any(
        isinstance(s, ast.Return | ast.Raise | ast.Continue | ast.Break)
        for s in (*stmt.body, *stmt.orelse)
    ):
        return True
    if not isinstance(stmt, _COMPOUND):
        return False
    todo: list[ast.AST] = [stmt]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Return | ast.Raise):
            return True
        todo += [c for c in ast.iter_child_nodes(node) if not isinstance(c, _SCOPES)]
    return False


def _self_calls(
    nodes: _Walked, conditional: set[int], items: dict[str, str], tainted: set[str]
) -> tuple[list[CallSite], list[CallSite]]:
    """The calls a method makes on its own object, and those that reach something of its
    object's in a way that cannot be followed (``self.a.b.c(x)``, a call on a local name
    taken from self, ``helper(self)``): those make the method's effect unknown."""
    calls: list[CallSite] = []
    unknown: list[CallSite] = []
    in_order = sorted(  # as they read, so that the evidence names the first state change
        nodes.calls, key=lambda n: (n.lineno, n.col_offset)
    )
    for node in in_order:
        path = _self_path(node.func, items)
        when = id(node) in conditional
        if path is not None and path[:1] == ("unfollowed",):
            unknown.append(CallSite(node.lineno, ast.unparse(node.func), when, path[1:]))
        elif path is not None:
            calls.append(CallSite(node.lineno, ast.unparse(node.func), when, path, _flags(node)))
        elif _root_name(node.func) in tainted or any(
            isinstance(a, ast.Name) and a.id == "self" for a in node.args
        ):
            unknown.append(CallSite(node.lineno, ast.unparse(node.func), when))
    return calls, unknown


def _self_names(nodes: _Walked) -> tuple[dict[str, str], set[str]]:
    """Local names bound to elements of an attribute (``for block in self.blocks`` ->
    ``{"block": "blocks"}``), and other local names bound to something of self's
    (``cache = self.cache``)."""
    items: dict[str, str] = {}
    tainted: set[str] = set()
    for node in nodes.binds:
        if isinstance(node, ast.For | ast.comprehension) and _mentions_self(node.iter):
            found = _loop_items(node.target, node.iter)
            items.update(found)
            tainted.update(
                n.id for n in ast.walk(node.target) if isinstance(n, ast.Name) and n.id not in found
            )
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.NamedExpr):
            value = node.value
            if value is not None and _refers_to_self(value):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    tainted.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return items, tainted


def _passed(nodes: _Walked, conditional: set[int], items: dict[str, str]) -> list[CallSite]:
    """Attributes of self (or elements of one) handed to a call that is not on self
    (``residual(self.drop, x)``, ``jax.checkpoint(self.block)``): it may call them."""
    found = []
    for node in nodes.calls:
        if _self_path(node.func, items) is not None:
            continue
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            path = _held_path(arg, items)
            if path:
                text = ast.unparse(node.func)
                found.append(CallSite(node.lineno, text, id(node) in conditional, path))
    return found


def _held_path(arg: ast.expr, items: dict[str, str]) -> tuple[str, ...] | None:
    """What of self an argument is: ``(attr,)`` for ``self.attr``, ``(attr, ITEM)`` for a
    name bound to an element of one (``for b in self.blocks``); None for anything else."""
    attr = _self_attr(arg)
    if attr:
        return (attr,)
    if isinstance(arg, ast.Name) and arg.id in items:
        return (items[arg.id], ITEM)
    return None


def _self_attr(node: ast.expr) -> str | None:
    """``attr`` for ``self.attr``."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.attr if node.value.id == "self" else None
    return None


def _loop_items(target: ast.expr, it: ast.expr) -> dict[str, str]:
    """Loop names bound to the elements of an attribute: ``for b in self.blocks``,
    ``for i, b in enumerate(self.blocks)``, ``for b, s in zip(self.blocks, states)``."""
    attr = _self_attr(it)
    if isinstance(target, ast.Name) and attr:
        return {target.id: attr}
    if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name)):
        return {}
    if it.func.id == "enumerate" and it.args and isinstance(target, ast.Tuple):
        inner = _self_attr(it.args[0])
        element = target.elts[1] if len(target.elts) == 2 else None
        return {element.id: inner} if inner and isinstance(element, ast.Name) else {}
    if it.func.id == "zip" and isinstance(target, ast.Tuple):
        return {
            t.id: attr
            for t, arg in zip(target.elts, it.args, strict=False)
            if isinstance(t, ast.Name) and (attr := _self_attr(arg) or "")
        }
    return {}


def _refers_to_self(value: ast.expr) -> bool:
    """Is the value something of self's itself (``self.blocks[i]``, ``(self.a, self.b)``,
    ``getattr(self, name)``), not a value computed from it (``x * self.w``)?"""
    if isinstance(value, ast.Tuple | ast.List):
        return any(_refers_to_self(e) for e in value.elts)
    if isinstance(value, ast.IfExp):
        return _refers_to_self(value.body) or _refers_to_self(value.orelse)
    if isinstance(value, ast.Call):
        return (
            isinstance(value.func, ast.Name)
            and value.func.id == "getattr"
            and any(_refers_to_self(a) for a in value.args[:1])
        )
    while isinstance(value, ast.Attribute | ast.Subscript):
        value = value.value
    return isinstance(value, ast.Name) and value.id == "self"


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def index_facts(source: str, module: str, is_package: bool, max_size: int) -> FileFacts | None:
    """What the project index holds of a file's text: the facts of a file that can define a
    class, turn on hijax or re-export one (any import), and is no larger than ``max_size``
    characters (a larger one is E902 when linted); else None, as for a text that does not parse."""
    if "class" not in source and "import" not in source or len(source) > max_size:
        return None
    return scan_source(source, module, is_package)


def scan_source(source: str, module: str, is_package: bool = False) -> FileFacts | None:
    """The facts of one file's text (``module``: its dotted name), None if it does not parse.
    A file written for a newer Python than the running one (PEP 695 generics, ``type``
    statements, PEP 701 f-strings, ``except*``) is read through ``_older_grammar``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except SyntaxError:
        older = _older_grammar(source)
        if older is None:
            return None
        try:
            tree = ast.parse(older)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
    except (ValueError, RecursionError, MemoryError):
        return None
    hijax_possible = any(word in source for word in nnx_api.HIJAX_WORDS)
    try:
        return _FileScanner(module, is_package, hijax_possible).scan(tree, text_digest(source))
    except RecursionError:  # nested deeper than a walk of it can go (`self.a.a.a...(x)`)
        return None


def _rebound(body: list[ast.stmt], imports: dict[str, str]) -> frozenset[str]:
    """The module-level names in ``imports`` whose binding another module gets cannot be told
    from the imports alone: bound more than once (imported twice, as in ``try: from .fast
    import X`` / ``except ImportError: from flax.nnx import X``; imported, then assigned,
    defined or imported again), or last bound before a star import (it may bind any name).
    Read from the module's statements and the blocks of its compound ones, in order, not from
    function or class bodies; every name a statement stores counts (``_stores``). An import
    under ``if TYPE_CHECKING:`` counts as the binding: it states what a lazy module
    ``__getattr__`` returns (EasyDeL's packages), and no other binding is known at run time."""
    counts: Counter[str] = Counter()
    last: dict[str, int] = {}
    star = 0
    order = 0

    def bind(name: str) -> None:
        nonlocal order
        order += 1
        counts[name] += 1
        last[name] = order

    # In order, with a stack (a function calling itself would be a reference cycle, left to
    # the garbage collector for each file scanned): a statement (or handler, or case), or
    # another part of a compound statement, which binds what it stores.
    todo: list[tuple[ast.AST, bool]] = [(stmt, True) for stmt in reversed(body)]
    while todo:
        node, statement = todo.pop()
        if not statement:
            for name in _stores(node):
                bind(name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    order += 1
                    star = order
                    continue
                bind(alias.asname or alias.name.partition(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bind(node.name)
        elif isinstance(node, _BRANCHES):  # a compound statement: its parts, in order
            if isinstance(node, ast.ExceptHandler) and node.name:
                bind(node.name)
            parts = [
                (child, isinstance(child, ast.stmt | ast.ExceptHandler | ast.match_case))
                for child in ast.iter_child_nodes(node)
            ]
            todo += reversed(parts)
        else:
            for name in _stores(node):
                bind(name)
    return frozenset(name for name in imports if counts[name] > 1 or last.get(name, 0) < star)


def _stores(node: ast.AST) -> list[str]:
    """The module-level names a piece of code binds: assigned, loop and `with` targets,
    walrus (also in a comprehension), patterns; not a comprehension's own variables, nor
    anything in a lambda, nor a bare annotation (``x: int`` binds nothing)."""
    found = []
    todo = [node]
    while todo:
        sub = todo.pop()
        if isinstance(sub, ast.comprehension):
            todo += [sub.iter, *sub.ifs]  # its target binds in the comprehension's own scope
            continue
        if isinstance(sub, ast.Lambda) or (isinstance(sub, ast.AnnAssign) and sub.value is None):
            continue
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            found.append(sub.id)
        elif isinstance(sub, ast.MatchAs | ast.MatchStar) and sub.name:
            found.append(sub.name)
        elif isinstance(sub, ast.MatchMapping) and sub.rest:
            found.append(sub.rest)
        todo.extend(ast.iter_child_nodes(sub))
    return found


def _imported(tree: ast.Module, package: str) -> set[str]:
    """The qualified names a file imports, wherever its imports stand (in a function too):
    what each binds (``flax.linen`` for ``from flax import linen as nn``), and for ``import
    a.b`` the module ``a.b`` as well (a star import binds nothing, for the analysis too).
    Whatever the file reaches through them (``nn.Dropout``, ``"pkg.Model"`` in an annotation,
    ``mod = pkg.models``) is an attribute of one of these."""
    found: set[str] = set()
    for node in walk(tree):
        if isinstance(node, ast.Import):
            found.update(nnx_api.normalize(alias.name) for alias in node.names)
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.update(imported.qualname for imported in _imports(node, package))
    return found


def _older_grammar(source: str) -> str | None:
    """The text in a grammar the running parser knows, lines kept where they were: type
    parameters dropped (``class Box[T](nnx.Module)`` -> ``class Box(nnx.Module)``), ``type X =
    Y`` as ``X = Y``, ``except*`` as ``except``, f-strings as plain strings of as many lines.
    None when libcst cannot parse it either (a real syntax error)."""
    import libcst as cst  # only for files the running parser refuses

    class Older(cst.CSTTransformer):
        def leave_ClassDef(self, _: cst.ClassDef, node: cst.ClassDef) -> cst.ClassDef:
            return node.with_changes(type_parameters=None)

        def leave_FunctionDef(self, _: cst.FunctionDef, node: cst.FunctionDef) -> cst.FunctionDef:
            return node.with_changes(type_parameters=None)

        def leave_TypeAlias(self, _: cst.TypeAlias, node: cst.TypeAlias) -> cst.Assign:
            return cst.Assign([cst.AssignTarget(node.name)], node.value)

        def leave_TryStar(self, _: cst.TryStar, node: cst.TryStar) -> cst.Try:
            handlers = [cst.ExceptHandler(h.body, type=h.type, name=h.name) for h in node.handlers]
            return cst.Try(node.body, handlers, orelse=node.orelse, finalbody=node.finalbody)

        def leave_FormattedString(
            self, original: cst.FormattedString, _: cst.FormattedString
        ) -> cst.SimpleString:
            lines = cst.Module([]).code_for_node(original).count("\n")
            return cst.SimpleString('"""' + "\n" * lines + '"""' if lines else '""')

    try:
        return cst.parse_module(source).visit(Older()).code
    except (cst.ParserSyntaxError, RecursionError, ValueError, TypeError):
        return None


class ProjectIndex:
    def __init__(self, files: dict[str, FileFacts] | None = None, own: str | None = None) -> None:
        """``own``: the file being checked, whose facts win over another file's that has the
        same module name."""
        self.files: dict[str, FileFacts] = files or {}
        self.classes: dict[str, ClassFacts] = {}
        self.class_files: dict[str, str] = {}  # class qualname -> key of its file
        self.modules: dict[str, FileFacts] = {}
        counts = Counter(f.module for f in self.files.values())
        # Scripts outside packages are named by their file name: two `train.py` in two
        # folders are both `train`. Such a name means no file but the one being checked.
        self.ambiguous = {name for name, count in counts.items() if count > 1}
        ordered = [(k, f) for k, f in self.files.items() if k != own]
        ordered += [(own, self.files[own])] if own in self.files else []
        for key, facts in ordered:
            if facts.module in self.ambiguous and key != own:
                continue
            self.modules[facts.module] = facts
            self.classes.update(facts.classes)
            self.class_files.update(dict.fromkeys(facts.classes, key))
        self._module_cache: dict[str, bool] = {}
        self._variable_cache: dict[str, bool] = {}
        self._nnx_class_cache: dict[str, bool] = {}
        self._effects: dict[tuple[str, str], Verdict] = {}

    @classmethod
    def empty(cls) -> ProjectIndex:
        return cls()

    @cached_property
    def fingerprint(self) -> bytes:
        """A digest of every fact in the index (not of the texts): results that used the
        index stay valid as long as it does not change."""
        h = blake2b(digest_size=16)
        for key in sorted(self.files):
            h.update(key.encode("utf-8", "surrogatepass") + b"\0")
            h.update(self.files[key].identity or facts_digest(self.files[key]))
        return h.digest()

    def names_nnx(self, key: str, source: str) -> bool | None:
        """Does ``source``, the text of file ``key``, name anything NNX through its imports
        (``names_nnx``)? None when it cannot tell."""
        return names_nnx(self.files.get(key), source, self.nnx_names)

    @cached_property
    def nnx_names(self) -> frozenset[str]:
        """The project's names of NNX things, each as another file would import it: its classes
        that bear NNX objects (``_nnx_bearing``), its module-level functions that return one,
        and the names its modules import that stand for one of those or for anything of
        flax.nnx (re-exports); and the modules and classes that hold one of those
        (``names_nnx``)."""
        found = self._nnx_bearing()
        for f in self.files.values():
            for function, cls in f.returns.items():
                if (target := self.resolve(cls)) in found or self._nnx_class(target):
                    found.add(f"{f.module}.{function}")
        for f in self.files.values():
            for local, qualname in f.imports.items():
                target = self.resolve(qualname)
                if _is_nnx(target) or target in found or self._nnx_class(target):
                    found.add(f"{f.module}.{local}")
        # And what holds one, with a dot after it (``pkg.models.``): a module (or class) that a
        # file may bind to another name (``mod = pkg.models``) before it names the NNX thing.
        holders = {f"{n.rsplit('.', end)[0]}." for n in found for end in range(1, n.count(".") + 1)}
        return frozenset(found | holders)

    def _nnx_bearing(self) -> set[str]:
        """The project's classes whose instances are or hold NNX objects: NNX classes, and
        classes with an attribute (or a container of them) of such a class, as the analysis
        follows ``obj.model`` through ``attr_type`` whatever ``obj``'s class is."""
        found = {q for q in self.classes if self._nnx_class(q)}
        held: dict[str, set[str]] = {}
        for q in self.classes.keys() - found:
            for facts in self.ancestors(q):
                contained = (c for classes in facts.contents.values() for c in classes)
                held.setdefault(q, set()).update(
                    map(self.resolve, (*facts.attrs.values(), *contained))
                )
        found |= {q for q, classes in held.items() if any(map(self._nnx_class, classes))}
        while more := {q for q, classes in held.items() if q not in found and classes & found}:
            found |= more  # to a fixpoint: a class holding a class holding a Module
        return found

    def _nnx_class(self, qualname: str) -> bool:
        """An NNX class: flax.nnx's, or a class of the project with one among its bases (what
        ``is_nnx_class`` and ``is_variable`` tell, in one walk up the bases)."""
        if qualname not in self._nnx_class_cache:
            outside = self.foreign(qualname)
            self._nnx_class_cache[qualname] = (
                nnx_api.nnx_class_kind(outside) is not None
                or nnx_api.normalize(outside) in _VARIABLES
                or any(
                    _is_nnx(nnx_api.normalize(self.foreign(base)))
                    for facts in self.ancestors(qualname)
                    for base in facts.bases
                )
            )
        return self._nnx_class_cache[qualname]

    def parsed(self, key: str, source: str) -> bool:
        """Did building the index parse exactly this text of file ``key`` without error?"""
        known = self.files.get(key)
        return known is not None and known.digest == text_digest(source)

    def with_source(
        self, key: str, source: str, module: str, is_package: bool = False
    ) -> tuple[ProjectIndex, FileFacts]:
        """This index with the facts of file ``key`` (module ``module``) read from ``source``,
        and those facts."""
        known = self.files.get(key)
        if known is not None and known.digest == text_digest(source):
            if known.module not in self.ambiguous:
                return self, known  # the index already holds this text's facts
            facts = known
        else:
            facts = scan_source(source, module, is_package) or FileFacts(module)
        files = dict(self.files)
        files[key] = facts
        return ProjectIndex(files, own=key), facts

    def hijax(self, facts: FileFacts) -> bool:
        """Is Flax's hijax mode on for the whole of this file: turned on in it (not only in a
        decorated function or a `with` block), or in a module it imports (transitively)? A
        sibling module of its package that turns it on does not count."""
        return facts.module in self._hijax_modules or facts.hijax

    @cached_property
    def _hijax_modules(self) -> set[str]:
        """Modules that turn hijax on or import (transitively) one that does."""
        importers: dict[str, set[str]] = {}
        for facts in self.files.values():
            for qual in facts.imports.values():
                for name in (qual, qual.rpartition(".")[0]):
                    importers.setdefault(name, set()).add(facts.module)
        found: set[str] = set()
        todo = [f.module for f in self.files.values() if f.hijax]
        while todo:
            module = todo.pop()
            if module not in found:
                found.add(module)
                todo.extend(importers.get(module, ()))
        return found

    @cached_property
    def _module_class_names(self) -> re.Pattern[str] | None:
        found = {q.rsplit(".", 1)[1] for q in self.classes if self.is_module(q)}
        found |= {
            local
            for f in self.files.values()
            for local, q in f.imports.items()
            if self.resolve(q) in self.classes and self.is_module(q)
        }
        if not found:
            return None
        return re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, found))) + r")\b")

    @property
    def module_class_pattern(self) -> str | None:
        """The pattern ``mentions_module_class`` searches a text for, if any."""
        pattern = self._module_class_names
        return None if pattern is None else pattern.pattern

    def mentions_module_class(self, source: str) -> bool:
        """Does the text name an NNX Module class of the project (for the prefilter)?"""
        pattern = self._module_class_names
        return pattern is not None and pattern.search(source) is not None

    def resolve(self, qualname: str, depth: int = 0) -> str:
        """Follow re-exports (``pkg/__init__.py: from .models import Ranker``) to the class,
        not through a name the re-exporting module binds again (``FileFacts.rebound``)."""
        if qualname in self.classes or depth > 10:
            return qualname
        module, _, name = qualname.rpartition(".")
        facts = self.modules.get(module)
        if facts is None or name not in facts.imports or facts.imports[name] == qualname:
            return qualname
        if name in facts.rebound:  # `from .models import Net`, then `Net = wrap(Net)`
            return qualname
        return self.resolve(facts.imports[name], depth + 1)

    def foreign(self, qualname: str) -> str:
        """What a name of the project stands for when it re-exports a library's (jax's,
        flax's and their kind: ``EXTERNAL``) under that name (``pkg/__init__.py: from flax.nnx
        import Dropout``: ``pkg.Dropout`` is ``flax.nnx.Dropout``); any other name as it is. A
        library's own name stays as it is written, also where the project is that library
        (google/flax's ``flax.nnx.jit`` is not followed to where flax defines it)."""
        if qualname.partition(".")[0] in EXTERNAL:
            return qualname
        resolved = self.resolve(qualname)  # not through a name bound again (``rebound``)
        return nnx_api.normalize(resolved) if resolved.partition(".")[0] in EXTERNAL else qualname

    def class_facts(self, qualname: str) -> ClassFacts | None:
        return self.classes.get(self.resolve(qualname))

    def ancestors(self, qualname: str) -> Iterator[ClassFacts]:
        """The class's facts, then those of its bases known to the project, in Python's
        lookup order for ordinary hierarchies (depth first, left to right, a class shared by
        two bases after both, as C3 puts it): the one walk up a class's bases, guarded against
        cycles (``class A(B)`` in one file, ``class B(A)`` in another)."""
        visits: list[ClassFacts] = []
        # Depth first with a stack (a nested function calling itself would be a reference
        # cycle, left to the garbage collector at each call): (name, the classes below it).
        todo: list[tuple[str, frozenset[str]]] = [(qualname, frozenset())]
        while todo:
            name, path = todo.pop()
            facts = self.class_facts(name)
            if facts is None or facts.qualname in path or len(visits) > 10_000:
                continue
            visits.append(facts)
            below = path | {facts.qualname}
            todo.extend((base, below) for base in reversed(facts.bases))
        last = {facts.qualname: i for i, facts in enumerate(visits)}
        return (f for i, f in enumerate(visits) if last[f.qualname] == i or i == 0)

    def is_module(self, qualname: str) -> bool:
        """Is ``qualname`` an NNX Module class (flax's own or a subclass anywhere)?"""
        if nnx_api.is_module_base(self.foreign(qualname)):
            return True
        if qualname not in self._module_cache:
            self._module_cache[qualname] = any(
                nnx_api.is_module_base(self.foreign(base))
                for facts in self.ancestors(qualname)
                for base in facts.bases
            )
        return self._module_cache[qualname]

    def is_variable(self, qualname: str) -> bool:
        """Is ``qualname`` flax's ``nnx.Variable`` or a subclass of it (flax's or the
        project's)?"""
        if qualname not in self._variable_cache:
            self._variable_cache[qualname] = nnx_api.normalize(
                self.foreign(qualname)
            ) in _VARIABLES or any(
                nnx_api.normalize(self.foreign(base)) in _VARIABLES
                for facts in self.ancestors(qualname)
                for base in facts.bases
            )
        return self._variable_cache[qualname]

    def is_nnx_class(self, qualname: str) -> bool:
        return nnx_api.nnx_class_kind(qualname) is not None or self.is_module(qualname)

    def changes_state(self, qualname: str, method: str = "__call__") -> bool | None:
        """Does calling ``method`` of an instance change state? True, False (it only reads),
        None (unknown). See ``effect``."""
        effect = self.effect(qualname, method).effect
        return None if effect is Effect.UNKNOWN else effect is Effect.CHANGES

    def effect(self, qualname: str, method: str = "__call__") -> Verdict:
        """What calling ``method`` on an instance of ``qualname`` does to state, following the
        call path: the method's own writes, the methods of self it calls, the submodules and
        their methods it calls (by the attributes' classes), flax's own classes by what they
        do. The reasons lead to the first state change (or to what is unknown)."""
        key = (self.resolve(qualname), method)
        known = self._effects.get(key)
        if known is not None:
            return known
        self._effects[key] = Verdict(Effect.PURE, ())  # a call cycle adds nothing of its own
        verdict = self._effect(*key)
        self._effects[key] = verdict
        return verdict

    def _effect(self, qualname: str, method: str) -> Verdict:
        builtin = nnx_api.builtin_effect(qualname, method)
        if builtin is not None:
            modal = qualname in nnx_api.MODE_DEPENDENT and method == "__call__"
            moves = method in nnx_api.MODULE_METHODS_CHANGING  # sow, eval, train, ...
            moved = Moved((builtin[1],)) if moves and builtin[0] is Effect.CHANGES else None
            return Verdict(
                builtin[0], (builtin[1],), mode_dependent=modal, restructures=moves, moved=moved
            )
        lineage = list(self.ancestors(qualname))
        if not lineage:
            return Verdict(Effect.UNKNOWN, (f"`{_short(qualname)}` is not known to nnx-lint",))
        for facts in lineage:
            if method in facts.summaries:
                return self._method_effect(qualname, facts, method)
        outside = [self.foreign(b) for f in lineage for b in f.bases if self.class_facts(b) is None]
        module_methods = nnx_api.MODULE_METHODS_CHANGING | nnx_api.MODULE_METHODS_READING
        if (outside == [f"{nnx_api.NNX}.Module"] or not outside) and method not in module_methods:
            return Verdict(Effect.UNKNOWN, (f"`{_short(qualname)}` defines no `{method}`",))
        return join([self.effect(base, method) for base in outside or [f"{nnx_api.NNX}.Module"]])

    def _method_effect(self, qualname: str, facts: ClassFacts, method: str) -> Verdict:
        summary = facts.summaries[method]
        name = f"{_short(facts.qualname)}.{method}"
        file = self.class_files.get(facts.qualname)

        def at(line: int) -> tuple[str, int] | None:
            return (file, line) if file is not None else None

        verdicts = []
        plain = not self.is_module(qualname)
        for site in summary.writes:
            if plain and not self._writes_nnx_state(qualname, site.text):
                continue  # `self.calls += 1` on a plain object: Python state, no trace error
            step = f"`{name}` assigns `{site.text}` (line {site.line})"
            moves = write_moves(site.text)
            if not site.conditional:
                moved = Moved((step,), at(site.line)) if moves else None
                verdicts.append(
                    Verdict(Effect.CHANGES, (step,), at(site.line), restructures=moves, moved=moved)
                )
                continue
            why = (f"{step} under a condition",)
            verdicts.append(Verdict(Effect.UNKNOWN, why, at(site.line), restructures=moves))
        for call in summary.calls:
            verdict = self._call_effect(qualname, facts, call)
            step = f"`{name}` calls `{call.text}` (line {call.line})"
            effect = verdict.effect
            if call.conditional and effect is Effect.CHANGES:
                effect, step = Effect.UNKNOWN, f"{step} under a condition"
            where = verdict.location or at(call.line)
            nested = verdict.nested
            if nested is not None:
                nested = Nested(f"{step}; {nested.reason}", nested.transform)
            moved = verdict.moved.after(step, at(call.line)) if verdict.moved else None
            if call.conditional:
                moved = None
            if nested is not None and call.conditional:  # it may raise: no claim
                effect, nested = Effect.UNKNOWN, None
                step = f"{step} under a condition, which runs an NNX transform on its state"
            verdicts.append(
                replace(
                    verdict,
                    effect=effect,
                    reasons=(step, *verdict.reasons),
                    location=where,
                    nested=nested,
                    moved=moved,
                )
            )
        for site in summary.nested:
            what = "self" if not site.path else f"self.{site.path[0]}"
            short = site.text.replace("flax.", "")
            step = f"`{name}` runs `{short}` on `{what}` (line {site.line})"
            if site.conditional:  # it may raise: no claim
                why = (f"{step} under a condition",)
                verdicts.append(Verdict(Effect.UNKNOWN, why, at(site.line)))
                continue
            nested = Nested(step, site.text)
            verdicts.append(Verdict(Effect.PURE, (), at(site.line), nested=nested))
        for site in summary.passed:
            attr = site.path[0]
            held = self._held_modules(qualname, attr)
            cls = self.attr_type(qualname, attr)
            if held or (cls is not None and self.is_module(cls)):
                step = f"`{name}` passes `self.{attr}` to `{site.text}` (line {site.line})"
                verdicts.append(Verdict(Effect.UNKNOWN, (step,), at(site.line)))
        for site in summary.unknown:
            if self._reads_a_variable(qualname, site.path):
                continue  # `self.w[...].astype(...)`: a method of the array a Variable holds
            step = f"`{name}` calls `{site.text}` (line {site.line}), which cannot be followed"
            verdicts.append(Verdict(Effect.UNKNOWN, (step,), at(site.line)))
        return join(verdicts)

    def _call_effect(self, qualname: str, facts: ClassFacts, call: CallSite) -> Verdict:
        path = call.path
        if path == ():
            return self.effect(qualname, "__call__")
        if path[0] == "super":
            return join([self.effect(base, path[1]) for base in facts.bases])
        if len(path) == 1 and (
            self.has_method(qualname, path[0]) or path[0] in nnx_api.MODULE_METHODS_CHANGING
        ):
            return self.effect(qualname, path[0])
        attr = path[0]
        if len(path) >= 2 and path[1] == ITEM:
            if self._reads_a_variable(qualname, (attr,)):
                return Verdict(Effect.PURE, ())  # `self.scale[...].astype(x)`: its value's
            held = self._held_modules(qualname, attr)
            if not held:
                return Verdict(Effect.UNKNOWN, (f"what `self.{attr}` holds is not known",))
            method = path[2] if len(path) == 3 else "__call__"
            return join([self.effect(cls, method) for cls in held])
        cls = self.attr_type(qualname, attr)
        if cls is None:
            held = self._held_modules(qualname, attr)  # `A(...) if flag else B()`
            if held and len(path) == 1:
                return join([self.effect(c, "__call__") for c in held])
            return Verdict(Effect.UNKNOWN, (f"the class of `self.{attr}` is not known",))
        if len(path) == 2 and not self.has_method(cls, path[1]):
            inner = self.attr_type(cls, path[1])  # self.model.encoder(x): a submodule's call
            if inner is not None:
                return self.effect(inner, "__call__")
        method = path[1] if len(path) == 2 else "__call__"
        if method == "__call__" and len(path) == 1:
            built = self.flags_of(qualname, attr)
            runs = self._runs_builtin(cls, "__call__")
            given = dict(call.flags)
            flagged = nnx_api.flagged_effect(runs, given, built, NOT_LITERAL)
            if flagged is not None:
                quiet = nnx_api.QUIET_WHEN.get(runs, ("", None))[0]
                modal = given.get(quiet, NOT_LITERAL) == NOT_LITERAL  # not decided at the call
                # Dropout's draws and BatchNorm's statistics change Variables' values.
                return Verdict(flagged[0], (flagged[1],), mode_dependent=modal, restructures=False)
        if method == "__call__" and cls in nnx_api.CALLING_CONTAINERS:
            # nnx.Sequential(...) calls what it holds.
            held = self._held_modules(qualname, attr)
            if held:
                return join([self.effect(c, "__call__") for c in held])
        return self.effect(cls, method)

    def nnx_attributes_used(self, qualname: str, method: str, depth: int = 0) -> list[str]:
        """The attributes holding NNX objects that ``method`` of class ``qualname`` calls or
        hands on (``self.q_net(x)``, ``self.blocks[i](x)``, ``nnx.split(self.model)``),
        followed through its own methods (``self.helper(x)``)."""
        facts = next((f for f in self.ancestors(qualname) if method in f.summaries), None)
        if facts is None or depth > 8:
            return []
        found: list[str] = []
        summary = facts.summaries[method]
        for site in (*summary.calls, *summary.passed):
            if not site.path or site.path[0] == "super":
                continue
            attr = site.path[0]
            if len(site.path) == 1 and self.has_method(qualname, attr):
                found += self.nnx_attributes_used(qualname, attr, depth + 1)
                continue
            cls = self.attr_type(qualname, attr)
            held = self._held_modules(qualname, attr)
            if (cls is not None and self.is_nnx_class(cls)) or held:
                found.append(attr)
        return list(dict.fromkeys(found))

    def _writes_nnx_state(self, qualname: str, target: str) -> bool:
        """Does an assignment to ``target`` (``self.policy.kernel[...]``) in a method of a plain
        (non-Module) class write into an NNX object it holds (not just a plain attribute of
        its own, which tracing does not mind)?"""
        m = re.match(r"self\.(\w+)(.*)$", target)
        if m is None:
            return True  # through a name taken from self: cannot be told apart
        cls = self.attr_type(qualname, m[1])
        held = (cls is not None and self.is_nnx_class(cls)) or bool(
            self._held_modules(qualname, m[1])
        )
        return held and bool(m[2])  # into it, not rebinding the attribute itself

    def _reads_a_variable(self, qualname: str, path: tuple[str, ...]) -> bool:
        """Does a call path go through a Variable of the object (``self.w[...]``,
        ``self.embedder.embedding.value``)? What is called then is a method of its value."""
        cls: str | None = qualname
        for part in path:
            if part == ITEM or cls is None:
                return False
            cls = self.attr_type(cls, part)
            if cls is not None and self.is_variable(cls):
                return True
        return False

    def _held_modules(self, qualname: str, attr: str) -> list[str]:
        """The Module classes built into ``self.attr``'s value, containers left out
        (``nnx.List([Block(...) for _ in ...])`` holds ``Block``)."""
        return sorted(
            cls
            for cls in self.contents_of(qualname, attr)
            if self.is_module(cls)
            and not (nnx_api.nnx_class_kind(cls) and cls.rsplit(".", 1)[-1] in nnx_api.CONTAINERS)
        )

    def _runs_builtin(self, qualname: str, method: str) -> str:
        """Whose ``method`` runs: the class itself, or the flax class it derives from when no
        class of the project in between defines it (``class Dropout(nnx.Dropout)``)."""
        if nnx_api.nnx_class_kind(qualname) is not None:
            return qualname
        lineage = list(self.ancestors(qualname))
        if any(method in facts.summaries for facts in lineage):
            return qualname
        outside = [b for f in lineage for b in f.bases if self.class_facts(b) is None]
        return outside[0] if outside else qualname

    def flags_of(self, qualname: str, attr: str) -> dict[str, object]:
        """The FLAGS ``self.attr`` was constructed with."""
        for facts in self.ancestors(qualname):
            if attr in facts.flags:
                return dict(facts.flags[attr])
        return {}

    def contents_of(self, qualname: str, attr: str) -> frozenset[str]:
        """The classes constructed in the value assigned to ``self.attr``, if any."""
        for facts in self.ancestors(qualname):
            if attr in facts.contents:
                return facts.contents[attr]
        return frozenset()

    def pytree_false(self, qualname: str) -> bool:
        return any(f.pytree_false for f in self.ancestors(qualname))

    def attr_type(self, qualname: str, attr: str) -> str | None:
        return next((f.attrs[attr] for f in self.ancestors(qualname) if attr in f.attrs), None)

    def has_method(self, qualname: str, name: str) -> bool:
        """Does the class (or a base class in the project) define method ``name``?"""
        return any(name in f.methods for f in self.ancestors(qualname))

    def calls_to(self, qualname: str) -> list[tuple[str, CallFact]]:
        """The calls, in other files, of function ``qualname`` (followed through re-exports),
        each with the key of its file."""
        return self._calls.get(qualname, [])

    def returned_class(self, qualname: str) -> str | None:
        """The class function ``qualname`` (of another module) returns, if the index knows."""
        module, _, name = self.resolve(qualname).rpartition(".")
        facts = self.modules.get(module)
        cls = facts.returns.get(name) if facts is not None else None
        return self.resolve(cls) if cls else None

    def called_from_elsewhere(self, key: str) -> bool:
        """Does another file call (or hand on) a function of file ``key`` with an NNX object
        as an argument?"""
        facts = self.files.get(key)
        return facts is not None and facts.module in self._called_modules

    @cached_property
    def _called_modules(self) -> set[str]:
        """Modules whose functions another file calls with an NNX object."""
        nnx: dict[str, bool] = {}

        def is_nnx(cls: str) -> bool:
            if cls not in nnx:
                nnx[cls] = self.is_nnx_class(self.resolve(cls))
            return nnx[cls]

        return {
            callee.rpartition(".")[0]
            for callee, calls in self._calls.items()
            if any(is_nnx(cls) for _, call in calls for _, cls in call.args)
        }

    @cached_property
    def _calls(self) -> dict[str, list[tuple[str, CallFact]]]:
        found: dict[str, list[tuple[str, CallFact]]] = {}
        for key, facts in self.files.items():
            if facts.module in self.ambiguous:
                continue  # which module a same-named script imports cannot be told
            for call in facts.calls:
                found.setdefault(self.resolve(call.callee), []).append((key, call))
        return found

    def subclasses(self, qualname: str) -> list[str]:
        """The project's classes that derive from ``qualname`` (at any depth)."""
        return self._subclasses.get(self.resolve(qualname), [])

    @cached_property
    def _subclasses(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for cls in self.classes:
            for base in self.ancestors(cls):
                if base.qualname != cls:
                    found.setdefault(base.qualname, []).append(cls)
        return found

    def importers(self, module: str, name: str) -> list[str]:
        """The modules that import ``name`` from ``module``."""
        qualname = f"{module}.{name}"
        return [f.module for f in self.files.values() if qualname in f.imports.values()]


if TYPE_CHECKING:
    from typing import Protocol

    class Prefilter(Protocol):
        """What the prefilter asks of the index (``ProjectIndex``, or what a run recorded)."""

        def called_from_elsewhere(self, key: str) -> bool: ...

        def mentions_module_class(self, source: str) -> bool: ...

        def names_nnx(self, key: str, source: str) -> bool | None: ...


def _is_nnx(qualname: str) -> bool:
    return qualname == nnx_api.NNX or qualname.startswith(nnx_api.NNX + ".")


def names_nnx(facts: FileFacts | None, source: str, known: frozenset[str]) -> bool | None:
    """Does ``source``, the text of the file with index facts ``facts`` (its module), import
    anything NNX (``_imported``): anything of flax.nnx, one of the project's ``known`` NNX
    names (``ProjectIndex.nnx_names``), or a module or class that holds one (``pkg.models``,
    whose ``Ranker`` the file may name as an attribute, or bind to another name first)? The
    rules find nothing in a file that imports nothing NNX and that no other file calls with
    NNX objects: every NNX object they know of is built, annotated or returned under a name
    the file reaches through its imports. None when the text names nnx outright, when the
    index has no facts of the file, or when the running Python cannot parse the text. Parsed
    here, for the few files that get this far (a JAX transform named, nnx not), rather than
    for all by the index scan."""
    if facts is None or "nnx" in source:
        return None
    # Each of those names starts with a module of the project or with flax, and an import
    # spells the module it imports from, save a relative one: without either, the text
    # names none of them, and need not be parsed (in ASCII: Python reads identifiers in
    # their NFKC form, which a text in other scripts may not spell as such).
    if source.isascii() and _spelled(known).search(source) is None:
        return False
    package = facts.module if facts.is_package else facts.module.rpartition(".")[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            imported = _imported(ast.parse(source), package)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None  # what the index read instead (a newer grammar) is not this text
    # An attribute of a module or class holding an NNX name is one too (``pkg.models.``).
    return any(_is_nnx(name) or name in known or f"{name}." in known for name in imported)


@lru_cache(maxsize=4)
def _spelled(known: frozenset[str]) -> re.Pattern[str]:
    """The roots of ``known`` names and flax as words, or a relative import (``names_nnx``):
    made once per set of names, not for each file a run or a flake8 worker asks about."""
    roots = sorted({name.partition(".")[0] for name in known} | {"flax"})
    return re.compile(r"\b(?:" + "|".join(map(re.escape, roots)) + r")\b|\bfrom[\s\\]*\.")


def any_text_check(checks: Iterable[Callable[[str], bool]]) -> Callable[[str], bool]:
    """Text checks together (each once): does any of them pass the text?"""
    unique = tuple(dict.fromkeys(checks))
    return lambda source: any(check(source) for check in unique)


def could_have_findings(
    source: str,
    index: Prefilter | None = None,
    path: str | None = None,
    text_check: Callable[[str], bool] = nnx_api.mentions_transform,
) -> bool:
    """Cheap prefilter: the rules' own text check (``text_check``; by default the one of the
    rules that need a JAX transform: `jit`, `vmap`, `lax.scan`, ...) and an NNX object, which
    needs nnx named, or another file of the project that calls a function of this one (file
    ``path``) with NNX objects. Named: "nnx" in the text; else, for a file of the project,
    anything NNX it names through its imports (``ProjectIndex.names_nnx``); else (no index, or
    a text the running Python cannot parse) a mention of flax or of an NNX Module class of
    the project."""
    if not text_check(source):
        return False
    if "nnx" in source:
        return True
    if index is None:
        return "flax" in source
    key = None if path is None else os.path.abspath(path)
    if key is not None and index.called_from_elsewhere(key):
        return True
    named = None if key is None else index.names_nnx(key, source)
    if named is not None:
        return named
    return "flax" in source or index.mentions_module_class(source)
