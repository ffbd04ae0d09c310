"""A denoising autoencoder whose `encode` method is compiled with `jax.jit(model.encode)`.

`encode` applies dropout (advancing the RNG) and counts its calls.
Usage: python jit_method.py OUT.npz (or set NNX_OUT).
"""

import os
import sys

import jax
import jax.numpy as jnp
from flax import nnx
from nnx_results import save_results


class DenoisingAutoencoder(nnx.Module):
    def __init__(self, dim: int, latent: int, *, rngs: nnx.Rngs):
        self.noise = nnx.Dropout(0.3, rngs=rngs)
        self.encoder = nnx.Linear(dim, latent, rngs=rngs)
        self.decoder = nnx.Linear(latent, dim, rngs=rngs)
        self.encoded = nnx.Variable(jnp.array(0))

    def encode(self, x):
        self.encoded[...] += x.shape[0]
        return nnx.tanh(self.encoder(self.noise(x)))

    def __call__(self, x):
        return self.decoder(self.encode(x))


model = DenoisingAutoencoder(6, 3, rngs=nnx.Rngs(42))
encode = jax.jit(model.encode)

x = jnp.cos(jnp.arange(8 * 6, dtype=jnp.float32)).reshape(8, 6)
outputs = []
for step in range(3):
    z = encode(x - step)
    outputs.append(z)
    print(f"step {step}: {float(z.sum()):.6f}")

save_results(sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"], outputs, model=model)
