"""What nnx-lint's fixes cost when the fixed program runs: per call, next to the original and
to the fastest correct hand-written form, in one run.

    python benchmarks/runtime.py [--quick | --check] [--layers 2,200] [--python PATH]
                                 [--json PATH]

Each program of `benchmarks/runtime/` is one shape a rule fixes (`nnx001_assign.py`, ...): a
module-level model and a `step()` that makes one call. It is run as written ("original"),
as `nnx-lint --fix` leaves it ("fixed"), as `nnx-lint --fix --unsafe-fixes` leaves it
("unsafe fix", where that differs) and in the hand-written forms of
`benchmarks/runtime/handwritten/` that compute the same thing (`forward.*.py` for the shapes
that call the model, `train.*.py` for the train step). Every program runs twice: on a pure
model (`PureChain`: Linear layers) and on one whose state changes on every call
(`DropoutChain`: the same layers and a Dropout that draws from its Rngs); and on a chain of 2
and of 200 layers. Each run is first compared with an eager run of the original
(`benchmarks/runtime_worker.py`: outputs and final state, the parameters changed between calls):
only correct forms count, and "fastest" is the fastest correct hand-written form. Ratios are
per-call medians against it.

`--python` runs the programs in another interpreter (a virtual environment with another flax:
nnx-lint fixes for that version, `--target-flax-version`); nnx-lint itself runs from this one.
`--check` runs only the originals and the fixed forms against eager, without timings (the
test suite's use). Reports, never asserts: exit 0, or 2 when a fixed form is not correct or
nnx-lint cannot run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROGRAMS = HERE / "runtime"
WORKER = HERE / "runtime_worker.py"
FAMILY = {"nnx003_train_step": "train"}  # the hand-written forms a shape is measured against
KINDS = {"pure": "PureChain", "changing": "DropoutChain"}
# The hand-written forms --quick times: those that have been the fastest on some flax version
# (graph-mode nnx.jit, tree mode and a returned train step never were; the full run times them).
QUICK_FORMS = {"jit-partial", "jit-argument", "cached-partial"}
ORIGINAL, FIXED, UNSAFE = "original", "fixed", "unsafe fix"


@dataclass(frozen=True)
class Row:
    layers: int
    kind: str
    shape: str
    form: str
    status: str
    seconds: float | None
    error: str = ""


def flax_version(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import flax; print(flax.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def _copy(programs: list[Path], directory: Path, kind: str) -> None:
    """``programs`` and the models they import into ``directory``, for ``kind`` of model."""
    directory.mkdir(parents=True)
    shutil.copy(PROGRAMS / "models.py", directory)
    for program in programs:
        (directory / program.name).write_text(program.read_text().replace("PureChain", KINDS[kind]))


def prepare(
    work: Path, kind: str, target: str, by_hand: bool, quick: bool = False
) -> dict[str, dict[str, Path]]:
    """Each shape's programs for one kind of model: {shape: {form: path}} (``by_hand``: with
    the hand-written forms; ``quick``: only those that can be the fastest, QUICK_FORMS)."""
    base = work / kind
    forms: dict[str, dict[str, Path]] = {}
    variants = {ORIGINAL: [], FIXED: ["--fix"], UNSAFE: ["--fix", "--unsafe-fixes"]}
    for variant, flags in variants.items():
        directory = base / variant.replace(" ", "-")
        _copy(sorted(PROGRAMS.glob("nnx*.py")), directory, kind)
        (directory / "pyproject.toml").write_text("[tool.nnx-lint]\n")
        if flags:
            cmd = [sys.executable, "-m", "nnx_lint", *flags, "--no-cache", "--exit-zero"]
            cmd += ["--target-flax-version", target, "."]
            proc = subprocess.run(cmd, cwd=directory, capture_output=True, text=True)
            if proc.returncode not in (0, 1):
                sys.exit(f"nnx-lint {' '.join(flags)} failed:\n{proc.stdout}{proc.stderr}")
        for program in sorted(directory.glob("nnx*.py")):
            forms.setdefault(program.stem, {})[variant] = program
    hand = base / "handwritten"
    if by_hand:
        _copy(sorted((PROGRAMS / "handwritten").glob("*.py")), hand, kind)
    for shape, variants_of in forms.items():
        # A fix that changed nothing (none offered) or nothing more is not another form.
        if variants_of[UNSAFE].read_text() == variants_of[FIXED].read_text():
            del variants_of[UNSAFE]
        if variants_of[FIXED].read_text() == variants_of[ORIGINAL].read_text():
            del variants_of[FIXED]
        family = FAMILY.get(shape, "forward")
        for program in sorted(hand.glob(f"{family}.*.py")):  # none unless by_hand
            if quick and program.stem.split(".", 1)[1] not in QUICK_FORMS:
                continue
            variants_of[f"by hand: {program.stem.split('.', 1)[1]}"] = program
    return forms


def measure(
    python: str,
    layers: int,
    forms: dict[str, dict[str, dict[str, Path]]],
    seconds: float,
    work: Path,
) -> list[Row]:
    """Run every kind's forms (``forms[kind][shape][form]``) in one worker process."""
    shapes = {f"{kind}/{shape}": f for kind, of in forms.items() for shape, f in of.items()}
    job = {
        "reference": {key: str(f[ORIGINAL]) for key, f in shapes.items()},
        "forms": [
            [key, label, str(path)] for key, f in shapes.items() for label, path in f.items()
        ],
        "calls": 3,
        "seconds": seconds,
    }
    job_file = work / f"job-{layers}.json"
    job_file.write_text(json.dumps(job))
    env = dict(os.environ, NNX_FIXCOST_LAYERS=str(layers), JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [python, str(WORKER), str(job_file)], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        sys.exit(f"the worker failed ({layers} layers):\n{proc.stderr[-3000:]}")
    rows = []
    for line in proc.stdout.splitlines():
        r = json.loads(line)
        kind, shape = r["shape"].split("/")
        rows.append(
            Row(layers, kind, shape, r["form"], r["status"], r["seconds"], r.get("error", ""))
        )
    return rows


def fastest(rows: list[Row]) -> Row | None:
    correct = [r for r in rows if r.form.startswith("by hand") and r.status == "ok"]
    return min(correct, key=lambda r: r.seconds or 0.0, default=None)


def ms(row: Row | None) -> str:
    if row is None:
        return "no fix"
    if row.seconds is None:
        return row.status
    mark = "" if row.status == "ok" else f" {row.status}"
    return f"{row.seconds * 1e3:.2f} ms{mark}"


def report(rows: list[Row], python: str, version: str) -> None:
    print(f"# Run-time cost of nnx-lint's fixes (flax {version}, {python})")
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, per-call medians"
    )
    header = f"{'layers':>6} {'model':9} {'shape':18} {'original':>22} {'fixed':>22} "
    header += f"{'unsafe fix':>22} {'fastest by hand':>32} {'fixed/fastest':>13}"
    print(header)
    keys = sorted({(r.layers, r.kind, r.shape) for r in rows})
    for layers, kind, shape in keys:
        mine = [r for r in rows if (r.layers, r.kind, r.shape) == (layers, kind, shape)]
        by = {r.form: r for r in mine}
        if "eager" in by:
            continue  # this flax cannot run the program: listed below
        best = fastest(mine)
        ratios = []
        for form in (FIXED, UNSAFE):
            row = by.get(form)
            if row and best and row.status == "ok" and row.seconds and best.seconds:
                ratios.append(f"{row.seconds / best.seconds:.2f}x")
        timed = any(r.form.startswith("by hand") for r in mine)
        fast = f"{ms(best)} ({best.form[9:]})" if best else "none correct" if timed else "-"
        print(
            f"{layers:>6} {kind:9} {shape:18} {ms(by.get(ORIGINAL)):>22} {ms(by.get(FIXED)):>22} "
            f"{ms(by.get(UNSAFE)):>22} {fast:>32} {' / '.join(ratios) or '-':>13}"
        )
    failed = [r for r in rows if r.form in (FIXED, UNSAFE) and r.status != "ok"]
    for r in failed:
        print(f"!! {r.layers} layers, {r.kind}, {r.shape}: the {r.form} {r.status} {r.error}")
    for r in rows:
        if r.form == "eager":
            print(f"-- {r.layers} layers, {r.kind}, {r.shape}: not run, its eager run {r.status}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 layers, short timings, only the hand-written forms that can be the fastest",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only run the originals and the fixed forms against eager (no timings)",
    )
    parser.add_argument("--layers", default="2,200", help="chain lengths, comma-separated")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to run in")
    parser.add_argument("--json", type=Path, help="also write every row here")
    args = parser.parse_args(argv)
    layers = [2] if args.quick or args.check else [int(n) for n in args.layers.split(",")]
    version = flax_version(args.python)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="nnx-fixcost-") as tmp:
        work = Path(tmp)
        forms = {
            kind: prepare(work, kind, version, by_hand=not args.check, quick=args.quick)
            for kind in KINDS
        }
        seconds = 0.0 if args.check else 0.05 if args.quick else 0.5
        for n in layers:
            print(f"[runtime] {n} layers", file=sys.stderr, flush=True)
            rows += measure(args.python, n, forms, seconds, work)
    report(rows, args.python, version)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=1))
    broken = any(r.form in (FIXED, UNSAFE) and r.status != "ok" for r in rows)
    return 2 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
