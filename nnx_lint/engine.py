"""The one engine every front end calls: check a source text, or fix it."""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import sys
import tokenize
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import libcst as cst

from nnx_lint import documents, notebooks
from nnx_lint.analysis.context import FileContext
from nnx_lint.analysis.project_index import ProjectIndex, could_have_findings
from nnx_lint.collector import paused
from nnx_lint.diagnostics import (
    FRONT_END,
    Diagnostic,
    Edit,
    InternalError,
    LineIndex,
    apply_edits,
)
from nnx_lint.files import module_name_for
from nnx_lint.rules import RULES, text_check
from nnx_lint.settings import Settings, installed_flax

MAX_FIX_PASSES = 10
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.I)
# A comment line of its own, `# nnx-lint: noqa` (all codes) or `# nnx-lint: noqa: NNX001`: the
# whole file, as ruff's file-level noqa. Syntax and I/O errors are still reported.
_FILE_NOQA = re.compile(
    r"^[ \t]*#[ \t]*nnx-lint:[ \t]*noqa(?::[ \t]*(?P<codes>[A-Z]+[0-9]*(?:[, \t]+[A-Z]+[0-9]*)*))?"
    r"[ \t]*$",
    re.I | re.M,
)


@dataclass
class FixResult:
    source: str  # the fixed text (equal to the input when nothing changed)
    fixed: int  # number of fixes applied
    diagnostics: list[Diagnostic] = field(default_factory=list)  # what remains
    fixed_codes: Counter[str] = field(default_factory=Counter)  # fixes applied, per code


