"""`nnx.jit(model)` with a module that mutates itself: the same TraceContextError as jax.jit.

Usage: python nnx_jit_module.py OUT.npz (or set NNX_OUT).
"""

import os
import sys

import jax.numpy as jnp
from flax import nnx
from nnx_results import save_results


class Block(nnx.Module):
    def __init__(self, dim: int, *, rngs: nnx.Rngs):
        self.linear = nnx.Linear(dim, dim, rngs=rngs)
        self.bn = nnx.BatchNorm(dim, momentum=0.9, rngs=rngs)
        self.dropout = nnx.Dropout(0.25, rngs=rngs)
        self.steps = nnx.Variable(jnp.array(0))

    def __call__(self, x):
        self.steps[...] += 1
        return x + self.dropout(nnx.relu(self.bn(self.linear(x))))


model = Block(6, rngs=nnx.Rngs(3))
forward = nnx.jit(model)

x = jnp.sin(jnp.arange(9 * 6, dtype=jnp.float32)).reshape(9, 6)
outputs = []
for i in range(3):
    x = forward(x)
    outputs.append(x)
    print(f"block {i}: {float(jnp.linalg.norm(x)):.6f}")

save_results(sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"], outputs, model=model)
