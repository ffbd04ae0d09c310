"""The command line: parse arguments, read the configuration, lint or fix each file (or standard
input), print a report, pick the exit status.

Exit status: 0 nothing found (or ``--exit-zero``), 1 diagnostics found (with ``--diff``: changes
to make; with ``--fix --exit-non-zero-on-fix``: also any file changed), 2 usage or configuration
error, missing path, or an internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from nnx_lint import __version__, config, output, runs
from nnx_lint.analysis.project_index import ProjectIndex
from nnx_lint.cache import DEFAULT_DIR, Cache, stamp
from nnx_lint.diagnostics import Diagnostic, InternalError, LineIndex
from nnx_lint.files import (
    SOURCE_SUFFIXES,
    SourceError,
    decode_source,
    discover,
    is_marked,
    project_root,
    read_source,
    search_start,
    write_source,
)
from nnx_lint.project import (
    Project,
    ProjectCache,
    group_by_root,
    parallel_map,
    pool,
    root_of,
)
from nnx_lint.rules import RULES, RULES_BY_CODE, Rule
from nnx_lint.settings import Settings, installed_flax

EXIT_OK, EXIT_FOUND, EXIT_ERROR = 0, 1, 2
PROGRESS_AFTER = 2.0  # seconds of checking before progress is shown on a terminal
T = TypeVar("T")
R = TypeVar("R")


# Arguments -------------------------------------------------------------------------------------


def _argument(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type from a parser that raises ValueError with a message worth showing."""

    def convert(value: str) -> T:
        try:
            return parse(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


# A comma-separated list of rule codes or prefixes; ``ALL`` selects everything.
_codes = _argument(lambda value: config.parse_codes([c for c in value.split(",") if c.strip()]))


def _check_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnx-lint",
        description="Find and fix JAX transforms misapplied to stateful Flax NNX objects.",
        epilog="`nnx-lint rule CODE` explains a rule. Settings are read from [tool.nnx-lint] in "
        "the nearest pyproject.toml; options given here override them.",
    )
    parser.add_argument("--version", action="version", version=f"nnx-lint {__version__}")
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files or directories to check (default: .); - reads standard input",
    )
    parser.add_argument(
        "--config", metavar="PATH", help="read this pyproject.toml instead of the nearest one"
    )
    parser.add_argument(
        "--stdin-filename",
        metavar="PATH",
        help="read the source from standard input and report it under this name",
    )
    fixing = parser.add_argument_group("fixes")
    fixing.add_argument("--fix", action="store_true", help="apply fixes, rewriting files")
    fixing.add_argument(
        "--unsafe-fixes",
        action=argparse.BooleanOptionalAction,
        help="also apply unsafe fixes (--no-unsafe-fixes: not even if the configuration says so)",
    )
    fixing.add_argument(
        "--diff", action="store_true", help="print the changes --fix would make; write nothing"
    )
    fixing.add_argument(
        "--add-noqa",
        action="store_true",
        help="add a `# noqa: CODE` comment to each line with a finding, and write the files",
    )
    fixing.add_argument(
        "--show-fixes",
        action="store_true",
        help="with --fix, list the fixes applied per file and code",
    )
    rules = parser.add_argument_group("rules")
    rules.add_argument("--select", type=_codes, metavar="CODES", help="codes or prefixes to enable")
    rules.add_argument(
        "--extend-select", type=_codes, default=(), metavar="CODES", help="codes to enable too"
    )
    rules.add_argument("--ignore", type=_codes, default=(), metavar="CODES", help="codes to skip")
    rules.add_argument(
        "--target-flax-version",
        type=_argument(config.parse_version),
        metavar="X.Y.Z",
        help="the flax version the code runs on (default: the installed one)",
    )
    files = parser.add_argument_group("files")
    files.add_argument(
        "--exclude",
        type=_patterns,
        metavar="PATTERNS",
        help="comma-separated gitignore-style patterns to skip, replacing the defaults",
    )
    files.add_argument(
        "--extend-exclude",
        type=_patterns,
        default=(),
        metavar="PATTERNS",
        help="comma-separated patterns to skip as well",
    )
    files.add_argument(
        "--force-exclude",
        action=argparse.BooleanOptionalAction,
        help="apply the exclude patterns to files named on the command line too (pre-commit)",
    )
    files.add_argument(
        "--per-file-ignores",
        type=_per_file,
        action="append",
        default=[],
        metavar="PATTERN:CODES",
        help="codes to switch off in matching files (repeatable), e.g. 'tests/*:NNX001,NNX002'",
    )
    speed = parser.add_argument_group("speed")
    speed.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="worker processes (default: all cores)",
    )
    speed.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    speed.add_argument(
        "--cache-dir",
        metavar="DIR",
        help=f"where the cache lives (default: {DEFAULT_DIR}/ beside the pyproject.toml)",
    )
    show = parser.add_argument_group("inspection")
    show.add_argument(
        "--show-files", action="store_true", help="list the files that would be linted, and stop"
    )
    show.add_argument(
        "--show-settings",
        action="store_true",
        help="print the settings the run resolves (file, rules, patterns), and stop",
    )
    report = parser.add_argument_group("output")
    report.add_argument("--output-format", choices=output.FORMATS, help="default: full")
    report.add_argument("--statistics", action="store_true", help="count diagnostics per code")
    status = report.add_mutually_exclusive_group()
    status.add_argument(
        "--exit-zero", action="store_true", help="exit 0 even when diagnostics are found"
    )
    status.add_argument(
        "--exit-non-zero-on-fix",
        action="store_true",
        help="with --fix, exit 1 when a file was changed, even if nothing remains",
    )
    return parser


