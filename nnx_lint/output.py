"""Diagnostics as text, in ruff's formats, plus the summary, the statistics and the fix table.

``full`` and ``concise`` are for people (the command line adds the summary after them);
``json`` and ``json-lines`` have the keys of ruff's; ``github`` prints workflow commands that
annotate a pull request; ``sarif`` is SARIF 2.1.0 for GitHub code scanning; ``junit`` is JUnit
XML for CI test reports.
"""

from __future__ import annotations

import difflib
import json
import os
import urllib.parse
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nnx_lint import __version__
from nnx_lint.diagnostics import FRONT_END, Diagnostic, Edit, Fix, LineIndex, apply_edits
from nnx_lint.settings import FORMATS, HUMAN_FORMATS

if TYPE_CHECKING:
    from nnx_lint.rules import Rule

__all__ = ["FORMATS", "FRONT_END", "HUMAN_FORMATS", "render"]

TOOL = "nnx-lint"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SRCROOT = "%SRCROOT%"  # SARIF: relative URIs are relative to the working directory

_Json = dict[str, object]  # a JSON object


CONTEXT = 2  # lines of source shown before and after a finding's (full format)
# ANSI styles of the full format, for a terminal: the code, the gutter and arrow, the carets,
# the help, an added line, a removed line.
_STYLES = {"code": "1;31", "gutter": "1;34", "carets": "1;31", "help": "1;36", "+": "32", "-": "31"}


@dataclass(frozen=True)
class _Context:
    unsafe_fixes: bool = False
    lines: Mapping[str, LineIndex] = field(default_factory=dict)
    rules: Mapping[str, Rule] = field(default_factory=dict)
    color: bool = False

    def style(self, kind: str, text: str) -> str:
        return f"\x1b[{_STYLES[kind]}m{text}\x1b[0m" if self.color and text else text

    def name(self, code: str) -> str | None:
        rule = self.rules.get(code)
        return rule.name if rule else FRONT_END[code].name if code in FRONT_END else None

    def span(self, d: Diagnostic, edit: Edit) -> tuple[int, int, int, int]:
        """An edit's (row, column, end row, end column) in the text of ``d``'s file."""
        index = self.lines[d.path]
        return (*index.position(edit.start), *index.position(edit.end))


def render(
    fmt: str,
    diagnostics: list[Diagnostic],
    *,
    unsafe_fixes: bool = False,
    lines: Mapping[str, LineIndex] | None = None,
    rules: Mapping[str, Rule] | None = None,
    color: bool = False,
) -> str:
    """The diagnostics in format ``fmt``. ``lines`` (each file's text) is needed for the edits of
    fixes (``json``, ``json-lines``, ``sarif``) and for ``full``'s context lines and fix diffs;
    ``rules`` for rule names, urls and SARIF's rule metadata; ``color``: ANSI colours in
    ``full`` (for a terminal)."""
    ctx = _Context(unsafe_fixes, lines or {}, rules or {}, color)
    return _RENDERERS[fmt](diagnostics, ctx)


# full and concise ------------------------------------------------------------------------------


def _concise(d: Diagnostic, unsafe_fixes: bool) -> str:
    """One short line: the message without its evidence (the full format and ``nnx-lint rule``
    say the rest)."""
    mark = "[*] " if d.fixable(unsafe_fixes) else ""
    return f"{d.location}: {d.code} {mark}{d.short}"


