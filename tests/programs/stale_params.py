"""A pure model compiled with `jax.jit(model)` for prediction while it is trained eagerly.

`jax.jit(model)` bakes the parameters into the compiled function as constants, so its
predictions never see the updates. Usage: python stale_params.py OUT.npz (or set NNX_OUT).
"""

import os
import sys

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from nnx_results import save_results

model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
optimizer = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
predict = jax.jit(model)

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

# A manual edit of the weights must be visible to the next prediction as well.
model.kernel[...] = model.kernel[...] * 2.0
outputs.append(predict(x))

save_results(
    sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"],
    outputs,
    model=model,
    optimizer=optimizer,
)
