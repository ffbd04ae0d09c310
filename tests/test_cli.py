"""The command line end to end (``python -m nnx_lint`` in a subprocess), plus unit tests of file
discovery, source I/O and the output formats on hand-made diagnostics."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest
from helpers import nnx_lint, write

from nnx_lint import cli, engine, output
from nnx_lint.diagnostics import Applicability, Diagnostic, Edit, Fix, LineIndex
from nnx_lint.engine import InternalError
from nnx_lint.files import PathPatterns, SourceError, discover, read_source, write_source

ROOT = Path(__file__).resolve().parents[1]

# NNX001 at 5:8, with a safe fix.
JIT_MODEL = """\
import jax
from flax import nnx

model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
fast = jax.jit(model)
"""
FIXED_LINE = "fast = functools.partial(jax.jit(type(model).__call__), model)"
CLEAN = "from flax import nnx\n\nmodel = nnx.Linear(2, 3, rngs=nnx.Rngs(0))\n"
RUFF_KEYS = {  # ruff's keys, and ours: fix_unavailable (what to do when there is no fix)
    "cell",  # and related (where the evidence points)
    "fix_unavailable",
    "related",
    "code",
    "end_location",
    "filename",
    "fix",
    "location",
    "message",
    "name",
    "noqa_row",
    "severity",
    "url",
}


run = nnx_lint  # the command, in process (tests/helpers.py)


def make_old(path: Path) -> int:
    """Give the file an old mtime, so that any rewrite shows; return it."""
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    return path.stat().st_mtime_ns


# Exit status and output formats ----------------------------------------------------------------


def test_clean_file_passes(tmp_path):
    write(tmp_path / "clean.py", CLEAN)
    result = run(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "All checks passed!\n"


def test_full_format(tmp_path):
    write(tmp_path / "m.py", JIT_MODEL)
    result = run(tmp_path, "m.py")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("NNX001 [*] `jax.jit` applied to an NNX object")
    assert lines[1:7] == [
        " --> m.py:5:8",  # indented as wide as the last line number shown
        "  |",
        "4 | model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))",  # context, blank lines trimmed
        "5 | fast = jax.jit(model)",
        "  |        ^^^^^^^^^^^^^^",
        "  |",
    ]
    assert lines[7].startswith("help: ")
    assert lines[9] == "ℹ Safe fix"  # the fix, as a diff
    assert lines[-2:] == ["Found 1 error.", "[*] 1 fixable with `--fix`."]
    assert "\x1b[" not in result.stdout  # no colours outside a terminal


def test_full_format_colours(tmp_path, monkeypatch):
    write(tmp_path / "m.py", JIT_MODEL)
    monkeypatch.setenv("FORCE_COLOR", "1")
    coloured = run(tmp_path, "m.py").stdout
    assert coloured.startswith("\x1b[1;31mNNX001\x1b[0m [*] ")
    assert "\x1b[1;31m^^^^^^^^^^^^^^\x1b[0m" in coloured
    monkeypatch.setenv("NO_COLOR", "1")  # wins over FORCE_COLOR
    assert "\x1b[" not in run(tmp_path, "m.py").stdout


def test_concise_format(tmp_path):
    write(tmp_path / "m.py", JIT_MODEL)
    result = run(tmp_path, "--output-format", "concise")
    assert result.returncode == 1, result.stderr
    first, *summary = result.stdout.splitlines()
    assert first.startswith("m.py:5:8: NNX001 [*] ")
    assert summary == ["Found 1 error.", "[*] 1 fixable with `--fix`."]


def test_json_format(tmp_path):
    path = write(tmp_path / "m.py", JIT_MODEL)
    result = run(tmp_path, "--output-format", "json", "m.py")
    assert result.returncode == 1, result.stderr
    [record] = json.loads(result.stdout)
    assert set(record) == RUFF_KEYS
    assert record["cell"] is None
    assert record["code"] == "NNX001"
    assert record["filename"] == str(path)
    assert record["location"] == {"column": 8, "row": 5}
    assert record["end_location"] == {"column": 22, "row": 5}
    assert record["noqa_row"] == 5
    assert record["url"].endswith("#jax-jit-on-nnx-object-nnx001")  # its README section
    fix = record["fix"]
    assert set(fix) == {"applicability", "edits", "message"}
    assert fix["applicability"] == "safe"
    call = [e for e in fix["edits"] if e["content"] == FIXED_LINE.removeprefix("fast = ")]
    assert call == [
        {
            "content": FIXED_LINE.removeprefix("fast = "),
            "end_location": {"column": 22, "row": 5},
            "location": {"column": 8, "row": 5},
        }
    ]


def test_json_is_empty_list_when_clean(tmp_path):
    write(tmp_path / "clean.py", CLEAN)
    result = run(tmp_path, "--output-format", "json")
    assert (result.returncode, json.loads(result.stdout)) == (0, [])


def test_nonexistent_path(tmp_path):
    write(tmp_path / "m.py", JIT_MODEL)
    result = run(tmp_path, "missing.py", "m.py")
    assert result.returncode == 2
    assert "missing.py" in result.stderr
    assert " --> m.py:5:8" in result.stdout  # the other paths are still checked


@pytest.mark.parametrize(
    "args",
    [
        ["--output-format", "xml"],
        ["--select", "XYZ1"],
        ["--target-flax-version", "0.eleven"],
        ["--no-such-option"],
        ["--exit-zero", "--exit-non-zero-on-fix"],
        ["rule"],
    ],
)
def test_usage_errors(tmp_path, args):
    result = run(tmp_path, *args)
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_version(tmp_path):
    result = run(tmp_path, "--version")
    assert (result.returncode, result.stdout.split()[0]) == (0, "nnx-lint")


def test_target_flax_version_is_accepted(tmp_path):
    write(tmp_path / "m.py", JIT_MODEL)
    assert run(tmp_path, "--target-flax-version", "0.11.0").returncode == 1


def test_rule_command(tmp_path):
    result = run(tmp_path, "rule", "nnx001")
    assert result.returncode == 0
    assert "NNX001" in result.stdout
    unknown = run(tmp_path, "rule", "NNX999")
    assert unknown.returncode == 2
    assert "NNX999" in unknown.stderr


def test_rule_all_as_text_and_json(tmp_path):
    import json

    from nnx_lint.rules import RULES

    text = run(tmp_path, "rule", "--all")
    assert text.returncode == 0
    for rule in RULES:
        assert f"# {rule.name} ({rule.code})" in text.stdout
        assert rule.doc.strip() in text.stdout
    records = json.loads(run(tmp_path, "rule", "--all", "--output-format", "json").stdout)
    assert [r["code"] for r in records] == [rule.code for rule in RULES]
    assert set(records[0]) == {"code", "name", "summary", "explanation", "url"}
    one = json.loads(run(tmp_path, "rule", "NNX003", "--output-format", "json").stdout)
    assert one["code"] == "NNX003" and "What it does" in one["explanation"]
    assert run(tmp_path, "rule").returncode == 2  # a code or --all


def test_exit_zero(tmp_path):
    write(tmp_path / "m.py", JIT_MODEL)
    result = run(tmp_path, "--exit-zero", "--output-format", "concise")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("m.py:5:8: NNX001")  # still reported
    missing = run(tmp_path, "--exit-zero", "missing.py")
    assert missing.returncode == 2  # errors are not findings


def test_exit_non_zero_on_fix(tmp_path):
    path = write(tmp_path / "m.py", JIT_MODEL)
    changed = run(tmp_path, "--fix", "--exit-non-zero-on-fix")
    assert changed.returncode == 1, changed.stderr  # nothing remains, but a file changed
    assert "1 fixed, 0 remaining" in changed.stdout
    assert path.read_text().splitlines()[-1] == FIXED_LINE
    again = run(tmp_path, "--fix", "--exit-non-zero-on-fix")
    assert (again.returncode, again.stdout) == (0, "All checks passed!\n")
    assert run(tmp_path, "--fix").returncode == 0  # without the flag a fixed file is success


# Rule selection and suppression ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("comment", "status"), [("  # noqa", 0), ("  # noqa: NNX001", 0), ("  # noqa: E501", 1)]
)
def test_noqa(tmp_path, comment, status):
    write(tmp_path / "m.py", JIT_MODEL.replace("jax.jit(model)", "jax.jit(model)" + comment))
    assert run(tmp_path).returncode == status


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["--ignore", "NNX001"], 0),
        (["--ignore", "NNX"], 0),
        (["--select", "NNX002"], 0),
        (["--select", "NNX001"], 1),
        (["--select", "NNX", "--ignore", "NNX002"], 1),
        (["--select", "ALL"], 1),
    ],
)
def test_select_and_ignore(tmp_path, args, status):
    write(tmp_path / "m.py", JIT_MODEL)
    assert run(tmp_path, *args).returncode == status


# Fixing ----------------------------------------------------------------------------------------


def test_diff_writes_nothing(tmp_path):
    path = write(tmp_path / "m.py", JIT_MODEL)
    mtime = make_old(path)
    result = run(tmp_path, "--diff")
    assert result.returncode == 1, result.stderr
    assert "--- m.py\n+++ m.py\n" in result.stdout
    assert "-fast = jax.jit(model)\n" in result.stdout
    assert f"+{FIXED_LINE}\n" in result.stdout
    assert result.stdout.endswith("Would fix 1 error.\n")
    assert (path.read_text(), path.stat().st_mtime_ns) == (JIT_MODEL, mtime)


def test_diff_without_changes(tmp_path):
    write(tmp_path / "clean.py", CLEAN)
    result = run(tmp_path, "--diff")
    assert (result.returncode, result.stdout) == (0, "")


def test_fix_then_fix_again_is_a_noop(tmp_path):
    path = write(tmp_path / "m.py", JIT_MODEL)
    result = run(tmp_path, "--fix")
    assert result.returncode == 0, result.stderr
    assert "1 fixed, 0 remaining" in result.stdout
    fixed = path.read_text()
    assert fixed.splitlines()[-1] == FIXED_LINE
    assert "import functools\n" in fixed
    assert "import jax\n" in fixed  # still used: jax.jit traces the pure model
    mtime = make_old(path)
    again = run(tmp_path, "--fix")
    assert (again.returncode, again.stdout) == (0, "All checks passed!\n")
    assert (path.read_text(), path.stat().st_mtime_ns) == (fixed, mtime)


def test_fix_leaves_other_files_alone(tmp_path):
    write(tmp_path / "m.py", JIT_MODEL)
    clean = write(tmp_path / "clean.py", CLEAN)
    mtime = make_old(clean)
    assert run(tmp_path, "--fix").returncode == 0
    assert (clean.read_text(), clean.stat().st_mtime_ns) == (CLEAN, mtime)


@pytest.mark.parametrize(
    ("prefix", "newline"), [(b"", b"\r\n"), (b"\xef\xbb\xbf", b"\n"), (b"\xef\xbb\xbf", b"\r\n")]
)
def test_fix_keeps_bom_and_line_endings(tmp_path, prefix, newline):
    path = tmp_path / "m.py"
    path.write_bytes(prefix + JIT_MODEL.encode().replace(b"\n", newline))
    assert run(tmp_path, "--fix").returncode == 0
    data = path.read_bytes()
    # The BOM stays first, and the added import goes where isort puts it, in the file's newline.
    expected_head = b"import functools" + newline + newline + b"import jax" + newline
    assert data.startswith(prefix + expected_head)
    assert FIXED_LINE.encode() + newline in data
    assert data.count(newline) == data.count(b"\n")  # no newline of another kind crept in


def test_internal_error_leaves_file_untouched(tmp_path, monkeypatch, capsys):
    def broken(*args):
        raise InternalError("m.py: a fix produced code that does not parse")

    path = write(tmp_path / "m.py", JIT_MODEL)
    other = write(tmp_path / "n.py", JIT_MODEL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(engine, "fix_source", broken)
    assert cli.main(["--fix", "m.py", "n.py"]) == 2
    captured = capsys.readouterr()
    assert "please report this bug" in captured.err
    assert "NNX001 " in captured.out and " --> m.py:5:8" in captured.out  # still reported,
    assert " --> n.py:5:8" in captured.out  # and so is the other file
    assert path.read_text() == other.read_text() == JIT_MODEL


# Standard input --------------------------------------------------------------------------------


def test_stdin_reports_under_the_given_name(tmp_path):
    result = run(
        tmp_path, "-", "--stdin-filename", "pkg/m.py", "--output-format", "concise", stdin=JIT_MODEL
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("pkg/m.py:5:8: NNX001 [*] ")
    assert not (tmp_path / "pkg").exists()
    unnamed = run(tmp_path, "-", "--output-format", "concise", stdin=JIT_MODEL)
    assert unnamed.stdout.startswith("-:5:8: NNX001 ")
    named_only = run(tmp_path, "--stdin-filename", "x.py", stdin=CLEAN)  # no `-` needed
    assert (named_only.returncode, named_only.stdout) == (0, "All checks passed!\n")


def test_stdin_fix_prints_the_fixed_source(tmp_path):
    result = run(tmp_path, "--fix", "-", "--stdin-filename", "m.py", stdin=JIT_MODEL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == FIXED_LINE
    assert "import functools\n" in result.stdout
    assert "1 fixed, 0 remaining" in result.stderr  # the report goes to standard error
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_stdin_fix_echoes_what_it_cannot_fix(tmp_path):
    clean = run(tmp_path, "--fix", "-", stdin=CLEAN)
    assert (clean.returncode, clean.stdout) == (0, CLEAN)
    assert clean.stderr == "All checks passed!\n"
    data = b"\xef\xbb\xbf" + CLEAN.encode().replace(b"\n", b"\r\n")
    assert run(tmp_path, "--fix", "-", stdin=data).stdout == data  # BOM and CRLF kept
    broken = b"x = '\xff'\n"
    unreadable = run(tmp_path, "--fix", "-", stdin=broken)
    assert unreadable.returncode == 1
    assert unreadable.stdout == broken
    assert b"E902 invalid or missing encoding declaration\n --> -:1:1\n" in unreadable.stderr


def test_stdin_fix_keeps_line_endings(tmp_path):
    result = run(tmp_path, "--fix", "-", stdin=JIT_MODEL.replace("\n", "\r\n").encode())
    assert result.returncode == 0, result.stderr
    assert FIXED_LINE.encode() + b"\r\n" in result.stdout
    assert result.stdout.count(b"\r\n") == result.stdout.count(b"\n")


def test_stdin_diff_and_exit_non_zero_on_fix(tmp_path):
    diff = run(tmp_path, "--diff", "-", "--stdin-filename", "m.py", stdin=JIT_MODEL)
    assert diff.returncode == 1
    assert f"+{FIXED_LINE}\n" in diff.stdout
    fixed = run(tmp_path, "--fix", "--exit-non-zero-on-fix", "-", stdin=JIT_MODEL)
    assert fixed.returncode == 1


# Files that cannot be linted -------------------------------------------------------------------


def test_syntax_error_is_brief_and_others_are_checked(tmp_path):
    write(tmp_path / "bad.py", "def f(:\n    pass\n")
    write(tmp_path / "m.py", JIT_MODEL)
    result = run(tmp_path, "--output-format", "full")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("E999 SyntaxError: ") and lines[1].startswith(" --> bad.py:1:")
    assert lines[2] == "" and lines[3].startswith("NNX001 ") and lines[4] == " --> m.py:5:8"
    assert "Found 2 errors." in lines


def test_undecodable_file_is_e902(tmp_path):
    (tmp_path / "bad.py").write_bytes(b"x = 1\ny = '\xff'\n")
    write(tmp_path / "clean.py", CLEAN)
    result = run(tmp_path, "--output-format", "concise")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines()[0].startswith("bad.py:1:1: E902 ")


# Discovery -------------------------------------------------------------------------------------


def test_cli_discovery_skips_but_named_files_are_checked(tmp_path):
    for skipped in [".venv/x.py", "__pycache__/x.py", "generated/x.py", "ignored.py"]:
        write(tmp_path / skipped, JIT_MODEL)
    write(tmp_path / ".gitignore", "generated/\nignored.py\n")
    write(tmp_path / "clean.py", CLEAN)
    assert run(tmp_path).returncode == 0
    named = run(tmp_path, "--output-format", "concise", ".venv/x.py", "ignored.py")
    assert named.returncode == 1
    assert [line.split(":")[0] for line in named.stdout.splitlines()[:2]] == [
        ".venv/x.py",
        "ignored.py",
    ]


def test_discover_walks_sorted_and_skips(tmp_path, monkeypatch):
    names = [
        "b.py",
        "a.pyi",
        "notes.txt",
        "pkg/z.py",
        "pkg/__init__.py",
        "build/x.py",
        "dist/x.py",
        ".git/x.py",
        ".tox/x.py",
        "node_modules/x.py",
        "x.egg-info/x.py",
        "env/x.py",
        "env/pyvenv.cfg",
    ]
    for name in names:
        write(tmp_path / name, "")
    monkeypatch.chdir(tmp_path)
    files, errors = discover([])
    assert [p.as_posix() for p in files] == ["a.pyi", "b.py", "pkg/__init__.py", "pkg/z.py"]
    assert errors == []


def test_discover_gitignore_parents_and_negation(tmp_path):
    (tmp_path / ".git").mkdir()
    write(tmp_path / ".gitignore", "src/gen/\n*_pb2.py\n")
    write(tmp_path / "src/.gitignore", "!keep_pb2.py\n")
    for name in ["src/a.py", "src/gen/x.py", "src/msg_pb2.py", "src/keep_pb2.py"]:
        write(tmp_path / name, "")
    files, _ = discover([str(tmp_path / "src")])
    assert [p.name for p in files] == ["a.py", "keep_pb2.py"]


def test_discover_explicit_files_missing_paths_and_duplicates(tmp_path):
    write(tmp_path / "script", "")
    write(tmp_path / "a.py", "")
    files, errors = discover([str(tmp_path / "script"), str(tmp_path / "nope"), str(tmp_path)])
    assert [p.name for p in files] == ["a.py", "script"]
    assert errors == [f"{tmp_path / 'nope'}: No such file or directory"]


def test_discover_survives_symlink_loops(tmp_path):
    write(tmp_path / "pkg/a.py", "")
    (tmp_path / "pkg/loop").symlink_to(tmp_path)
    files, _ = discover([str(tmp_path)])
    assert [p.relative_to(tmp_path).as_posix() for p in files] == ["pkg/a.py"]


def test_discover_exclude_patterns_replace_the_defaults(tmp_path):
    for name in ["a.py", "build/x.py", "gen/x.py", "pkg/msg_pb2.py", "pkg/b.py", "venv/x.py"]:
        write(tmp_path / name, "")
    write(tmp_path / "venv/pyvenv.cfg", "")  # a virtual environment is skipped whatever else
    exclude = PathPatterns(["gen/", "*_pb2.py"], tmp_path)
    files, _ = discover([str(tmp_path)], exclude)
    assert [p.relative_to(tmp_path).as_posix() for p in files] == ["a.py", "build/x.py", "pkg/b.py"]
    named, _ = discover([str(tmp_path / "gen/x.py")], exclude)  # named paths are always linted
    assert [p.name for p in named] == ["x.py"]


def test_path_patterns_are_relative_to_their_root(tmp_path):
    patterns = PathPatterns(["src/gen/", "__init__.py", "/top.py"], tmp_path / "proj")
    assert patterns.match(tmp_path / "proj/src/gen", is_dir=True)
    assert patterns.match(tmp_path / "proj/src/gen/x.py")
    assert not patterns.match(tmp_path / "proj/other/src/gen", is_dir=True)  # anchored
    assert patterns.match(tmp_path / "proj/a/b/__init__.py")
    assert patterns.match(tmp_path / "elsewhere/__init__.py")  # unanchored: outside root too
    assert patterns.match(tmp_path / "proj/top.py")
    assert not patterns.match(tmp_path / "proj/sub/top.py")


# Reading and writing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        (b"x = 1\r\ny = 2\rz = 3\n", "x = 1\r\ny = 2\rz = 3\n", "utf-8"),
        (b"\xef\xbb\xbfx = '\xc3\xa9'\n", "x = 'é'\n", "utf-8-sig"),
        (b"# coding: latin-1\nx = '\xe9'\n", "# coding: latin-1\nx = 'é'\n", "iso-8859-1"),
    ],
)
def test_read_write_roundtrip(tmp_path, data, text, encoding):
    path = tmp_path / "m.py"
    path.write_bytes(data)
    assert read_source(path) == (text, encoding)
    write_source(path, text.replace("x", "w"), encoding)
    assert path.read_bytes() == data.replace(b"x", b"w")


@pytest.mark.parametrize("data", [b"x = '\xff'\n", b"# coding: nonsense\n", b"\xef\xbb\xbf\xff\n"])
def test_read_undecodable(tmp_path, data):
    path = tmp_path / "m.py"
    path.write_bytes(data)
    with pytest.raises(SourceError):
        read_source(path)


def test_write_keeps_mode_and_symlink(tmp_path):
    target = write(tmp_path / "real.py", "x = 1\n")
    target.chmod(0o750)
    link = tmp_path / "link.py"
    link.symlink_to(target)
    write_source(link, "x = 2\n", "utf-8")
    assert link.is_symlink()
    assert target.read_text() == "x = 2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.py", "real.py"]  # no temp left


# Output formats on hand-made diagnostics -------------------------------------------------------

SOURCE = "import jax\r\nf = jax.jit(m)\r\n"


def diag(
    code="NNX001", applicability="safe", source_line="f = jax.jit(m)", fixed=True
) -> Diagnostic:
    edits = (Edit(0, 12, ""), Edit(16, 23, "nnx.jit"))
    fix = Fix(Applicability(applicability), "Use nnx.jit", edits) if fixed else None
    return Diagnostic(code, "bad jit", "m.py", 2, 5, 2, 15, fix, source_line=source_line)


def test_concise_marks_applicable_fixes_only():
    assert output.render("concise", [diag()]) == "m.py:2:5: NNX001 [*] bad jit\n"
    unsafe = diag(applicability="unsafe")
    assert output.render("concise", [unsafe]) == "m.py:2:5: NNX001 bad jit\n"
    assert output.render("concise", [unsafe], unsafe_fixes=True).endswith("[*] bad jit\n")


def test_full_format_shape():
    assert output.render("full", [diag()]) == (
        "NNX001 [*] bad jit\n"
        " --> m.py:2:5\n"
        "  |\n"
        "2 | f = jax.jit(m)\n"
        "  |     ^^^^^^^^^^\n"
        "  |\n"
        "help: Use nnx.jit\n"
        "\n"
    )
    error = Diagnostic("E999", "SyntaxError: invalid syntax", "bad.py", 3, 1, 3, 1)
    assert output.render("full", [error]) == (
        "E999 SyntaxError: invalid syntax\n --> bad.py:3:1\n\n"
    )


def test_json_positions_come_from_the_line_index():
    lines = {"m.py": LineIndex(SOURCE)}
    text = output.render("json", [diag()], lines=lines, rules=cli.RULES_BY_CODE)
    [record] = json.loads(text)
    assert set(record) == RUFF_KEYS
    assert record["filename"] == os.path.abspath("m.py")
    assert [(e["location"], e["end_location"]) for e in record["fix"]["edits"]] == [
        ({"row": 1, "column": 1}, {"row": 2, "column": 1}),
        ({"row": 2, "column": 5}, {"row": 2, "column": 12}),
    ]
    io_error = Diagnostic("E902", "unreadable", "x.py", 1, 1, 1, 1)
    [record] = json.loads(output.render("json", [io_error]))
    assert (record["fix"], record["noqa_row"], record["name"]) == (None, None, "io-error")


def test_summaries():
    safe, unsafe, plain = diag(), diag(applicability="unsafe"), diag(code="NNX002", fixed=False)
    assert output.summary([]) == "All checks passed!\n"
    assert output.summary([plain]) == "Found 1 error.\n"
    assert output.summary([safe, unsafe]) == (
        "Found 2 errors.\n"
        "[*] 1 fixable with `--fix` (1 unsafe fix available with `--fix --unsafe-fixes`).\n"
    )
    assert output.summary([unsafe, unsafe], fixed=3) == (
        "Found 5 errors (3 fixed, 2 remaining).\n"
        "2 unsafe fixes available with `--fix --unsafe-fixes`.\n"
    )
    assert output.summary([], fixed=1) == "Found 1 error (1 fixed, 0 remaining).\n"
    assert output.diff_summary([], fixed=2, unsafe_fixes=False) == "Would fix 2 errors.\n"
    assert output.diff_summary([unsafe], fixed=0, unsafe_fixes=False) == (
        "No errors would be fixed (1 fix available with `--unsafe-fixes`).\n"
    )


def test_crash_in_one_file_is_reported_and_others_are_checked(tmp_path, monkeypatch, capsys):
    real_check = engine.check_source

    def flaky(source, path, *args, **kwargs):
        if path == "m.py":
            raise RuntimeError("boom")
        return real_check(source, path, *args, **kwargs)

    write(tmp_path / "m.py", JIT_MODEL)
    write(tmp_path / "n.py", JIT_MODEL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(engine, "check_source", flaky)
    assert cli.main(["--output-format", "concise"]) == 2
    captured = capsys.readouterr()
    assert "m.py: RuntimeError: boom; please report this bug" in captured.err
    assert captured.out.startswith("n.py:5:8: NNX001")


CROSS_MODELS = """\
from flax import nnx


