"""NNX003 proven by execution: `jax.jit` steps that change NNX arguments, on flax 0.11+.

Uses the harness of test_execution.py (programs run in subprocesses, results in an .npz, the
eager reference is the program with `jax.jit`/`nnx.jit` replaced by the identity).

Reported programs (`nnx003_train_step`, `nnx003_method`):

* `test_reported_before_fix_is_silently_wrong`: the unmodified program runs without error, but
  every change the compiled function makes to its NNX arguments is dropped: the train step's
  loss never moves and the model and optimizer end exactly as they started; the method's
  counter stays 0. The eager reference really changes them.
* `test_reported_fix_matches_eager`: nnx-lint reports NNX003 (safe fix) on the decorator, plain
  `--fix` swaps `@jax.jit` for `@nnx.jit` and nothing else, a second `--fix` is a no-op, the
  fixed file is clean, and it gives the eager reference's outputs and final state.

A static NNX argument (`nnx003_static`: `self` static through `@partial(jax.jit,
static_argnums=0)`, a model in `static_argnames` beside a number), trained eagerly between calls:

* `test_static_before_fix_is_stale`: every later call returns the first call's result (the
  parameters were compiled in), while the eager reference's predictions move.
* `test_static_fix_matches_eager`: both sites are reported with a safe fix; `--fix` compiles
  with `nnx.jit` and keeps the number static; idempotent, clean, and equal to eager.

Programs that must not be reported (`nnx003_ok_*`): a read-only model passed to `jax.jit`; a
step that returns the model and optimizer, rebound by the caller; a step that returns
`nnx.state(...)`, applied with `nnx.update`; the split/merge functional style; and hijax mode
(`nnx.var_defaults(hijax=True)`, a `@jax.jit` closure that mutates):

* `test_unreported_is_clean`: `nnx-lint --output-format concise` exits 0 with no finding.
* `test_unreported_runs_correctly`: the program as it is gives the eager reference's outputs
  and final state, and the eager reference really changes the state it claims to.
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
    close,
    output_keys,
    run_nnx_lint,
)

pytestmark = pytest.mark.execution


@dataclass(frozen=True)
class Program(Evidence):
    name: str


REPORTED = [
    Program(
        "nnx003_train_step",
        counters={
            "state/model/dropout/rngs/count": 6,
            "state/optimizer/step": 6,
            "state/optimizer/opt_state/0/count": 6,
        },
        training=True,
    ),
    # 4 batches of 8 samples.
    Program("nnx003_method", counters={"state/model/count": 32}),
    # A bare nnx.Variable passed in and incremented by each of 3 calls.
    Program("nnx003_variable", counters={"state/counter": 3}),
]
UNREPORTED = [
    Program("nnx003_ok_read_only", counters={"state/optimizer/step": 4}),
    Program(
        "nnx003_ok_returned",
        counters={"state/optimizer/step": 6, "state/model/dropout/rngs/count": 6},
        training=True,
    ),
    Program(
        "nnx003_ok_state_update",
        counters={"state/optimizer/step": 5, "state/model/dropout/rngs/count": 5},
        batch_norms=("state/model/bn",),
        training=True,
    ),
    Program(
        "nnx003_ok_functional",
        counters={
            "state/optimizer/step": 5,
            "state/model/dropout/rngs/count": 5,
            "state/metrics/count": 5,
        },
        batch_norms=("state/model/bn",),
        training=True,
    ),
    Program(
        "nnx003_ok_hijax",
        counters={"state/model/calls": 3, "state/model/dropout/rngs/count": 3},
        batch_norms=("state/model/bn",),
    ),
]


def _params(programs: list[Program]) -> list:
    return [pytest.param(p, id=p.name) for p in programs]


def _copy(program: Program, workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(PROGRAMS / f"{program.name}.py", workdir))


def _start(program: Program, workdir: Path) -> Pending:
    return Pending([sys.executable, str(_copy(program, workdir))], workdir)


@pytest.fixture(scope="module")
def eager(tmp_path_factory):
    """A program's eager reference, started at most once per module."""
    started: dict[str, Pending] = {}

    def start(program: Program) -> Pending:
        if program.name not in started:
            workdir = tmp_path_factory.mktemp(f"eager-{program.name}")
            argv = [sys.executable, "-c", EAGER_RUNNER, str(_copy(program, workdir))]
            started[program.name] = Pending(argv, workdir)
        return started[program.name]

    yield start
    for pending in started.values():
        pending.close()


def _findings(proc) -> list[str]:
    return [line for line in proc.stdout.splitlines() if ": NNX" in line]


def _decorator_line(source: str) -> int:
    (line,) = [i for i, text in enumerate(source.splitlines(), 1) if text.strip() == "@jax.jit"]
    return line


# -- reported -------------------------------------------------------------------------------


