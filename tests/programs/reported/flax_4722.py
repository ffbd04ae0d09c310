# google/flax#4722, as reported (trimmed to a program); the last statement fails.
import jax
import jax.numpy as jnp
import optax
from flax import nnx

model = nnx.Linear(2, 1, rngs=nnx.Rngs(0))
optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)

xs = jnp.ones((10, 4, 2))
ys = jnp.ones((10, 4, 1))


def train_step(carry, batch):
    x, y = batch
    loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
    optimizer.update(model, grads)
    return carry, loss


jax.lax.scan(train_step, None, (xs, ys))
