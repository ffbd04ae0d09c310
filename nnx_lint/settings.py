"""What a run is asked to do: which codes, which fixes, which flax. Light to import: the
front ends read it before they know whether any file needs the (heavier) engine."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Settings:
    select: tuple[str, ...] = ("NNX",)
    ignore: tuple[str, ...] = ()
    unsafe_fixes: bool = False
    # None: the installed flax version, else the newest behaviour.
    target_flax_version: tuple[int, ...] | None = None
    # Larger files are reported (E902) rather than analysed: libcst needs ~10 s per MiB.
    max_file_size: int = 2 * 1024 * 1024

    def enabled(self, code: str) -> bool:
        """A code is on when the longest matching prefix comes from select, as in ruff."""
        sel = max((len(p) for p in self.select if code.startswith(p)), default=-1)
        ign = max((len(p) for p in self.ignore if code.startswith(p)), default=-1)
        return sel >= 0 and sel > ign
