"""README.md stays true, and every rule's documentation is a test (as Fixit's VALID/INVALID).

- The README's rule sections are generated from the rule files: ``python tests/test_readme.py``
  rewrites them between the ``rules:start`` and ``rules:end`` markers; the test checks them equal.
- Each rule's documented Example is reported with its code; its Use instead reports nothing.
- Each ``nnx-lint`` command of the README's code blocks runs as documented; the install command
  works in a new virtual environment (slow). The test command is ``.ci/run``'s; the benchmark's
  quick run is in ``.ci/run`` too.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from nnx_lint.engine import Settings, check_source
from nnx_lint.rules import RULES, Rule

README_PATH = Path(__file__).parent.parent / "README.md"
START, END = (
    "<!-- rules:start (generated from nnx_lint/rules; python tests/test_readme.py) -->",
    ("<!-- rules:end -->"),
)
SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead", "Fix safety")
EVERY_RULE = Settings(select=("NNX",))  # the opt-in upgrade rules (NNX1) too


def rules_section() -> str:
    """The rule sections of the README, one heading level below the rule files' own."""
    docs = ["#" + rule.doc.strip().replace("\n### ", "\n#### ") for rule in RULES]
    return "\n\n".join(docs)


def readme_with_rules(readme: str) -> str:
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{rules_section()}\n{END}{tail}"


def code_blocks(rule: Rule, section: str) -> list[str]:
    """The ```python blocks of one section of the rule's documentation."""
    body = rule.doc.split(f"### {section}\n", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, re.S)


def test_readme_rule_sections_are_generated_from_the_rules():
    readme = README_PATH.read_text()
    assert START in readme and END in readme
    assert readme == readme_with_rules(readme), "run python tests/test_readme.py"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_doc_sections(rule):
    for section in SECTIONS:
        assert f"### {section}" in rule.doc, section


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_documented_example_is_reported(rule):
    blocks = code_blocks(rule, "Example")
    assert blocks
    for source in blocks:
        found = check_source(source, "example.py", EVERY_RULE)
        assert rule.code in {d.code for d in found}, source


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_documented_use_instead_is_not_reported(rule):
    blocks = code_blocks(rule, "Use instead")
    assert blocks
    for source in blocks:
        assert check_source(source, "example.py", EVERY_RULE) == [], source


if __name__ == "__main__":
    README_PATH.write_text(readme_with_rules(README_PATH.read_text()))
    sys.exit(0)


# The README's commands run ----------------------------------------------------------------------

JIT_MODEL = "import jax\nfrom flax import nnx\n\nmodel = nnx.Linear(2, 3, rngs=nnx.Rngs(0))\n"
JIT_MODEL += "fast = jax.jit(model)\n"


def readme_commands() -> list[str]:
    """The ``nnx-lint`` command lines of the README's code blocks (the usage block's lines, the
    CI workflow's ``- run:`` lines), without their descriptions."""
    readme = README_PATH.read_text()
    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", readme, re.S):
        for line in block.splitlines():
            line = line.strip().removeprefix("- run: ").removeprefix("$ ")
            if line.startswith("nnx-lint ") and not line.startswith("nnx-lint server"):
                found.append(re.split(r"\s{2,}|\s+[>|&]", line)[0])  # no description, redirect
    return found


def test_the_readme_names_its_commands():
    commands = readme_commands()
    assert "nnx-lint --add-noqa PATH ..." in commands and len(commands) >= 9, commands


@pytest.mark.parametrize("command", readme_commands())
def test_each_readme_command_runs(tmp_path, command):
    """Each command, on a project with one finding: it runs as documented (exit 0 or 1: found,
    fixed or explained; never a usage error)."""
    import shlex

    import helpers

    helpers.write(tmp_path / "pyproject.toml", "")
    helpers.write(tmp_path / "src" / "m.py", JIT_MODEL)
    words = shlex.split(command)[1:]
    args = [w for w in words if w not in ("PATH", "...", "[PATH", "...]")]
    args = [a if a not in ("path/", "src/") else "src" for a in args]
    if "--fix" in args or "--diff" in args or "--add-noqa" in args or not args:
        args.append("src")
    stdin = JIT_MODEL if "-" in args else None
    result = helpers.nnx_lint(tmp_path, *args, stdin=stdin)
    assert result.returncode in (0, 1), (command, result.stdout, result.stderr)
    assert "error:" not in result.stderr and "usage:" not in result.stderr
    assert result.stdout or result.stderr


@pytest.mark.slow
def test_the_readme_install_command_works_in_a_fresh_environment(tmp_path):
    """``pip install . && nnx-lint path/`` from a copy of the checkout, in a new virtual
    environment (its dependencies from the package index, as on a fresh machine)."""
    import shutil
    import subprocess

    readme = README_PATH.read_text()
    command = "pip install . && nnx-lint path/"
    assert f"```sh\n{command}\n```" in readme
    checkout = tmp_path / "checkout"
    root = README_PATH.parent
    shutil.copytree(
        root / "nnx_lint", checkout / "nnx_lint", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(root / name, checkout / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (checkout / "path").mkdir()
    (checkout / "path" / "m.py").write_text(JIT_MODEL)
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        ["sh", "-c", command], cwd=checkout, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 1, result.stdout + result.stderr  # installed, and it found
    assert "--> path/m.py:5:8" in result.stdout and "Found 1 error." in result.stdout
