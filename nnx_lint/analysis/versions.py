"""Which flax version the user's code runs on: the setting, else the installed flax (read from
package metadata, without importing flax), else the newest behaviour."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import metadata

NEWEST = (999,)
PYTREE_MODULES = (0, 11)  # Modules are JAX pytrees from flax 0.11.0 on


def parse(version: str) -> tuple[int, ...]:
    parts = re.findall(r"\d+", version.split("+")[0])[:3]
    if not parts:
        raise ValueError(f"not a version: {version!r}")
    return tuple(int(p) for p in parts)


@lru_cache(maxsize=1)
def installed_flax() -> tuple[int, ...] | None:
    try:
        return parse(metadata.version("flax"))
    except (metadata.PackageNotFoundError, ValueError):
        return None


def target_flax(setting: tuple[int, ...] | None) -> tuple[int, ...]:
    return setting or installed_flax() or NEWEST
