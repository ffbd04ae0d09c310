"""The garbage collector is paused while one file is parsed and analysed (``collector``), and
is back as it was after, whatever happened."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from nnx_lint import engine, project
from nnx_lint.collector import paused
from nnx_lint.settings import Settings

EVERY_RULE = Settings(select=("NNX",), unsafe_fixes=True)  # the opt-in rules too

CLOSURE = """\
import jax
from flax import nnx

model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
step = jax.jit(lambda x: model(x))
"""


@pytest.fixture
def collector_on() -> Iterator[None]:
    was_on = gc.isenabled()
    gc.enable()
    yield
    (gc.enable if was_on else gc.disable)()


def test_paused_turns_the_collector_off_and_back_on(collector_on: None) -> None:
    with paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(KeyError), paused():
        raise KeyError("x")
    assert gc.isenabled()


def test_paused_leaves_an_off_collector_off(collector_on: None) -> None:
    gc.disable()
    with paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_a_file_is_parsed_and_indexed_with_the_collector_paused(
    collector_on: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, bool]] = []
    parse, index_facts = engine.cst.parse_module, project.index_facts

    def parsing(*args: object, **kwargs: object) -> object:
        seen.append(("parse", gc.isenabled()))
        return parse(*args, **kwargs)  # type: ignore[arg-type]

    def indexing(*args: object, **kwargs: object) -> object:
        seen.append(("index", gc.isenabled()))
        return index_facts(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine.cst, "parse_module", parsing)
    monkeypatch.setattr(project, "index_facts", indexing)
    path = tmp_path / "train.py"
    path.write_text(CLOSURE)
    assert project.scan_file(str(path)) is not None
    found = engine.check_source(CLOSURE, str(path))
    assert [d.code for d in found] == ["NNX001"]
    assert seen == [("index", False), ("parse", False)]
    assert gc.isenabled()


def test_a_checked_files_tree_is_freed_when_its_check_returns(
    collector_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing of a file's analysis outlives its check, and reference counting frees it: its
    scopes are taken apart (a cycle holding the tree), and no visitor class keeps what its
    methods close over. Else every tree waits for the garbage collector (flake8's own work
    runs it over and over) or lives to the end of the run. Checked with the collector off, on
    the fixtures of every rule, all rules on, with findings and fixes (NNX003's looks for
    concrete reads): no tree the engine parsed is left when they are done."""
    inputs = [
        p
        for p in sorted(Path(__file__).parent.glob("fixtures/nnx*/*.py"))
        if not p.name.endswith((".fixed.py", ".unsafe.py"))
    ]
    assert len({p.parent.name for p in inputs}) >= 10
    # The file of each tree the engine parsed, by id: a freed tree's id is taken again, so
    # each id names the last tree made there, the one a live tree of that id is.
    parsed: dict[int, str] = {}
    parses = 0
    parse = engine.cst.parse_module

    def parsing(source: str) -> object:
        nonlocal parses
        module = parse(source)
        parsed[id(module)] = current
        parses += 1
        return module

    monkeypatch.setattr(engine.cst, "parse_module", parsing)
    gc.collect()
    gc.disable()
    found = 0
    for path in inputs:
        current = path.name
        found += len(engine.check_source(path.read_text(), str(path), EVERY_RULE))
    left = [
        parsed[id(o)]
        for o in gc.get_objects()
        if isinstance(o, engine.cst.Module) and id(o) in parsed
    ]
    assert parses >= len(inputs) * 0.9  # (a few are told to have no finding without it)
    assert found > 100
    assert not left, f"trees left alive: {left}"
