"""The project a file belongs to: its root, configuration, files, class index and cache.

Every front end (the command, standard input, the flake8 plugin, pre-commit through the
command) asks this module which project a file is in and lints the file through it, so the
same file gets the same findings from each of them.

- Root: ``files.project_root`` (the nearest directory with pyproject.toml, setup.cfg, setup.py
  or .git; with none, the directory above the top-most package; else the file's directory).
- Configuration: ``--config`` if given, else the nearest pyproject.toml with a
  ``[tool.nnx-lint]`` table at or above the root; the command line's options over it.
- Files: every Python file under the root, found as a directory walk finds them (gitignore,
  virtual environments and ``exclude`` skipped), plus any file linted by name.
- Index: the facts of those files (``analysis.project_index``), read here; a file whose
  (mtime, size) the cache knows is not read again.
- Cache: ``<root>/.nnx_lint_cache`` unless moved or switched off.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from nnx_lint import config
from nnx_lint.analysis.project_index import (
    FileFacts,
    ProjectIndex,
    could_have_findings,
    index_facts,
)
from nnx_lint.cache import DEFAULT_DIR, Cache, Stamp, stamp
from nnx_lint.collector import paused
from nnx_lint.config import Config, Options  # in Project's body, `config` is the field
from nnx_lint.diagnostics import Diagnostic
from nnx_lint.files import (
    SOURCE_SUFFIXES,
    SourceError,
    discover,
    is_marked,
    module_name_for,
    project_root,
    read_source,
)
from nnx_lint.rules import RULES, text_check
from nnx_lint.settings import Settings
from nnx_lint.sources import MAX_FILE_SIZE

if TYPE_CHECKING:  # multiprocessing is imported when there is work for other processes
    from multiprocessing.pool import Pool

T = TypeVar("T")
R = TypeVar("R")
Mapper = Callable[[Callable[[Any], Any], list[Any]], list[Any]]
# A project's cache: each file's index facts (None: nothing to index) and diagnostics.
ProjectCache = Cache[FileFacts | None, Diagnostic]


def serial(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    return list(map(fn, items))


def pool(
    processes: int,
    initializer: Callable[..., object] | None = None,
    initargs: tuple[object, ...] = (),
) -> Pool | None:
    """Worker processes, forked where the platform can (they inherit what is loaded); None
    where no process pool can be made (no sem_open, ENOSPC, ...): the caller works in this
    process, as flake8 does."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    try:
        return context.Pool(processes, initializer, initargs)
    except (ImportError, OSError):
        return None


def parallel_map(jobs: int) -> Mapper:
    """``map`` over ``jobs`` worker processes where there is enough work (for the index)."""

    def mapper(fn: Callable[[T], R], items: list[T]) -> list[R]:
        workers = pool(jobs) if jobs > 1 and len(items) >= 64 else None
        if workers is None:
            return list(map(fn, items))
        with workers:
            return workers.map(fn, items, chunksize=16)

    return mapper


def scan_file(path: str) -> FileFacts | None:
    """The index facts of one file on disk (None: unreadable, unparsable or irrelevant), read
    with the garbage collector paused (``collector``)."""
    try:
        source, _ = read_source(Path(path))
    except SourceError:
        return None  # reported when the file itself is linted
    module, is_package = module_name_for(path)
    with paused():
        return index_facts(source, module, is_package, MAX_FILE_SIZE)


def build_index(
    paths: Iterable[str | os.PathLike[str]],
    cache: ProjectCache | None = None,
    mapper: Mapper = serial,
) -> ProjectIndex:
    """The index of ``paths``; a file whose (mtime, size) the cache knows is not read. The
    others are scanned by ``mapper(scan_file, paths)`` (the command passes a parallel map)."""
    files: dict[str, FileFacts] = {}
    todo: list[tuple[str, Stamp | None]] = []
    for path in paths:
        key = os.path.abspath(path)
        file_stamp = stamp(Path(key)) if cache is not None and cache.enabled else None
        if cache is not None and file_stamp is not None:
            hit, facts = cache.get_facts(key, file_stamp)
            if hit:
                if facts is not None:
                    files[key] = facts
                continue
        todo.append((key, file_stamp))
    scanned = mapper(scan_file, [key for key, _ in todo])
    for (key, file_stamp), facts in zip(todo, scanned, strict=True):
        if cache is not None:
            cache.put_facts(key, file_stamp, facts)
        if facts is not None:
            files[key] = facts
    return ProjectIndex(files)


