"""The flake8 plugin: ``flake8 --select NNX`` reports what ``nnx-lint`` reports.

It is a thin front end to the engine (``nnx_lint.engine.check_source``). flake8 keeps its own
``--select``, ``--ignore``, ``--extend-ignore``, ``--per-file-ignores`` and ``# noqa`` handling:
the engine runs with the default rules (and the opt-in ones the configuration selects) on and
without noqa, and flake8 filters what it yields.
Syntax errors are flake8's to report (E999), so only NNX codes are passed on. Columns: the
engine's are 1-based, flake8 adds one to what a plugin returns, so the plugin subtracts one.

A file that no rule's text check passes (most rules need a JAX transform: ``jit``, ``vmap``,
``lax.scan``, ...: ``nnx_api.mentions_transform``) cannot have a finding: the plugin returns
before parsing anything or looking at other files. A file that passes is then put to the
engine's prefilter (``could_have_findings``, which needs the project index), so most files are
never parsed.

Cross-file knowledge. A rule may need classes defined in other files (``jax.jit(Ranker(rngs))``
with ``Ranker`` in ``pkg/models.py``), but flake8 hands a plugin one file at a time, in worker
processes under ``-j``. So the plugin opens the file's project exactly as the command does
(``nnx_lint.project``: the same root rule, configuration, file set, index and cache) and lints
the file through it. It opens it once per run, in flake8's main process before the workers
start (``Plugin.parse_options``), its files scanned in parallel; a process that finds no
project opened (a worker started afresh, flake8's API without option parsing) opens it itself
when a file first needs it. The checked file's own facts always come from
the text flake8 passes; other files are seen as they were when the process first opened the
project. From the configuration the plugin takes what changes the findings themselves
(``target-flax-version``, ``exclude`` for the index); rule selection (``select``, ``ignore``,
``per-file-ignores``) is flake8's.

Results are cached as the command caches them (``nnx_lint.cache``, in the project's cache
directory, under the same kind of key: nnx-lint's version, the settings, the file, the project
index's fingerprint; with a digest of the text flake8 passes in place of the file's stamp, and
the plugin's own settings with noqa off), so a repeated flake8 run does not analyse a file
again, and a text piped in (``--stdin-display-name``) is never taken for the file on disk.
flake8's workers end without exit handlers, so the plugin's cache journals each result as it is
put; the next process to open the project takes the journals into the cache file.
"""

from __future__ import annotations

import argparse
import ast
import gc
import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from nnx_lint import __version__
from nnx_lint.analysis.project_index import text_digest
from nnx_lint.diagnostics import InternalError
from nnx_lint.files import SOURCE_SUFFIXES, SourceError, is_marked, read_source
from nnx_lint.project import (
    Mapper,
    Project,
    default_cache,
    group_by_root,
    parallel_map,
    root_of,
    serial,
)
from nnx_lint.rules import RULES, text_check
from nnx_lint.settings import Settings

_ANY_RULE = text_check(RULES)

_PROJECTS: dict[Path, Project] = {}


def project(root: Path) -> Project:
    """The project rooted at ``root``, opened once per process (``open_project``)."""
    if root not in _PROJECTS:
        open_project(root)
    return _PROJECTS[root]


def open_project(root: Path, mapper: Mapper | None = None) -> Project:
    """Open the project rooted at ``root`` for this process (and the workers it forks), its
    files scanned by ``mapper`` (default: one after another).

    The facts read are saved at once, in one write; what is put in the cache later (results)
    is journaled as it is put, since a flake8 worker ends without exit handlers (see
    ``nnx_lint.cache``). Then, once the garbage is collected, every object the process holds
    (the project index above all, which lives as long as the process) is frozen out of the
    garbage collector's reach (``gc.freeze``): each collection flake8's own work triggers would
    walk them all again, and free none. A cold flake8 -j1 run over google/flax's repository
    took 24.7 s without it, 22.2 s with it."""
    opened = Project.open(root, cache=default_cache(root), mapper=mapper or serial)
    opened.cache.save()
    opened.cache.journal = True
    _PROJECTS[root] = opened
    gc.collect()
    gc.freeze()
    return opened