class Ranker(nnx.Module):
    def __init__(self, rngs):
        self.drop = nnx.Dropout(0.5, rngs=rngs)

    def __call__(self, x):
        return self.drop(x)
"""
CROSS_TRAIN = "import jax\n\nfrom models import Ranker\n\nf = jax.jit(Ranker(None))\n"


def test_recursion_error_in_the_analysis_is_an_internal_error_not_e999(tmp_path, monkeypatch):
    """A file that parses but sends the analysis into endless recursion is nnx-lint's bug: an
    internal error naming the file (exit 2), never a syntax error of the user's."""
    from nnx_lint.analysis import project_index

    def endless(self, qualname):
        raise RecursionError("maximum recursion depth exceeded")

    write(tmp_path / "m.py", JIT_MODEL)
    monkeypatch.setattr(project_index.ProjectIndex, "changes_state", endless)
    result = run(tmp_path, "--output-format", "concise", "m.py")
    assert result.returncode == 2
    assert "E999" not in result.stdout + result.stderr
    assert "m.py: RecursionError while analysing the file; please report this bug" in (
        result.stderr
    )
    assert "All checks passed" not in result.stdout  # the file was not checked
    fixing = run(tmp_path, "--output-format", "concise", "--fix", "m.py")
    assert fixing.returncode == 2
    assert fixing.stderr.count("RecursionError") == 1  # said once, not again for the report


