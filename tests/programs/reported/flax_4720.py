# google/flax#4720, as reported (trimmed to a program); the last statement fails.
import jax
import jax.numpy as jnp
from flax import nnx


class CA(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.linear = nnx.Linear(4, 4, rngs=rngs)

    @nnx.jit
    def render(self, state):
        return self.linear(state)


ca = CA(nnx.Rngs(0))
states = jnp.ones((10, 4))
frames = jax.vmap(ca.render)(states)
