"""Positions computed one statement at a time equal libcst's whole-module PositionProvider."""

from __future__ import annotations

import ast
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from nnx_lint.analysis.positions import Positions
from nnx_lint.analysis.scopes import ScopeBuilder


def _comparable(path: Path) -> bool:
    """A fixture with a statement in it (an empty __init__.py has no positions to compare)
    that the running Python's parser reads (newer syntax falls back to libcst's provider)."""
    text = path.read_text()
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return bool(text.strip())


FIXTURES = sorted(p for p in (Path(__file__).parent / "fixtures").rglob("*.py") if _comparable(p))
SAMPLES = {
    "decorators_comments_crlf": "# header\r\n\r\nimport a; import b\r\n\r\n# c\r\n@d\r\n"
    "@e(1)\r\ndef f(x):\r\n    return g(x)\r\n\r\n\r\nclass C:\r\n    y = h(2)\r\n",
    "semicolons_and_continuations": "x = 1; y = f(\n  2,\n)\nif x:\n    z = [\n"
    "        g(3)]\nelse: w = 4\n",
    "no_trailing_newline": "import jax\nf = jax.jit(g)",
    "tabs_and_unicode": "def f():\n\tname = 'café'; return h(name)\n",
}


def _compare(source: str) -> int:
    module = cst.parse_module(source)
    builder = ScopeBuilder("m", "")
    builder.walk(module)
    ours = Positions(module, source, builder.statement_of)
    assert ours._statement_lines() is not None, "fell back to the whole-module provider"
    reference = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    checked = 0
    for node, expected in reference.items():
        if id(node) in builder.statement_of:
            assert ours[node] == expected, cst.Module([]).code_for_node(node)
            checked += 1
    return checked


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples(name: str) -> None:
    assert _compare(SAMPLES[name]) > 5


def test_fixture_files() -> None:
    assert sum(_compare(p.read_text()) for p in FIXTURES) > 1000
