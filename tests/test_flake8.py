"""The flake8 plugin: real flake8 in a subprocess, compared with ``nnx-lint`` on the same files,
plus in-process tests of what the plugin does (and does not do) with one file."""

from __future__ import annotations

import ast
import gc
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import helpers
import libcst
import pytest

from nnx_lint import engine, files, flake8_plugin, project
from nnx_lint.diagnostics import Diagnostic
from nnx_lint.flake8_plugin import Plugin
from nnx_lint.project import root_of
from nnx_lint.rules import RULES
from nnx_lint.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"

# F401 at 1:1, NNX001 at 7:8, NNX002 at 8:10.
MIXED = """\
import os

import jax
from flax import nnx

model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
fast = jax.jit(model)
faster = nnx.jit(model)
"""
MODELS = """\
from flax import nnx


class Ranker(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.linear = nnx.Linear(2, 3, rngs=rngs)
        self.dropout = nnx.Dropout(0.1, rngs=rngs)

    def __call__(self, x):
        return self.dropout(self.linear(x))
"""
# Knows Ranker only from pkg/models.py; names neither flax nor nnx.
TRAIN = """\
import jax

from pkg.models import Ranker


def main(rngs):
    return jax.jit(Ranker(rngs))
"""
TRAIN_FINDING = ("train.py", 7, 12, "NNX001")

# One diagnostic: path, line, column, code, message (without ruff's "[*] " fix mark).
_LINE = re.compile(r"^(.+?):(\d+):(\d+): ([A-Z]+[0-9]+) (?:\[\*\] )?(.*)$")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def flake8(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "flake8", "--isolated", *args]  # no config files but ours
    return subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300)


def nnx_lint(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return helpers.nnx_lint(cwd, "--output-format", "concise", *args)


def parse(stdout: str) -> list[tuple[str, int, int, str, str]]:
    found = []
    for line in stdout.splitlines():
        if m := _LINE.match(line):
            path, row, col, code, message = m.groups()
            found.append((os.path.normpath(path), int(row), int(col), code, message))
    return sorted(found)


def codes(stdout: str) -> set[tuple[str, str]]:
    return {(path, code) for path, _, _, code, _ in parse(stdout)}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def cross_file_project(root: Path) -> None:
    write(root / "pyproject.toml", "")  # a project: its files are indexed together
    write(root / "pkg" / "__init__.py", "")
    write(root / "pkg" / "models.py", MODELS)
    write(root / "train.py", TRAIN)


@pytest.fixture(scope="module", autouse=True)
def _plugin_registered():
    result = subprocess.run(
        [sys.executable, "-m", "flake8", "--version"], capture_output=True, text=True, env=_env()
    )
    if "nnx-lint" not in result.stdout:
        pytest.fail("flake8 does not see the NNX plugin: run `pip install -e .` first")


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch):
    monkeypatch.setattr(flake8_plugin, "_PROJECTS", {})
    yield
    gc.unfreeze()  # what the plugin froze (``flake8_plugin.project``), back in reach


# Subprocess: flake8 against nnx-lint --------------------------------------------------------


def _fixture_tree(root: Path) -> list[tuple[str, int, int, str]]:
    """Every fixture case as a project of its own under ``root`` (a pyproject.toml at its
    top, with the case's settings), and the findings its ``# expect:`` markers name."""
    from test_fixtures import _cases, _is_input, expected

    found = []
    for case in _cases():
        name = case.relative_to(FIXTURES).as_posix().replace("/", "__").removesuffix(".py")
        top = root / name
        inputs = sorted(p for p in case.rglob("*.py") if _is_input(p)) if case.is_dir() else [case]
        for path in inputs:
            relative = path.relative_to(case) if case.is_dir() else Path(path.name)
            text = path.read_text()
            write(top / relative, text)
            found += [
                ((top / relative).relative_to(root).as_posix(), row, col, code)
                for row, code, col in expected(text)
            ]
        header = inputs[0].read_text().splitlines()[:1] if inputs else []
        version = re.search(r"target-flax-version=(\S+)", header[0]) if header else None
        select = re.search(r"select=(\S+)", header[0]) if header else None
        table = "[tool.nnx-lint]\n"
        if version:
            table += f'target-flax-version = "{version.group(1)}"\n'
        if select:
            table += f"select = {json.dumps(select.group(1).split(','))}\n"
        write(top / "pyproject.toml", table)
    return sorted(found)


