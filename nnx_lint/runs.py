"""Replaying a run that nothing has changed since: the warm path of the command.

A check run (no ``--fix``, ``--diff``, standard input or ``--no-cache``) is recorded in its
cache directory under a key of everything outside the file system it depends on: nnx-lint's
version, the Python running it and its import path, the arguments, the working directory, the
environment variables that change what is printed, and whether the outputs are terminals. The
record holds what the run printed, its exit status, and the stamp (mtime, size, ctime) of every
path it read or listed: the files linted and indexed, the directories walked (a file added or
removed changes its directory's stamp), the pyproject.toml and .gitignore files at and above
them (present or not), the directories on ``sys.path`` (flax upgraded) and nnx-lint's own
source; and whether each project marker (setup.cfg, setup.py, .git, ``__init__.py``) above the
walk exists. The next run with the same key stats those paths (nothing is read or parsed) and,
if every stamp is the same, prints the recorded output and exits with the recorded status;
otherwise it runs in full and records anew. A run that read a path changed in the two seconds
before it began, or since, is not recorded (``record``).

A few changed files need not make a full run either. The record also holds, for each file the
project index read (``Quiet``), the identity of its index facts and, for each linted file that
had no finding, what the prefilter needs to know of the rest of the project; and each walked
directory's entries. When only such files changed, and directories whose entries are the same
(a file saved by renaming a new one over it), the caller's ``unchanged`` (``incremental``)
reads those files: if each one's index facts are the same (so the project index's fingerprint,
which every cached result is keyed by, is the same) and the prefilter tells that no linted one
can have a finding, the full run would print what was recorded, so that is printed, and the
record takes the new stamps.

Only light modules are imported here (``os``, ``sys``, ``marshal``, ``zlib``, ``roots``):
a replayed run with nothing changed imports nothing else of nnx-lint's. Nor ``typing`` (~3 ms):
this module and those a run with changed files imports (``incremental``) spell
``TYPE_CHECKING = False``, which type checkers read as ``typing.TYPE_CHECKING``.
"""

from __future__ import annotations

import marshal
import os
import sys
import time
import zlib

from nnx_lint import __version__
from nnx_lint.roots import is_marked, project_root, search_start
from nnx_lint.stamps import DEFAULT_DIR, Stamp, stamp

TYPE_CHECKING = False  # as typing's: a replayed run does not import typing (``runs``)
if TYPE_CHECKING:  # collections.abc too (~2 ms): annotations only
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any, TypeAlias

    # Told by the caller: would the changed files (by path) leave the run's output as it was?
    Unchanged: TypeAlias = Callable[[dict[str, "Quiet"]], bool]

FORMAT = 11
RUNS = "runs"  # the records' directory inside the cache directory
RACY = 2  # seconds: see record
KEEP = 64  # records kept per cache directory (the oldest go first)
FEW = 16  # changed files beyond this many make a full run (reading them would cost as much)
# Options that take a value, and flags, that a recorded run may have: any other argument (a
# fix, standard input, --no-cache, --help, an abbreviation argparse would accept) is run in full.
VALUED = frozenset(
    "--output-format --select --extend-select --ignore --target-flax-version --exclude "
    "--extend-exclude --per-file-ignores -j --jobs --config --cache-dir".split()
)
FLAGS = frozenset(
    "--exit-zero --statistics --unsafe-fixes --no-unsafe-fixes --show-fixes --force-exclude "
    "--no-force-exclude".split()
)
ENVIRONMENT = ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "TERM", "COLUMNS")
CONTENT = ("pyproject.toml", ".gitignore")  # files whose contents a run reads
PRESENCE = ("setup.cfg", "setup.py", ".git", "__init__.py")  # markers: only whether they exist


class Prefiltered:
    """What the prefilter (``project_index.could_have_findings``) knew of a linted file."""

    __slots__ = ("prefilters", "called_elsewhere", "module_classes", "nnx_names")

    def __init__(
        self,
        prefilters: tuple[tuple[str, str], ...],
        called_elsewhere: bool,
        module_classes: str | None,
        nnx_names: frozenset[str],
    ) -> None:
        # The text checks of the rules on for it (``Rule.prefilter``), each by its module and
        # its name there: the run that reads the record imports those modules, not the rules.
        self.prefilters = prefilters
        self.called_elsewhere = called_elsewhere  # another file calls it with an NNX object
        self.module_classes = module_classes  # the pattern of the project's Module classes
        self.nnx_names = nnx_names  # the project's names of NNX things (``names_nnx``)


