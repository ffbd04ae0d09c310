"""nnx.jit in tree mode (flax 0.12.5+; raises where a Variable is held twice)."""

import functools

import jax.numpy as jnp
from flax import nnx
from models import PureChain

model = PureChain(nnx.Rngs(0))
x = jnp.ones((4, 8))
forward = functools.partial(nnx.jit(type(model).__call__, graph=False), model)


def step():
    return forward(x)