def test_a_broken_configuration_in_one_project_is_a_clear_error(tmp_path):
    write(tmp_path / "pyproject.toml", "")
    write(tmp_path / "sub" / "pyproject.toml", "[tool.nnx-lint\n")
    write(tmp_path / "sub" / "a.py", JIT_MODEL)
    write(tmp_path / "other" / "b.py", JIT_MODEL)
    result = run(tmp_path, "sub/a.py", "other/b.py")
    assert result.returncode == 2
    assert "invalid TOML" in result.stderr and "Traceback" not in result.stderr
    assert "crashed" not in result.stderr


def test_standard_input_without_a_filename_knows_no_project(tmp_path):
    """`nnx-lint -` has no file to belong to: the working directory's classes are not used
    (with --stdin-filename they are)."""
    write(tmp_path / "pyproject.toml", "")
    write(tmp_path / "models.py", CROSS_MODELS)
    assert run(tmp_path, "-", stdin=CROSS_TRAIN).returncode == 0
    named = run(tmp_path, "--stdin-filename", "train.py", stdin=CROSS_TRAIN)
    assert named.returncode == 1


def test_no_cache_is_left_beside_a_script_outside_any_project(tmp_path):
    """A directory without a project marker gets one cache where the linted paths meet, and
    never one per directory."""
    if any((d / ".git").exists() or (d / "pyproject.toml").exists() for d in tmp_path.parents):
        pytest.skip("an ancestor of the temporary directory is itself marked as a project")
    for name in ("a", "b"):
        write(tmp_path / "scripts" / name / "m.py", JIT_MODEL)
    assert run(tmp_path / "scripts", ".").returncode == 1
    caches = sorted(
        p.parent.relative_to(tmp_path).as_posix() for p in tmp_path.rglob(".nnx_lint_cache")
    )
    assert caches == ["scripts"]


