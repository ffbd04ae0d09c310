"""The project-wide index of classes: which are NNX Modules, which change state when called.

Built with the standard library's ``ast`` (cheap), once per run, from every file being linted;
the file being checked is re-read from its current text (``with_source``). Rules ask it about
qualified class names (``pkg.models.Ranker``), whatever file the class lives in.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from nnx_lint.analysis import nnx_api
from nnx_lint.analysis.imports import module_name_for, resolve_relative
from nnx_lint.cache import Cache, stamp, text_digest
from nnx_lint.files import SourceError, read_source


@dataclass
class ClassFacts:
    qualname: str
    bases: list[str] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)  # self.attr -> class qualname
    contains: set[str] = field(default_factory=set)  # every class constructed into an attribute
    changes_state: bool = False  # writes Variable values / stores Rngs
    pytree_false: bool = False
    methods: set[str] = field(default_factory=set)


@dataclass
class FileFacts:
    module: str
    imports: dict[str, str] = field(default_factory=dict)  # module-level name -> qualified name
    classes: dict[str, ClassFacts] = field(default_factory=dict)
    hijax: bool = False
    digest: bytes = b""  # digest of the text the facts were read from


def _dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _literal(node: ast.expr) -> object:
    return node.value if isinstance(node, ast.Constant) else None


class _FileScanner:
    def __init__(self, module: str, is_package: bool, hijax_possible: bool) -> None:
        self.hijax_possible = hijax_possible  # the text mentions hijax at all
        self.facts = FileFacts(module)
        self.package = module if is_package else module.rpartition(".")[0]
        self.local_classes: dict[str, str] = {}

    def qualify(self, node: ast.expr | None) -> str | None:
        if node is None:
            return None
        if isinstance(node, ast.Subscript):  # Optional[X]
            return self.qualify(node.slice)
        if isinstance(node, ast.BinOp):  # X | None
            return self.qualify(node.left) or self.qualify(node.right)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                return self.qualify(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                return None
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        if head in self.facts.imports:
            base = self.facts.imports[head]
        elif head in self.local_classes:
            base = self.local_classes[head]
        else:
            return None
        return nnx_api.normalize(f"{base}.{rest}" if rest else base)

    def scan(self, tree: ast.Module) -> FileFacts:
        # Imports and class names first, wherever they stand: a class may use a later import.
        for node in tree.body:
            self._import(node)
            if isinstance(node, ast.ClassDef):
                self.local_classes[node.name] = f"{self.facts.module}.{node.name}"
        if self.hijax_possible:
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    self._hijax(node)
                elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
                    target = node.targets[0]
                    key, value = _literal(target.slice), _literal(node.value)
                    if nnx_api.hijax_environ(self.qualify(target.value), key, value):
                        self.facts.hijax = True
        self._classes(tree.body, self.facts.module)
        return self.facts

    def _import(self, node: ast.stmt) -> None:
        imports = self.facts.imports
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    imports[alias.asname] = nnx_api.normalize(alias.name)
                else:
                    head = alias.name.partition(".")[0]
                    imports[head] = head
        elif isinstance(node, ast.ImportFrom):
            base = resolve_relative(node.module, node.level, self.package)
            for alias in node.names:
                if alias.name != "*":
                    qual = nnx_api.normalize(f"{base}.{alias.name}" if base else alias.name)
                    imports[alias.asname or alias.name] = qual
        elif isinstance(node, ast.If | ast.Try):  # guarded imports
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
        args = [(None, _literal(a)) for a in call.args]
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
        facts = ClassFacts(qualname)
        self.local_classes.setdefault(node.name, qualname)
        facts.bases = [q for q in map(self.qualify, node.bases) if q]
        facts.pytree_false = any(
            k.arg == "pytree" and _literal(k.value) is False for k in node.keywords
        )
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                self._attr(facts, stmt.target.id, self.qualify(stmt.annotation))
            elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                facts.methods.add(stmt.name)
                self._method(facts, stmt)
        self.facts.classes[qualname] = facts
        self._classes(node.body, qualname)

    def _attr(self, facts: ClassFacts, name: str, qual: str | None) -> None:
        if qual:
            facts.attrs.setdefault(name, qual)
            facts.contains.add(qual)
            if qual == f"{nnx_api.NNX}.Rngs":
                facts.changes_state = True

    def _method(self, facts: ClassFacts, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        params = {
            a.arg: self.qualify(a.annotation)
            for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs
        }
        in_init = fn.name == "__init__"
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    self._assignment(facts, target, node, params, in_init)

    def _assignment(self, facts, target, node, params, in_init) -> None:
        root = target
        while isinstance(root, ast.Attribute | ast.Subscript):
            root = root.value
        if not (isinstance(root, ast.Name) and root.id == "self"):
            return
        direct = isinstance(target, ast.Attribute) and target.value is root
        if direct and not isinstance(node, ast.AugAssign):
            value = node.value
            if isinstance(node, ast.AnnAssign):
                self._attr(facts, target.attr, self.qualify(node.annotation))
            if isinstance(value, ast.Call):
                self._attr(facts, target.attr, self.qualify(value.func))
            elif isinstance(value, ast.Name) and params.get(value.id):
                self._attr(facts, target.attr, params[value.id])
            for sub in ast.walk(value) if value is not None else ():
                if isinstance(sub, ast.Call) and (q := self.qualify(sub.func)):
                    facts.contains.add(q)
        elif not in_init:
            facts.changes_state = True  # self.count.value += 1, self.x[...] = y, ...


def scan_file(path: Path) -> FileFacts | None:
    try:
        source, _ = read_source(path)
    except SourceError:
        return None  # reported when the file itself is linted
    # Only files that can define a class, turn on hijax, or re-export one (any import).
    if "class" not in source and "import" not in source:
        return None
    module, is_package = module_name_for(path)
    return scan_source(source, module, is_package)


def scan_source(source: str, module: str, is_package: bool = False) -> FileFacts | None:
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
        names = Counter(f.module for f in self.files.values())
        # Scripts outside packages are named by their file name: two `train.py` in two
        # folders are both `train`. Such a name means no file but the one being checked.
        self.ambiguous = {name for name, count in names.items() if count > 1}
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

    @classmethod
    def build(
        cls,
        paths: list[Path],
        cache: Cache | None = None,
        mapper: Callable[[Callable, list], list] = lambda fn, items: list(map(fn, items)),
    ) -> ProjectIndex:
        """The index of ``paths``; a file whose (mtime, size) the cache knows is not read. The
        others are scanned by ``mapper(scan_file, paths)`` (the CLI passes a parallel map)."""
        files = {}
        todo: list[tuple[str, Path, tuple[int, int] | None]] = []
        for path in map(Path, paths):
            key = os.path.abspath(path)
            file_stamp = stamp(path) if cache is not None else None
            if file_stamp is not None:
                hit, facts = cache.get_facts(key, file_stamp)
                if hit:
                    if facts is not None:
                        files[key] = facts
                    continue
            todo.append((key, path, file_stamp))
        scanned = mapper(scan_file, [path for _, path, _ in todo])
        for (key, _, file_stamp), facts in zip(todo, scanned, strict=True):
            if cache is not None:
                cache.put_facts(key, file_stamp, facts)
            if facts is not None:
                files[key] = facts
        return cls(files)

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

    def parsed(self, path: str, source: str) -> bool:
        """Did building the index parse exactly this text of ``path`` without error?"""
        known = self.files.get(os.path.abspath(path))
        return known is not None and known.digest == text_digest(source)

    def with_source(self, path: str, source: str) -> tuple[ProjectIndex, FileFacts]:
        """This index with ``path``'s facts read from ``source``, and those facts."""
        key = os.path.abspath(path)
        known = self.files.get(key)
        if known is not None and known.digest == text_digest(source):
            if known.module not in self.ambiguous:
                return self, known  # the index already holds this text's facts
            facts = known
        else:
            module, is_package = module_name_for(Path(path))
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
    def _module_class_names(self) -> re.Pattern | None:
        names = {q.rsplit(".", 1)[1] for q in self.classes if self.is_module(q)}
        names |= {
            local
            for f in self.files.values()
            for local, q in f.imports.items()
            if self.resolve(q) in self.classes and self.is_module(q)
        }
        if not names:
            return None
        return re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, names))) + r")\b")

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

    def is_module(self, qualname: str) -> bool:
        """Is ``qualname`` an NNX Module class (flax's own or a subclass anywhere)?"""
        if nnx_api.is_module_base(qualname):
            return True
        qualname = self.resolve(qualname)
        if qualname not in self._module_cache:
            self._module_cache[qualname] = False  # cycle guard
            facts = self.classes.get(qualname)
            self._module_cache[qualname] = bool(facts) and any(map(self.is_module, facts.bases))
        return self._module_cache[qualname]

    def is_nnx_class(self, qualname: str) -> bool:
        return nnx_api.nnx_class_kind(qualname) is not None or self.is_module(qualname)

    def changes_state(self, qualname: str) -> bool | None:
        """True: its calls change state; False: pure as far as known; None: unknown."""
        kind = nnx_api.nnx_class_kind(qualname)
        if kind == "module":
            # Containers and the base class: it depends on what they hold.
            return None if qualname.rsplit(".", 1)[1] in nnx_api.CONTAINERS else False
        if kind is not None:
            return True
        qualname = self.resolve(qualname)
        if qualname in self._mutating_cache:
            return self._mutating_cache[qualname]
        self._mutating_cache[qualname] = False
        facts = self.classes.get(qualname)
        if facts is None:
            result = None
        else:
            parts = [facts.changes_state]
            parts += [self.changes_state(q) for q in facts.contains if self.is_nnx_class(q)]
            parts += [self.changes_state(b) for b in facts.bases if b != f"{nnx_api.NNX}.Module"]
            result = True if any(p is True for p in parts) else (None if None in parts else False)
        self._mutating_cache[qualname] = result
        return result

    def pytree_false(self, qualname: str) -> bool:
        facts = self.class_facts(qualname)
        if facts is None:
            return False
        return facts.pytree_false or any(self.pytree_false(b) for b in facts.bases if b != qualname)

    def _lineage(self, qualname: str) -> Iterator[ClassFacts]:
        """The class's facts, then its first indexed base's, and so on (cycles cut)."""
        facts, seen = self.class_facts(qualname), set()
        while facts is not None and facts.qualname not in seen:
            seen.add(facts.qualname)
            yield facts
            facts = next((self.class_facts(b) for b in facts.bases if self.class_facts(b)), None)

    def attr_type(self, qualname: str, attr: str) -> str | None:
        return next((f.attrs[attr] for f in self._lineage(qualname) if attr in f.attrs), None)

    def has_method(self, qualname: str, name: str) -> bool:
        """Does the class (or a base class in the project) define method ``name``?"""
        return any(name in f.methods for f in self._lineage(qualname))

    def importers(self, module: str, name: str) -> list[str]:
        """The modules that import ``name`` from ``module``."""
        qualname = f"{module}.{name}"
        return [f.module for f in self.files.values() if qualname in f.imports.values()]
