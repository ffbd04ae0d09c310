"""NNX003: the model a static argument of `jax.jit`."""

import functools

import jax
import jax.numpy as jnp
from flax import nnx
from models import PureChain

model = PureChain(nnx.Rngs(0))
x = jnp.ones((4, 8))


@functools.partial(jax.jit, static_argnums=0)
def predict(model, x):
    return model(x)


def step():
    return predict(model, x)
