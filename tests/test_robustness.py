"""The engine never crashes and its fixes never make code worse, on generated programs and on
every Python file of the installed ecosystem."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import libcst as cst
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnx_lint.engine import Settings, check_source, fix_source
from nnx_lint.project import build_index

DEFAULT = Settings(unsafe_fixes=True)  # the rules on by default
EVERY_RULE = Settings(unsafe_fixes=True, select=("NNX",))  # the opt-in upgrade rules too
SAFE = Settings()


def _assert_fix_is_sound(source: str, mode: Settings) -> str:
    fixed = fix_source(source, "generated.py", mode).source
    if fixed != source:
        cst.parse_module(fixed)
        assert fix_source(fixed, "generated.py", mode).source == fixed
    return fixed


# -- arbitrary programs (hypothesmith): never raises; no jax/flax import, never changed

hypothesmith = pytest.importorskip("hypothesmith")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(hypothesmith.from_node())
def test_arbitrary_programs(source: str) -> None:
    check_source(source, "generated.py", DEFAULT)
    fixed = _assert_fix_is_sound(source, DEFAULT)
    if "jax" not in source and "flax" not in source:
        assert fixed == source


# -- programs made of the shapes nnx-lint rewrites, with random names, options and layout

JITS = [
    ("import jax\n", "jax.jit"),
    ("import jax as jx\n", "jx.jit"),
    ("from jax import jit\n", "jit"),
    ("import functools\nimport jax\n", "functools.partial(jax.jit, static_argnums=(1,))"),
    ("from flax import nnx\n", "nnx.jit"),
]
OBJECTS = [
    "nnx.Linear(2, 3, rngs=nnx.Rngs(0))",
    "nnx.Dropout(0.5, rngs=nnx.Rngs(1))",
    "nnx.RNN(nnx.LSTMCell(3, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(1))",
    "nnx.Rngs(0)",
]
names = st.sampled_from(["model", "net", "m", "encoder", "state_", "opt"])
spaces = st.sampled_from(["", " ", "  # note\n"])


@st.composite
def programs(draw) -> str:
    imports, jit = draw(st.sampled_from(JITS))
    obj, name, fn = draw(st.sampled_from(OBJECTS)), draw(names), draw(names)
    fn = f"{fn}_step"
    shape = draw(st.integers(0, 4))
    head = imports + ("" if "flax" in imports else "from flax import nnx\n")
    head += f"\n{name} = {obj}\n"
    if shape == 0:
        body = f"{fn} = {jit}({name})\n{fn}(1.0)\n"
    elif shape == 1:
        body = f"{fn} = {jit}(lambda x, n=1:{draw(spaces).strip(chr(10))} {name}(x))\n{fn}(2.0)\n"
    elif shape == 2:
        body = f"\n@{jit}\ndef {fn}(x, n):\n    return {name}(x) * n\n\n\n{fn}(1.0, 2)\n"
    elif shape == 3:
        body = f"y = {jit}({name})(1.0)\n"
    else:
        body = f"\n@{jit}\ndef {fn}(m: nnx.Module, x):\n    m.count.value += 1\n    return x\n"
    return head + body


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs(), st.booleans(), st.booleans())
def test_generated_nnx_programs(source: str, unsafe: bool, crlf: bool) -> None:
    if crlf:
        source = source.replace("\n", "\r\n")
    diagnostics = check_source(source, "generated.py", DEFAULT if unsafe else SAFE)
    fixed = _assert_fix_is_sound(source, DEFAULT if unsafe else SAFE)
    if crlf:
        assert "\n" not in fixed.replace("\r\n", "")  # line endings kept
    if fixed != source:
        assert diagnostics, "a file without diagnostics was changed"


# -- the installed site-packages: zero internal errors
#
# The default suite checks the packages NNX code lives in (flax and the JAX libraries around
# it: about 1,300 files, the project index built over them); ``-m exhaustive`` checks every
# `.py` file of the environment (about 6,000 files; the index alone takes over a minute), as
# the README's Tests section says.

NNX_WORLD = ("flax", "jax", "optax", "orbax", "treescope", "chex")


def _site_packages_files(packages: tuple[str, ...] | None = None) -> list[Path]:
    root = Path(sysconfig.get_paths()["purelib"])
    roots = [root / name for name in packages] if packages else [root]
    return sorted(p for top in roots if top.is_dir() for p in top.rglob("*.py") if p.is_file())


def _no_crash(files: list[Path], settings: Settings = EVERY_RULE) -> None:
    index = build_index(files)
    failures = []
    for path in files:
        try:
            source = path.read_bytes().decode("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        try:
            check_source(source, str(path), settings, index)
        except Exception as exc:  # noqa: BLE001 - the test's point is to catch any of them
            failures.append(f"{path}: {type(exc).__name__}: {exc}")
    assert not failures, "\n".join(failures[:20])
    print(f"checked {len(files)} files on Python {sys.version.split()[0]}")


@pytest.mark.slow
def test_no_crash_on_the_nnx_packages() -> None:
    files = _site_packages_files(NNX_WORLD)
    assert len(files) > 1000, "the test environment should hold flax, jax, optax and orbax"
    _no_crash(files, DEFAULT)


def test_no_crash_on_flax_with_the_upgrade_rules() -> None:
    """The opt-in upgrade rules too (every rule on) over flax's own sources, where Optimizers,
    Variables and their containers are written: ~12 s (every rule over all the NNX packages
    took ~40 s; ``-m exhaustive`` runs every rule over everything)."""
    files = _site_packages_files(("flax",))
    assert len(files) > 100, "the test environment should hold flax"
    _no_crash(files)


@pytest.mark.exhaustive
def test_no_crash_on_site_packages() -> None:
    files = _site_packages_files()
    assert len(files) > 5000, "the test environment should hold jax, flax and their dependencies"
    _no_crash(files)


# -- shapes that once made the engine fail or hang

WALRUS_CYCLE = """\
import jax
from flax import nnx


@jax.jit
def step(m: nnx.Module):
    [(x := {"k": x}) for _ in ()]
    return x
"""


def test_a_binding_that_reads_itself_ends() -> None:
    """A returned name followed through its assignments (``handed_back``) where the value read
    is the binding itself: the comprehension's read of ``x`` sees the walrus that binds it.
    It raised RecursionError (an internal error), then looped for ever; in a process of its
    own, so that a hang fails the test instead of stopping the suite."""
    program = "import sys; from nnx_lint.engine import check_source; "
    program += "print(len(check_source(sys.stdin.read(), 'step.py')))"
    done = subprocess.run(
        [sys.executable, "-c", program],
        input=WALRUS_CYCLE,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
