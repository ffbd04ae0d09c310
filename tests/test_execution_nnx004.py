"""NNX004 proven by execution: what the message says happens is what happens, each fix gives
the eager results, and each silent shape runs correctly as written (flax installed here).

Each case is a small complete program after a shared prelude. It defines ``run()`` (the code
under test), ``eager()`` (the same computation written out eagerly, on a twin of every object,
made with the same seeds) and ``pairs`` (each object with its twin). A runner executes every
case in one subprocess: it calls ``run()`` and ``eager()`` and compares their outputs and the
final ``nnx.state`` of each object with its twin's, and each object's state with its state
before.

The claim is read off the message:

- TCE ("raises TraceContextError"): ``run()`` raises TraceContextError;
- GRAPH ("Cannot extract graph node from different trace level"): ``run()`` raises that
  ValueError;
- TYPE ("raises TypeError"): ``run()`` raises TypeError "... requires real- or complex-valued
  inputs";
- LOST ("the change is lost"): ``run()`` runs, and every object ends as it started, while
  its twin's state changed eagerly.

Cases with a fix are fixed (``--fix``, and ``--unsafe-fixes`` for the unsafe ones) and run
again: no error, the eager outputs and the eager final state, and nothing left to report.
Silent cases: no NNX004 finding, and ``run()`` gives the eager outputs and state.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import helpers
import pytest

from nnx_lint.engine import Settings, check_source, fix_source

pytestmark = pytest.mark.execution

PRELUDE = """\
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh, PartitionSpec

x = jnp.linspace(0.5, 1.5, 4)
xs = jnp.stack([x, 2 * x, 3 * x])


class Noisy(nnx.Module):  # draws from its Rngs when called: an integer count it holds
    def __init__(self, seed):
        self.linear = nnx.Linear(4, 4, rngs=nnx.Rngs(seed))
        self.drop = nnx.Dropout(0.5, rngs=nnx.Rngs(seed + 1))

    def __call__(self, x):
        return self.drop(self.linear(x))


class Counter(nnx.Module):  # counts its calls in a float Variable
    def __init__(self, seed):
        self.linear = nnx.Linear(4, 4, rngs=nnx.Rngs(seed))
        self.calls = nnx.Variable(jnp.zeros(()))

    def __call__(self, x):
        self.calls.value = self.calls.value + 1.0  # `.value`: flax 0.10 too
        return self.linear(x)


class Norm(nnx.Module):  # BatchNorm in training mode: its statistics move
    def __init__(self, seed):
        self.linear = nnx.Linear(4, 4, rngs=nnx.Rngs(seed))
        self.norm = nnx.BatchNorm(4, rngs=nnx.Rngs(seed))

    def __call__(self, x):
        return self.norm(self.linear(x)[None])[0]


class Pure(nnx.Module):
    def __init__(self, seed):
        self.linear = nnx.Linear(4, 4, rngs=nnx.Rngs(seed))

    def __call__(self, x):
        return self.linear(x)


class Stack(nnx.Module):  # pure, but runs nnx.scan over its own layers
    def __init__(self, seed):
        @nnx.split_rngs(splits=3)
        @nnx.vmap(in_axes=(0,), out_axes=0)
        def make(rngs):
            return nnx.Linear(4, 4, rngs=rngs)

        self.layers = make(nnx.Rngs(seed))

    def __call__(self, x):
        @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)
        def forward(x, layer):
            return layer(x)

        return forward(x, self.layers)


class Compiled(nnx.Module):  # pure, its method compiled with nnx.jit
    def __init__(self, seed):
        self.linear = nnx.Linear(4, 4, rngs=nnx.Rngs(seed))

    @nnx.jit
    def render(self, x):
        return self.linear(x)


def loss(model, x):
    return model(x).sum()


def skip(model, x):
    return x.sum()
