"""A Q network and its target network kept in a dict, and an ensemble in a list, read by
`@jax.jit` closures; the networks use Dropout, so every call draws from their Rngs.

Usage: python closure_container.py OUT.npz (or set NNX_OUT).
"""

import os
import sys

import jax
import jax.numpy as jnp
from flax import nnx
from nnx_results import save_results


class QNet(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.linear = nnx.Linear(4, 2, rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=rngs)

    def __call__(self, x):
        return self.drop(self.linear(x))


nets = {"q": QNet(nnx.Rngs(0)), "target": QNet(nnx.Rngs(1))}
ensemble = [QNet(nnx.Rngs(i + 2)) for i in range(2)]


@jax.jit
def td_error(x):
    return nets["q"](x) - nets["target"](x)


@jax.jit
def vote(x):
    return sum(member(x) for member in ensemble)


x = jnp.cos(jnp.arange(8 * 4, dtype=jnp.float32)).reshape(8, 4)
outputs = []
for step in range(3):
    outputs.append(td_error(x * (step + 1)))
    outputs.append(vote(x * (step + 1)))
    print(f"step {step}: {float(outputs[-2].mean()):.6f} {float(outputs[-1].mean()):.6f}")

save_results(
    sys.argv[1] if len(sys.argv) > 1 else os.environ["NNX_OUT"],
    outputs,
    q=nets["q"],
    target=nets["target"],
    first=ensemble[0],
    second=ensemble[1],
)
