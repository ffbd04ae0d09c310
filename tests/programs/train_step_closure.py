"""A training loop whose `@jax.jit` train step closes over the model and the optimizer.

Usage: python train_step_closure.py OUT.npz (or set NNX_OUT).
"""

import os
import sys

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from nnx_results import save_results


class Regressor(nnx.Module):
    def __init__(self, din: int, dhidden: int, *, rngs: nnx.Rngs):
        self.linear1 = nnx.Linear(din, dhidden, use_bias=False, rngs=rngs)  # BatchNorm follows
        self.bn = nnx.BatchNorm(dhidden, rngs=rngs)
        self.dropout = nnx.Dropout(0.1, rngs=rngs)
        self.linear2 = nnx.Linear(dhidden, 1, rngs=rngs)

    def __call__(self, x):
        x = self.dropout(nnx.relu(self.bn(self.linear1(x))))
        return self.linear2(x)


model = Regressor(3, 16, rngs=nnx.Rngs(0))
optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)

key_x, key_noise = jax.random.split(jax.random.key(123))
xs = jax.random.normal(key_x, (32, 3))
ys = xs @ jnp.array([[1.5], [-2.0], [0.5]]) + 0.1 * jax.random.normal(key_noise, (32, 1))


@jax.jit
def train_step(x, y):
    def loss_fn(model):
        return jnp.mean((model(x) - y) ** 2)

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss


losses = []
for epoch in range(5):
    loss = train_step(xs, ys)
    losses.append(loss)
    print(f"epoch {epoch}: loss {float(loss):.6f}")

save_results(
    sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"],
    losses,
    model=model,
    optimizer=optimizer,
)
