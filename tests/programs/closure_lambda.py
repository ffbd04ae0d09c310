"""`jax.jit(lambda x: model(x))` over a model with dropout and a call counter.

Usage: python closure_lambda.py OUT.npz (or set NNX_OUT).
"""

import os
import sys

import jax
import jax.numpy as jnp
from flax import nnx
from nnx_results import save_results


class NoisyEncoder(nnx.Module):
    def __init__(self, din: int, dout: int, *, rngs: nnx.Rngs):
        self.dropout = nnx.Dropout(0.4, rngs=rngs)
        self.proj = nnx.Linear(din, dout, rngs=rngs)
        self.norm = nnx.LayerNorm(dout, rngs=rngs)
        self.seen = nnx.Variable(jnp.array(0.0))

    def __call__(self, x):
        self.seen[...] += x.sum()
        return self.norm(self.proj(self.dropout(x)))


model = NoisyEncoder(4, 6, rngs=nnx.Rngs(7))
f = jax.jit(lambda x: model(x))

x = jnp.linspace(0.0, 1.0, 10 * 4).reshape(10, 4)
outputs = []
for i in range(3):
    y = f(x * (i + 1))
    outputs.append(y)
    print(f"call {i}: {float(y[0, 0]):.6f}")

save_results(sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"], outputs, model=model)
