"""Spark (a local session) vs DuckDB: the same rules over the same Parquet events.

DuckDB runs the rules in one pass (`multirule.run_rules`); Spark runs the same compiled queries,
batched into Spark jobs (`engine_choice.run_each`), reading the Parquet file itself. Both must give
the same rows; the script says when they do not. Spark's session start is timed on its own.

    python benchmarks/generate_events.py --events 1000000 --out /tmp/rulec-bench/1m
    python benchmarks/bench_spark.py --events /tmp/rulec-bench/1m.parquet --sample 100
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
RULES = SHARED / "corpus" / "sigma" / "rules" / "windows" / "process_creation"


def load_queries(folder: Path, sample: int) -> list:
    from rulec.compiler import ir
    from rulec.compiler.rules import discover, load_rules

    paths = sorted(discover([folder]))
    if sample:
        paths = random.Random(8).sample(paths, min(sample, len(paths)))
    return [q for path in paths for q in load_rules(path) if isinstance(q, ir.Query)]


def timed(label: str, work):
    started = time.perf_counter()
    result = work()
    print(f"{label:<34} {time.perf_counter() - started:>9.1f} s", flush=True)
    return result


def summary(runs) -> tuple[int, int, int]:
    """(rules that matched, rules that failed, rows)."""
    ok = [r for r in runs if r.ok]
    return sum(1 for r in ok if r.rows), len(runs) - len(ok), sum(len(r.rows) for r in ok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=Path, required=True, help="a Parquet file")
    parser.add_argument("--rules", type=Path, default=RULES)
    parser.add_argument("--sample", type=int, default=100, help="random rules; 0: all")
    parser.add_argument("--master", default="local[*]")
    args = parser.parse_args()

    from rulec.compiler.run.engine_choice import run_each
    from rulec.compiler.run.engines_spark import SparkEngine
    from rulec.compiler.run.events import load_events
    from rulec.compiler.run.multirule.runner import run_rules

    queries = load_queries(args.rules, args.sample)
    events = load_events([str(args.events)])
    rows = sum(events.files.counts) if events.files and events.files.counts else "?"
    print(f"{len(queries)} rules from {args.rules}; {rows} events; {os.cpu_count()} cores")
    duck = timed("duckdb: one pass", lambda: run_rules(queries, events))
    engine = timed(f"spark: session start ({args.master})", lambda: SparkEngine(args.master))
    spark = timed(
        "spark: batched queries", lambda: run_each(queries, engine, events, {}, None, None)
    )
    for name, runs in (("duckdb", duck), ("spark", spark)):
        matched, failed, total = summary(runs)
        print(f"{name}: {matched} rules matched, {failed} failed, {total} rows")
    differ = [
        i for i, (d, s) in enumerate(zip(duck, spark, strict=True)) if d.ok and d.rows != s.rows
    ]
    print(f"rules whose rows differ: {len(differ)}")


if __name__ == "__main__":
    main()
