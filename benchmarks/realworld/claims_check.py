"""Minimal copies of the real-code findings that make a claim, run on flax (CPU): each line
prints whether what the message says is what happens (see triage.json)."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

# google/flax tests/nnx/nn/lora_test.py:49 (minimal copy): a pure closure under jax.jit
base = nnx.Linear(3, 4, rngs=nnx.Rngs(1))
module = nnx.LoRA(3, 2, 4, rngs=nnx.Rngs(0), base_module=base)
x = jax.random.normal(jax.random.key(0), (1, 3))
func = jax.jit(lambda x: module(x))
first = func(x)
module.lora_b[...] = module.lora_b[...] + 1.0
print(
    "lora: runs; stale after update:",
    bool(np.allclose(func(x), first)) and not np.allclose(module(x), first),
)


# google/flax benchmarks/tracing/mnist.py:72 (minimal copy): BatchNorm stats lost under jax.jit
class CNN(nnx.Module):
    def __init__(self, rngs):
        self.linear = nnx.Linear(4, 4, rngs=rngs)
        self.bn = nnx.BatchNorm(4, rngs=rngs)
        self.drop = nnx.Dropout(rate=0.025)

    def __call__(self, x, rngs):
        return self.drop(self.bn(self.linear(x)), rngs=rngs)


def loss_fn(model, batch, rngs):
    return model(batch, rngs).mean()


model = CNN(nnx.Rngs(0))
batch = jnp.arange(8.0).reshape(2, 4)
before = np.asarray(model.bn.mean[...]).copy()
jax.jit(loss_fn)(model, batch, nnx.Rngs(0))
after_jit = np.asarray(model.bn.mean[...])
loss_fn(model, batch, nnx.Rngs(0))
after_eager = np.asarray(model.bn.mean[...])
print(
    "mnist: jit leaves stats unchanged:",
    np.allclose(before, after_jit),
    "; eager changes them:",
    not np.allclose(after_jit, after_eager),
)