def _full(d: Diagnostic, ctx: _Context) -> str:
    """ruff's full format (0.12 on): the code and message, the ``-->`` location, the source with
    CONTEXT lines around the finding's first line and carets under it, the help and notes, and
    the fix as a diff when there is one. A notebook's finding shows its own line only (the
    file's text is JSON); a parse or I/O error, its location only."""
    mark = "[*] " if d.fixable(ctx.unsafe_fixes) else ""
    header = f"{ctx.style('code', d.code)} {mark}{d.message}"
    index = ctx.lines.get(d.path) if d.cell is None else None
    first = max(1, d.line - CONTEXT) if index is not None else d.line
    last = min(len(index.starts), d.line + CONTEXT) if index is not None else d.line
    if index is not None:  # no blank lines at the edges of the excerpt
        while first < d.line and not index.line(first).strip():
            first += 1
        while last > d.line and not index.line(last).strip():
            last -= 1
    width = len(str(last))
    gutter = ctx.style("gutter", " " * width + " |")
    out = [header, f"{' ' * width}{ctx.style('gutter', '-->')} {d.location}"]
    if not d.source_line:  # parse and I/O errors: where, and nothing more
        return "\n".join(out) + "\n"
    out.append(gutter)
    for row in range(first, last + 1):
        text = d.source_line if row == d.line or index is None else index.line(row)
        out.append(f"{ctx.style('gutter', f'{row:>{width}} |')} {text}")
        if row == d.line:
            indent = "".join(c if c == "\t" else " " for c in d.source_line[: d.column - 1])
            end = d.end_column if d.end_line == d.line else len(d.source_line) + 1
            out.append(f"{gutter} {indent}{ctx.style('carets', '^' * max(1, end - d.column))}")
    out.append(gutter)
    if d.help is not None:
        out.append(f"{ctx.style('help', 'help:')} {d.help}")
    for related in d.related:
        cell = f"cell {related.cell}:" if related.cell is not None else ""
        out.append(f"note: {_shown(related.path)}:{cell}{related.line}: {related.message}")
    if d.fix is not None and d.fix.edits and index is not None:  # (none in notebooks, documents)
        out += ["", *_fix_diff(d.fix, index.text, ctx)]
    return "\n".join(out) + "\n"


def _shown(path: str) -> str:
    """A path as people read it: relative to the working directory when inside it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _fix_diff(fix: Fix, text: str, ctx: _Context) -> list[str]:
    """ruff's (pre-0.12) fix diff: old and new line numbers, three lines of context."""
    old = text.splitlines()
    new = apply_edits(text, list(fix.edits)).splitlines()
    groups = list(difflib.SequenceMatcher(None, old, new, autojunk=False).get_grouped_opcodes(3))
    width = len(str(max(len(old), len(new), 1)))
    out = [f"ℹ {fix.applicability.value.capitalize()} fix"]
    for n, group in enumerate(groups):
        if n:
            out.append("-" * 80)
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [
                    f"{i + 1:>{width}} {j + 1:>{width}} | {old[i]}"
                    for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
                ]
                continue
            out += [
                ctx.style("-", f"{i + 1:>{width}} {'':>{width}} |-{old[i]}") for i in range(i1, i2)
            ]
            out += [
                ctx.style("+", f"{'':>{width}} {j + 1:>{width}} |+{new[j]}") for j in range(j1, j2)
            ]
    return out


def _render_full(diagnostics: list[Diagnostic], ctx: _Context) -> str:
    return "".join(_full(d, ctx) + "\n" for d in diagnostics)


def _render_concise(diagnostics: list[Diagnostic], ctx: _Context) -> str:
    return "".join(_concise(d, ctx.unsafe_fixes) + "\n" for d in diagnostics)


# json and json-lines ---------------------------------------------------------------------------


def _location(row: int, column: int) -> _Json:
    return {"column": column, "row": row}


def _json(d: Diagnostic, ctx: _Context) -> _Json:
    """One diagnostic with exactly the keys of ``ruff check --output-format json``."""
    rule = ctx.rules.get(d.code)
    fix = None
    if d.fix is not None:
        edits = []
        for e in d.fix.edits:
            row, column, end_row, end_column = ctx.span(d, e)
            edits.append(
                {
                    "content": e.content,
                    "end_location": _location(end_row, end_column),
                    "location": _location(row, column),
                }
            )
        fix = {
            "applicability": d.fix.applicability.value,
            "edits": edits,
            "message": d.fix.message,
        }
    return {
        "cell": d.cell,
        "code": d.code,
        "end_location": _location(d.end_line, d.end_column),
        "filename": os.path.abspath(d.path),
        "fix": fix,
        "fix_unavailable": d.fix_unavailable,
        "related": [
            {
                "cell": r.cell,
                "filename": os.path.abspath(r.path),
                "location": _location(r.line, 1),
                "message": r.message,
            }
            for r in d.related
        ],
        "location": _location(d.line, d.column),
        "message": d.message,
        "name": ctx.name(d.code),
        "noqa_row": None if d.code in FRONT_END else d.line,
        "severity": "error",
        "url": rule.url if rule else None,
    }


