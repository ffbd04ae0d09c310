"""The ground truth (`../shared/flax-ground-truth.md`), row by row, on each flax version.

One small program per row that states a run-time behaviour. Each program's ``run()`` returns
what happened as a word (``correct``, ``stale``, ``lost``, ``leaks``, ...); an exception is
``<its type>: <the start of its text>``. The expected outcome per flax version is data here
(first version -> outcome, newest first), asserted on the installed flax (marker `execution`)
and on each interpreter of ``NNX_LINT_FLAX_PYTHONS`` (marker `multiversion`, README "Tests").
Where nnx-lint reports the row's shape, its message linted for that version states the outcome
(``helpers.claim``; LEAKS for "leaks a tracer").

Measured against the file: rows it gives for "0.11.0 and 0.12.8" hold on 0.12.0 and 0.12.12
too; `nnx.cached_partial` under `jax.jit` raises ValueError on every version that has it
(0.10.4 on), which the file does not say; `nnx.jit` of a bound method ran with stale constants
up to 0.12.0; on 0.10.4 a `jax.lax.scan` body running `nnx.value_and_grad` on a captured
module inside `nnx.jit` runs (the ValueError is 0.10.5 on).
"""

from __future__ import annotations

import json
import sys

import helpers
import pytest
from helpers import claim

from nnx_lint.engine import check_source
from nnx_lint.settings import Settings

PRELUDE = """\
import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

warnings.simplefilter("ignore")
x = jnp.ones((1, 2))


class Counter(nnx.Module):  # changes state: a Variable counts its calls
    def __init__(self, seed):
        self.linear = nnx.Linear(2, 2, rngs=nnx.Rngs(seed))
        self.count = nnx.Variable(jnp.zeros(()))

    def __call__(self, x):
        self.count.value = self.count.value + 1
        return self.linear(x)


def bump(m):
    m.kernel.value = m.kernel.value + 1.0


def same(a, b):
    return bool(np.allclose(np.asarray(a), np.asarray(b)))
"""

