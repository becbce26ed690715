"""Single pass vs one query per rule: the Windows Sigma rules over generated events; and
`rulec run` over real EVTX recordings, against Zircolite on the same files and rules.

Each measurement runs in a child process of its own, so its peak memory (max RSS) is its own.
The events file gets a NULL column for every field a rule names that the data lacks (as a SIEM
table's schema would have), so that every rule runs. One query per rule can be measured on a
sample of the rules (`--per-rule-sample`); its time is then scaled to all rules, and says so.

    python benchmarks/generate_events.py --events 1000000 --out /tmp/rulec-bench/1m
    nice python benchmarks/bench_run.py --events /tmp/rulec-bench/100k.parquet \
        /tmp/rulec-bench/1m.parquet --rules-counts 300,0 --per-rule-sample 100
    nice python benchmarks/bench_run.py --events /tmp/rulec-bench/5m.parquet --single-pass-only

Each line gives events, rules, strategy, seconds, events/s/core (events/s over os.cpu_count()),
peak RSS and matches; rule subsets and the per-rule sample are random (seed 8).

`--evtx FOLDER` times the whole `rulec run` command (start to end) over the folder's EVTX files:
the rules converted in the run, then with `--cache` (a new folder: filled, then read back); with
`--zircolite PATH` (a checkout of Zircolite and a Python that has its requirements,
`--zircolite-python`), Zircolite runs right after it on the same files and rules (converting
them itself, with the `sysmon` and `windows-logsources` pipelines, and saving what it
converted; then reading that), round by round, and the CPU-time and peak-memory ratios are
printed (rulec converting against Zircolite converting, rulec reading its cache against
Zircolite reading its converted rules):

    nice python benchmarks/bench_run.py --evtx ../shared/evtx/EVTX-ATTACK-SAMPLES \
        --zircolite /tmp/zircolite --zircolite-python /tmp/zircolite-venv/bin/python --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORES = os.cpu_count() or 1
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
    from rulec.compiler.run.engines import DuckDBEngine
    from rulec.compiler.run.events import load_events
    from rulec.compiler.run.multirule.runner import run_rules

    queries = load_queries(args.rules, args.ir_cache)
    if args.sample:
        queries = random.Random(8).sample(queries, min(args.sample, len(queries)))
    started = time.perf_counter()
    engine = DuckDBEngine(materialize=args.materialize)
    runs = run_rules(
        queries, load_events([str(args.events[0])]), engine=engine, strategy=args.strategy
    )
    # rule by rule and a chunk of rows at a time, as `rulec run` prints them
    counts = [sum(len(rows) for rows in r.chunks()) for r in runs if r.ok]
    seconds = time.perf_counter() - started
    return {
        "strategy": args.strategy,
        "rules": len(queries),
        "seconds": round(seconds, 2),
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "matched_rules": sum(1 for count in counts if count),
        "failed_rules": len(runs) - len(counts),
        "matches": sum(counts),
    }


def child(args: argparse.Namespace, events: Path, strategy: str, sample: int) -> dict:
    command = [sys.executable, __file__, "--child", "--events", str(events)]
    command += ["--strategy", strategy, "--sample", str(sample), "--ir-cache", str(args.ir_cache)]
    command += ["--rules", str(args.rules)] + (["--materialize"] if args.materialize else [])
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def line(result: dict, events: int, scaled_to: int = 0) -> str:
    """One measurement as a table row; a per-rule time measured on a sample is scaled."""
    seconds = result["seconds"] * (scaled_to / result["rules"] if scaled_to else 1)
    rules = scaled_to or result["rules"]
    note = f"  (measured on {result['rules']} random rules, x{scaled_to / result['rules']:.1f})"
    rate = events / seconds / CORES
    return (
        f"{events:>9,} {rules:>6} {result['strategy']:<10} {seconds:>9.1f} {rate:>12,.0f} "
        f"{result['peak_mib']:>8} {result['matched_rules']:>7} {result['matches']:>8}"
        + (note if scaled_to and scaled_to != result["rules"] else "")
    )


def timed_command(command: list[str], cwd: Path | None = None) -> tuple[float, int, str]:
    """CPU seconds (user + system, its children included) and peak RSS (MiB) of a command run
    to its end, and its standard output."""
    with subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as p:
        out = p.stdout.read().decode() if p.stdout else ""
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode not in (0, 1):
        raise SystemExit(f"{command[0]} failed ({p.returncode}): {' '.join(command)}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024, out


def evtx_rounds(args: argparse.Namespace) -> None:
    """`rulec run` over the EVTX folder (without a cache, then filling one, then reading it), and
    Zircolite after it each round (converting the rules, then reading the rules it converted),
    with the ratios."""
    files = sorted(args.evtx.rglob("*.evtx"))
    rulec = [str(Path(sys.executable).with_name("rulec")), "run", str(args.rules)]
    rulec += ["--events", str(args.evtx), "--format", "json"]
    print(f"{len(files)} EVTX files in {args.evtx}; rules {args.rules}")
    print(f"{'round':>5} {'command':<28} {'CPU s':>8} {'peak MiB':>9} {'matches':>8}")
    for number in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory() as work:
            cache = ["--cache", str(Path(work) / "cache")]
            measured = {}
            for label, command in (
                ("rulec", rulec),
                ("rulec --cache (filling it)", rulec + cache),
                ("rulec --cache (reading it)", rulec + cache),
            ):
                cpu, peak, out = timed_command(command)
                found = sum(json.loads(line).get("matches", 0) for line in out.splitlines() if line)
                print(f"{number:>5} {label:<28} {cpu:>8.1f} {peak:>9} {found:>8}")
                measured[label] = (cpu, peak)
            if args.zircolite is None:
                continue
            converting = zircolite(args, Path(work), pipelines=True)
            converted = zircolite(args, Path(work), pipelines=False)
        for (label, (zcpu, zpeak)), ours in (
            (converting, measured["rulec"]),
            (converted, measured["rulec --cache (reading it)"]),
        ):
            print(
                f"{'':>5} ratio rulec / {label}: CPU {ours[0] / zcpu:.2f}, "
                f"peak memory {ours[1] / zpeak:.2f}"
            )


def zircolite(
    args: argparse.Namespace, work: Path, pipelines: bool
) -> tuple[str, tuple[float, int]]:
    """Zircolite over the same files: converting the Sigma rules itself (`pipelines`; the
    ruleset it converts is saved in `work`), or reading the ruleset that run saved."""
    found = work / "detected.json"
    command = [args.zircolite_python, str(args.zircolite / "zircolite.py")]
    command += ["--evtx", str(args.evtx.resolve()), "--quiet"]
    command += ["--outfile", str(found), "--logfile", str(work / "z.log")]
    saved = work / "ruleset.json"
    if pipelines:
        command += ["--ruleset", str(args.rules.resolve()), "--save-ruleset"]
        command += ["--pipeline", "sysmon", "--pipeline", "windows-logsources"]
        before = set(args.zircolite.glob("*.json"))
    else:
        command += ["--ruleset", str(saved)]
    cpu, peak, _ = timed_command(command, cwd=args.zircolite)
    if pipelines:
        (written,) = set(args.zircolite.glob("*.json")) - before
        written.replace(saved)
    detected = json.loads(found.read_text()) if found.is_file() else []
    matches = sum(d.get("count", len(d.get("matches", []))) for d in detected)
    label = "zircolite (converting)" if pipelines else "zircolite (converted rules)"
    print(f"{'':>5} {label:<28} {cpu:>8.1f} {peak:>9} {matches:>8}")
    return label, (cpu, peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=Path, nargs="+")
    parser.add_argument("--evtx", type=Path, help="time `rulec run` over this folder's EVTX files")
    parser.add_argument("--zircolite", type=Path, help="a Zircolite checkout, run after rulec")
    parser.add_argument("--zircolite-python", default="python3", help="Python for Zircolite")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the EVTX comparison")
    parser.add_argument("--rules", type=Path, default=RULES)
    parser.add_argument("--ir-cache", type=Path, default=Path("/tmp/rulec-bench/windows-ir.pickle"))
    parser.add_argument("--strategies", default="prefilter")
    parser.add_argument("--per-rule-sample", type=int, default=0, help="0: all rules")
    parser.add_argument(
        "--single-pass-only", action="store_true", help="no one-query-per-rule comparison"
    )
    parser.add_argument("--rules-counts", default="0", help="comma-separated; 0: all rules")
    parser.add_argument("--materialize", action="store_true", help="load Parquet into a table")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--strategy", default="prefilter", help=argparse.SUPPRESS)
    parser.add_argument("--sample", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        return
    if args.evtx:
        evtx_rounds(args)
    if not args.events:
        return
    import duckdb

    queries = load_queries(args.rules, args.ir_cache)
    counts = [int(c) or len(queries) for c in args.rules_counts.split(",")]
    print(f"{len(queries)} rules in {args.rules}; {CORES} cores; events/s/core = events/s/{CORES}")
    print(
        f"{'events':>9} {'rules':>6} {'strategy':<10} {'seconds':>9} {'ev/s/core':>12} "
        f"{'peak MiB':>8} {'matched':>7} {'matches':>8}"
    )
    for path in args.events:
        events = widened(path, queries)
        count = duckdb.connect().execute(f"SELECT count(*) FROM '{events}'").fetchone()[0]
        for rules in counts:
            sample = 0 if rules == len(queries) else rules
            best = None
            for strategy in args.strategies.split(","):
                result = child(args, events, strategy, sample)
                print(line(result, count))
                best = min(best or result["seconds"], result["seconds"])
            if args.single_pass_only:
                continue
            per_rule = child(args, events, "per-rule", min(args.per_rule_sample or rules, rules))
            print(line(per_rule, count, scaled_to=rules))
            ratio = per_rule["seconds"] * rules / per_rule["rules"] / best
            print(f"{'':>9} {'':>6} ratio one query per rule / single pass: {ratio:.1f}x")


if __name__ == "__main__":
    main()