"""

# name -> (program after the prelude, the claim its finding makes; None: no finding)
CASES: dict[str, tuple[str, str | None]] = {
    "closure_under_vmap_draws": (
        "model = Noisy(0)\ntwin = Noisy(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.vmap(lambda x: model(x))(xs)\n"
        "def eager():\n    return jnp.stack([twin(x) for x in xs])\n",
        "TCE",
    ),
    "module_under_vmap_counts": (
        "model = Counter(0)\ntwin = Counter(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.vmap(model)(xs)\n"
        "def eager():\n    return jnp.stack([twin(x) for x in xs])\n",
        "TCE",
    ),
    "closure_under_grad_updates_batch_statistics": (
        "model = Norm(0)\ntwin = Norm(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.grad(lambda x: model(x).sum())(x)\n"
        "def eager():\n"
        "    twin(x)  # a batch of one: the output is the bias, its gradient zero\n"
        "    return jnp.zeros(4)\n",
        "TCE",
    ),
    "closure_under_value_and_grad_counts": (
        "model = Counter(0)\ntwin = Counter(0)\npairs = [(model, twin)]\n"
        "def run():\n"
        "    value, grads = jax.value_and_grad(lambda x, y: (model(x) * y).sum())(x, 2.0)\n"
        "    return value + grads.sum()\n"
        "def eager():\n"
        "    value = (twin(x) * 2.0).sum()\n"
        "    return value + 2.0 * twin.linear.kernel[...].sum()\n",
        "TCE",
    ),
    "closure_under_checkpoint": (
        "model = Noisy(0)\ntwin = Noisy(0)\npairs = [(model, twin)]\n"
        "def forward(x):\n    return model(x)\n"
        "def run():\n    return jax.checkpoint(forward)(x)\n"
        "def eager():\n    return twin(x)\n",
        "TCE",
    ),
    "closure_over_a_submodule_of_self_under_checkpoint": (
        "class Block(nnx.Module):\n"
        "    def __init__(self, seed):\n        self.inner = Noisy(seed)\n"
        "    def __call__(self, x):\n"
        "        return jax.checkpoint(lambda x: self.inner(x))(x)\n"
        "model = Block(0)\ntwin = Block(0)\npairs = [(model, twin)]\n"
        "def run():\n    return model(x)\n"
        "def eager():\n    return twin.inner(x)\n",
        "TCE",
    ),
    "closure_over_a_module_running_nnx_scan_under_vmap": (
        "model = Stack(0)\ntwin = Stack(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.vmap(lambda x: model(x))(xs)\n"
        "def eager():\n    return jnp.stack([twin(x) for x in xs])\n",
        "GRAPH",
    ),
    "closure_over_a_module_running_nnx_scan_under_grad": (
        "model = Stack(0)\ntwin = Stack(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.grad(lambda x: model(x).sum())(x)\n"
        "def eager():  # y = x @ K + b, layer after layer: the gradient is K1 K2 K3 1\n"
        "    g = jnp.ones(4)\n"
        "    for kernel in twin.layers.kernel[...][::-1]:\n"
        "        g = kernel @ g\n"
        "    return g\n",
        "GRAPH",
    ),
    "method_compiled_with_nnx_jit_under_vmap": (
        "model = Compiled(0)\ntwin = Compiled(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.vmap(model.render)(xs)\n"
        "def eager():\n    return jnp.stack([twin.render(x) for x in xs])\n",
        "TCE",
    ),
    "closure_under_scan_draws_from_rngs": (
        "rngs = nnx.Rngs(0)\ntwin = nnx.Rngs(0)\npairs = [(rngs, twin)]\n"
        "def run():\n    return jax.lax.scan(lambda c, x: (c, rngs.params()), 0.0, xs)[1]\n"
        "def eager():\n    return jnp.stack([twin.params() for _ in xs])\n",
        "TCE",
    ),
    "closure_under_fori_loop_counts": (
        "model = Counter(0)\ntwin = Counter(0)\npairs = [(model, twin)]\n"
        "def body(i, total):\n    return total + model(x)\n"
        "def run():\n    return jax.lax.fori_loop(0, 3, body, jnp.zeros(4))\n"
        "def eager():\n    return sum(twin(x) for _ in range(3))\n",
        "TCE",
    ),
    "closure_under_while_loop_assigns_a_variable": (
        "count = nnx.Variable(jnp.zeros(()))\ntwin = nnx.Variable(jnp.zeros(()))\n"
        "pairs = [(count, twin)]\n"
        "def body(i):\n    count.value = count.value + 1.0\n    return i + 1\n"
        "def run():\n    return jax.lax.while_loop(lambda i: i < 3, body, 0)\n"
        "def eager():\n    twin.value = twin.value + 3.0\n    return 3\n",
        "TCE",
    ),
    "closure_under_cond": (
        "model = Noisy(0)\ntwin = Noisy(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.lax.cond(True, lambda: model(x), lambda: x)\n"
        "def eager():\n    return twin(x)\n",
        "TCE",
    ),
    "closure_under_switch": (
        "model = Counter(0)\ntwin = Counter(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.lax.switch(0, [lambda: model(x), lambda: x])\n"
        "def eager():\n    return twin(x)\n",
        "TCE",
    ),
    "closure_under_lax_map": (
        "model = Noisy(0)\ntwin = Noisy(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.lax.map(lambda x: model(x), xs)\n"
        "def eager():\n    return jnp.stack([twin(x) for x in xs])\n",
        "TCE",
    ),
    "closure_under_pmap": (
        "model = Counter(0)\ntwin = Counter(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.pmap(lambda x: model(x))(x[None])\n"
        "def eager():\n    return twin(x)[None]\n",
        "TCE",
    ),
    "closure_under_shard_map": (
        "model = Counter(0)\ntwin = Counter(0)\npairs = [(model, twin)]\n"
        "mesh = Mesh(jax.devices()[:1], ('d',))\n"
        "@functools.partial(jax.shard_map, mesh=mesh, in_specs=PartitionSpec(), "
        "out_specs=PartitionSpec())\n"
        "def forward(x):\n    return model(x)\n"
        "def run():\n    return forward(x)\n"
        "def eager():\n    return twin(x)\n",
        "TCE",
    ),
    "closure_under_jacrev": (
        "model = Counter(0)\ntwin = Counter(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.jacrev(lambda x: model(x))(x)\n"
        "def eager():\n    return twin(x)\n",
        "TCE",
    ),
    "custom_vjp_argument_counts": (
        "model = Counter(0)\ntwin = Counter(0)\npairs = [(model, twin)]\n"
        "@jax.custom_vjp\n"
        "def forward(model, x):\n    return model(x)\n"
        "forward.defvjp(lambda m, x: (forward(m, x), None), lambda res, g: (None, g))\n"
        "def run():\n    return forward(model, x)\n"
        "def eager():\n    return twin(x)\n",
        "LOST",
    ),
    "value_and_grad_of_a_captured_pure_model_inside_scan_inside_nnx_jit": (
        "model = Pure(0)\ntwin = Pure(0)\npairs = [(model, twin)]\n"
        "def body(total, x):\n"
        "    value, grads = nnx.value_and_grad(loss)(model, x)\n"
        "    return total + value, None\n"
        "@nnx.jit\n"
        "def epoch(xs):\n    return jax.lax.scan(body, 0.0, xs)[0]\n"
        "def run():\n    return epoch(xs)\n"
        "def eager():\n    return sum(loss(twin, x) for x in xs)\n",
        "GRAPH",
    ),
    "scan_train_loop_inside_nnx_jit_over_its_arguments": (
        "model = Pure(0)\ntwin = Pure(0)\npairs = [(model, twin)]\n"
        "@nnx.jit\n"
        "def epoch(model, xs):  # no annotation: the call below passes a module\n"
        "    def body(total, x):\n"
        "        value, grads = nnx.value_and_grad(loss)(model, x)\n"
        "        return total + value, None\n"
        "    return jax.lax.scan(body, 0.0, xs)[0]\n"
        "def run():\n    return epoch(model, xs)\n"
        "def eager():\n    return sum(loss(twin, x) for x in xs)\n",
        "GRAPH",
    ),
    "grad_of_a_captured_pure_model_under_vmap": (
        "model = Pure(0)\ntwin = Pure(0)\npairs = [(model, twin)]\n"
        "def bias_grad(x):\n    return nnx.grad(loss)(model, x)['linear']['bias'][...]\n"
        "def run():\n    return jax.vmap(bias_grad)(xs)\n"
        "def eager():\n    return jnp.ones((3, 4))\n",
        "GRAPH",
    ),
    "grad_differentiates_a_model_holding_an_rng_count": (
        "model = Noisy(0)\ntwin = Noisy(0)\npairs = [(model, twin)]\n"
        "def run():\n    loss_value, grads = jax.value_and_grad(loss)(model, x)\n"
        "    return loss_value\n"
        "def eager():\n    return loss(twin, x)\n",
        "TYPE",
    ),
    "jacfwd_differentiates_a_model_holding_an_rng_count": (
        "model = Noisy(0)\ntwin = Noisy(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.jacfwd(loss)(model, x)\n"
        "def eager():\n    return loss(twin, x)\n",
        "TYPE",
    ),
    "grad_keeps_a_changing_model_it_does_not_differentiate": (
        "model = Counter(0)\ntwin = Counter(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.grad(loss, argnums=1)(model, x)\n"
        "def eager():\n    loss(twin, x)\n    return twin.linear.kernel[...].sum(axis=1)\n",
        "TCE",
    ),
    "cond_operand_draws": (
        "model = Noisy(0)\ntwin = Noisy(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.lax.cond(x.sum() > 0, loss, skip, model, x)\n"
        "def eager():\n    return loss(twin, x) if x.sum() > 0 else skip(twin, x)\n",
        "LOST",
    ),
    "switch_operand_counts": (
        "model = Counter(0)\ntwin = Counter(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.lax.switch(1, [skip, loss], model, x)\n"
        "def eager():\n    return loss(twin, x)\n",
        "LOST",
    ),
    "checkpoint_argument_updates_batch_statistics": (
        "model = Norm(0)\ntwin = Norm(0)\npairs = [(model, twin)]\n"
        "@functools.partial(jax.checkpoint, prevent_cse=False)\n"
        "def forward(model, x):\n    return model(x)\n"
        "def run():\n    return forward(model, x)\n"
        "def eager():\n    return twin(x)\n",
        "LOST",
    ),
    "value_and_grad_differentiates_a_model_updating_batch_statistics": (
        "model = Norm(0)\ntwin = Norm(0)\npairs = [(model, twin)]\n"
        "def run():\n    value, grads = jax.value_and_grad(loss)(model, x)\n"
        "    return value\n"
        "def eager():\n    return loss(twin, x)\n",
        "LOST",
    ),
    "vmap_argument_counts": (
        "model = Counter(0)\ntwin = Counter(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.vmap(loss, in_axes=(None, 0))(model, xs)\n"
        "def eager():\n    return jnp.stack([loss(twin, x) for x in xs])\n",
        "LOST",
    ),
    # Silent: correct as written.
    "pure_closure_under_vmap": (
        "model = Pure(0)\ntwin = Pure(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.vmap(lambda x: model(x))(xs)\n"
        "def eager():\n    return jnp.stack([twin(x) for x in xs])\n",
        None,
    ),
    "pure_closure_under_grad_and_checkpoint": (
        "model = Pure(0)\ntwin = Pure(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.grad(jax.checkpoint(lambda x: model(x).sum()))(x)\n"
        "def eager():\n    return twin.linear.kernel[...].sum(axis=1)\n",
        None,
    ),
    "closure_under_custom_vjp_called_eagerly": (
        "model = Counter(0)\ntwin = Counter(0)\npairs = [(model, twin)]\n"
        "@jax.custom_vjp\n"
        "def forward(x):\n    return model(x)\n"
        "forward.defvjp(lambda x: (forward(x), None), lambda res, g: (g,))\n"
        "def run():\n    return forward(x)\n"
        "def eager():\n    return twin(x)\n",
        None,
    ),
    "module_running_nnx_scan_passed_to_vmap": (
        "model = Stack(0)\ntwin = Stack(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.vmap(loss, in_axes=(None, 0))(model, xs)\n"
        "def eager():\n    return jnp.stack([loss(twin, x) for x in xs])\n",
        None,
    ),
    "pure_operand_of_cond": (
        "model = Pure(0)\ntwin = Pure(0)\npairs = [(model, twin)]\n"
        "def run():\n    return jax.lax.cond(x.sum() > 0, loss, skip, model, x)\n"
        "def eager():\n    return loss(twin, x)\n",
        None,
    ),
    "split_merge_state_returned": (
        "model = Counter(0)\ntwin = Counter(0)\npairs = [(model, twin)]\n"
        "graphdef, state = nnx.split(model)\n"
        "def forward(state, x):\n"
        "    m = nnx.merge(graphdef, state)\n    return m(x), nnx.state(m)\n"
        "def run():\n"
        "    y, new = jax.lax.cond(True, forward, forward, state, x)\n"
        "    nnx.update(model, new)\n    return y\n"
        "def eager():\n    return twin(x)\n",
        None,
    ),
    "nnx_transforms_with_objects_as_arguments": (
        "model = Counter(0)\ntwin = Counter(0)\npairs = [(model, twin)]\n"
        "def run():\n"
        "    a = nnx.cond(True, loss, skip, model, x)\n"
        "    b = nnx.grad(loss, argnums=1)(model, x)\n"
        "    return a + b.sum()\n"
        "def eager():\n"
        "    a = loss(twin, x)\n    loss(twin, x)\n"
        "    return a + twin.linear.kernel[...].sum()\n",
        None,
    ),
    "operand_handed_back": (
        "model = Counter(0)\ntwin = Counter(0)\npairs = [(model, twin)]\n"
        "def step(model, x):\n    return model(x), model\n"
        "def run():\n"
        "    y, new = jax.lax.cond(True, step, step, model, x)\n"
        "    nnx.update(model, nnx.state(new))\n    return y\n"
        "def eager():\n    return twin(x)\n",
        None,
    ),
}

RUNNER = """\
import json, sys
import jax
import numpy as np
from flax import nnx


