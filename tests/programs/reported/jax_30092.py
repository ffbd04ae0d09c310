# jax-ml/jax#30092, as reported (trimmed to a program); the last statement fails.
import jax
import jax.numpy as jnp
from flax import nnx


class PinnModel(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        @nnx.split_rngs(splits=3)
        @nnx.vmap(in_axes=(0,), out_axes=0)
        def create(rngs: nnx.Rngs):
            return nnx.Linear(2, 2, rngs=rngs)

        self.pinn_mlp = create(rngs)

    def __call__(self, x, y):
        @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)
        def forward(x, mlp_block):
            x = mlp_block(x)
            return x

        return forward(jnp.stack([x, y]), self.pinn_mlp).sum()


model = PinnModel(nnx.Rngs(0))


def diff_x(x, y):
    return jax.jacrev(model, argnums=0)(x, y)


jax.vmap(diff_x)(jnp.ones(4), jnp.ones(4))
