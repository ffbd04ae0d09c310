"""Benchmark nnx-lint against flake8, pyflakes and ruff: wall time, peak memory, start-up.

    python benchmarks/run.py [--runs 3] [--corpus real|easydel|flax-repo|synthetic|all]
                             [--quick] [--json PATH] [--editable]

flake8, pyflakes and ruff run from a venv made here (benchmarks/.venv-tools); nnx-lint, and
flake8 with nnx-lint's plugin, from a second one (benchmarks/.venv-flake8-nnx: the same pins
plus this checkout, installed as a user installs it, not editable; reinstalled when the
checkout's sources change), so that the two flake8 runs differ by the plugin alone. An editable
install's import hook adds ~13 ms to every start of Python: ``--editable`` runs the nnx-lint of
this interpreter's environment instead, as a developer has it. The corpora live in
benchmarks/.corpus: "real" is flax, jax and optax as shipped on PyPI (.py files of the wheels),
"easydel" the easydel wheel's, "flax-repo" google/flax's repository as its source distribution
holds it (tests and examples too; the flake8 plugin's corpus), "synthetic-Kx" a generated NNX
tree at 1x, 2x, 4x. Files are passed by name (walking a tree is not measured). Each corpus
root is a checkout of its own (a pyproject.toml and a .git): nnx-lint's project index, and the
flake8 plugin's, holds all of its files, as in a user's checkout.
Tools are interleaved in each round; ratios are medians of per-round ratios. Reports, never
asserts: exit 0, or 2 when the setup fails. Standard library only; Linux (or macOS).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

import synthetic

FLAX, JAX, OPTAX = "0.12.8", "0.10.2", "0.2.8"  # the "real" corpus (and FLAX: "flax-repo")
EASYDEL = "0.3.0"
TOOL_PINS = ("flake8==7.5.0", "pyflakes==4.1.0", "pycodestyle==2.15.0", "ruff==0.17.6")
WHEEL_PYTHON = "3.12"  # the wheels are pure Python; this only satisfies their Requires-Python
UNITS_1X = 40  # synthetic packages (5 files, ~265 lines each) at scale 1x
SCALES = (1, 2, 4)
STARTUP_RUNS = 7
WARM_RUNS = 9  # at least, for the warm and one-changed-file rows (the issue asks 5 or more)
HERE = Path(__file__).resolve().parent
CORPUS, TOOLS_VENV, PLUGIN_VENV = HERE / ".corpus", HERE / ".venv-tools", HERE / ".venv-flake8-nnx"
MAXRSS_KIB = 1 if sys.platform.startswith("linux") else 1 / 1024  # macOS reports bytes
FINDING = re.compile(rb":\d+:\d+: ")
NNX_CODE = re.compile(rb":\d+:\d+: (NNX\d+)")
FULL_IMPORT = "import nnx_lint.cli + engine"
# What a run with one changed file that cannot have a finding imports (``nnx_lint.incremental``).
CHANGED_IMPORT = "import nnx_lint.launch, nnx_lint.incremental"
COLD, WARM, CHANGED = "nnx-lint cold", "nnx-lint warm", "nnx-lint 1 file changed"
RUFF_CHANGED = "ruff cached, 1 file changed"
F8_PLUGIN_COLD, F8_PLUGIN = "flake8 + plugin, cold", "flake8 + plugin, repeated"
BOOT = "start-up and imports"  # python -c 'import nnx_lint.launch, nnx_lint.incremental'
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


def venv(path: Path) -> Path:
    """A venv of the pinned tools, (re)made when they change: TOOLS_VENV holds flake8, pyflakes
    and ruff; PLUGIN_VENV the same and this checkout (``installed``), so that its flake8 differs
    from the other's by nnx-lint's plugin alone."""
    bin_dir, stamp = path / "bin", path / "bench-pins.txt"
    wanted = "\n".join([*TOOL_PINS, "pip: the current one"])
    if stamp.is_file() and stamp.read_text() == wanted:
        return bin_dir
    log(f"creating {path} with {' '.join(TOOL_PINS)}")
    shutil.rmtree(path, ignore_errors=True)
    check_call([sys.executable, "-m", "venv", str(path)], f"creating {path.name}")
    ignored_dir(path)
    pip = pip_install(bin_dir)
    # The current pip, as a user's: its console scripts no longer import re (~6 ms a start).
    check_call([*pip, "--upgrade", "pip"], f"upgrading pip in {path.name}")
    check_call([*pip, *TOOL_PINS], f"installing {path.name}")
    stamp.write_text(wanted)
    return bin_dir


def pip_install(bin_dir: Path) -> list[str]:
    return [str(bin_dir / "python"), "-m", "pip", "install", "--quiet"]


@functools.cache  # asked for nnx-lint's rows and for the plugin's
def installed(path: Path) -> Path:
    """A venv (``venv``) with this checkout installed in it as a package, not editable: rebuilt
    and reinstalled when a file of nnx_lint/ or pyproject.toml changes."""
    bin_dir = venv(path)
    root, stamp = HERE.parent, path / "bench-nnx-lint.txt"
    sources = sorted((root / "nnx_lint").rglob("*.py")) + [root / "pyproject.toml"]
    digest = hashlib.blake2b(digest_size=16)
    for source in sources:
        digest.update(str(source.relative_to(root)).encode() + b"\0" + source.read_bytes())
    if stamp.is_file() and stamp.read_text() == digest.hexdigest():
        return bin_dir
    log(f"installing this checkout into {path.name} (not editable)")
    with tempfile.TemporaryDirectory() as build:  # built outside the checkout: no build/ left
        shutil.copytree(root, build, dirs_exist_ok=True, ignore=_not_built)
        pip = pip_install(bin_dir)
        check_call([*pip, build], "installing nnx-lint and its dependencies")
        check_call([*pip, "--force-reinstall", "--no-deps", build], "installing nnx-lint")
    stamp.write_text(digest.hexdigest())
    return bin_dir


def _not_built(directory: str, names: list[str]) -> set[str]:
    """What a wheel is not built from: the checkout's venvs, corpora, caches and tests."""
    skip = {"tests", "benchmarks", "docs"} if Path(directory) == HERE.parent else set()
    return {n for n in names if n in skip or n.startswith(".") or n == "__pycache__"}


