"""Benchmark nnx-lint against flake8, pyflakes and ruff: wall time, peak memory, start-up.

    python benchmarks/run.py [--runs 3] [--corpus real|synthetic|all] [--quick] [--json PATH]

nnx-lint runs from this interpreter's environment; flake8, pyflakes and ruff from a separate
venv made here (benchmarks/.venv-tools), since nnx-lint's flake8 plugin would slow flake8 down.
The corpora live in benchmarks/.corpus: "real" is flax, jax and optax as shipped on PyPI (.py
files of the wheels), "synthetic-Kx" a generated NNX tree at 1x, 2x, 4x. Files are passed by
name, so a .gitignore entry for the corpus can't hide them (walking a tree is not measured).
Tools are interleaved in each round; ratios are medians of per-round ratios. Reports, never
asserts: exit 0, or 2 when the setup fails. Standard library only; Linux (or macOS).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

import synthetic

FLAX, JAX, OPTAX = "0.12.8", "0.10.2", "0.2.8"  # the "real" corpus
TOOL_PINS = ("flake8==7.5.0", "pyflakes==4.1.0", "pycodestyle==2.15.0", "ruff==0.17.6")
WHEEL_PYTHON = "3.12"  # the wheels are pure Python; this only satisfies their Requires-Python
UNITS_1X = 40  # synthetic packages (5 files, ~265 lines each) at scale 1x
SCALES = (1, 2, 4)
STARTUP_RUNS = 7
HERE = Path(__file__).resolve().parent
CORPUS, TOOLS_VENV = HERE / ".corpus", HERE / ".venv-tools"
MAXRSS_KIB = 1 if sys.platform.startswith("linux") else 1 / 1024  # macOS reports bytes
FINDING = re.compile(rb":\d+:\d+: ")
NNX_CODE = re.compile(rb":\d+:\d+: (NNX\d+)")
FULL_IMPORT = "import nnx_lint.cli + engine"
COLD, WARM, CHANGED = "nnx-lint cold", "nnx-lint warm", "nnx-lint 1 file changed"
BOOT = "start-up and imports"  # python -c 'import nnx_lint.cli, nnx_lint.engine'
RUFF, RUFF_CACHED, PYFLAKES, FLAKE8 = "ruff", "ruff cached", "pyflakes", "flake8"
# A corpus root is a project of its own: nnx-lint's configuration and project index stop there.
PYPROJECT = '[project]\nname = "nnx-lint-benchmark-corpus"\nversion = "0"\n\n[tool.nnx-lint]\n'


class SetupError(Exception):
    pass


def ignored_dir(path: Path) -> Path:
    """A directory that git, ruff and nnx-lint skip when they walk a tree (as .ruff_cache)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / ".gitignore").write_text("# made by benchmarks/run.py\n*\n")
    return path


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def check_call(cmd: list[str], what: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr)[-2000:]
        raise SetupError(f"{what} failed ({' '.join(cmd)}):\n{output}")
    return proc.stdout


# Setup -------------------------------------------------------------------------------------


