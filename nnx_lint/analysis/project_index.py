"""The project-wide index of classes: which are NNX Modules, which change state when called.

Built with the standard library's ``ast`` (cheap) from the facts of every file of the project,
which the caller reads and hands in (``scan_source``; reading and caching live in
``nnx_lint.project``); the file being checked is re-read from its current text
(``with_source``). Rules ask it about qualified class names (``pkg.models.Ranker``), whatever
file the class lives in. Pure: no file system, no cache.
"""

from __future__ import annotations

import ast
import hashlib
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from nnx_lint.analysis import names, nnx_api


@dataclass(frozen=True)
class ClassFacts:
    qualname: str
    bases: tuple[str, ...]
    attrs: dict[str, str]  # self.attr -> class qualname
    contains: frozenset[str]  # every class constructed into an attribute
    changes_state: bool  # writes attributes outside __init__ / stores Rngs
    pytree_false: bool
    methods: frozenset[str]


@dataclass
class FileFacts:
    module: str
    imports: dict[str, str] = field(default_factory=dict)  # module-level name -> qualified name
    classes: dict[str, ClassFacts] = field(default_factory=dict)
    hijax: bool = False
    digest: bytes = b""  # digest of the text the facts were read from


def _literal(node: ast.expr) -> object:
    return node.value if isinstance(node, ast.Constant) else None


