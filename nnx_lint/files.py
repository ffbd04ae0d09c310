"""Finding the files to lint, and reading and writing them without changing their encoding."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from nnx_lint import roots
from nnx_lint.roots import ROOT_MARKERS as ROOT_MARKERS  # re-exported: one rule, told there
from nnx_lint.roots import is_marked as is_marked
from nnx_lint.sources import SourceError as SourceError  # re-exported: read here, told there
from nnx_lint.sources import decode_source as decode_source

if TYPE_CHECKING:  # imported where patterns are compiled: a replayed run never needs it
    import pathspec

SOURCE_SUFFIXES = (".py", ".pyi")  # Python modules: what the project index reads
LINTED_SUFFIXES = (*SOURCE_SUFFIXES, ".ipynb")  # what a directory walk lints
# Excluded from the walk unless a configuration's `exclude` replaces them (as in ruff).
DEFAULT_EXCLUDE = (
    ".git/",
    ".hg/",
    ".svn/",
    ".venv/",
    "venv/",
    "__pycache__/",
    "build/",
    "dist/",
    ".tox/",
    ".nox/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".pytest_cache/",
    "node_modules/",
    "*.egg-info/",
)


# Discovery -------------------------------------------------------------------------------------


class PathPatterns:
    """gitignore-style patterns, matched against paths relative to ``root``. A path outside
    ``root`` is matched relative to ``base`` (the directory named on the command line) if given,
    else by its absolute path, so that only unanchored patterns (``build/``, ``*_pb2.py``) can
    match it, and only below the directory named (``nnx-lint /opt/venv/lib/pkg`` lints pkg)."""

    def __init__(self, patterns: Iterable[str], root: str | os.PathLike[str] = ".") -> None:
        self.patterns = tuple(patterns)
        self.root = Path(os.path.abspath(root))
        self._root = str(self.root)
        import pathspec

        self._spec = pathspec.GitIgnoreSpec.from_lines(self.patterns)

    def match(
        self, path: str | os.PathLike[str], is_dir: bool = False, base: str | None = None
    ) -> bool:
        absolute = os.path.abspath(path)
        relative = _below(absolute, self._root) or _below(absolute, base and os.path.abspath(base))
        relative = (relative or absolute.lstrip(os.sep)).replace(os.sep, "/")
        return self._spec.match_file(relative + ("/" if is_dir else ""))


def _below(path: str, directory: str | None) -> str | None:
    """``path`` relative to ``directory`` if it is inside it (plain string work: this runs for
    every file walked)."""
    if directory is None:
        return None
    prefix = directory.rstrip(os.sep) + os.sep
    return path[len(prefix) :] if path.startswith(prefix) else None


# A .gitignore's patterns and the (absolute) directory they are relative to.
_Ignores = tuple[tuple[str, "pathspec.GitIgnoreSpec"], ...]


def discover(
    paths: list[str],
    exclude: PathPatterns | None = None,
    include: PathPatterns | None = None,
    walked: set[str] | None = None,
    *,
    force_exclude: bool = False,
) -> tuple[list[Path], list[str]]:
    """The files to lint under ``paths`` (default ``.``), sorted, and one error per missing path.

    Walked files and directories are skipped when .gitignore'd, inside a virtual environment,
    or matched by ``exclude`` (default: ``DEFAULT_EXCLUDE``); the walk yields Python files,
    notebooks, and the files ``include`` matches (``*.md``); named paths are always linted,
    unless ``force_exclude`` and ``exclude`` matches them (pre-commit names every file).
    ``walked`` collects the directories listed (their real paths): what the result depends on
    besides the files, for a run that is replayed only while none of them changed."""
    exclude = exclude or PathPatterns(DEFAULT_EXCLUDE)
    include = include or PathPatterns(())
    found: dict[str, Path] = {}
    errors = []
    seen: set[str] = set() if walked is None else walked
    for raw in paths or ["."]:
        path = Path(raw)
        files: Iterator[tuple[str | Path, str]]
        if force_exclude and path.exists() and exclude.match(path, path.is_dir()):
            continue
        if path.is_dir():
            base = os.path.abspath(raw)
            files = _walk(raw, _parent_ignores(path), exclude, include, seen, base)
        elif path.exists():  # named explicitly: checked whatever its name
            files = iter([(path, os.path.realpath(path))])
        else:
            errors.append(f"{raw}: No such file or directory")
            continue
        for file, real in files:
            found.setdefault(real, Path(file))
    return sorted(found.values()), errors


def _walk(
    directory: str,
    ignores: _Ignores,
    exclude: PathPatterns,
    include: PathPatterns,
    seen: set[str],
    base: str,
) -> Iterator[tuple[str, str]]:
    """The files below ``directory``, each with its real path (to find files reached twice).
    Plain strings, not pathlib: this runs for every entry of the tree."""
    real = os.path.realpath(directory)
    if real in seen:  # a symlink back into the tree, or a second route to the same directory
        return
    seen.add(real)
    ignores = ignores + _read_ignore(directory)
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        name = entry.name
        is_dir = entry.is_dir()
        if not is_dir and not name.endswith(LINTED_SUFFIXES):
            if not include.patterns or not include.match(
                os.path.join(directory, name), False, base
            ):
                continue
        path = os.path.join(directory, name)
        if exclude.match(path, is_dir, base) or (ignores and _ignored(path, is_dir, ignores)):
            continue
        if not is_dir:
            yield path, (os.path.realpath(path) if entry.is_symlink() else f"{real}/{name}")
        elif not os.path.exists(os.path.join(path, "pyvenv.cfg")):  # any virtual environment
            yield from _walk(path, ignores, exclude, include, seen, base)
        else:  # listed among the directories looked at: its pyvenv.cfg may go
            seen.add(os.path.realpath(path))


def _parent_ignores(directory: Path) -> _Ignores:
    """The .gitignore files of the parents of ``directory``, up to the root of its git checkout."""
    directory = Path(os.path.abspath(directory))
    if (directory / ".git").exists():
        return ()
    parents = directory.parents
    for depth, parent in enumerate(parents):
        if (parent / ".git").exists():
            return sum((_read_ignore(p) for p in reversed(parents[: depth + 1])), ())
    return ()  # not in a git checkout: only the walked directories' own .gitignore files


def _read_ignore(directory: str | Path) -> _Ignores:
    try:
        with open(os.path.join(directory, ".gitignore"), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return ()
    import pathspec

    return ((os.path.abspath(directory), pathspec.GitIgnoreSpec.from_lines(lines)),)


def _ignored(path: str, is_dir: bool, ignores: _Ignores) -> bool:
    """Git's rule: the last matching pattern wins, deeper .gitignore files coming later."""
    absolute = os.path.abspath(path)
    ignored = False
    for base, spec in ignores:
        relative = (_below(absolute, base) or "").replace(os.sep, "/") + ("/" if is_dir else "")
        for pattern in spec.patterns:
            if pattern.include is not None and pattern.match_file(relative):
                ignored = pattern.include
    return ignored


