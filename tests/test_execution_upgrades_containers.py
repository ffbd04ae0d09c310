"""Proof by execution for the flax 0.12 upgrade rules NNX103 (plain containers of Modules or
arrays in Module attributes) and NNX104 (``.value`` on Variables), on the installed flax
(0.12.8).

NNX103: each program, as written for flax 0.11, raises on flax 0.12.8 the ValueError the
message quotes; the program ``nnx-lint --fix --select NNX1 --target-flax-version 0.12.8``
writes builds the model, gives the outputs, gradients and final ``nnx.state`` of the
reference (the same program with ``pytree=False`` on the class, flax's old graph behaviour,
which accepts plain containers), and a train step changes the Params in the container.

NNX104: the program warns ``'.value' ... deprecated``; the fixed one warns nothing, also runs
under ``-W error::DeprecationWarning``, and gives the original's outputs and final state. A
second ``--fix`` changes nothing.

All cases of one kind run in one subprocess (a driver that runs each program file)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import helpers
import pytest

pytestmark = pytest.mark.execution

HEADER = """\
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx


class Block(nnx.Module):
    def __init__(self, rngs):
        self.linear = nnx.Linear(2, 2, rngs=rngs)

    def __call__(self, x):
        return self.linear(x)

"""

TRAIN = """

def _flat(state):
    return {
        "/".join(map(str, path)): np.asarray(v.get_value()).tolist()
        for path, v in nnx.to_flat_state(state)
    }


def main():
    model = Model(nnx.Rngs(0))
    x = jnp.linspace(-1.0, 1.0, 4).reshape(2, 2)
    y0 = model(x)
    opt = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)

    @nnx.jit
    def step(model, opt, x):
        loss, grads = nnx.value_and_grad(lambda m: (m(x) ** 2).mean())(model)
        opt.update(model, grads)
        return loss, grads

    loss, grads = step(model, opt, x)
    return {
        "y0": np.asarray(y0).tolist(),
        "loss": float(loss),
        "y1": np.asarray(model(x)).tolist(),
        "grads": _flat(grads),
        "state": _flat(nnx.state(model, nnx.Param)),
    }


RESULT = main()
"""

# name -> (class body, the text the original raises with, the attribute whose Params train)
CONTAINERS = {
    "list_comprehension": (
        """\
class Model(nnx.Module):
    def __init__(self, rngs):
        self.layers = [nnx.Linear(2, 2, rngs=rngs) for _ in range(3)]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x + len(self.layers) + self.layers[-1](x)
""",
        "Found data on value of type '<class 'list'>' assigned to static attribute 'layers'",
        "layers",
    ),
    "dict_of_modules": (
        """\
class Model(nnx.Module):
    def __init__(self, rngs):
        self.blocks = {"a": Block(rngs), "b": Block(rngs)}

    def __call__(self, x):
        return sum(block(x) for block in self.blocks.values()) * len(self.blocks)
""",
        "Found data on value of type '<class 'dict'>' assigned to static attribute 'blocks'",
        "blocks",
    ),
    "tuple_of_arrays": (
        """\
class Model(nnx.Module):
    def __init__(self, rngs):
        self.linear = nnx.Linear(2, 2, rngs=rngs)
        self.ws = jnp.ones(2), jnp.full(2, 0.5), np.zeros(2)

    def __call__(self, x):
        a, b, c = self.ws
        return self.linear(x) * a + b + c
""",
        "Found data on value of type '<class 'tuple'>' assigned to static attribute 'ws'",
        "linear",
    ),
    "list_built_in_a_name": (
        """\
class Model(nnx.Module):
    def __init__(self, rngs):
        layers = []
        for _ in range(2):
            layers.append(nnx.Linear(2, 2, rngs=rngs))
        self.layers = layers
        self.sizes = [2, 2]

    def __call__(self, x):
        for layer in self.layers[::-1]:
            x = layer(x)
        return x * self.sizes[0]
""",
        "Found data on value of type '<class 'list'>' assigned to static attribute 'layers'",
        "layers",
    ),
    "list_filled_in_init": (
        """\
class Model(nnx.Module):
    def __init__(self, rngs):
        self.heads = []
        for _ in range(2):
            self.heads.append(Block(rngs))
        self.heads.append(nnx.Linear(2, 2, rngs=rngs))

    def __call__(self, x):
        return sum(head(x) for head in self.heads)
""",
        "Found unexpected data on value of type <class 'list'> in static attribute 'heads'",
        "heads",
    ),
}

VALUE_PROGRAM = """\
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