def test_same_diagnostics_as_the_cli_on_every_fixture(tmp_path):
    """Each case its own project, as the fixture harness lints it: both front ends report
    exactly what the cases' markers expect, with the same messages."""
    expected = _fixture_tree(tmp_path)
    cli = nnx_lint(tmp_path, ".")
    got = flake8(tmp_path, "--select", "NNX", ".")
    assert got.stderr == ""
    assert parse(got.stdout) == parse(cli.stdout)
    assert [row[:4] for row in parse(cli.stdout)] == expected
    assert {code for *_, code, _ in parse(got.stdout)} == {rule.code for rule in RULES}
    assert got.returncode == cli.returncode == 1


def _caches(root: Path) -> set[str]:
    return {
        p.parent.parent.relative_to(root).as_posix() for p in root.rglob(".nnx_lint_cache/*.pickle")
    }


def test_same_project_from_both_front_ends_with_a_nested_project_marker(tmp_path):
    """/repo/pyproject.toml configures nnx-lint; /repo/app/setup.py makes app/ a project of
    its own (the nearest marker wins), so app/train.py does not see /repo/common/models.py.
    The command and flake8 agree on that, and keep their caches in the same places."""
    for name in ("cli", "flake8"):
        repo = tmp_path / name
        write(repo / "pyproject.toml", '[tool.nnx-lint]\nselect = ["NNX"]\n')
        write(repo / "common" / "__init__.py", "")
        write(repo / "common" / "models.py", MODELS)
        write(repo / "app" / "setup.py", "")
        write(repo / "app" / "train.py", TRAIN.replace("pkg.models", "common.models"))
        write(repo / "common" / "serve.py", TRAIN.replace("pkg.models", "common.models"))
    cli = nnx_lint(tmp_path / "cli", ".")
    lint = flake8(tmp_path / "flake8", "--select", "NNX", ".")
    assert parse(lint.stdout) == parse(cli.stdout)
    # common/serve.py is in /repo's project, which holds common/models.py: found by both.
    assert [row[:4] for row in parse(cli.stdout)] == [("common/serve.py", 7, 12, "NNX001")]
    assert _caches(tmp_path / "cli") == _caches(tmp_path / "flake8") == {".", "app"}


def test_same_project_from_both_front_ends_without_a_marker(tmp_path):
    """No project marker: the root is the directory above the top-most package, so both
    front ends know pkg/models.py's class when linting pkg/serve.py."""
    if any((d / ".git").exists() or (d / "pyproject.toml").exists() for d in tmp_path.parents):
        pytest.skip("an ancestor of the temporary directory is itself marked as a project")
    x = tmp_path / "x"
    write(x / "pkg" / "__init__.py", "")
    write(x / "pkg" / "models.py", MODELS)
    write(x / "pkg" / "serve.py", TRAIN.replace("from pkg.models", "from .models"))
    expected = [("pkg/serve.py", 7, 12, "NNX001")]
    for args in (["pkg/serve.py"], ["."]):
        cli = nnx_lint(x, *args)
        lint = flake8(x, "--select", "NNX", *args)
        assert [row[:4] for row in parse(cli.stdout)] == expected
        assert parse(lint.stdout) == parse(cli.stdout)
    # Neither marker nor package: the script's own directory is the root.
    scripts = tmp_path / "scripts"
    write(scripts / "models.py", MODELS)
    write(scripts / "train.py", TRAIN.replace("from pkg.models", "from models"))
    cli = nnx_lint(scripts, "train.py")
    assert [row[:4] for row in parse(cli.stdout)] == [("train.py", 7, 12, "NNX001")]
    assert parse(flake8(scripts, "--select", "NNX", "train.py").stdout) == parse(cli.stdout)
    stray = write(tmp_path / "stray" / "m.py", MIXED)
    assert run_plugin(MIXED, str(stray))  # found, and no cache is left beside a stray script
    assert not (tmp_path / "stray" / ".nnx_lint_cache").exists()


