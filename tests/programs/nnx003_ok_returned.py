"""A `@jax.jit` train step that hands the model and the optimizer back; the caller rebinds them.

Usage: python nnx003_ok_returned.py OUT.npz (or set NNX_OUT).
"""

import os
import sys

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from nnx_results import save_results


class Classifier(nnx.Module):
    def __init__(self, din: int, dhidden: int, classes: int, *, rngs: nnx.Rngs):
        self.linear1 = nnx.Linear(din, dhidden, rngs=rngs)
        self.dropout = nnx.Dropout(0.2, rngs=rngs)
        self.linear2 = nnx.Linear(dhidden, classes, rngs=rngs)

    def __call__(self, x):
        return self.linear2(self.dropout(nnx.relu(self.linear1(x))))


def loss_fn(model, x, labels):
    logits = model(x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


@jax.jit
def train_step(model, optimizer, x, labels):
    loss, grads = nnx.value_and_grad(loss_fn)(model, x, labels)
    optimizer.update(model, grads)
    return model, optimizer, loss


model = Classifier(2, 24, 3, rngs=nnx.Rngs(5))
optimizer = nnx.Optimizer(model, optax.adamw(3e-2, weight_decay=1e-3), wrt=nnx.Param)

xs = jax.random.normal(jax.random.key(11), (90, 2))
labels = (jnp.arctan2(xs[:, 1], xs[:, 0]) // (2 * jnp.pi / 3)).astype(jnp.int32) % 3

losses = []
for epoch in range(6):
    model, optimizer, loss = train_step(model, optimizer, xs, labels)
    losses.append(loss)
    print(f"epoch {epoch}: loss {float(loss):.6f}")

save_results(
    sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"],
    losses,
    model=model,
    optimizer=optimizer,
)
