"""nnx.cached_partial: the graph traversal cached (correct while nothing outside changes the
model's structure or static attributes, e.g. `eval()`)."""

import jax.numpy as jnp
from flax import nnx
from models import PureChain

model = PureChain(nnx.Rngs(0))
x = jnp.ones((4, 8))
forward = nnx.cached_partial(nnx.jit(type(model).__call__), model)


def step():
    return forward(x)
