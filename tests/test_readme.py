"""README.md stays true, and every rule's documentation is a test (as Fixit's VALID/INVALID).

- The README's rule sections are generated from the rule files: ``python tests/test_readme.py``
  rewrites them between the ``rules:start`` and ``rules:end`` markers; the test checks them equal.
- Each rule's documented Example is reported with its code; its Use instead reports nothing.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from nnx_lint.engine import check_source
from nnx_lint.rules import RULES, Rule

README_PATH = Path(__file__).parent.parent / "README.md"
START, END = (
    "<!-- rules:start (generated from nnx_lint/rules; python tests/test_readme.py) -->",
    ("<!-- rules:end -->"),
)
SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead", "Fix safety")


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
        found = check_source(source, "example.py")
        assert rule.code in {d.code for d in found}, source


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_documented_use_instead_is_not_reported(rule):
    blocks = code_blocks(rule, "Use instead")
    assert blocks
    for source in blocks:
        assert check_source(source, "example.py") == [], source


if __name__ == "__main__":
    README_PATH.write_text(readme_with_rules(README_PATH.read_text()))
    sys.exit(0)