class Counter(nnx.Module):
    def __init__(self):
        self.w = nnx.Param(jnp.arange(4.0).reshape(2, 2))
        self.total = nnx.BatchStat(jnp.zeros(2))
        self.steps = nnx.Variable(0)
        self.scale = nnx.Variable(jnp.array(2.0))

    def __call__(self, x):
        self.steps.value = self.steps.value + 1
        self.total.value = self.total.value + x.sum(0)
        shape = self.w.value.shape
        return x @ self.w.value * shape[0] * self.scale.value


@nnx.jit
def grow(model: Counter, x):
    model.w.value = jnp.concatenate([model.w.value, x])  # a new shape: set_value replaces
    return model.w.value.sum()


def main():
    model = Counter()
    x = jnp.linspace(-1.0, 1.0, 4).reshape(2, 2)
    ys = [np.asarray(model(x)).tolist() for _ in range(3)]
    grown = float(grow(model, x))
    state = {
        "/".join(map(str, p)): np.asarray(v.get_value()).tolist()
        for p, v in nnx.to_flat_state(nnx.state(model))
    }
    steps = np.asarray(model.steps.get_value()).tolist()
    return {"ys": ys, "grown": grown, "steps": steps, "state": state}


RESULT = main()
"""

AUGMENTED_PROGRAM = """\
import jax.numpy as jnp
import numpy as np
from flax import nnx


class Counter(nnx.Module):
    def __init__(self):
        self.count = nnx.Variable(jnp.array(0))
        self.mean = nnx.BatchStat(jnp.zeros(2))
        self.calls = nnx.Variable(0)  # a Python number: `v[...] += 1` would raise TypeError
        self.scale = nnx.Variable(jnp.array([1, 2], jnp.int32))

    def __call__(self, x):
        self.count.value += 1
        self.mean.value += (x.mean(0) - self.mean.value) / self.count.value
        self.calls.value += 1
        self.scale.value *= 0.5  # promotes to float32 (`v[...] *= 0.5` would stay int32)
        return self.mean.value


def main():
    model = Counter()
    ys = [np.asarray(model(jnp.full((2, 2), float(i)))).tolist() for i in range(3)]
    return {
        "ys": ys,
        "count": int(model.count.get_value()),
        "dtype": str(model.count.dtype),
        "calls": model.calls.get_value(),
        "scale": np.asarray(model.scale.get_value()).tolist(),
        "scale_dtype": str(model.scale.get_value().dtype),
    }


RESULT = main()
"""

# Runs each program file given, recording its RESULT or the exception it raised, and the
# `.value` deprecation warnings it gave.
DRIVER = """\
import json
import runpy
import sys
import warnings

out, files = sys.argv[1], sys.argv[2:]
results = {}
for path in files:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            found = {"result": runpy.run_path(path, run_name="program")["RESULT"]}
        except Exception as e:
            found = {"error": f"{type(e).__name__}: {e}"}
    found["warnings"] = sorted(
        {str(w.message).splitlines()[0] for w in caught if "'.value'" in str(w.message)}
    )
    results[path] = found
with open(out, "w") as f:
    json.dump(results, f)
