"""Single pass vs one query per rule: the Windows Sigma rules over generated events.

Each measurement runs in a child process of its own, so its peak memory (max RSS) is its own.
The events file gets a NULL column for every field a rule names that the data lacks (as a SIEM
table's schema would have), so that every rule runs. One query per rule can be measured on a
sample of the rules (`--per-rule-sample`); its time is then scaled to all rules, and says so.

    python benchmarks/generate_events.py --events 1000000 --out /tmp/rulec-bench/1m
    python benchmarks/bench_run.py --events /tmp/rulec-bench/1m.parquet --per-rule-sample 200
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
RULES = SHARED / "corpus" / "sigma" / "rules" / "windows"


def load_queries(folder: Path, cache: Path) -> list:
    """The rules as IR (pickled to `cache`: pySigma takes a minute over the Windows rules)."""
    from rulec.compiler import ir
    from rulec.compiler.rules import discover, load_rules

    if cache.is_file():
        return pickle.loads(cache.read_bytes())
    queries = [
        q for path in discover([folder]) for q in load_rules(path) if isinstance(q, ir.Query)
    ]
    cache.write_bytes(pickle.dumps(queries))
    return queries


def widened(events: Path, queries: list) -> Path:
    """The events with a NULL text column for each field the rules name and the data lacks."""
    import duckdb

    from rulec.backends.sql import SqlBackend

    out = events.with_name(events.stem + ".wide.parquet")
    if out.is_file():
        return out
    connection = duckdb.connect()
    have = {d[0] for d in connection.execute(f"DESCRIBE SELECT * FROM '{events}'").fetchall()}
    fields: set[str] = set()
    backend = SqlBackend("duckdb")
    for query in queries:
        fields |= {c.name for c in backend.build(query).find_all(__import__("sqlglot").exp.Column)}
    missing = sorted(f for f in fields - have if not f.startswith("_"))
    extra = "".join(f', CAST(NULL AS VARCHAR) AS "{f}"' for f in missing)
    connection.execute(f"COPY (SELECT *{extra} FROM '{events}') TO '{out}' (FORMAT PARQUET)")
    return out


def measure(args: argparse.Namespace) -> dict:
    """One measurement, in this process."""
    from rulec.compiler.engines import DuckDBEngine
    from rulec.compiler.events import load_events
    from rulec.compiler.multirule import run_rules

    queries = load_queries(args.rules, args.ir_cache)
    if args.sample:
        queries = random.Random(8).sample(queries, min(args.sample, len(queries)))
    started = time.perf_counter()
    engine = DuckDBEngine(materialize=args.materialize)
    runs = run_rules(
        queries, load_events([str(args.events)]), engine=engine, strategy=args.strategy
    )
    seconds = time.perf_counter() - started
    return {
        "strategy": args.strategy,
        "rules": len(queries),
        "seconds": round(seconds, 2),
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "matched_rules": sum(1 for r in runs if r.ok and r.rows),
        "failed_rules": sum(1 for r in runs if not r.ok),
        "matches": sum(len(r.rows) for r in runs if r.ok),
    }


def child(args: argparse.Namespace, events: Path, strategy: str, sample: int) -> dict:
    command = [sys.executable, __file__, "--child", "--events", str(events)]
    command += ["--strategy", strategy, "--sample", str(sample), "--ir-cache", str(args.ir_cache)]
    command += ["--rules", str(args.rules)] + (["--materialize"] if args.materialize else [])
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--rules", type=Path, default=RULES)
    parser.add_argument("--ir-cache", type=Path, default=Path("/tmp/rulec-bench/windows-ir.pickle"))
    parser.add_argument("--strategies", default="lowered,or-list")
    parser.add_argument("--per-rule-sample", type=int, default=0, help="0: all rules")
    parser.add_argument("--rules-sample", type=int, default=0, help="0: all rules")
    parser.add_argument("--materialize", action="store_true", help="load Parquet into a table")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--strategy", default="or-list", help=argparse.SUPPRESS)
    parser.add_argument("--sample", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        return
    queries = load_queries(args.rules, args.ir_cache)
    events = widened(args.events, queries)
    import duckdb

    count = duckdb.connect().execute(f"SELECT count(*) FROM '{events}'").fetchone()[0]
    print(f"{count} events, {args.rules_sample or len(queries)} rules, file {events}")
    results = {s: child(args, events, s, args.rules_sample) for s in args.strategies.split(",")}
    per_rule = child(args, events, "per-rule", args.per_rule_sample or args.rules_sample)
    single_rules = next(iter(results.values()))["rules"]
    scale = single_rules / per_rule["rules"]
    per_rule_all = per_rule["seconds"] * scale
    for name, result in results.items():
        rate = count / result["seconds"] / 2
        print(f"single pass {name}: {json.dumps(result)}; {rate:,.0f} events/s/core (2 cores)")
    note = f" (measured on {per_rule['rules']} rules, scaled x{scale:.1f})" if scale > 1 else ""
    print(f"one query per rule: {json.dumps(per_rule)}; all rules {per_rule_all:.1f} s{note}")
    best = min(r["seconds"] for r in results.values())
    print(f"ratio one-query-per-rule / best single pass: {per_rule_all / best:.1f}x")


if __name__ == "__main__":
    main()