@dataclass
class Project:
    root: Path
    config: Config
    index: ProjectIndex
    cache: ProjectCache
    # What the project was read from: its files, the directories walked, its configuration.
    read: frozenset[str] = frozenset()

    @classmethod
    def open(
        cls,
        root: Path,
        *,
        config_path: str | None = None,
        cli: Options | None = None,
        cache: ProjectCache | None = None,
        also: Sequence[str | os.PathLike[str]] = (),
        mapper: Mapper = serial,
    ) -> Project:
        """The project rooted at ``root``; ``also``: files linted by name, indexed even when
        the walk would skip them; ``cache``: the one to use (default: ``default_cache``)."""
        conf = config.load([str(root)], config_path, cli)
        directories: set[str] = set()
        walked = project_files(root, conf, directories)
        seen = {os.path.abspath(p) for p in walked}
        extra = [p for p in also if os.path.abspath(p) not in seen]
        cache = cache if cache is not None else default_cache(root)
        modules = [p for p in [*extra, *walked] if str(p).endswith(SOURCE_SUFFIXES)]
        index = build_index(modules, cache, mapper)
        read = {*directories, *map(str, modules), *([str(conf.path)] if conf.path else [])}
        return cls(root, conf, index, cache, frozenset(read))

    def settings(self, path: str) -> Settings:
        return self.config.settings(path)

    def result_key(
        self,
        path: str,
        file_stamp: object,
        settings: Settings | None = None,
        *,
        noqa: bool = True,
    ) -> bytes:
        """The cache key of a file's results: everything they depend on (``path`` as shown and
        where it is; ``file_stamp``: its stamp, or a digest of the text linted; ``settings``: the
        file's own unless given; ``noqa=False``: results with suppression left to the caller)."""
        # The settings hold the target flax version (the installed one unless configured).
        settings = settings or self.settings(path)
        where = f"{path}\0{os.path.abspath(path)}"
        return self.cache.result_key(where, file_stamp, (settings, noqa), self.index.fingerprint)

    def check(
        self, path: str, text: str, settings: Settings | None = None, *, noqa: bool = True
    ) -> list[Diagnostic]:
        """The file's diagnostics (``engine.check_text``). A Python file that cannot have a
        finding, whose very text the index parsed (so it has no syntax error), has none: told
        without importing the engine (libcst), as the engine itself would tell it."""
        settings = settings or self.settings(path)
        if (
            path.endswith(SOURCE_SUFFIXES)
            and not self.could_have_findings(text, settings, path)
            and self.index.parsed(os.path.abspath(path), text)
        ):
            return []
        from nnx_lint.engine import check_text

        return check_text(text, path, settings, self.index, noqa=noqa)

    def could_have_findings(self, text: str, settings: Settings, path: str | None = None) -> bool:
        """Can the rules ``settings`` turn on find anything in ``text`` (file ``path``)? (It
        may parse the text: ``names_nnx``; the garbage collector is paused meanwhile.)"""
        rules = [rule for rule in RULES if settings.enabled(rule.code)]
        with paused():
            return bool(rules) and could_have_findings(text, self.index, path, text_check(rules))


def default_cache(root: Path, *, journal: bool = False) -> ProjectCache:
    """``<root>/.nnx_lint_cache`` for a project with a marker; none for a root found without
    one (a directory of scripts, the one above a package): no cache directory is left in a
    home directory or beside a stray script. ``journal``: see ``cache``."""
    return Cache(root / DEFAULT_DIR if is_marked(root) else None, journal=journal)


def project_files(root: Path, conf: Config, walked: set[str] | None = None) -> list[Path]:
    """The Python files of the project at ``root``, found as a directory walk finds them. A
    root without a project marker (a directory of scripts, or the one above a package) holds
    only what Python can import from it: its own files and its packages, never every
    directory below it (a stray script in a home directory must not index the home).
    ``walked`` collects the directories listed (``files.discover``)."""
    walked = set() if walked is None else walked
    if is_marked(root):
        return discover([str(root)], conf.exclude, walked=walked)[0]
    walked.add(str(root))
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return []
    found: list[Path] = []
    for entry in entries:
        if entry.is_dir() and os.path.exists(os.path.join(entry.path, "__init__.py")):
            found += discover([entry.path], conf.exclude, walked=walked)[0]
        elif entry.is_dir():  # looked at, not walked: an __init__.py made there counts
            walked.add(os.path.realpath(entry.path))
        elif entry.is_file() and entry.name.endswith(SOURCE_SUFFIXES):
            if not conf.exclude.match(entry.path):
                found.append(Path(entry.path))
    return found


def root_of(path: str | os.PathLike[str]) -> Path:
    """The root of the project ``path`` belongs to (``files.project_root``)."""
    return project_root(path)


def group_by_root(paths: Iterable[Path]) -> dict[Path, list[Path]]:
    """Files grouped by their project's root, in the order first seen."""
    roots: dict[str, Path] = {}  # directory -> root, since many files share a directory
    groups: dict[Path, list[Path]] = {}
    for path in paths:
        directory = os.path.dirname(os.path.abspath(path))
        root = roots.get(directory)
        if root is None:
            root = roots[directory] = project_root(path)
        groups.setdefault(root, []).append(path)
    return groups
