"""Every message is true: what NNX001/NNX002 say will happen at run time is what happens.

Each case is a small complete program that compiles something (``compiled``), calls it
(``call``), changes the objects' state (``change``) and computes the eager result (``eager``).
nnx-lint lints it; the claim its message makes is read off the message; then the program runs
on the installed jax/flax (CPU) and the claim is checked:

- RAISES ("tracing it fails", "raises ValueError"): calling ``compiled`` raises
  TraceContextError or ValueError;
- STALE ("compiled in as constants"): it runs, and after ``change()`` it still returns the old
  result while the eager result moved;
- NONE ("cannot be told"): no claim to check (the message must say it cannot tell).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import helpers
import pytest
from helpers import claim

from nnx_lint.engine import check_source
from nnx_lint.settings import Settings

pytestmark = pytest.mark.execution

PRELUDE = """\
import functools

import jax
import jax.numpy as jnp
import optax
from flax import nnx

x = jnp.ones((1, 2))
"""

CLASSES = """\
class Scale(nnx.Module):  # holds a Param, only reads it: pure
    def __init__(self, rngs):
        self.w = nnx.Param(jnp.full((2,), 2.0))
        self.linear = nnx.Linear(2, 2, rngs=rngs)

    def __call__(self, x):
        return self.linear(x * self.w[...])

    def precompute(self):  # another method writes: __call__ stays pure
        self.cache = self.w[...] * 2


class Noisy(nnx.Module):  # its __call__ reaches a Dropout through a helper method
    def __init__(self, rngs):
        self.linear = nnx.Linear(2, 2, rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=rngs)

    def __call__(self, x):
        return self.regularise(self.linear(x))

    def regularise(self, y):
        return self.drop(y)

    def encode(self, x):
        return self.linear(x)


class Quiet(nnx.Module):  # Dropout and BatchNorm told not to change anything
    def __init__(self, rngs):
        self.linear = nnx.Linear(2, 2, rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=rngs)
        self.norm = nnx.BatchNorm(2, use_running_average=True, rngs=rngs)

    def __call__(self, x):
        return self.norm(self.drop(self.linear(x), deterministic=True))


class Aliased(nnx.Module):  # writes its cache through a local name
    def __init__(self, rngs):
        self.linear = nnx.Linear(2, 2, rngs=rngs)
        self.seen = nnx.Variable(jnp.zeros(()))

    def __call__(self, x):
        seen = self.seen
        seen[...] = seen[...] + 1
        return self.linear(x)


class Guarded(nnx.Module):  # writes only past an early return
    def __init__(self, rngs, decode=False):
        self.linear = nnx.Linear(2, 2, rngs=rngs)
        self.decode = decode
        self.cache = nnx.Variable(jnp.zeros((1, 2)))

    def __call__(self, x):
        y = self.linear(x)
        if not self.decode:
            return y
        self.cache[...] = y
        return y


def residual(layer, x):
    return x + layer(x)


class Residual(nnx.Module):  # hands its Dropout to a function
    def __init__(self, rngs):
        self.drop = nnx.Dropout(0.5, rngs=rngs)
        self.linear = nnx.Linear(2, 2, rngs=rngs)

    def __call__(self, x):
        return residual(self.drop, self.linear(x))


class Recorder(nnx.Module):  # writes only when asked to
    def __init__(self, rngs, record=False):
        self.linear = nnx.Linear(2, 2, rngs=rngs)
        self.record = record

    def __call__(self, x):
        y = self.linear(x)
        if self.record:
            self.last = nnx.Intermediate(y)
        return y


class Picked(nnx.Module):  # draws from its Dropout only in one arm of a conditional expression
    def __init__(self, rngs, train=False):
        self.linear = nnx.Linear(2, 2, rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=rngs)
        self.train = train

    def __call__(self, x):
        y = self.linear(x)
        return self.drop(y) if self.train else y


class Shorted(Picked):  # draws only when `and` does not stop first
    def __call__(self, x):
        y = self.linear(x)
        return self.train and self.drop(y) or y


