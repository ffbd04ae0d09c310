"""A `@jax.jit` train step that returns `nnx.state` of what it changed; the caller applies it
with `nnx.update`. The model holds BatchNorm (running statistics) and Dropout (an RNG).

Usage: python nnx003_ok_state_update.py OUT.npz (or set NNX_OUT).
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
        return self.linear2(self.dropout(nnx.relu(self.bn(self.linear1(x)))))


@jax.jit
def train_step(model, optimizer, x, y):
    def loss_fn(model):
        return jnp.mean((model(x) - y) ** 2)

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss, nnx.state(model), nnx.state(optimizer)


model = Regressor(3, 16, rngs=nnx.Rngs(0))
optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)

key_x, key_noise = jax.random.split(jax.random.key(123))
xs = jax.random.normal(key_x, (32, 3))
ys = xs @ jnp.array([[1.5], [-2.0], [0.5]]) + 0.1 * jax.random.normal(key_noise, (32, 1))

losses = []
for epoch in range(5):
    loss, model_state, optimizer_state = train_step(model, optimizer, xs, ys)
    nnx.update(model, model_state)
    nnx.update(optimizer, optimizer_state)
    losses.append(loss)
    print(f"epoch {epoch}: loss {float(loss):.6f}")

save_results(
    sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"],
    losses,
    model=model,
    optimizer=optimizer,
)