def test_columns_are_not_shifted(tmp_path):
    """flake8 adds one to a plugin's column: the plugin must hand it the 0-based one."""
    write(tmp_path / "m.py", MIXED)
    result = flake8(tmp_path, "--select", "NNX", "m.py")
    assert [row[:4] for row in parse(result.stdout)] == [
        ("m.py", 7, 8, "NNX001"),
        ("m.py", 8, 10, "NNX002"),
    ]
    assert parse(result.stdout) == parse(nnx_lint(tmp_path, "m.py").stdout)


def test_select_and_default_selection(tmp_path):
    write(tmp_path / "m.py", MIXED)
    selected = flake8(tmp_path, "--select", "NNX", "m.py")
    assert codes(selected.stdout) == {("m.py", "NNX001"), ("m.py", "NNX002")}
    default = flake8(tmp_path, "m.py")  # the plugin is on by default, next to pyflakes
    assert codes(default.stdout) == {("m.py", "F401"), ("m.py", "NNX001"), ("m.py", "NNX002")}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--select", "NNX001"], {"NNX001"}),
        (["--ignore", "NNX001"], {"F401", "NNX002"}),
        (["--select", "NNX", "--ignore", "NNX001"], {"NNX002"}),
        (["--extend-ignore", "NNX001"], {"F401", "NNX002"}),
        (["--extend-ignore", "NNX"], {"F401"}),
    ],
)
def test_flake8_selection_options(tmp_path, args, expected):
    write(tmp_path / "m.py", MIXED)
    result = flake8(tmp_path, *args, "m.py")
    assert {code for _, code in codes(result.stdout)} == expected
    assert result.returncode == 1


def test_per_file_ignores(tmp_path):
    write(tmp_path / "a.py", MIXED)
    write(tmp_path / "b.py", MIXED)
    result = flake8(tmp_path, "--select", "NNX", "--per-file-ignores", "a.py:NNX001", ".")
    assert codes(result.stdout) == {("a.py", "NNX002"), ("b.py", "NNX001"), ("b.py", "NNX002")}


@pytest.mark.parametrize(
    ("comment", "reported"),
    [
        ("# noqa: NNX001", False),
        ("# noqa", False),
        ("# NOQA:NNX001,E501", False),
        ("# noqa: NNX002", True),
        ("# noqa: E501", True),
    ],
)
def test_noqa(tmp_path, comment, reported):
    write(
        tmp_path / "m.py",
        MIXED.replace("fast = jax.jit(model)", f"fast = jax.jit(model)  {comment}"),
    )
    result = flake8(tmp_path, "--select", "NNX", "m.py")
    assert (("m.py", "NNX001") in codes(result.stdout)) is reported
    assert ("m.py", "NNX002") in codes(result.stdout)  # other lines are unaffected
    assert parse(result.stdout) == parse(nnx_lint(tmp_path, "m.py").stdout)


def test_exit_status(tmp_path):
    write(tmp_path / "clean.py", "from flax import nnx\n\nmodel = nnx.jit(lambda x: x)\n")
    write(tmp_path / "m.py", MIXED)
    clean = flake8(tmp_path, "--select", "NNX", "clean.py")
    assert (clean.returncode, clean.stdout) == (0, "")
    assert flake8(tmp_path, "--select", "NNX", "clean.py", "m.py").returncode == 1


def test_cross_file_class_with_jobs(tmp_path):
    cross_file_project(tmp_path)
    result = flake8(tmp_path, "--select", "NNX", "-j", "2", "pkg/models.py", "train.py")
    assert [row[:4] for row in parse(result.stdout)] == [TRAIN_FINDING]
    assert result.returncode == 1
    assert parse(result.stdout) == parse(nnx_lint(tmp_path, "pkg/models.py", "train.py").stdout)
    # The finding needs pkg/models.py: given train.py alone, both index the whole project.
    assert [row[:4] for row in parse(nnx_lint(tmp_path, "train.py").stdout)] == [TRAIN_FINDING]
    alone = flake8(tmp_path, "--select", "NNX", "train.py")
    assert [row[:4] for row in parse(alone.stdout)] == [TRAIN_FINDING]