class Matched(nnx.Module):  # counts only in one case of a match statement
    def __init__(self, rngs, mode="eval"):
        self.linear = nnx.Linear(2, 2, rngs=rngs)
        self.count = nnx.Variable(jnp.zeros(()))
        self.mode = mode

    def __call__(self, x):
        match self.mode:
            case "train":
                self.count[...] = self.count[...] + 1
        return self.linear(x)
"""

BUMP = "def change():\n    model.linear.kernel[...] = model.linear.kernel[...] + 1.0\n"


def _drawing_in(body: str) -> str:
    """A program compiling a Module (eval mode, a Dropout) whose ``__call__`` is ``body``
    (indented 8, with ``y = self.linear(x)`` first): its Dropout draws only where it runs."""
    return (
        "class M(nnx.Module):\n"
        "    def __init__(self, rngs):\n"
        "        self.linear = nnx.Linear(2, 2, rngs=rngs)\n"
        "        self.drop = nnx.Dropout(0.5, rngs=rngs)\n"
        "        self.mode, self.train = 'eval', False\n\n"
        "    def __call__(self, x):\n        y = self.linear(x)\n"
        + textwrap.indent(textwrap.dedent(body), " " * 8)
        + "\n\nmodel = M(nnx.Rngs(0))\ncompiled = jax.jit(model)\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model(x)\n" + BUMP
    )


# Draws that may not run: past a return or raise nested in a statement, in a filtered
# comprehension, a chained comparison's later operand, a lambda never called, an except*.
MAYBE_DRAWN = {
    "past_a_match_case_that_returns": """\
        match self.mode:
            case "eval":
                return y
        return self.drop(y)""",
    "past_a_nested_return": """\
        if not self.train:
            if x is not None:
                return y
        return self.drop(y)""",
    "past_a_try_that_returns": """\
        try:
            return y
        except Exception:
            pass
        return self.drop(y)""",
    "in_a_filtered_comprehension": """\
        zs = [self.drop(y) for _ in range(1) if self.train]
        return y""",
    "in_a_chained_comparison": """\
        if 1 > 2 > self.drop(y).sum():
            pass
        return y""",
    "in_a_lambda_never_called": """\
        f = lambda v: self.drop(v)
        return y""",
    "in_an_except_star_handler": """\
        try:
            pass
        except* ValueError:
            self.drop(y)
        return y""",
}

# name -> (program after the prelude, the claim the message must make)
CASES = {
    "linear": (
        "model = nnx.Linear(2, 2, rngs=nnx.Rngs(0))\n"
        "compiled = jax.jit(model)\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model(x)\n"
        "def change():\n    model.kernel[...] = model.kernel[...] + 1.0\n",
        "STALE",
    ),
    "holds_params_only": (
        f"{CLASSES}\nmodel = Scale(nnx.Rngs(0))\n"
        "compiled = jax.jit(model)\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model(x)\n" + BUMP,
        "STALE",
    ),
    "dropout_through_a_helper_method": (
        f"{CLASSES}\nmodel = Noisy(nnx.Rngs(0))\n"
        "compiled = jax.jit(model)\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model(x)\n" + BUMP,
        "RAISES",
    ),
    "deterministic_dropout_and_running_average_batchnorm": (
        f"{CLASSES}\nmodel = Quiet(nnx.Rngs(0))\n"
        "compiled = jax.jit(model)\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model(x)\n" + BUMP,
        "STALE",
    ),
    "write_under_a_condition": (
        f"{CLASSES}\nmodel = Recorder(nnx.Rngs(0))\n"
        "compiled = jax.jit(model)\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model(x)\n" + BUMP,
        "NONE",
    ),
    # Under a condition of an expression or a match case (the index marked them again after
    # a speed change had stopped it): eval mode here, so it runs; no claim is made.
    **{
        f"write_or_draw_under_{how}": (
            f"{CLASSES}\nmodel = {cls}(nnx.Rngs(0))\n"
            "compiled = jax.jit(model)\n"
            "def call():\n    return compiled(x)\n"
            "def eager():\n    return model(x)\n" + BUMP,
            "NONE",
        )
        for how, cls in [
            ("a_conditional_expression", "Picked"),
            ("and_or", "Shorted"),
            ("a_match_case", "Matched"),
        ]
    },
    **{f"draw_{name}": (_drawing_in(body), "NONE") for name, body in MAYBE_DRAWN.items()},
    # Parts that always run: a conditional expression's test, the first operand of `or`.
    "draw_in_a_conditional_expressions_test": (
        _drawing_in("return y if self.drop(y).sum() > -1e9 else y"),
        "RAISES",
    ),
    "draw_in_the_first_operand_of_or": (_drawing_in("return self.drop(y) is None or y"), "RAISES"),
    "static_module_only_read": (
        "model = nnx.Linear(2, 2, rngs=nnx.Rngs(0))\n"
        "@functools.partial(jax.jit, static_argnums=0)\n"
        "def compiled(model: nnx.Linear, x):\n    return model(x)\n"
        "def call():\n    return compiled(model, x)\n"
        "def eager():\n    return model(x)\n"
        "def change():\n    model.kernel[...] = model.kernel[...] + 1.0\n",
        "STALE",
    ),
    "static_optimizer_updated": (
        "model = nnx.Linear(2, 2, rngs=nnx.Rngs(0))\n"
        "opt = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)\n"
        "@functools.partial(jax.jit, static_argnums=0)\n"
        "def compiled(o: nnx.Optimizer, m: nnx.Linear, g):\n    o.update(m, g)\n"
        "    return m(x)\n"
        "def call():\n"
        "    return compiled(opt, model, nnx.grad(lambda m: m(x).sum())(model))\n"
        "def eager():\n    return model(x)\n"
        "def change():\n    pass\n",
        "RAISES",
    ),
    "noisy_module_switched_to_eval_first": (
        f"{CLASSES}\nmodel = Noisy(nnx.Rngs(0))\nmodel.eval()\n"
        "compiled = jax.jit(model)\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model(x)\n" + BUMP,
        "NONE",
    ),
    "lstm_cell_stepped": (
        "cell = nnx.LSTMCell(2, 2, rngs=nnx.Rngs(0))\n"
        "carry = cell.initialize_carry((1, 2), nnx.Rngs(1))\n"
        "compiled = jax.jit(cell)\n"
        "def call():\n    return compiled(carry, x)[1]\n"
        "def eager():\n    return cell(carry, x)[1]\n"
        "def change():\n    cell.ii.kernel[...] = cell.ii.kernel[...] + 1.0\n",
        "STALE",
    ),
    "write_through_a_local_name": (
        f"{CLASSES}\nmodel = Aliased(nnx.Rngs(0))\n"
        "compiled = jax.jit(model)\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model(x)\n" + BUMP,
        "RAISES",
    ),
    "write_past_an_early_return": (
        f"{CLASSES}\nmodel = Guarded(nnx.Rngs(0))\n"
        "compiled = jax.jit(model)\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model(x)\n" + BUMP,
        "NONE",
    ),
    "submodule_handed_to_a_function": (
        f"{CLASSES}\nmodel = Residual(nnx.Rngs(0))\n"
        "compiled = jax.jit(model)\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model(x)\n" + BUMP,
        "NONE",
    ),
    "pure_method_of_a_noisy_module": (
        f"{CLASSES}\nmodel = Noisy(nnx.Rngs(0))\n"
        "compiled = jax.jit(model.encode)\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model.encode(x)\n" + BUMP,
        "STALE",
    ),
    "sequential_with_dropout": (
        "model = nnx.Sequential(nnx.Linear(2, 2, rngs=nnx.Rngs(0)), "
        "nnx.Dropout(0.5, rngs=nnx.Rngs(1)))\n"
        "compiled = jax.jit(model)\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model(x)\n"
        "def change():\n    pass\n",
        "RAISES",
    ),
    "closure_reads_optimizer_step": (
        "model = nnx.Linear(2, 2, rngs=nnx.Rngs(0))\n"
        "opt = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)\n"
        "compiled = jax.jit(lambda: opt.step[...])\n"
        "def call():\n    return compiled()\n"
        "def eager():\n    return opt.step[...]\n"
        "def change():\n"
        "    grads = nnx.grad(lambda m: m(x).sum())(model)\n"
        "    opt.update(model, grads)\n",
        "STALE",
    ),
    "closure_draws_from_rngs": (
        "rngs = nnx.Rngs(0)\n"
        "compiled = jax.jit(lambda: rngs())\n"
        "def call():\n    return compiled()\n"
        "def eager():\n    return rngs()\n"
        "def change():\n    pass\n",
        "RAISES",
    ),
    "closure_assigns_a_variable": (
        "counter = nnx.Variable(jnp.zeros(()))\n"
        "@jax.jit\n"
        "def compiled():\n"
        "    counter[...] = counter[...] + 1\n"
        "    return counter[...]\n"
        "def call():\n    return compiled()\n"
        "def eager():\n    return counter[...] + 1\n"
        "def change():\n    pass\n",
        "RAISES",
    ),
    "closure_runs_value_and_grad_on_a_pure_module": (
        "model = nnx.Linear(2, 2, rngs=nnx.Rngs(0))\n"
        "@jax.jit\n"
        "def compiled(x):\n"
        "    loss, grads = nnx.value_and_grad(lambda m: m(x).sum())(model)\n"
        "    return loss\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model(x).sum()\n"
        "def change():\n    pass\n",
        "RAISES",
    ),
    "dict_of_modules_element_called": (
        f"{CLASSES}\nnets = {{'q': Noisy(nnx.Rngs(0)), 't': Noisy(nnx.Rngs(1))}}\n"
        "compiled = jax.jit(lambda x: nets['q'](x))\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return nets['q'](x)\n"
        "def change():\n    pass\n",
        "RAISES",
    ),
    "list_of_pure_modules_iterated": (
        "ensemble = [nnx.Linear(2, 2, rngs=nnx.Rngs(i)) for i in range(2)]\n"
        "compiled = jax.jit(lambda x: sum(m(x) for m in ensemble))\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return sum(m(x) for m in ensemble)\n"
        "def change():\n    ensemble[0].kernel[...] = ensemble[0].kernel[...] + 1.0\n",
        "STALE",
    ),
    "partial_binding_a_pure_module": (
        "model = nnx.Linear(2, 2, rngs=nnx.Rngs(0))\n"
        "def forward(m, x):\n    return m(x)\n"
        "compiled = jax.jit(functools.partial(forward, model))\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model(x)\n"
        "def change():\n    model.kernel[...] = model.kernel[...] + 1.0\n",
        "STALE",
    ),
    "cached_partial_under_jax_jit": (
        "model = nnx.Linear(2, 2, rngs=nnx.Rngs(0))\n"
        "def forward(m, x):\n    return m(x)\n"
        "compiled = jax.jit(nnx.cached_partial(forward, model))\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model(x)\n"
        "def change():\n    pass\n",
        "RAISES",
    ),
    "module_from_a_factory_function": (
        f"{CLASSES}\ndef make():\n    noisy = Noisy(nnx.Rngs(0))\n    return noisy\n"
        "model = make()\n"
        "compiled = jax.jit(lambda x: model(x))\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model(x)\n" + BUMP,
        "RAISES",
    ),
    "bound_method_of_a_plain_holder_with_dropout": (
        f"{CLASSES}\nclass Agent:\n    def __init__(self):\n        self.net = Noisy(nnx.Rngs(0))\n"
        "    def act(self, x):\n        return self.net(x)\n"
        "agent = Agent()\n"
        "compiled = jax.jit(agent.act)\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return agent.act(x)\n"
        "def change():\n    pass\n",
        "RAISES",
    ),
    "bound_method_of_a_plain_holder_only_reading": (
        "class Agent:\n    def __init__(self):\n"
        "        self.net = nnx.Linear(2, 2, rngs=nnx.Rngs(0))\n"
        "    def act(self, x):\n        return self.net(x)\n"
        "agent = Agent()\n"
        "compiled = jax.jit(agent.act)\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return agent.act(x)\n"
        "def change():\n    agent.net.kernel[...] = agent.net.kernel[...] + 1.0\n",
        "STALE",
    ),
    "annotated_base_may_hold_a_changing_subclass": (
        f"{CLASSES}\nclass Louder(Scale):\n    def __init__(self, rngs):\n"
        "        super().__init__(rngs)\n        self.drop = nnx.Dropout(0.5, rngs=rngs)\n"
        "    def __call__(self, x):\n        return self.drop(super().__call__(x))\n"
        "def load(p: float) -> Scale:\n"
        "    return Louder(nnx.Rngs(0)) if p > 0 else Scale(nnx.Rngs(0))\n"
        "model = load(0.5)\n"
        "compiled = jax.jit(lambda x: model(x))\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model(x)\n" + BUMP,
        "NONE",
    ),
    "plain_holder_counting_calls_on_itself": (
        "class Agent:\n    def __init__(self):\n"
        "        self.net = nnx.Linear(2, 2, rngs=nnx.Rngs(0))\n        self.calls = 0\n"
        "    def act(self, x):\n        self.calls += 1\n        return self.net(x)\n"
        "agent = Agent()\n"
        "compiled = jax.jit(agent.act)\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return agent.act(x)\n"
        "def change():\n    agent.net.kernel[...] = agent.net.kernel[...] + 1.0\n",
        "STALE",
    ),
    "static_model_with_dropout_passed_by_a_call": (
        f"{CLASSES}\n@functools.partial(jax.jit, static_argnums=(0,))\n"
        "def fwd(model, x):\n    return model(x)\n"
        "model = Noisy(nnx.Rngs(0))\n"
        "def call():\n    return fwd(model, x)\n"
        "def eager():\n    return model(x)\n"
        "def change():\n    pass\n",
        "RAISES",
    ),
    "module_running_nnx_scan_over_its_layers": (
        "class Stack(nnx.Module):\n"
        "    def __init__(self, rngs):\n"
        "        @nnx.vmap(in_axes=0, out_axes=0)\n"
        "        def make(r):\n            return nnx.Linear(2, 2, rngs=r)\n"
        "        self.layers = make(rngs.fork(split=3))\n"
        "    def __call__(self, x):\n"
        "        @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)\n"
        "        def forward(x, layer):\n            return layer(x)\n"
        "        return forward(x, self.layers)\n"
        "model = Stack(nnx.Rngs(0))\n"
        "compiled = jax.jit(model)\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model(x)\n"
        "def change():\n    pass\n",
        "RAISES",
    ),
    "method_compiled_with_nnx_jit": (
        "class Compiled(nnx.Module):\n"
        "    def __init__(self, rngs):\n        self.linear = nnx.Linear(2, 2, rngs=rngs)\n"
        "    @nnx.jit\n"
        "    def render(self, x):\n        return self.linear(x)\n"
        "model = Compiled(nnx.Rngs(0))\n"
        "compiled = jax.jit(lambda x: model.render(x))\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model.render(x)\n"
        "def change():\n    pass\n",
        "RAISES",
    ),
    "nnx_jit_of_a_bound_method": (  # raises from flax 0.12.1 on; stale before
        "model = nnx.Linear(2, 2, rngs=nnx.Rngs(0))\n"
        "compiled = nnx.jit(model.__call__)\n"
        "def call():\n    return compiled(x)\n"
        "def eager():\n    return model(x)\n"
        "def change():\n    model.kernel[...] = model.kernel[...] + 1.0\n",
        "RAISES",
    ),
}

RUNNER = """\
import json, sys, traceback
import jax
import numpy as np