def flat(obj):
    if isinstance(obj, nnx.Variable):
        leaves = [obj.value]
    else:
        leaves = jax.tree.leaves(nnx.state(obj))
    keys = jax.dtypes.prng_key
    return [
        np.asarray(jax.random.key_data(v) if jax.dtypes.issubdtype(v.dtype, keys) else v)
        for v in leaves
    ]


def same(a, b):
    return len(a) == len(b) and all(
        x.shape == y.shape and np.allclose(x, y, rtol=1e-5, atol=1e-6) for x, y in zip(a, b)
    )


results = {}
for name, source in json.loads(sys.stdin.read()).items():
    space = {}
    exec(compile(source, name, "exec"), space)
    pairs = space["pairs"]
    before = [flat(obj) for obj, _ in pairs]
    try:
        out = space["run"]()
    except Exception as exc:  # what the claim is about
        results[name] = {"raised": type(exc).__name__, "message": str(exc)[:300]}
        continue
    try:
        reference = space["eager"]()
    except Exception as exc:  # a broken reference: the test says so
        results[name] = {"raised": None, "eager_raised": f"{type(exc).__name__}: {exc}"[:300]}
        continue
    results[name] = {
        "raised": None,
        "same_output": bool(np.allclose(np.asarray(out), np.asarray(reference), atol=1e-6)),
        "same_state": all(same(flat(o), flat(t)) for o, t in pairs),
        "unchanged": all(same(flat(o), b) for (o, _), b in zip(pairs, before)),
        "twins_changed": not all(same(flat(t), b) for (_, t), b in zip(pairs, before)),
    }
