"""What a replayed run (``runs``) asks of the file system besides project roots, told with
``os`` alone (``typing`` and the cache's other imports cost a replay a tenth of its time): a
path's stamp, and the name of a project's cache directory (``cache``)."""

from __future__ import annotations

import os

DEFAULT_DIR = ".nnx_lint_cache"

# A file's (or directory's) state as a stat tells it: (mtime, size, ctime). The ctime changes
# with the mode too (a file made readable), which the mtime does not.
Stamp = tuple[int, int, int]


def stamp(path: str | os.PathLike[str]) -> Stamp | None:
    """A file's (or directory's) stamp; None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ctime_ns