def value(result):  # an RNG key as its data
    if jax.dtypes.issubdtype(result.dtype, jax.dtypes.prng_key):
        result = jax.random.key_data(result)
    return np.asarray(result)


results = {}
for name, source in json.loads(sys.stdin.read()).items():
    space = {}
    stage = "setup"
    try:
        exec(compile(source, name, "exec"), space)
        stage = "call"
        first = value(space["call"]())
        stage = "change"
        space["change"]()
        stage = "second call"
        second = value(space["call"]())
        stage = "eager"
        eager = value(space["eager"]())
        results[name] = {
            "raised": None,
            "stale": bool(np.array_equal(first, second) and not np.array_equal(second, eager)),
        }
    except Exception as exc:  # what the claim is about
        results[name] = {"raised": type(exc).__name__, "message": str(exc)[:200], "stage": stage}
print(json.dumps(results))
"""


def _run(programs: dict[str, str], python: str = sys.executable) -> dict[str, dict[str, object]]:
    """What running each program does, all in one subprocess of ``python``."""
    return helpers.run_programs(RUNNER, programs, python)


@pytest.fixture(scope="module")
def outcomes() -> dict[str, dict[str, object]]:
    return _run({name: PRELUDE + source for name, (source, _) in CASES.items()})


def _said(message: str) -> str:
    """``helpers.claim``, and LEAKS for the messages of flax before 0.10.5, where a traced
    state change is not caught: the tracer leaks into the object's state."""
    if "leaks a tracer" in message and "cannot be told" not in message:
        return "LEAKS"
    return claim(message)


