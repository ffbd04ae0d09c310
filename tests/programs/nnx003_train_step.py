"""A training loop whose `@jax.jit` train step takes the model and the optimizer as arguments.

The step updates both (`optimizer.update(model, grads)`, Dropout's RNG) and returns only the
loss. Usage: python nnx003_train_step.py OUT.npz (or set NNX_OUT).
"""

import os
import sys

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from nnx_results import save_results


class MLP(nnx.Module):
    def __init__(self, din: int, dhidden: int, dout: int, *, rngs: nnx.Rngs):
        self.linear1 = nnx.Linear(din, dhidden, rngs=rngs)
        self.dropout = nnx.Dropout(0.1, rngs=rngs)
        self.linear2 = nnx.Linear(dhidden, dout, rngs=rngs)

    def __call__(self, x):
        return self.linear2(self.dropout(nnx.relu(self.linear1(x))))


def loss_fn(model, x, y):
    return jnp.mean((model(x) - y) ** 2)


@jax.jit
def train_step(model, optimizer, x, y):
    loss, grads = nnx.value_and_grad(loss_fn)(model, x, y)
    optimizer.update(model, grads)
    return loss


model = MLP(4, 32, 1, rngs=nnx.Rngs(0))
optimizer = nnx.Optimizer(model, optax.adam(2e-2), wrt=nnx.Param)
# Kept only to show what the loop changed.
initial_model, initial_optimizer = nnx.clone(model), nnx.clone(optimizer)

key_x, key_noise = jax.random.split(jax.random.key(7))
xs = jax.random.normal(key_x, (64, 4))
ys = xs @ jnp.array([[1.0], [-0.5], [0.25], [2.0]]) + 0.05 * jax.random.normal(key_noise, (64, 1))

losses = []
for epoch in range(6):
    loss = train_step(model, optimizer, xs, ys)
    losses.append(loss)
    print(f"epoch {epoch}: loss {float(loss):.6f}")

save_results(
    sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"],
    losses,
    model=model,
    optimizer=optimizer,
    initial_model=initial_model,
    initial_optimizer=initial_optimizer,
)
