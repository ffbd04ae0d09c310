"""Notebooks proven by execution: their code cells run in order (as a script of the program
nnx-lint lints, magics masked), before and after `nnx-lint --fix` on the `.ipynb`, against the
eager reference (jit deleted), as in test_execution.py.

* `notebook_rnn.ipynb`: the reported `jax.jit(nnx.RNN(nnx.LSTMCell(...)))`; before the fix
  calling it raises TraceContextError; after it the outputs and final state equal eager's.
* `notebook_train_step.ipynb`: a `@jax.jit` train step that returns the model but not the
  optimizer (the shape of flax's `flax_gspmd` guide); before the fix it runs but the
  optimizer never steps; after it, everything equals eager's.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from execution_harness import (
    EAGER_RUNNER,
    PROGRAMS,
    Evidence,
    Pending,
    assert_same,
    check_eager,
    run_nnx_lint,
)

from nnx_lint import notebooks

pytestmark = pytest.mark.execution


@dataclass(frozen=True)
class Notebook(Evidence):
    name: str
    code: str  # the finding's code
    cell: int  # and cell


CASES = [
    Notebook("notebook_rnn", "NNX001", 3, counters={"state/model/rngs/count": 6}),
    Notebook(
        "notebook_train_step", "NNX003", 4, counters={"state/optimizer/step": 4}, training=True
    ),
]


def _script(notebook: Path, workdir: Path) -> Path:
    """The notebook's code cells in order, as one script (what a kernel runs, magics aside)."""
    script = workdir / f"{notebook.stem}.py"
    script.write_text(notebooks.parse(notebook.read_text(encoding="utf-8")).program)
    return script


def _run(notebook: Path, workdir: Path, eager: bool = False) -> Pending:
    workdir.mkdir(parents=True, exist_ok=True)
    script = _script(notebook, workdir)
    argv = (
        [sys.executable, "-c", EAGER_RUNNER, str(script)]
        if eager
        else [sys.executable, str(script)]
    )
    return Pending(argv, workdir)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_notebook_fails_before_the_fix_and_matches_eager_after(case: Notebook, tmp_path) -> None:
    path = Path(shutil.copy(PROGRAMS / f"{case.name}.ipynb", tmp_path))
    reference = _run(path, tmp_path / "eager", eager=True)
    before = _run(path, tmp_path / "before").result()
    expected = check_eager(case, run=reference.result())
    if case.name == "notebook_rnn":
        assert before.returncode != 0 and "TraceContextError" in before.stderr, str(before)
    else:  # runs, but the optimizer never steps: Adam restarts every step
        assert before.returncode == 0 and before.arrays is not None, str(before)
        assert before.arrays["state/optimizer/step"] == 0
        assert not np.allclose(before.arrays["state/model/kernel"], expected["state/model/kernel"])

    report = run_nnx_lint(path, "--output-format", "concise")
    assert f"{path.name}:cell {case.cell}:" in report.stdout and case.code in report.stdout
    run_nnx_lint(path, "--fix")
    fixed = path.read_text(encoding="utf-8")
    assert run_nnx_lint(path, "--output-format", "concise").returncode == 0
    after = _run(path, tmp_path / "after").result()
    assert after.returncode == 0 and after.arrays is not None, f"{fixed}\n{after}"
    assert_same(after.arrays, expected, f"the fixed {path.name}")
