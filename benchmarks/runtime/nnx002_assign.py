"""NNX002: `name = nnx.jit(model)`."""

import jax.numpy as jnp
from flax import nnx
from models import PureChain

model = PureChain(nnx.Rngs(0))
x = jnp.ones((4, 8))
forward = nnx.jit(model)


def step():
    return forward(x)
