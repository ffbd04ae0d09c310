"""nnx.jit_partial in tree mode (flax 0.12.5+): the model flattened once, when it is bound
(correct while nothing outside changes the model's structure or static attributes)."""

import jax.numpy as jnp
from flax import nnx
from models import PureChain

model = PureChain(nnx.Rngs(0))
x = jnp.ones((4, 8))
forward = nnx.jit_partial(type(model).__call__, model, graph=False)


def step():
    return forward(x)
