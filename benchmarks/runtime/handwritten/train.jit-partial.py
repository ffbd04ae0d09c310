"""nnx.jit_partial in tree mode over the train step, made once (flax 0.12.5+)."""

import jax.numpy as jnp
import optax
from flax import nnx
from models import PureChain

model = PureChain(nnx.Rngs(0))
x = jnp.ones((4, 8))
optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)


def loss_fn(model, x):
    return jnp.mean(model(x) ** 2)


def train_step(model, optimizer, x):
    loss, grads = nnx.value_and_grad(loss_fn)(model, x)
    optimizer.update(model, grads)
    return loss


bound_step = nnx.jit_partial(train_step, model, optimizer, graph=False)


def step():
    return bound_step(x)
