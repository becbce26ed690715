"""Corpus conversion: `rulec convert` to five targets vs pySigma converting to one target.

Both are timed as whole commands, from the start of their process to its end (imports, plugin
discovery and worker start-up included), on the same rule folder:

- rulec: `rulec convert -t duckdb -t postgres -t eql -t spl -t kql --format json --cache DIR`,
  each target through its SIEM's default pipeline, on every core; once with an empty cache
  (cold) and once again from it (cached).
- pySigma: one process per back end converting one rule file at a time, as a pySigma CLI does:
  SQLite and DuckDB with no pipeline, Splunk with sysmon + splunk_windows, Elasticsearch EQL with
  ecs_windows, Kusto with microsoft_xdr (the pipelines rulec's targets use by default). Its
  conversion loop alone is printed too. A back end that is not installed is skipped.

The pySigma processes use this interpreter unless `--pysigma-python` names another. Both tools run
from compiled bytecode, as installed packages do: every command runs with bytecode caching on
(`PYTHONDONTWRITEBYTECODE` unset), in a fresh `PYTHONPYCACHEPREFIX` folder that an untimed run
of each command on the bundled `rules/sigma` fills first (an editable rulec in an environment
that writes no bytecode would otherwise compile its sources in every process). Each command's
processor time (user + system, workers included) is printed beside its wall time. On a shared
machine whose speed drifts, `--rounds N` repeats the whole set N times, one round after another,
and prints the ratios of the median wall times.

    python benchmarks/bench_convert.py
    python benchmarks/bench_convert.py --rounds 3
    python benchmarks/bench_convert.py --rules ../shared/corpus/sigma/rules/windows
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
WARM_UP_RULES = ROOT / "rules" / "sigma"  # the untimed run that compiles every module used
TARGETS = ["duckdb", "postgres", "eql", "spl", "kql"]
PYSIGMA_BACKENDS = {
    "sqlite": ("sigma.backends.sqlite", "sqliteBackend", []),
    "duckdb": ("sigma_backend_duckdb", "DuckDBBackend", []),
    "splunk": ("sigma.backends.splunk", "SplunkBackend", ["sysmon", "splunk_windows"]),
    "eql": ("sigma.backends.elasticsearch", "EqlBackend", ["ecs_windows"]),
    "kusto": ("sigma.backends.kusto", "KustoBackend", ["microsoft_xdr"]),
}

PYSIGMA = """
import importlib, sys, time
from pathlib import Path
module, name, pipelines = sys.argv[2], sys.argv[3], sys.argv[4:]
try:
    backend_class = getattr(importlib.import_module(module), name)
except ImportError as error:
    print("missing", error)
    sys.exit()
from sigma.collection import SigmaCollection
from sigma.plugins import InstalledSigmaPlugins
files = sorted(p for p in Path(sys.argv[1]).rglob("*.yml"))
resolver = InstalledSigmaPlugins.autodiscover().get_pipeline_resolver()
backend = backend_class(resolver.resolve(pipelines) if pipelines else None)
started = time.perf_counter()
ok = failed = 0
for path in files:
    try:
        backend.convert(SigmaCollection.from_yaml(path.read_text()))
        ok += 1
    except Exception:
        failed += 1
print(time.perf_counter() - started, ok, failed)
"""
RULEC = "from rulec.compiler.cli import entry; entry()"


ENVIRONMENT = dict(os.environ)  # every command's; `main` sets the bytecode cache


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds of a command, its processor seconds (children included), what it printed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=ENVIRONMENT)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, done.stdout


def warm_up(python: str) -> None:
    """Run every command once, untimed, on a few rules: its modules are then compiled."""
    targets = [arg for target in TARGETS for arg in ("-t", target)]
    timed([sys.executable, "-c", RULEC, "convert", *targets, str(WARM_UP_RULES)])
    for module, name, pipelines in PYSIGMA_BACKENDS.values():
        timed([python, "-c", PYSIGMA, str(WARM_UP_RULES), module, name, *pipelines])


def rulec_figures(folder: Path, jobs: int | None) -> float:
    """Seconds for a cold conversion (the cached one is printed too)."""
    targets = [arg for target in TARGETS for arg in ("-t", target)]
    files = sum(1 for _ in folder.rglob("*.yml"))
    with tempfile.TemporaryDirectory() as cache:
        command = [sys.executable, "-c", RULEC, "convert", *targets, "--format", "json"]
        command += ["--cache", cache, *(["-j", str(jobs)] if jobs else []), str(folder)]
        for label in ("cold", "cached"):
            seconds, cpu, _ = timed(command)
            print(
                f"rulec convert, {files} files, {len(TARGETS)} targets, {label}: "
                f"{seconds:.1f} s ({cpu:.1f} s of processor time)"
            )
            if label == "cold":
                cold = seconds
    return cold


def pysigma_figures(folder: Path, python: str) -> dict[str, float]:
    """Seconds per pySigma back end (one target, one process), for those installed."""
    seconds = {}
    for label, (module, name, pipelines) in PYSIGMA_BACKENDS.items():
        wall, cpu, printed = timed([python, "-c", PYSIGMA, str(folder), module, name, *pipelines])
        words = printed.split()
        if not words or words[0] == "missing":
            print(f"pySigma {label}: not installed ({' '.join(words[1:])})")
            continue
        seconds[label] = wall
        piped = f" + {' + '.join(pipelines)}" if pipelines else ""
        print(
            f"pySigma {label}{piped}, one target: {wall:.1f} s ({cpu:.1f} s of processor time; "
            f"conversion loop {float(words[0]):.1f} s; {words[1]} ok, {words[2]} failed)"
        )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, default=SHARED / "corpus" / "sigma" / "rules")
    parser.add_argument("--jobs", type=int, default=None, help="rulec worker processes")
    parser.add_argument("--pysigma-python", default=sys.executable, help="python with pySigma")
    parser.add_argument("--rounds", type=int, default=1, help="repeat everything N times")
    args = parser.parse_args()
    bytecode = tempfile.TemporaryDirectory()
    ENVIRONMENT.pop("PYTHONDONTWRITEBYTECODE", None)
    ENVIRONMENT["PYTHONPYCACHEPREFIX"] = bytecode.name
    warm_up(args.pysigma_python)
    rulec: list[float] = []
    pysigma: dict[str, list[float]] = {}
    for round_number in range(1, args.rounds + 1):
        if args.rounds > 1:
            print(f"round {round_number}")
        cold = rulec_figures(args.rules, args.jobs)
        rulec.append(cold)
        for label, seconds in pysigma_figures(args.rules, args.pysigma_python).items():
            pysigma.setdefault(label, []).append(seconds)
            ratio = seconds / cold
            print(f"ratio pySigma {label} (1 target) / rulec cold (5 targets): {ratio:.2f}")
    if args.rounds > 1:
        middle = statistics.median(rulec)
        for label, times in pysigma.items():
            ratio = statistics.median(times) / middle
            print(f"median ratio pySigma {label} / rulec cold, {args.rounds} rounds: {ratio:.2f}")


if __name__ == "__main__":
    main()
