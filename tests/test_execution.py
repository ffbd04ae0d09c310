"""Proof by execution: real Flax NNX programs, run before and after `nnx-lint --fix`.

Each program in tests/programs/ is an ordinary user script. It writes the output of every
compiled call and the flattened final `nnx.state` of its objects (params, RNG counts and keys,
BatchNorm statistics, plain Variables, optimizer state) to the .npz file named on its command
line. For every program:

* `test_before_fix_fails`: the unmodified program fails in the specific way measured on
  flax 0.12.8 (a TraceContextError or, for a train step, a ValueError; or silently stale
  results).
* `test_eager_reference`: the eager reference runs, really mutates state, and agrees with an
  independent eager mechanism (JAX_DISABLE_JIT=1).
* `test_fix_matches_eager`: `nnx-lint --fix` (plus `--unsafe-fixes` where the fix is unsafe;
  `--fix` alone must then leave the file alone) rewrites the program, a second run is a no-op,
  and the fixed program gives the same outputs, call by call, and the same final state as the
  eager reference.

The eager reference is the unmodified program run with `jax.jit` and `nnx.jit` replaced by the
identity, i.e. the program with jit deleted: exactly the semantics that jit promises to keep
(and that nnx.jit promises to keep for state updates too). It is preferred to JAX_DISABLE_JIT
as the primary reference because JAX_DISABLE_JIT also runs JAX's own internally jitted
functions op by op, parameter initialisers included, which on jax 0.10.2 changes initial
kernels by 1 ulp; the identity keeps those compiled, so initial parameters are bit-identical
to the compiled runs and any difference comes from the transformed code alone. The two
mechanisms are cross-checked in `test_eager_reference`.

Floats are compared with a tight tolerance (XLA may fuse and reorder float operations under
jit; measured differences are at most ~3e-6 on values of order 3), integers and RNG keys
exactly.
"""

from __future__ import annotations

import ast
import itertools
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("optax")

from execution_harness import (
    EAGER_RUNNER,
    PROGRAMS,
    Evidence,
    Pending,
    assert_same,
    check_eager,
    output_keys,
    run_nnx_lint,
)

pytestmark = pytest.mark.execution

TCE = "flax.errors.TraceContextError: "


@dataclass(frozen=True)
class Case(Evidence):
    program: str
    # "error": the program must crash with `error` in stderr; "stale": it runs, but the compiled
    # function keeps returning its first result while the parameters change.
    before: str
    bad_code: str  # the offending snippet; the fix must remove it
    error: str = ""
    unsafe: bool = False  # the fix changes call sites: only `--fix --unsafe-fixes` applies it
    # `--fix --unsafe-fixes` compiles in tree mode (`graph=False`, flax 0.12.5+): every change
    # the call makes is to a Variable's value.
    tree: bool = False


