"""A streaming normaliser whose `@jax.jit` method updates running statistics on `self`.

Every call adds the batch to a sample count and a running sum, then projects the batch
centred on the mean of everything seen so far. Usage: python nnx003_method.py OUT.npz (or
set NNX_OUT).
"""

import os
import sys

import jax
import jax.numpy as jnp
from flax import nnx
from nnx_results import save_results


class StreamingNormalizer(nnx.Module):
    def __init__(self, dim: int, features: int, *, rngs: nnx.Rngs):
        self.count = nnx.Variable(jnp.array(0, dtype=jnp.int32))
        self.total = nnx.Variable(jnp.zeros(dim))
        self.proj = nnx.Linear(dim, features, rngs=rngs)

    @jax.jit
    def observe(self, x):
        self.count[...] += x.shape[0]
        self.total[...] += x.sum(axis=0)
        return self.proj(x - self.total[...] / self.count[...])


normalizer = StreamingNormalizer(5, 3, rngs=nnx.Rngs(3))

outputs = []
for step in range(4):
    batch = jax.random.normal(jax.random.key(step), (8, 5)) + step
    z = normalizer.observe(batch)
    outputs.append(z)
    print(f"step {step}: seen {int(normalizer.count[...])}, output sum {float(z.sum()):.6f}")

save_results(
    sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"],
    outputs,
    model=normalizer,
)
