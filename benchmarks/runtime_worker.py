"""Runs the programs of the run-time benchmark in one interpreter with jax and flax (any
version; nnx-lint need not be installed there) and prints one JSON object per program.

    python runtime_worker.py JOB.json

JOB: {"reference": {shape: original program}, "forms": [[shape, label, program], ...],
"calls": K, "seconds": S}. For each shape the original program is first run eagerly (`jax.jit`
and `nnx.jit` replaced by the identity): K calls of its `step()`, the parameters changed by
`models.bump` between calls, as training would. Each form is then run the same way from a
fresh start and compared with it (outputs of every call, and the final state of its `model`
and, when it has one, `optimizer`): "ok", "WRONG" or "raises <Error>". Then the `step()` of
every form of the shape that runs is timed side by side (``timed``): per-call medians.
A program whose eager run raises (an API this flax lacks) gets one "eager" row and no others.
"""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

warnings.filterwarnings("ignore")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

RTOL, ATOL = 1e-5, 1e-6


def _identity_jit(fun: Any = None, /, *args: Any, **kwargs: Any) -> Any:
    return fun if fun is not None else (lambda f: f)


@contextlib.contextmanager
def eager() -> Iterator[None]:
    saved = jax.jit, nnx.jit
    jax.jit = nnx.jit = _identity_jit
    try:
        yield
    finally:
        jax.jit, nnx.jit = saved


def load(path: str) -> dict[str, Any]:
    """A fresh run of the program's module-level code (its own model, seeded alike)."""
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    return runpy.run_path(path, run_name="fixcost_program")


def leaves(tree: Any) -> list[np.ndarray]:
    out = []
    for leaf in jax.tree.leaves(tree):
        if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        out.append(np.asarray(leaf))
    return out


def trace(path: str, calls: int) -> list[np.ndarray]:
    """Outputs of ``calls`` calls, the parameters bumped between them, then the final state."""
    step: Callable[[], Any] = load(path)["step"]
    namespace = step.__globals__  # run_path returns a copy; a step may rebind the model
    bump = sys.modules["models"].bump
    results: list[np.ndarray] = []
    for i in range(calls):
        if i:
            bump(namespace["model"])
        results += leaves(step())
    for name in ("model", "optimizer"):
        if name in namespace:
            results += leaves(nnx.state(namespace[name]))
    return results


def verdict(expected: list[np.ndarray], got: list[np.ndarray]) -> str:
    same = len(expected) == len(got) and all(
        a.shape == b.shape and np.allclose(a, b, rtol=RTOL, atol=ATOL)
        for a, b in zip(expected, got, strict=True)
    )
    return "ok" if same else "WRONG"


def timed(paths: dict[str, str], seconds: float) -> dict[str, float]:
    """Per-call medians of each program's ``step()``, timed side by side: each loaded once and
    warmed up, then rounds in which every program makes a batch of calls (in rotating order,
    so that no form always runs first), until ``seconds`` per program have passed."""
    steps = {label: load(path)["step"] for label, path in paths.items()}
    batch: dict[str, int] = {}
    for label, step in steps.items():
        for _ in range(2):
            jax.block_until_ready(step())
        start = time.perf_counter()
        jax.block_until_ready(step())
        batch[label] = max(1, min(50, int(0.005 / max(time.perf_counter() - start, 1e-6))))
    samples: dict[str, list[float]] = {label: [] for label in steps}
    order = list(steps)
    rounds = 0
    deadline = time.perf_counter() + seconds * len(steps)
    while rounds < 5 or (time.perf_counter() < deadline and rounds < 200):
        for label in order:
            step, n = steps[label], batch[label]
            start = time.perf_counter()
            for _ in range(n):
                out = step()
            jax.block_until_ready(out)
            samples[label].append((time.perf_counter() - start) / n)
        order = order[1:] + order[:1]
        rounds += 1
    return {label: statistics.median(times) for label, times in samples.items()}


def main() -> None:
    with open(sys.argv[1]) as f:
        job = json.load(f)
    calls, seconds = job["calls"], job["seconds"]
    expected: dict[str, list[np.ndarray]] = {}
    for shape, path in job["reference"].items():
        try:
            with eager():
                expected[shape] = trace(path, calls)
        except Exception as exc:  # a program this flax cannot run at all
            error = traceback.format_exception_only(exc)[-1].strip()[:300]
            row = {"shape": shape, "form": "eager", "seconds": None, "error": error}
            print(json.dumps({**row, "status": f"raises {type(exc).__name__}"}), flush=True)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for shape, label, path in job["forms"]:
        if shape not in expected:
            continue
        row: dict[str, Any] = {"shape": shape, "form": label, "seconds": None, "path": path}
        try:
            row["status"] = verdict(expected[shape], trace(path, calls))
        except Exception as exc:  # the original raising is a result, not a failure
            row["status"] = f"raises {type(exc).__name__}"
            row["error"] = traceback.format_exception_only(exc)[-1].strip()[:300]
        rows[shape, label] = row
    for shape in expected if seconds > 0 else ():  # 0: correctness only
        runnable = {
            label: row["path"]
            for (s, label), row in rows.items()
            if s == shape and not row["status"].startswith("raises")
        }
        for label, median in timed(runnable, seconds).items():
            rows[shape, label]["seconds"] = median
    for row in rows.values():
        del row["path"]
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