def _check(name: str, message: str, said: str, outcome: dict[str, object]) -> None:
    """The claim ``said`` (read off ``message``) is what running the program did."""
    if said == "RAISES":
        assert outcome["raised"] in ("TraceContextError", "ValueError"), outcome
        # when applied (nnx.jit of a bound method) or at the first call, before any change
        assert outcome["stage"] in ("setup", "call"), outcome
    elif said == "LEAKS":  # nothing checks it: using the object afterwards meets the tracer
        leaked = outcome["raised"] == "UnexpectedTracerError" or "Tracer" in outcome["message"]
        assert leaked, outcome
    elif said == "NONE":
        assert "cannot be told" in message  # and it claims neither outcome
    else:
        assert said == "STALE", message
        assert outcome["raised"] is None, outcome
        assert outcome["stale"], f"{name}: ran, but not with stale results: {outcome}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_message_claims_what_happens(name, outcomes):
    source, expected = CASES[name]
    found = [d for d in check_source(PRELUDE + source, f"{name}.py") if d.code.startswith("NNX")]
    assert len(found) == 1, found
    said = _said(found[0].message)
    assert said == expected, found[0].message
    _check(name, found[0].message, said, outcomes[name])


# The claims that differ by flax version, newest first: (first version, claim). Measured on
# 0.10.4, 0.10.5, 0.11.0, 0.12.0, 0.12.8 and 0.12.12.
# Before flax 0.10.5 a state change inside the trace is not caught: the tracer leaks (LEAKS,
# for every other case that raises on newer flax).
CAUGHT = (0, 10, 5)
UNCHECKED_NESTED = [(CAUGHT, "RAISES"), ((0,), "NONE")]  # stale for some transforms, leaks
BY_VERSION: dict[str, list[tuple[tuple[int, ...], str]]] = {
    # nnx.jit refuses bound methods from 0.12.1 on ("does not support bound methods"); before,
    # it compiles the captured module's parameters in.
    "nnx_jit_of_a_bound_method": [((0, 12, 1), "RAISES"), ((0,), "STALE")],
    # An NNX transform given a captured object: on 0.10.4 nnx.value_and_grad and an @nnx.jit
    # method run with stale constants, nnx.scan leaks a tracer.
    "closure_runs_value_and_grad_on_a_pure_module": UNCHECKED_NESTED,
    "method_compiled_with_nnx_jit": UNCHECKED_NESTED,
    "module_running_nnx_scan_over_its_layers": UNCHECKED_NESTED,
    # ValueError ("GRAPH_CONTEXT.tmp_static_cache should be None") since nnx.cached_partial
    # exists (0.10.4).
    "cached_partial_under_jax_jit": [((0, 10, 4), "RAISES")],
}
# The API the programs use that older flax lacks (not the shapes the rules see): before 0.11 a
# Variable's value is set with `.value` (`v[...] = y` is a TypeError there, "JAX arrays are
# immutable"), `Optimizer.update` takes the gradients alone and `Rngs.fork` no `split`.
NEW_API = (0, 11)


