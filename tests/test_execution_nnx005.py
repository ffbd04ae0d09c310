"""NNX005 and the tree-mode-aware fixes, proven by execution on the installed flax (CPU).

Each case is a complete program. It defines ``model`` and ``twin`` (made alike), ``run()``
(the code under test: a function compiled by ``nnx.jit`` in tree mode) and ``eager()`` (the
same function called on ``twin`` without jit, in graph mode). A runner executes the programs
in one subprocess (a case that sets an environment variable read when flax is imported runs in
its own), and records each object's structure and values (attributes, Variables and their
values, plain arrays) before and after ``run()``, and the twin's after ``eager()``.

- A finding's claim ("drops changes to an object's structure silently ... lost when the call
  returns"): ``run()`` runs, the model ends exactly as it started, and the twin changed.
- A fix (``--fix --unsafe-fixes``): the fixed program's model ends as the twin, and nothing is
  left to report.
- Silent cases: ``run()`` gives the twin's final structure and values.
- The other rules' fixes in a file that turns tree mode on: where the call may change the
  objects' structure no fix is offered (it would be dropped), and where it changes values only
  the fixed program ends as eager.
"""

from __future__ import annotations

import subprocess
import sys

import helpers
import pytest

from nnx_lint.engine import Settings, check_source, fix_source

pytestmark = pytest.mark.execution

CLASSES = """\
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


class Counter(nnx.Module):
    def __init__(self):
        self.w = nnx.Param(jnp.ones(2))
        self.count = jnp.zeros(())
        self.hits = nnx.Variable(jnp.zeros(()))

    def __call__(self, x):
        self.cache = x
        return x * self.w[...]

    def bump(self, x):
        self.hits[...] += 1
        return x * self.w[...]

    def record(self, x):
        self.sow(nnx.Intermediate, "seen", x)
        return x


model, twin = Counter(), Counter()
x = jnp.array([2.0, 3.0])
"""

# name -> (program body after CLASSES, whether NNX005 reports it). Each body defines the plain
# function `change(model, value)`, and `run()` compiles it in tree mode and calls it on
# `model`; `eager()` calls `change` on `twin` in graph mode, without jit.
CASES: dict[str, tuple[str, bool]] = {
    "replaced_variable": (
        "def change(model: Counter, value):\n    model.w = nnx.Param(value)\n",
        True,
    ),
    "value_over_a_variable": (
        "def change(model: Counter, value):\n    model.w = value\n",
        True,
    ),
    "new_attribute": (
        "def change(model: Counter, value):\n    model.extra = value\n",
        True,
    ),
    "plain_array_reassigned": (
        "def change(model: Counter, value):\n    model.count = model.count + value.sum()\n",
        True,
    ),
    "plain_array_augmented": (
        "def change(model: Counter, value):\n    model.count += value.sum()\n",
        True,
    ),
    "sow": (
        'def change(model: Counter, value):\n    model.sow(nnx.Intermediate, "y", value)\n',
        True,
    ),
    "through_a_call": (
        "def change(model: Counter, value):\n    return model(value)\n",
        True,
    ),
    "through_a_method_that_sows": (
        "def change(model: Counter, value):\n    return model.record(value)\n",
        True,
    ),
    "attribute_and_loss": (  # for nnx.grad and the other transforms: a scalar result
        "def change(model: Counter, value):\n"
        "    model.extra = value.sum()\n"
        "    return (value * model.w[...]).sum()\n",
        True,
    ),
    "values_in_place": (  # kept by tree mode: silent
        "def change(model: Counter, value):\n"
        "    model.w[...] = value\n"
        "    model.hits[...] += 1\n"
        "    return model.bump(value)\n",
        False,
    ),
}
# How tree mode is turned on: (text before the classes, text after `change`, the options of
# nnx.jit). Every case runs under the first; `replaced_variable` and `through_a_call` under
# all of them.
MODES: dict[str, tuple[str, str, str]] = {
    "graph_false": ("", "", ", graph=False"),
    "graph_updates_false": ("", "", ", graph_updates=False"),
    "set_graph_mode": ("", "nnx.set_graph_mode(False)\n", ""),
    "set_graph_updates": ("", "nnx.set_graph_updates(False)\n", ""),
    "config_update": ("", 'flax.config.update("nnx_graph_mode", False)\n', ""),
    "environment": ('import os\n\nos.environ["NNX_GRAPH_UPDATES"] = "0"\n\n', "", ""),
}
RUNNER_TAIL = """

step = {make}


def describe(m):
    out = {{}}
    for key, value in sorted(vars(m).items()):
        if key.startswith("_"):
            continue
        if isinstance(value, nnx.Variable):
            inner = value.get_value()
            data = jax.tree.map(lambda a: np.asarray(a).tolist(), inner)
            out[key] = [type(value).__name__, data]
        elif isinstance(value, nnx.Module):
            out[key] = describe(value)
        elif hasattr(value, "shape"):
            out[key] = ["array", np.asarray(value).tolist()]
        else:
            out[key] = ["python", repr(value)]
    return out


before = describe(model)
raised = None
try:
    step(model, {argument})
except Exception as exc:
    raised = f"{{type(exc).__name__}}: {{exc}}"
change(twin, x)
print("RESULT", json.dumps({{"before": before, "after": describe(model),
                             "eager": describe(twin), "raised": raised}}))
"""


