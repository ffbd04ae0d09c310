"""A decorated `@jax.jit` step function that closes over a module-level model.

The model uses Dropout and BatchNorm in training mode, so every call mutates its state.
Usage: python closure_decorated.py OUT.npz (or set NNX_OUT).
"""

import os
import sys

import jax
import jax.numpy as jnp
from flax import nnx
from nnx_results import save_results


class MLP(nnx.Module):
    def __init__(self, din: int, dhidden: int, dout: int, *, rngs: nnx.Rngs):
        self.linear1 = nnx.Linear(din, dhidden, rngs=rngs)
        self.bn = nnx.BatchNorm(dhidden, rngs=rngs)
        self.dropout = nnx.Dropout(0.2, rngs=rngs)
        self.linear2 = nnx.Linear(dhidden, dout, rngs=rngs)

    def __call__(self, x):
        x = nnx.gelu(self.bn(self.linear1(x)))
        return self.linear2(self.dropout(x))


model = MLP(5, 16, 3, rngs=nnx.Rngs(params=0, dropout=1))


@jax.jit
def step(x):
    return model(x)


x = jnp.sin(0.37 * jnp.arange(12 * 5, dtype=jnp.float32)).reshape(12, 5)
outputs = []
for i in range(3):
    y = step(x + 0.5 * i)
    outputs.append(y)
    print(f"step {i}: {float(y.std()):.6f}")

save_results(sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"], outputs, model=model)