# name -> (program after the prelude, [(first flax version, outcome)], the rule reporting it)
Rows = dict[str, tuple[str, list[tuple[tuple[int, ...], str]], str | None]]
ROWS: Rows = {
    # "jax.jit(nnx.RNN(nnx.LSTMCell(...)))(x)": leaks on 0.10.4, TCE from 0.10.5.
    "jit_of_an_rnn": (
        "model = nnx.RNN(nnx.LSTMCell(2, 3, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(1))\n"
        "forward = jax.jit(model)\n"
        "def run():\n"
        "    forward(jnp.ones((1, 4, 2)))\n"
        "    model(jnp.ones((1, 4, 2)))  # the next eager call\n"
        "    return 'runs'\n",
        [((0, 10, 5), "TraceContextError"), ((0,), "UnexpectedTracerError")],
        "NNX001",
    ),
    "jit_of_a_changing_model": (
        "model = Counter(0)\n"
        "forward = jax.jit(model)\n"
        "def run():\n"
        "    forward(x)\n"
        "    model(x)\n"
        "    return 'runs'\n",
        [((0, 10, 5), "TraceContextError"), ((0,), "UnexpectedTracerError")],
        "NNX001",
    ),
    "jit_of_a_pure_model": (
        "model = nnx.Linear(2, 2, rngs=nnx.Rngs(0))\n"
        "forward = jax.jit(model)\n"
        "def run():\n"
        "    first = forward(x)\n"
        "    bump(model)\n"
        "    return 'stale' if same(forward(x), first) else 'correct'\n",
        [((0,), "stale")],
        "NNX001",
    ),
    "closure_over_a_changing_model": (
        "model = Counter(0)\n"
        "@jax.jit\n"
        "def step(x):\n    return model(x)\n"
        "def run():\n"
        "    step(x)\n"
        "    model(x)\n"
        "    return 'runs'\n",
        [((0, 10, 5), "TraceContextError"), ((0,), "UnexpectedTracerError")],
        "NNX001",
    ),
    "module_as_an_argument_of_jax_jit": (
        "model, twin = Counter(0), Counter(0)\n"
        "@jax.jit\n"
        "def step(model, x):\n    return model(x)\n"
        "def run():\n"
        "    step(model, x)\n"
        "    twin(x)\n"
        "    return 'lost' if model.count.value != twin.count.value else 'correct'\n",
        [((0, 11), "lost"), ((0,), "TypeError")],
        "NNX003",
    ),
    "module_returned_and_rebound": (
        "model, twin = Counter(0), Counter(0)\n"
        "@jax.jit\n"
        "def step(model, x):\n    return model(x), model\n"
        "def run():\n"
        "    global model\n"
        "    y, model = step(model, x)\n"
        "    ok = same(y, twin(x)) and model.count.value == twin.count.value\n"
        "    return 'correct' if ok else 'wrong'\n",
        [((0, 11), "correct"), ((0,), "TypeError")],
        None,
    ),
    "train_step_under_jax_jit": (
        "model = nnx.Linear(2, 1, rngs=nnx.Rngs(0))\n"
        "opt = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)\n"
        "@jax.jit\n"
        "def train_step(model, opt, x):\n"
        "    loss, grads = nnx.value_and_grad(lambda m: (m(x) ** 2).sum())(model)\n"
        "    opt.update(model, grads)\n"
        "    return loss\n"
        "def run():\n"
        "    losses = [float(train_step(model, opt, x)) for _ in range(3)]\n"
        "    return 'lost' if losses[0] == losses[2] else 'correct'\n",
        [((0, 11), "lost"), ((0,), "TypeError")],
        "NNX003",
    ),
    "nnx_jit_of_a_changing_model": (
        "model = Counter(0)\n"
        "forward = nnx.jit(model)\n"
        "def run():\n"
        "    forward(x)\n"
        "    model(x)\n"
        "    return 'runs'\n",
        [((0, 10, 5), "TraceContextError"), ((0,), "UnexpectedTracerError")],
        "NNX002",
    ),
    "nnx_jit_with_the_module_as_an_argument": (
        "model, twin = Counter(0), Counter(0)\n"
        "@nnx.jit\n"
        "def step(model, x):\n    return model(x)\n"
        "def run():\n"
        "    bump(model.linear); bump(twin.linear)\n"
        "    ok = same(step(model, x), twin(x)) and model.count.value == twin.count.value\n"
        "    return 'correct' if ok else 'wrong'\n",
        [((0,), "correct")],
        None,
    ),
    "split_merge_with_the_state_returned": (
        "model, twin = Counter(0), Counter(0)\n"
        "graphdef, state = nnx.split(model)\n"
        "@jax.jit\n"
        "def step(state, x):\n"
        "    m = nnx.merge(graphdef, state)\n"
        "    return m(x), nnx.state(m)\n"
        "def run():\n"
        "    y, new = step(state, x)\n"
        "    nnx.update(model, new)\n"
        "    ok = same(y, twin(x)) and model.count.value == twin.count.value\n"
        "    return 'correct' if ok else 'wrong'\n",
        [((0,), "correct")],
        None,
    ),
    "split_merge_with_the_state_not_returned": (
        "model, twin = Counter(0), Counter(0)\n"
        "graphdef, state = nnx.split(model)\n"
        "@jax.jit\n"
        "def step(state, x):\n"
        "    return nnx.merge(graphdef, state)(x)\n"
        "def run():\n"
        "    step(state, x)\n"
        "    twin(x)\n"
        "    return 'lost' if model.count.value != twin.count.value else 'correct'\n",
        [((0,), "lost")],
        None,
    ),
    "nnx_jit_of_a_bound_method": (
        "model = nnx.Linear(2, 2, rngs=nnx.Rngs(0))\n"
        "forward = nnx.jit(model.__call__)\n"
        "def run():\n"
        "    first = forward(x)\n"
        "    bump(model)\n"
        "    return 'stale' if same(forward(x), first) else 'correct'\n",
        [((0, 12, 1), "ValueError: nnx.jit does not support bound methods"), ((0,), "stale")],
        "NNX002",
    ),
    "static_argument": (
        "model = nnx.Linear(2, 2, rngs=nnx.Rngs(0))\n"
        "@functools.partial(jax.jit, static_argnums=0)\n"
        "def predict(model, x):\n    return model(x)\n"
        "def run():\n"
        "    first = predict(model, x)\n"
        "    bump(model)\n"
        "    return 'stale' if same(predict(model, x), first) else 'correct'\n",
        [((0,), "stale")],
        "NNX003",
    ),
    "scan_body_running_value_and_grad_inside_nnx_jit": (
        "model = nnx.Linear(2, 2, rngs=nnx.Rngs(0))\n"
        "@nnx.jit\n"
        "def train(model, xs):\n"
        "    def body(carry, x):\n"
        "        loss, _ = nnx.value_and_grad(lambda m: m(x).sum())(model)\n"
        "        return carry + loss, None\n"
        "    return jax.lax.scan(body, 0.0, xs)[0]\n"
        "def run():\n"
        "    train(model, jnp.ones((3, 1, 2)))\n"
        "    return 'runs'\n",
        [
            ((0, 10, 5), "ValueError: Cannot extract graph node from different trace level"),
            ((0,), "runs"),
        ],
        "NNX004",
    ),
    "cached_partial_under_jax_jit": (
        "model = nnx.Linear(2, 2, rngs=nnx.Rngs(0))\n"
        "def forward(m, x):\n    return m(x)\n"
        "compiled = jax.jit(nnx.cached_partial(forward, model))\n"
        "def run():\n"
        "    compiled(x)\n"
        "    return 'runs'\n",
        [((0, 10, 4), "ValueError: GRAPH_CONTEXT.tmp_static_cache should be None")],
        "NNX001",
    ),
    "tree_mode_drops_an_added_attribute": (
        "class Recorder(nnx.Module):\n"
        "    def __init__(self):\n        self.linear = nnx.Linear(2, 2, rngs=nnx.Rngs(0))\n"
        "    def __call__(self, x):\n"
        "        y = self.linear(x)\n        self.last = nnx.Variable(y)\n        return y\n"
        "model = Recorder()\n"
        "def run():\n"
        "    nnx.jit(lambda m, x: m(x), graph=False)(model, x)\n"
        "    return 'correct' if hasattr(model, 'last') else 'dropped'\n",
        [((0, 12, 5), "dropped"), ((0,), "TypeError: jit() got an unexpected keyword argument")],
        None,
    ),
    "tree_mode_with_a_shared_variable": (
        "class Shared(nnx.Module):\n"
        "    def __init__(self):\n"
        "        self.a = nnx.Linear(2, 2, rngs=nnx.Rngs(0))\n        self.b = self.a\n"
        "    def __call__(self, x):\n        return self.b(self.a(x))\n"
        "def run():\n"
        "    nnx.jit(lambda m, x: m(x), graph=False)(Shared(), x)\n"
        "    return 'runs'\n",
        [((0, 12, 5), "ValueError"), ((0,), "TypeError: jit() got an unexpected keyword argument")],
        None,
    ),
    "cached_partial_without_graph_updates": (
        "model = Counter(0)\n"
        "forward = nnx.cached_partial(nnx.jit(type(model).__call__, graph_updates=False), model)\n"
        "def run():\n"
        "    forward(x)\n"
        "    return 'runs'\n",
        [((0, 12, 6), "ValueError"), ((0,), "TypeError: jit() got an unexpected keyword argument")],
        None,
    ),
    "bound_nnx_jit_without_graph_updates": (
        "model, twin = Counter(0), Counter(0)\n"
        "forward = functools.partial(nnx.jit(type(model).__call__, graph_updates=False), model)\n"
        "def run():\n"
        "    bump(model.linear); bump(twin.linear)\n"
        "    ok = same(forward(x), twin(x)) and model.count.value == twin.count.value\n"
        "    return 'correct' if ok else 'wrong'\n",
        [((0, 12, 6), "correct"), ((0,), "TypeError: jit() got an unexpected keyword argument")],
        None,
    ),
    "hijax_scoped_to_a_with_block": (
        "def run():\n"
        "    with nnx.var_defaults(hijax=True):\n        inside = nnx.Variable(jnp.zeros(()))\n"
        "    outside = nnx.Variable(jnp.zeros(()))\n"
        "    return f'inside {inside.hijax}, outside {outside.hijax}'\n",
        # nnx.var_defaults: from 0.12.3 on (flax.nnx's names by release)
        [((0, 12, 3), "inside True, outside False"), ((0,), "AttributeError")],
        None,
    ),
}