# Reading and writing ---------------------------------------------------------------------------


def read_source(path: Path) -> tuple[str, str]:
    """The file's text, newlines untranslated, and its codec (``utf-8-sig`` when it has a BOM)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SourceError(exc.strerror or str(exc)) from None
    return decode_source(data)


def write_source(path: Path, text: str, encoding: str) -> None:
    """Replace the file's contents atomically, keeping its encoding, BOM and permission bits."""
    target = Path(os.path.realpath(path))  # write through a symlink, don't replace it
    try:
        data = text.encode(encoding)
        mode = stat.S_IMODE(target.stat().st_mode)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except (OSError, UnicodeEncodeError) as exc:
        raise SourceError(str(exc)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise SourceError(str(exc)) from None


def module_name_for(path: str | os.PathLike[str]) -> tuple[str, bool]:
    """Dotted module name of a file (walking up through packages), and whether it is a package."""
    path = Path(path)
    try:
        path = path.resolve()
    except OSError:
        pass
    is_package = path.stem == "__init__"
    parts = [] if is_package else [path.stem]
    directory = path.parent
    while (directory / "__init__.py").exists() and directory.parent != directory:
        parts.append(directory.name)
        directory = directory.parent
    name = ".".join(reversed(parts)) or path.stem
    return name, is_package


def search_start(paths: Sequence[str]) -> Path:
    """Where the search for a pyproject.toml starts (``roots.search_start``)."""
    return Path(roots.search_start(paths))


def project_root(path: str | os.PathLike[str]) -> Path:
    """The root of the project a file or directory belongs to (``roots.project_root``)."""
    return Path(roots.project_root(path))
