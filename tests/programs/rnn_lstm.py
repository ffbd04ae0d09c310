"""An LSTM over a short sequence, compiled with `jax.jit(model)`: the reported bug.

`nnx.RNN` draws its initial carry from its own RNG stream on every call, so each call mutates
the stream's counter. Usage: python rnn_lstm.py OUT.npz (or set NNX_OUT).
"""

import os
import sys

import jax
import jax.numpy as jnp
from flax import nnx
from nnx_results import save_results

model = nnx.RNN(nnx.LSTMCell(3, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(1))
forward = jax.jit(model)

x = jnp.linspace(-1.0, 1.0, 2 * 5 * 3).reshape(2, 5, 3)  # (batch, time, features)
outputs = []
for step in range(3):
    y = forward(x + step)
    outputs.append(y)
    print(f"step {step}: {float(jnp.abs(y).sum()):.6f}")

save_results(sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"], outputs, model=model)
