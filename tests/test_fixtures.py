"""Fixture-driven tests: adding a case is adding a file.

``tests/fixtures/<rule>/<case>.py`` marks each expected diagnostic on its line with a comment
``# expect: NNX001:8`` (code and 1-based column; several may follow one another). Beside it,
``<case>.fixed.py`` is the expected result of ``--fix`` and ``<case>.unsafe.py`` that of
``--fix --unsafe-fixes``; where one is missing, that mode must change nothing (or, for
unsafe, give the same as ``.fixed.py``). A directory named ``*_project`` is one case made of
several files, linted together so that classes defined in one file are known in the others.
A first-line comment ``# nnx-lint: key=value ...`` sets settings (``target-flax-version``,
``select``: comma-separated codes, for the opt-in rules).

Beside each input, ``<file>.snap`` is a snapshot of its full-format output: every message, its
help (the fix's title, or what to do and why there is no fix) and each fix as a diff, so any
change of wording shows in review. ``NNX_LINT_UPDATE_SNAPSHOTS=1 pytest tests/test_fixtures.py``
rewrites them; review the diff before committing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import libcst as cst
import pytest

from nnx_lint import output
from nnx_lint.analysis.project_index import ProjectIndex
from nnx_lint.diagnostics import LineIndex
from nnx_lint.engine import Settings, check_source, fix_source
from nnx_lint.project import build_index
from nnx_lint.rules import RULES_BY_CODE

FIXTURES = Path(__file__).parent / "fixtures"
EXPECT = re.compile(r"#\s*expect:\s*(?P<items>(?:[A-Z]+\d+:\d+[\s,]*)+)")
OUTPUTS = (".fixed.py", ".unsafe.py")
UPDATE = os.environ.get("NNX_LINT_UPDATE_SNAPSHOTS") == "1"


def _is_input(path: Path) -> bool:
    return not path.name.endswith(OUTPUTS)


def _cases() -> list[Path]:
    singles = [
        p
        for p in FIXTURES.rglob("*.py")
        if _is_input(p) and not any(part.endswith("_project") for part in p.parts)
    ]
    projects = [p for p in FIXTURES.rglob("*_project") if p.is_dir()]
    return sorted(singles + projects)


def _settings(source: str, unsafe: bool = False) -> Settings:
    settings = Settings(unsafe_fixes=unsafe)
    first = source.splitlines()[0] if source else ""
    m = re.match(r"#\s*nnx-lint:\s*(.*)", first)
    if m:
        for item in m.group(1).split():
            key, _, value = item.partition("=")
            if key == "target-flax-version":
                version = tuple(int(x) for x in value.split("."))
                settings = replace(settings, target_flax_version=version)
            elif key == "select":
                settings = replace(settings, select=tuple(value.split(",")))
            else:
                raise ValueError(f"unknown fixture setting {key}")
    return settings


def snapshot(path: Path, source: str, index: ProjectIndex) -> str:
    """The full-format output for ``path``, fix diffs included, with paths relative to the
    fixtures directory."""
    found = check_source(source, str(path), _settings(source), index)
    text = output.render(
        "full",
        found,
        unsafe_fixes=True,
        lines={str(path): LineIndex(source)},
        rules=RULES_BY_CODE,
    )
    text = text.replace(f"{FIXTURES}{os.sep}", "")
    return text.replace(f"{os.path.relpath(FIXTURES)}{os.sep}", "")


def _check_snapshot(path: Path, source: str, index: ProjectIndex) -> None:
    got = snapshot(path, source, index)
    snap = path.with_name(path.name[:-3] + ".snap")
    if UPDATE:
        snap.write_text(got)
    assert snap.exists(), f"no snapshot {snap}: run with NNX_LINT_UPDATE_SNAPSHOTS=1"
    assert got == snap.read_text(), f"{snap} differs (NNX_LINT_UPDATE_SNAPSHOTS=1 rewrites it)"


def expected(source: str) -> list[tuple[int, str, int]]:
    out = []
    for row, line in enumerate(source.splitlines(), 1):
        m = EXPECT.search(line)
        if m:
            for item in re.split(r"[\s,]+", m.group("items").strip()):
                code, col = item.split(":")
                out.append((row, code, int(col)))
    return sorted(out)


def _check_file(path: Path, index: ProjectIndex) -> None:
    source = path.read_text()
    found = check_source(source, str(path), _settings(source), index)
    assert sorted((d.line, d.code, d.column) for d in found) == expected(source), "\n".join(
        f"{d.line}:{d.column} {d.code} {d.message}" for d in found
    )
    _check_snapshot(path, source, index)
    safe_out = path.with_name(path.name[:-3] + ".fixed.py")
    unsafe_out = path.with_name(path.name[:-3] + ".unsafe.py")
    safe = fix_source(source, str(path), _settings(source), index).source
    want_safe = safe_out.read_text() if safe_out.exists() else source
    assert safe == want_safe
    unsafe = fix_source(source, str(path), _settings(source, unsafe=True), index).source
    want_unsafe = unsafe_out.read_text() if unsafe_out.exists() else want_safe
    assert unsafe == want_unsafe
    for out, unsafe_mode in ((safe, False), (unsafe, True)):
        if out != source:
            cst.parse_module(out)
            again = fix_source(out, str(path), _settings(source, unsafe=unsafe_mode), index)
            assert again.source == out, "a second --fix changed the file"


@pytest.mark.parametrize("case", _cases(), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture(case: Path) -> None:
    if case.is_dir():
        files = sorted(p for p in case.rglob("*.py") if _is_input(p))
        index = build_index(files)
        for path in files:
            _check_file(path, index)
    else:
        _check_file(case, build_index([case]))


def test_there_are_fixtures() -> None:
    assert len(_cases()) >= 10


def _unsorted_imports(directory: Path, files: list[Path]) -> set[Path]:
    """Files of ``directory`` that ruff's isort rule (I001) flags, run from that directory."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    result = subprocess.run(
        [
            ruff,
            "check",
            "--isolated",
            "--select",
            "I001",
            "--output-format",
            "json",
            *[str(f.relative_to(directory)) for f in files],
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )
    return {Path(d["filename"]).resolve() for d in json.loads(result.stdout)}


def test_fixes_keep_imports_sorted() -> None:
    """Where a case's input passes ruff's import sorting, its fixed outputs pass too."""
    directories: dict[Path, list[Path]] = {}
    for case in _cases():
        directory = case if case.is_dir() else case.parent
        inputs = sorted(case.rglob("*.py")) if case.is_dir() else [case]
        for path in inputs:
            outputs = [path.with_name(path.name[:-3] + suffix) for suffix in OUTPUTS]
            directories.setdefault(directory, []).extend(
                [path, *[o for o in outputs if o.exists()]]
            )
    checked = 0
    for directory, files in directories.items():
        flagged = _unsorted_imports(directory, files)
        for path in files:
            if not _is_input(path) or path.resolve() in flagged:
                continue
            for suffix in OUTPUTS:
                out = path.with_name(path.name[:-3] + suffix)
                if out.exists():
                    assert out.resolve() not in flagged, f"{out} has unsorted imports"
                    checked += 1
    assert checked >= 20