class Quiet:
    """A file whose change need not make a full run: one the project index holds facts of
    and, if the run linted it, one without a finding. (Plain classes: a replayed run does not
    import ``typing``.)"""

    __slots__ = ("identity", "module", "is_package", "linted")

    def __init__(
        self, identity: bytes, module: str, is_package: bool, linted: Prefiltered | None = None
    ) -> None:
        self.identity = identity  # of its index facts (``FileFacts.identity``)
        self.module = module  # its module name, and whether it is a package's __init__
        self.is_package = is_package
        self.linted = linted  # None: indexed only

    def dump(self) -> tuple[Any, ...]:  # marshal takes plain tuples only
        linted = self.linted
        known = linted and (
            linted.prefilters,
            linted.called_elsewhere,
            linted.module_classes,
            linted.nnx_names,
        )
        return (self.identity, self.module, self.is_package, known)

    @classmethod
    def load(cls, entry: tuple[Any, ...]) -> Quiet:
        identity, module, is_package, known = entry
        return cls(identity, module, is_package, known and Prefiltered(*known))


class Inputs:
    """What a run read, for its record: the files and directories it read or listed
    (``paths``), and the ones of those that need not make a full run when changed (``quiet``,
    by absolute path)."""

    def __init__(self) -> None:
        self.paths: set[str] = set()
        self.quiet: dict[str, Quiet] = {}


class Plan:
    """Where a run's record lives and the key it is stored under; None from ``plan`` when the
    arguments are not those of a recordable run."""

    def __init__(self, directory: str, key: bytes) -> None:
        self.directory = directory
        self.key = key
        self.path = os.path.join(directory, RUNS, f"{zlib.crc32(key):08x}{len(key):x}.marshal")


def plan(argv: Sequence[str]) -> Plan | None:
    if argv[:1] in (["rule"], ["server"]):  # the other commands (``cli.COMMANDS``, ``launch``)
        return None
    named: list[str] = []
    cache_dir: str | None = None
    args = iter(argv)
    for arg in args:
        option, equals, value = arg.partition("=")
        if arg.startswith("-") and arg != "-":
            if option in VALUED:
                if not equals:
                    value = next(args, "")
                if option == "--cache-dir":
                    cache_dir = value
            elif arg not in FLAGS:
                return None
        elif arg == "-":
            return None
        else:
            named.append(arg)
    directory = cache_directory(named, cache_dir)
    key = marshal.dumps(
        (
            FORMAT,
            __version__,
            sys.version,
            sys.prefix,
            tuple(argv),
            os.getcwd(),
            tuple(sys.path),  # PYTHONPATH: which flax is found
            tuple(os.environ.get(name) for name in ENVIRONMENT),
            sys.stdout.isatty(),
            sys.stderr.isatty(),
        )
    )
    return Plan(directory, key)


def cache_directory(named: Sequence[str], cache_dir: str | None) -> str:
    """The cache directory shared by a run's projects: ``--cache-dir``; else, where the linted
    paths meet, the project root's ``.nnx_lint_cache`` if that root has a marker (the one
    every project with a marker also uses for itself), or theirs."""
    if cache_dir:
        return os.path.abspath(cache_dir)
    start = search_start(named)
    root = project_root(start)
    return os.path.join(root if is_marked(root) else start, DEFAULT_DIR)


def replay(found: Plan, unchanged: Unchanged | None = None) -> int | None:
    """Print a recorded run's output and return its exit status, if nothing it read changed,
    or only files that ``unchanged`` tells leave the output as it was."""
    try:
        with open(found.path, "rb") as f:
            kept = marshal.load(f)
        key, stamps, present, quiet, out, err, status = kept
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if key != found.key:
        return None
    now = {path: stamp(path) for path in stamps}
    changed = [path for path, was in stamps.items() if now[path] != was]
    if any(os.path.exists(path) != was for path, was in present.items()):
        return None
    if changed:
        if unchanged is None or len(changed) > FEW:
            return None
        try:  # kept apart: a run with nothing changed never loads it
            recorded, listings = marshal.loads(quiet)
            # A directory whose entries are the same (a file saved by writing a new one and
            # renaming it over the old, as many editors do): the walk finds what it found.
            files = [path for path in changed if path not in listings]
            if any(_listing(path) != listings[path] for path in changed if path in listings):
                return None
            entries = {path: Quiet.load(recorded[path]) for path in files}
        except (KeyError, EOFError, ValueError, TypeError):  # not quiet, or not a record
            return None
        if entries and not unchanged(entries):
            return None
        if not _racy(now[path] for path in changed):
            stamps.update((path, now[path]) for path in changed)
            _store(found, kept)
    sys.stderr.write(err)
    sys.stdout.write(out)
    return int(status)


