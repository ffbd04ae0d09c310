"""Bad input gets one clear line and the run goes on: each case runs the real `nnx-lint` on a
tree mixing the bad file with a good file that has an NNX001 finding."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import helpers
import pytest

ROOT = Path(__file__).resolve().parents[1]
GOOD = """\
import jax
from flax import nnx

model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
fast = jax.jit(model)
"""
GOOD_LINE = "good.py:5:8: NNX001"
FIXED = "fast = functools.partial(jax.jit(type(model).__call__), model)"


def nnx_lint(cwd: Path, *args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return helpers.nnx_lint(cwd, "--output-format", "concise", *args, prefix=prefix)


def tree(tmp_path: Path, name: str, content: bytes) -> Path:
    (tmp_path / "good.py").write_text(GOOD)
    bad = tmp_path / name
    bad.write_bytes(content)
    return bad


def assert_one_clear_line(result: subprocess.CompletedProcess, name: str, text: str) -> None:
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out
    assert GOOD_LINE in result.stdout, out
    lines = [line for line in out.splitlines() if line.startswith(name)]
    assert len(lines) == 1 and text in lines[0], out
    assert result.returncode == 1, out


BAD_FILES = {
    "syntax_error": (b"def f(:\n    pass\n", "E999 SyntaxError"),
    "python2": (b"print 'hello'\n", "E999 SyntaxError: Missing parentheses"),
    "cut_off": (b"import jax\nx = jax.jit(f(1,\n", "E999 SyntaxError: '(' was never closed"),
    "not_utf8": (b"import jax\n\n\nx = '\xff\xfe'\n", "E902 cannot decode as utf-8"),
    "not_utf8_first_line": (b"x = '\xff\xfe'\n", "E902"),
    "binary": (bytes(range(256)) * 4, "E902"),
    "huge": (b"x = 1\n" * 1_000_000 + b"import jax\n", "E902 file not analysed"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_one_line(tmp_path: Path, case: str) -> None:
    content, text = BAD_FILES[case]
    tree(tmp_path, "bad.py", content)
    assert_one_clear_line(nnx_lint(tmp_path, "."), "bad.py", text)


def test_deeply_nested_expression_is_analysed(tmp_path: Path) -> None:
    deep = "import jax\nfrom flax import nnx\nx = 1" + " + 1" * 3000 + "\n"
    deep += "m = nnx.Dropout(0.5, rngs=nnx.Rngs(0))\ng = jax.jit(m)\n"
    tree(tmp_path, "deep.py", deep.encode())
    result = nnx_lint(tmp_path, ".")
    assert "Traceback" not in result.stderr
    assert "deep.py:5:5: NNX001" in result.stdout and GOOD_LINE in result.stdout


@pytest.mark.parametrize(
    "content",
    [
        GOOD.encode(),
        GOOD.replace("\n", "\r\n").encode(),
        b"\xef\xbb\xbf" + GOOD.encode(),
        GOOD.replace("\n", "\r\n", 2).encode(),  # mixed line endings
        GOOD.replace("\n", "\n\t# tab\n", 1).encode().rstrip(b"\n"),  # tabs, no final newline
    ],
    ids=["lf", "crlf", "bom", "mixed", "tabs_no_final_newline"],
)
def test_layouts_are_fixed_and_kept(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "layout.py"
    path.write_bytes(content)
    result = nnx_lint(tmp_path, "--fix", "layout.py")
    assert result.returncode == 0, result.stdout + result.stderr
    after = path.read_bytes()
    assert FIXED.encode() in after
    assert after.startswith(b"\xef\xbb\xbf") == content.startswith(b"\xef\xbb\xbf")
    assert after.count(b"\r\n") >= content.count(b"\r\n") - 1  # the removed import line
    assert after.endswith(b"\n") == content.endswith(b"\n")


def test_latin1_declaration_is_read_and_written_back(tmp_path: Path) -> None:
    source = "# -*- coding: latin-1 -*-\n" + GOOD.replace("model =", "# café\nmodel =")
    path = tmp_path / "latin.py"
    path.write_bytes(source.encode("latin-1"))
    result = nnx_lint(tmp_path, "--fix", "latin.py")
    assert result.returncode == 0, result.stdout + result.stderr
    after = path.read_bytes()
    assert "# café".encode("latin-1") in after and FIXED.encode() in after


def test_empty_file(tmp_path: Path) -> None:
    tree(tmp_path, "empty.py", b"")
    result = nnx_lint(tmp_path, ".")
    assert GOOD_LINE in result.stdout and "empty.py" not in result.stdout + result.stderr


def test_missing_path_is_named_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(GOOD)
    result = nnx_lint(tmp_path, "good.py", "nowhere.py")
    assert result.returncode == 2
    assert "nowhere.py" in result.stderr and "Traceback" not in result.stderr
    assert GOOD_LINE in result.stdout


def test_directory_without_python_files(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    result = nnx_lint(tmp_path, "empty")
    assert result.returncode == 0 and "Traceback" not in result.stderr


def test_broken_symlink_and_loop(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / "broken.py").symlink_to(tmp_path / "gone.py")
    (tmp_path / "loop").symlink_to(tmp_path)
    result = nnx_lint(tmp_path, ".")
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout.count(GOOD_LINE) == 1


# Root reads everything: drop the capabilities that let it (setpriv, from util-linux).
NO_DAC = (
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search",
    "--inh-caps=-dac_override,-dac_read_search",
)


def _unreadable_prefix() -> tuple[str, ...]:
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: every file is readable")
    return NO_DAC


def test_unreadable_file(tmp_path: Path) -> None:
    prefix = _unreadable_prefix()
    secret = tree(tmp_path, "secret.py", b"import jax\n")
    secret.chmod(0o000)
    try:
        result = nnx_lint(tmp_path, ".", prefix=prefix)
    finally:
        secret.chmod(0o644)
    assert_one_clear_line(result, "secret.py", "E902")


def test_unwritable_file_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    prefix = _unreadable_prefix()
    (tmp_path / "good.py").write_text(GOOD)
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "a.py").write_text(GOOD)
    locked.chmod(0o555)
    try:
        result = nnx_lint(tmp_path, "--fix", ".", prefix=prefix)
    finally:
        locked.chmod(0o755)
    assert FIXED in (tmp_path / "good.py").read_text()
    assert "locked/a.py" in result.stderr and result.returncode == 2
