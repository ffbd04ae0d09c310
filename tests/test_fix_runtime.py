"""The run-time benchmark's programs as a test (`benchmarks/runtime.py --check`): for every
shape a rule fixes, on a pure model and on one whose state changes, `nnx-lint --fix` and
`nnx-lint --fix --unsafe-fixes` rewrite the program, and each rewritten program runs and equals
an eager run of the original (outputs of every call, with a parameter update made between calls,
and the final state of the model and optimizer).

On the installed flax in the default suite. On other flax versions when
``NNX_LINT_FLAX_PYTHONS`` names their interpreters (``os.pathsep``-separated; e.g. virtual
environments with flax 0.10.5 and 0.11.0): nnx-lint fixes for each interpreter's flax
(``--target-flax-version``) and the programs run there (`multiversion` marker; README, "Tests")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import helpers
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
PYTHONS = helpers.FLAX_PYTHONS


def _rows(tmp_path: Path, python: str) -> list[dict[str, object]]:
    out = tmp_path / "rows.json"
    cmd = [sys.executable, str(REPO / "benchmarks" / "runtime.py"), "--check"]
    proc = subprocess.run(
        [*cmd, "--python", python, "--json", str(out)], capture_output=True, text=True
    )
    assert out.exists(), proc.stdout + proc.stderr
    rows: list[dict[str, object]] = json.loads(out.read_text())
    broken = [r for r in rows if r["form"] in ("fixed", "unsafe fix") and r["status"] != "ok"]
    assert not broken and proc.returncode == 0, proc.stdout + proc.stderr
    return rows


def _check(rows: list[dict[str, object]], version_at_least_0_11: bool) -> None:
    ran = {(r["kind"], r["shape"]) for r in rows if r["form"] == "original"}
    fixed = {(r["kind"], r["shape"]) for r in rows if r["form"] in ("fixed", "unsafe fix")}
    # The check can fail: every original that runs is wrong or raises.
    originals = [r for r in rows if r["form"] == "original"]
    assert originals and all(r["status"] != "ok" for r in originals), originals
    # Every shape run has a fix (a changing model compiled where it is called: only the unsafe
    # one that binds it once, after it is made; nnx.jit there would compile on every call).
    missing = ran - fixed
    if not version_at_least_0_11:  # a pure model compiled inline: jax.jit cannot trace it
        missing -= {("pure", "nnx001_inline")}
    assert not missing, missing


@pytest.mark.execution
def test_fixed_programs_equal_eager_on_the_installed_flax(tmp_path: Path) -> None:
    rows = _rows(tmp_path, sys.executable)
    _check(rows, version_at_least_0_11=True)
    assert len({r["shape"] for r in rows}) >= 8


@pytest.mark.multiversion
@pytest.mark.parametrize("python", PYTHONS or [pytest.param("", marks=pytest.mark.skip)])
def test_fixed_programs_equal_eager_on_other_flax_versions(tmp_path: Path, python: str) -> None:
    version = helpers.flax_version(python)
    rows = _rows(tmp_path, python)
    newer = tuple(int(x) for x in version.split(".")[:2]) >= (0, 11)
    _check(rows, version_at_least_0_11=newer)


# Why the forms that bind an object once (nnx.cached_partial, nnx.jit_partial), though faster
# than nnx.jit, are emitted only with --unsafe-fixes and only where the file shows nothing
# changing the object's structure after binding: they fix its graph when they are made, so a
# later `.eval()` or a replaced submodule is not seen (flax 0.12.8; the ground truth calls
# cached_partial correct, having checked parameter updates only). The per-call forms see both.
FORMS_AFTER_EVAL = """\
import functools, json, sys
import jax, jax.numpy as jnp, numpy as np
from flax import nnx

class Model(nnx.Module):
    def __init__(self, rngs):
        self.linear = nnx.Linear(3, 3, rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=rngs)
    def __call__(self, x):
        return self.drop(self.linear(x))

FORMS = {
    "eager": lambda m: m,
    "cached_partial": lambda m: nnx.cached_partial(nnx.jit(type(m).__call__), m),
    "jit_partial": lambda m: nnx.jit_partial(type(m).__call__, m, graph=False),
    "nnx.jit": lambda m: functools.partial(nnx.jit(type(m).__call__), m),
    "tree mode": lambda m: functools.partial(nnx.jit(type(m).__call__, graph=False), m),
}
x = jnp.ones((2, 3))
results = {}
for name, make in FORMS.items():
    m = Model(nnx.Rngs(0))
    f = make(m)
    f(x)
    m.eval()  # Dropout off: the output is the Linear's
    after_eval = f(x)
    m.linear = nnx.Linear(3, 3, rngs=nnx.Rngs(7))  # a replaced submodule
    after_swap = f(x)
    results[name] = [np.asarray(after_eval).tolist(), np.asarray(after_swap).tolist()]
json.dump(results, sys.stdout)
"""


@pytest.mark.execution
def test_bound_forms_miss_an_eval_and_a_replaced_submodule() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", FORMS_AFTER_EVAL],
        capture_output=True,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert proc.returncode == 0, proc.stderr
    results = {k: np.array(v) for k, v in json.loads(proc.stdout).items()}
    eager = results.pop("eager")
    for bound in ("cached_partial", "jit_partial"):
        stale = results.pop(bound)
        assert not np.allclose(stale[0], eager[0]) and not np.allclose(stale[1], eager[1])
    for name, got in results.items():
        np.testing.assert_allclose(got, eager, rtol=1e-5, err_msg=name)


BOUND_ONCE = {
    "nnx001_assign.py": "forward = nnx.jit_partial(type(model).__call__, model, graph=False)",
    "nnx001_method.py": "forward = nnx.jit_partial(type(model).__call__, model, graph=False)",
    "nnx001_partial.py": "forward = nnx.jit_partial(apply, model, graph=False)",
    "nnx001_closure.py": "forward = nnx.jit_partial(forward, model, graph=False)",
    "nnx001_inline.py": "model_fn = nnx.jit_partial(type(model).__call__, model, graph=False)",
    "nnx002_assign.py": "forward = nnx.jit_partial(type(model).__call__, model, graph=False)",
    "nnx003_static.py": "predict_fn = nnx.jit_partial(predict, model, graph=False)",
    "nnx003_train_step.py": (
        "train_step_fn = nnx.jit_partial(train_step, model, optimizer, graph=False)"
    ),
}


def test_unsafe_fixes_of_the_benchmark_programs_bind_the_objects_once(tmp_path: Path) -> None:
    """The programs `test_fixed_programs_equal_eager_on_the_installed_flax` runs take the bound
    form with --unsafe-fixes (flax 0.12.5+), on either kind of model, so that test proves it
    correct."""
    programs = REPO / "benchmarks" / "runtime"
    kinds = ("PureChain", "DropoutChain")
    for kind in kinds:  # one project each (its `models` module)
        (tmp_path / kind).mkdir()
        (tmp_path / kind / "pyproject.toml").write_text("[tool.nnx-lint]\n")
        (tmp_path / kind / "models.py").write_text((programs / "models.py").read_text())
        for name in BOUND_ONCE:
            text = (programs / name).read_text().replace("PureChain", kind)
            (tmp_path / kind / name).write_text(text)
    cmd = [sys.executable, "-m", "nnx_lint", "--fix", "--unsafe-fixes", "--no-cache", *kinds]
    proc = subprocess.run(
        [*cmd, "--target-flax-version", "0.12.8"], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for kind in kinds:
        for name, line in BOUND_ONCE.items():
            assert line in (tmp_path / kind / name).read_text(), (kind, name)
