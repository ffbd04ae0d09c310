"""README.md stays true: every rule's documentation is in it, word for word."""

from pathlib import Path

import pytest

from nnx_lint.rules import RULES

README = (Path(__file__).parent.parent / "README.md").read_text()


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_documented(rule):
    assert ("#" + rule.doc.replace("\n### ", "\n#### ")) in README


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_doc_sections(rule):
    for section in ("What it does", "Why is this bad?", "Example", "Use instead", "Fix safety"):
        assert f"### {section}" in rule.doc, section
