"""Markdown/MyST and reST documents: their Python code blocks as one program, findings at their
real lines and columns, fixes written back in place.

Fixture cases are ``tests/fixtures/documents/<case>.md`` / ``.rst``: findings marked on their
lines with ``# expect: CODE:col`` (the column in the document, indentation included);
``<case>.fixed.<ext>`` is the whole expected document after ``--fix``; ``<case>.snap`` the full
output (``NNX_LINT_UPDATE_SNAPSHOTS=1`` rewrites it).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from helpers import nnx_lint

from nnx_lint import documents, output
from nnx_lint.diagnostics import LineIndex
from nnx_lint.engine import Settings, check_text, fix_text
from nnx_lint.rules import RULES_BY_CODE

CASES = Path(__file__).parent / "fixtures" / "documents"
EXPECT = re.compile(r"#\s*expect:\s*(?P<items>(?:[A-Z]+\d+:\d+[\s,]*)+)")
UPDATE = os.environ.get("NNX_LINT_UPDATE_SNAPSHOTS") == "1"


def _cases() -> list[Path]:
    return sorted(
        p for p in CASES.iterdir() if p.suffix in (".md", ".rst") and ".fixed." not in p.name
    )


def _expected(text: str) -> list[tuple[int, str, int]]:
    out = []
    for row, line in enumerate(text.splitlines(), start=1):
        if m := EXPECT.search(line):
            for item in re.split(r"[\s,]+", m["items"].strip()):
                code, column = item.split(":")
                out.append((row, code, int(column)))
    return sorted(out)


@pytest.mark.parametrize("case", _cases(), ids=lambda p: p.name)
def test_document_fixture(case: Path) -> None:
    text = case.read_text(encoding="utf-8")
    found = check_text(text, str(case), Settings())
    assert sorted((d.line, d.code, d.column) for d in found) == _expected(text), "\n".join(
        f"{d.location} {d.code} {d.message}" for d in found
    )
    assert all(d.cell is None for d in found)
    for d in found:  # a doctest's findings have no fix: the example is rewritten by hand
        if d.source_line.lstrip().startswith((">>>", "...")):
            assert d.fix is None and "doctest" in (d.fix_unavailable or ""), d
    shown = output.render(
        "full", found, unsafe_fixes=True, lines={str(case): LineIndex(text)}, rules=RULES_BY_CODE
    )
    shown = shown.replace(f"{CASES}{os.sep}", "").replace(f"{os.path.relpath(CASES)}{os.sep}", "")
    snap = case.with_name(case.name + ".snap")
    if UPDATE:
        snap.write_text(shown)
    assert shown == snap.read_text(), f"{snap} differs (NNX_LINT_UPDATE_SNAPSHOTS=1)"
    fixed = fix_text(text, str(case), Settings()).source
    want = case.with_name(f"{case.stem}.fixed{case.suffix}")
    assert fixed == (want.read_text(encoding="utf-8") if want.exists() else text)
    assert fix_text(fixed, str(case), Settings()).source == fixed, "a second --fix changed it"


def test_there_are_document_fixtures() -> None:
    assert {p.suffix for p in _cases()} == {".md", ".rst"}


def test_blocks_left_out() -> None:
    """Excerpts that do not parse, other languages and blocks marked to skip are no part of
    the program; the program's lines map back to the document's."""
    text = (CASES / "guide.md").read_text(encoding="utf-8")
    document = documents.parse_markdown(text)
    assert "forward = jax.jit(model)" not in document.program  # <!-- nnx-lint: skip -->
    assert "return model(x" not in document.program  # does not parse
    assert "pip install flax" not in document.program  # bash
    line = text.splitlines().index("   model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))") + 1
    program_line = document.program.splitlines().index("model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))")
    assert document.locate(program_line + 1) == (line, 3)  # in a list item: indented by 3


def test_documents_are_linted_when_named_or_included(tmp_path: Path) -> None:
    shutil.copy(CASES / "guide.md", tmp_path)
    shutil.copy(CASES / "migration.rst", tmp_path)
    (tmp_path / "pyproject.toml").write_text("")
    walked = nnx_lint(tmp_path, "--output-format", "concise", ".")
    assert walked.returncode == 0 and "guide.md" not in walked.stdout  # not by default
    named = nnx_lint(tmp_path, "--output-format", "concise", "guide.md")
    assert "guide.md:28:2: NNX003 [*]" in named.stdout, named.stdout
    (tmp_path / "pyproject.toml").write_text(
        '[tool.nnx-lint]\nextend-include = ["*.md", "*.rst"]\n'
    )
    included = nnx_lint(tmp_path, "--output-format", "concise", ".")
    assert "guide.md:28:2: NNX003" in included.stdout, included.stdout
    assert "migration.rst:25:13: NNX001 [*]" in included.stdout
    assert "migration.rst:21:9: NNX001 `jax.jit`" in included.stdout  # a codediff's first side
    assert "migration.rst:43:15: NNX001" in included.stdout  # a doctest paragraph
    fixed = nnx_lint(tmp_path, "--fix", ".")
    assert fixed.returncode == 1, fixed.stdout + fixed.stderr  # the doctests' findings remain
    assert (tmp_path / "guide.md").read_text() == (CASES / "guide.fixed.md").read_text()
    assert (tmp_path / "migration.rst").read_text() == (CASES / "migration.fixed.rst").read_text()


def test_the_flax_gspmd_shape_is_found_in_markdown_as_in_its_notebook(tmp_path: Path) -> None:
    """jupytext pairs: the `.md` and the `.ipynb` are each reported (each is a file a reader
    opens, and each gets the same fix)."""
    notebook = (
        Path(__file__).parent / "fixtures" / "notebooks" / "train_step_dropped_optimizer.ipynb"
    )
    shutil.copy(notebook, tmp_path / "pair.ipynb")
    (tmp_path / "pair.md").write_text((CASES / "guide.md").read_text())
    (tmp_path / "pyproject.toml").write_text('[tool.nnx-lint]\nextend-include = ["*.md"]\n')
    result = nnx_lint(tmp_path, "--output-format", "concise", ".")
    assert "pair.ipynb:cell 4:1:2: NNX003" in result.stdout, result.stdout
    assert "pair.md:28:2: NNX003" in result.stdout


def test_review_shapes_doctests_form_feeds_nested_directives(tmp_path: Path) -> None:
    """A doctest is its own program and never takes a new import; a form feed does not shift
    the lines; code in directives docutils does not know (tabs, `only`) is found."""
    (tmp_path / "pyproject.toml").write_text("")
    doc = (
        "```pycon\n>>> import jax\n>>> from flax import nnx\n```\n\n"
        "```python\nimport jax\nfrom flax import nnx\nmodel = nnx.Dropout(0.5, rngs=nnx.Rngs(0))\n"
        "x = 1\x0c\nf = jax.jit(model)\n```\n"
    )
    (tmp_path / "d.md").write_text(doc)
    found = nnx_lint(tmp_path, "--output-format", "concise", "d.md")
    assert "d.md:11:5: NNX001 [*]" in found.stdout, found.stdout
    assert nnx_lint(tmp_path, "--fix", "d.md").returncode == 0
    fixed = (tmp_path / "d.md").read_text()
    assert fixed.startswith("```pycon\n>>> import jax\n")  # the doctest is as it was
    assert "```python\nimport functools\n\nimport jax\n" in fixed
    assert nnx_lint(tmp_path, "--output-format", "concise", "d.md").returncode == 0
    rst = (
        "Tabs\n====\n\n.. tab-set::\n\n   .. tab-item:: NNX\n\n      .. code-block:: python\n\n"
        "         import jax\n         from flax import nnx\n"
        "         f = jax.jit(nnx.Dropout(0.5, rngs=nnx.Rngs(0)))\n"
    )
    (tmp_path / "t.rst").write_text(rst)
    found = nnx_lint(tmp_path, "--output-format", "concise", "t.rst")
    assert "t.rst:12:14: NNX001" in found.stdout, found.stdout


def test_blockquote_fences_and_myst_code_blocks(tmp_path: Path) -> None:
    """A fence inside a blockquote (its `> ` kept on every line written back, a blank line as
    a bare `>`), and MyST's `{code-block} python`."""
    (tmp_path / "pyproject.toml").write_text("")
    doc = (
        "> A quote:\n>\n> ```python\n> import jax\n> from flax import nnx\n>\n"
        "> m = nnx.Dropout(0.5, rngs=nnx.Rngs(0))\n> g = jax.jit(m)\n> ```\n\n"
        "```{code-block} python\nh = jax.jit(m)\n```\n"
    )
    (tmp_path / "q.md").write_text(doc)
    found = nnx_lint(tmp_path, "--output-format", "concise", "q.md")
    assert "q.md:8:7: NNX001 [*]" in found.stdout and "q.md:12:5: NNX001 [*]" in found.stdout
    assert nnx_lint(tmp_path, "--fix", "q.md").returncode == 0
    fixed = (tmp_path / "q.md").read_text()
    assert "> ```python\n> import functools\n>\n> import jax\n" in fixed, fixed
    assert "> g = functools.partial(nnx.jit(type(m).__call__), m)\n" in fixed
    assert "h = functools.partial(nnx.jit(type(m).__call__), m)\n" in fixed
