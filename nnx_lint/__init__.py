"""nnx-lint: find and fix JAX transforms misapplied to stateful Flax NNX objects."""

__version__ = "0.1.0"