def test_cross_file_from_a_subdirectory_of_the_project(tmp_path):
    """The project root is found from the file (pyproject.toml here), not from flake8's cwd."""
    cross_file_project(tmp_path)
    (tmp_path / "scripts").mkdir()
    (tmp_path / "train.py").rename(tmp_path / "scripts" / "train.py")
    result = flake8(tmp_path / "scripts", "--select", "NNX", "-j", "2", "train.py", "../pkg")
    assert [row[:4] for row in parse(result.stdout)] == [TRAIN_FINDING]


def test_target_flax_version_from_the_configuration(tmp_path):
    """[tool.nnx-lint] target-flax-version changes the findings: flake8 reads it too."""
    write(tmp_path / "m.py", (FIXTURES / "nnx003" / "version_0_10.py").read_text())
    default = parse(flake8(tmp_path, "--select", "NNX", "m.py").stdout)
    write(tmp_path / "pyproject.toml", '[tool.nnx-lint]\ntarget-flax-version = "0.10.5"\n')
    expected = parse(nnx_lint(tmp_path, "m.py").stdout)
    assert parse(flake8(tmp_path, "--select", "NNX", "m.py").stdout) == expected
    assert expected != default


# In process: the plugin's own work ----------------------------------------------------------


def run_plugin(source: str, filename: str) -> list[tuple[int, int, str, type]]:
    return list(Plugin(ast.parse(source), source.splitlines(keepends=True), filename).run())


def test_plugin_yields_flake8_tuples(tmp_path):
    path = write(tmp_path / "m.py", MIXED)
    results = run_plugin(MIXED, str(path))
    assert [(row, col, text.split()[0], kind) for row, col, text, kind in results] == [
        (7, 7, "NNX001", Plugin),
        (8, 9, "NNX002", Plugin),
    ]
    assert Plugin.name == "nnx-lint" and Plugin.version