def tools_venv() -> Path:
    """The venv of flake8, pyflakes and ruff, (re)made when the pins change."""
    bin_dir, stamp = TOOLS_VENV / "bin", TOOLS_VENV / "bench-pins.txt"
    if stamp.is_file() and stamp.read_text() == "\n".join(TOOL_PINS):
        return bin_dir
    log(f"creating {TOOLS_VENV} with {' '.join(TOOL_PINS)}")
    shutil.rmtree(TOOLS_VENV, ignore_errors=True)
    check_call([sys.executable, "-m", "venv", str(TOOLS_VENV)], "creating the tools venv")
    ignored_dir(TOOLS_VENV)
    pip = [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", *TOOL_PINS]
    check_call(pip, "installing the tools")
    stamp.write_text("\n".join(TOOL_PINS))
    return bin_dir


def real_corpus(pins: dict[str, str]) -> Path:
    """The .py files of the pinned wheels, downloaded (once) with pip."""
    root, wheels = ignored_dir(CORPUS) / "real", CORPUS / "wheels"
    wanted = " ".join(f"{name}=={version}" for name, version in pins.items())
    if (root / ".pins").is_file() and (root / ".pins").read_text() == wanted:
        return root
    found = {n: sorted(wheels.glob(f"{n}-{v}-*.whl")) for n, v in pins.items()}
    if not all(found.values()):
        log(f"downloading {wanted} into {wheels}")
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        pip += ["--python-version", WHEEL_PYTHON, "-d", str(wheels), *wanted.split()]
        check_call(pip, "pip download")
        found = {n: sorted(wheels.glob(f"{n}-{v}-*.whl")) for n, v in pins.items()}
    log(f"unpacking the .py files into {root}")
    shutil.rmtree(root, ignore_errors=True)
    for name, paths in found.items():
        if not paths:
            raise SetupError(f"no wheel for {name}=={pins[name]} in {wheels}")
        with zipfile.ZipFile(paths[0]) as wheel:
            for member in wheel.namelist():
                parts = Path(member).parts
                if member.endswith(".py") and ".." not in parts and not Path(member).is_absolute():
                    (root / member).parent.mkdir(parents=True, exist_ok=True)
                    (root / member).write_bytes(wheel.read(member))
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / ".pins").write_text(wanted)
    return root


def synthetic_corpus(scale: int) -> tuple[Path, dict[str, int]]:
    root = ignored_dir(CORPUS) / f"synthetic-{scale}x"
    shutil.rmtree(root, ignore_errors=True)
    _, _, seeded = synthetic.generate(root, UNITS_1X * scale)
    (root / "pyproject.toml").write_text(PYPROJECT)
    return root, dict(seeded)


def nnx_lint() -> tuple[list[str], set[str]]:
    """How to run nnx-lint (its script beside this interpreter), and the flags its --help shows."""
    script = Path(sys.executable).with_name("nnx-lint")
    base = [str(script)] if script.is_file() else [sys.executable, "-m", "nnx_lint"]
    shown = check_call(
        base + ["--help"], "nnx-lint --help (is it installed here? pip install -e .)"
    )
    flags = set(re.findall(r"(?<![\w-])(--?[\w-]+)", shown))
    for flag in ("-j", "--exit-zero", "--no-cache", "--cache-dir"):
        if flag not in flags:
            log(f"note: nnx-lint has no {flag} yet: running without it")
    return base, flags


def nnx_lint_commands(
    base: list[str], flags: set[str], jobs: int, cache: Path
) -> tuple[list[str], list[str]]:
    """The cold and the warm command."""
    cmd = base + ["--output-format", "concise"]
    cmd += ["-j", str(jobs)] if "-j" in flags else []
    cmd += ["--exit-zero"] if "--exit-zero" in flags else []
    warm = cmd + (["--cache-dir", str(cache)] if "--cache-dir" in flags else [])
    return cmd + (["--no-cache"] if "--no-cache" in flags else []), warm


# Measuring ---------------------------------------------------------------------------------


