# google/flax#5291, as reported (trimmed to a program); the last statement fails.
import jax
import jax.numpy as jnp
from flax import nnx


class Model(nnx.Module):
    def __init__(self, features: int, layers: int, rngs):
        @nnx.split_rngs(splits=layers)
        @nnx.vmap(in_axes=(0,), out_axes=0)
        def make_layer(r):
            return nnx.Linear(features, features, rngs=r)

        self.layers = make_layer(rngs)

    def failing(self, x):
        y = nnx.scan(
            lambda x, layer: layer(x),
            in_axes=(nnx.Carry, 0),
            out_axes=nnx.Carry,
        )(x, self.layers)
        return y


model = Model(4, 3, nnx.Rngs(0))
xs = jnp.ones((5, 4))
jax.lax.scan(lambda c, x: (c, model.failing(x)), None, xs)