def prepare(options: argparse.Namespace) -> None:
    """In flake8's main process, before its workers start: open the project of each file
    flake8 will check that some rule's text check passes, the project's files scanned in
    parallel (flake8's ``--jobs``). Workers forked from it inherit the opened projects; workers
    started afresh (spawn, forkserver) find the facts in the project's cache. Without this,
    each of flake8's workers scanned every file of the project itself, one after another.

    Left to the lazy opening (``project``, when a file first needs it), as before: a worker
    started afresh (flake8 parses its options there again); ``--bug-report``; flake8's Python
    API (``flake8.api.legacy``: it parses options before it is told the files); a project
    without a cache when the workers will not be forked from this process (they could not
    read what it found); and any error here (the file's own check says it, as it did)."""
    import multiprocessing

    if (
        multiprocessing.parent_process() is not None
        or getattr(options, "bug_report", False)
        or _called_from("flake8.api.legacy")
    ):
        return
    try:
        from flake8.discover_files import expand_paths

        names = list(
            expand_paths(
                paths=options.filenames,
                stdin_display_name=options.stdin_display_name,
                filename_patterns=options.filename,
                exclude=(*options.exclude, *options.extend_exclude),
            )
        )
        jobs = options.jobs
        workers = (os.cpu_count() or 1) if jobs.is_auto else jobs.n_jobs
        files = [Path(n) for n in names if n != "-" and n.endswith(SOURCE_SUFFIXES)]
        method = (
            multiprocessing.get_start_method(allow_none=True)
            or multiprocessing.get_all_start_methods()[0]
        )
        inherited = method == "fork" or workers <= 1 or len(names) <= 1  # else: started afresh
        roots = group_by_root(files)
    except Exception:  # noqa: BLE001 - a head start only: the files' own checks open it lazily
        return
    for root, paths in roots.items():
        if root in _PROJECTS or not (inherited or is_marked(root)):
            continue
        try:
            if any(_passes(path) for path in paths):
                open_project(root, parallel_map(workers))
        except Exception:  # noqa: BLE001 - as above, for this project alone
            continue


def _called_from(module: str) -> bool:
    """Is a function of ``module`` on the call stack?"""
    frame = sys._getframe(1)
    while frame.f_globals.get("__name__") != module:
        if frame.f_back is None:
            return False
        frame = frame.f_back
    return True


def _passes(path: Path) -> bool:
    """Does some rule's text check pass the file (unreadable: no)?"""
    try:
        return _ANY_RULE(read_source(path)[0])
    except SourceError:
        return False


class Plugin:
    name = "nnx-lint"
    version = __version__

    @staticmethod
    def parse_options(options: argparse.Namespace) -> None:
        prepare(options)

    def __init__(self, tree: ast.AST, lines: list[str], filename: str) -> None:
        self.lines = lines
        self.filename = filename

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        source = "".join(self.lines)
        # The prefilter, in two steps: without what some rule looks for (a JAX transform:
        # `jit`, `vmap`, `lax.scan`, ...) nothing can be found, whatever the project; with it,
        # the file must also name something NNX (``could_have_findings``).
        if not _ANY_RULE(source):
            return
        opened = project(root_of(self.filename))
        # The rules nnx-lint runs by default, and the opt-in ones (upgrades, NNX1) that the
        # project's configuration turns on: flake8 selects among them. noqa is flake8's too.
        configured = opened.settings(self.filename)
        default = Settings()
        opted = [r.code for r in RULES if configured.enabled(r.code)]
        chosen = (*default.select, *(code for code in opted if not default.enabled(code)))
        settings = replace(configured, select=chosen, ignore=())
        if not opened.could_have_findings(source, settings, self.filename):
            return
        # The command's result cache, under this plugin's own entry and key (its settings,
        # noqa off), keyed by the very text flake8 passes (from the file or from standard
        # input): a text whose results are known is not analysed again.
        name = f"{os.path.abspath(self.filename)}\0flake8"
        key = opened.result_key(self.filename, text_digest(source), settings, noqa=False)
        found = opened.cache.get_results(name, key)
        if found is None:
            try:
                found = opened.check(self.filename, source, settings, noqa=False)
            except InternalError as exc:  # nnx-lint's bug: said, and flake8's run goes on
                print(f"nnx-lint: {exc}; please report this bug", file=sys.stderr)
                return
            opened.cache.put_results(name, key, found)
        for d in found:
            if d.code.startswith("NNX"):
                yield d.line, d.column - 1, f"{d.code} {d.short}", type(self)