def measure(cmd: list[str], cwd: Path | None = None) -> dict:
    """Wall time; the largest RSS of the process and its waited-for children (wait4); the
    findings printed (lines `path:line:col: ...`) and the NNX codes among them."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        findings, codes = 0, Counter()
        for line in out:  # streamed: our own peak RSS is every child's floor (see `floor`)
            findings += bool(FINDING.search(line))
            codes.update(m.group(1).decode() for m in [NNX_CODE.search(line)] if m)
        if proc.returncode not in (0, 1):
            err.seek(max(0, err.seek(0, os.SEEK_END) - 800))
            tail = err.read().decode(errors="replace")
            log(f"warning: exit {proc.returncode} from {' '.join(cmd[:3])} ...: {tail}")
    return {
        "wall": wall,
        "mib": usage.ru_maxrss * MAXRSS_KIB / 1024,
        "rc": proc.returncode,
        "findings": findings,
        "codes": dict(sorted(codes.items())),
    }


def bench_corpus(name: str, root: Path, nnx: tuple, tools: dict, runs: int, jobs: int) -> dict:
    """Every tool on every file of ``root``, ``runs`` times, interleaved."""
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py"))
    lines = sum((root / f).read_bytes().count(b"\n") for f in files)
    log(f"corpus {name}: {len(files)} files, {lines:,} lines")
    caches = CORPUS / ".cache" / name
    shutil.rmtree(caches, ignore_errors=True)
    cold, warm = nnx_lint_commands(*nnx, jobs, caches / "nnx-lint")
    ruff = [tools[RUFF], "check", "--isolated", "--output-format", "concise"]
    cmds = {
        COLD: cold,
        WARM: warm,
        RUFF: ruff + ["--no-cache"],
        RUFF_CACHED: ruff + ["--cache-dir", str(caches / "ruff")],
        PYFLAKES: [tools[PYFLAKES]],
        FLAKE8: [tools[FLAKE8], "--isolated", "-j", str(jobs)],
    }
    for label in (WARM, RUFF_CACHED):  # fill the caches (and the page cache)
        log(f"  warming up {label}")
        measure(cmds[label] + files, root)
    samples: dict[str, list[dict]] = {label: [] for label in [*cmds, CHANGED, BOOT]}
    for r in range(runs):  # interleaved, so that a busy moment hits every tool alike
        for label, cmd in cmds.items():
            log(f"  run {r + 1}/{runs}: {label}")
            samples[label].append(measure(cmd + files, root))
    edited = sorted(files, key=lambda f: (root / f).stat().st_size)[len(files) // 2]
    original = (root / edited).read_bytes()
    try:  # the pre-commit case: one file changed since the last (cached) run
        for r in range(runs):
            samples[BOOT].append(measure([sys.executable, "-c", tools["import"]]))
            (root / edited).write_bytes(original + f"# benchmark edit {r}\n".encode())
            log(f"  run {r + 1}/{runs}: {CHANGED} ({edited})")
            samples[CHANGED].append(measure(cmds[WARM] + files, root))
    finally:
        (root / edited).write_bytes(original)
    # Linux counts in a child's peak RSS the peak RSS of the process that forked it: ours.
    floor = measure([shutil.which("true") or "true"])["mib"]
    rows = {}
    for label, got in samples.items():
        rows[label] = {
            "wall_s": statistics.median(s["wall"] for s in got),
            "peak_mib": max(s["mib"] for s in got),
            "findings": got[0]["findings"],
            "nnx_codes": got[0]["codes"],
            "exit": sorted({s["rc"] for s in got}),
            "cold_over_tool": ratio(samples[COLD], got),
            "samples_s": [round(s["wall"], 4) for s in got],
        }
    return {
        "corpus": name,
        "files": len(files),
        "lines": lines,
        "runs": runs,
        "rows": rows,
        "warm_over_ruff_cached": ratio(samples[WARM], samples[RUFF_CACHED]),
        "startup_share_of_changed": ratio(samples[BOOT], samples[CHANGED]),
        "peak_mib_floor": floor,
        "edited_file": edited,
        "commands": {label: " ".join(cmd) + " FILES..." for label, cmd in cmds.items()},
    }


def ratio(numerators: list[dict], denominators: list[dict]) -> float:
    return statistics.median(
        n["wall"] / d["wall"] for n, d in zip(numerators, denominators, strict=True)
    )


def startup(base: list[str]) -> dict:
    """Interpreter start-up and imports (nnx-lint imports libcst, via its engine, only when it
    has a file to lint), medians; where the import time goes, from -X importtime."""
    full = "import nnx_lint.cli, nnx_lint.engine"
    if subprocess.run([sys.executable, "-c", full], capture_output=True).returncode != 0:
        full = "import nnx_lint.cli, libcst"  # the engine moved: libcst is most of it anyway
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "nnx-lint --version": base + ["--version"],
        "import nnx_lint.cli": [sys.executable, "-c", "import nnx_lint.cli"],
        FULL_IMPORT: [sys.executable, "-c", full],
    }
    result: dict = {
        label: statistics.median(measure(cmd)["wall"] for _ in range(STARTUP_RUNS))
        for label, cmd in cases.items()
    }
    trace = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", full], capture_output=True, text=True
    ).stderr
    entries = re.findall(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", trace)
    top = {name: int(us) / 1e3 for us, pad, name in entries if not pad}
    packages = {n: int(us) / 1e3 for us, _, n in entries if "." not in n and n != "nnx_lint"}
    result["importtime_ms"] = {
        "code": full,
        "top_level": top,
        "heaviest": dict(sorted(packages.items(), key=lambda kv: -kv[1])[:6]),
    }
    return result


# Reporting ---------------------------------------------------------------------------------


def machine() -> dict:
    def grep(path: str, pattern: str) -> str | None:
        try:
            found = re.search(pattern, Path(path).read_text())
        except OSError:
            return None
        return found.group(1) if found else None

    memory = grep("/proc/meminfo", r"MemTotal:\s*(\d+)")
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "cpus": len(affinity(0)) if affinity else os.cpu_count(),
        "cpu_model": grep("/proc/cpuinfo", r"model name\s*:\s*(.*)") or platform.processor(),
        "memory_gib": round(int(memory) / 2**20, 1) if memory else None,
        "python": platform.python_version(),
        "load_average_before": os.getloadavg()[0],
    }


def header(info: dict, versions: dict, start: dict) -> None:
    print(
        f"machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['memory_gib']} GiB RAM, "
        f"Python {info['python']}; load average {info['load_average_before']:.2f} before, "
        f"{info['load_average_after']:.2f} after"
    )
    print("versions: " + "; ".join(versions.values()))
    print(f"start-up, median of {STARTUP_RUNS} (s):")
    print("  " + ", ".join(f"{label} {start[label]:.3f}" for label in list(start)[:4]))
    imports = start["importtime_ms"]
    top = ", ".join(f"{name} {ms:.0f}" for name, ms in imports["top_level"].items() if ms >= 1)
    heavy = ", ".join(f"{name} {ms:.0f}" for name, ms in imports["heaviest"].items())
    print(f"  python -X importtime -c '{imports['code']}', cumulative ms:")
    print(f"    top-level imports: {top} (sum {sum(imports['top_level'].values()):.0f})")
    print(f"    heaviest packages (nested ones overlap): {heavy}")


def report(res: dict) -> None:
    runs = res["runs"]
    size = f"{res['files']:,} files, {res['lines']:,} lines"
    print(f"\ncorpus {res['corpus']} ({size}), median of {runs} run{'s' if runs > 1 else ''}")
    print(f"{'tool':<25}{'wall s':>8}{'peak MiB':>10}{'findings':>10}   nnx-lint cold / tool")
    for label, row in res["rows"].items():
        peak = f"{row['peak_mib']:.1f}" if row["peak_mib"] > res["peak_mib_floor"] else "<floor"
        line = f"{label:<25}{row['wall_s']:>8.3f}{peak:>10}{row['findings']:>10}"
        failed = "" if set(row["exit"]) <= {0, 1} else f"   (exit status {row['exit']})"
        print(f"{line}{row['cold_over_tool']:>10.2f}{failed}")
    rows = res["rows"]
    f8, pf = rows[FLAKE8]["cold_over_tool"], rows[PYFLAKES]["cold_over_tool"]
    warm = res["warm_over_ruff_cached"]
    print(
        f"  cold nnx-lint / flake8 = {f8:.2f} (target <= 1.0: {verdict(f8 <= 1.0)}); "
        f"cold nnx-lint / pyflakes = {pf:.2f}"
    )
    print(f"  warm nnx-lint / ruff cached = {warm:.2f} (target <= 2.0: {verdict(warm <= 2.0)})")
    changed, share = rows[CHANGED]["wall_s"], res["startup_share_of_changed"]
    print(
        f"  1 file changed ({res['edited_file']}): {changed:.3f} s, of which start-up and "
        f"imports take {share:.0%}: {'' if share >= 0.5 else 'NOT '}dominated by start-up"
    )
    if "seeded" in res and res["seeded"] != rows[COLD]["nnx_codes"]:
        print(f"  note: seeded {res['seeded']}, but nnx-lint found {rows[COLD]['nnx_codes']}")


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def linearity(results: list[dict]) -> None:
    print("\nsynthetic scaling, nnx-lint cold (linear: about constant ms per 1,000 lines)")
    first, last = results[0], results[-1]
    for res in results:
        wall, lines = res["rows"][COLD]["wall_s"], res["lines"]
        growth = wall / first["rows"][COLD]["wall_s"]
        per_k = wall / lines * 1e6
        print(
            f"  {res['corpus']:<14}{lines:>8,} lines{wall:>8.3f} s{per_k:>7.1f} ms/1k lines"
            f"   x{growth:.2f} the time for x{lines / first['lines']:.2f} the lines"
        )
    if len(results) > 1:
        extra = last["rows"][COLD]["wall_s"] - first["rows"][COLD]["wall_s"]
        slope = extra / (last["lines"] - first["lines"]) * 1e6
        print(f"  marginal: {slope:.1f} ms per 1,000 lines ({first['corpus']} to {last['corpus']})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per tool (default 3)")
    parser.add_argument("--corpus", choices=("real", "synthetic", "all"), default="all")
    parser.add_argument("--quick", action="store_true", help="1 run, synthetic 1x only")
    parser.add_argument("--json", metavar="PATH", help="also write the results here")
    parser.add_argument("--jobs", type=int, default=2, help="-j of nnx-lint and flake8 (2)")
    for name, version in (("flax", FLAX), ("jax", JAX), ("optax", OPTAX)):
        parser.add_argument(f"--{name}", default=version, help=f"real corpus (default {version})")
    args = parser.parse_args()
    runs = 1 if args.quick else max(args.runs, 1)
    try:
        nnx = nnx_lint()
        bin_dir = tools_venv()
        tools = {name: str(bin_dir / name) for name in (RUFF, PYFLAKES, FLAKE8)}
        versions = {}
        for name, cmd in (("nnx-lint", nnx[0]), (RUFF, [tools[RUFF]]), (FLAKE8, [tools[FLAKE8]])):
            line = check_call(cmd + ["--version"], f"{name} --version").strip().splitlines()[0]
            line = line.split(" CPython")[0]  # flake8 names its plugins, then the interpreter
            versions[name] = line if line.startswith(name) else f"{name} {line}"
        if re.search(r"nnx", versions[FLAKE8], re.I):
            raise SetupError(f"the tools venv's flake8 has nnx-lint's plugin: {versions[FLAKE8]}")
        corpora = []
        if args.corpus in ("real", "all") and not args.quick:
            pins = {"flax": args.flax, "jax": args.jax, "optax": args.optax}
            corpora.append(("real", real_corpus(pins), None))
        if args.corpus in ("synthetic", "all"):
            for scale in SCALES[:1] if args.quick else SCALES:
                corpora.append((f"synthetic-{scale}x", *synthetic_corpus(scale)))
    except SetupError as exc:
        log(f"setup failed: {exc}")
        return 2
    info = machine()
    log("measuring start-up")
    start = startup(nnx[0])
    tools["import"] = start["importtime_ms"]["code"]
    results = []
    for name, root, seeded in corpora:
        results.append(bench_corpus(name, root, nnx, tools, runs, args.jobs))
        if seeded is not None:
            results[-1]["seeded"] = seeded
    info["load_average_after"] = os.getloadavg()[0]
    header(info, versions, start)
    for res in results:
        report(res)
    scaling = [r for r in results if r["corpus"].startswith("synthetic")]
    if scaling:
        linearity(scaling)
    floor = max((r["peak_mib_floor"] for r in results), default=0.0)
    print("\nwall s: median. peak MiB: the largest RSS of any one process of the run (with -j, of")
    print("one worker, not the sum); Linux reports at least the launcher's RSS, so a figure at or")
    print(f"under it (<floor, {floor:.1f} MiB) is unknown. ratios: medians of per-round ratios.")
    if results:
        print(f"{BOOT}: python -c '{tools['import']}', next to each 1-file-changed run.")
    if args.json:
        payload = {"machine": info, "versions": versions, "startup": start, "corpora": results}
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