def _rule_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nnx-lint rule", description="Explain a rule.")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("code", nargs="?", help="a rule code, e.g. NNX001")
    which.add_argument("--all", action="store_true", help="explain every rule")
    parser.add_argument(
        "--output-format", choices=("text", "json"), default="text", help="default: text"
    )
    return parser


def _patterns(value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(",") if p.strip())


def _per_file(value: str) -> tuple[str, tuple[str, ...]]:
    pattern, sep, codes = value.rpartition(":")
    if not sep or not pattern:
        raise argparse.ArgumentTypeError(f"expected PATTERN:CODES, got {value!r}")
    return pattern, _codes(codes)


def _options(args: argparse.Namespace) -> config.Options:
    """The command line's share of the configuration."""
    return config.Options(
        select=args.select,
        extend_select=args.extend_select,
        ignore=args.ignore,
        exclude=getattr(args, "exclude", None),
        extend_exclude=getattr(args, "extend_exclude", ()),
        per_file_ignores=tuple(getattr(args, "per_file_ignores", [])),
        target_flax_version=args.target_flax_version,
        unsafe_fixes=args.unsafe_fixes,
        output_format=args.output_format,
        force_exclude=getattr(args, "force_exclude", None),
    )


# Commands --------------------------------------------------------------------------------------


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def run_rule(args: argparse.Namespace, read: runs.Inputs | None = None) -> int:
    """``nnx-lint rule CODE`` or ``--all``: the documentation, as text or (as ``ruff rule``)
    JSON: an object, or a list of them with ``--all``."""
    if args.all:
        rules = list(RULES_BY_CODE.values())
    elif (rule := RULES_BY_CODE.get(args.code.upper())) is not None:
        rules = [rule]
    else:
        _error(f"unknown rule code {args.code}; known: {', '.join(RULES_BY_CODE)}")
        return EXIT_ERROR
    if args.output_format == "json":
        import json

        records = [
            {
                "code": r.code,
                "name": r.name,
                "summary": r.summary,
                "explanation": r.doc.strip() + "\n",
                "url": r.url,
            }
            for r in rules
        ]
        print(json.dumps(records if args.all else records[0], indent=2))
    else:
        print("\n\n".join(f"# {r.name} ({r.code})\n\n{r.doc.strip()}" for r in rules))
    return EXIT_OK


