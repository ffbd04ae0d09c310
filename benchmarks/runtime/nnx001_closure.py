"""NNX001: a `@jax.jit` function that reads the model from its module."""

import jax
import jax.numpy as jnp
from flax import nnx
from models import PureChain

model = PureChain(nnx.Rngs(0))
x = jnp.ones((4, 8))


@jax.jit
def forward(x):
    return model(x)


def step():
    return forward(x)
