"""Configuration: ``[tool.nnx-lint]`` in pyproject.toml, found upward from the linted paths or named
with ``--config``, under the command line. End to end (the real command in a subprocess), plus
unit tests of how the sources are merged."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import FIXED_LINE, JIT_MODEL, run, write

from nnx_lint import config
from nnx_lint.config import Options
from nnx_lint.files import search_start

# Reads an NNX module inside jax.jit: fine on flax >= 0.11, NNX003 when targeting older flax.
READ_ONLY_STEP = """\
import jax
from flax import nnx


@jax.jit
def forward(model: nnx.Module, x):
    return model(x)
"""
# NNX001 at 5:5 with an unsafe fix only.
INLINE_JIT = """\
import jax
from flax import nnx

model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
y = jax.jit(model)(1.0)
"""


def pyproject(directory: Path, table: str, *, header: str = "[tool.nnx-lint]\n") -> Path:
    return write(directory / "pyproject.toml", '[project]\nname = "demo"\n\n' + header + table)


def concise(cwd: Path, *args: str):
    return run(cwd, "--output-format", "concise", *args)


# Finding the file ------------------------------------------------------------------------------


def test_found_upward_from_the_linted_paths(tmp_path):
    pyproject(tmp_path, 'ignore = ["NNX001"]\n')
    write(tmp_path / "src/deep/m.py", JIT_MODEL)
    assert run(tmp_path / "src/deep").returncode == 0  # from the working directory
    outside = tmp_path.parent
    assert run(outside, str(tmp_path / "src/deep/m.py")).returncode == 0  # from the path


def test_pyproject_without_the_table_is_passed_over(tmp_path):
    pyproject(tmp_path, 'ignore = ["NNX001"]\n')
    pyproject(tmp_path / "sub", "", header="")  # a pyproject.toml of another tool
    write(tmp_path / "sub/m.py", JIT_MODEL)
    assert run(tmp_path / "sub").returncode == 0


def test_each_file_is_linted_under_its_own_projects_configuration(tmp_path):
    # a/ has a pyproject.toml: it is a project of its own (as in ruff, the nearest wins).
    pyproject(tmp_path, 'ignore = ["NNX001"]\n')
    pyproject(tmp_path / "a", 'select = ["NNX"]\n')
    write(tmp_path / "a/m.py", JIT_MODEL)
    write(tmp_path / "b/m.py", JIT_MODEL)
    assert run(tmp_path, "a/m.py").returncode == 1  # a/pyproject.toml: NNX001 on
    assert run(tmp_path, "b/m.py").returncode == 0  # the parent's: off
    both = run(tmp_path, "a/m.py", "b/m.py", "--output-format", "concise")
    assert both.returncode == 1
    assert [line.split(":")[0] for line in both.stdout.splitlines() if "NNX" in line] == ["a/m.py"]


def test_config_option_names_the_file(tmp_path):
    pyproject(tmp_path, 'ignore = ["NNX001"]\n')
    other = write(tmp_path / "ci/strict.toml", '[tool.nnx-lint]\nselect = ["ALL"]\n')
    write(tmp_path / "m.py", JIT_MODEL)
    assert run(tmp_path).returncode == 0
    assert run(tmp_path, "--config", str(other)).returncode == 1


def test_search_start_unit(tmp_path):
    write(tmp_path / "a/m.py", "")
    (tmp_path / "b").mkdir()
    assert search_start([str(tmp_path / "a/m.py")]) == tmp_path / "a"
    assert search_start([str(tmp_path / "a/m.py"), str(tmp_path / "b")]) == tmp_path
    assert search_start([str(tmp_path / "a/missing.py")]) == tmp_path / "a"


# Each key --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "status"),
    [
        ('select = ["NNX002"]\n', 0),
        ('select = ["NNX002"]\nextend-select = ["NNX001"]\n', 1),
        ('ignore = ["NNX"]\n', 0),
        ('ignore = ["NNX"]\nextend-select = ["NNX001"]\n', 1),  # the longer prefix wins
        ('select = ["all"]\nignore = ["nnx001"]\n', 0),  # case-insensitive, ALL
    ],
)
def test_rule_selection_keys(tmp_path, table, status):
    pyproject(tmp_path, table)
    write(tmp_path / "m.py", JIT_MODEL)
    assert run(tmp_path).returncode == status


def test_extend_exclude_adds_to_the_defaults(tmp_path):
    pyproject(tmp_path, 'extend-exclude = ["generated/", "*_pb2.py"]\n')
    for name in ["generated/m.py", "pkg/msg_pb2.py", "build/m.py"]:
        write(tmp_path / name, JIT_MODEL)
    write(tmp_path / "pkg/m.py", JIT_MODEL)
    result = concise(tmp_path)
    assert result.returncode == 1
    assert [line.split(":")[0] for line in result.stdout.splitlines()[:-2]] == ["pkg/m.py"]
    # Named on the command line, an excluded file is still linted.
    assert concise(tmp_path, "generated/m.py").returncode == 1


def test_exclude_replaces_the_defaults(tmp_path):
    pyproject(tmp_path, 'exclude = ["pkg/"]\n')
    write(tmp_path / "pkg/m.py", JIT_MODEL)
    write(tmp_path / "build/m.py", JIT_MODEL)  # excluded by default, no longer
    result = concise(tmp_path)
    assert [line.split(":")[0] for line in result.stdout.splitlines()[:-2]] == ["build/m.py"]


def test_exclude_is_relative_to_the_config_file(tmp_path):
    pyproject(tmp_path, 'extend-exclude = ["src/gen"]\n')
    write(tmp_path / "src/gen/m.py", JIT_MODEL)
    write(tmp_path / "other/src/gen/m.py", JIT_MODEL)
    result = concise(tmp_path / "src")  # run below the config file's directory
    assert result.returncode == 0, result.stdout
    assert concise(tmp_path / "other").returncode == 1  # an anchored pattern: only src/gen


def test_per_file_ignores(tmp_path):
    pyproject(
        tmp_path,
        "[tool.nnx-lint.per-file-ignores]\n"
        '"tests/*" = ["NNX001"]\n'
        '"scratch.py" = ["NNX"]\n'
        '"other/*" = ["NNX002"]\n',
        header="",
    )
    for name in ["tests/unit/m.py", "pkg/scratch.py", "other/m.py", "pkg/m.py"]:
        write(tmp_path / name, JIT_MODEL)
    result = concise(tmp_path)
    reported = [line.split(":")[0] for line in result.stdout.splitlines()[:-2]]
    assert reported == ["other/m.py", "pkg/m.py"]
    # Relative to the config file's directory, wherever nnx-lint runs from.
    assert concise(tmp_path / "tests", "unit/m.py").returncode == 0
    # Standard input is matched by its --stdin-filename.
    stdin = run(tmp_path, "-", "--stdin-filename", "tests/x.py", stdin=JIT_MODEL)
    assert stdin.returncode == 0, stdin.stdout


def test_target_flax_version(tmp_path):
    write(tmp_path / "step.py", READ_ONLY_STEP)
    assert run(tmp_path).returncode == 0  # the installed flax (>= 0.11)
    pyproject(tmp_path, 'target-flax-version = "0.10.5"\n')
    result = concise(tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("step.py:5:2: NNX003 ")
    assert run(tmp_path, "--target-flax-version", "0.11.0").returncode == 0  # CLI wins


def test_unsafe_fixes(tmp_path):
    path = write(tmp_path / "m.py", INLINE_JIT)
    assert "NNX001 [*]" not in concise(tmp_path).stdout
    pyproject(tmp_path, "unsafe-fixes = true\n")
    assert "NNX001 [*]" in concise(tmp_path).stdout
    assert "NNX001 [*]" not in concise(tmp_path, "--no-unsafe-fixes").stdout  # CLI wins
    assert run(tmp_path, "--fix").returncode == 0
    # The unsafe fix: the model bound once after it is made, called in place of the inline jit.
    assert "y = model_fn(1.0)" in path.read_text()


def test_output_format(tmp_path):
    pyproject(tmp_path, 'output-format = "json-lines"\n')
    write(tmp_path / "m.py", JIT_MODEL)
    result = run(tmp_path)
    assert result.stdout.startswith('{"cell":null,"code":"NNX001"')
    assert run(tmp_path, "--output-format", "concise").stdout.startswith("m.py:5:8: NNX001")


# The command line over the file ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "args", "status"),
    [
        ('select = ["NNX002"]\n', ["--select", "NNX001"], 1),
        ('ignore = ["NNX001"]\n', ["--select", "NNX"], 1),  # a select resets the file's ignore
        ('ignore = ["NNX001"]\n', ["--extend-select", "NNX001"], 1),
        ('extend-select = ["NNX001"]\n', ["--ignore", "NNX001"], 0),
        ('select = ["NNX001"]\n', ["--ignore", "NNX00"], 0),
    ],
)
def test_command_line_overrides_the_file(tmp_path, table, args, status):
    pyproject(tmp_path, table)
    write(tmp_path / "m.py", JIT_MODEL)
    assert run(tmp_path, *args).returncode == status


def test_fix_honours_the_file(tmp_path):
    pyproject(tmp_path, 'ignore = ["NNX001"]\n')
    path = write(tmp_path / "m.py", JIT_MODEL)
    assert run(tmp_path, "--fix").returncode == 0
    assert path.read_text() == JIT_MODEL
    assert run(tmp_path, "--fix", "--select", "NNX001").returncode == 0
    assert path.read_text().splitlines()[-1] == FIXED_LINE


# Errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('selct = ["NNX"]\n', "unknown key 'selct' in [tool.nnx-lint] (did you mean 'select'?)"),
        ('select = ["NNX9"]\n', "select: unknown rule code or prefix: NNX9"),
        ('ignore = ["XYZ"]\n', "ignore: unknown rule code or prefix: XYZ"),
        ('extend-select = [""]\n', "extend-select: unknown rule code or prefix"),
        ('select = "NNX001"\n', "select: expected a list of strings, got 'NNX001'"),
        ("exclude = [1]\n", "exclude: expected a list of strings"),
        ("extend-exclude = {}\n", "extend-exclude: expected a list of strings"),
        ('per-file-ignores = ["a"]\n', "per-file-ignores: expected a table"),
        ('per-file-ignores = { "a.py" = ["NNX7"] }\n', "'a.py': unknown rule code or prefix: NNX7"),
        ("per-file-ignores = { \"a.py\" = 'NNX001' }\n", "expected a list of strings"),
        ("target-flax-version = 0.11\n", "target-flax-version: expected a string"),
        ('target-flax-version = "eleven"\n', "not a version like 0.11.0: eleven"),
        ('unsafe-fixes = "yes"\n', "unsafe-fixes: expected true or false, got 'yes'"),
        ('output-format = "xml"\n', "output-format: expected one of full, concise, json"),
        ("select = [\n", "invalid TOML"),
    ],
)
def test_bad_configuration_is_exit_2_with_a_message(tmp_path, table, expected):
    pyproject(tmp_path, table)
    write(tmp_path / "m.py", JIT_MODEL)
    result = run(tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {tmp_path / 'pyproject.toml'}: ")
    assert expected in result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[tool]\nnnx-lint = 3\n", "tool.nnx-lint must be a table"),
        (None, "cannot read"),
    ],
)
def test_unusable_config_file(tmp_path, text, expected):
    path = tmp_path / "conf.toml"
    if text is not None:
        write(path, text)
    result = run(tmp_path, "--config", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert expected in result.stderr


# Merging, as a unit ----------------------------------------------------------------------------


NNX0 = ("NNX001", "NNX002", "NNX003", "NNX004", "NNX005")
NNX1 = ("NNX101", "NNX102", "NNX103", "NNX104", "NNX105", "NNX106")


@pytest.mark.parametrize(
    ("file", "cli", "enabled"),
    [
        (Options(), Options(), NNX0),  # the upgrade rules (NNX1) are opt-in
        (Options(select=("NNX002",)), Options(), ("NNX002",)),
        (Options(select=("NNX002",)), Options(extend_select=("NNX001",)), ("NNX001", "NNX002")),
        (Options(ignore=("NNX001",)), Options(select=("NNX00",)), NNX0),
        (Options(select=("",), ignore=("NNX",)), Options(), ()),
        (Options(ignore=("NNX",), extend_select=("NNX003",)), Options(), ("NNX003",)),
        (Options(), Options(select=("NNX",), ignore=("NNX00",)), NNX1),
        (Options(extend_select=("NNX1",)), Options(), NNX0 + NNX1),
        (Options(), Options(extend_select=("NNX102",)), (*NNX0, "NNX102")),
    ],
)
def test_rule_selection_layers(file, cli, enabled):
    assert config.resolve(file, cli).enabled == enabled


def test_settings_per_file(tmp_path):
    file = Options(per_file_ignores=(("tests/", ("NNX00",)), ("*_test.py", ("NNX002",))))
    conf = config.resolve(file, Options(), tmp_path / "pyproject.toml")
    everywhere = conf.settings(str(tmp_path / "pkg/m.py"))
    assert [everywhere.enabled(c) for c in ("NNX001", "NNX002", "NNX003")] == [True] * 3
    assert not any(conf.settings(str(tmp_path / "tests/a/m.py")).enabled(c) for c in conf.enabled)
    named = conf.settings(str(tmp_path / "pkg/m_test.py"))
    assert [named.enabled(c) for c in ("NNX001", "NNX002")] == [True, False]


def test_scalars_from_the_command_line_win():
    file = Options(target_flax_version=(0, 10, 5), unsafe_fixes=True, output_format="json")
    conf = config.resolve(file, Options(unsafe_fixes=False, output_format="sarif"))
    assert (conf.target_flax_version, conf.unsafe_fixes, conf.output_format) == (
        (0, 10, 5),
        False,
        "sarif",
    )
    defaults = config.resolve(Options(), Options())
    assert (defaults.target_flax_version, defaults.unsafe_fixes, defaults.output_format) == (
        None,
        False,
        "full",
    )


def test_the_installed_flax_is_read_as_package_metadata_reads_it() -> None:
    """The fast path (a dist-info directory on sys.path) agrees with importlib.metadata."""
    from importlib import metadata

    from nnx_lint.settings import installed_flax, parse_version

    installed_flax.cache_clear()
    assert installed_flax() == parse_version(metadata.version("flax"))