print(json.dumps(results))
"""


def _run(programs: dict[str, str], python: str = sys.executable) -> dict[str, dict[str, object]]:
    return helpers.run_programs(RUNNER, programs, python)


def _findings(source: str, name: str, version: tuple[int, ...] | None = None) -> list:
    settings = Settings(target_flax_version=version)
    return [d for d in check_source(source, f"{name}.py", settings) if d.code == "NNX004"]


def _check_claim(said: str, outcome: dict[str, object], message: str = "") -> None:
    """``message``: where given, the error text it quotes must be what was raised."""
    quoted = re.search(r'raises TypeError \("([^"]+)"\)', message)
    if quoted is not None:
        assert quoted.group(1) in str(outcome.get("message", "")), (quoted.group(1), outcome)
    if said == "TCE":
        assert outcome["raised"] == "TraceContextError", outcome
    elif said == "GRAPH":
        assert outcome["raised"] == "ValueError", outcome
        assert "different trace level" in str(outcome["message"]), outcome
    elif said == "TYPE":
        assert outcome["raised"] == "TypeError", outcome
        assert "requires real-" in str(outcome["message"]), outcome
    elif said == "EITHER":
        assert outcome["raised"] in ("TraceContextError", "ValueError"), outcome
        assert "trace level" in str(outcome["message"]), outcome
    else:  # LOST: it runs, the object ends as it started, while eagerly it changes
        assert said == "LOST", said
        assert outcome["raised"] is None, outcome
        assert outcome["unchanged"] and outcome["twins_changed"], outcome


def _check_fixed(outcome: dict[str, object], changes: bool = True) -> None:
    """``changes``: the object's state changes eagerly (not for a pure module that fails only
    for the NNX transform it runs inside)."""
    assert outcome["raised"] is None and "eager_raised" not in outcome, outcome
    assert outcome["same_output"] and outcome["same_state"], outcome
    if changes:
        assert outcome["twins_changed"], outcome  # the state the fix keeps really changes


def _claim(message: str) -> str:
    if "TraceContextError or ValueError" in message:
        return "EITHER"
    if "Cannot extract graph node from different trace level" in message:
        return "GRAPH"
    if "the change is lost" in message:
        return "LOST"
    if 'raises TypeError ("' in message:
        return "TYPE"
    if "TraceContextError" in message:
        return "TCE"
    return "NONE"


def _fixed(source: str, name: str, version: tuple[int, ...] | None = None) -> str | None:
    """The program after `--fix --unsafe-fixes`; None when nothing changed."""
    settings = Settings(unsafe_fixes=True, target_flax_version=version)
    result = fix_source(source, f"{name}.py", settings)
    return result.source if result.source != source else None


@pytest.fixture(scope="module")
def outcomes() -> dict[str, dict[str, object]]:
    programs = {name: PRELUDE + source for name, (source, _) in CASES.items()}
    for name, (source, _) in CASES.items():
        fixed = _fixed(PRELUDE + source, name)
        if fixed is not None:
            programs[f"{name} (fixed)"] = fixed
    return _run(programs)


@pytest.mark.parametrize("name", sorted(n for n, (_, c) in CASES.items() if c is not None))
def test_the_message_claims_what_happens(name, outcomes):
    source, expected = CASES[name]
    found = _findings(PRELUDE + source, name)
    assert len(found) == 1, found
    said = _claim(found[0].message)
    assert said == expected, found[0].message
    _check_claim(said, outcomes[name], found[0].message)


@pytest.mark.parametrize("name", sorted(n for n, (_, c) in CASES.items() if c is not None))
def test_a_fix_gives_the_eager_results(name, outcomes):
    source, expected = CASES[name]
    (finding,) = _findings(PRELUDE + source, name)
    if finding.fix is None:  # the help says what to write instead, and why there is no fix
        assert f"{name} (fixed)" not in outcomes
        assert finding.fix_unavailable and "(no automatic fix: " in finding.fix_unavailable
        return
    fixed = _fixed(PRELUDE + source, name)
    assert fixed is not None and not _findings(fixed, name), fixed
    assert _fixed(fixed, name) is None  # idempotent
    _check_fixed(outcomes[f"{name} (fixed)"], changes=expected != "GRAPH")


@pytest.mark.parametrize("name", sorted(n for n, (_, c) in CASES.items() if c is None))
def test_silent_shapes_run_correctly(name, outcomes):
    source, _ = CASES[name]
    assert _findings(PRELUDE + source, name) == []
    outcome = outcomes[name]
    assert outcome["raised"] is None and "eager_raised" not in outcome, outcome
    assert outcome["same_output"] and outcome["same_state"], outcome


def test_the_fixes_cover_each_counterpart():
    """Control: the cases prove every fix NNX004 offers (cond, switch, remat, value_and_grad
    safe and unsafe, grad)."""
    fixed = {name: _fixed(PRELUDE + source, name) or "" for name, (source, c) in CASES.items() if c}
    text = "\n".join(fixed.values())
    for counterpart in (
        "nnx.cond(",
        "nnx.switch(",
        "nnx.remat,",
        "nnx.value_and_grad(",
        "nnx.grad(",
    ):
        assert counterpart in text, counterpart


PYTHONS = helpers.FLAX_PYTHONS


@pytest.mark.multiversion
@pytest.mark.parametrize("python", PYTHONS or [pytest.param("", marks=pytest.mark.skip)])
def test_claims_and_fixes_on_other_flax_versions(python: str) -> None:
    """On another interpreter's flax (``NNX_LINT_FLAX_PYTHONS``), linted for that version:
    every finding's claim happens there, and every fixed program gives the eager results."""
    version = tuple(int(part) for part in helpers.flax_version(python).split(".")[:3])
    programs: dict[str, str] = {}
    claims: dict[str, str] = {}
    for name, (source, _) in CASES.items():
        if name == "closure_under_shard_map" and version < (0, 11):
            continue  # jax.shard_map is newer than that flax's jax (0.5.3)
        for finding in _findings(PRELUDE + source, name, version):
            claims[name] = _claim(finding.message)
            programs[name] = PRELUDE + source
            fixed = _fixed(PRELUDE + source, name, version)
            if fixed is not None:
                programs[f"{name} (fixed)"] = fixed
    assert claims, "nothing reported"
    outcomes = _run(programs, python)
    for name, said in claims.items():
        _check_claim(said, outcomes[name])
        if f"{name} (fixed)" in outcomes:
            _check_fixed(outcomes[f"{name} (fixed)"], changes=said != "GRAPH")