def record(found: Plan, read: Inputs, out: str, err: str, status: int, started: int) -> None:
    """Store a run: ``read`` names the files and directories it read or listed; the rest
    (configuration files and markers above them, ``sys.path``, nnx-lint's source) is added.
    ``started``: when the run began (``time.time_ns()``); a path changed since then, or in the
    RACY seconds before, may have been read before its change: the run is not recorded."""
    runs = os.path.join(found.directory, RUNS)
    try:  # made first, so that no directory stamped below changes afterwards
        os.makedirs(runs, exist_ok=True)
        ignore = os.path.join(found.directory, ".gitignore")
        if not os.path.exists(ignore):
            with open(ignore, "w") as text:
                text.write("# Created by nnx-lint.\n*\n")
    except OSError:
        return  # a read-only tree: nothing recorded
    seen = {os.path.abspath(p) for p in read.paths}
    ancestors: set[str] = set()
    for path in (*seen, os.path.join(os.getcwd(), "")):
        directory = os.path.dirname(path)
        while directory not in ancestors:
            ancestors.add(directory)
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
    # The contents of configuration and ignore files at and above what was read; above the
    # walked directories (whose stamps change when an entry comes or goes), which markers
    # exist. Not those directories' own stamps: a sibling project created would change them.
    paths = seen | {os.path.join(d, name) for d in ancestors for name in CONTENT}
    # A walked directory's own .gitignore, if it has one (one made there changes the
    # directory's stamp; one edited in place does not).
    own = {os.path.join(d, name) for d in seen for name in CONTENT} - paths
    # Not the records themselves (written after the stamps are taken), nor a project cache's
    # contents; everything else, a cache directory given at or above the project included.
    records = (os.path.abspath(runs), os.path.realpath(runs))
    stamps = {
        path: stamp(path)
        for path in sorted(paths | {p for p in own if os.path.exists(p)})
        if not any(_inside(path, r) for r in records) and DEFAULT_DIR not in path.split(os.sep)
    }
    if _racy(stamps.values(), started):
        return
    # What the installation is: a flax upgraded, nnx-lint's own source edited.
    installed = {os.path.abspath(p) for p in sys.path if p and os.path.isdir(p)}
    here = os.path.dirname(os.path.abspath(__file__))
    for directory, _, files in os.walk(here):
        installed |= {os.path.join(directory, f) for f in files if f.endswith(".py")}
    stamps.update((path, stamp(path)) for path in sorted(installed - stamps.keys()))
    above = sorted(os.path.join(d, n) for d in ancestors - seen for n in PRESENCE)
    present = {path: os.path.exists(path) for path in above}
    quiet = {path: entry.dump() for path, entry in read.quiet.items() if path in stamps}
    listings = {path: _listing(path) for path in seen & stamps.keys() if os.path.isdir(path)}
    kept = (found.key, stamps, present, marshal.dumps((quiet, listings)), out, err, status)
    if _store(found, kept):
        _prune(runs)


def _listing(directory: str) -> tuple[tuple[str, bool], ...] | None:
    """A directory's entries, sorted: (name, whether it is a directory); None if unlistable."""
    try:
        with os.scandir(directory) as entries:
            return tuple(sorted((entry.name, entry.is_dir()) for entry in entries))
    except OSError:
        return None


def _racy(stamps: Iterable[Stamp | None], since: int | None = None) -> bool:
    """As git's "racily clean" entries: a path changed in the last RACY seconds could change
    again within its file system's timestamp granularity (up to 2 s) without its stamp
    changing, so a run that read one is not recorded (the next run will be). ``since``: the
    moment the stamps' contents were read (default: now)."""
    recent = (time.time_ns() if since is None else since) - RACY * 10**9
    return any(s is not None and s[0] > recent for s in stamps)


def _store(found: Plan, kept: tuple[Any, ...]) -> bool:
    try:
        tmp = f"{found.path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            marshal.dump(kept, f)
        os.replace(tmp, found.path)
    except OSError:
        return False  # a read-only tree: nothing recorded
    return True


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def _prune(runs: str) -> None:
    entries = sorted(os.scandir(runs), key=lambda e: e.stat().st_mtime_ns)
    for entry in entries[:-KEEP]:
        try:
            os.unlink(entry.path)
        except OSError:
            pass
