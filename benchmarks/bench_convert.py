"""Corpus conversion: rulec to five targets, each through its SIEM's default pipeline (all cores,
then from its cache), vs pySigma to one.

pySigma runs in its own virtual environment (its SQLite backend may pin another pySigma than
rulec's), one rule at a time, the way a pySigma CLI converts:

    python -m venv /tmp/pysigma-venv && /tmp/pysigma-venv/bin/pip install pysigma-backend-sqlite
    python benchmarks/bench_convert.py --pysigma-python /tmp/pysigma-venv/bin/python
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from rulec.backends.pipelines import pipeline_sets
from rulec.compiler.batch import convert_corpus
from rulec.compiler.rules import discover

SHARED = Path(__file__).resolve().parents[2] / "shared"
TARGETS = ["duckdb", "postgres", "eql", "spl", "kql"]
GROUPS = pipeline_sets(TARGETS)

PYSIGMA = """
import sys, time
from pathlib import Path
from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
files = sorted(p for p in Path(sys.argv[1]).rglob("*.yml"))
backend = sqliteBackend()
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


def rulec_figures(folder: Path, workers: int | None) -> None:
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


def pysigma_figures(folder: Path, python: str) -> float:
    done = subprocess.run(
        [python, "-c", PYSIGMA, str(folder)], capture_output=True, text=True, check=True
    )
    seconds, ok, failed = done.stdout.split()
    print(f"pySigma sqlite, one target, one process: {float(seconds):.1f} s", end=" ")
    print(f"({ok} ok, {failed} failed)")
    return float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, default=SHARED / "corpus" / "sigma" / "rules")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--pysigma-python", help="python of a venv with pysigma-backend-sqlite")
    args = parser.parse_args()
    started = time.perf_counter()
    rulec_figures(args.rules, args.workers)
    rulec_cold = time.perf_counter() - started
    if args.pysigma_python:
        pysigma = pysigma_figures(args.rules, args.pysigma_python)
        ratio = pysigma / rulec_cold
        print(f"ratio pySigma (1 target) / rulec (5 targets, cold + cached run): {ratio:.2f}")


if __name__ == "__main__":
    main()
