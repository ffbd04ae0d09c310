"""The house's rules that no other test states: rules own their logic, metadata is light."""

from __future__ import annotations

import re
import subprocess
import sys

import helpers
import pytest

from nnx_lint.rules import RULES

PACKAGE = helpers.ROOT / "nnx_lint"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_a_rules_code_is_written_once_in_its_own_file(rule):
    """No shim, no table elsewhere: the code string stands in the rule's file alone."""
    where = [
        path.relative_to(PACKAGE).as_posix()
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in path.read_text().splitlines()
        if re.search(rf"[\"']{rule.code}[\"']", line)
    ]
    assert where == [f"rules/{rule.code.lower()}.py"]


def test_rule_metadata_imports_without_libcst_or_the_analysis():
    probe = (
        "import sys; from nnx_lint.rules import RULES; "
        "print(sorted(r.code for r in RULES)); "
        "print([m for m in ('libcst', 'nnx_lint.analysis.context', 'nnx_lint.fixes') "
        "if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], env=helpers.env(), capture_output=True, text=True
    ).stdout.splitlines()
    assert out == [str(sorted(r.code for r in RULES)), "[]"]


def test_analysis_reads_no_files_and_knows_no_cache():
    """Analysis is pure: it imports nothing that reads files, caches or prints."""
    forbidden = re.compile(
        r"^\s*(from|import)\s+(nnx_lint\.(files|cache|output|project|config|cli)|pathlib|"
        r"importlib\.metadata|tempfile)\b|\bopen\(|read_text\(|read_bytes\(",
        re.M,
    )
    offenders = [
        path.name
        for path in sorted((PACKAGE / "analysis").glob("*.py"))
        if forbidden.search(path.read_text())
    ]
    assert offenders == []