CASES = [
    Case(
        "rnn_lstm",
        "error",
        "jax.jit(model)",
        TCE + "Cannot mutate RngCount from a different trace level",
        # 3 calls, each drawing the LSTM's initial carry (c and h) from the RNN's stream.
        counters={"state/model/rngs/count": 6},
        tree=True,
    ),
    Case(
        "jit_module",
        "error",
        "jax.jit(model)",
        TCE + "Cannot mutate Variable from a different trace level",
        counters={"state/model/num_calls": 3, "state/model/dropout/rngs/count": 3},
        batch_norms=("state/model/bn",),
        tree=True,
    ),
    Case(
        "jit_method",
        "error",
        "jax.jit(model.encode)",
        TCE + "Cannot mutate Variable from a different trace level",
        counters={"state/model/encoded": 3 * 8, "state/model/noise/rngs/count": 3},
    ),
    Case(
        "closure_decorated",
        "error",
        "@jax.jit",
        TCE + "Cannot mutate BatchStat from a different trace level",
        unsafe=True,
        counters={"state/model/dropout/rngs/count": 3},
        batch_norms=("state/model/bn",),
        tree=True,
    ),
    Case(
        "closure_lambda",
        "error",
        "jax.jit(lambda x: model(x))",
        TCE + "Cannot mutate Variable from a different trace level",
        unsafe=True,
        # sum(linspace(0, 1, 40)) * (1 + 2 + 3)
        counters={"state/model/seen": 120.0, "state/model/dropout/rngs/count": 3},
        tree=True,
    ),
    Case(
        "stale_params",
        "stale",
        "jax.jit(model)",
        counters={"state/optimizer/step": 2},
    ),
    Case(
        "closure_container",
        "error",
        "@jax.jit",
        TCE + "Cannot mutate RngCount from a different trace level",
        unsafe=True,
        counters={
            "state/q/drop/rngs/count": 3,
            "state/target/drop/rngs/count": 3,
            "state/first/drop/rngs/count": 3,
            "state/second/drop/rngs/count": 3,
        },
        tree=True,
    ),
    Case(
        "partial_bound",
        "error",
        "jax.jit(functools.partial(forward, model))",
        TCE + "Cannot mutate BatchStat from a different trace level",
        counters={"state/model/dropout/rngs/count": 3},
        batch_norms=("state/model/bn",),
    ),
    Case(
        "partial_stale",
        "stale",
        "jax.jit(partial(predict_fn, model))",
        counters={"state/optimizer/step": 2},
    ),
    Case(
        "nnx_jit_module",
        "error",
        "nnx.jit(model)",
        TCE + "Cannot mutate Variable from a different trace level",
        counters={"state/model/steps": 3, "state/model/dropout/rngs/count": 3},
        batch_norms=("state/model/bn",),
    ),
    Case(
        "train_step_closure",
        "error",
        "@jax.jit",
        # Not a TraceContextError on flax 0.12.8: `nnx.value_and_grad` inside the traced
        # closure refuses the outer-trace model before any mutation is attempted.
        "ValueError: Cannot extract graph node from different trace level",
        unsafe=True,
        counters={
            "state/optimizer/step": 5,
            "state/optimizer/opt_state/0/count": 5,
            "state/model/dropout/rngs/count": 5,
        },
        batch_norms=("state/model/bn",),
        training=True,
    ),
]
PARAMS = [pytest.param(case, id=case.program) for case in CASES]
# Safe fixes that `--unsafe-fixes` turns into tree mode (the unsafe ones are run so above; the
# method and nnx.jit shapes in tree mode are run by tests/test_fix_runtime.py).
TREE = [pytest.param(case, id=case.program) for case in CASES if case.tree and not case.unsafe]


# -- running programs -------------------------------------------------------------------------


def _copy_program(case: Case, workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(PROGRAMS / f"{case.program}.py", workdir))


def _start_program(case: Case, workdir: Path, **env: str) -> Pending:
    return Pending([sys.executable, str(_copy_program(case, workdir))], workdir, **env)


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """A program's eager reference (or its JAX_DISABLE_JIT=1 run), started once per session.

    `test_before_fix_fails` starts both early so that they run alongside the other programs.
    """
    started: dict[tuple[str, bool], Pending] = {}

    def start(case: Case, disable_jit: bool = False) -> Pending:
        key = (case.program, disable_jit)
        if key not in started:
            kind = "disable-jit" if disable_jit else "eager"
            workdir = tmp_path_factory.mktemp(f"{kind}-{case.program}")
            program = _copy_program(case, workdir)
            if disable_jit:
                started[key] = Pending([sys.executable, str(program)], workdir, JAX_DISABLE_JIT="1")
            else:
                argv = [sys.executable, "-c", EAGER_RUNNER, str(program)]
                started[key] = Pending(argv, workdir)
        return started[key]

    yield start
    for pending in started.values():
        pending.close()


def _code_only(source: str) -> str:
    """The program's code, normalised, without its docstring and comments."""
    tree = ast.parse(source)
    if tree.body and isinstance(tree.body[0], ast.Expr):
        tree.body.pop(0)
    return ast.unparse(tree)