@dataclass
class _FileResult:
    name: str
    diagnostics: list[Diagnostic]
    text: str = ""  # the text the diagnostics' positions refer to
    fixed: int = 0
    changed: bool = False
    failed: bool = False  # an internal error or a failed write: exit 2
    fixed_codes: Counter[str] = field(default_factory=Counter)  # for --show-fixes
    diff: str = ""  # with --diff, printed by the main process in file order


@dataclass
class _Run:
    """One run of the command: the projects of the files it lints, by root."""

    args: argparse.Namespace
    projects: dict[Path, Project]
    progress: bool = False  # files done of total on standard error (``_Progress``)

    @property
    def fixing(self) -> bool:
        fixing: bool = self.args.fix or self.args.diff  # two store_true flags
        return fixing

    def lint_all(self, files: list[tuple[Path, Path]], jobs: int) -> list[_FileResult]:
        """Every (project root, file), from the cache where nothing it depends on changed, the
        rest in ``jobs`` worker processes (one pool for all the projects)."""
        results: dict[Path, _FileResult] = {}
        todo: list[tuple[Path, Path, str, str, bytes | None]] = []
        for root, path in files:
            name = str(path)
            key = self._cached(self.projects[root], path, results)
            if path in results:
                continue
            try:
                text, encoding = read_source(path)
            except SourceError as exc:
                results[path] = _unreadable(name, exc)
                continue
            todo.append((root, path, text, encoding, key))
        for (root, path, text, _, key), result in zip(todo, self._map(todo, jobs), strict=True):
            results[path] = result
            if key is not None and not result.failed and result.text == text:
                entry = os.path.abspath(result.name)
                self.projects[root].cache.put_results(entry, key, result.diagnostics)
        return [results[path] for _, path in files]

    def _cached(
        self, project: Project, path: Path, results: dict[Path, _FileResult]
    ) -> bytes | None:
        """Put the file's result in ``results`` if the cache has it (reading the file only
        when it has diagnostics to show); return the cache key to store a new result under."""
        file_stamp = stamp(path) if project.cache.enabled else None
        if file_stamp is None:
            return None
        name = str(path)
        settings = project.settings(name)
        key = project.result_key(name, file_stamp)
        cached = project.cache.get_results(os.path.abspath(name), key)
        if cached is None or (
            self.fixing and any(d.fixable(settings.unsafe_fixes) for d in cached)
        ):
            return key
        text = ""
        if cached:  # the text the positions of its fixes' edits refer to
            try:
                text, _ = read_source(path)
            except SourceError:
                return key
        results[path] = _FileResult(name, cached, text)
        return key

    def _map(
        self, todo: list[tuple[Path, Path, str, str, bytes | None]], jobs: int
    ) -> list[_FileResult]:
        progress = _Progress(len(todo), self.progress)
        try:
            workers = None
            if jobs > 1 and len(todo) >= 4:
                import nnx_lint.engine  # noqa: F401  (imported once here, inherited by workers)

                workers = pool(min(jobs, len(todo)), _init_worker, (self,))
            if workers is None:
                return [progress.step(self.lint(*item[:4])) for item in todo]
            with workers:
                found = workers.imap(_work, [item[:4] for item in todo], chunksize=1)
                return [progress.step(result) for result in found]
        finally:
            progress.close()

    def lint(self, root: Path, path: Path, text: str, encoding: str) -> _FileResult:
        def write(fixed: str) -> None:
            if read_source(path)[0] != text:
                raise SourceError("the file changed while it was being fixed; left alone")
            write_source(path, fixed, encoding)

        return self._lint(self.projects[root], str(path), text, write)

    def lint_stdin(self, root: Path, name: str) -> _FileResult:
        """Standard input; with --fix, the fixed source goes to standard output (as ruff)."""
        data = sys.stdin.buffer.read()
        try:
            text, encoding = decode_source(data)
        except SourceError as exc:
            result = _unreadable(name, exc)
        else:
            result = self._lint(self.projects[root], name, text, None)
            data = result.text.encode(encoding)
        if self.args.fix and not self.args.diff:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        return result

    def _lint(
        self, project: Project, name: str, text: str, write: Callable[[str], None] | None
    ) -> _FileResult:
        try:
            if self.fixing:
                return self._fix(project, name, text, write)
            return _FileResult(name, project.check(name, text), text)
        except InternalError as exc:
            _error(f"{exc}; please report this bug")
            return _FileResult(name, [], text, failed=True)
        except Exception as exc:  # a bug: report it, keep going with the other files
            _error(f"{name}: {type(exc).__name__}: {exc}; please report this bug")
            traceback.print_exc()
            return _FileResult(name, [], text, failed=True)

    def _fix(
        self, project: Project, name: str, text: str, write: Callable[[str], None] | None
    ) -> _FileResult:
        from nnx_lint.engine import fix_text

        try:
            result = fix_text(text, name, project.settings(name), project.index)
        except InternalError as exc:
            _error(f"{exc}; please report this bug (the file was left unchanged)")
            return self._unfixed(project, name, text)
        changed = result.source != text
        diff = ""
        if changed and self.args.diff:
            diff = output.unified_diff(name, text, result.source)
        elif changed and write is not None:
            try:
                write(result.source)
            except SourceError as exc:
                _error(f"{name}: cannot write the fixes: {exc}")
                return self._unfixed(project, name, text)
        return _FileResult(
            name,
            result.diagnostics,
            result.source,
            result.fixed,
            changed,
            fixed_codes=result.fixed_codes if self.args.show_fixes else Counter(),
            diff=diff,
        )

    def _unfixed(self, project: Project, name: str, text: str) -> _FileResult:
        """The file as it stands, after a fix could not be made: the run exits 2."""
        try:
            diagnostics = project.check(name, text)
        except InternalError:  # already reported by the fix that failed on it
            diagnostics = []
        return _FileResult(name, diagnostics, text, failed=True)


