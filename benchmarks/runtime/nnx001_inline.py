"""NNX001: `jax.jit(model)(x)` built and called where it is used."""

import jax
import jax.numpy as jnp
from flax import nnx
from models import PureChain

model = PureChain(nnx.Rngs(0))
x = jnp.ones((4, 8))


def step():
    return jax.jit(model)(x)