def _syntax_error(source: str, path: str, *, newer_grammar: bool = True) -> Diagnostic | None:
    """E999 for a file that is not valid Python. The running interpreter's parser (fast) says
    it first; where it refuses, libcst's, which knows the grammar up to Python 3.13 (PEP 695
    generics, ``type`` statements, PEP 701 f-strings), decides, so a file valid for a newer
    Python than the one nnx-lint runs on is not reported (``newer_grammar=False``: libcst
    has already refused it)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings are not ours to report
            ast.parse(source, path)
    except SyntaxError as exc:
        if newer_grammar and _valid_for_a_newer_python(source):
            return None
        row = exc.lineno or 1
        col = exc.offset or 1
        return Diagnostic("E999", f"SyntaxError: {exc.msg}", path, row, col, row, col)
    except (ValueError, RecursionError, MemoryError) as exc:
        return Diagnostic("E999", f"SyntaxError: {exc}", path, 1, 1, 1, 1)
    return None


def _valid_for_a_newer_python(source: str) -> bool:
    if sys.version_info >= (3, 13):
        return False  # the running parser already knows every grammar libcst does
    try:
        cst.parse_module(source)
    except (cst.ParserSyntaxError, RecursionError):
        return False
    return True


def _parse_error(exc: cst.ParserSyntaxError, path: str) -> Diagnostic:
    message = str(exc.message).strip().splitlines()[0] if exc.message else "invalid syntax"
    row = max(exc.raw_line, 1)
    col = exc.raw_column + 1
    return Diagnostic("E999", f"SyntaxError: {message}", path, row, col, row, col)


def _noqa_codes(line: str) -> set[str] | None:
    """None: no noqa; empty set: blanket noqa; else the listed codes."""
    m = _NOQA.search(line)
    if not m:
        return None
    codes = m.group("codes")
    return set() if not codes else {c.upper() for c in re.split(r"[,\s]+", codes) if c}


def add_noqa(source: str, diagnostics: list[Diagnostic]) -> tuple[str, int]:
    """``source`` with ``# noqa: CODES`` on each line a diagnostic starts on (merged into a
    ``# noqa: ...`` already there), and the number of lines changed. A line a comment cannot
    end (inside a multi-line string, before a backslash continuation) is left as it is, and so
    is the whole text if the result would not parse."""
    wanted: dict[int, set[str]] = {}
    for d in diagnostics:
        if d.code not in FRONT_END and d.cell is None:
            wanted.setdefault(d.line, set()).add(d.code)
    index = LineIndex(source)  # lines as Python counts them (not str.splitlines': no \f)
    ends = [*index.starts[1:], len(source)]
    lines = [source[a:b] for a, b in zip(index.starts, ends, strict=True)]
    blocked = _lines_inside_strings(source)
    changed = 0
    for number, codes in sorted(wanted.items()):
        if number > len(lines) or number in blocked:
            continue
        body = lines[number - 1].rstrip("\r\n")
        ending = lines[number - 1][len(body) :]
        found = _NOQA.search(body)
        if body.rstrip().endswith("\\") or (found and not found.group("codes")):
            continue
        if found:
            have = [c.upper() for c in re.split(r"[,\s]+", found.group("codes")) if c]
            new = ", ".join([*have, *sorted(codes - set(have))])
            body = f"{body[: found.start()]}# noqa: {new}{body[found.end() :]}"
        else:
            body = f"{body.rstrip()}  # noqa: {', '.join(sorted(codes))}"
        lines[number - 1] = body + ending
        changed += 1
    result = "".join(lines)
    if changed and _syntax_error(result, "<add-noqa>") is not None:
        return source, 0
    return result, changed


def _lines_inside_strings(source: str) -> set[int]:
    """The lines whose end lies inside a string (a multi-line string's first lines)."""
    inside: set[int] = set()
    opened: list[int] = []  # f-strings (Python 3.12+ tokenizes them in parts), nested
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.STRING:
                inside.update(range(token.start[0], token.end[0]))
            elif token.type == getattr(tokenize, "FSTRING_START", None):
                opened.append(token.start[0])
            elif token.type == getattr(tokenize, "FSTRING_END", None) and opened:
                inside.update(range(opened.pop(), token.end[0]))
    except (tokenize.TokenError, SyntaxError):
        pass
    return inside


def _file_noqa(source: str) -> set[str] | None:
    """The codes a file-level ``# nnx-lint: noqa`` turns off (empty: all); None: none."""
    if "nnx-lint" not in source:
        return None
    found: set[str] | None = None
    for m in _FILE_NOQA.finditer(source):
        codes = m["codes"]
        if not codes:
            return set()
        found = (found or set()) | {c.upper() for c in re.split(r"[, \t]+", codes) if c}
    return found


def is_suppressed(diag: Diagnostic, line: str) -> bool:
    codes = _noqa_codes(line)
    if codes is None:
        return False
    return not codes or any(diag.code.startswith(c) for c in codes)


def check_source(
    source: str,
    path: str,
    settings: Settings | None = None,
    index: ProjectIndex | None = None,
    *,
    noqa: bool = True,
) -> list[Diagnostic]:
    """All enabled diagnostics of one file, sorted (the garbage collector paused meanwhile:
    ``collector``).

    ``noqa=False`` leaves suppression to the caller (flake8 does its own)."""
    with paused():
        return _check_source(source, path, settings, index, noqa=noqa)


def _check_source(
    source: str, path: str, settings: Settings | None, index: ProjectIndex | None, *, noqa: bool
) -> list[Diagnostic]:
    settings = _target_filled(settings or Settings())
    if not source.strip():
        return []
    if len(source) > settings.max_file_size:
        size = f"{len(source) / 2**20:.1f} MiB"
        limit = f"{settings.max_file_size / 2**20:g} MiB"
        message = (
            f"file not analysed: {size} is over the {limit} limit (exclude it to silence this)"
        )
        return [Diagnostic("E902", message, path, 1, 1, 1, 1)]
    lines = LineIndex(source)
    rules = [r for r in RULES if settings.enabled(r.code)]
    if not rules or not could_have_findings(source, index, path, text_check(rules)):
        if index is not None and index.parsed(os.path.abspath(path), source):
            return []  # the index parsed this very text: no syntax error
        error = _syntax_error(source, path)
        return [error] if error else []
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        # Reported whatever is selected, as in ruff; Python's own parser words it best.
        return [_syntax_error(source, path, newer_grammar=False) or _parse_error(exc, path)]
    except RecursionError:
        return [Diagnostic("E999", "SyntaxError: too deeply nested to parse", path, 1, 1, 1, 1)]
    try:
        with _deep_recursion():
            module_name, is_package = module_name_for(path)
            ctx = FileContext(
                module,
                source,
                path,
                index or ProjectIndex.empty(),
                settings,
                key=os.path.abspath(path),
                module_name=module_name,
                is_package=is_package,
            )
            found: list[Diagnostic] = []
            try:
                for rule in rules:
                    found.extend(rule.check(ctx))
            finally:
                ctx.close()
    except RecursionError as exc:  # the file parsed: a bug in the analysis, not in the file
        raise InternalError(f"{path}: RecursionError while analysing the file") from exc
    off = _file_noqa(source)
    out = []
    for d in found:
        d = replace(d, source_line=lines.line(d.line))
        if noqa and is_suppressed(d, d.source_line):
            continue
        if off is not None and (not off or d.code.startswith(tuple(off))):
            continue
        out.append(d)
    out.sort(key=lambda d: d.sort_key)
    return out


def _target_filled(settings: Settings) -> Settings:
    """No target flax version set: the installed flax's (None: the newest behaviour)."""
    if settings.target_flax_version is not None:
        return settings
    return replace(settings, target_flax_version=installed_flax())


@contextlib.contextmanager
def _deep_recursion(limit: int = 20_000) -> Iterator[None]:
    """Deeply nested code (long operator chains) needs a deep walk. From Python 3.11 on, calls
    between Python functions do not use the C stack, so a higher limit is safe there."""
    old = sys.getrecursionlimit()
    if sys.version_info >= (3, 11) and old < limit:
        sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _select_edits(diags: list[Diagnostic], settings: Settings) -> tuple[list[Edit], Counter[str]]:
    """Edits of non-overlapping fixes, identical edits (shared import lines) merged, and the
    codes of the fixes they make."""
    chosen: set[Edit] = set()
    codes: Counter[str] = Counter()
    for d in diags:
        if not d.fixable(settings.unsafe_fixes):
            continue
        assert d.fix is not None  # fixable: it has a fix
        new = [e for e in d.fix.edits if e not in chosen]
        if any(_overlaps(e, c) for e in new for c in chosen):
            continue  # applied in a later pass
        chosen.update(new)
        codes[d.code] += 1
    return sorted(chosen), codes


def _overlaps(a: Edit, b: Edit) -> bool:
    if a.start == a.end == b.start == b.end:
        return False  # two insertions at one point: order by sort, both kept
    return a.start < b.end and b.start < a.end


def fix_source(
    source: str,
    path: str,
    settings: Settings | None = None,
    index: ProjectIndex | None = None,
    *,
    cleanup: bool = True,
) -> FixResult:
    """Apply every applicable fix until none is left; raises InternalError on a bad fix.
    ``cleanup``: remove the imports the fixes left unused (not in a notebook's or document's
    program, whose masked magics and left-out blocks may use them)."""
    from nnx_lint.fixes.cleanup import remove_unused_imports

    settings = settings or Settings()
    text = source
    fixed: Counter[str] = Counter()
    for _ in range(MAX_FIX_PASSES):
        diags = check_source(text, path, settings, index)
        edits, codes = _select_edits(diags, settings)
        if not edits:
            break
        new_text = apply_edits(text, edits)
        try:
            cst.parse_module(new_text)
        except cst.ParserSyntaxError as exc:
            raise InternalError(
                f"{path}: a fix produced code that does not parse ({exc.message})"
            ) from exc
        text = new_text
        fixed += codes
    else:
        raise InternalError(f"{path}: fixes did not converge after {MAX_FIX_PASSES} passes")
    if fixed and cleanup:
        text = remove_unused_imports(source, text)
    diags = check_source(text, path, settings, index)
    if any(d.fixable(settings.unsafe_fixes) for d in diags):
        raise InternalError(f"{path}: a fix would apply again to its own result")
    return FixResult(text, sum(fixed.values()), diags, fixed)


# -- notebooks and documents: their code as one program, reported and fixed in the file

View = notebooks.Notebook | documents.Document


def _view(text: str, path: str) -> View | None:
    """A notebook's or document's program; None for a Python file (ProgramError: why it
    cannot be read)."""
    if path.endswith(notebooks.SUFFIX):
        return notebooks.parse(text)
    if path.endswith(documents.RST_SUFFIXES):
        return documents.parse_rst(text)
    if path.endswith(documents.SUFFIXES):
        return documents.parse_markdown(text)
    return None


def _unreadable(path: str, exc: Exception) -> Diagnostic:
    kind = "notebook" if path.endswith(notebooks.SUFFIX) else "document"
    return Diagnostic("E902", f"{kind} not analysed: {exc}", path, 1, 1, 1, 1)


def check_text(
    text: str,
    path: str,
    settings: Settings | None = None,
    index: ProjectIndex | None = None,
    *,
    noqa: bool = True,
) -> list[Diagnostic]:
    """``check_source`` for any kind of file the command lints: a notebook's code cells and a
    document's code blocks are checked as one program and reported where they stand."""
    try:
        view = _view(text, path)
    except (notebooks.ProgramError, RecursionError) as exc:
        return [_unreadable(path, exc)]
    if view is None:
        return check_source(text, path, settings, index, noqa=noqa)
    found = check_source(view.program, path, settings, index, noqa=noqa)
    return _in_file(view, path, found, settings, index)


def fix_text(
    text: str,
    path: str,
    settings: Settings | None = None,
    index: ProjectIndex | None = None,
) -> FixResult:
    """``fix_source`` for any kind of file: a notebook or document gets the fixed code back
    in the cells or blocks it came from (and nothing else of it changes)."""
    try:
        view = _view(text, path)
    except (notebooks.ProgramError, RecursionError) as exc:
        return FixResult(text, 0, [_unreadable(path, exc)])
    if view is None:
        return fix_source(text, path, settings, index)
    result = fix_source(view.program, path, settings, index, cleanup=False)
    if not result.fixed:
        return FixResult(text, 0, _in_file(view, path, result.diagnostics, settings, index))
    try:
        fixed = view.with_program(result.source)
        after = _view(fixed, path)
    except notebooks.ProgramError as exc:
        raise InternalError(f"{path}: the fixes cannot be written back: {exc}") from exc
    assert after is not None  # the same kind of file as before
    remaining = _in_file(after, path, result.diagnostics, settings, index)
    return FixResult(fixed, result.fixed, remaining, result.fixed_codes)


def _in_file(
    view: View,
    path: str,
    diagnostics: list[Diagnostic],
    settings: Settings | None,
    index: ProjectIndex | None,
) -> list[Diagnostic]:
    """Program positions as the file's (a cell and its line, or the document's line and
    column), and the findings of a document's asides (each doctest, a codediff's first side:
    programs of their own, checked, never rewritten). Fixes keep their title and
    applicability, not their edits (offsets in the program, not in the file's text)."""
    out = _positions(view, path, diagnostics)
    for aside in view.asides if isinstance(view, documents.Document) else ():
        found = check_source(aside.program, path, settings, index)
        for d in _positions(aside, path, found):
            if d.fix is not None:
                title = d.fix.message[:1].lower() + d.fix.message[1:]
                by_hand = f"{title} (no automatic fix: {aside.why_no_fix})"
                d = replace(d, fix=None, fix_unavailable=by_hand)
            out.append(d)
    return sorted(out, key=lambda d: d.sort_key)


def _positions(view: View, path: str, diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    here = {path, os.path.abspath(path)}
    own = _own_classes(view.program)

    def where(n: int) -> tuple[int | None, int]:
        place = view.place(n)
        return place.cell, place.line

    out = []
    for d in diagnostics:
        start, end = view.place(d.line), view.place(d.end_line)
        end_line, end_column = end.line, d.end_column + end.shift
        if end.unit != start.unit:  # clamp to the start's line
            end_line, end_column = start.line, len(d.source_line) + 1 + start.shift
        related = tuple(
            replace(r, cell=place.cell, line=place.line) if r.path in here else r
            for r in d.related
            for place in [view.place(r.line)]
        )
        out.append(
            replace(
                d,
                message=_program_lines(d.message, own, where),
                summary=_program_lines(d.summary, own, where),
                line=start.line,
                column=d.column + start.shift,
                end_line=end_line,
                end_column=end_column,
                fix=replace(d.fix, edits=()) if d.fix is not None else None,
                related=related,
                source_line=view.line_text(start.line) or d.source_line,
                cell=start.cell,
            )
        )
    return out


# A step of a call path: "`Encoder.__call__` calls `self.rnn` (line 12)" (project_index).
_STEP = re.compile(
    r"`(?P<cls>\w+)\.\w+` (?:calls|assigns|passes) `[^`]*`(?: to `[^`]*`)? "
    r"\((?P<word>line )(?P<line>\d+)\)"
)
_CALL_ON_LINE = re.compile(r"the call on line (?P<line>\d+)")  # NNX003's dropped result


def _own_classes(program: str) -> set[str]:
    """The names of the classes a program defines (at any depth)."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}


def _program_lines(
    message: str, own: set[str], where: Callable[[int], tuple[int | None, int]]
) -> str:
    """A message's program lines as ``where`` tells them (a cell, if any, and a line):
    ``(line N)`` of a step in a class of the program's own, ``the call on line N`` (NNX003)."""

    def step(m: re.Match[str]) -> str:
        if m["cls"] not in own:
            return m[0]  # a class of another file: its own line
        cell, line = where(int(m["line"]))
        at = f"cell {cell}, line {line}" if cell is not None else f"line {line}"
        return f"{m[0][: m.start('word') - m.start()]}{at})"

    def call(m: re.Match[str]) -> str:
        cell, line = where(int(m["line"]))
        return f"the call in cell {cell} on line {line}" if cell else f"the call on line {line}"

    return _CALL_ON_LINE.sub(call, _STEP.sub(step, message))
