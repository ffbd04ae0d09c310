"""How cheap can the flake8 plugin's cold run be? Its parts, in CPU seconds, on one corpus.

    python benchmarks/plugin_floor.py [--runs 3] [ROOT]

ROOT: a project (default: google/flax's repository, ``benchmarks/.corpus/flax-repo``, which
``run.py`` unpacks). In one process, with no cache, the median of ``--runs`` rounds of:

- the project index (every file scanned, one process);
- the prefilter, on every file some rule's text check passes (``could_have_findings``);
- the analysis (libcst parse, scopes, rules) of the files the prefilter passes, split into
  those that have a finding and the others;
- flake8 alone over the same files, ``-j 1``, from ``run.py``'s tools venv (CPU of the child).

The floor is what the plugin would cost if it analysed the files that have a finding and
nothing else, and nothing else cost anything (no imports, workers, cache or garbage
collector): index + prefilter + those files. On 2 cores, with flake8 and the plugin's work
spread perfectly, the plugin's share of the wall time is its CPU over flake8's, so the ratio
``1 + floor / flake8`` bounds what any prefilter in front of today's analysis can reach.
Reports only; exits 0, or 2 when the corpus or the tools venv is missing."""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's nnx_lint, as run.py --editable runs it

from nnx_lint.cache import Cache  # noqa: E402
from nnx_lint.project import Project, serial  # noqa: E402
from nnx_lint.rules import RULES, text_check  # noqa: E402
from nnx_lint.settings import Settings  # noqa: E402

FLAKE8 = HERE / ".venv-tools" / "bin" / "flake8"
T = TypeVar("T")


def cpu(fn: Callable[..., T], *args: object) -> tuple[float, T]:
    """(CPU seconds of this process spent in ``fn(*args)``, its result)."""
    start = time.process_time()
    result = fn(*args)
    return time.process_time() - start, result


def flake8_cpu(root: Path, files: list[str]) -> float:
    """CPU seconds (user + system) of flake8 -j 1 over ``files``, without nnx-lint's plugin."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [str(FLAKE8), "--isolated", "-j", "1", *files]
    subprocess.run(cmd, cwd=root, stdout=subprocess.DEVNULL, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def one_round(root: Path, files: list[str]) -> dict[str, float]:
    settings = Settings()
    rules = text_check(RULES)
    index_s, project = cpu(lambda: Project.open(root, cache=Cache(None), mapper=serial))
    texts = [(f, (root / f).read_text(encoding="utf-8")) for f in files]
    prefilter_s, candidates = cpu(
        lambda: [
            (f, t) for f, t in texts if rules(t) and project.could_have_findings(t, settings, f)
        ]
    )
    with_findings = without = 0.0
    found_files = 0
    for name, text in candidates:
        spent, found = cpu(project.check, name, text, settings)
        if found:
            with_findings += spent
            found_files += 1
        else:
            without += spent
    return {
        "index": index_s,
        "prefilter": prefilter_s,
        "analysed": float(len(candidates)),
        "with_findings_files": float(found_files),
        "with_findings": with_findings,
        "without_findings": without,
        "flake8": flake8_cpu(root, files),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", nargs="?", default=str(HERE / ".corpus" / "flax-repo"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = Path(args.root).resolve()
    if not root.is_dir() or not FLAKE8.exists():
        print(f"missing {root if not root.is_dir() else FLAKE8}: run benchmarks/run.py first")
        return 2
    os.chdir(root)  # files by relative name, as flake8 is given them
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py"))
    rounds = [one_round(root, files) for _ in range(max(args.runs, 1))]
    m = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    floor = m["index"] + m["prefilter"] + m["with_findings"]
    today = floor + m["without_findings"]
    others = m["analysed"] - m["with_findings_files"]
    rows = [
        ("flake8 alone (-j 1)", m["flake8"]),
        ("project index", m["index"]),
        ("prefilter", m["prefilter"]),
        (f"analysis of the {m['with_findings_files']:.0f} files with findings", m["with_findings"]),
        (f"analysis of the {others:.0f} other files the prefilter passes", m["without_findings"]),
        ("floor: index + prefilter + files with findings", floor),
        ("budget of a 1.3x target: 0.3 x flake8", 0.3 * m["flake8"]),
    ]
    print(f"{root.name}: {len(files)} files; CPU seconds, median of {len(rounds)} rounds")
    for label, value in rows:
        print(f"  {label:<58}{value:6.2f}")
    print(
        f"  best ratio today's analysis allows, 1 + floor / flake8: {1 + floor / m['flake8']:.2f}"
    )
    print(
        f"  the analysis as it runs, 1 + all / flake8:              {1 + today / m['flake8']:.2f}"
    )
    print("  (imports, workers, the cache and the garbage collector not counted)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