# -- the tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", PARAMS)
def test_before_fix_fails(case: Case, tmp_path: Path, reference, request) -> None:
    eager = reference(case)
    started = [eager]
    if f"test_eager_reference[{case.program}]" in {item.name for item in request.session.items}:
        started.append(reference(case, disable_jit=True))  # runs meanwhile
    before = _start_program(case, tmp_path).result()
    for pending in started:
        pending.result()  # at most three programs run at a time
    if case.before == "error":
        assert before.returncode != 0, f"expected a crash\n{before}"
        assert case.error in before.stderr, f"expected {case.error!r}\n{before}"
        assert before.arrays is None
        return
    # "stale": the parameters are trained (identically to eager), but the compiled function
    # returns its first result forever, since it captured the parameters as constants.
    assert before.returncode == 0 and before.arrays is not None, str(before)
    expected = check_eager(case, eager.result())
    outputs = output_keys(expected)
    for key in outputs[1:]:
        assert np.array_equal(before.arrays[key], before.arrays[outputs[0]]), (
            f"{key}: expected the stale first result {before.arrays[outputs[0]]}, "
            f"got {before.arrays[key]}"
        )
    for prev, key in itertools.pairwise(outputs):
        assert not np.allclose(expected[key], expected[prev]), f"eager {key} did not change"
    state = [k for k in expected if k.startswith("state/")]
    assert_same(before.arrays, expected, "the unfixed program's final state", keys=state)


@pytest.mark.parametrize("case", PARAMS)
def test_eager_reference(case: Case, reference) -> None:
    eager, disabled = reference(case), reference(case, disable_jit=True).result()
    expected = check_eager(case, eager.result())
    assert disabled.returncode == 0 and disabled.arrays is not None, str(disabled)
    assert_same(disabled.arrays, expected, "the JAX_DISABLE_JIT=1 run")


@pytest.mark.parametrize("case", PARAMS)
def test_fix_matches_eager(case: Case, tmp_path: Path, reference) -> None:
    eager = reference(case)
    program = _copy_program(case, tmp_path)
    original = program.read_text()

    if case.unsafe:
        run_nnx_lint(program, "--fix")
        assert program.read_text() == original, "`--fix` applied an unsafe fix"
    fix = ("--fix", "--unsafe-fixes") if case.unsafe else ("--fix",)
    run_nnx_lint(program, *fix)
    fixed = program.read_text()
    assert fixed != original, f"`nnx-lint {' '.join(fix)}` left {case.program}.py unchanged"
    # A model that only reads its state becomes a traced argument of jax.jit itself (flax
    # 0.11+: the fastest correct form); one whose state changes, an argument of nnx.jit.
    assert ("jax.jit" if case.before == "stale" else "nnx.jit") in _code_only(fixed), fixed
    assert case.bad_code not in _code_only(fixed), fixed
    assert ("graph=False" in _code_only(fixed)) == (case.unsafe and case.tree), fixed
    compile(fixed, str(program), "exec")
    run_nnx_lint(program, *fix)
    assert program.read_text() == fixed, "a second `--fix` run changed the file again"

    after = Pending([sys.executable, str(program)], tmp_path).result()
    expected = check_eager(case, eager.result())
    assert after.returncode == 0 and after.arrays is not None, f"{fixed}\n{after}"
    assert_same(after.arrays, expected, f"the fixed {case.program}.py")


@pytest.mark.parametrize("case", TREE)
def test_tree_mode_fix_matches_eager(case: Case, tmp_path: Path, reference) -> None:
    """The faster unsafe form: `nnx.jit(..., graph=False)` where the call only changes
    Variables' values (RNG counts, BatchNorm statistics, counters)."""
    eager = reference(case)
    program = _copy_program(case, tmp_path)
    run_nnx_lint(program, "--fix", "--unsafe-fixes")
    fixed = program.read_text()
    assert "graph=False" in _code_only(fixed), fixed
    assert case.bad_code not in _code_only(fixed), fixed
    run_nnx_lint(program, "--fix", "--unsafe-fixes")
    assert program.read_text() == fixed, "a second `--fix` run changed the file again"

    after = Pending([sys.executable, str(program)], tmp_path).result()
    expected = check_eager(case, eager.result())
    assert after.returncode == 0 and after.arrays is not None, f"{fixed}\n{after}"
    assert_same(after.arrays, expected, f"the tree-mode fix of {case.program}.py")