@pytest.mark.parametrize("program", _params(REPORTED))
def test_reported_before_fix_is_silently_wrong(program: Program, tmp_path: Path, eager) -> None:
    reference = eager(program)
    before = _start(program, tmp_path).result()  # runs alongside the eager reference
    expected = check_eager(program, distinct=True, run=reference.result())
    assert before.returncode == 0 and before.arrays is not None, f"expected a clean run\n{before}"
    got = before.arrays
    outputs = output_keys(expected)
    # The first call sees the same state as eager's first call.
    assert close(got[outputs[0]], expected[outputs[0]]), (got[outputs[0]], expected[outputs[0]])

    if program.name == "nnx003_train_step":
        losses = [float(got[k]) for k in outputs]
        assert all(loss == losses[0] for loss in losses), f"the loss moved: {losses}"
        # Model and optimizer end exactly as they started; eager changed every array but
        # the RNG key (Dropout advances its count, not its key).
        for prefix in ("state/model/", "state/optimizer/"):
            keys = [k for k in expected if k.startswith(prefix)]
            assert len(keys) >= 6
            for key in keys:
                initial = key.replace("state/", "state/initial_", 1)
                assert np.array_equal(got[key], got[initial]), f"{key} changed: {got[key]}"
                if not key.endswith("/rngs/key"):
                    assert not np.array_equal(expected[key], expected[initial]), key
    elif program.name == "nnx003_variable":  # the counter never moves
        assert got["state/counter"] == 0, got["state/counter"]
    else:  # nnx003_method: the running statistics are never updated
        assert got["state/model/count"] == 0
        assert np.array_equal(
            got["state/model/total"], np.zeros_like(expected["state/model/total"])
        )
        # Each later call centres on its own batch only, unlike eager.
        for key in outputs[1:]:
            assert not close(got[key], expected[key]), f"{key} equals the eager result"
        assert_same(got, expected, "the parameters", keys=["state/model/proj/kernel"])


@pytest.mark.parametrize("program", _params(REPORTED))
def test_reported_fix_matches_eager(program: Program, tmp_path: Path, eager) -> None:
    reference = eager(program)
    path = _copy(program, tmp_path)
    original = path.read_text()
    line = _decorator_line(original)

    report = run_nnx_lint(path, "--output-format", "concise")
    findings = _findings(report)
    assert len(findings) == 1 and f"{path.name}:{line}:" in findings[0], report.stdout
    assert "NNX003 [*]" in findings[0], report.stdout

    run_nnx_lint(path, "--fix")
    fixed = path.read_text()
    lines = original.splitlines(keepends=True)
    lines[line - 1] = lines[line - 1].replace("@jax.jit", "@nnx.jit")
    assert fixed == "".join(lines), f"unexpected fix:\n{fixed}"
    _stable_clean_and_eager(program, path, tmp_path, reference, "--fix")


def _stable_clean_and_eager(
    program: Program, path: Path, tmp_path: Path, reference: Pending, *fix: str
) -> None:
    """A fixed program: a second fix changes nothing, nothing is reported, and it runs equal to
    the eager ``reference``."""
    fixed = path.read_text()
    run_nnx_lint(path, *fix)
    assert path.read_text() == fixed, "a second `--fix` run changed the file again"
    clean = run_nnx_lint(path, "--output-format", "concise")
    assert clean.returncode == 0 and not _findings(clean), clean.stdout

    after = Pending([sys.executable, str(path)], tmp_path).result()
    expected = check_eager(program, distinct=True, run=reference.result())
    assert after.returncode == 0 and after.arrays is not None, f"{fixed}\n{after}"
    assert_same(after.arrays, expected, f"the fixed {program.name}.py")


# -- static NNX arguments ------------------------------------------------------------------

STATIC = Program("nnx003_static", counters={"state/optimizer/step": 2})
# The decorators before and after the fix (and the import it leaves unused), by target: the
# model only reads its state, so on flax 0.11+ jax.jit traces it itself (the fastest form);
# before 0.11 Modules are not pytrees and the fix compiles with nnx.jit.
STATIC_FIXED = {
    None: {
        "    @functools.partial(jax.jit, static_argnums=0)\n": "    @jax.jit\n",
        '@functools.partial(jax.jit, static_argnames=("model", "scale"))\n': (
            '@functools.partial(jax.jit, static_argnames=("scale",))\n'
        ),
    },
    "0.10.5": {
        "import jax\n": "",
        "    @functools.partial(jax.jit, static_argnums=0)\n": "    @nnx.jit\n",
        '@functools.partial(jax.jit, static_argnames=("model", "scale"))\n': (
            '@functools.partial(nnx.jit, static_argnames=("scale",))\n'
        ),
    },
}