def unpacked(name: str, wanted: str, sources: bool = False) -> Path:
    """The .py files of the pinned wheels (``sources``: source distributions), downloaded
    (once) with pip into .corpus/wheels, unpacked into .corpus/NAME."""
    root, wheels = ignored_dir(CORPUS) / name, CORPUS / "wheels"
    if (root / ".pins").is_file() and (root / ".pins").read_text() == wanted:
        return as_checkout(root)
    pins = dict(pin.split("==") for pin in wanted.split())
    suffix = ".tar.gz" if sources else "-*.whl"

    def found() -> dict[str, list[Path]]:
        return {n: sorted(wheels.glob(f"{n}-{v}{suffix}")) for n, v in pins.items()}

    if not all(found().values()):
        log(f"downloading {wanted} into {wheels}")
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(wheels)]
        pip += ["--no-binary=:all:"] if sources else ["--only-binary=:all:"]
        pip += [] if sources else ["--python-version", WHEEL_PYTHON]
        check_call([*pip, *wanted.split()], "pip download")
    log(f"unpacking the .py files into {root}")
    shutil.rmtree(root, ignore_errors=True)
    for pin, paths in found().items():
        if not paths:
            raise SetupError(f"no {'sdist' if sources else 'wheel'} for {pin}=={pins[pin]}")
        for member, data in _members(paths[0]):
            parts = Path(member).parts[1:] if sources else Path(member).parts
            if member.endswith(".py") and ".." not in parts and not Path(member).is_absolute():
                (root / Path(*parts)).parent.mkdir(parents=True, exist_ok=True)
                (root / Path(*parts)).write_bytes(data())
    (root / ".pins").write_text(wanted)
    return as_checkout(root)