RUNNER = """\
import json, sys

results = {}
for name, source in json.loads(sys.stdin.read()).items():
    space = {}
    try:
        exec(compile(source, name, "exec"), space)
        results[name] = space["run"]()
    except Exception as exc:
        results[name] = f"{type(exc).__name__}: {str(exc)[:200]}"
print(json.dumps(results))
"""

# The claim a message must make for an outcome.
CLAIMS = {
    "TraceContextError": "RAISES",
    "ValueError": "RAISES",
    "UnexpectedTracerError": "LEAKS",
    "stale": "STALE",
    "lost": "LOST",
    "TypeError": "TYPE",  # NNX003 below 0.11: the message names the TypeError
    "runs": "NONE",  # nothing goes wrong that the message could claim
}


def expected(name: str, version: tuple[int, ...]) -> str | None:
    """The outcome the ground truth gives for ``version``; None: not stated for it."""
    return next((out for since, out in ROWS[name][1] if version >= since), None)


def outcomes(python: str) -> dict[str, str]:
    programs = {name: PRELUDE + source for name, (source, _, _) in ROWS.items()}
    return helpers.run_programs(RUNNER, programs, python)


def said(name: str, version: tuple[int, ...]) -> str:
    source, _, code = ROWS[name]
    assert code is not None
    found = [
        d
        for d in check_source(PRELUDE + source, f"{name}.py", Settings(target_flax_version=version))
        if d.code == code
    ]
    assert len(found) == 1, (name, found)
    message = found[0].message
    if "leaks a tracer" in message and "cannot be told" not in message:
        return "LEAKS"
    if "TypeError" in message and "lost" not in message:
        return "TYPE"  # helpers.claim reads both words as LOST: told apart here
    return claim(message)


