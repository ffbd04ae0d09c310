"""Re-run the real-code triage: lint each repository snapshot found under CORPUS (one folder per
repository, named owner+name as in triage.json) and diff the findings against the recorded ones.

    python benchmarks/realworld/run.py /path/to/corpus
    python benchmarks/realworld/run.py /path/to/corpus --select NNX1 --target-flax-version 0.12.8

Prints each finding that is new (not triaged yet) or gone, and each whose claim changed; exits
1 if there is any. The first form runs the default rules and diffs against triage.json; with
``--select`` (the opt-in upgrade rules, NNX1) the run passes ``--select`` and
``--target-flax-version`` on to nnx-lint and diffs against triage-upgrades.json. The
snapshots are not in this repository: bring them with the session tool's fetch (or a git
clone) at the commits triage.json names. Not run by .ci/run (no network there, and it takes
minutes)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))
from helpers import claim  # noqa: E402  (how tests/test_claims.py reads a message)


def upgrade_claim(message: str) -> str:
    """The outcome an upgrade rule's message claims (see triage-upgrades.json's "claims")."""
    if "raises TypeError" in message:
        return "TYPEERROR"
    if "raises ValueError" in message:
        return "VALUEERROR"
    if "warns DeprecationWarning" in message:
        return "WARNS"
    return "NONE"


def findings(
    repo: Path, options: tuple[str, ...] = (), read: object = claim
) -> set[tuple[str, int, int, str, str]]:
    """(path, cell, line, code, claim) of every finding; cell 0 outside notebooks."""
    # Documentation is linted when named (or included by configuration): name every file.
    docs = sorted(
        str(p.relative_to(repo))
        for p in repo.rglob("*")
        if p.suffix in (".md", ".rst") and p.is_file() and ".git" not in p.parts
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "nnx_lint",
            "--no-cache",
            *options,
            "--output-format",
            "json",
            ".",
            *docs,
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert callable(read)
    return {
        (
            Path(d["filename"]).resolve().relative_to(repo.resolve()).as_posix(),
            d["cell"] or 0,
            d["location"]["row"],
            d["code"],
            read(d["message"]),
        )
        for d in json.loads(out)
    }


def main(corpus: Path, select: str | None = None, target: str | None = None) -> int:
    options: tuple[str, ...] = ()
    read: object = claim
    name = "triage.json"
    if select is not None:
        options = ("--select", select)
        if target is not None:
            options += ("--target-flax-version", target)
        read = upgrade_claim
        name = "triage-upgrades.json"
    triage = json.loads((HERE / name).read_text())
    if select is not None and (select, target) != (triage["select"], triage["target"]):
        print(
            f"{name} triages --select {triage['select']} --target-flax-version "
            f"{triage['target']}; this run differs from it"
        )
    differences = 0
    for name in triage["repositories"]:
        repo = corpus / name
        if not repo.is_dir():
            print(f"{name}: not in {corpus}, skipped")
            continue
        recorded = {
            (f["path"], f.get("cell", 0), f["line"], f["code"], f["claim"])
            for f in triage["findings"]
            if f["repo"] == name
        }
        found = findings(repo, options, read)
        if "codes" in triage:  # the rules the triage covers; others are counted, not diffed
            other = {item for item in found if item[3] not in triage["codes"]}
            if other:
                codes = ", ".join(sorted({item[3] for item in other}))
                print(f"{name}: {len(other)} findings of rules not triaged here ({codes})")
            found -= other
        for item in sorted(found - recorded):
            print(f"{name}: new   {item}")
        for item in sorted(recorded - found):
            print(f"{name}: gone  {item}")
        differences += len(found ^ recorded)
        print(f"{name}: {len(found)} findings, {len(found & recorded)} as triaged")
    return 1 if differences else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", default=".", type=Path)
    parser.add_argument("--select", help="the upgrade rules (NNX1): diff triage-upgrades.json")
    parser.add_argument("--target-flax-version", dest="target")
    args = parser.parse_args()
    sys.exit(main(args.corpus, args.select, args.target))
