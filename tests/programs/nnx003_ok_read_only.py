"""Eager training, evaluated after every epoch by a `@jax.jit` function the model is passed to.

`predict` only reads the model, so `jax.jit` is correct here on flax 0.11+ (Modules are
pytrees), and it sees the parameters as they are at each call, not as they were when it was
traced. Usage: python nnx003_ok_read_only.py OUT.npz (or set NNX_OUT).
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
        self.linear2 = nnx.Linear(dhidden, dout, rngs=rngs)

    def __call__(self, x):
        return self.linear2(nnx.gelu(self.linear1(x)))


@jax.jit
def predict(model, x):
    return model(x)


def loss_fn(model, x, y):
    return jnp.mean((model(x) - y) ** 2)


model = MLP(3, 16, 2, rngs=nnx.Rngs(1))
optimizer = nnx.Optimizer(model, optax.sgd(0.05, momentum=0.9), wrt=nnx.Param)

xs = jax.random.uniform(jax.random.key(0), (48, 3), minval=-1.0, maxval=1.0)
ys = jnp.stack([xs[:, 0] * xs[:, 1], xs[:, 2] - xs[:, 0]], axis=1)
x_eval = jnp.linspace(-1.0, 1.0, 12).reshape(4, 3)

predictions = []
for epoch in range(4):
    grads = nnx.grad(loss_fn)(model, xs, ys)
    optimizer.update(model, grads)
    predictions.append(predict(model, x_eval))
    print(f"epoch {epoch}: eval output sum {float(predictions[-1].sum()):.6f}")

save_results(
    sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"],
    predictions,
    model=model,
    optimizer=optimizer,
)
