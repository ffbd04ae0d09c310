"""Where a project starts, told with ``os.path`` alone: every front end asks this (through
``files``), and a replayed run (``runs``) asks it before importing anything heavier."""

from __future__ import annotations

import os
from collections.abc import Sequence

ROOT_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", ".git")


def is_marked(directory: str | os.PathLike[str]) -> bool:
    """Does the directory hold a project marker (pyproject.toml, setup.cfg, setup.py, .git)?"""
    return any(os.path.exists(os.path.join(directory, marker)) for marker in ROOT_MARKERS)


def project_root(path: str | os.PathLike[str]) -> str:
    """The root of the project a file (or directory) belongs to, the one rule every front end
    uses: the nearest directory at or above it holding a project marker (pyproject.toml,
    setup.cfg, setup.py, .git); with none, the directory above the top-most package (the
    ``__init__.py`` chain) of the file; else the file's own directory."""
    start = os.path.abspath(path)
    directory = start if os.path.isdir(start) else os.path.dirname(start)
    candidate = directory
    while True:
        if is_marked(candidate):
            return candidate
        parent = os.path.dirname(candidate)
        if parent == candidate:
            break
        candidate = parent
    top = directory
    while os.path.exists(os.path.join(top, "__init__.py")) and os.path.dirname(top) != top:
        top = os.path.dirname(top)
    return top


def search_start(paths: Sequence[str]) -> str:
    """Where the search for a pyproject.toml starts: the common parent directory of ``paths``."""
    absolute = [os.path.abspath(p) for p in paths] or [os.getcwd()]
    common = os.path.commonpath(absolute)
    return common if os.path.isdir(common) else os.path.dirname(common)
