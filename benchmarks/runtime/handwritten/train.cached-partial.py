"""nnx.cached_partial over the nnx.jit train step, made once."""

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


cached_step = nnx.cached_partial(nnx.jit(train_step), model, optimizer)


def step():
    return cached_step(x)
