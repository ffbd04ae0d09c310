"""The pre-commit hooks (.pre-commit-hooks.yaml), run by real pre-commit in throw-away git repos.

The hook repository is a committed copy of this working tree; pre-commit installs it into its
own virtualenv once per session (PRE_COMMIT_HOME in a temporary directory; pip needs PyPI for
libcst and pathspec), and every test reuses that environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit needs git"),
]

ROOT = Path(__file__).resolve().parents[1]
HOOK_REPO_FILES = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml")
INSTALL_TIMEOUT = 900  # the first run creates the hook environment and pip-installs into it

RNN_BUG = """\
import jax
from flax import nnx

model = nnx.RNN(nnx.LSTMCell(3, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(1))
forward = jax.jit(model)
"""
FINDING = "NNX001 [*] `jax.jit` applied to an NNX object (`model`)"  # then, on its own line:
WHERE = " --> model.py:5:11"
FIXED_LINE = "forward = functools.partial(nnx.jit(type(model).__call__), model)\n"


def _run(cwd: Path, env: dict[str, str], *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
    )


def git(cwd: Path, env: dict[str, str], *args: str) -> str:
    result = _run(cwd, env, "git", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="session")
def env(tmp_path_factory) -> dict[str, str]:
    """No user or system git configuration, no PYTHONPATH into this tree, pre-commit's cache in
    a temporary directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PYTHON"))}
    env.update(
        PRE_COMMIT_HOME=str(tmp_path_factory.mktemp("pre-commit-home")),
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.com",
    )
    return env


@pytest.fixture(scope="session")
def config(tmp_path_factory, env) -> str:
    """A .pre-commit-config.yaml using both hooks from a committed copy of this working tree,
    whose environment is installed once here."""
    repo = tmp_path_factory.mktemp("hook-repo")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "nnx_lint", repo / "nnx_lint", ignore=ignore)
    for name in HOOK_REPO_FILES:
        shutil.copy2(ROOT / name, repo / name)
    git(repo, env, "init", "-q")
    git(repo, env, "add", ".")
    git(repo, env, "commit", "-q", "-m", "hooks")
    sha = git(repo, env, "rev-parse", "HEAD").strip()
    text = (
        f"repos:\n  - repo: {repo}\n    rev: {sha}\n    hooks:\n"
        "      - id: nnx-lint\n      - id: nnx-lint-fix\n"
    )
    warm_up = tmp_path_factory.mktemp("warm-up")
    init_project(warm_up, env, text)
    result = pre_commit(warm_up, env, "install-hooks")
    assert result.returncode == 0, result.stdout + result.stderr
    return text


def init_project(path: Path, env: dict[str, str], config_text: str) -> None:
    git(path, env, "init", "-q")
    (path / ".pre-commit-config.yaml").write_text(config_text)
    git(path, env, "add", ".pre-commit-config.yaml")
    git(path, env, "commit", "-q", "-m", "config")


def pre_commit(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return _run(cwd, env, sys.executable, "-m", "pre_commit", *args)


def run_hook(cwd: Path, env: dict[str, str], *hook: str) -> subprocess.CompletedProcess[str]:
    """`pre-commit run [HOOK]` on the staged files, its output checked for one install only."""
    result = pre_commit(cwd, env, "run", "--color", "never", *hook)
    assert "Installing environment" not in result.stdout + result.stderr
    return result


@pytest.fixture
def project(tmp_path, env, config) -> Path:
    init_project(tmp_path, env, config)
    return tmp_path


def stage(project: Path, env: dict[str, str], name: str, text: str) -> Path:
    path = project / name
    path.write_text(text)
    git(project, env, "add", name)
    return path


def test_hook_definitions():
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    # --force-exclude: pre-commit names every staged file, which `exclude` must still skip.
    assert hooks["nnx-lint"]["entry"] == "nnx-lint --force-exclude"
    assert hooks["nnx-lint-fix"]["entry"] == (
        "nnx-lint --force-exclude --fix --exit-non-zero-on-fix"
    )
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert hook["types_or"] == ["python", "pyi", "jupyter", "markdown", "rst"]
        assert hook["require_serial"] is True  # one run sees every file: the class index


def test_check_hook_reports_the_finding(project, env):
    path = stage(project, env, "model.py", RNN_BUG)
    result = run_hook(project, env, "nnx-lint")
    assert result.returncode == 1
    assert FINDING in result.stdout and WHERE in result.stdout
    assert path.read_text() == RNN_BUG


def test_fix_hook_rewrites_fails_once_then_passes(project, env):
    path = stage(project, env, "model.py", RNN_BUG)
    first = run_hook(project, env, "nnx-lint-fix")
    assert first.returncode == 1
    assert "- exit code: 1" in first.stdout  # nnx-lint's own status, not only pre-commit's diff
    assert "- files were modified by this hook" in first.stdout
    fixed = path.read_text()
    assert FIXED_LINE in fixed and "jax.jit" not in fixed
    git(project, env, "add", "model.py")
    second = run_hook(project, env, "nnx-lint-fix")
    assert second.returncode == 0, second.stdout
    assert path.read_text() == fixed
    assert run_hook(project, env, "nnx-lint").returncode == 0


def test_fix_hook_leaves_a_staged_file_the_configuration_excludes(project, env):
    (project / "pyproject.toml").write_text("[tool.nnx-lint]\nextend-exclude = ['vendored/']\n")
    git(project, env, "add", "pyproject.toml")
    (project / "vendored").mkdir()
    path = stage(project, env, "vendored/model.py", RNN_BUG)
    result = run_hook(project, env, "nnx-lint-fix")
    assert result.returncode == 0, result.stdout
    assert path.read_text() == RNN_BUG


def test_check_hook_reports_a_staged_notebook(project, env):
    notebook = Path(__file__).parent / "fixtures" / "notebooks" / "rnn_magics.ipynb"
    stage(project, env, "rnn.ipynb", notebook.read_text(encoding="utf-8"))
    result = run_hook(project, env, "nnx-lint")
    assert result.returncode == 1
    assert "NNX001 " in result.stdout and " --> rnn.ipynb:cell 5:4:11" in result.stdout


def test_clean_python_file_passes(project, env):
    stage(project, env, "clean.py", "from flax import nnx\n\nmodel = nnx.jit(lambda x: x)\n")
    result = run_hook(project, env)
    assert result.returncode == 0, result.stdout
    assert result.stdout.count("Passed") == 2


@pytest.mark.parametrize("staged", [{}, {"notes.txt": "jax.jit(model)\n"}])
def test_no_staged_python_files_passes(project, env, staged):
    for name, text in staged.items():
        stage(project, env, name, text)
    result = run_hook(project, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("Skipped") == 2
