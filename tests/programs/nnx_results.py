"""What every program here writes: each compiled call's output and the flattened final
`nnx.state` of its objects, to the .npz file the test harness names (shared, so that the programs
show only the code under test)."""

import jax
import numpy as np
from flax import nnx


def save_results(path, outputs, **objects):
    """Write every call's output and the flattened final `nnx.state` of each object."""
    arrays = {f"out/{i}": np.asarray(y) for i, y in enumerate(outputs)}
    for name, obj in objects.items():
        for keys, variable in nnx.to_flat_state(nnx.state(obj)):
            value = variable.get_value() if isinstance(variable, nnx.Variable) else variable
            if jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):
                value = jax.random.key_data(value)
            arrays["/".join(["state", name, *map(str, keys)])] = np.asarray(value)
    np.savez(path, **arrays)
