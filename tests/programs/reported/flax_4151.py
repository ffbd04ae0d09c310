# google/flax#4151, as reported (trimmed to a program); the last statement fails.
import jax
import jax.numpy as jnp
from flax import nnx


class MLP(nnx.Module):
    def __init__(self, *, rngs: nnx.Rngs):
        self.linear1 = nnx.Linear(10, 256, rngs=rngs)
        self.linear2 = nnx.Linear(256, 10, rngs=rngs)
        self.dropout = nnx.Dropout(rate=0.5, rngs=rngs)

    def __call__(self, x):
        x = nnx.relu(self.dropout(self.linear1(x)))
        x = self.linear2(x)
        return x


model = MLP(rngs=nnx.Rngs(0))
model(jnp.ones((1, 10)))


def scan(carry, x):
    model(x)
    return carry, None


jax.lax.scan(scan, None, jnp.ones((10, 10)))
