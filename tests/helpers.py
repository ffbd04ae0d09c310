"""The one way the tests run the ``nnx-lint`` command.

In process by default (``launch.main``, the command's entry point, with the working
directory, standard streams and ``sys.argv`` swapped in): the command's contract (arguments,
output, exit status, files written) is the same, without an interpreter start-up per call.
In a subprocess where that is what is tested or where the process matters:
``subprocess=True``, a command prefix (``setpriv`` to drop privileges), or ``-j``/``--jobs``
(worker processes forked from a test process that has imported jax could deadlock).
In process, ``--jobs 1`` is added unless given.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300


def env() -> dict[str, str]:
    """The environment for a subprocess: this checkout first on the import path."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def run_programs(
    runner: str, programs: dict[str, str], python: str = sys.executable, **environ: str
) -> Any:
    """Run ``runner`` once in ``python`` (CPU): a program that reads ``programs`` ({name:
    source}) as JSON on its standard input, runs them, and prints its results as JSON on its
    last line, which is returned."""
    result = subprocess.run(
        [python, "-c", runner],
        input=json.dumps(programs),
        env={**env(), "JAX_PLATFORMS": "cpu", **environ},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def nnx_lint(
    cwd: Path,
    *args: str,
    stdin: str | bytes | None = None,
    prefix: tuple[str, ...] = (),
    subprocess_: bool = False,
) -> subprocess.CompletedProcess:
    """``nnx-lint ARGS`` in ``cwd``: text in and out, unless ``stdin`` is bytes."""
    jobs = any(a in ("-j", "--jobs") or a.startswith(("-j", "--jobs=")) for a in args)
    if subprocess_ or prefix or jobs:
        return _subprocess(cwd, args, stdin, prefix)
    if args and args[0] == "rule":
        return _in_process(cwd, args, stdin)
    return _in_process(cwd, ("--jobs", "1", *args), stdin)


def _subprocess(cwd, args, stdin, prefix) -> subprocess.CompletedProcess:
    cmd = [*prefix, sys.executable, "-m", "nnx_lint", *args]
    text = not isinstance(stdin, bytes)
    return subprocess.run(
        cmd, cwd=cwd, env=env(), input=stdin, capture_output=True, text=text, timeout=TIMEOUT
    )


def _stream(data: bytes = b"") -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="", write_through=True)


def _in_process(cwd, args, stdin) -> subprocess.CompletedProcess:
    from nnx_lint import launch  # the command's entry point: a run may be replayed

    binary = isinstance(stdin, bytes)
    data = stdin if binary else (stdin or "").encode()
    streams = _stream(data), _stream(), _stream()
    old_cwd = os.getcwd()
    with contextlib.ExitStack() as stack:
        os.chdir(cwd)
        stack.callback(os.chdir, old_cwd)
        for name, stream in zip(("stdin", "stdout", "stderr"), streams, strict=True):
            stack.enter_context(_swapped(name, stream))
        code = launch.main(list(args))
    out, err = (s.buffer.getvalue() for s in streams[1:])  # type: ignore[attr-defined]
    if binary:
        return subprocess.CompletedProcess(["nnx-lint", *args], code, out, err)
    # As subprocess.run(text=True): universal newlines.
    text = [b.decode("utf-8", "replace").replace("\r\n", "\n") for b in (out, err)]
    return subprocess.CompletedProcess(["nnx-lint", *args], code, *text)


@contextlib.contextmanager
def _swapped(name: str, stream: io.TextIOWrapper):
    old = getattr(sys, name)
    setattr(sys, name, stream)
    try:
        yield
    finally:
        stream.flush()
        setattr(sys, name, old)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def claim(message: str) -> str:
    """The outcome a message claims: RAISES, STALE, LOST, or NONE ("cannot be told")."""
    if "cannot be told" in message or "if its state changes" in message:
        return "NONE"
    raising = (
        "tracing it fails",
        "tracing fails",
        "raises ValueError",
        "raises TraceContextError",
        'raises TypeError ("',  # NNX004: jax.grad of integer state
    )
    if any(s in message for s in raising):
        return "RAISES"
    if "compiled in as constants" in message or "results of the old state" in message:
        return "STALE"
    if "lost" in message or "TypeError" in message:
        return "LOST"
    return "NONE"


# Interpreters with other flax versions for the `multiversion` tests (README, "Tests").
FLAX_PYTHONS = [p for p in os.environ.get("NNX_LINT_FLAX_PYTHONS", "").split(os.pathsep) if p]


def flax_version(python: str) -> str:
    """The version of flax the interpreter ``python`` imports."""
    return subprocess.run(
        [python, "-c", "import flax; print(flax.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
