"""Corpus conversion: rulec to five targets, each through its SIEM's default pipeline (all cores,
then from its cache), vs pySigma converting the same files to one target at a time.

pySigma runs in a child process, one rule file at a time as a pySigma CLI converts, once per
backend: SQLite and DuckDB with no pipeline, Splunk with sysmon + splunk_windows, Elasticsearch
EQL with ecs_windows, Kusto with microsoft_xdr (the pipelines rulec's targets use by default).
The child's interpreter is this one unless `--pysigma-python` names another (a venv whose pySigma
backends are installed); a backend that is not installed is reported and skipped.

    python benchmarks/bench_convert.py
    python benchmarks/bench_convert.py --rules ../shared/corpus/sigma/rules/windows --workers 1
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rulec.backends.pipelines import pipeline_sets
from rulec.compiler.batch import convert_corpus
from rulec.compiler.rules import discover

SHARED = Path(__file__).resolve().parents[2] / "shared"
TARGETS = ["duckdb", "postgres", "eql", "spl", "kql"]
GROUPS = pipeline_sets(TARGETS)

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
from sigma.collection import SigmaCollection
from sigma.plugins import InstalledSigmaPlugins
module, name, pipelines = sys.argv[2], sys.argv[3], sys.argv[4:]
try:
    backend_class = getattr(importlib.import_module(module), name)
except ImportError as error:
    print("missing", error)
    sys.exit()
files = sorted(p for p in Path(sys.argv[1]).rglob("*.yml"))
resolver = InstalledSigmaPlugins.autodiscover().get_pipeline_resolver()
started = time.perf_counter()
backend = backend_class(resolver.resolve(pipelines) if pipelines else None)
ok = failed = 0
for path in files:
    try:
        backend.convert(SigmaCollection.from_yaml(path.read_text()))
        ok += 1
    except Exception:
        failed += 1
print(time.perf_counter() - started, ok, failed)
"""


def rulec_figures(folder: Path, workers: int | None) -> float:
    """Seconds for a cold conversion (then prints the cached one too)."""
    files = discover([folder])
    with tempfile.TemporaryDirectory() as cache:
        for label in ("cold", "cached"):
            started = time.perf_counter()
            results = convert_corpus(files, GROUPS, cache_dir=Path(cache), workers=workers)
            seconds = time.perf_counter() - started
            outcomes = [o for r in results for o in r.outcomes]
            ok = sum(o.ok for o in outcomes)
            print(
                f"rulec {label}: {len(files)} files x {len(TARGETS)} targets in {seconds:.1f} s "
                f"({ok}/{len(outcomes)} outcomes ok, workers={workers or 'all cores'})"
            )
            if label == "cold":
                cold = seconds
    print(f"rulec cold, per file per target: {cold / len(files) / len(TARGETS) * 1000:.2f} ms")
    return cold


def pysigma_figures(folder: Path, python: str) -> dict[str, float]:
    """Seconds per pySigma backend (one target, one process), for those installed."""
    seconds = {}
    for label, (module, name, pipelines) in PYSIGMA_BACKENDS.items():
        done = subprocess.run(
            [python, "-c", PYSIGMA, str(folder), module, name, *pipelines],
            capture_output=True,
            text=True,
            check=True,
        )
        words = done.stdout.split()
        if words[0] == "missing":
            print(f"pySigma {label}: not installed ({' '.join(words[1:])})")
            continue
        seconds[label] = float(words[0])
        piped = f" + {' + '.join(pipelines)}" if pipelines else ""
        print(
            f"pySigma {label}{piped}, one target, one process: {seconds[label]:.1f} s "
            f"({words[1]} ok, {words[2]} failed)"
        )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, default=SHARED / "corpus" / "sigma" / "rules")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--pysigma-python", default=sys.executable, help="python with pySigma")
    args = parser.parse_args()
    cold = rulec_figures(args.rules, args.workers)
    for label, seconds in pysigma_figures(args.rules, args.pysigma_python).items():
        print(f"ratio pySigma {label} (1 target) / rulec cold (5 targets): {seconds / cold:.2f}")


if __name__ == "__main__":
    main()
