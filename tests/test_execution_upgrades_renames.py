"""Proof by execution of the rename rules (NNX105 ``nnx.VariableState``, NNX106
``m.iter_modules()``/``iter_children()``, ``nnx.pure``, ``nnx.vars_as``,
``nnx.abstract_with_sharding``): on the installed flax (0.12.8) a program using the old names
warns what the messages quote; ``nnx-lint --fix --select NNX105,NNX106`` gives a program that
runs under ``-W error::DeprecationWarning`` with the same results, and a second fix changes
nothing. With ``-m multiversion``: a flax 0.10 program using ``VariableState`` (a state leaf's
class there) gives on flax 0.10 the results its fix gives on each flax 0.11+ interpreter, and
the flax 0.12 program's fix runs warning-free with the original's results on each 0.12.8+
interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import helpers
import pytest

pytestmark = pytest.mark.execution

# Helpers that run on every flax: `get_value()` from 0.12.1 on, `.value` before.
COMMON = """\
import json

import jax
import numpy as np
from flax import nnx


def raw(v):
    return v.get_value() if hasattr(type(v), "get_value") else v.value


def listed(x):
    return np.asarray(x).round(6).tolist()
"""

# flax 0.12 code using the old names (each still works on 0.12.8, with a warning).
PROGRAM = (
    COMMON
    + """from flax.nnx import VariableState
from flax.nnx import pure as make_pure


class Block(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.linear = nnx.Linear(2, 3, rngs=rngs)
        self.norm = nnx.BatchNorm(3, rngs=rngs)

    def paths(self):
        return [[str(p) for p in path] for path, _ in self.iter_modules()]

    def children(self):
        return [(str(k), type(v).__name__) for k, v in self.iter_children()]


def leaves(state: nnx.State) -> list[nnx.VariableState]:
    return jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, VariableState))


block = Block(nnx.Rngs(0))
state = nnx.state(block)
results = {
    "paths": block.paths(),
    "children": block.children(),
    "types": [type(m).__name__ for _, m in Block(nnx.Rngs(1)).iter_modules()],
    "leaves": [listed(raw(v)) for v in leaves(state)],
    "is_state": [isinstance(v, nnx.VariableState) for v in leaves(state)],
    "pure": [listed(x) for x in jax.tree.leaves(nnx.pure(state))],
    "pure_alias": [listed(x) for x in jax.tree.leaves(make_pure(state))],
}
hijax = nnx.vars_as(block, hijax=True)
results["with_vars"] = [
    type(hijax.linear.kernel).__name__,
    bool(hijax.linear.kernel.hijax),
    listed(raw(hijax.linear.kernel)) == listed(raw(block.linear.kernel)),
    hijax.linear.kernel is block.linear.kernel,
]
abstract = nnx.abstract_with_sharding(block)
results["abstract"] = [list(np.shape(raw(v))) for v in leaves(nnx.state(abstract))]
print("RESULTS " + json.dumps(results))
"""
)

# flax 0.10 code: `VariableState` is the class of a state's leaves there.
OLD_PROGRAM = (
    COMMON
    + """from flax.nnx import VariableState


def leaves(state: nnx.State) -> list[VariableState]:
    return jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, VariableState))


def scaled(state, factor):
    return jax.tree.map(
        lambda v: raw(v) * factor,
        state,
        is_leaf=lambda x: isinstance(x, (nnx.VariableState, int)),
    )


