"""Minimal copies of the real-code findings that make a claim, run on flax (CPU): each line
prints whether what the message says is what happens (see triage.json)."""

import functools

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


# jax-ml/bonsai bonsai/models/sam2/modeling.py:1724 (minimal copy): `forward` compiles the
# predictor as a static argument; a second image set on it is not seen. (The real class keeps
# its features in a plain dict, which flax 0.12.8 refuses at `set_image_batch`; bonsai tracks
# flax from git. `nnx.data` here keeps the shape runnable on 0.12.8.)
class Predictor(nnx.Module):
    def __init__(self):
        self.lin = nnx.Linear(2, 2, rngs=nnx.Rngs(0))
        self._is_image_set = False
        self._features = nnx.data({})

    def set_image(self, image):
        self._features = nnx.data({"image_embed": self.lin(image)})
        self._is_image_set = True

    def predict_batch(self, points):
        assert self._is_image_set
        return self._features["image_embed"].sum() * points


def forward(model, points):
    return model.predict_batch(points)


predictor = Predictor()
results = {}
for name, compiled in [
    ("jax.jit static", functools.partial(jax.jit, static_argnames=["model"])(forward)),
    ("nnx.jit (the fix)", nnx.jit(forward)),
    ("eager", forward),
]:
    outs = []
    for scale in (1.0, 5.0):
        predictor.set_image(jnp.ones((1, 2)) * scale)
        outs.append(float(compiled(predictor, 1.0)))
    results[name] = outs
print(
    "sam2: static forward returns the first image's result for the second:",
    results["jax.jit static"][1] == results["jax.jit static"][0],
    "; the fix equals eager:",
    bool(np.allclose(results["nnx.jit (the fix)"], results["eager"])),
)
