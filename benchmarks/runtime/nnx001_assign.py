"""NNX001: `name = jax.jit(model)`, called by name."""

import jax
import jax.numpy as jnp
from flax import nnx
from models import PureChain

model = PureChain(nnx.Rngs(0))
x = jnp.ones((4, 8))
forward = jax.jit(model)


def step():
    return forward(x)
