"""Re-run the real-code triage: lint each repository snapshot found under CORPUS (one folder per
repository, named owner+name as in triage.json) and diff the findings against the recorded ones.

    python benchmarks/realworld/run.py /path/to/corpus

Prints each finding that is new (not triaged yet) or gone, and each whose claim changed; exits
1 if there is any. The snapshots are not in this repository: bring them with the session
tool's fetch (or a git clone) at the commits triage.json names. Not run by .ci/run (no network
there, and it takes minutes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))
from helpers import claim  # noqa: E402  (how tests/test_claims.py reads a message)


def findings(repo: Path) -> set[tuple[str, int, int, str, str]]:
    """(path, cell, line, code, claim) of every finding; cell 0 outside notebooks."""
    # Documentation is linted when named (or included by configuration): name every file.
    docs = sorted(
        str(p.relative_to(repo))
        for p in repo.rglob("*")
        if p.suffix in (".md", ".rst") and p.is_file() and ".git" not in p.parts
    )
    out = subprocess.run(
        [sys.executable, "-m", "nnx_lint", "--no-cache", "--output-format", "json", ".", *docs],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return {
        (
            Path(d["filename"]).resolve().relative_to(repo.resolve()).as_posix(),
            d["cell"] or 0,
            d["location"]["row"],
            d["code"],
            claim(d["message"]),
        )
        for d in json.loads(out)
    }


def main(corpus: Path) -> int:
    triage = json.loads((HERE / "triage.json").read_text())
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
        found = findings(repo)
        for item in sorted(found - recorded):
            print(f"{name}: new   {item}")
        for item in sorted(recorded - found):
            print(f"{name}: gone  {item}")
        differences += len(found ^ recorded)
        print(f"{name}: {len(found)} findings, {len(found & recorded)} as triaged")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