def _dump(records: list[_Json], fmt: str) -> str:
    """A JSON array (``json``), or one compact object a line (``json-lines``)."""
    if fmt == "json-lines":
        return "".join(
            json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records
        )
    return json.dumps(records, indent=2, ensure_ascii=False) + "\n"


def _render_json(diagnostics: list[Diagnostic], ctx: _Context) -> str:
    return _dump([_json(d, ctx) for d in diagnostics], "json")


def _render_json_lines(diagnostics: list[Diagnostic], ctx: _Context) -> str:
    return _dump([_json(d, ctx) for d in diagnostics], "json-lines")


# github ----------------------------------------------------------------------------------------


def _escape_data(text: str) -> str:
    """A workflow command's message, escaped as GitHub's toolkit does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _github(d: Diagnostic) -> str:
    """ruff's line: ``::error title=ruff (F401),file=/abs/a.py,line=1,...::a.py:1:8: F401 ...``,
    with the fix's title as a second line of the message."""
    properties: dict[str, object] = {
        "title": f"{TOOL} ({d.code})",
        "file": os.path.abspath(d.path),
    }
    if d.cell is None:  # a notebook's lines count in its cells: the annotation is the file's
        properties |= {
            "line": d.line,
            "col": d.column,
            "endLine": d.end_line,
            "endColumn": d.end_column,
        }
    message = f"{d.location}: {d.code} {d.message}"
    if d.help is not None:
        message += f"\n  help: {d.help}"
    head = ",".join(f"{key}={_escape_property(str(value))}" for key, value in properties.items())
    return f"::error {head}::{_escape_data(message)}"


def _render_github(diagnostics: list[Diagnostic], ctx: _Context) -> str:
    return "".join(_github(d) + "\n" for d in diagnostics)


# sarif -----------------------------------------------------------------------------------------


def _descriptor(code: str, name: str, summary: str, doc: str, url: str | None) -> _Json:
    """SARIF's reportingDescriptor: what GitHub code scanning shows for a rule."""
    descriptor: _Json = {
        "id": code,
        "name": name,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": doc},
        "help": {"text": doc, "markdown": doc},
        "defaultConfiguration": {"level": "error"},
    }
    if url:
        descriptor["helpUri"] = url
    return descriptor


def _artifact(path: str) -> _Json:
    """A file's location: relative to the working directory (``%SRCROOT%``) when inside it."""
    absolute = Path(os.path.abspath(path))
    try:
        relative = absolute.relative_to(os.getcwd())
    except ValueError:
        return {"uri": absolute.as_uri()}
    return {"uri": urllib.parse.quote(relative.as_posix()), "uriBaseId": SRCROOT}


def _region(row: int, column: int, end_row: int, end_column: int) -> _Json:
    return {"startLine": row, "startColumn": column, "endLine": end_row, "endColumn": end_column}


def _replacement(d: Diagnostic, edit: Edit, ctx: _Context) -> _Json:
    replacement: _Json = {"deletedRegion": _region(*ctx.span(d, edit))}
    if edit.content:
        replacement["insertedContent"] = {"text": edit.content}
    return replacement


