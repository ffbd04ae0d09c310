"""Proof by execution of the Optimizer upgrade rules (NNX101, NNX102): a small training
program written for flax 0.10 (``nnx.Optimizer(model, tx)``, ``optimizer.update(grads)``)
raises on flax 0.11+ what the messages say; ``nnx-lint --fix --select NNX1`` makes it run, with
the losses and final parameters of a hand-computed reference (Adam in numpy, from the same
initial arrays), and a second fix changes nothing. With ``-m multiversion``: the original on
flax 0.10 and the fixed program on each flax 0.11+ interpreter give the same numbers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import helpers
import numpy as np
import pytest

pytestmark = pytest.mark.execution

# Three shapes of a 0.10 train loop, each from the same fixed initial parameters: an
# `nnx.jit` step given the model and the optimizer, a trainer class holding both, and a
# module-level loop passing the gradients by keyword.
PROGRAM = """\
import json
import warnings

import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

warnings.simplefilter("ignore")  # `.value` is deprecated on flax 0.12
KERNEL = np.array([[0.5, -0.25, 0.125], [0.75, 0.1, -0.3]], np.float32)
BIAS = np.array([0.1, -0.2, 0.05], np.float32)
X = np.array([[1.0, 2.0], [-1.0, 0.5], [0.3, -0.7], [2.0, 1.0]], np.float32)
Y = np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5], [0.0, 1.0, 0.0], [2.0, -1.0, 1.0]], np.float32)


def fresh():
    model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
    model.kernel.value = jnp.asarray(KERNEL)
    model.bias.value = jnp.asarray(BIAS)
    return model


def loss_fn(model, x, y):
    return ((model(x) - y) ** 2).mean()


def params(model):
    kernel, bias = model.kernel.value, model.bias.value
    return {"kernel": np.asarray(kernel).tolist(), "bias": np.asarray(bias).tolist()}


@nnx.jit
def train_step(model, optimizer, x, y):
    loss, grads = nnx.value_and_grad(loss_fn)(model, x, y)
    optimizer.update(grads)
    return loss


class Trainer:
    def __init__(self, model):
        self.model = model
        self.optimizer = nnx.Optimizer(self.model, optax.adam(0.05))

    def step(self, x, y):
        loss, grads = nnx.value_and_grad(loss_fn)(self.model, x, y)
        self.optimizer.update(grads)
        return loss


results = {}
model = fresh()
results["initial"] = params(model)
optimizer = nnx.Optimizer(model, optax.adam(0.05))
losses = [float(train_step(model, optimizer, X, Y)) for _ in range(3)]
results["jit_step"] = {"losses": losses, **params(model), "step": int(optimizer.step.value)}

trainer = Trainer(fresh())
losses = [float(trainer.step(X, Y)) for _ in range(3)]
results["trainer"] = {"losses": losses, **params(trainer.model)}

net = fresh()
opt = nnx.Optimizer(net, optax.adam(0.05))
losses = []
for _ in range(3):
    loss, grads = nnx.value_and_grad(loss_fn)(net, X, Y)
    opt.update(grads=grads)
    losses.append(float(loss))