def text_digest(text: str) -> bytes:
    """Identifies a text: the index knows whether it parsed exactly the text being checked."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


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
        self.facts = FileFacts(module)
        self.package = module if is_package else module.rpartition(".")[0]
        self.local_classes: dict[str, str] = {}
        self.local_imports: dict[str, str] = {}  # imports of the method being scanned

    def _name(self, parts: tuple[str, ...]) -> str | None:
        head, rest = parts[0], parts[1:]
        base = (
            self.local_imports.get(head)
            or self.facts.imports.get(head)
            or self.local_classes.get(head)
        )
        return ".".join((base, *rest)) if base else None

    def qualify(self, node: ast.expr | None) -> str | None:
        """The class an annotation or a called name stands for (``names.annotated_class``)."""
        return names.annotated_class(names.from_ast(node), self._name)

    def scan(self, tree: ast.Module) -> FileFacts:
        # Imports and class names first, wherever they stand: a class may use a later import.
        for node in tree.body:
            self._import(node)
            if isinstance(node, ast.ClassDef):
                self.local_classes[node.name] = f"{self.facts.module}.{node.name}"
        if self.hijax_possible:
            for sub in ast.walk(tree):
                if isinstance(sub, ast.Call):
                    self._hijax(sub)
                elif isinstance(sub, ast.Assign) and isinstance(sub.targets[0], ast.Subscript):
                    target = sub.targets[0]
                    key, value = _literal(target.slice), _literal(sub.value)
                    if nnx_api.hijax_environ(self.qualify(target.value), key, value):
                        self.facts.hijax = True
        self._classes(tree.body, self.facts.module)
        return self.facts

    def _import(self, node: ast.stmt) -> None:
        for imported in _imports(node, self.package):
            self.facts.imports[imported.local] = imported.qualname
        if isinstance(node, ast.If | ast.Try):  # guarded imports
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    self._import(child)
                elif isinstance(child, ast.ExceptHandler):
                    for stmt in child.body:
                        self._import(stmt)

    def _hijax(self, call: ast.Call) -> None:
        qual = self.qualify(call.func)
        if qual is None:
            return
        args: list[tuple[str | None, object]] = [(None, _literal(a)) for a in call.args]
        args += [(k.arg, _literal(k.value)) for k in call.keywords]
        if nnx_api.hijax_call(qual, args):
            self.facts.hijax = True

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
        contains: set[str] = set()
        methods: set[str] = set()
        changes = [False]
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                self._attr(attrs, contains, changes, stmt.target.id, self.qualify(stmt.annotation))
            elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                methods.add(stmt.name)
                self._method(attrs, contains, changes, stmt)
        self.facts.classes[qualname] = ClassFacts(
            qualname=qualname,
            bases=tuple(q for q in map(self.qualify, node.bases) if q),
            attrs=attrs,
            contains=frozenset(contains),
            changes_state=changes[0],
            pytree_false=any(
                k.arg == "pytree" and _literal(k.value) is False for k in node.keywords
            ),
            methods=frozenset(methods),
        )
        self._classes(node.body, qualname)

    def _attr(
        self,
        attrs: dict[str, str],
        contains: set[str],
        changes: list[bool],
        name: str,
        qual: str | None,
    ) -> None:
        if qual:
            attrs.setdefault(name, qual)
            contains.add(qual)
            if qual == f"{nnx_api.NNX}.Rngs":
                changes[0] = True

    def _method(
        self,
        attrs: dict[str, str],
        contains: set[str],
        changes: list[bool],
        fn: ast.FunctionDef | ast.AsyncFunctionDef,
    ) -> None:
        # Imports inside the method count for it, as Python binds them (function-local imports).
        self.local_imports = {
            imported.local: imported.qualname
            for node in ast.walk(fn)
            for imported in _imports(node, self.package)
        }
        params = {
            a.arg: self.qualify(a.annotation)
            for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs
        }
        in_init = fn.name == "__init__"
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    self._assignment(attrs, contains, changes, target, node, params, in_init)
        self.local_imports = {}

    def _assignment(
        self,
        attrs: dict[str, str],
        contains: set[str],
        changes: list[bool],
        target: ast.expr,
        node: ast.Assign | ast.AnnAssign | ast.AugAssign,
        params: dict[str, str | None],
        in_init: bool,
    ) -> None:
        root = target
        while isinstance(root, ast.Attribute | ast.Subscript):
            root = root.value
        if not (isinstance(root, ast.Name) and root.id == "self"):
            return
        # A direct assignment to an attribute of self (`self.x = ...`, not `self.x[i] = ...`).
        if (
            isinstance(target, ast.Attribute)
            and target.value is root
            and not isinstance(node, ast.AugAssign)
        ):
            value = node.value
            if isinstance(node, ast.AnnAssign):
                self._attr(attrs, contains, changes, target.attr, self.qualify(node.annotation))
            if isinstance(value, ast.Call):
                self._attr(attrs, contains, changes, target.attr, self.qualify(value.func))
            elif isinstance(value, ast.Name) and params.get(value.id):
                self._attr(attrs, contains, changes, target.attr, params[value.id])
            for sub in ast.walk(value) if value is not None else ():
                if isinstance(sub, ast.Call) and (q := self.qualify(sub.func)):
                    contains.add(q)
        elif not in_init:
            changes[0] = True  # self.count.value += 1, self.x[...] = y, ...


def scan_source(source: str, module: str, is_package: bool = False) -> FileFacts | None:
    """The facts of one file's text (``module``: its dotted name), None if it does not parse."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    hijax_possible = any(word in source for word in nnx_api.HIJAX_WORDS)
    facts = _FileScanner(module, is_package, hijax_possible).scan(tree)
    facts.digest = text_digest(source)
    return facts