def as_checkout(root: Path) -> Path:
    """``root`` as a project's own checkout: its pyproject.toml and a .git of its own, so that
    the .gitignore of this repository (which hides .corpus) stops above it. Without it, the
    flake8 plugin, which opens the project as a walk finds it, would index none of the
    corpus's files, where in a user's checkout it indexes all of them."""
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / ".git").mkdir(exist_ok=True)
    return root


def _members(archive: Path):
    """(name, read) of each file in a wheel (zip) or a source distribution (tar.gz)."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as wheel:
            for member in wheel.namelist():
                yield member, lambda member=member: wheel.read(member)
    else:
        with tarfile.open(archive) as sdist:
            for info in sdist.getmembers():
                if info.isfile():
                    yield info.name, lambda info=info: sdist.extractfile(info).read()


def synthetic_corpus(scale: int) -> tuple[Path, dict[str, int]]:
    root = ignored_dir(CORPUS) / f"synthetic-{scale}x"
    shutil.rmtree(root, ignore_errors=True)
    _, _, seeded = synthetic.generate(root, UNITS_1X * scale)
    return as_checkout(root), dict(seeded)


def nnx_lint(bin_dir: Path | None = None) -> tuple[list[str], set[str]]:
    """How to run nnx-lint (its script in ``bin_dir``, else beside this interpreter), and the
    flags its --help shows."""
    python = str((bin_dir / "python") if bin_dir else sys.executable)
    script = Path(python).with_name("nnx-lint")
    base = [str(script)] if script.is_file() else [python, "-m", "nnx_lint"]
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


# Commands run as they would for a user of an installed package: with their bytecode cached
# (pip compiles it at install time), even where this shell says not to write it.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(cmd: list[str], cwd: Path | None = None) -> dict:
    """Wall time; the largest RSS of the process and its waited-for children (wait4); the
    findings printed (lines `path:line:col: ...`) and the NNX codes among them."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, env=ENV)
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