def expected_claim(name: str, version: tuple[int, ...]) -> str:
    for since, said in BY_VERSION.get(name, []):
        if version >= since:
            return said
    expected = CASES[name][1]
    return "LEAKS" if expected == "RAISES" and version < CAUGHT else expected


def portable(source: str, version: tuple[int, ...]) -> str:
    """The program written in the API of flax ``version``."""
    if version >= NEW_API:
        return source
    source = re.sub(r"(\S+)\[\.\.\.\] = ", r"\1.value = ", source)
    source = re.sub(r"\b(o|opt)\.update\((m|model), ", r"\1.update(", source)
    return source.replace(
        "        @nnx.vmap(in_axes=0, out_axes=0)\n",
        "        @nnx.split_rngs(splits=3)\n        @nnx.vmap(in_axes=0, out_axes=0)\n",
    ).replace("make(rngs.fork(split=3))", "make(rngs)")


PYTHONS = helpers.FLAX_PYTHONS
VERSIONS = [(0, 10, 4), (0, 10, 5), (0, 11, 0), (0, 12, 0), (0, 12, 1), (0, 12, 12)]


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: ".".join(map(str, v)))
def test_each_message_is_exact_for_the_target_version(version: tuple[int, ...]) -> None:
    """Linted for each version measured (run there with ``-m multiversion``), every case's
    message makes the claim measured on that version."""
    wrong = {}
    for name, (source, _) in CASES.items():
        program = PRELUDE + portable(source, version)
        settings = Settings(target_flax_version=version)
        code = _code(name)  # the rule reporting the case on the installed flax
        found = [d for d in check_source(program, f"{name}.py", settings) if d.code == code]
        said = [_said(d.message) for d in found]
        if said != [expected_claim(name, version)]:
            wrong[name] = (said, [d.message for d in found])
    assert not wrong, wrong