model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
state = nnx.state(model)
results = {
    "leaves": [listed(raw(v)) for v in leaves(state)],
    "is_state": [isinstance(v, nnx.VariableState) for v in leaves(state)],
    "subclass": issubclass(type(leaves(state)[0]), nnx.VariableState),
    "scaled": [listed(x) for x in jax.tree.leaves(scaled(state, 2.0))],
}
print("RESULTS " + json.dumps(results))
"""
)

WARNINGS = (
    "DeprecationWarning: 'VariableState' was removed, this is just an alias to 'Variable'. "
    "Plase use 'Variable' directly instead.",
    "DeprecationWarning: The 'm.iter_modules()' method is deprecated; use the "
    "'nnx.iter_modules(m)' function instead.",
    "DeprecationWarning: The 'm.iter_children()' method is deprecated; use the "
    "'nnx.iter_children(m)' function instead.",
    "DeprecationWarning: This function is deprecated. Use as_pure instead.",
    "DeprecationWarning: This function is deprecated. Use with_vars instead.",
    "DeprecationWarning: This function is deprecated. Use as_abstract instead.",
)


def _run(
    python: str, source: str, tmp_path: Path, name: str, *options: str
) -> subprocess.CompletedProcess:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return subprocess.run(
        [python, *options, str(path)],
        capture_output=True,
        text=True,
        timeout=helpers.TIMEOUT,
        env={**helpers.env(), "JAX_PLATFORMS": "cpu"},
    )


def _results(run: subprocess.CompletedProcess) -> dict[str, object]:
    assert run.returncode == 0, run.stderr[-3000:]
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULTS "))
    results: dict[str, object] = json.loads(line[len("RESULTS ") :])
    return results


def _fixed(source: str, tmp_path: Path, version: str) -> str:
    path = tmp_path / "program.py"
    path.write_text(source)
    args = ("--no-cache", "--fix", "--select", "NNX105,NNX106", "--target-flax-version", version)
    helpers.nnx_lint(tmp_path, *args, str(path))
    return path.read_text()


STRICT = ("-W", "error::DeprecationWarning")


def test_the_original_warns_what_the_messages_say(tmp_path: Path) -> None:
    """On flax 0.12.8 the program runs and warns each quoted DeprecationWarning; each message
    of the rules quotes its warning; under ``-W error::DeprecationWarning`` it stops at the
    first (the import of VariableState)."""
    from nnx_lint.engine import Settings, check_source

    settings = Settings(select=("NNX105", "NNX106"), target_flax_version=(0, 12, 8))
    found = check_source(PROGRAM, "program.py", settings)
    assert {d.code for d in found} == {"NNX105", "NNX106"}
    assert all(d.fix is not None for d in found), [d.message for d in found if d.fix is None]
    messages = "\n".join(d.message for d in found)
    for warning in WARNINGS:
        assert warning.removeprefix("DeprecationWarning: ") in messages, warning

    run = _run(sys.executable, PROGRAM, tmp_path, "original", "-W", "always::DeprecationWarning")
    _results(run)
    for warning in WARNINGS:
        assert warning in run.stderr, warning

    run = _run(sys.executable, PROGRAM, tmp_path, "strict", *STRICT)
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[-1] == WARNINGS[0]


def test_the_fixed_program_runs_warning_free_with_the_same_results(tmp_path: Path) -> None:
    """The fixed program uses none of the old names, runs under ``-W
    error::DeprecationWarning``, and gives the original's results; a second fix changes
    nothing."""
    fixed = _fixed(PROGRAM, tmp_path, "0.12.8")
    olds = ("VariableState", ".iter_modules()", ".iter_children()", "nnx.pure(", "vars_as")
    for old in (*olds, "abstract_with_sharding"):
        assert old not in fixed, old
    assert "nnx.iter_modules(self)" in fixed and "nnx.iter_children(self)" in fixed
    assert "from flax.nnx import as_pure as make_pure" in fixed
    original = _results(_run(sys.executable, PROGRAM, tmp_path, "original"))
    assert original["paths"] == [["linear"], ["norm"], []]
    assert original["is_state"] == [True, True, True, True, True, True]
    assert original["with_vars"] == ["HijaxVariable", True, True, False]
    assert _results(_run(sys.executable, fixed, tmp_path, "fixed", *STRICT)) == original
    assert _fixed(fixed, tmp_path, "0.12.8") == fixed


def test_the_rules_leave_older_targets_alone(tmp_path: Path) -> None:
    """For flax 0.10.5 nothing is changed (VariableState is a class of its own there); for
    flax 0.12.0 only NNX105 applies (the new function names do not exist yet)."""
    assert _fixed(OLD_PROGRAM, tmp_path, "0.10.5") == OLD_PROGRAM
    fixed = _fixed(PROGRAM, tmp_path, "0.12.0")
    assert "VariableState" not in fixed
    assert "self.iter_modules()" in fixed and "nnx.pure(state)" in fixed


PYTHONS = helpers.FLAX_PYTHONS


def _version(python: str) -> tuple[int, ...]:
    return tuple(int(part) for part in helpers.flax_version(python).split(".")[:3])


@pytest.mark.multiversion
@pytest.mark.skipif(not PYTHONS, reason="no NNX_LINT_FLAX_PYTHONS")
def test_variable_state_code_of_flax_010_means_the_same_after_the_fix(tmp_path: Path) -> None:
    """The flax 0.10 program on each flax < 0.11 interpreter and its fix (for the
    interpreter's version) on each flax >= 0.11 interpreter give the same results, the fixed
    ones under ``-W error::DeprecationWarning``."""
    old = [p for p in PYTHONS if _version(p) < (0, 11)]
    new = [p for p in PYTHONS if _version(p) >= (0, 11)] + [sys.executable]
    assert old, "no flax 0.10 interpreter among NNX_LINT_FLAX_PYTHONS"
    reference = _results(_run(old[0], OLD_PROGRAM, tmp_path, "original"))
    assert reference["is_state"] == [True, True] and reference["subclass"] is True
    for python in old[1:]:
        assert _results(_run(python, OLD_PROGRAM, tmp_path, "original")) == reference
    for python in new:
        version = helpers.flax_version(python)
        fixed = _fixed(OLD_PROGRAM, tmp_path, version)
        assert "VariableState" not in fixed
        got = _results(_run(python, fixed, tmp_path, "fixed", *STRICT))
        assert got == reference, f"flax {version}"


@pytest.mark.multiversion
@pytest.mark.skipif(not PYTHONS, reason="no NNX_LINT_FLAX_PYTHONS")
def test_the_fixed_program_runs_on_each_newer_flax(tmp_path: Path) -> None:
    """On each interpreter with flax 0.12.8 or later, the program fixed for its version runs
    warning-free with the results of the original there."""
    newer = [p for p in PYTHONS if _version(p) >= (0, 12, 8)]
    if not newer:
        pytest.skip("no flax 0.12.8+ interpreter among NNX_LINT_FLAX_PYTHONS")
    for python in newer:
        version = helpers.flax_version(python)
        original = _results(_run(python, PROGRAM, tmp_path, "original"))
        fixed = _fixed(PROGRAM, tmp_path, version)
        assert _results(_run(python, fixed, tmp_path, "fixed", *STRICT)) == original, version