def _no_parsing(monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise AssertionError("parsed or indexed a file that cannot have findings")

    monkeypatch.setattr(libcst, "parse_module", boom)
    monkeypatch.setattr(project, "build_index", boom)
    monkeypatch.setattr(project, "discover", boom)
    monkeypatch.setattr(project.config, "load", boom)


@pytest.mark.parametrize(
    "source",
    [
        "from flax import nnx\n\nmodel = nnx.Linear(2, 3, rngs=nnx.Rngs(0))\ny = model(x)\n",
        "import os\n",
    ],
)
def test_file_without_jit_costs_nothing(tmp_path, monkeypatch, source):
    path = write(tmp_path / "m.py", source)
    _no_parsing(monkeypatch)
    assert run_plugin(source, str(path)) == []


def test_jit_without_nnx_in_a_project_without_modules_is_not_parsed(tmp_path, monkeypatch):
    source = "import jax\n\nf = jax.jit(lambda x: x + 1)\n"
    path = write(tmp_path / "m.py", source)
    monkeypatch.setattr(libcst, "parse_module", lambda *a, **k: pytest.fail("parsed"))
    assert run_plugin(source, str(path)) == []


def test_the_no_parse_guard_works(tmp_path, monkeypatch):
    """Control for the tests above: a file that can have findings does reach the parser."""
    path = write(tmp_path / "m.py", MIXED)
    _no_parsing(monkeypatch)
    with pytest.raises(AssertionError, match="cannot have findings"):
        run_plugin(MIXED, str(path))


def test_only_nnx_codes_are_passed_on(tmp_path, monkeypatch):
    """flake8 reports syntax errors itself: an engine E999 is dropped."""
    found = [
        Diagnostic("E999", "SyntaxError: invalid syntax", "m.py", 3, 1, 3, 1),
        Diagnostic("NNX001", "message", "m.py", 7, 8, 7, 22),
    ]
    monkeypatch.setattr(engine, "check_source", lambda *a, **k: found)
    path = write(tmp_path / "m.py", MIXED)
    assert run_plugin(MIXED, str(path)) == [(7, 7, "NNX001 message", Plugin)]


def test_engine_called_without_noqa_and_with_the_default_rules_selected(tmp_path, monkeypatch):
    calls = []

    def check_source(source, path, settings, index, *, noqa):
        calls.append((settings.select, settings.ignore, noqa))
        return []

    monkeypatch.setattr(engine, "check_source", check_source)
    path = write(tmp_path / "m.py", MIXED)
    run_plugin(MIXED, str(path))
    assert calls == [(Settings().select, (), False)]
    assert Settings().select == ("NNX0",)  # the opt-in upgrade rules (NNX1) are not in it


def test_index_is_built_once_per_root(tmp_path, monkeypatch):
    cross_file_project(tmp_path)
    builds = []
    real_build = project.build_index

    def build(paths, *args, **kwargs):
        paths = list(paths)
        builds.append(sorted(Path(p).relative_to(tmp_path).as_posix() for p in paths))
        return real_build(paths, *args, **kwargs)

    monkeypatch.setattr(project, "build_index", build)
    write(tmp_path / "pyproject.toml", "")
    for name in ("train.py", "pkg/models.py", "train.py"):
        run_plugin((tmp_path / name).read_text(), str(tmp_path / name))
    assert builds == [["pkg/__init__.py", "pkg/models.py", "train.py"]]


# Records which processes of a flake8 run scan files for the index (``project.scan_file``), and
# starts flake8's workers as NNX_TEST_START says (fork, spawn).
_SITECUSTOMIZE = """\
import multiprocessing, os

if os.environ.get("NNX_TEST_START"):
    multiprocessing.set_start_method(os.environ["NNX_TEST_START"], force=True)

from nnx_lint import project

_scan = project.scan_file


def scan_file(path):
    where = "main" if multiprocessing.parent_process() is None else "worker"
    with open(os.environ["NNX_TEST_LOG"], "a") as log:
        log.write(f"{where} {os.getpid()}\\n")
    return _scan(path)


project.scan_file = scan_file
"""


def _scans(tmp_path: Path, start: str, *args: str) -> tuple[list[str], str]:
    """flake8 with the plugin, its workers started by ``start``: who scanned files (main or
    worker, one entry per file scanned), and what it printed."""
    hooks = write(tmp_path / "hooks" / "sitecustomize.py", _SITECUSTOMIZE).parent
    log = tmp_path / "scans.log"
    env = {
        **_env(),
        "PYTHONPATH": f"{hooks}{os.pathsep}{ROOT}",
        "NNX_TEST_LOG": str(log),
        "NNX_TEST_START": start,
    }
    cmd = [sys.executable, "-m", "flake8", "--isolated", "--select", "NNX", *args]
    done = subprocess.run(cmd, cwd=tmp_path / "proj", env=env, capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr
    scans = log.read_text().split() if log.exists() else []
    return scans[::2], done.stdout


def _workers_project(root: Path) -> None:
    cross_file_project(root)
    for i in range(6):  # enough files for flake8 to start its workers
        write(root / f"extra{i}.py", f"x = {i}\n")


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_the_index_is_built_once_in_flake8s_main_process(tmp_path, start):
    """``Plugin.parse_options`` (``prepare``) opens the project before flake8 starts its
    workers: forked ones inherit it, ones started afresh read the facts from its cache. No
    worker scans a file, and the cross-file finding is there."""
    _workers_project(tmp_path / "proj")
    scans, out = _scans(tmp_path, start, "-j", "2", ".")
    assert scans == ["main"] * 9  # pyproject.toml aside, every file of the project, once
    assert [row[:4] for row in parse(out)] == [TRAIN_FINDING]
    again, out_again = _scans(tmp_path, start, "-j", "2", ".")
    assert again == scans and out_again == out  # a repeated run scans nothing more


def test_without_a_file_a_rule_could_match_no_project_is_opened(tmp_path):
    """The same condition as a file's own check: no file that names a transform, no index."""
    write(tmp_path / "proj" / "pyproject.toml", "")
    write(tmp_path / "proj" / "m.py", "from flax import nnx\n")
    write(tmp_path / "proj" / "n.py", "import jax\n")
    scans, out = _scans(tmp_path, "fork", "-j", "2", ".")
    assert (scans, out) == ([], "")


def test_workers_started_afresh_without_a_cache_scan_for_themselves(tmp_path):
    """A project without a marker has no cache: spawned workers could not read what flake8's
    main process found, so it leaves the opening to them (as before) rather than scan twice."""
    write(tmp_path / "proj" / "pkg" / "__init__.py", "")
    write(tmp_path / "proj" / "pkg" / "models.py", MODELS)
    write(tmp_path / "proj" / "pkg" / "train.py", TRAIN.replace("pkg.models", ".models"))
    scans, out = _scans(tmp_path, "spawn", "-j", "2", "pkg")
    assert scans and "main" not in scans
    assert codes(out) == {(os.path.join("pkg", "train.py"), "NNX001")}
    forked, out_forked = _scans(tmp_path, "fork", "-j", "2", "pkg")
    assert set(forked[len(scans) :]) == {"main"}  # (the log goes on) forked ones inherit it
    assert out_forked == out


def test_bug_report_and_flake8s_api_open_no_project(tmp_path, monkeypatch):
    """``flake8 --bug-report`` does not read the project (a broken configuration does not make
    it fail); flake8's Python API parses its options before it is told the files: the
    project is opened when a file needs it, and the cross-file finding is there."""
    cross_file_project(tmp_path)
    write(tmp_path / "pyproject.toml", "[tool.nnx-lint]\nselect = 3\n")  # not a list
    cmd = [sys.executable, "-m", "flake8", "--bug-report"]
    report = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True)
    assert report.returncode == 0 and '"nnx-lint"' in report.stdout, report.stderr
    assert not (tmp_path / ".nnx_lint_cache").exists()
    write(tmp_path / "pyproject.toml", "")
    from flake8.api import legacy

    monkeypatch.chdir(tmp_path)
    guide = legacy.get_style_guide(select=["NNX"])
    assert flake8_plugin._PROJECTS == {}
    assert guide.check_files(["train.py"]).total_errors == 1
    assert list(flake8_plugin._PROJECTS) == [tmp_path]


def test_prepare_does_nothing_in_a_worker_started_afresh(tmp_path, monkeypatch):
    """flake8 parses its options again in a spawned worker: that worker opens the project
    when a file first needs it, and finds the facts in the cache."""
    import multiprocessing

    from flake8.options.parse_args import parse_args

    cross_file_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())
    parse_args(["--isolated", "--select", "NNX", "."])
    assert flake8_plugin._PROJECTS == {}
    monkeypatch.undo()
    monkeypatch.setattr(flake8_plugin, "_PROJECTS", {})
    monkeypatch.chdir(tmp_path)
    parse_args(["--isolated", "--select", "NNX", "."])  # in flake8's main process
    assert list(flake8_plugin._PROJECTS) == [tmp_path]


