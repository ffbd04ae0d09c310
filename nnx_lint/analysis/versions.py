"""Which flax version the user's code runs on. The front ends resolve the setting (the
configuration, else the installed flax: ``nnx_lint.settings.installed_flax``); None here means
the newest behaviour."""

from __future__ import annotations

NEWEST = (999,)
PYTREE_MODULES = (0, 11)  # Modules are JAX pytrees from flax 0.11.0 on
TREE_MODE_JIT = (0, 12, 5)  # nnx.jit(..., graph=False) and nnx.jit_partial from flax 0.12.5 on
CACHED_PARTIAL_JIT = (0, 10, 4)  # nnx.cached_partial from flax 0.10.4 on


def target_flax(setting: tuple[int, ...] | None) -> tuple[int, ...]:
    return setting or NEWEST
