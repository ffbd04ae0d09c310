"""The flake8 plugin: ``flake8 --select NNX`` reports what ``nnx-lint`` reports.

It is a thin front end to the engine (``nnx_lint.engine.check_source``). flake8 keeps its own
``--select``, ``--ignore``, ``--extend-ignore``, ``--per-file-ignores`` and ``# noqa`` handling:
the engine runs with every NNX rule on and without noqa, and flake8 filters what it yields.
Syntax errors are flake8's to report (E999), so only NNX codes are passed on. Columns: the
engine's are 1-based, flake8 adds one to what a plugin returns, so the plugin subtracts one.

A file without a ``jit`` cannot have a finding: the plugin returns before parsing anything or
looking at other files. A file with one is then put to the engine's prefilter
(``could_have_findings``, which needs the project index), so most files are never parsed.

Cross-file knowledge. A rule may need classes defined in other files (``jax.jit(Ranker(rngs))``
with ``Ranker`` in ``pkg/models.py``), but flake8 hands a plugin one file at a time, in worker
processes under ``-j``. So the plugin finds the file's project root, the nearest ancestor
directory holding one of ``files.ROOT_MARKERS`` (a file in no project knows only itself), and
indexes every Python file under it, found as the command line finds them
(``nnx_lint.files.discover``: .gitignore'd files, virtual environments and
``[tool.nnx-lint] exclude`` skipped). The index
(cheap: stdlib ``ast``) is built once per root per process and kept in ``_PROJECTS``; each
``-j`` worker builds its own, reading the facts of unchanged files from the persistent cache
that the command line also uses (``.nnx_lint_cache/`` at the root). The checked file's own
facts always come from the text flake8 passes; other files are seen as they were when the
process first indexed the root.

Configuration. From ``[tool.nnx-lint]`` (found as the command line finds it, from the root) the
plugin takes what changes the findings themselves: ``target-flax-version``, and ``exclude`` for
the index. Rule selection (``select``, ``ignore``, ``per-file-ignores``) is flake8's.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from nnx_lint import __version__, config
from nnx_lint.analysis.project_index import ProjectIndex
from nnx_lint.cache import DEFAULT_DIR, Cache
from nnx_lint.engine import Settings, check_source, could_have_findings
from nnx_lint.files import discover, project_root

_PROJECTS: dict[Path, tuple[ProjectIndex, Settings]] = {}


def file_root(filename: str) -> Path | None:
    """The file's project root (``files.project_root``), or None for a file in no project
    (then, as on the command line, only the file itself is known)."""
    return project_root(Path(filename).resolve().parent)


def project(root: Path) -> tuple[ProjectIndex, Settings]:
    """The index of every Python file under ``root`` and the engine's settings (every rule on:
    flake8 does the selecting), read once per process."""
    if root not in _PROJECTS:
        conf = config.load([str(root)])
        files, _ = discover([str(root)], conf.exclude)
        settings = Settings(select=("NNX",), target_flax_version=conf.target_flax_version)
        cache = Cache(root / DEFAULT_DIR)  # the command line's cache: unchanged files not parsed
        _PROJECTS[root] = ProjectIndex.build(files, cache), settings
        cache.save()
    return _PROJECTS[root]


class Plugin:
    name = "nnx-lint"
    version = __version__

    def __init__(self, tree: ast.AST, lines: list[str], filename: str) -> None:
        self.lines = lines
        self.filename = filename

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        source = "".join(self.lines)
        # The prefilter, in two steps: without a `jit` nothing can be found, whatever the
        # project; with one, the file must also name flax/nnx or a Module class of the project.
        if "jit" not in source:
            return
        root = file_root(self.filename)
        index, settings = project(root) if root else (ProjectIndex.empty(), Settings(("NNX",)))
        if not could_have_findings(source, index):
            return
        for d in check_source(source, self.filename, settings, index, noqa=False):
            if d.code.startswith("NNX"):
                yield d.line, d.column - 1, f"{d.code} {d.message}", type(self)