def _sarif_result(d: Diagnostic, rule_index: Mapping[str, int], ctx: _Context) -> _Json:
    artifact = _artifact(d.path)
    physical: _Json = {"artifactLocation": artifact}
    if d.cell is None:
        physical["region"] = _region(d.line, d.column, d.end_line, d.end_column)
    result: _Json = {"ruleId": d.code}
    if d.code in rule_index:
        result["ruleIndex"] = rule_index[d.code]
    # In a notebook, lines count in a cell, not in the file: the notebook, and the cell named.
    where = f"cell {d.cell}, line {d.line}: " if d.cell is not None else ""
    result |= {
        "level": "error",
        "message": {"text": where + d.message},
        "locations": [{"physicalLocation": physical}],
    }
    properties: _Json = {}
    if d.cell is not None:
        properties["cell"] = d.cell
    if d.fix_unavailable is not None:  # what to do by hand, and why there is no fix
        properties["fixUnavailable"] = d.fix_unavailable
    if properties:
        result["properties"] = properties
    if d.related:
        result["relatedLocations"] = [
            {
                "id": i,
                "physicalLocation": {"artifactLocation": _artifact(r.path)}
                | ({"region": {"startLine": r.line}} if r.cell is None else {}),
                "message": {
                    "text": (f"cell {r.cell}, line {r.line}: " if r.cell else "") + r.message
                },
            }
            for i, r in enumerate(d.related)
        ]
    if d.fix is not None and d.fix.edits:  # (a notebook's fixes are applied by --fix only)
        change = {
            "artifactLocation": artifact,
            "replacements": [_replacement(d, e, ctx) for e in d.fix.edits],
        }
        result["fixes"] = [
            {
                "description": {"text": d.fix.message},
                "artifactChanges": [change],
                "properties": {"applicability": d.fix.applicability.value},
            }
        ]
    return result


def _render_sarif(diagnostics: list[Diagnostic], ctx: _Context) -> str:
    rules = [_descriptor(r.code, r.name, r.summary, r.doc, r.url) for r in ctx.rules.values()]
    rules += [
        _descriptor(code, c.name, c.summary, c.summary, None) for code, c in FRONT_END.items()
    ]
    ids = [*(r.code for r in ctx.rules.values()), *FRONT_END]  # the id of each of `rules`
    rule_index = {code: i for i, code in enumerate(ids)}
    run = {
        "tool": {"driver": {"name": TOOL, "version": __version__, "rules": rules}},
        "columnKind": "unicodeCodePoints",  # the columns count characters, as ruff's
        "originalUriBaseIds": {SRCROOT: {"uri": Path(os.getcwd()).as_uri().rstrip("/") + "/"}},
        "results": [_sarif_result(d, rule_index, ctx) for d in diagnostics],
    }
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


# junit -----------------------------------------------------------------------------------------


def _suite(parent: ET.Element, name: str, tests: int, failures: int) -> ET.Element:
    return ET.SubElement(
        parent,
        "testsuite",
        name=name,
        tests=str(tests),
        skipped="0",
        errors="0",
        failures=str(failures),
        package=f"org.{TOOL}",
    )


