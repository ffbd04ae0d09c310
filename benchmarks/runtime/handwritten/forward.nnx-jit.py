"""nnx.jit with the model an argument."""

import functools

import jax.numpy as jnp
from flax import nnx
from models import PureChain

model = PureChain(nnx.Rngs(0))
x = jnp.ones((4, 8))
forward = functools.partial(nnx.jit(type(model).__call__), model)


def step():
    return forward(x)