results["loop"] = {"losses": losses, **params(net)}
print("RESULTS " + json.dumps(results))
"""
SHAPES = ("jit_step", "trainer", "loop")
WRT_ERROR = (
    "TypeError: Missing required argument `wrt`. As of Flax 0.11.0 the `wrt` argument is "
    "required, if you want to keep the previous use nnx.ModelAndOptimizer instead of "
    "nnx.Optimizer."
)
GRADS_ERROR = (
    "TypeError: Missing required argument `grads`. As of Flax 0.11.0 update requires both "
    "(model, grads) arguments to be passed. If you want to keep the previous use "
    "nnx.ModelAndOptimizer instead of nnx.Optimizer."
)

KEYWORD_ERROR = "TypeError: Optimizer.update() missing 1 required positional argument: 'model'"


def reference() -> dict[str, object]:
    """Three Adam steps (optax's defaults: b1 0.9, b2 0.999, eps 1e-8) of the mean squared
    error of a linear layer, by hand in float64."""
    kernel = np.array([[0.5, -0.25, 0.125], [0.75, 0.1, -0.3]])
    bias = np.array([0.1, -0.2, 0.05])
    x = np.array([[1.0, 2.0], [-1.0, 0.5], [0.3, -0.7], [2.0, 1.0]])
    y = np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5], [0.0, 1.0, 0.0], [2.0, -1.0, 1.0]])
    lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-8
    m = [np.zeros_like(kernel), np.zeros_like(bias)]
    v = [np.zeros_like(kernel), np.zeros_like(bias)]
    losses = []
    for t in (1, 2, 3):
        error = x @ kernel + bias - y
        losses.append(float((error**2).mean()))
        d = 2 * error / error.size
        grads = [x.T @ d, d.sum(axis=0)]
        new = []
        for i, (p, g) in enumerate(zip((kernel, bias), grads, strict=True)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g**2
            step = lr * (m[i] / (1 - b1**t)) / (np.sqrt(v[i] / (1 - b2**t)) + eps)
            new.append(p - step)
        kernel, bias = new
    return {"losses": losses, "kernel": kernel, "bias": bias}


def _run(python: str, source: str, tmp_path: Path, name: str) -> subprocess.CompletedProcess:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return subprocess.run(
        [python, str(path)],
        capture_output=True,
        text=True,
        timeout=helpers.TIMEOUT,
        env={**helpers.env(), "JAX_PLATFORMS": "cpu"},
    )


def _raised(run: subprocess.CompletedProcess) -> str:
    """The exception the program ended with, as Python printed it (jax may add a note)."""
    assert run.returncode != 0, run.stdout[-2000:]
    lines = [x for x in run.stderr.splitlines() if re.match(r"[\w.]+(Error|Exception): ", x)]
    return lines[-1]


def _results(run: subprocess.CompletedProcess) -> dict[str, dict]:
    assert run.returncode == 0, run.stderr[-3000:]
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULTS "))
    results: dict[str, dict] = json.loads(line[len("RESULTS ") :])
    return results


def _fixed(source: str, tmp_path: Path, version: str, select: str = "NNX1") -> str:
    """``nnx-lint --fix --select NNX1 --target-flax-version VERSION`` on the program (safe
    fixes only)."""
    path = tmp_path / "program.py"
    path.write_text(source)
    args = ("--no-cache", "--fix", "--select", select, "--target-flax-version", version)
    helpers.nnx_lint(tmp_path, *args, str(path))
    return path.read_text()


def _check(results: dict[str, dict]) -> None:
    expected = reference()
    initial = results["initial"]
    np.testing.assert_allclose(initial["kernel"], [[0.5, -0.25, 0.125], [0.75, 0.1, -0.3]])
    np.testing.assert_allclose(initial["bias"], [0.1, -0.2, 0.05])
    for shape in SHAPES:
        got = results[shape]
        np.testing.assert_allclose(got["losses"], expected["losses"], rtol=1e-5, err_msg=shape)
        for name in ("kernel", "bias"):
            np.testing.assert_allclose(
                got[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=shape
            )
    assert results["jit_step"]["step"] == 3


def test_the_reference_learns():
    """The hand-computed reference is a real training run: the loss falls at every step."""
    losses = reference()["losses"]
    assert losses[0] > losses[1] > losses[2]


def test_the_original_raises_what_the_messages_say(tmp_path: Path) -> None:
    """On the installed flax (0.11+), the 0.10 program raises NNX101's error at the first
    construction; with only NNX101's fix applied, it raises NNX102's error at the first
    update; and both messages quote those errors."""
    from nnx_lint.engine import Settings, check_source

    settings = Settings(select=("NNX1",), target_flax_version=(0, 12, 8))
    found = check_source(PROGRAM, "program.py", settings)
    said = {(d.code, d.line): d.message for d in found}
    assert sorted(said) == [
        ("NNX101", 42),
        ("NNX101", 53),
        ("NNX101", 62),
        ("NNX102", 35),
        ("NNX102", 46),
        ("NNX102", 66),
    ]
    assert all(said["NNX101", line].endswith(WRT_ERROR) for line in (42, 53, 62))
    assert said["NNX102", 35].endswith(GRADS_ERROR)
    assert said["NNX102", 46].endswith(GRADS_ERROR)
    assert said["NNX102", 66].endswith(KEYWORD_ERROR)

    run = _run(sys.executable, PROGRAM, tmp_path, "original")
    assert run.returncode != 0
    assert _raised(run) == WRT_ERROR, run.stderr[-2000:]

    half = _fixed(PROGRAM, tmp_path, "0.12.8", select="NNX101")
    assert half.count("wrt=nnx.Param") == 3
    run = _run(sys.executable, half, tmp_path, "half")
    assert run.returncode != 0
    assert _raised(run) == GRADS_ERROR, run.stderr[-2000:]

    # The keyword form (the last loop): everything else fixed, it raises its own error.
    fixed = _fixed(PROGRAM, tmp_path, "0.12.8")
    keyword = fixed.replace("opt.update(net, grads=grads)", "opt.update(grads=grads)")
    assert keyword != fixed
    run = _run(sys.executable, keyword, tmp_path, "keyword")
    assert run.returncode != 0
    assert _raised(run) == KEYWORD_ERROR, run.stderr[-2000:]


def test_the_fixed_program_trains_as_the_reference(tmp_path: Path) -> None:
    """Every finding has a safe fix; the fixed program runs on the installed flax and gives
    the reference's losses and final parameters for each shape; a second fix changes
    nothing."""
    fixed = _fixed(PROGRAM, tmp_path, "0.12.8")
    assert "optimizer.update(model, grads)" in fixed
    assert "self.optimizer.update(self.model, grads)" in fixed
    assert "opt.update(net, grads=grads)" in fixed
    _check(_results(_run(sys.executable, fixed, tmp_path, "fixed")))
    assert _fixed(fixed, tmp_path, "0.12.8") == fixed


PYTHONS = helpers.FLAX_PYTHONS


@pytest.mark.multiversion
@pytest.mark.skipif(not PYTHONS, reason="no NNX_LINT_FLAX_PYTHONS")
def test_the_original_on_flax_010_equals_the_fixed_on_flax_011_and_later(tmp_path: Path) -> None:
    """The original program on each flax < 0.11 interpreter, and the program fixed for each
    flax >= 0.11 (and the installed one) there, all give the reference's numbers from the same
    initial parameters. The NNX101-only fix runs unchanged on flax 0.10 too."""
    old = [p for p in PYTHONS if _version(p) < (0, 11)]
    new = [p for p in PYTHONS if _version(p) >= (0, 11)] + [sys.executable]
    assert old, "no flax 0.10 interpreter among NNX_LINT_FLAX_PYTHONS"
    runs: dict[str, dict[str, dict]] = {}
    for python in old:
        runs[f"original on {_version(python)}"] = _results(
            _run(python, PROGRAM, tmp_path, "original")
        )
        half = _fixed(PROGRAM, tmp_path, helpers.flax_version(python), select="NNX101")
        assert half == PROGRAM  # flax 0.10 needs nothing: below the rules' target
        half = _fixed(PROGRAM, tmp_path, "0.11.0", select="NNX101")
        runs[f"wrt added, on {_version(python)}"] = _results(_run(python, half, tmp_path, "half"))
    for python in new:
        version = helpers.flax_version(python)
        fixed = _fixed(PROGRAM, tmp_path, version)
        assert fixed != PROGRAM
        runs[f"fixed on {version}"] = _results(_run(python, fixed, tmp_path, "fixed"))
    for name, results in runs.items():
        try:
            _check(results)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from e


def _version(python: str) -> tuple[int, ...]:
    return tuple(int(part) for part in helpers.flax_version(python).split(".")[:3])
