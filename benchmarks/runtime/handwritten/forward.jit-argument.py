"""The model a traced argument of jax.jit (flax 0.11+; correct only when nothing changes)."""

import functools

import jax
import jax.numpy as jnp
from flax import nnx
from models import PureChain

model = PureChain(nnx.Rngs(0))
x = jnp.ones((4, 8))
forward = functools.partial(jax.jit(type(model).__call__), model)


def step():
    return forward(x)
