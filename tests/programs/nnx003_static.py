"""A predictor whose `@partial(jax.jit, static_argnums=0)` method makes `self` static, trained
eagerly between predictions, plus a function with the model in `static_argnames` beside a
number that stays static.

jax.jit hashes a static argument by identity and compiles its values in at the first call, so
every later prediction returns the first one. Usage: python nnx003_static.py OUT.npz (or set
NNX_OUT).
"""

import functools
import os
import sys

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from nnx_results import save_results


class Predictor(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.linear = nnx.Linear(3, 2, rngs=rngs)

    def __call__(self, x):
        return self.linear(x)

    @functools.partial(jax.jit, static_argnums=0)
    def predict(self, x):
        return self(x)


@functools.partial(jax.jit, static_argnames=("model", "scale"))
def scaled(model: Predictor, x, scale):
    return model(x) * scale


model = Predictor(nnx.Rngs(0))
optimizer = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
x = jnp.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0], [0.0, -2.0, 1.0], [3.0, 1.0, -1.0]])
y = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])


def loss_fn(model):
    return jnp.mean((model(x) - y) ** 2)


outputs = [model.predict(x), scaled(model, x, 2.0)]
for epoch in range(2):
    loss, grads = nnx.value_and_grad(loss_fn)(model)  # eager training step
    optimizer.update(model, grads)
    outputs += [model.predict(x), scaled(model, x, 2.0)]
    print(f"epoch {epoch}: loss {float(loss):.6f}")

save_results(
    sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"],
    outputs,
    model=model,
    optimizer=optimizer,
)
