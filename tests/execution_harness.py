"""What the execution tests share: running a program (compiled, or eagerly with jit replaced
by the identity), running nnx-lint on it, and comparing results. Programs import
`nnx_results` from tests/programs, which is put on their PYTHONPATH."""

from __future__ import annotations

import itertools
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import helpers
import numpy as np

REPO = Path(__file__).resolve().parents[1]
PROGRAMS = Path(__file__).resolve().parent / "programs"
TIMEOUT = 300  # seconds per subprocess; each program normally needs 2 to 6 s
RTOL, ATOL = 1e-5, 1e-6

# Runs a program with jit deleted: `jax.jit(f, ...)`, `nnx.jit(f, ...)` and the decorator
# factory forms all return `f` itself, so every call executes eagerly in Python.
EAGER_RUNNER = """\
import runpy
import sys

import jax
from flax import nnx


def eager_jit(fun=None, /, *args, **kwargs):
    return fun if fun is not None else (lambda f: f)


jax.jit = eager_jit
nnx.jit = eager_jit
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@dataclass
class Run:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    arrays: dict[str, np.ndarray] | None  # None: the program wrote no results

    def __str__(self) -> str:
        return (
            f"$ {' '.join(self.argv)}\nexit code {self.returncode}\n"
            f"--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"
        )


class Pending:
    """A program started in the background; `result()` waits for it and loads its .npz."""

    def __init__(self, argv: list[str], workdir: Path, **env: str) -> None:
        self.argv, self.workdir = argv, workdir
        self.out = workdir / "out.npz"
        environ = {k: v for k, v in os.environ.items() if k not in ("JAX_DISABLE_JIT", "NNX_OUT")}
        environ.update(JAX_PLATFORMS="cpu", **env)
        # The programs import `nnx_results` (what they write) from tests/programs.
        environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(PROGRAMS), os.environ.get("PYTHONPATH")])
        )
        self._stdout = open(workdir / "stdout.txt", "w+")  # closed in result()
        self._stderr = open(workdir / "stderr.txt", "w+")
        self._proc = subprocess.Popen(
            [*argv, str(self.out)],
            cwd=workdir,
            env=environ,
            stdout=self._stdout,
            stderr=self._stderr,
            text=True,
        )
        self._run: Run | None = None

    def close(self) -> None:
        """Stop the program if nobody waited for it (an interrupted session)."""
        if self._run is None:
            self._proc.kill()
            self._proc.wait()
            self._stdout.close()
            self._stderr.close()

    def result(self) -> Run:
        if self._run is None:
            try:
                returncode = self._proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
                raise
            outputs = []
            for stream in (self._stdout, self._stderr):
                stream.seek(0)
                outputs.append(stream.read())
                stream.close()
            arrays = None
            if self.out.exists():
                with np.load(self.out) as data:
                    arrays = {key: data[key] for key in data.files}
            self._run = Run(self.argv, returncode, *outputs, arrays)
        return self._run


def run_nnx_lint(path: Path, *args: str) -> subprocess.CompletedProcess:
    argv = ["nnx-lint", *args, str(path)]
    proc = helpers.nnx_lint(path.parent, *args, str(path))
    # 0: nothing left to report, 1: findings remain (e.g. an unsafe fix not applied).
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, (
        f"$ {' '.join(argv)}\nexit code {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    )
    return proc


# -- comparing results ------------------------------------------------------------------------


def output_keys(arrays: dict[str, np.ndarray]) -> list[str]:
    return sorted((k for k in arrays if k.startswith("out/")), key=lambda k: int(k[4:]))


def close(actual: np.ndarray, expected: np.ndarray) -> bool:
    if np.issubdtype(expected.dtype, np.floating):
        return np.allclose(actual, expected, rtol=RTOL, atol=ATOL)
    return np.array_equal(actual, expected)


def assert_same(actual: dict, expected: dict, what: str, keys: list[str] | None = None) -> None:
    """Every array equal (floats within RTOL/ATOL); lists every key that differs."""
    if keys is None:
        missing, extra = sorted(set(expected) - set(actual)), sorted(set(actual) - set(expected))
        assert not missing and not extra, f"{what}: missing {missing}, unexpected {extra}"
        keys = sorted(expected)
    problems = []
    for key in keys:
        a, e = actual[key], expected[key]
        if a.shape != e.shape or a.dtype != e.dtype:
            problems.append(f"{key}: {a.dtype}{list(a.shape)} instead of {e.dtype}{list(e.shape)}")
        elif not close(a, e):
            diff = np.max(np.abs(a.astype(np.float64) - e.astype(np.float64)))
            problems.append(
                f"{key}: max |diff| {diff:.3g}\n    got      {a.ravel()[:6]}\n"
                f"    expected {e.ravel()[:6]}"
            )
    assert not problems, f"{what} differs from the eager reference:\n" + "\n".join(problems)


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """Proof that an eager reference really changes the state it claims to: exact final
    values of counters, BatchNorm layers whose statistics left their initial values, and for
    training loops a loss (the outputs) that goes down."""

    counters: dict[str, float] = field(default_factory=dict)
    batch_norms: tuple[str, ...] = ()
    training: bool = False


def check_eager(evidence: Evidence, run: Run, distinct: bool = False) -> dict[str, np.ndarray]:
    """The reference must run and show its evidence; ``distinct``: no output repeats the one
    before it (every call sees new state)."""
    assert run.returncode == 0 and run.arrays is not None, f"eager reference failed\n{run}"
    arrays = run.arrays
    for key, value in evidence.counters.items():
        np.testing.assert_allclose(arrays[key], value, rtol=RTOL, atol=0, err_msg=key)
    for prefix in evidence.batch_norms:
        assert not np.allclose(arrays[f"{prefix}/mean"], 0.0), f"{prefix}: mean never updated"
        assert not np.allclose(arrays[f"{prefix}/var"], 1.0), f"{prefix}: var never updated"
    outputs = [arrays[k] for k in output_keys(arrays)]
    assert len(outputs) >= 3
    if evidence.training:
        losses = [float(loss) for loss in outputs]
        assert losses[-1] < losses[0], f"eager training does not learn: {losses}"
    if distinct:
        for i, (prev, out) in enumerate(itertools.pairwise(outputs), start=1):
            assert not np.allclose(out, prev), f"eager out/{i} equals out/{i - 1}"
    return arrays
