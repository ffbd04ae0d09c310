"""The functional style of Flax's performance guide: `nnx.split` once, a `@jax.jit` train step
that merges, trains, and returns the new state, `nnx.update` at the end.

Usage: python nnx003_ok_functional.py OUT.npz (or set NNX_OUT).
"""

import os
import sys

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from nnx_results import save_results


class Model(nnx.Module):
    def __init__(self, din: int, dhidden: int, dout: int, *, rngs: nnx.Rngs):
        self.linear = nnx.Linear(din, dhidden, use_bias=False, rngs=rngs)  # BatchNorm follows
        self.bn = nnx.BatchNorm(dhidden, rngs=rngs)
        self.dropout = nnx.Dropout(0.2, rngs=rngs)
        self.linear_out = nnx.Linear(dhidden, dout, rngs=rngs)

    def __call__(self, x):
        return self.linear_out(self.dropout(nnx.relu(self.bn(self.linear(x)))))


model = Model(2, 32, 1, rngs=nnx.Rngs(2))
optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
metrics = nnx.metrics.Average()

graphdef, state = nnx.split((model, optimizer, metrics))


@jax.jit
def train_step(graphdef, state, x, y):
    model, optimizer, metrics = nnx.merge(graphdef, state)

    def loss_fn(model):
        return jnp.mean((model(x) - y) ** 2)

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    metrics.update(values=loss)
    return loss, nnx.state((model, optimizer, metrics))


xs = jax.random.normal(jax.random.key(4), (40, 2))
ys = jnp.sin(xs[:, :1]) + 0.5 * xs[:, 1:]

losses = []
for epoch in range(5):
    loss, state = train_step(graphdef, state, xs, ys)
    losses.append(loss)
    print(f"epoch {epoch}: loss {float(loss):.6f}")

nnx.update((model, optimizer, metrics), state)
print(f"mean loss {float(metrics.compute()):.6f}")

save_results(
    sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"],
    losses,
    model=model,
    optimizer=optimizer,
    metrics=metrics,
)
