"""A pure model bound to a prediction function with `functools.partial`, compiled with
`jax.jit`, while it is trained eagerly.

The bound model is compiled in as a constant, so the predictions never see the updates.
Usage: python partial_stale.py OUT.npz (or set NNX_OUT).
"""

import os
import sys
from functools import partial

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from nnx_results import save_results


def predict_fn(model, x):
    return model(x)


model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
optimizer = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
predict = jax.jit(partial(predict_fn, model))

x = jnp.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0], [0.0, -2.0, 1.0], [3.0, 1.0, -1.0]])
y = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])


def loss_fn(model):
    return jnp.mean((model(x) - y) ** 2)


outputs = [predict(x)]
for epoch in range(2):
    loss, grads = nnx.value_and_grad(loss_fn)(model)  # eager training step
    optimizer.update(model, grads)
    outputs.append(predict(x))
    print(f"epoch {epoch}: loss {float(loss):.6f}")

save_results(
    sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"],
    outputs,
    model=model,
    optimizer=optimizer,
)