def test_static_before_fix_is_stale(tmp_path: Path, eager) -> None:
    reference = eager(STATIC)
    before = _start(STATIC, tmp_path).result()
    expected = check_eager(STATIC, run=reference.result())
    assert before.returncode == 0 and before.arrays is not None, str(before)
    got = before.arrays
    outputs = output_keys(expected)
    assert len(outputs) == 6  # (predict, scaled) before training and after each of 2 epochs
    for i, key in enumerate(outputs):
        first = outputs[i % 2]
        assert np.array_equal(got[key], got[first]), f"{key} moved: {got[key]}"
        if i >= 2:  # eager's predictions see the training
            assert not close(expected[key], expected[first]), key
    assert close(got[outputs[0]], expected[outputs[0]])
    assert_same(got, expected, "the trained model", keys=[k for k in expected if "state/" in k])


@pytest.mark.parametrize("target", list(STATIC_FIXED), ids=["jax-jit", "nnx-jit"])
def test_static_fix_matches_eager(tmp_path: Path, eager, target: str | None) -> None:
    reference = eager(STATIC)
    path = _copy(STATIC, tmp_path)
    original = path.read_text()
    version = ("--target-flax-version", target) if target else ()
    report = run_nnx_lint(path, "--output-format", "concise", *version)
    findings = _findings(report)
    assert len(findings) == 2 and all("NNX003 [*]" in f for f in findings), report.stdout
    assert all("static argument" in f for f in findings), report.stdout

    run_nnx_lint(path, "--fix", *version)
    fixed = path.read_text()
    want = original
    for before, after in STATIC_FIXED[target].items():
        assert want.count(before) == 1, before
        want = want.replace(before, after)
    assert fixed == want, f"unexpected fix:\n{fixed}"
    run_nnx_lint(path, "--fix", *version)
    assert path.read_text() == fixed, "a second `--fix` run changed the file again"
    clean = run_nnx_lint(path, "--output-format", "concise", *version)
    assert clean.returncode == 0 and not _findings(clean), clean.stdout

    after = Pending([sys.executable, str(path)], tmp_path).result()
    expected = check_eager(STATIC, run=reference.result())
    assert after.returncode == 0 and after.arrays is not None, f"{fixed}\n{after}"
    assert_same(after.arrays, expected, "the fixed nnx003_static.py")


# -- NNX state values in a dict: reported, no fix (nnx.jit would lose them too) -------------

STATE_DICT = Program("nnx003_state_dict", training=True)


def test_state_dict_changed_is_lost_and_has_no_fix(tmp_path: Path, eager) -> None:
    reference = eager(STATE_DICT)
    path = _copy(STATE_DICT, tmp_path)
    before = _start(STATE_DICT, tmp_path).result()
    expected = check_eager(STATE_DICT, distinct=True, run=reference.result())
    assert before.returncode == 0 and before.arrays is not None, str(before)
    got = before.arrays
    losses = [float(got[k]) for k in output_keys(got)]
    assert losses == [losses[0]] * 3, f"the loss moved: {losses}"  # every update was lost
    assert np.array_equal(got["state/kernel"], got["state/initial_kernel"])
    assert not np.allclose(expected["state/kernel"], expected["state/initial_kernel"])

    report = run_nnx_lint(path, "--output-format", "full")
    assert "NNX003 `states` is changed" in report.stdout, report.stdout
    assert "return `states` and rebind it" in report.stdout, report.stdout
    original = path.read_text()
    run_nnx_lint(path, "--fix", "--unsafe-fixes")
    assert path.read_text() == original  # no fix offered: nnx.jit would lose them as well


# -- not reported ---------------------------------------------------------------------------


@pytest.mark.parametrize("program", _params(UNREPORTED))
def test_unreported_is_clean(program: Program, tmp_path: Path) -> None:
    report = run_nnx_lint(_copy(program, tmp_path), "--output-format", "concise")
    assert report.returncode == 0, report.stdout
    assert "NNX003" not in report.stdout and not _findings(report), report.stdout


@pytest.mark.parametrize("program", _params(UNREPORTED))
def test_unreported_runs_correctly(program: Program, tmp_path: Path, eager) -> None:
    reference = eager(program)
    run = _start(program, tmp_path).result()  # runs alongside the eager reference
    expected = check_eager(program, distinct=True, run=reference.result())
    assert run.returncode == 0 and run.arrays is not None, str(run)
    assert_same(run.arrays, expected, f"{program.name}.py as it is")


@pytest.mark.parametrize("program", _params(REPORTED))
def test_reported_tree_mode_fix_matches_eager(program: Program, tmp_path: Path, eager) -> None:
    """With `--unsafe-fixes` (flax 0.12.5+) the step is compiled in tree mode, the faster form:
    every change it makes is to a Variable's value (RNG counts, the optimizer's update, a
    counter), which tree mode propagates."""
    reference = eager(program)
    path = _copy(program, tmp_path)
    original = path.read_text()
    run_nnx_lint(path, "--fix", "--unsafe-fixes")
    fixed = path.read_text()
    assert "nnx.jit, graph=False)" in fixed and fixed != original, fixed
    _stable_clean_and_eager(program, path, tmp_path, reference, "--fix", "--unsafe-fixes")