def test_the_project_opened_is_frozen_out_of_the_collectors_reach(tmp_path):
    cross_file_project(tmp_path)
    write(tmp_path / "pyproject.toml", "")
    gc.unfreeze()
    run_plugin("import os\n", str(tmp_path / "other.py"))  # no transform: no project opened
    assert gc.get_freeze_count() == 0
    run_plugin((tmp_path / "train.py").read_text(), str(tmp_path / "train.py"))
    facts = list(flake8_plugin._PROJECTS[tmp_path].index.files.values())
    within_reach = {id(o) for o in gc.get_objects()}  # the permanent generation is not listed
    assert facts and all(gc.is_tracked(f) and id(f) not in within_reach for f in facts)


@pytest.mark.parametrize("marker", ["pyproject.toml", "setup.cfg", "setup.py", ".git"])
def test_project_root_is_the_nearest_marked_ancestor(tmp_path, marker):
    write(tmp_path / "proj" / marker, "")
    write(tmp_path / "proj" / "a" / "b" / "pyproject.toml.txt", "")  # not a marker
    assert root_of(str(tmp_path / "proj" / "a" / "b" / "m.py")) == tmp_path / "proj"


def _unmarked(tmp_path: Path) -> None:
    if any((d / m).exists() for d in (tmp_path, *tmp_path.parents) for m in files.ROOT_MARKERS):
        pytest.skip("an ancestor of the temporary directory is itself marked as a project")