def check(python: str) -> None:
    version = tuple(int(part) for part in helpers.flax_version(python).split(".")[:3])
    ran = outcomes(python)
    wrong = {}
    for name, (_, _, code) in ROWS.items():
        want = expected(name, version)
        if want is None:
            continue
        same = ran[name].split(":")[0] == want.split(":")[0] and ran[name].startswith(want)
        if not same:
            wrong[name] = f"ran: {ran[name]!r}, expected: {want!r}"
        elif code is not None and said(name, version) != CLAIMS[want.split(":")[0]]:
            wrong[name] = f"{code} says {said(name, version)} where it {want}"
    assert not wrong, f"flax {version}: {json.dumps(wrong, indent=1)}"


@pytest.mark.execution
def test_ground_truth_on_the_installed_flax() -> None:
    check(sys.executable)


@pytest.mark.execution
@pytest.mark.multiversion
@pytest.mark.parametrize(
    "python", helpers.FLAX_PYTHONS or [pytest.param("", marks=pytest.mark.skip)]
)
def test_ground_truth_on_other_flax_versions(python: str) -> None:
    check(python)


def test_each_row_states_an_outcome_on_the_newest_flax() -> None:
    """Control: every row has an outcome from some version on, and the reported rows map to
    a claim."""
    for name, (_, table, code) in ROWS.items():
        assert expected(name, (999,)) is not None, name
        if code is not None:
            assert all(out.split(":")[0] in CLAIMS for _, out in table), name