def _code(name: str) -> str:
    """The code of the one finding a case gets on the installed flax."""
    source, _ = CASES[name]
    found = check_source(PRELUDE + source, f"{name}.py")
    (finding,) = [d for d in found if d.code.startswith("NNX0")]
    return finding.code


@pytest.mark.multiversion
@pytest.mark.parametrize("python", PYTHONS or [pytest.param("", marks=pytest.mark.skip)])
def test_the_message_claims_what_happens_on_other_flax_versions(python: str) -> None:
    """On another interpreter's flax (``NNX_LINT_FLAX_PYTHONS``), every case linted for that
    version makes the claim measured there, and running it there does what it says."""
    version = tuple(int(part) for part in helpers.flax_version(python).split(".")[:3])
    programs = {name: PRELUDE + portable(source, version) for name, (source, _) in CASES.items()}
    outcomes = _run(programs, python)
    wrong = {}
    for name, program in programs.items():
        settings = Settings(target_flax_version=version)
        found = [d for d in check_source(program, f"{name}.py", settings) if d.code == _code(name)]
        assert len(found) == 1, (name, found)
        message = found[0].message
        said = _said(message)
        if said != expected_claim(name, version):
            wrong[name] = (said, message)
            continue
        try:
            _check(name, message, said, outcomes[name])
        except AssertionError as failed:
            wrong[name] = (said, message, outcomes[name], str(failed))
    assert not wrong, wrong