def test_without_a_marker_the_root_is_above_the_top_most_package(tmp_path):
    _unmarked(tmp_path)
    write(tmp_path / "x" / "pkg" / "__init__.py", "")
    write(tmp_path / "x" / "pkg" / "sub" / "__init__.py", "")
    assert root_of(str(tmp_path / "x" / "pkg" / "sub" / "m.py")) == tmp_path / "x"


def test_without_a_marker_or_a_package_the_root_is_the_files_directory(tmp_path):
    _unmarked(tmp_path)
    assert root_of(str(tmp_path / "a" / "b" / "m.py")) == tmp_path / "a" / "b"


def test_an_internal_error_is_said_and_flake8_goes_on(tmp_path, monkeypatch, capsys):
    """A bug of nnx-lint's on one file does not abort the user's flake8 run."""
    from nnx_lint.analysis import project_index

    def endless(self, qualname, method="__call__"):
        raise RecursionError("maximum recursion depth exceeded")

    path = write(tmp_path / "m.py", MIXED)
    monkeypatch.setattr(project_index.ProjectIndex, "effect", endless)
    assert run_plugin(MIXED, str(path)) == []
    assert "m.py: RecursionError while analysing the file; please report this bug" in (
        capsys.readouterr().err
    )


# The result cache ----------------------------------------------------------------------------


def test_a_repeated_run_takes_results_from_the_commands_cache(tmp_path, monkeypatch):
    """A second process (a fresh project table) finds the first one's results in the cache
    journal, and does not analyse the file again; a changed file is analysed."""
    write(tmp_path / "pyproject.toml", "")
    path = write(tmp_path / "m.py", MIXED)
    first = run_plugin(MIXED, str(path))
    assert [t.split()[0] for _, _, t, _ in first] == ["NNX001", "NNX002"]
    assert list((tmp_path / ".nnx_lint_cache").glob("journal-*.pickle"))
    monkeypatch.setattr(flake8_plugin, "_PROJECTS", {})  # as a new process

    def analysed(*args, **kwargs):
        raise AssertionError("analysed a file whose results are cached")

    monkeypatch.setattr(engine, "check_source", analysed)
    assert run_plugin(MIXED, str(path)) == first
    changed = MIXED + "\n# edited\n"
    path.write_text(changed)
    monkeypatch.setattr(flake8_plugin, "_PROJECTS", {})
    with pytest.raises(AssertionError, match="analysed a file"):
        run_plugin(changed, str(path))


def test_repeated_flake8_runs_with_workers_report_the_same(tmp_path):
    cross_file_project(tmp_path)
    write(tmp_path / "pyproject.toml", "")
    for i in range(6):  # enough files for flake8's workers
        write(tmp_path / f"extra{i}.py", MIXED)
    first = flake8(tmp_path, "--select", "NNX", "-j", "2", ".")
    second = flake8(tmp_path, "--select", "NNX", "-j", "2", ".")
    assert first.returncode == second.returncode == 1
    assert codes(first.stdout) and sorted(first.stdout.splitlines()) == sorted(
        second.stdout.splitlines()
    )


def test_a_text_piped_in_is_not_taken_for_the_file_on_disk(tmp_path):
    """flake8 --stdin-display-name: the cache is keyed by the text, not by the file's stamp."""
    cross_file_project(tmp_path)
    write(tmp_path / "pyproject.toml", "")
    disk = flake8(tmp_path, "--select", "NNX", "train.py")
    assert "NNX001" in disk.stdout
    fixed = TRAIN.replace("jax.jit(Ranker(rngs))", "jax.jit(len)")
    piped = subprocess.run(
        [
            sys.executable,
            "-m",
            "flake8",
            "--select",
            "NNX",
            "--stdin-display-name",
            "train.py",
            "-",
        ],
        cwd=tmp_path,
        input=fixed,
        capture_output=True,
        text=True,
        env=_env(),
    )
    assert piped.returncode == 0 and "NNX001" not in piped.stdout
    assert "NNX001" in flake8(tmp_path, "--select", "NNX", "train.py").stdout  # and back
