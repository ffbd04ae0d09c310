"""The persistent cache and parallel workers change nothing but speed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import helpers

from nnx_lint import cli, engine

ROOT = Path(__file__).resolve().parents[1]
MODULE = """\
from flax import nnx


class Ranker(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.linear = nnx.Linear(2, 3, rngs=rngs)
        self.dropout = nnx.Dropout(0.1, rngs=rngs)
"""
TRAIN = """\
import jax

from models import Ranker


def main(rngs):
    model = Ranker(rngs)
    return jax.jit(model)
"""
FINDING = "train.py:8:12: NNX001"


def nnx_lint(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return helpers.nnx_lint(cwd, "--output-format", "concise", *args)


def warm_run_probe(cwd: Path) -> str:
    """The concise output of a run in a fresh process, then whether it imported libcst."""
    probe = (
        "import sys; from nnx_lint import cli; code = cli.main(['--output-format', 'concise', "
        "'.']); print('libcst loaded' if 'libcst' in sys.modules else 'libcst not loaded')"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", probe], cwd=cwd, env=env, capture_output=True, text=True
    ).stdout


def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "models.py").write_text(MODULE)
    (tmp_path / "train.py").write_text(TRAIN)
    return tmp_path


def test_warm_run_equals_cold_and_does_not_import_libcst(tmp_path: Path) -> None:
    project(tmp_path)
    cold = nnx_lint(tmp_path, ".")
    assert FINDING in cold.stdout and cold.returncode == 1
    assert (tmp_path / ".nnx_lint_cache" / ".gitignore").read_text().strip().endswith("*")
    warm = nnx_lint(tmp_path, ".")
    assert (warm.stdout, warm.returncode) == (cold.stdout, cold.returncode)
    out = warm_run_probe(tmp_path)
    assert FINDING in out and "libcst not loaded" in out


def test_the_cache_covers_notebooks_and_documents(tmp_path: Path) -> None:
    fixtures = Path(__file__).parent / "fixtures"
    project(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.nnx-lint]\nextend-include = ["*.md"]\n')
    notebook = (fixtures / "notebooks" / "rnn_magics.ipynb").read_text(encoding="utf-8")
    (tmp_path / "rnn.ipynb").write_text(notebook, encoding="utf-8")
    (tmp_path / "guide.md").write_text((fixtures / "documents" / "guide.md").read_text())
    cold = nnx_lint(tmp_path, ".")
    assert "rnn.ipynb:cell 5:4:11: NNX001" in cold.stdout and "guide.md:28:2: NNX003" in cold.stdout
    warm = warm_run_probe(tmp_path)
    assert warm.replace("libcst not loaded\n", "") == cold.stdout  # from the cache alone
    assert "libcst not loaded" in warm
    # A changed notebook is linted again.
    (tmp_path / "rnn.ipynb").write_text(notebook.replace("jax.jit(encoder)", "encoder"))
    assert "rnn.ipynb" not in nnx_lint(tmp_path, ".").stdout


def test_cache_follows_a_module_class_moving_between_files(tmp_path: Path) -> None:
    project(tmp_path)
    assert FINDING in nnx_lint(tmp_path, ".").stdout
    # models.Ranker becomes a re-export of a plain class: train.py is unchanged, no finding.
    (tmp_path / "models.py").write_text("from layers import Ranker\n")
    (tmp_path / "layers.py").write_text(
        "class Ranker:\n    def __init__(self, rngs):\n        pass\n"
    )
    assert FINDING not in nnx_lint(tmp_path, ".").stdout
    # The Module subclass moves into layers.py: the finding is back.
    (tmp_path / "layers.py").write_text(MODULE)
    assert FINDING in nnx_lint(tmp_path, ".").stdout


def test_cache_follows_a_call_site_in_another_file(tmp_path: Path) -> None:
    # steps.py never changes; whether its parameter holds a module is told by run.py's call.
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "steps.py").write_text(
        "import jax\n\n\n@jax.jit\ndef step(model, x):\n    model.count[...] += 1\n    return x\n"
    )
    run = "from flax import nnx\nfrom steps import step\n\nstep({}, 1.0)\n"
    (tmp_path / "run.py").write_text(run.format("2.0"))
    assert "NNX003" not in nnx_lint(tmp_path, ".").stdout
    (tmp_path / "run.py").write_text(run.format("nnx.Linear(2, 2, rngs=nnx.Rngs(0))"))
    assert "steps.py:4:2: NNX003" in nnx_lint(tmp_path, ".").stdout
    (tmp_path / "run.py").write_text(run.format("2.0"))
    assert "NNX003" not in nnx_lint(tmp_path, ".").stdout


def test_no_cache_writes_nothing(tmp_path: Path) -> None:
    project(tmp_path)
    assert FINDING in nnx_lint(tmp_path, "--no-cache", ".").stdout
    assert not (tmp_path / ".nnx_lint_cache").exists()


def test_one_named_file_still_knows_the_projects_classes(tmp_path: Path) -> None:
    # pre-commit passes only the staged files: the class lives in a file not named.
    project(tmp_path)
    result = nnx_lint(tmp_path, "--no-cache", "train.py")
    assert FINDING in result.stdout


def test_jobs_give_the_same_results_as_one_process(tmp_path: Path) -> None:
    project(tmp_path)
    for i in range(8):
        (tmp_path / f"train_{i}.py").write_text(TRAIN)
    one = nnx_lint(tmp_path, "--no-cache", "-j", "1", ".")
    two = nnx_lint(tmp_path, "--no-cache", "-j", "2", ".")
    assert one.stdout.count(": NNX001") == 9
    assert (two.stdout, two.returncode) == (one.stdout, one.returncode)
    fixed = nnx_lint(tmp_path, "--no-cache", "-j", "2", "--fix", ".")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    for i in range(8):
        assert "nnx.jit(type(" in (tmp_path / f"train_{i}.py").read_text()


def test_a_file_changed_while_being_fixed_is_left_alone(tmp_path, monkeypatch, capsys):
    (tmp_path / "m.py").write_text(
        "import jax\nfrom flax import nnx\n\nm = nnx.Linear(2, 3, rngs=nnx.Rngs(0))\n"
        "f = jax.jit(m)\n"
    )
    real_fix = engine.fix_source

    def fix_while_someone_edits(source, path, *args, **kwargs):
        result = real_fix(source, path, *args, **kwargs)
        Path(path).write_text(source + "# edited meanwhile\n")
        return result

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(engine, "fix_source", fix_while_someone_edits)
    code = cli.main(["--no-cache", "--fix", "m.py"])
    assert code == 2
    assert (tmp_path / "m.py").read_text().endswith("# edited meanwhile\n")
    assert "changed while it was being fixed" in capsys.readouterr().err


def test_standard_input_knows_the_projects_classes(tmp_path: Path) -> None:
    project(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nnx_lint",
            "--output-format",
            "concise",
            "-",
            "--stdin-filename",
            "train.py",
        ],
        cwd=tmp_path,
        env=env,
        input=TRAIN,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert FINDING in result.stdout


def test_few_new_entries_are_a_journal_and_journals_are_compacted(tmp_path: Path) -> None:
    """One changed file does not rewrite the cache file; its entry is a journal of its own,
    read back in order; COMPACT journals make the next save rewrite the file and drop them."""
    from nnx_lint import cache as cache_module

    directory = tmp_path / "c"
    first: cache_module.Cache[str, str] = cache_module.Cache(directory)
    for i in range(cache_module.FEW + 1):  # many: the file itself
        first.put_facts(f"f{i}", (1, i), f"facts {i}")
    first.save()
    whole = (directory / cache_module.FILENAME).stat().st_mtime_ns
    assert not list(directory.glob("journal-*"))
    for turn in range(cache_module.COMPACT):
        again: cache_module.Cache[str, str] = cache_module.Cache(directory)
        assert again.get_facts("f0", (1, 0)) == (True, "facts 0" if turn == 0 else "new")
        again.put_facts("f0", (1, 0), "new")
        again.put_results("r", b"k", [f"result {turn}"])
        again.save()
        assert (directory / cache_module.FILENAME).stat().st_mtime_ns == whole
    assert len(list(directory.glob("journal-*"))) == cache_module.COMPACT
    last: cache_module.Cache[str, str] = cache_module.Cache(directory)
    assert last.get_results("r", b"k") == [f"result {cache_module.COMPACT - 1}"]  # in order
    last.save()  # nothing new, but enough journals: compacted
    assert not list(directory.glob("journal-*"))
    assert cache_module.Cache(directory).get_facts("f0", (1, 0)) == (True, "new")


def _put_one(cache: object, key: str) -> None:  # in a forked process
    cache.put_results(key, b"k", [key])  # type: ignore[attr-defined]


def test_a_forked_process_journals_to_a_journal_of_its_own(tmp_path: Path) -> None:
    """A journaling cache whose process forks (flake8's workers, after the plugin opened the
    project in the main process): each process appends to its own journal, never to the
    handle it inherited, and every entry is read back."""
    import multiprocessing

    from nnx_lint import cache as cache_module

    directory = tmp_path / "c"
    shared: cache_module.Cache[str, str] = cache_module.Cache(directory, journal=True)
    shared.put_results("parent", b"k", ["parent"])  # the parent's journal is open now
    children = [
        multiprocessing.get_context("fork").Process(target=_put_one, args=(shared, f"child{i}"))
        for i in range(2)
    ]
    for child in children:
        child.start()
        child.join()
        assert child.exitcode == 0
    assert len(list(directory.glob("journal-*"))) == 3
    back: cache_module.Cache[str, str] = cache_module.Cache(directory)
    for key in ("parent", "child0", "child1"):
        assert back.get_results(key, b"k") == [key]


def _no_process_pool(monkeypatch) -> None:
    """As on a platform without sem_open: making a process pool raises."""
    import multiprocessing.context

    def unavailable(*args: object, **kwargs: object) -> None:
        raise ImportError("This platform lacks a functioning sem_open implementation")

    monkeypatch.setattr(multiprocessing.context.BaseContext, "Pool", unavailable)


def test_the_index_is_scanned_one_file_after_another_without_a_process_pool(monkeypatch) -> None:
    """Where no process pool can be made (no sem_open, ENOSPC), the parallel map works in
    this process, as flake8 does, rather than fail the run."""
    from nnx_lint import project

    _no_process_pool(monkeypatch)
    assert project.parallel_map(2)(str, list(range(100))) == [str(i) for i in range(100)]


def test_the_command_lints_in_this_process_without_a_process_pool(tmp_path, monkeypatch):
    """`nnx-lint -j 2` where no process pool can be made: the files are linted one after
    another, with the same findings."""
    root = project(tmp_path)
    for i in range(4):  # enough files for workers
        (root / f"copy{i}.py").write_text(TRAIN)
    _no_process_pool(monkeypatch)
    monkeypatch.chdir(root)
    code = cli.main(["--no-cache", "--output-format", "concise", "-j", "2", "."])
    assert code == 1


def test_a_file_of_the_same_name_elsewhere_is_not_taken_for_another(tmp_path: Path) -> None:
    """Results are keyed by where a file is, not only by the name it is shown under: two
    `train.py` with the same stamp, linted from two directories."""
    root = project(tmp_path)
    other = root / "sub" / "train.py"
    other.parent.mkdir()
    other.write_text(TRAIN.replace("jax.jit(model)", "print  (model)"))  # the same size
    then = 1_700_000_000 * 10**9
    for path in (root / "train.py", other):
        os.utime(path, ns=(then, then))
    assert FINDING in nnx_lint(root, "train.py").stdout
    assert nnx_lint(root / "sub", "train.py").stdout == "All checks passed!\n"


def _another(value: object) -> object:
    """A value of the same kind as ``value``, different from it."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, frozenset):
        return value | {"x"}
    if isinstance(value, tuple):
        return (*value, ("x", 1))
    if isinstance(value, dict):
        return {**value, "x": next(iter(value.values()))}
    raise AssertionError(f"no other value for {value!r}")


def test_the_facts_digest_covers_every_fact() -> None:
    """Every cached result is keyed by the index's fingerprint, made of each file's facts
    digest: a fact left out of the digest would let a result go stale (as the flags a Dropout
    was built with once did)."""
    from dataclasses import fields, replace

    from nnx_lint.analysis.project_index import ClassFacts, FileFacts, facts_digest, scan_source

    facts = scan_source(
        "from flax import nnx\nfrom pkg import step\n\ntry:\n    import fast as backend\n"
        "except ImportError:\n    import slow as backend\n\n\n"
        "def make(rngs):\n    return Block(rngs)\n"
        "\n\nclass Block(nnx.Module):\n    def __init__(self, rngs):\n"
        "        self.drop = nnx.Dropout(0.5, deterministic=True, rngs=rngs)\n"
        "        self.items = [nnx.Linear(1, 1, rngs=rngs)]\n\n"
        "    def __call__(self, x):\n        self.n = x\n        return self.drop(x)\n\n\n"
        "step(Block(nnx.Rngs(0)), 1)\n",
        "pkg.models",
    )
    assert facts is not None
    (cls,) = facts.classes.values()
    left_out = {"digest", "identity"}  # the text's digest, and the digest itself
    for field in fields(FileFacts):
        if field.name not in left_out:
            value = getattr(facts, field.name)
            assert isinstance(value, bool) or value, f"the example has no {field.name}"
            changed = replace(facts, **{field.name: _another(value)})
            assert facts_digest(changed) != facts_digest(facts), field.name
    for field in fields(ClassFacts):
        value = getattr(cls, field.name)
        if isinstance(value, bool | str) or value:
            changed_cls = replace(cls, **{field.name: _another(value)})
            changed = replace(facts, classes={cls.qualname: changed_cls})
            assert facts_digest(changed) != facts_digest(facts), field.name
        else:
            raise AssertionError(f"the example has no {field.name}")
