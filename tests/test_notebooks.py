"""Jupyter notebooks: the code cells as one program, findings by cell, fixes written back into
the cells they came from and nowhere else.

Fixture cases are ``tests/fixtures/notebooks/<case>.ipynb``: each expected finding is marked
on its line of its cell with ``# expect: CODE:col`` (as in the ``.py`` fixtures);
``<case>.fixed.ipynb`` is the whole expected file after ``--fix`` (compared as text: layout,
outputs, metadata and ids included); ``<case>.snap`` the full output.
``NNX_LINT_UPDATE_SNAPSHOTS=1`` rewrites the snapshots.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from pathlib import Path

import pytest
from helpers import nnx_lint

from nnx_lint import notebooks, output
from nnx_lint.diagnostics import LineIndex
from nnx_lint.engine import Settings, check_text, fix_text
from nnx_lint.rules import RULES_BY_CODE

CASES = Path(__file__).parent / "fixtures" / "notebooks"
EXPECT = re.compile(r"#\s*expect:\s*(?P<items>(?:[A-Z]+\d+:\d+[\s,]*)+)")
UPDATE = os.environ.get("NNX_LINT_UPDATE_SNAPSHOTS") == "1"


def _cases() -> list[Path]:
    return sorted(p for p in CASES.glob("*.ipynb") if not p.name.endswith(".fixed.ipynb"))


def _expected(text: str) -> list[tuple[int, int, str, int]]:
    """(cell, line, code, column) of every marker in the code cells."""
    out = []
    for number, cell in enumerate(json.loads(text)["cells"], start=1):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for row, line in enumerate(source.split("\n"), start=1):
            if m := EXPECT.search(line):
                for item in re.split(r"[\s,]+", m["items"].strip()):
                    code, column = item.split(":")
                    out.append((number, row, code, int(column)))
    return sorted(out)


@pytest.mark.parametrize("case", _cases(), ids=lambda p: p.name)
def test_notebook_fixture(case: Path) -> None:
    text = case.read_text(encoding="utf-8")
    found = check_text(text, str(case), Settings())
    got = sorted((d.cell, d.line, d.code, d.column) for d in found)
    assert got == _expected(text), "\n".join(f"{d.location} {d.code} {d.message}" for d in found)

    shown = output.render(
        "full", found, unsafe_fixes=True, lines={str(case): LineIndex(text)}, rules=RULES_BY_CODE
    )
    shown = shown.replace(f"{CASES}{os.sep}", "").replace(f"{os.path.relpath(CASES)}{os.sep}", "")
    snap = case.with_suffix(".snap")
    if UPDATE:
        snap.write_text(shown)
    assert shown == snap.read_text(), f"{snap} differs (NNX_LINT_UPDATE_SNAPSHOTS=1)"

    fixed = fix_text(text, str(case), Settings()).source
    want = case.with_name(case.stem + ".fixed.ipynb")
    assert fixed == (want.read_text(encoding="utf-8") if want.exists() else text)
    assert fix_text(fixed, str(case), Settings()).source == fixed, "a second --fix changed it"
    if fixed != text:  # only the sources of changed code cells differ
        before, after = json.loads(text), json.loads(fixed)
        for old, new in zip(before["cells"], after["cells"], strict=True):
            assert list(old) == list(new)  # key order
            assert {k: v for k, v in old.items() if k != "source"} == {
                k: v for k, v in new.items() if k != "source"
            }
        assert {k: v for k, v in before.items() if k != "cells"} == {
            k: v for k, v in after.items() if k != "cells"
        }


def test_there_are_notebook_fixtures() -> None:
    assert len(_cases()) >= 3


# -- the command ----------------------------------------------------------------------------


def _copy(tmp_path: Path, name: str) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    return Path(shutil.copy(CASES / name, tmp_path))


def test_directory_walk_lints_notebooks_and_locates_cells(tmp_path: Path) -> None:
    _copy(tmp_path, "rnn_magics.ipynb")
    result = nnx_lint(tmp_path, "--output-format", "concise", ".")
    assert result.returncode == 1
    assert "rnn_magics.ipynb:cell 5:4:11: NNX001 [*]" in result.stdout, result.stdout
    full = nnx_lint(tmp_path, ".").stdout  # the evidence is in the full message
    assert "(cell 3, line 6)" in full  # the evidence's line, in its cell


def test_json_carries_the_cell(tmp_path: Path) -> None:
    _copy(tmp_path, "train_step_dropped_optimizer.ipynb")
    (tmp_path / "plain.py").write_text("import jax\nfrom flax import nnx\n")
    result = nnx_lint(tmp_path, "--output-format", "json", ".")
    (record,) = json.loads(result.stdout)
    assert (record["cell"], record["location"], record["code"]) == (
        4,
        {"column": 2, "row": 1},
        "NNX003",
    )


def test_fix_writes_back_only_the_changed_cell_and_keeps_the_file(tmp_path: Path) -> None:
    path = _copy(tmp_path, "rnn_magics.ipynb")
    path.chmod(0o640)
    before = path.read_text(encoding="utf-8")
    result = nnx_lint(tmp_path, "--fix", ".")
    assert result.returncode == 0, result.stdout + result.stderr
    after = path.read_text(encoding="utf-8")
    assert after == (CASES / "rnn_magics.fixed.ipynb").read_text(encoding="utf-8")
    assert after != before and after.endswith("}\n") and "Ünïcode" in after
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert nnx_lint(tmp_path, "--fix", ".").returncode == 0
    assert path.read_text(encoding="utf-8") == after  # idempotent


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json", "notebook not analysed: not valid JSON"),
        ('{"nbformat": 3, "cells": []}', "nbformat 3 is not supported"),
        ('{"nbformat": 4, "metadata": {}}', "not a Jupyter notebook: no `cells`"),
        ('{"nbformat": 4, "cells": [{"cell_type": "code", "source": 3}]}', "cell 1: `source`"),
    ],
)
def test_a_bad_notebook_gets_one_line_and_the_run_goes_on(
    tmp_path: Path, content: str, says: str
) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "bad.ipynb").write_text(content)
    shutil.copy(CASES / "rnn_magics.ipynb", tmp_path)
    result = nnx_lint(tmp_path, "--output-format", "concise", ".")
    lines = result.stdout.splitlines()
    bad = [line for line in lines if line.startswith("bad.ipynb")]
    assert len(bad) == 1 and "E902" in bad[0] and says in bad[0], result.stdout
    assert any("rnn_magics.ipynb:cell 5:4:11: NNX001" in line for line in lines)


def test_a_notebook_without_code_or_with_a_huge_output_is_fine(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    empty = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "empty.ipynb").write_text(json.dumps(empty))
    data = json.loads((CASES / "rnn_magics.ipynb").read_text(encoding="utf-8"))
    blob = {"data": {"text/plain": "x" * (3 << 20)}, "metadata": {}, "output_type": "display_data"}
    data["cells"][1]["outputs"].append(blob)  # 3 MiB of output, over the size limit for code
    (tmp_path / "big.ipynb").write_text(json.dumps(data, indent=1))
    result = nnx_lint(tmp_path, "--output-format", "concise", ".")
    assert result.stdout.splitlines()[0].startswith("big.ipynb:cell 5:4:11: NNX001"), result.stdout
    assert "empty.ipynb" not in result.stdout


def test_magics_are_masked_not_parsed() -> None:
    text = (CASES / "rnn_magics.ipynb").read_text(encoding="utf-8")
    notebook = notebooks.parse(text)
    assert "%pip" not in notebook.program and "!ls" not in notebook.program
    assert "%%time" not in notebook.program and "encoder?" not in notebook.program
    assert notebook.with_program(notebook.program) == text  # masks come back as they were


def test_review_shapes_crlf_cell_magic_continuations_odd_metadata(tmp_path: Path) -> None:
    """A Windows checkout (CRLF JSON), a `%%bash` cell first (a new import never goes into
    it), `!=` continuing an expression (Python, not a shell escape) and metadata that is not
    a table: linted and fixed like any notebook."""

    def code(src: str) -> dict[str, object]:
        head = {"cell_type": "code", "execution_count": None, "id": "c", "metadata": {}}
        return {**head, "outputs": [], "source": src}

    cells = [
        code("%%bash\npip install flax"),
        code("import jax\nfrom flax import nnx"),
        code(
            "model = nnx.Dropout(0.5, rngs=nnx.Rngs(0))\nok = (\n    model.rate\n    != 0.5\n)\n"
            "f = jax.jit(model)"
        ),
    ]
    data = {"cells": cells, "metadata": {"language_info": None}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "w.ipynb"
    path.write_bytes((json.dumps(data, indent=1) + "\n").replace("\n", "\r\n").encode())
    (tmp_path / "pyproject.toml").write_text("")
    found = nnx_lint(tmp_path, "--output-format", "concise", "w.ipynb")
    assert "w.ipynb:cell 3:6:5: NNX001 [*]" in found.stdout, found.stdout
    assert nnx_lint(tmp_path, "--fix", "w.ipynb").returncode == 0
    raw = path.read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n")  # still CRLF throughout
    fixed = json.loads(raw)
    assert fixed["cells"][0]["source"] == "%%bash\npip install flax"
    assert fixed["cells"][1]["source"].startswith("import functools\n")
    assert "functools.partial(nnx.jit(type(model).__call__), model)" in fixed["cells"][2]["source"]
    assert nnx_lint(tmp_path, "--output-format", "concise", "w.ipynb").returncode == 0