_WORKER: _Run | None = None


def _init_worker(run: _Run) -> None:
    global _WORKER
    _WORKER = run


def _work(item: tuple[Path, Path, str, str]) -> _FileResult:
    assert _WORKER is not None  # set by _init_worker when the worker process started
    return _WORKER.lint(*item)


class _Progress:
    """``files done/total`` on standard error, for people: only on a terminal, only for the
    human formats, and only once the files have taken PROGRESS_AFTER seconds (the
    ``NNX_LINT_PROGRESS_AFTER`` environment variable changes that); wiped at the end."""

    def __init__(self, total: int, enabled: bool) -> None:
        import time

        self.clock = time.monotonic
        self.start = self.clock()
        self.last = self.start - 1.0
        # The terminal itself, not a copy kept for a run's record (``launch``).
        self.stream = sys.__stderr__ or sys.stderr
        self.total, self.done, self.shown = total, 0, False
        after = os.environ.get("NNX_LINT_PROGRESS_AFTER", "")
        self.after = float(after) if after.replace(".", "", 1).isdigit() else PROGRESS_AFTER
        self.enabled = enabled

    def step(self, result: R) -> R:
        self.done += 1
        now = self.clock()
        if self.enabled and now - self.start >= self.after and now - self.last >= 0.1:
            self.stream.write(f"\r{self.done}/{self.total} files checked")
            self.stream.flush()
            self.last, self.shown = now, True
        return result

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")  # the line wiped, for the report that follows
            self.stream.flush()