def test_a_donated_argument_changed_and_not_returned_breaks_the_next_call():
    """NNX003 says the update is lost and, where the call reuses the donated buffers, the
    arrays are deleted: here a result the kernel's buffer can hold, and the second call raises
    ValueError (a deleted or donated buffer)."""
    source = PRELUDE + (
        "model = nnx.Linear(2, 2, rngs=nnx.Rngs(0))\n"
        "opt = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)\n"
        "@functools.partial(jax.jit, donate_argnums=(0, 1))\n"
        "def step(model, opt, x):\n"
        "    grads = nnx.grad(lambda m: m(x).sum())(model)\n"
        "    opt.update(model, grads)\n"
        "    return model.kernel[...] * 2.0\n"  # a result the kernel's buffer can hold
        "step(model, opt, x)\n"
    )
    (found,) = [d for d in check_source(source, "donated.py") if d.code == "NNX003"]
    assert (
        claim(found.message) == "LOST" and "using them again fails with ValueError" in found.message
    )
    program = source + (
        "try:\n    step(model, opt, x)\nexcept ValueError as exc:\n    print('raised', exc)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", program], env=helpers.env(), capture_output=True, text=True
    )
    assert "raised" in run.stdout and "delete" in run.stdout.lower(), run.stdout + run.stderr


def test_the_runner_tells_raising_from_stale(outcomes):
    """Control: the cases cover both outcomes, so the checks above can fail either way."""
    kinds = {o["raised"] is None for o in outcomes.values()}
    assert kinds == {True, False}
    assert textwrap.dedent(PRELUDE).startswith("import functools")
