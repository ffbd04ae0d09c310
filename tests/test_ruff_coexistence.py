"""ruff and nnx-lint on one code base: ruff must keep nnx-lint's ``# noqa: NNX001`` comments.

Ruff has no plugins, so it does not know NNX codes. Its noqa rules remove them: RUF100
(unused-noqa) drops every code of a directive it fixes, and newer ruff's RUF102
(invalid-rule-code) drops unknown codes outright. ``[tool.ruff.lint] external = ["NNX"]`` tells
ruff the codes belong to another tool. Real ``ruff check --fix`` runs here, with and without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import helpers
import pytest

ROOT = Path(__file__).resolve().parents[1]

# Real NNX001 findings on lines 5 and 6, each suppressed; line 6 also names an unused ruff code.
SUPPRESSED = """\
import jax
from flax import nnx

model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
fast = jax.jit(model)  # noqa: NNX001
faster = jax.jit(model)  # noqa: E501, NNX001
"""
AFTER_RUFF = SUPPRESSED.replace("# noqa: E501, NNX001", "# noqa: NNX001")
UNSUPPRESSED = SUPPRESSED.replace("  # noqa: NNX001", "").replace("  # noqa: E501, NNX001", "")


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _ruff_knows(code: str) -> bool:
    return run(ROOT, "-m", "ruff", "rule", code).returncode == 0


# RUF100 in every ruff; RUF102 too where ruff has it (it took over flagging unknown codes).
NOQA_RULES = ["RUF100"] + (["RUF100,RUF102"] if _ruff_knows("RUF102") else [])


def project(tmp_path: Path, ruff_lint: str) -> Path:
    """A project whose pyproject.toml has the given ``[tool.ruff.lint]`` table (so no ruff
    configuration above the temporary directory applies) and the suppressed file."""
    (tmp_path / "pyproject.toml").write_text(f"[tool.ruff.lint]\n{ruff_lint}")
    path = tmp_path / "m.py"
    path.write_text(SUPPRESSED)
    return path


def ruff_fix(tmp_path: Path, rules: str) -> subprocess.CompletedProcess[str]:
    return run(tmp_path, "-m", "ruff", "check", "--no-cache", "--select", rules, "--fix", "m.py")


def nnx_lint(tmp_path: Path) -> int:
    return helpers.nnx_lint(tmp_path, "m.py").returncode


def test_the_lines_are_real_findings(tmp_path):
    (tmp_path / "m.py").write_text(UNSUPPRESSED)
    assert nnx_lint(tmp_path) == 1
    (tmp_path / "m.py").write_text(SUPPRESSED)
    assert nnx_lint(tmp_path) == 0


@pytest.mark.parametrize("rules", NOQA_RULES)
def test_external_keeps_nnx_noqa(tmp_path, rules):
    path = project(tmp_path, 'external = ["NNX"]\n')
    result = ruff_fix(tmp_path, rules)
    assert result.returncode == 0, result.stdout + result.stderr
    assert path.read_text() == AFTER_RUFF  # only ruff's own unused E501 went
    assert nnx_lint(tmp_path) == 0


@pytest.mark.parametrize("rules", NOQA_RULES)
def test_without_external_ruff_removes_nnx_noqa(tmp_path, rules):
    """The control: the setting is what keeps the comments."""
    path = project(tmp_path, "")
    ruff_fix(tmp_path, rules)
    text = path.read_text()
    assert "faster = jax.jit(model)\n" in text  # the whole directive is gone
    if "RUF102" in rules:
        assert text == UNSUPPRESSED
    assert nnx_lint(tmp_path) == 1
