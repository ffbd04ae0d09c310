"""The ``nnx-lint`` command's entry point: a run that nothing has changed since is replayed
from its record (``runs``), importing nothing heavier; so is one where only files changed that
cannot change its output (``incremental``); any other runs in full (``cli``) and, when it is a
recordable check, is recorded with what it printed."""

from __future__ import annotations

import io
import sys
import time

from nnx_lint import runs

TYPE_CHECKING = False  # as typing's: a replayed run does not import typing (``runs``)
if TYPE_CHECKING:
    from typing import TextIO


class _Tee(io.TextIOBase):
    """Writes through to a stream and keeps a copy of what was written."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.copy = io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.stream.encoding


def _unchanged(changed: dict[str, runs.Quiet]) -> bool:
    """``incremental.unchanged``; a failure there (nnx-lint's bug) makes a full run, which
    reports whatever the changed files hold, rather than failing the run."""
    try:
        from nnx_lint import incremental

        return incremental.unchanged(changed)
    except Exception:
        return False


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["server"]:  # the Language Server: a front end of its own
        from nnx_lint import server

        return server.main()
    found = runs.plan(argv)
    if found is not None:
        status = runs.replay(found, _unchanged)
        if status is not None:
            return status
    from nnx_lint import cli

    if found is None:
        return cli.main(argv)
    out, err = _Tee(sys.stdout), _Tee(sys.stderr)
    read = runs.Inputs()
    started = time.time_ns()
    sys.stdout, sys.stderr = out, err
    try:
        status = cli.main(argv, read)
    finally:
        sys.stdout, sys.stderr = out.stream, err.stream
    if status in (cli.EXIT_OK, cli.EXIT_FOUND) and read.paths:
        runs.record(found, read, out.copy.getvalue(), err.copy.getvalue(), status, started)
    return status