def bench_corpus(
    name: str,
    root: Path,
    nnx: tuple,
    tools: dict,
    runs: int,
    warm_runs: int,
    jobs: int,
    plugin: bool = False,
) -> dict:
    """Every tool on every file of ``root``, interleaved: the cold rows ``runs`` times; the
    warm and one-changed-file rows, beside ruff's cached run, ``warm_runs`` times; with
    ``plugin``, flake8 with and without nnx-lint's plugin, cold and repeated."""
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py"))
    lines = sum((root / f).read_bytes().count(b"\n") for f in files)
    log(f"corpus {name}: {len(files)} files, {lines:,} lines")
    caches = CORPUS / ".cache" / name
    shutil.rmtree(caches, ignore_errors=True)
    cold, warm = nnx_lint_commands(*nnx, jobs, caches / "nnx-lint")
    ruff = [tools[RUFF], "check", "--isolated", "--output-format", "concise"]
    flake8 = [tools[FLAKE8], "--isolated", "-j", str(jobs)]
    cmds = {
        COLD: cold,
        RUFF: ruff + ["--no-cache"],
        PYFLAKES: [tools[PYFLAKES]],
        FLAKE8: flake8,
    }
    # ruff's cached run with the rules of a fast linter (pyflakes'), as the issue measures it.
    cached = {
        WARM: warm,
        RUFF_CACHED: ruff + ["--select", "F", "--cache-dir", str(caches / "ruff")],
    }
    samples: dict[str, list[dict]] = {label: [] for label in [*cmds, *cached, CHANGED, BOOT]}
    samples[RUFF_CHANGED] = []
    for r in range(runs):  # interleaved, so that a busy moment hits every tool alike
        for label, cmd in cmds.items():
            log(f"  run {r + 1}/{runs}: {label}")
            samples[label].append(measure(cmd + files, root))
    for label, cmd in cached.items():  # fill the caches (and the page cache)
        log(f"  warming up {label}")
        measure(cmd + files, root)
    time.sleep(3)  # past the window in which nnx-lint does not record a run (runs.RACY)
    measure(warm + files, root)  # recorded now
    for r in range(warm_runs):
        for label, cmd in cached.items():
            log(f"  run {r + 1}/{warm_runs}: {label}")
            samples[label].append(measure(cmd + files, root))
    edited = sorted(files, key=lambda f: (root / f).stat().st_size)[len(files) // 2]
    original = (root / edited).read_bytes()
    try:  # the pre-commit case: one file changed since the last (cached) run
        for r in range(warm_runs):
            samples[BOOT].append(measure([tools["python"], "-c", CHANGED_IMPORT]))
            (root / edited).write_bytes(original + f"# benchmark edit {r}\n".encode())
            log(f"  run {r + 1}/{warm_runs}: {CHANGED} ({edited})")
            samples[CHANGED].append(measure(warm + files, root))
            samples[RUFF_CHANGED].append(measure(cached[RUFF_CACHED] + files, root))
    finally:
        (root / edited).write_bytes(original)
    if plugin:
        bench_plugin(root, files, flake8, tools, runs, samples)
    # Linux counts in a child's peak RSS the peak RSS of the process that forked it: ours.
    floor = measure([shutil.which("true") or "true"])["mib"]
    rows = {}
    for label, got in samples.items():
        if not got:
            continue
        rows[label] = {
            "wall_s": statistics.median(s["wall"] for s in got),
            "peak_mib": max(s["mib"] for s in got),
            "findings": got[0]["findings"],
            "nnx_codes": got[0]["codes"],
            "exit": sorted({s["rc"] for s in got}),
            "cold_over_tool": ratio(samples[COLD], got) if len(got) == runs else None,
            "samples_s": [round(s["wall"], 4) for s in got],
        }
    result = {
        "corpus": name,
        "files": len(files),
        "lines": lines,
        "runs": runs,
        "warm_runs": warm_runs,
        "rows": rows,
        "warm_over_ruff_cached": ratio(samples[WARM], samples[RUFF_CACHED]),
        "changed_over_ruff_changed": ratio(samples[CHANGED], samples[RUFF_CHANGED]),
        "startup_share_of_changed": ratio(samples[BOOT], samples[CHANGED]),
        "peak_mib_floor": floor,
        "edited_file": edited,
        "commands": {
            label: " ".join(cmd) + " FILES..." for label, cmd in {**cmds, **cached}.items()
        },
    }
    if plugin:
        result["plugin_cold_over_flake8"] = ratio(samples[F8_PLUGIN_COLD], samples["_flake8"])
        result["plugin_over_flake8"] = ratio(samples[F8_PLUGIN], samples["_flake8"])
        result["commands"][F8_PLUGIN] = " ".join([tools["flake8+nnx"], *flake8[1:]]) + " FILES..."
        del rows["_flake8"]
    return result


def bench_plugin(
    root: Path, files: list[str], flake8: list[str], tools: dict, runs: int, samples: dict
) -> None:
    """flake8 without the plugin, then with it cold (no nnx-lint cache: its first run on a
    project) and repeated (the cache the cold run left), in rounds. The plugin's cache is
    the project's (``<root>/.nnx_lint_cache``); emptied, not removed, for a cold run, so that
    the corpus root's own stamp does not change."""
    with_plugin = [tools["flake8+nnx"], *flake8[1:]]
    cache = root / ".nnx_lint_cache"
    samples["_flake8"], samples[F8_PLUGIN_COLD], samples[F8_PLUGIN] = [], [], []
    for r in range(runs):
        log(f"  run {r + 1}/{runs}: flake8 with and without nnx-lint's plugin")
        samples["_flake8"].append(measure(flake8 + files, root))
        for entry in cache.glob("*.pickle") if cache.is_dir() else ():
            entry.unlink()
        samples[F8_PLUGIN_COLD].append(measure(with_plugin + files, root))
        samples[F8_PLUGIN].append(measure(with_plugin + files, root))


def ratio(numerators: list[dict], denominators: list[dict]) -> float:
    return statistics.median(
        n["wall"] / d["wall"] for n, d in zip(numerators, denominators, strict=True)
    )


def startup(base: list[str], python: str) -> dict:
    """Interpreter start-up and imports (nnx-lint imports libcst, via its engine, only when it
    has a file to lint), medians; where the import time goes, from -X importtime. ``python``:
    the interpreter of the nnx-lint measured."""
    full = "import nnx_lint.cli, nnx_lint.engine"
    if subprocess.run([python, "-c", full], capture_output=True).returncode != 0:
        full = "import nnx_lint.cli, libcst"  # the engine moved: libcst is most of it anyway
    cases = {
        "python -c pass": [python, "-c", "pass"],
        "nnx-lint --version": base + ["--version"],
        "import nnx_lint.cli": [python, "-c", "import nnx_lint.cli"],
        FULL_IMPORT: [python, "-c", full],
    }
    result: dict = {
        label: statistics.median(measure(cmd)["wall"] for _ in range(STARTUP_RUNS))
        for label, cmd in cases.items()
    }
    trace = subprocess.run(
        [python, "-X", "importtime", "-c", full], capture_output=True, text=True
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
    runs, warm_runs = res["runs"], res["warm_runs"]
    size = f"{res['files']:,} files, {res['lines']:,} lines"
    print(
        f"\ncorpus {res['corpus']} ({size}), median of {runs} run{'s' if runs > 1 else ''} "
        f"(warm and changed rows: of {warm_runs})"
    )
    print(f"{'tool':<30}{'wall s':>8}{'peak MiB':>10}{'findings':>10}   nnx-lint cold / tool")
    for label, row in res["rows"].items():
        peak = f"{row['peak_mib']:.1f}" if row["peak_mib"] > res["peak_mib_floor"] else "<floor"
        line = f"{label:<30}{row['wall_s']:>8.3f}{peak:>10}{row['findings']:>10}"
        failed = "" if set(row["exit"]) <= {0, 1} else f"   (exit status {row['exit']})"
        cold = row["cold_over_tool"]
        print(f"{line}{'' if cold is None else f'{cold:>10.2f}'}{failed}")
    rows = res["rows"]
    f8, pf = rows[FLAKE8]["cold_over_tool"], rows[PYFLAKES]["cold_over_tool"]
    print(
        f"  cold nnx-lint / flake8 = {f8:.2f} (target <= 0.5: {verdict(f8 <= 0.5)}); "
        f"cold nnx-lint / pyflakes = {pf:.2f}; {rows[COLD]['wall_s'] / res['lines'] * 1e6:.1f} "
        "ms per 1,000 lines"
    )
    warm, changed = res["warm_over_ruff_cached"], res["changed_over_ruff_changed"]
    print(f"  warm nnx-lint / ruff cached = {warm:.2f} (target <= 2.0: {verdict(warm <= 2.0)})")
    print(
        f"  1 file changed nnx-lint / ruff cached, same file changed = {changed:.2f} "
        f"(target <= 3.0: {verdict(changed <= 3.0)})"
    )
    share = res["startup_share_of_changed"]
    print(
        f"  1 file changed ({res['edited_file']}): {rows[CHANGED]['wall_s']:.3f} s, of which "
        f"Python's start-up and that path's imports take {share:.0%}"
    )
    if "plugin_over_flake8" in res:
        repeated, cold = res["plugin_over_flake8"], res["plugin_cold_over_flake8"]
        print(
            f"  flake8 + nnx-lint plugin / flake8, repeated = {repeated:.2f} (target <= 1.15: "
            f"{verdict(repeated <= 1.15)}); cold = {cold:.2f} (target <= 1.3: "
            f"{verdict(cold <= 1.3)})"
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
    parser.add_argument(
        "--corpus", choices=("real", "easydel", "flax-repo", "synthetic", "all"), default="all"
    )
    parser.add_argument("--quick", action="store_true", help="1 run, synthetic 1x only")
    parser.add_argument("--json", metavar="PATH", help="also write the results here")
    parser.add_argument("--jobs", type=int, default=2, help="-j of nnx-lint and flake8 (2)")
    parser.add_argument(
        "--editable",
        action="store_true",
        help="run the nnx-lint of this interpreter's environment (an editable install)",
    )
    for name, version in (("flax", FLAX), ("jax", JAX), ("optax", OPTAX)):
        parser.add_argument(f"--{name}", default=version, help=f"real corpus (default {version})")
    args = parser.parse_args()
    runs = 1 if args.quick else max(args.runs, 1)
    try:
        nnx = nnx_lint(None if args.editable else installed(PLUGIN_VENV))
        bin_dir = venv(TOOLS_VENV)
        tools = {name: str(bin_dir / name) for name in (RUFF, PYFLAKES, FLAKE8)}
        versions = {}
        for name, cmd in (("nnx-lint", nnx[0]), (RUFF, [tools[RUFF]]), (FLAKE8, [tools[FLAKE8]])):
            line = check_call(cmd + ["--version"], f"{name} --version").strip().splitlines()[0]
            line = line.split(" CPython")[0]  # flake8 names its plugins, then the interpreter
            versions[name] = line if line.startswith(name) else f"{name} {line}"
        if re.search(r"nnx", versions[FLAKE8], re.I):
            raise SetupError(f"the tools venv's flake8 has nnx-lint's plugin: {versions[FLAKE8]}")
        corpora: list[tuple[str, Path, dict | None, bool]] = []
        wanted = {args.corpus} if args.corpus != "all" else {"real", "easydel", "flax-repo"}
        if "real" in wanted and not args.quick:
            pins = f"flax=={args.flax} jax=={args.jax} optax=={args.optax}"
            corpora.append(("real", unpacked("real", pins), None, False))
        if "easydel" in wanted and not args.quick:
            corpora.append(("easydel", unpacked("easydel", f"easydel=={EASYDEL}"), None, False))
        if "flax-repo" in wanted and not args.quick:
            root = unpacked("flax-repo", f"flax=={args.flax}", sources=True)
            corpora.append(("flax-repo", root, None, True))
            tools["flake8+nnx"] = str(installed(PLUGIN_VENV) / FLAKE8)
            plugged = check_call([tools["flake8+nnx"], "--version"], "flake8 --version")
            if "nnx-lint" not in plugged:
                raise SetupError(f"the plugin venv's flake8 lacks nnx-lint's plugin: {plugged}")
        if args.corpus in ("synthetic", "all"):
            for scale in SCALES[:1] if args.quick else SCALES:
                corpora.append((f"synthetic-{scale}x", *synthetic_corpus(scale), False))
    except SetupError as exc:
        log(f"setup failed: {exc}")
        return 2
    info = machine()
    log("measuring start-up")
    tools["python"] = str(Path(nnx[0][0]).with_name("python"))  # the measured one's
    start = startup(nnx[0], tools["python"])
    results = []
    warm_runs = 1 if args.quick else max(runs, WARM_RUNS)
    for name, root, seeded, plugin in corpora:
        results.append(bench_corpus(name, root, nnx, tools, runs, warm_runs, args.jobs, plugin))
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
        print(f"{BOOT}: python -c '{CHANGED_IMPORT}', next to each 1-file-changed run.")
    if args.json:
        payload = {"machine": info, "versions": versions, "startup": start, "corpora": results}
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