# The other NNX transforms, in tree mode by their own option: how each is made, and the
# argument `run()` passes (vmap maps over a batch of one).
TRANSFORMS = {
    "grad": ("nnx.grad(change, graph=False)", "x"),
    "value_and_grad": ("nnx.value_and_grad(change, graph_updates=False)", "x"),
    "vmap": ("nnx.vmap(change, in_axes=(None, 0), graph=False)", "x[None]"),
    "remat": ("nnx.remat(change, graph=False)", "x"),
}


def _program(name: str, mode: str) -> str:
    body, _ = CASES[name]
    if mode in TRANSFORMS:
        before, after = "", ""
        make, argument = TRANSFORMS[mode]
    else:
        before, after, options = MODES[mode]
        make, argument = f"nnx.jit(change{options})", "x"
    config = "import flax\n" if "flax.config" in after else ""
    return (
        before
        + "import json\n"
        + config
        + CLASSES
        + "\n\n"
        + body
        + "\n\n"
        + after
        + RUNNER_TAIL.format(make=make, argument=argument)
    )


PAIRS = [(name, "graph_false") for name in CASES] + [
    (name, mode)
    for name in ("replaced_variable", "through_a_call")
    for mode in MODES
    if mode != "graph_false"
]
PAIRS += [("attribute_and_loss", transform) for transform in TRANSFORMS]
SETTINGS = Settings(target_flax_version=(0, 12, 8))
UNSAFE = Settings(target_flax_version=(0, 12, 8), unsafe_fixes=True)


def _nnx005(source: str) -> list:
    return [d for d in check_source(source, "case.py", UNSAFE) if d.code == "NNX005"]


# Runs programs one after another in one process (mode settings reset between them), and
# prints each one's RESULT line, keyed by its name.
RUNNER = """\
import contextlib, io, json, sys

import flax
from flax.nnx import graphlib

results = {}
initial = flax.config.nnx_graph_mode, flax.config.nnx_graph_updates  # from the environment
for key, source in json.loads(sys.stdin.read()).items():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, key, "exec"), {"__name__": "__main__"})
    line = [ln for ln in out.getvalue().splitlines() if ln.startswith("RESULT ")][-1]
    results[key] = json.loads(line[len("RESULT "):])
    graphlib.GRAPH_CONTEXT.graph_mode_stack.clear()
    graphlib.GRAPH_CONTEXT.graph_updates_stack.clear()
    flax.config.update("nnx_graph_mode", initial[0])
    flax.config.update("nnx_graph_updates", initial[1])
print(json.dumps(results))
"""


def _run(programs: dict[str, str], python: str = sys.executable, **environ: str) -> dict[str, dict]:
    return helpers.run_programs(RUNNER, programs, python, **environ)


@pytest.fixture(scope="module")
def outcomes() -> dict[tuple[str, str], dict]:
    return _outcomes(sys.executable, UNSAFE)


def _outcomes(python: str, settings: Settings) -> dict[tuple[str, str], dict]:
    """Every program and every fixed program: those that set an environment variable read
    when flax is imported in a process of their own, the others in one."""
    jobs: dict[str, str] = {}
    for name, mode in PAIRS:
        source = _program(name, mode)
        jobs[f"{name}/{mode}"] = source
        fixed = fix_source(source, "case.py", settings).source
        if fixed != source:
            jobs[f"{name}/{mode} (fixed)"] = fixed
    # The runner imports flax before it runs a program: the environment programs' own
    # `os.environ[...] = ...` comes too late there, so their process starts with it set.
    environment = {k: v for k, v in jobs.items() if "/environment" in k}
    assert all('os.environ["NNX_GRAPH_UPDATES"] = "0"' in v for v in environment.values())
    results = _run({k: v for k, v in jobs.items() if k not in environment}, python)
    results.update(_run(environment, python, NNX_GRAPH_UPDATES="0"))
    return {tuple(k.split("/", 1)): v for k, v in results.items()}  # type: ignore[misc]


@pytest.mark.parametrize(("name", "mode"), PAIRS)
def test_the_claim_and_the_fix(name, mode, outcomes):
    _check(name, mode, outcomes, UNSAFE)


