"""The command line: parse arguments, lint or fix each file, print a report, pick the exit status.

Exit status: 0 nothing found, 1 diagnostics found (or, with ``--diff``, changes to make),
2 usage error, missing path, or an internal error.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from nnx_lint import __version__, output
from nnx_lint.analysis.project_index import ProjectIndex
from nnx_lint.diagnostics import Diagnostic, LineIndex
from nnx_lint.engine import InternalError, Settings, check_source, fix_source
from nnx_lint.files import SourceError, discover, read_source, write_source
from nnx_lint.rules import RULES_BY_CODE

EXIT_OK, EXIT_FOUND, EXIT_ERROR = 0, 1, 2
FRONT_END_CODES = ("E902", "E999")  # unreadable file, syntax error: reported whatever --select says


# Arguments -------------------------------------------------------------------------------------


def _codes(value: str) -> tuple[str, ...]:
    """A comma-separated list of rule codes or prefixes; ``ALL`` selects everything."""
    codes = tuple(c.strip().upper() for c in value.split(",") if c.strip())
    known = (*RULES_BY_CODE, *FRONT_END_CODES)
    for code in codes:
        if code != "ALL" and not any(k.startswith(code) for k in known):
            raise argparse.ArgumentTypeError(f"unknown rule code or prefix: {code}")
    return tuple("" if c == "ALL" else c for c in codes)


def _version(value: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in value.split("."))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a version like 0.11.0: {value}") from None


def _check_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnx-lint",
        description="Find and fix JAX transforms misapplied to stateful Flax NNX objects.",
        epilog="`nnx-lint rule CODE` explains a rule.",
    )
    parser.add_argument("--version", action="version", version=f"nnx-lint {__version__}")
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="files or directories to check (default: .)"
    )
    fixing = parser.add_argument_group("fixes")
    fixing.add_argument("--fix", action="store_true", help="apply fixes, rewriting files")
    fixing.add_argument("--unsafe-fixes", action="store_true", help="also apply unsafe fixes")
    fixing.add_argument(
        "--diff", action="store_true", help="print the changes --fix would make; write nothing"
    )
    rules = parser.add_argument_group("rules")
    rules.add_argument("--select", type=_codes, metavar="CODES", help="codes or prefixes to enable")
    rules.add_argument("--ignore", type=_codes, default=(), metavar="CODES", help="codes to skip")
    rules.add_argument(
        "--target-flax-version",
        type=_version,
        metavar="X.Y.Z",
        help="flax version to write fixes for (default: the installed one)",
    )
    report = parser.add_argument_group("output")
    report.add_argument("--output-format", choices=output.FORMATS, default="full")
    return parser


def _rule_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nnx-lint rule", description="Explain a rule.")
    parser.add_argument("code", help="a rule code, e.g. NNX001")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    select = Settings.select if args.select is None else args.select
    return Settings(
        select=(*select, *FRONT_END_CODES),
        ignore=args.ignore,
        unsafe_fixes=args.unsafe_fixes,
        target_flax_version=args.target_flax_version,
    )


# Commands --------------------------------------------------------------------------------------


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def run_rule(args: argparse.Namespace) -> int:
    rule = RULES_BY_CODE.get(args.code.upper())
    if rule is None:
        _error(f"unknown rule code {args.code}; known: {', '.join(RULES_BY_CODE)}")
        return EXIT_ERROR
    print(rule.doc.strip())
    return EXIT_OK


@dataclass
class _FileResult:
    diagnostics: list[Diagnostic]
    text: str = ""  # the text the diagnostics' positions refer to
    fixed: int = 0
    changed: bool = False
    failed: bool = False  # an internal error or a failed write: exit 2


@dataclass
class _Run:
    args: argparse.Namespace
    settings: Settings
    index: ProjectIndex

    def lint(self, path: Path) -> _FileResult:
        name = str(path)
        try:
            text, encoding = read_source(path)
        except SourceError as exc:
            return _FileResult([Diagnostic("E902", str(exc), name, 1, 1, 1, 1)])
        try:
            if self.args.fix or self.args.diff:
                return self._fix(path, text, encoding)
            return _FileResult(check_source(text, name, self.settings, self.index), text)
        except Exception as exc:  # a bug: report it, keep going with the other files
            _error(f"{name}: {type(exc).__name__}: {exc}; please report this bug")
            traceback.print_exc()
            return _FileResult([], text, failed=True)

    def _fix(self, path: Path, text: str, encoding: str) -> _FileResult:
        name = str(path)
        try:
            result = fix_source(text, name, self.settings, self.index)
        except InternalError as exc:
            _error(f"{exc}; please report this bug (the file was left unchanged)")
            return self._unfixed(name, text)
        changed = result.source != text
        if changed and self.args.diff:
            sys.stdout.write(_unified_diff(name, text, result.source))
        elif changed:
            try:
                write_source(path, result.source, encoding)
            except SourceError as exc:
                _error(f"{name}: cannot write the fixes: {exc}")
                return self._unfixed(name, text)
        return _FileResult(result.diagnostics, result.source, result.fixed, changed)

    def _unfixed(self, name: str, text: str) -> _FileResult:
        """The file as it stands, after a fix could not be made: the run exits 2."""
        return _FileResult(check_source(text, name, self.settings, self.index), text, failed=True)


def _unified_diff(name: str, old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), name, name
    )
    marker = "\n\\ No newline at end of file\n"
    return "".join(line if line.endswith(("\n", "\r")) else line + marker for line in lines) + "\n"


def run_check(args: argparse.Namespace) -> int:
    files, missing = discover(args.paths)
    for message in missing:
        _error(message)
    run = _Run(args, _settings(args), ProjectIndex.build(files))
    results = [run.lint(path) for path in files]
    diagnostics = [d for r in results for d in r.diagnostics]
    fixed = sum(r.fixed for r in results)
    failed = bool(missing) or any(r.failed for r in results)
    unsafe = args.unsafe_fixes
    if args.diff:
        unlintable = [d for d in diagnostics if d.code in FRONT_END_CODES]
        sys.stderr.write(output.render("concise", unlintable))
        sys.stdout.write(output.diff_summary(diagnostics, fixed=fixed, unsafe_fixes=unsafe))
        changed = any(r.changed for r in results)
        return EXIT_ERROR if failed else EXIT_FOUND if changed else EXIT_OK
    lines = {
        str(p): LineIndex(r.text) for p, r in zip(files, results, strict=True) if r.diagnostics
    }
    report = output.render(
        args.output_format, diagnostics, unsafe_fixes=unsafe, lines=lines, rules=RULES_BY_CODE
    )
    if args.output_format != "json":
        report += output.summary(diagnostics, fixed=fixed, unsafe_fixes=unsafe)
    sys.stdout.write(report)
    return EXIT_ERROR if failed else EXIT_FOUND if diagnostics else EXIT_OK


COMMANDS = {"check": (_check_parser, run_check), "rule": (_rule_parser, run_rule)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv.pop(0) if argv and argv[0] in COMMANDS else "check"
    make_parser, run = COMMANDS[command]
    try:
        args = make_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    try:
        return run(args)
    except Exception:  # a bug outside any one file, e.g. while indexing the project
        traceback.print_exc()
        _error("nnx-lint crashed; please report this bug")
        return EXIT_ERROR