def _add_noqa(results: list[_FileResult]) -> int:
    """``--add-noqa``: each file's findings suppressed where they stand, as ruff does it (the
    count on standard error; exit 0, or 2 if a file could not be written)."""
    from nnx_lint.engine import add_noqa

    added, failed = 0, False
    for result in results:
        if not result.diagnostics or result.failed:
            continue
        if not result.name.endswith(SOURCE_SUFFIXES):  # not a notebook's JSON, nor Markdown
            sys.stderr.write(f"warning: {result.name}: --add-noqa changes Python files only\n")
            continue
        new, count = add_noqa(result.text, result.diagnostics)
        if not count:
            continue
        path = Path(result.name)
        try:
            text, encoding = read_source(path)
            if text != result.text:
                raise SourceError("the file changed while it was being linted; left alone")
            write_source(path, new, encoding)
        except SourceError as exc:
            _error(f"{result.name}: cannot add noqa directives: {exc}")
            failed = True
            continue
        added += count
    sys.stderr.write(f"Added {added} noqa directive{'' if added == 1 else 's'}.\n")
    return EXIT_ERROR if failed else EXIT_OK


def _unreadable(name: str, exc: SourceError) -> _FileResult:
    return _FileResult(name, [Diagnostic("E902", str(exc), name, 1, 1, 1, 1)])


