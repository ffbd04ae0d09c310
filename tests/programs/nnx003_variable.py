"""A step counter kept in an `nnx.Variable`, passed to a `@jax.jit` function that increments
it, and read after three calls. Usage: python nnx003_variable.py OUT.npz (or set NNX_OUT).
"""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

counter = nnx.Variable(jnp.array(0))


@jax.jit
def scaled(c, x):
    c[...] += 1
    return x * 2.0


outputs = jax.block_until_ready([scaled(counter, jnp.ones(3) * i) for i in range(3)])
print(f"counter after 3 calls: {int(counter[...])}")
path = sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"]
arrays = {f"out/{i}": np.asarray(y) for i, y in enumerate(outputs)}
np.savez(path, **arrays, **{"state/counter": np.asarray(counter[...])})
