"""The functional style gone wrong: a dict of `nnx.state(...)` values passed to a `@jax.jit`
step that stores the new parameters into it instead of returning them.

Usage: python nnx003_state_dict.py OUT.npz (or set NNX_OUT).
"""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
graphdef, _ = nnx.split(model)
states = {"model": nnx.state(model)}
x = jnp.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])


@jax.jit
def sgd_step(states, x):
    m = nnx.merge(graphdef, states["model"])
    loss, grads = nnx.value_and_grad(lambda m: jnp.mean(m(x) ** 2))(m)
    states["model"] = jax.tree.map(lambda p, g: p - 0.1 * g, nnx.state(m), grads)
    return loss


outputs = [sgd_step(states, x) for _ in range(3)]
print("losses", [float(v) for v in outputs])
arrays = {f"out/{i}": np.asarray(v) for i, v in enumerate(outputs)}
arrays["state/kernel"] = np.asarray(states["model"]["kernel"][...])
arrays["state/initial_kernel"] = np.asarray(nnx.state(model)["kernel"][...])
np.savez(sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"], **arrays)