class ProjectIndex:
    def __init__(self, files: dict[str, FileFacts] | None = None, own: str | None = None) -> None:
        """``own``: the file being checked, whose facts win over another file's that has the
        same module name."""
        self.files: dict[str, FileFacts] = files or {}
        self.classes: dict[str, ClassFacts] = {}
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
        self._hijax_packages = {f.module.partition(".")[0] for f in self.files.values() if f.hijax}
        self._module_cache: dict[str, bool] = {}
        self._mutating_cache: dict[str, bool | None] = {}

    @classmethod
    def empty(cls) -> ProjectIndex:
        return cls()

    @cached_property
    def fingerprint(self) -> bytes:
        """A digest of every fact in the index (not of the texts): results that used the
        index stay valid as long as it does not change."""
        h = hashlib.blake2b(digest_size=16)
        for key in sorted(self.files):
            f = self.files[key]
            classes = [
                (
                    c.qualname,
                    c.bases,
                    sorted(c.attrs.items()),
                    sorted(c.contains),
                    c.changes_state,
                    c.pytree_false,
                    sorted(c.methods),
                )
                for c in sorted(f.classes.values(), key=lambda c: c.qualname)
            ]
            h.update(repr((key, f.module, sorted(f.imports.items()), f.hijax, classes)).encode())
        return h.digest()

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
        """Is Flax's hijax mode on for this file: turned on in it, in a module it imports
        (transitively), or anywhere in its top-level package?"""
        if "." in facts.module and facts.module.partition(".")[0] in self._hijax_packages:
            return True
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

    def mentions_module_class(self, source: str) -> bool:
        """Does the text name an NNX Module class of the project (for the prefilter)?"""
        pattern = self._module_class_names
        return pattern is not None and pattern.search(source) is not None

    def resolve(self, qualname: str, depth: int = 0) -> str:
        """Follow re-exports (``pkg/__init__.py: from .models import Ranker``) to the class."""
        if qualname in self.classes or depth > 10:
            return qualname
        module, _, name = qualname.rpartition(".")
        facts = self.modules.get(module)
        if facts and name in facts.imports and facts.imports[name] != qualname:
            return self.resolve(facts.imports[name], depth + 1)
        return qualname

    def class_facts(self, qualname: str) -> ClassFacts | None:
        return self.classes.get(self.resolve(qualname))

    def ancestors(self, qualname: str) -> Iterator[ClassFacts]:
        """The class's facts, then those of its bases known to the project, breadth first: the
        one walk up a class's bases, guarded against cycles (``class A(B)`` in one file,
        ``class B(A)`` in another)."""
        todo, seen = [qualname], set()
        while todo:
            facts = self.class_facts(todo.pop(0))
            if facts is None or facts.qualname in seen:
                continue
            seen.add(facts.qualname)
            yield facts
            todo.extend(facts.bases)

    def is_module(self, qualname: str) -> bool:
        """Is ``qualname`` an NNX Module class (flax's own or a subclass anywhere)?"""
        if nnx_api.is_module_base(qualname):
            return True
        if qualname not in self._module_cache:
            self._module_cache[qualname] = any(
                nnx_api.is_module_base(base)
                for facts in self.ancestors(qualname)
                for base in facts.bases
            )
        return self._module_cache[qualname]

    def is_nnx_class(self, qualname: str) -> bool:
        return nnx_api.nnx_class_kind(qualname) is not None or self.is_module(qualname)

    def changes_state(self, qualname: str) -> bool | None:
        """True: its calls change state; False: pure as far as known; None: unknown."""
        kind = nnx_api.nnx_class_kind(qualname)
        if kind is nnx_api.ObjectKind.MODULE:
            # Containers and the base class: it depends on what they hold.
            return None if qualname.rsplit(".", 1)[1] in nnx_api.CONTAINERS else False
        if kind is not None:
            return True
        qualname = self.resolve(qualname)
        if qualname in self._mutating_cache:
            return self._mutating_cache[qualname]
        self._mutating_cache[qualname] = False  # guards classes that contain one another
        lineage = list(self.ancestors(qualname))
        if not lineage:
            result = None
        else:
            parts: list[bool | None] = [f.changes_state for f in lineage]
            for f in lineage:
                parts += [self.changes_state(q) for q in f.contains if self.is_nnx_class(q)]
                parts += [  # bases outside the project (flax's own): their own answer
                    self.changes_state(b)
                    for b in f.bases
                    if b != f"{nnx_api.NNX}.Module" and self.class_facts(b) is None
                ]
            result = True if any(p is True for p in parts) else (None if None in parts else False)
        self._mutating_cache[qualname] = result
        return result

    def pytree_false(self, qualname: str) -> bool:
        return any(f.pytree_false for f in self.ancestors(qualname))

    def attr_type(self, qualname: str, attr: str) -> str | None:
        return next((f.attrs[attr] for f in self.ancestors(qualname) if attr in f.attrs), None)

    def has_method(self, qualname: str, name: str) -> bool:
        """Does the class (or a base class in the project) define method ``name``?"""
        return any(name in f.methods for f in self.ancestors(qualname))

    def importers(self, module: str, name: str) -> list[str]:
        """The modules that import ``name`` from ``module``."""
        qualname = f"{module}.{name}"
        return [f.module for f in self.files.values() if qualname in f.imports.values()]
