"""A run that nothing changed since is replayed from its record (``nnx_lint.runs``), and only
then: every input the run depends on, when changed, makes the next run a full one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import helpers
import pytest
from test_cache_and_jobs import FINDING, MODULE, TRAIN

from nnx_lint import cli, runs

CHANGING = MODULE.replace(
    "        self.dropout = nnx.Dropout(0.1, rngs=rngs)\n",
    "        self.dropout = nnx.Dropout(0.1, rngs=rngs)\n\n"
    "    def __call__(self, x):\n        self.count = x\n        return x\n",
)


def nnx_lint(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return helpers.nnx_lint(cwd, "--output-format", "concise", *args)


def age(root: Path, seconds: float = 10) -> None:
    """Every path below ``root`` (and ``root``) last changed ``seconds`` ago: older than the
    window in which a run is not recorded (``runs.RACY``)."""
    then = time.time_ns() - int(seconds * 1e9)
    for directory, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            os.utime(os.path.join(directory, name), ns=(then, then))
    os.utime(root, ns=(then, then))


def project(tmp_path: Path) -> Path:
    helpers.write(tmp_path / "pyproject.toml", "")
    helpers.write(tmp_path / "models.py", MODULE)
    helpers.write(tmp_path / "train.py", TRAIN)
    return tmp_path


@pytest.fixture
def no_full_run(monkeypatch: pytest.MonkeyPatch):
    """Within the test, a run that is not replayed fails loudly."""

    def full_run(*args: object, **kwargs: object) -> int:
        raise AssertionError("a full run, where a replay was expected")

    return lambda: monkeypatch.setattr(cli, "main", full_run)


def recorded(root: Path, *args: str) -> subprocess.CompletedProcess:
    """A full run of ``args`` on a tree that has not changed for a while: it is recorded."""
    nnx_lint(root, *args)  # makes the cache directory, changing the root's stamp
    age(root)
    first = nnx_lint(root, *args)
    assert list((root / ".nnx_lint_cache" / "runs").iterdir()), "the run was not recorded"
    return first


def test_a_second_run_is_replayed_with_the_same_output_and_status(tmp_path, no_full_run):
    root = project(tmp_path)
    first = recorded(root, ".")
    assert FINDING in first.stdout and first.returncode == 1
    no_full_run()
    second = nnx_lint(root, ".")
    assert (second.stdout, second.stderr, second.returncode) == (
        first.stdout,
        first.stderr,
        first.returncode,
    )


def test_a_replay_imports_nothing_but_the_light_modules(tmp_path: Path) -> None:
    root = project(tmp_path)
    recorded(root, ".")
    probe = (
        "import sys; from nnx_lint import launch; code = launch.main(['--jobs', '1', "
        "'--output-format', 'concise', '.']); heavy = [m for m in ('nnx_lint.cli', "
        "'nnx_lint.config', 'nnx_lint.analysis', 'pathspec', 'libcst') if m in sys.modules]; "
        "print('imported', heavy); sys.exit(code)"
    )
    for _ in range(2):  # recorded under this process's import path, then replayed
        got = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=root,
            env=helpers.env(),
            capture_output=True,
            text=True,
        )
    assert FINDING in got.stdout and got.returncode == 1
    assert "imported []" in got.stdout


def edit(path: Path, text: str) -> None:
    path.write_text(text)
    then = time.time_ns() - 5 * 10**9  # changed, yet older than the window: recordable
    os.utime(path, ns=(then, then))


@pytest.mark.parametrize(
    "change, expected",
    [
        # the linted file itself
        (lambda r: edit(r / "train.py", TRAIN.replace("jax.jit(model)", "model")), ""),
        # a file only indexed: the class now changes its state as it runs
        (lambda r: edit(r / "models.py", CHANGING), "TraceContextError"),
        # the configuration
        (lambda r: edit(r / "pyproject.toml", "[tool.nnx-lint]\nignore = ['NNX001']\n"), ""),
        # a .gitignore in the walked tree
        (lambda r: edit(r / ".gitignore", "train.py\n"), ""),
        # a new file in a walked directory that held no Python file
        (lambda r: helpers.write(r / "docs" / "more.py", TRAIN), "more.py:8:12: NNX001"),
        # a file removed
        (lambda r: (r / "train.py").unlink(), "No Python files|^$"),
    ],
    ids=["linted file", "indexed file", "config", "gitignore", "new file", "removed file"],
)
def test_any_change_to_what_the_run_read_makes_a_full_run(tmp_path: Path, change, expected):
    root = project(tmp_path)
    (root / "docs").mkdir()
    (root / "docs" / "notes.txt").write_text("no Python here")
    recorded(root, ".")
    change(root)
    after = nnx_lint(root, ".")
    cold = nnx_lint(root, ".", "--no-cache")
    assert (after.stdout, after.returncode) == (cold.stdout, cold.returncode)
    if expected:
        import re

        assert re.search(expected, after.stdout + after.stderr, re.M)
    else:
        assert "NNX001" not in after.stdout


def test_a_configuration_file_created_above_makes_a_full_run(tmp_path: Path) -> None:
    root = project(tmp_path / "repo")
    recorded(root, "src" if (root / "src").exists() else ".")
    (root / "pyproject.toml").unlink()  # the project now reaches up to tmp_path
    helpers.write(tmp_path / "pyproject.toml", "[tool.nnx-lint]\nignore = ['NNX']\n")
    after = nnx_lint(root, ".")
    assert (after.stdout, after.returncode) == ("All checks passed!\n", 0)


def test_other_arguments_are_another_record(tmp_path, no_full_run) -> None:
    root = project(tmp_path)
    recorded(root, ".")
    statistics = nnx_lint(root, ".", "--statistics")
    assert statistics.stdout.startswith("1\tNNX001")
    no_full_run()
    assert nnx_lint(root, ".").stdout.startswith(FINDING)
    assert nnx_lint(root, ".", "--statistics").stdout == statistics.stdout


@pytest.mark.parametrize("args", [("--fix",), ("--diff",), ("--no-cache",), ("--show-files",)])
def test_runs_that_write_or_skip_the_cache_are_never_replayed(tmp_path, args) -> None:
    root = project(tmp_path)
    age(root)
    nnx_lint(root, ".", *args)
    assert not (root / ".nnx_lint_cache" / "runs").exists() or not list(
        (root / ".nnx_lint_cache" / "runs").iterdir()
    )


def test_a_tree_changed_in_the_last_seconds_is_not_recorded(tmp_path: Path) -> None:
    """A path changed within the file system's timestamp granularity could change again
    without its stamp changing: such a run is not recorded (git's "racily clean")."""
    root = project(tmp_path)
    nnx_lint(root, ".")  # the files were written just now
    runs = root / ".nnx_lint_cache" / "runs"
    assert not runs.exists() or not list(runs.iterdir())


def test_a_project_marker_created_above_the_walk_makes_a_full_run(tmp_path: Path) -> None:
    """Without a marker, the files' own directory is the project; a .git made above it makes
    the directory above the project, and its models.py part of the index."""
    top = tmp_path / "top"
    helpers.write(top / "models.py", MODULE)
    helpers.write(top / "app" / "train.py", TRAIN)
    cache = str(tmp_path / "cache")
    helpers.nnx_lint(top, "--cache-dir", cache, "app")
    age(tmp_path)
    before = helpers.nnx_lint(top, "--cache-dir", cache, "app")
    assert "NNX001" not in before.stdout  # `Ranker` cannot be told from here
    (top / ".git").mkdir()
    after = helpers.nnx_lint(top, "--cache-dir", cache, "app")
    assert "NNX001 " in after.stdout and " --> app/train.py:8:12" in after.stdout


# What a review found replayed stale, each now a full run ------------------------------------


def _same_as_a_full_run(root: Path, *args: str) -> subprocess.CompletedProcess:
    after = nnx_lint(root, *args)
    cold = nnx_lint(root, *args, "--no-cache")
    assert (after.stdout, after.returncode) == (cold.stdout, cold.returncode)
    return after


def test_a_virtual_environment_marker_removed(tmp_path: Path) -> None:
    root = project(tmp_path)
    helpers.write(root / "sub" / "pyvenv.cfg", "home = /usr\n")
    helpers.write(root / "sub" / "train.py", TRAIN)
    recorded(root, ".")
    (root / "sub" / "pyvenv.cfg").unlink()  # sub is linted now; its parent did not change
    assert "sub/train.py:8:12: NNX001" in _same_as_a_full_run(root, ".").stdout


def test_a_gitignore_edited_in_place_in_a_directory_with_nothing_linted(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "train.py").unlink()
    helpers.write(root / "pkg" / ".gitignore", "train.py\n")
    helpers.write(root / "pkg" / "train.py", TRAIN)
    recorded(root, ".")
    edit(root / "pkg" / ".gitignore", "other.py\n")  # same size, the directory unchanged
    assert "pkg/train.py:8:12: NNX001" in _same_as_a_full_run(root, ".").stdout


def test_a_package_made_in_a_project_without_a_marker(tmp_path: Path) -> None:
    top = tmp_path / "top"
    helpers.write(top / "lib" / "models.py", MODULE)
    helpers.write(top / "app.py", TRAIN.replace("from models import", "from lib.models import"))
    cache = str(tmp_path / "cache")
    helpers.nnx_lint(top, "--cache-dir", cache, "app.py")
    age(tmp_path)
    assert "NNX001" not in helpers.nnx_lint(top, "--cache-dir", cache, "app.py").stdout
    helpers.write(top / "lib" / "__init__.py", "")  # lib is a package: Ranker is known
    after = helpers.nnx_lint(top, "--cache-dir", cache, "app.py")
    assert " --> app.py:8:12" in after.stdout


def test_a_cache_directory_above_the_project(tmp_path: Path) -> None:
    root = project(tmp_path / "proj")
    args = ("--cache-dir", "..", ".")
    helpers.nnx_lint(root, *args)
    age(tmp_path)
    assert FINDING in nnx_lint(root, *args).stdout
    edit(root / "train.py", TRAIN.replace("jax.jit(model)", "jax.jit(model)  # noqa"))
    after = nnx_lint(root, *args)
    assert (after.stdout, after.returncode) == ("All checks passed!\n", 0)


def test_another_import_path_is_another_record(tmp_path, monkeypatch) -> None:
    """PYTHONPATH decides which flax is found (the target version): it is part of the key."""
    root = project(tmp_path / "proj")
    recorded(root, ".")
    monkeypatch.syspath_prepend(str(tmp_path / "elsewhere"))
    full = []
    real = cli.main
    monkeypatch.setattr(cli, "main", lambda *a, **k: full.append(1) or real(*a, **k))
    nnx_lint(root, ".")
    assert full == [1]


def test_a_mode_change_makes_a_full_run(tmp_path: Path) -> None:
    """chmod changes a file's ctime, not its mtime: an unreadable file made readable."""
    from nnx_lint import cache

    root = project(tmp_path)
    before = cache.stamp(root / "train.py")
    os.chmod(root / "train.py", 0o600)
    assert cache.stamp(root / "train.py") != before


# A few changed files: taken without a full run when they cannot change the output ---------

# No JAX transform named: no rule can find anything in it.
UTIL = """\
import numpy as np


def scale(x, k):
    return np.asarray(x) * k
"""
# A transform, but no NNX object: neither flax/nnx nor a Module class of the project named.
STEP = """\
import jax


@jax.jit
def double(x):
    return x * 2
"""


def with_helpers(tmp_path: Path) -> Path:
    root = project(tmp_path)
    helpers.write(root / "util.py", UTIL)
    helpers.write(root / "step.py", STEP)
    return root


def cold(root: Path, *args: str) -> subprocess.CompletedProcess:
    """The same check run in full in another process, without the cache."""
    return helpers.nnx_lint(
        root, "--output-format", "concise", *args, "--no-cache", subprocess_=True
    )


@pytest.fixture
def full_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the runs that were not replayed."""
    count: list[int] = []
    real = cli.main
    monkeypatch.setattr(cli, "main", lambda *a, **k: count.append(1) or real(*a, **k))
    return count


@pytest.mark.parametrize(
    "name, text",
    [
        ("util.py", UTIL + "# a comment added\n"),
        ("util.py", UTIL.replace("* k", "* k + 1") + "\n\ndef twice(x):\n    return x + x\n"),
        ("step.py", STEP.replace("x * 2", "x * 3") + "# jax.jit(model) in a comment\n"),
        ("step.py", "# -*- coding: latin-1 -*-\n" + STEP.replace("double", "doubl\xe9")),
    ],
    ids=["comment", "new function", "transform file", "latin-1"],
)
def test_a_file_edited_without_a_possible_finding_is_taken_without_a_full_run(
    tmp_path: Path, full_runs: list[int], name: str, text: str
) -> None:
    root = with_helpers(tmp_path)
    first = recorded(root, ".")
    assert FINDING in first.stdout
    encoding = "latin-1" if "latin-1" in text else "utf-8"
    (root / name).write_bytes(text.encode(encoding))
    full_runs.clear()
    after = nnx_lint(root, ".")
    assert full_runs == []  # replayed: only the edited file was read
    assert (after.stdout, after.stderr, after.returncode) == (
        first.stdout,
        first.stderr,
        first.returncode,
    )
    expected = cold(root, ".")
    assert (after.stdout, after.returncode) == (expected.stdout, expected.returncode)


ADDS_A_FINDING = "\nfrom flax import nnx\n\nbad = jax.jit(nnx.Linear(2, 3, rngs=nnx.Rngs(0)))\n"


@pytest.mark.parametrize(
    "name, text, expected",
    [
        # the prefilter now passes: flax named; a finding
        ("step.py", STEP + ADDS_A_FINDING, "step.py:10:7: NNX001"),
        # a Module class of the project named (the recorded pattern of class names)
        ("step.py", STEP + "\nfrom models import Ranker\nbad = jax.jit(Ranker(None))\n", "NNX001"),
        # no longer parses
        ("util.py", UTIL + "def (\n", "util.py:6:5: E999"),
        # no longer decodes
        ("util.py", UTIL + "# \xff\n", "util.py:1:1: E902"),
        # its index facts changed: a Module class's call now changes its state
        ("models.py", CHANGING, "TraceContextError"),
        # a file that had a finding
        ("train.py", TRAIN + "# a comment\n", FINDING),
        # a finding's text passes the prefilter again, and a noqa now hides it
        ("train.py", TRAIN.replace("jax.jit(model)", "jax.jit(model)  # noqa"), "^All checks"),
    ],
    ids=["flax named", "Module class named", "syntax", "decoding", "facts", "had one", "noqa"],
)
def test_an_edit_that_may_change_the_output_makes_a_full_run(
    tmp_path: Path, full_runs: list[int], name: str, text: str, expected: str
) -> None:
    import re

    root = with_helpers(tmp_path)
    recorded(root, ".")
    data = text.encode("latin-1") if "\xff" in text else text.encode()
    (root / name).write_bytes(data)
    full_runs.clear()
    after = nnx_lint(root, ".")
    assert full_runs == [1]
    assert re.search(expected, after.stdout, re.M), after.stdout
    expected_run = cold(root, ".")
    assert (after.stdout, after.returncode) == (expected_run.stdout, expected_run.returncode)


FACTORY = "\n\ndef make_ranker(seed):\n    return Ranker(nnx.Rngs(seed))\n"
# A function-level import of the project's factory: the index facts of the file stay the same
# (they hold module-level imports), and neither flax, nnx nor a Module class is named; the
# import is what the prefilter finds (``names_nnx``), from the record too.
BUILDS = (
    STEP
    + """

def build(x):
    from models import make_ranker

    ranker = make_ranker(0)
    jax.jit(ranker)(x)
"""
)


def test_an_edit_naming_a_factory_of_the_project_makes_a_full_run(tmp_path, full_runs) -> None:
    root = with_helpers(tmp_path)
    helpers.write(root / "models.py", MODULE + FACTORY)
    recorded(root, ".")
    (root / "step.py").write_text(BUILDS)
    full_runs.clear()
    after = nnx_lint(root, ".")
    assert full_runs == [1]
    assert "step.py:13:5: NNX001" in after.stdout, after.stdout
    expected = cold(root, ".")
    assert (after.stdout, after.returncode) == (expected.stdout, expected.returncode)


def test_more_files_changed_than_a_few_make_a_full_run(tmp_path, full_runs) -> None:
    root = with_helpers(tmp_path)
    for n in range(runs.FEW + 1):
        helpers.write(root / f"extra_{n}.py", UTIL)
    recorded(root, ".")
    for n in range(runs.FEW + 1):
        helpers.write(root / f"extra_{n}.py", UTIL + "# edited\n")
    full_runs.clear()
    nnx_lint(root, ".")
    assert full_runs == [1]


def test_the_record_takes_the_new_stamps_unless_they_are_recent(
    tmp_path, monkeypatch, full_runs
) -> None:
    """A file taken without a full run is not read again by the next run, once its change
    is older than the window in which a change could hide (``runs.RACY``)."""
    from nnx_lint import incremental

    root = with_helpers(tmp_path)
    recorded(root, ".")
    asked: list[set[str]] = []
    real = incremental.unchanged
    monkeypatch.setattr(
        incremental, "unchanged", lambda entries: asked.append(set(entries)) or real(entries)
    )
    full_runs.clear()
    helpers.write(root / "util.py", UTIL + "# now\n")  # changed just now: racy
    nnx_lint(root, ".")
    nnx_lint(root, ".")
    assert asked == [{str(root / "util.py")}] * 2
    edit(root / "util.py", UTIL + "# a while ago\n")
    nnx_lint(root, ".")
    nnx_lint(root, ".")  # a plain replay now
    assert len(asked) == 3 and full_runs == []


def test_a_file_taken_without_a_full_run_imports_neither_the_engine_nor_the_command(
    tmp_path: Path,
) -> None:
    root = with_helpers(tmp_path)
    recorded(root, ".")
    probe = (
        "import sys; from nnx_lint import launch; code = launch.main(['--jobs', '1', "
        "'--output-format', 'concise', '.']); heavy = [m for m in ('nnx_lint.cli', "
        "'nnx_lint.config', 'nnx_lint.engine', 'nnx_lint.project', 'pathspec', 'libcst') "
        "if m in sys.modules]; print('imported', heavy, 'nnx_lint.incremental' in sys.modules)"
        "; sys.exit(code)"
    )

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", probe],
            cwd=root,
            env=helpers.env(),
            capture_output=True,
            text=True,
        )

    run()  # recorded under this process's import path
    age(root)
    run()
    edit(root / "step.py", STEP + "# edited\n")
    got = run()
    assert FINDING in got.stdout and got.returncode == 1
    assert "imported [] True" in got.stdout


def test_each_rules_text_check_is_recorded_by_a_name_that_finds_it_again() -> None:
    """The record names each rule's prefilter (a lambda through its rule), and the run with
    changed files finds the very function by that name, without importing the rules."""
    from nnx_lint import incremental
    from nnx_lint.rules import RULES

    for rule in RULES:
        assert incremental._resolve(*cli._named(rule)) is rule.prefilter, rule.code


def test_a_file_edited_without_a_possible_finding_under_the_upgrade_rules(
    tmp_path: Path, full_runs: list[int]
) -> None:
    root = with_helpers(tmp_path)
    args = (".", "--select", "NNX")  # every rule: the upgrade rules' text checks are lambdas
    first = recorded(root, *args)
    helpers.write(root / "util.py", UTIL + "# edited\n")
    full_runs.clear()
    after = nnx_lint(root, *args)
    assert full_runs == [] and after.stdout == first.stdout
    # Named by NNX101's text check (a lambda) alone, with flax: a full run, and its finding.
    helpers.write(root / "util.py", UTIL + "from flax import nnx\nopt = nnx.Optimizer(m, tx)\n")
    after = nnx_lint(root, *args)
    assert full_runs == [1] and "util.py:7:7: NNX101" in after.stdout
    assert after.stdout == cold(root, *args).stdout


def test_a_failure_on_the_changed_file_path_makes_a_full_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full_runs: list[int]
) -> None:
    from nnx_lint import incremental

    root = with_helpers(tmp_path)
    first = recorded(root, ".")

    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(incremental, "index_facts", broken)
    helpers.write(root / "util.py", UTIL + "# edited\n")
    full_runs.clear()
    after = nnx_lint(root, ".")
    assert full_runs == [1] and (after.stdout, after.returncode) == (
        first.stdout,
        first.returncode,
    )


def test_a_dropout_built_otherwise_in_another_file_makes_a_full_run(
    tmp_path: Path, full_runs: list[int]
) -> None:
    """How a Module's Dropout is built decides whether calling it changes state: a fact of the
    index, so the edit changes its fingerprint (found by a review: it once did not)."""
    layers = (
        "from flax import nnx\n\n\nclass Block(nnx.Module):\n    def __init__(self, rngs):\n"
        "        self.linear = nnx.Linear(2, 2, rngs=rngs)\n"
        "        self.drop = nnx.Dropout(0.5, deterministic=True, rngs=rngs)\n\n"
        "    def __call__(self, x):\n        return self.drop(self.linear(x))\n"
    )
    train = (
        "import jax\nfrom flax import nnx\n\nfrom pkg.layers import Block\n\n"
        "model = Block(nnx.Rngs(0))\n\n\n@jax.jit\ndef step(model, x):\n    return model(x)\n"
        "\n\nstep(model, 1.0)\n"
    )
    helpers.write(tmp_path / "pyproject.toml", "")
    helpers.write(tmp_path / "pkg" / "__init__.py", "")
    helpers.write(tmp_path / "pkg" / "layers.py", layers)
    helpers.write(tmp_path / "pkg" / "train.py", train)
    first = recorded(tmp_path, ".")
    assert "NNX003" not in first.stdout
    edit(tmp_path / "pkg" / "layers.py", layers.replace("deterministic=True, ", ""))
    full_runs.clear()
    after = nnx_lint(tmp_path, ".")
    assert full_runs == [1] and "pkg/train.py:9:2: NNX003" in after.stdout
    assert after.stdout == cold(tmp_path, ".").stdout


def test_a_file_changed_while_the_run_went_on_is_not_recorded(tmp_path: Path) -> None:
    """A run reads a file, the file changes more than two seconds before the run ends: the
    output may be the old text's, so the run is not recorded (found by a review: the window
    was counted back from the end of the run)."""
    root = project(tmp_path)
    found = runs.plan(["--output-format", "concise", str(root)])
    assert found is not None
    os.makedirs(os.path.dirname(found.path))  # made before the stamps are taken
    age(root)
    read = runs.Inputs()
    read.paths.update([str(root), str(root / "train.py"), str(root / "models.py")])
    now = time.time_ns()
    changed = now - 5 * 10**9  # the edit, 5 s ago
    os.utime(root / "train.py", ns=(changed, changed))
    runs.record(found, read, "old output\n", "", 1, started=now - 8 * 10**9)
    assert not os.path.exists(found.path)  # began before the edit: not recorded
    runs.record(found, read, "output\n", "", 1, started=now)
    assert os.path.exists(found.path)  # began after it: recorded


def test_a_file_saved_by_renaming_a_new_one_over_it_is_taken_without_a_full_run(
    tmp_path: Path, full_runs: list[int]
) -> None:
    """Many editors save by writing a new file and renaming it over the old: the directory's
    stamp changes, its entries do not."""
    root = with_helpers(tmp_path)
    first = recorded(root, ".")
    before = os.stat(root).st_mtime_ns
    helpers.write(root / ".util.py.tmp", UTIL + "# saved\n")
    time.sleep(0.01)
    os.replace(root / ".util.py.tmp", root / "util.py")
    assert os.stat(root).st_mtime_ns != before  # the directory's stamp changed
    full_runs.clear()
    after = nnx_lint(root, ".")
    assert full_runs == [] and (after.stdout, after.returncode) == (
        first.stdout,
        first.returncode,
    )
    assert after.stdout == cold(root, ".").stdout
    helpers.write(root / "new.py", UTIL)  # an entry more: a full run
    assert nnx_lint(root, ".").stdout == first.stdout and full_runs == [1]
