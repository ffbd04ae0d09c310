"""The models the run-time benchmark compiles: a chain of `LAYERS` Linear(8, 8) layers
(``NNX_FIXCOST_LAYERS``), pure, or followed by a Dropout that draws from its Rngs on every
call (its state changes). `bump` changes the parameters outside any compiled function, as a
training step would: a fixed program must see it."""

import os

from flax import nnx

LAYERS = int(os.environ.get("NNX_FIXCOST_LAYERS", "2"))


class PureChain(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.body = nnx.Sequential(*[nnx.Linear(8, 8, rngs=rngs) for _ in range(LAYERS)])

    def __call__(self, x):
        return self.body(x)


class DropoutChain(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.body = nnx.Sequential(*[nnx.Linear(8, 8, rngs=rngs) for _ in range(LAYERS)])
        self.drop = nnx.Dropout(0.1, rngs=rngs)

    def __call__(self, x):
        return self.drop(self.body(x))


def bump(model):
    """A parameter update made outside the compiled function."""
    kernel = model.body.layers[0].kernel
    kernel.value = kernel.value * 1.5