def _color(stream: object) -> bool:
    """Colours in the full format: on a terminal, unless NO_COLOR is set; anywhere with
    FORCE_COLOR (both as https://no-color.org and https://force-color.org have them)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _report(
    args: argparse.Namespace,
    conf: config.Config,
    results: list[_FileResult],
    failed: bool = False,
    *,
    color: bool = False,
) -> str:
    """The report in the configured format, then, for people, the fix table and the summary."""
    fmt, unsafe = conf.output_format, conf.unsafe_fixes
    diagnostics = [d for r in results for d in r.diagnostics]
    if args.statistics:
        report = output.statistics(fmt, diagnostics, unsafe_fixes=unsafe, rules=RULES_BY_CODE)
        if not diagnostics:
            return report  # ruff prints nothing more, not even "All checks passed!"
    else:
        lines = {r.name: LineIndex(r.text) for r in results if r.diagnostics}
        report = output.render(
            fmt,
            diagnostics,
            unsafe_fixes=unsafe,
            lines=lines,
            rules=RULES_BY_CODE,
            color=color,
        )
    if fmt not in output.HUMAN_FORMATS:
        return report
    if args.show_fixes:
        report += output.fix_table({r.name: r.fixed_codes for r in results}, RULES_BY_CODE)
    fixed = sum(r.fixed for r in results)
    if not diagnostics and not fixed and (failed or any(r.failed for r in results)):
        return report  # not "All checks passed!": a path or file could not be checked (exit 2)
    return report + output.summary(diagnostics, fixed=fixed, unsafe_fixes=unsafe)


def _show(args: argparse.Namespace, conf: config.Config, files: list[Path]) -> str:
    """``--show-files``: the files, a line each; ``--show-settings``: the resolved settings."""
    if args.show_files:
        return "".join(f"{path}\n" for path in files)
    target = conf.target_flax_version or installed_flax()
    rows = [
        ("configuration file", str(conf.path) if conf.path else "(none)"),
        ("rules enabled", ", ".join(conf.enabled) or "(none)"),
        ("exclude", ", ".join(conf.exclude.patterns) or "(none)"),
        ("extend-include", ", ".join(conf.include.patterns) or "(none)"),
        (
            "per-file-ignores",
            "; ".join(f"{p.patterns[0]}: {', '.join(c)}" for p, c in conf.per_file_ignores)
            or "(none)",
        ),
        ("target flax version", ".".join(map(str, target)) if target else "(newest)"),
        ("unsafe fixes", str(conf.unsafe_fixes).lower()),
        ("force exclude", str(conf.force_exclude).lower()),
        ("output format", conf.output_format),
        ("files", str(len(files))),
    ]
    width = max(len(k) for k, _ in rows)
    return "".join(f"{k.ljust(width)}  {v}\n" for k, v in rows)


def _shared_cache(args: argparse.Namespace, named: list[str], stdin: bool) -> ProjectCache | None:
    """The cache the run's projects share: ``--cache-dir``; none at all for standard input or
    with ``--no-cache``; else, for projects without a marker, one where the linted paths meet
    (None here: each project with a marker uses its own, at its root)."""
    if args.no_cache or stdin:
        return Cache(None)
    if args.cache_dir:
        return Cache(Path(args.cache_dir))
    start = search_start(named)
    return None if is_marked(project_root(start)) else Cache(start / DEFAULT_DIR)


def _reads_stdin(args: argparse.Namespace) -> bool:
    """As ruff: with --stdin-filename, or when the only path is ``-``."""
    if args.stdin_filename is None:
        paths: list[str] = args.paths
        return paths == ["-"]
    for path in args.paths:
        if path != "-":
            print(f"warning: ignoring {path} in favour of standard input", file=sys.stderr)
    return True


def run_check(args: argparse.Namespace, read: runs.Inputs | None = None) -> int:
    """``read``: filled with the files and directories the run read or listed (the inputs of
    its record, ``runs``)."""
    stdin = _reads_stdin(args)
    if args.add_noqa and (args.fix or args.diff or stdin):
        _error("--add-noqa cannot be combined with --fix, --diff or standard input")
        return EXIT_ERROR
    named = args.paths
    if stdin:  # the configuration is looked for from --stdin-filename, else from here
        named = [args.stdin_filename] if args.stdin_filename else []
    try:
        conf = config.load(named, args.config, _options(args))
    except config.ConfigError as exc:
        _error(str(exc))
        return EXIT_ERROR
    for warning in config.near_misses(search_start(named)):
        sys.stderr.write(f"warning: {warning}\n")
    missing: list[str] = []
    # Run-level settings (unsafe-fixes, output-format) come from the configuration found for
    # the run; each project's own table gives the rest (rules, per-file-ignores, target).
    cli = replace(_options(args), unsafe_fixes=conf.unsafe_fixes)
    shared = _shared_cache(args, named, stdin)
    mapper = parallel_map(args.jobs)

    def open_project(root: Path, also: list[Path]) -> Project:
        # Without a shared cache, a project with a marker keeps its own at its root (as
        # flake8's plugin does): project.default_cache.
        return Project.open(
            root, config_path=args.config, cli=cli, cache=shared, also=also, mapper=mapper
        )

    try:
        if stdin and not args.stdin_filename:  # no file to belong to: nothing else is known
            root = Path.cwd()
            run = _Run(args, {root: Project(root, conf, ProjectIndex(), Cache(None))})
            results = [run.lint_stdin(root, "-")]
        elif stdin:  # the project of --stdin-filename
            root = root_of(args.stdin_filename)
            run = _Run(args, {root: open_project(root, [])})
            results = [run.lint_stdin(root, args.stdin_filename)]
        else:
            walked: set[str] = set()
            files, missing = discover(
                args.paths, conf.exclude, conf.include, walked, force_exclude=conf.force_exclude
            )
            for message in missing:
                _error(message)
            if args.show_files or args.show_settings:
                sys.stdout.write(_show(args, conf, files))
                return EXIT_ERROR if missing else EXIT_OK
            if not files and not missing:  # as ruff: a warning, and nothing else to say
                sys.stderr.write("warning: No Python files found under the given path(s)\n")
                return EXIT_OK
            groups = group_by_root(files)
            projects = {root: open_project(root, group) for root, group in groups.items()}
            by_root = [(root, path) for root, group in groups.items() for path in group]
            human = conf.output_format in output.HUMAN_FORMATS and not args.diff
            run = _Run(args, projects, progress=human and sys.stderr.isatty())
            linted = run.lint_all(by_root, args.jobs)
            by_file = dict(zip([path for _, path in by_root], linted, strict=True))
            results = [by_file[path] for path in files]
            if args.add_noqa:
                return _add_noqa(results)
            for cache in {id(p.cache): p.cache for p in projects.values()}.values():
                cache.save()
            if read is not None:
                paths = read.paths
                paths.update(walked, map(str, files), *(p.read for p in projects.values()))
                paths.update(str(p.config.path) for p in projects.values() if p.config.path)
                paths.update([str(conf.path)] if conf.path else [])
                read.quiet.update(_quiet(projects, by_root, by_file))
    except config.ConfigError as exc:  # a project's own pyproject.toml
        _error(str(exc))
        return EXIT_ERROR
    for result in results:
        sys.stdout.write(result.diff)
    diagnostics = [d for r in results for d in r.diagnostics]
    failed = bool(missing) or any(r.failed for r in results)
    changed = any(r.changed for r in results)
    if args.diff:
        unlintable = [d for d in diagnostics if d.code in output.FRONT_END]
        sys.stderr.write(output.render("concise", unlintable))
        fixed = sum(r.fixed for r in results)
        unsafe = conf.unsafe_fixes
        sys.stdout.write(output.diff_summary(diagnostics, fixed=fixed, unsafe_fixes=unsafe))
        return EXIT_ERROR if failed else EXIT_FOUND if changed else EXIT_OK
    # With --fix, standard output holds the fixed source: the report goes to standard error.
    stream = sys.stderr if stdin and args.fix else sys.stdout
    stream.write(_report(args, conf, results, failed, color=_color(stream)))
    if failed:
        return EXIT_ERROR
    found = diagnostics or (args.fix and args.exit_non_zero_on_fix and changed)
    return EXIT_FOUND if found and not args.exit_zero else EXIT_OK


def _quiet(
    projects: dict[Path, Project],
    by_root: list[tuple[Path, Path]],
    by_file: dict[Path, _FileResult],
) -> dict[str, runs.Quiet]:
    """The files of the run whose change need not make the next run a full one
    (``runs.Quiet``): every file the projects' indexes hold facts of; a linted one only if it
    had no finding, with what the prefilter knew of the rest of its project."""
    quiet: dict[str, runs.Quiet] = {}
    for project in projects.values():
        index = project.index
        for key, facts in index.files.items():
            # Not a symbolic link: its module name follows its target, which may move.
            if facts.identity and not os.path.islink(key):
                quiet[key] = runs.Quiet(facts.identity, facts.module, facts.is_package, None)
    prefilters: dict[Settings, tuple[tuple[str, str], ...]] = {}
    for root, path in by_root:
        result, key = by_file[path], os.path.abspath(path)
        if key not in quiet or result.diagnostics or result.failed:
            quiet.pop(key, None)
            continue
        project = projects[root]
        settings = project.settings(str(path))
        if settings not in prefilters:
            on = [r for r in RULES if settings.enabled(r.code)]
            prefilters[settings] = tuple(dict.fromkeys(map(_named, on)))
        known = runs.Prefiltered(
            prefilters[settings],
            project.index.called_from_elsewhere(key),
            project.index.module_class_pattern,
            project.index.nnx_names,
        )
        quiet[key].linted = known
    return quiet


def _named(rule: Rule) -> tuple[str, str]:
    """A rule's text check as (module, name there): a function by its own name, a lambda
    through its rule (``RULE.prefilter`` of the rule's module)."""
    check = rule.prefilter
    if "<" not in check.__qualname__:
        return check.__module__, check.__qualname__
    return type(rule).__module__ + "." + rule.code.lower(), "RULE.prefilter"


COMMANDS = {"check": (_check_parser, run_check), "rule": (_rule_parser, run_rule)}


def main(argv: list[str] | None = None, read: runs.Inputs | None = None) -> int:
    """The command; ``read``: filled by a check run with what it read (``run_check``)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv.pop(0) if argv and argv[0] in COMMANDS else "check"
    make_parser, run = COMMANDS[command]
    try:
        args = make_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    try:
        return run(args, read)
    except BrokenPipeError:  # `nnx-lint rule NNX001 | head`: the reader left; leave quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error while flushing at exit
        return EXIT_OK
    except Exception:  # a bug outside any one file, e.g. while indexing the project
        traceback.print_exc()
        _error("nnx-lint crashed; please report this bug")
        return EXIT_ERROR