def test_nnx001_fix_of_a_module_running_an_nnx_transform():
    """`jax.jit(stack)` of a module whose call runs `nnx.scan` over its layers raises (NNX001
    says so, not "stale constants"); its safe fix passes the module as an argument of the
    compiled function, which runs, and sees a parameter update between calls as eagerly."""
    source = PRELUDE + (
        "model = Stack(0)\ntwin = Stack(0)\npairs = [(model, twin)]\n"
        "fast = jax.jit(model)\n"
        "def bump(m):\n    m.layers.kernel[...] = m.layers.kernel[...] + 1.0\n"
        "def run():\n    first = fast(x)\n    bump(model)\n    return first + fast(x)\n"
        "def eager():\n    first = twin(x)\n    bump(twin)\n    return first + twin(x)\n"
    )
    (finding,) = [d for d in check_source(source, "nnx001.py") if d.code == "NNX001"]
    assert "tracing it fails" in finding.message and "nnx.scan" in finding.message
    assert finding.fix is not None and finding.fix.applicability.value == "safe"
    fixed = fix_source(source, "nnx001.py", Settings()).source
    outcomes = _run({"as written": source, "fixed": fixed})
    assert outcomes["as written"]["raised"] == "ValueError", outcomes
    _check_fixed(outcomes["fixed"])


REPORTED = sorted((Path(__file__).parent / "programs" / "reported").glob("*.py"))
RUN_REPORTED = """\
import json, runpy, sys
results = {}
for path in sys.argv[1:]:
    try:
        runpy.run_path(path, run_name="__main__")
        results[path] = {"raised": None}
    except Exception as exc:
        results[path] = {"raised": type(exc).__name__, "message": str(exc)[:300]}
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def reported() -> dict[str, dict[str, object]]:
    """What running each reported program does (one interpreter for all)."""
    result = subprocess.run(
        [sys.executable, "-c", RUN_REPORTED, *map(str, REPORTED)],
        env={**helpers.env(), "JAX_PLATFORMS": "cpu"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("program", REPORTED, ids=lambda p: p.stem)
def test_reported_issues_raise_what_the_message_says(program: Path, reported) -> None:
    """Programs users reported in Flax's tracker (and JAX's), as they wrote them: NNX004
    reports the transform, and running the program raises what the message says."""
    found = _findings(program.read_text(), program.stem)
    assert len(found) == 1, found
    _check_claim(_claim(found[0].message), reported[str(program)])