def _render_junit(diagnostics: list[Diagnostic], ctx: _Context) -> str:
    """ruff's JUnit XML: a test suite per file, a failed test case per diagnostic."""
    n = len(diagnostics)
    root = ET.Element(
        "testsuites", name=TOOL, tests=str(n or 1), skipped="0", failures=str(n), errors="0"
    )
    by_file: dict[str, list[Diagnostic]] = {}
    for d in diagnostics:
        by_file.setdefault(d.path, []).append(d)
    if not by_file:
        suite = _suite(root, TOOL, 1, 0)
        ET.SubElement(suite, "testcase", name="No errors found", classname=TOOL)
    for path, found in by_file.items():
        filename = os.path.abspath(path)
        suite = _suite(root, filename, len(found), len(found))
        for d in found:
            case = ET.SubElement(
                suite,
                "testcase",
                name=f"org.{TOOL}.{d.code}",
                classname=os.path.splitext(filename)[0],
                line=str(d.line),
                column=str(d.column),
            )
            properties = ET.SubElement(case, "properties")
            ET.SubElement(properties, "property", name="severity", value="error")
            failure = ET.SubElement(case, "failure", message=d.message)
            cell = f"cell {d.cell}, " if d.cell is not None else ""
            failure.text = f"{cell}line {d.line}, col {d.column}, {d.message}"
            if d.help is not None:
                failure.text += f"\nhelp: {d.help}"
    ET.indent(root, space="    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


_RENDERERS: dict[str, Callable[[list[Diagnostic], _Context], str]] = {
    "full": _render_full,
    "concise": _render_concise,
    "json": _render_json,
    "json-lines": _render_json_lines,
    "github": _render_github,
    "sarif": _render_sarif,
    "junit": _render_junit,
}


# Statistics, fix table, summaries --------------------------------------------------------------


def statistics(
    fmt: str,
    diagnostics: list[Diagnostic],
    *,
    unsafe_fixes: bool = False,
    rules: Mapping[str, Rule] | None = None,
) -> str:
    """ruff's ``--statistics``: a count per code, most frequent first; JSON for the JSON formats.
    A code is fixable when all of its diagnostics are."""
    ctx = _Context(unsafe_fixes, rules=rules or {})
    counts = Counter(d.code for d in diagnostics)
    fixable = Counter(d.code for d in diagnostics if d.fixable(unsafe_fixes))
    codes = sorted(counts, key=lambda code: (-counts[code], code))
    if fmt in ("json", "json-lines"):
        records: list[_Json] = [
            {
                "code": code,
                "name": ctx.name(code),
                "count": counts[code],
                "fixable": fixable[code] == counts[code],
                "fixable_count": fixable[code],
            }
            for code in codes
        ]
        return _dump(records, fmt)
    if not codes:
        return ""
    count_width = len(str(counts[codes[0]]))
    code_width = max(map(len, codes))
    marks = any(fixable[code] == counts[code] for code in codes)  # a column only if needed
    return "".join(
        f"{counts[code]:>{count_width}}\t{code:<{code_width}}\t"
        + (("[*] " if fixable[code] == counts[code] else "[ ] ") if marks else "")
        + f"{ctx.name(code)}\n"
        for code in codes
    )


def fix_table(fixed: Mapping[str, Counter[str]], rules: Mapping[str, Rule] | None = None) -> str:
    """ruff's ``--show-fixes`` after ``--fix``: the fixes applied, per file and code."""
    total = sum(sum(codes.values()) for codes in fixed.values())
    if not total:
        return ""
    ctx = _Context(rules=rules or {})
    out = ["", f"Fixed {_plural(total, 'error')}:"]
    for path, codes in fixed.items():
        if codes:
            out.append(f"- {path}:")
            out += [f"    {n} × {code} ({ctx.name(code)})" for code, n in sorted(codes.items())]
    return "\n".join(out) + "\n\n"


def _plural(n: int, word: str, plural: str = "") -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def summary(diagnostics: list[Diagnostic], *, fixed: int = 0, unsafe_fixes: bool = False) -> str:
    """ruff's closing lines after a check or a ``--fix``."""
    remaining = len(diagnostics)
    if not remaining and not fixed:
        return "All checks passed!\n"
    found = f"Found {_plural(remaining + fixed, 'error')}"
    out = [f"{found} ({fixed} fixed, {remaining} remaining)." if fixed else f"{found}."]
    applicable = sum(d.fixable(unsafe_fixes) for d in diagnostics)
    hidden = _hidden_fixes(diagnostics, unsafe_fixes)
    hint = f"{_plural(hidden, 'unsafe fix', 'unsafe fixes')} available with `--fix --unsafe-fixes`"
    if applicable:
        out.append(f"[*] {applicable} fixable with `--fix`" + (f" ({hint})." if hidden else "."))
    elif hidden:
        out.append(f"{hint}.")
    return "".join(line + "\n" for line in out)


def diff_summary(remaining: list[Diagnostic], *, fixed: int, unsafe_fixes: bool) -> str:
    """ruff's closing line after ``--diff``; ``remaining`` is what the fixes would leave."""
    if fixed:
        return f"Would fix {_plural(fixed, 'error')}.\n"
    hidden = _hidden_fixes(remaining, unsafe_fixes)
    if hidden:
        fixes = _plural(hidden, "fix", "fixes")
        return f"No errors would be fixed ({fixes} available with `--unsafe-fixes`).\n"
    return ""


def _hidden_fixes(diagnostics: list[Diagnostic], unsafe_fixes: bool) -> int:
    return sum(d.fix is not None and not d.fixable(unsafe_fixes) for d in diagnostics)


def unified_diff(name: str, old: str, new: str) -> str:
    """``--diff``'s output for one file."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), name, name
    )
    marker = "\n\\ No newline at end of file\n"
    return "".join(line if line.endswith(("\n", "\r")) else line + marker for line in lines) + "\n"