def test_only_missing_paths_say_no_all_checks_passed(tmp_path):
    result = run(tmp_path, "missing.py")
    assert result.returncode == 2 and "missing.py" in result.stderr
    assert "All checks passed!" not in result.stdout


def test_no_python_files_is_a_warning_and_exit_0(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("nothing to lint\n")
    result = run(tmp_path, "docs")
    assert result.returncode == 0 and result.stdout == ""
    assert "warning: No Python files found" in result.stderr


def test_file_level_noqa(tmp_path):
    two = JIT_MODEL + "\n\n@jax.jit\ndef step(m: nnx.Optimizer, g):\n    m.update(g)\n"
    write(tmp_path / "all.py", "# nnx-lint: noqa\n" + two)
    write(tmp_path / "one.py", "# nnx-lint: noqa: NNX001\n" + two)
    write(tmp_path / "inline.py", "x = 1  # nnx-lint: noqa\n" + two)  # not a line of its own
    result = run(tmp_path, "--output-format", "concise", ".")
    lines = [line for line in result.stdout.splitlines() if ": NNX" in line]
    assert not any(line.startswith("all.py") for line in lines), lines
    assert [line.split()[1] for line in lines if line.startswith("one.py")] == ["NNX003"]
    assert {line.split()[1] for line in lines if line.startswith("inline.py")} == {
        "NNX001",
        "NNX003",
    }


def test_a_near_miss_table_name_is_a_warning(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.nnx_lint]\nignore = ["NNX001"]\n')
    write(tmp_path / "m.py", JIT_MODEL)
    result = run(tmp_path, "--output-format", "concise", ".")
    assert "[tool.nnx_lint] is not read; did you mean [tool.nnx-lint]?" in result.stderr
    assert "m.py:5:8: NNX001" in result.stdout  # the table really is not read


def test_a_broken_pipe_is_quiet(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    pipeline = f"{sys.executable} -m nnx_lint rule NNX001 | head -c 10 > /dev/null"
    for _ in range(3):  # the reader leaves at once: the writer meets a closed pipe
        result = subprocess.run(
            ["bash", "-c", pipeline], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert result.stderr == "", result.stderr


def test_exclude_and_per_file_ignores_on_the_command_line(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    for name in ("a.py", "gen/b.py", "tests/c.py"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        write(tmp_path / name, JIT_MODEL)
    every = run(tmp_path, "--output-format", "concise", ".").stdout
    for name in ("a.py", "gen/b.py", "tests/c.py"):
        assert f"{name}:5:8: NNX001" in every, every
    result = run(
        tmp_path,
        "--output-format",
        "concise",
        "--extend-exclude",
        "gen/",
        "--per-file-ignores",
        "tests/*:NNX001",
        ".",
    )
    assert "a.py:5:8: NNX001" in result.stdout
    assert "gen/b.py" not in result.stdout and "tests/c.py" not in result.stdout
    replaced = run(tmp_path, "--output-format", "concise", "--exclude", "a.py,tests/", ".")
    assert "gen/b.py:5:8: NNX001" in replaced.stdout
    assert not any(line.startswith(("a.py", "tests/")) for line in replaced.stdout.splitlines())
    bad = run(tmp_path, "--per-file-ignores", "NNX001", ".")
    assert bad.returncode == 2 and "PATTERN:CODES" in bad.stderr


def test_show_files_and_show_settings(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.nnx-lint]\nignore = ["NNX002"]\n')
    write(tmp_path / "a.py", JIT_MODEL)
    write(tmp_path / "build" / "b.py", JIT_MODEL)  # excluded by default
    files = run(tmp_path, "--show-files", ".")
    assert (files.returncode, files.stdout) == (0, "a.py\n")
    settings = run(tmp_path, "--show-settings", "--extend-exclude", "gen/", ".")
    assert settings.returncode == 0
    shown = dict((line[:20].strip(), line[20:].strip()) for line in settings.stdout.splitlines())
    assert shown["configuration file"].endswith("pyproject.toml")
    assert shown["rules enabled"] == "NNX001, NNX003, NNX004, NNX005"  # NNX1 is opt-in
    assert "gen/" in shown["exclude"] and shown["files"] == "1"


@pytest.mark.parametrize("how", ["flag", "config"])
def test_force_exclude_applies_exclude_to_named_files(tmp_path, how):
    """pre-commit names every staged file: with force-exclude, `exclude` still holds."""
    table = "[tool.nnx-lint]\nextend-exclude = ['generated/']\n"
    table += "force-exclude = true\n" if how == "config" else ""
    write(tmp_path / "pyproject.toml", table)
    write(tmp_path / "generated" / "m.py", JIT_MODEL)
    write(tmp_path / "kept.py", JIT_MODEL)
    named = ("generated/m.py", "kept.py")
    assert "generated/m.py" in run(tmp_path, "--no-force-exclude", *named).stdout
    flag = ("--force-exclude",) if how == "flag" else ()
    forced = run(tmp_path, *flag, "--output-format", "concise", *named)
    assert forced.returncode == 1
    assert "generated" not in forced.stdout and "kept.py:5:8: NNX001" in forced.stdout
    alone = run(tmp_path, *flag, "generated/m.py")
    assert (alone.returncode, alone.stdout) == (0, "")
    assert "No Python files found" in alone.stderr


ADD_NOQA = '''\
import jax
from flax import nnx

model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
fast = jax.jit(model)
other = jax.jit(model)  # noqa: E501
doc = """a string
that spans lines"""; again = jax.jit(model)
'''


def test_add_noqa_suppresses_each_finding_where_it_stands(tmp_path):
    path = write(tmp_path / "m.py", ADD_NOQA)
    before = run(tmp_path, "--output-format", "concise")
    assert before.stdout.count("NNX001") == 3
    added = run(tmp_path, "--add-noqa")
    assert added.returncode == 0, added.stderr
    assert "Added 3 noqa directives." in added.stderr
    lines = path.read_text().splitlines()
    assert lines[4] == "fast = jax.jit(model)  # noqa: NNX001"
    assert lines[5] == "other = jax.jit(model)  # noqa: E501, NNX001"  # merged
    assert lines[7] == 'that spans lines"""; again = jax.jit(model)  # noqa: NNX001'
    assert run(tmp_path).returncode == 0  # nothing left
    again = run(tmp_path, "--add-noqa")
    assert "Added 0 noqa directives." in again.stderr and path.read_text().splitlines() == lines


def test_add_noqa_leaves_a_line_a_comment_cannot_end(tmp_path):
    source = JIT_MODEL.replace("fast = jax.jit(model)", "fast = jax.jit(model) + \\\n    1")
    path = write(tmp_path / "m.py", source)
    assert "Added 0 noqa directives." in run(tmp_path, "--add-noqa").stderr
    assert path.read_text() == source
    assert run(tmp_path, "--add-noqa", "--fix").returncode == 2


def _stderr_on_a_terminal(cwd, *args: str) -> str:
    """What the command writes to standard error when that is a terminal (a pseudo-terminal)."""
    import pty
    import subprocess
    import sys

    from helpers import env

    master, slave = pty.openpty()
    proc = subprocess.run(
        [sys.executable, "-m", "nnx_lint", *args],
        cwd=cwd,
        env={**env(), "NNX_LINT_PROGRESS_AFTER": "0"},
        stdout=subprocess.PIPE,
        stderr=slave,
        timeout=120,
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.returncode == 1
    return seen.decode()


def test_progress_is_shown_on_a_terminal_only(tmp_path):
    for i in range(5):
        write(tmp_path / f"m{i}.py", JIT_MODEL)
    shown = _stderr_on_a_terminal(tmp_path, "--no-cache", "-j", "1", ".")
    assert re.search(r"\r\d/5 files checked", shown) and "\x1b[K" in shown
    machine = _stderr_on_a_terminal(tmp_path, "--no-cache", "--output-format", "json", ".")
    assert "files checked" not in machine
    piped = run(tmp_path, "--no-cache", ".")  # standard error is not a terminal
    assert "files checked" not in piped.stderr


def test_add_noqa_counts_lines_as_python_does(tmp_path):
    """A form feed is not a line end for Python (nor for LSP), though str.splitlines says so."""
    source = JIT_MODEL.replace("from flax import nnx\n", "from flax import nnx\n\x0c\n")
    path = write(tmp_path / "m.py", source)
    assert "Added 1 noqa directive." in run(tmp_path, "--add-noqa").stderr
    assert path.read_text().splitlines()[-1] == "fast = jax.jit(model)  # noqa: NNX001"
    assert run(tmp_path).returncode == 0


# README, "Upgrading Flax": the command that upgrades a codebase ----------------------------

FLAX_0_10 = """\
import jax.numpy as jnp
import optax
from flax import nnx


class Model(nnx.Module):
    def __init__(self, rngs):
        self.linear = nnx.Linear(2, 2, rngs=rngs)
        self.scale = nnx.Param(jnp.ones(2))

    def __call__(self, x):
        return self.linear(x) * self.scale.value


model = Model(nnx.Rngs(0))
optimizer = nnx.Optimizer(model, optax.sgd(0.1))


@nnx.jit
def step(model, optimizer, x):
    grads = nnx.grad(lambda m: m(x).sum())(model)
    optimizer.update(grads)


step(model, optimizer, jnp.ones(2))
"""


def test_the_upgrade_command_rewrites_a_flax_0_10_file(tmp_path):
    """`nnx-lint --fix --select NNX1 --target-flax-version 0.12.8 src/` (README): every
    upgrade it can prove is written, the result is stable, and the upgrade rules are off
    without --select (they are opt-in)."""
    path = write(tmp_path / "src" / "train.py", FLAX_0_10)
    assert nnx_lint(tmp_path, "src/").returncode == 0  # the default rules: nothing to say
    upgrade = ("--fix", "--select", "NNX1", "--target-flax-version", "0.12.8", "src/")
    nnx_lint(tmp_path, *upgrade)
    fixed = path.read_text()
    assert "nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)" in fixed
    assert "optimizer.update(model, grads)" in fixed
    assert "self.scale.get_value()" in fixed
    assert nnx_lint(tmp_path, *upgrade).returncode == 0 and path.read_text() == fixed
