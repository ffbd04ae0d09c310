"""Flax's hijax mode (`nnx.var_defaults(hijax=True)`): a `@jax.jit` closure over a model whose
forward pass updates BatchNorm statistics, Dropout's RNG and a call counter.

With hijax Variables, `jax.jit` tracks reads and writes of the closed-over state, so the
updates reach the model and later parameter changes are seen. (`nnx.use_hijax` does not
exist on flax 0.12.8; `nnx.var_defaults(hijax=True)` is the switch there.)
Usage: python nnx003_ok_hijax.py OUT.npz (or set NNX_OUT).
"""

import os
import sys

import jax
import jax.numpy as jnp
from flax import nnx
from nnx_results import save_results

nnx.var_defaults(hijax=True)


class Encoder(nnx.Module):
    def __init__(self, din: int, dhidden: int, dout: int, *, rngs: nnx.Rngs):
        self.linear1 = nnx.Linear(din, dhidden, use_bias=False, rngs=rngs)  # BatchNorm follows
        self.bn = nnx.BatchNorm(dhidden, rngs=rngs)
        self.dropout = nnx.Dropout(0.1, rngs=rngs)
        self.linear2 = nnx.Linear(dhidden, dout, rngs=rngs)
        self.calls = nnx.Variable(jnp.array(0, dtype=jnp.int32))

    def __call__(self, x):
        self.calls[...] += 1
        return self.linear2(self.dropout(nnx.relu(self.bn(self.linear1(x)))))


model = Encoder(3, 16, 2, rngs=nnx.Rngs(0))


@jax.jit
def encode(x):
    return model(x)


xs = jax.random.normal(jax.random.key(1), (32, 3))
outputs = []
for step in range(3):
    outputs.append(encode(xs + step))
    print(f"step {step}: output sum {float(outputs[-1].sum()):.6f}")
    model.linear2.kernel[...] *= 0.5  # a manual weight decay between batches

save_results(sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"], outputs, model=model)
