"""The garbage collector is paused while one file is parsed and analysed (``collector``), and
is back as it was after, whatever happened."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from nnx_lint import engine, project
from nnx_lint.collector import paused

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