def _check(name: str, mode: str, outcomes: dict, settings: Settings) -> None:
    source = _program(name, mode)
    found = [d for d in check_source(source, "case.py", settings) if d.code == "NNX005"]
    outcome = outcomes[(name, mode)]
    assert outcome["raised"] is None, outcome
    if not CASES[name][1]:  # values written in place: kept, as eagerly
        assert found == []
        assert outcome["after"] == outcome["eager"] != outcome["before"], outcome
        return
    assert len(found) == 1, found
    assert "drops changes to an object's structure silently" in found[0].message
    # The claim: the change is lost; eagerly it happens.
    assert outcome["after"] == outcome["before"] != outcome["eager"], outcome
    fixed = fix_source(source, "case.py", settings).source
    if found[0].fix is None:
        assert fixed == source and found[0].fix_unavailable
        return
    assert _nnx005(fixed) == [] and fix_source(fixed, "case.py", settings).source == fixed
    assert outcomes[(name, f"{mode} (fixed)")]["after"] == outcome["eager"], outcome


def test_the_fix_is_offered_where_it_is_proven():
    """Control: the cases exercise the fix (a replaced Variable) and its absence."""
    with_fix = {n for n, m in PAIRS if _nnx005(_program(n, m)) and _nnx005(_program(n, m))[0].fix}
    assert with_fix == {"replaced_variable"}


# -- the other rules' fixes in a file that turns tree mode on

TREE_FILE = """
nnx.set_graph_mode(False)


def forward(v):
    return model.{method}(v)


step = jax.jit(forward)
out = step(x)
eager_out = twin.{method}(x)
print("RESULT", json.dumps({{"after": describe(model), "eager": describe(twin),
                             "same_output": bool(np.allclose(out, eager_out))}}))
"""
DESCRIBE = RUNNER_TAIL[RUNNER_TAIL.index("def describe") : RUNNER_TAIL.index("before = ")].format()


def _tree_file(method: str) -> str:
    return "import json\n" + CLASSES + "\n\n" + DESCRIBE + TREE_FILE.format(method=method)


def test_fixes_in_a_tree_mode_file():
    """NNX001 over a closure in a file that calls `nnx.set_graph_mode(False)`: where the call
    changes the model's structure (`__call__` assigns `self.cache`), no fix is offered, since
    every NNX transform there drops it; where it writes Variables' values only (`bump`), the
    (unsafe) fix is offered, never as `nnx.cached_partial` (ValueError in tree mode), and the
    fixed program ends as eager."""
    for unsafe in (False, True):
        settings = Settings(target_flax_version=(0, 12, 8), unsafe_fixes=unsafe)
        found = check_source(_tree_file("__call__"), "t.py", settings)
        (finding,) = [d for d in found if d.code == "NNX001"]
        assert finding.fix is None, finding.fix
        assert "tree mode (`nnx.set_graph_mode(False)`" in (finding.fix_unavailable or "")
    values = _tree_file("bump")
    fixed = fix_source(values, "t.py", UNSAFE).source
    assert fixed != values and "cached_partial" not in fixed
    outcome = _run({"fixed": fixed})["fixed"]
    assert outcome["same_output"] and outcome["after"] == outcome["eager"], (outcome, fixed)


@pytest.mark.multiversion
@pytest.mark.skipif(not helpers.FLAX_PYTHONS, reason="NNX_LINT_FLAX_PYTHONS names no interpreter")
def test_the_claims_and_fixes_on_other_flax_versions():
    """Each interpreter with flax 0.12.5+ (tree mode): every case linted for its version, its
    claim and its fix checked by running there (older ones have no tree mode: not reported,
    the negative fixture `nnx005_old_flax.py`)."""
    checked = 0
    for python in helpers.FLAX_PYTHONS:
        version = tuple(int(p) for p in helpers.flax_version(python).split(".")[:3])
        if version < (0, 12, 5):
            continue
        settings = Settings(target_flax_version=version, unsafe_fixes=True)
        outcomes = _outcomes(python, settings)
        for name, mode in PAIRS:
            _check(name, mode, outcomes, settings)
        checked += 1
    if not checked:
        pytest.skip("no interpreter with flax 0.12.5+")


def test_a_mode_set_before_a_def_and_undone_is_not_claimed():
    """`nnx.set_graph_mode(False)`, then a def that makes `nnx.jit(step)`, then the mode set
    back before the def is called: the transform runs in graph mode and keeps the attribute
    (the negative fixture `nnx005_mode_undone.py`, run as written)."""
    from pathlib import Path

    path = Path(__file__).parent / "fixtures" / "negative" / "nnx005_mode_undone.py"
    source = path.read_text()
    assert _nnx005(source) == []
    ran = subprocess.run(
        [sys.executable, "-c", source],
        capture_output=True,
        text=True,
        env={**helpers.env(), "JAX_PLATFORMS": "cpu"},
    )
    assert ran.stdout.strip() == "True", ran.stderr[-2000:]
