"""What a run is asked to do: which codes, which fixes, which flax. Light to import: the
front ends read it before they know whether any file needs the (heavier) engine."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache

from nnx_lint.sources import MAX_FILE_SIZE


def parse_version(version: str) -> tuple[int, ...]:
    """``0.12.8`` (or ``0.12.8.dev1+g123``) as ``(0, 12, 8)``."""
    parts = re.findall(r"\d+", version.split("+")[0])[:3]
    if not parts:
        raise ValueError(f"not a version: {version!r}")
    return tuple(int(p) for p in parts)


FORMATS = ("full", "concise", "json", "json-lines", "github", "sarif", "junit")
HUMAN_FORMATS = ("full", "concise")  # the ones the summary follows, as in ruff


@lru_cache(maxsize=1)
def installed_flax() -> tuple[int, ...] | None:
    """The flax installed where nnx-lint runs, from its ``flax-X.Y.Z.dist-info`` directory (the
    first on ``sys.path``, as Python would import it; flax is not imported), else from package
    metadata (``importlib.metadata``: ten times slower, for other layouts such as eggs)."""
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith("flax-") and name.endswith(".dist-info"):
                try:
                    return parse_version(name[len("flax-") : -len(".dist-info")])
                except ValueError:
                    break
        if "flax" in names:
            break  # flax itself without a dist-info beside it: ask the metadata
    from importlib import metadata

    try:
        return parse_version(metadata.version("flax"))
    except (metadata.PackageNotFoundError, ValueError):
        return None


# The rules on by default: the NNX0xx rules (what breaks at run time). The upgrade rules
# (NNX1xx, as ruff's UP) are opt-in: ``--select NNX1`` or ``extend-select = ["NNX1"]``.
DEFAULT_SELECT = ("NNX0",)


@dataclass(frozen=True)
class Settings:
    select: tuple[str, ...] = DEFAULT_SELECT
    ignore: tuple[str, ...] = ()
    unsafe_fixes: bool = False
    # None: the newest behaviour (the front ends fill in the installed flax's version).
    target_flax_version: tuple[int, ...] | None = None
    max_file_size: int = MAX_FILE_SIZE  # larger files are reported (E902), not analysed

    def enabled(self, code: str) -> bool:
        """A code is on when the longest matching prefix comes from select, as in ruff."""
        sel = max((len(p) for p in self.select if code.startswith(p)), default=-1)
        ign = max((len(p) for p in self.ignore if code.startswith(p)), default=-1)
        return sel >= 0 and sel > ign
