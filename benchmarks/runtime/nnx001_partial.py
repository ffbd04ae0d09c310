"""NNX001: `jax.jit(functools.partial(f, model))`."""

import functools

import jax
import jax.numpy as jnp
from flax import nnx
from models import PureChain

model = PureChain(nnx.Rngs(0))
x = jnp.ones((4, 8))


def apply(model, x):
    return model(x)


forward = jax.jit(functools.partial(apply, model))


def step():
    return forward(x)
