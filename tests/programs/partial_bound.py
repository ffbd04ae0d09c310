"""A classifier with Dropout and BatchNorm in training mode, bound to a function with
`functools.partial` and compiled with `jax.jit`.

Every call advances the dropout RNG and updates the BatchNorm statistics. Usage: python
partial_bound.py OUT.npz (or set NNX_OUT).
"""

import functools
import os
import sys

import jax
import jax.numpy as jnp
from flax import nnx
from nnx_results import save_results


class Classifier(nnx.Module):
    def __init__(self, din: int, dhidden: int, dout: int, *, rngs: nnx.Rngs):
        self.linear = nnx.Linear(din, dhidden, rngs=rngs)
        self.bn = nnx.BatchNorm(dhidden, rngs=rngs)
        self.dropout = nnx.Dropout(0.5, rngs=rngs)
        self.head = nnx.Linear(dhidden, dout, rngs=rngs)

    def __call__(self, x):
        return self.head(nnx.relu(self.dropout(self.bn(self.linear(x)))))


def forward(model, x, scale):
    return model(x * scale)


model = Classifier(4, 8, 2, rngs=nnx.Rngs(0))
model.train()
predict = jax.jit(functools.partial(forward, model))

x = jnp.sin(jnp.arange(16 * 4, dtype=jnp.float32)).reshape(16, 4)
outputs = []
for step in range(3):
    logits = predict(x, step + 1.0)
    outputs.append(logits)
    print(f"step {step}: {float(logits.mean()):.6f}")

save_results(sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"], outputs, model=model)