"""


def _drive(tmp_path: Path, files: list[Path], *flags: str) -> dict[str, dict]:
    driver = helpers.write(tmp_path / "driver.py", DRIVER)
    out = tmp_path / f"out{len(list(tmp_path.glob('out*.json')))}.json"
    proc = subprocess.run(
        [sys.executable, *flags, str(driver), str(out), *map(str, files)],
        cwd=tmp_path,
        env={**helpers.env(), "JAX_PLATFORMS": "cpu"},
        capture_output=True,
        text=True,
        timeout=helpers.TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    found: dict[str, dict] = json.loads(out.read_text())
    return {Path(k).name: v for k, v in found.items()}


def _fix(directory: Path, *extra: str) -> subprocess.CompletedProcess:
    return helpers.nnx_lint(
        directory,
        "--fix",
        "--select",
        "NNX1",
        "--target-flax-version",
        "0.12.8",
        "--no-cache",
        *extra,
        ".",
    )


def _messages(directory: Path) -> str:
    proc = helpers.nnx_lint(
        directory,
        "--select",
        "NNX1",
        "--target-flax-version",
        "0.12.8",
        "--no-cache",
        "--output-format",
        "json",
        ".",
    )
    return proc.stdout


def _close(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float | int) and isinstance(b, float | int):
        return abs(a - b) <= 1e-6 + 1e-5 * abs(b)
    return a == b


def test_static_containers_raise_and_the_fix_trains(tmp_path: Path) -> None:
    originals, references = tmp_path / "programs", tmp_path / "references"
    originals.mkdir()
    references.mkdir()
    for name, (body, _, _) in CONTAINERS.items():
        helpers.write(originals / f"{name}.py", HEADER + body + TRAIN)
        reference = body.replace(
            "class Model(nnx.Module):", "class Model(nnx.Module, pytree=False):"
        )
        helpers.write(references / f"{name}.py", HEADER + reference + TRAIN)
    messages = _messages(originals)
    before = _drive(tmp_path, sorted(originals.glob("*.py")))
    for name, (_, error, _) in CONTAINERS.items():
        # The original raises what the message says (its quote is part of the error).
        assert before[f"{name}.py"]["error"].startswith("ValueError: "), name
        assert error in before[f"{name}.py"]["error"], before[f"{name}.py"]
        attr = re.search(r"static attribute '(\w+)'", error)
        assert attr is not None
        assert f"static attribute '{attr[1]}'" in messages, messages
    assert messages.count('"code": "NNX103"') == len(CONTAINERS), messages
    assert "when `__init__` returns" in messages  # list_filled_in_init

    proc = _fix(originals)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fixed_texts = {p.name: p.read_text() for p in originals.glob("*.py")}
    assert all("nnx.data(" in text for text in fixed_texts.values())
    again = _fix(originals)
    assert {p.name: p.read_text() for p in originals.glob("*.py")} == fixed_texts, again.stdout

    after = _drive(tmp_path, sorted(originals.glob("*.py")))
    expected = _drive(tmp_path, sorted(references.glob("*.py")))
    for name, (_, _, trained) in CONTAINERS.items():
        got, want = after[f"{name}.py"], expected[f"{name}.py"]
        assert "result" in want, want
        assert "result" in got, got
        assert _close(got["result"], want["result"]), (name, got, want)
        grads = got["result"]["grads"]
        held = [k for k in grads if k.startswith(f"{trained}/")]
        assert held, (name, sorted(grads))  # the container's Params are in the state
        assert any(abs(v) > 0 for k in held for row in grads[k] for v in _flatten(row))
        state = got["result"]["state"]
        assert set(state) == set(grads)


def _flatten(value: object) -> list[float]:
    if isinstance(value, list):
        return [v for item in value for v in _flatten(item)]
    assert isinstance(value, float | int)
    return [float(value)]


def test_value_accesses_warn_and_the_fix_does_not(tmp_path: Path) -> None:
    programs = tmp_path / "programs"
    programs.mkdir()
    helpers.write(programs / "value.py", VALUE_PROGRAM)
    helpers.write(programs / "augmented.py", AUGMENTED_PROGRAM)
    original = _drive(tmp_path, sorted(programs.glob("*.py")))
    for name in ("value.py", "augmented.py"):
        assert "result" in original[name], original[name]
        assert original[name]["warnings"] == [
            "'.value' access is now deprecated. For Variable[Array] instances use:",
            "'.value' setter is now deprecated. For Variable[Array] instances use:",
        ]
    assert original["augmented.py"]["result"]["scale_dtype"] == "float32"
    assert original["augmented.py"]["result"]["calls"] == 3
    messages = _messages(programs)
    assert messages.count('"code": "NNX104"') == 17, messages
    assert "deprecated since flax 0.12.1" in messages

    # --fix: the reads and plain assignments; `+=` stays (its fix is unsafe) and still warns.
    assert _fix(programs).returncode == 1  # the four augmented assignments remain
    safe = _drive(tmp_path, sorted(programs.glob("*.py")))
    assert safe["value.py"]["warnings"] == []
    assert _close(safe["value.py"]["result"], original["value.py"]["result"])
    assert ".value" not in (programs / "value.py").read_text()
    assert _close(safe["augmented.py"]["result"], original["augmented.py"]["result"])
    assert safe["augmented.py"]["warnings"] != []

    # --unsafe-fixes: `v.value += x` -> `v.set_value(v.get_value() + x)`: the same results,
    # the Python number still counts and the int32 array is promoted as before.
    assert _fix(programs, "--unsafe-fixes").returncode == 0
    texts = {p.name: p.read_text() for p in programs.glob("*.py")}
    assert all(".value" not in text for text in texts.values())
    assert _fix(programs, "--unsafe-fixes").returncode == 0
    assert {p.name: p.read_text() for p in programs.glob("*.py")} == texts
    strict = _drive(tmp_path, sorted(programs.glob("*.py")), "-W", "error::DeprecationWarning")
    for name in ("value.py", "augmented.py"):
        assert strict[name]["warnings"] == []
        assert "result" in strict[name], strict[name]
        assert _close(strict[name]["result"], original[name]["result"]), name
