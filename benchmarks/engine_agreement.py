"""Per engine, on SigmaHQ's regression cases: how often does it return the reference's matches?

    nice python benchmarks/engine_agreement.py [--shared ../shared] [-t TARGET ...] [--json FILE]

Each case's rule (its own field names, no pipeline) runs on the reference executor and on each
target's engine over the case's flattened events, through `rulec verify`'s comparison
(`compiler/run/equivalence.py`). Per target the table counts the cases it can express (its back end
emits the rule), those whose engine returns the reference's number of matches, those returning
the very same rows, and those the engine cannot run. PostgreSQL runs when the libpq environment
(PGHOST, PGUSER, ...) reaches a server; Spark when named with `-t spark`.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from rulec.compiler import ir
from rulec.compiler.rules import load_rules
from rulec.compiler.run.engine_choice import make_engine
from rulec.compiler.run.engines import EngineLimit
from rulec.compiler.run.equivalence import Inputs, differences
from rulec.compiler.run.events import load_events
from rulec.compiler.run.executor import execute

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("-t", "--target", dest="targets", action="append")
    parser.add_argument("--json", type=Path, help="Write the per-case outcomes here.")
    args = parser.parse_args()
    cases_file = args.shared / "regression" / "cases.jsonl"
    cases = [json.loads(line) for line in cases_file.read_text().splitlines() if line.strip()]
    engines = {}
    for name in args.targets or ["eql", "kql", "spl", "postgres"]:
        try:
            engines[name] = make_engine(name)
        except Exception as error:
            print(f"{name}: left out, its engine cannot start ({error})")
    counts = {name: Counter() for name in engines}
    outcomes = []
    for case in cases:
        (query,) = load_rules(args.shared / case["rule"])
        if isinstance(query, ir.Diagnostic):
            continue
        inputs = Inputs(load_events([str(args.shared / case["flat_path"])]), {})
        reference = execute(query, inputs.events)
        for name, engine in engines.items():
            status = outcome(query, inputs, engine, reference)
            counts[name].update(status)
            outcomes.append({"case": case["id"], "target": name, "status": sorted(status)})
    print(f"{len(cases)} regression cases")
    print("| engine | cases it can express | same match count | same rows | cannot run |")
    print("|---|---|---|---|---|")
    for name, count in counts.items():
        expressed = count["expressed"]
        share = f"{count['count'] / expressed:.1%}" if expressed else "-"
        print(
            f"| {name} | {expressed} | {count['count']} ({share}) | {count['rows']} "
            f"| {count['cannot-run']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(outcomes, indent=1))


def outcome(query: ir.Query, inputs: Inputs, engine: object, reference: list) -> set[str]:
    """What happened: expressed, and then count and rows (agreement) or cannot-run."""
    try:
        if hasattr(engine, "run_query"):
            engine.emit(query, None, None)
    except ir.RuleError:
        return set()
    try:
        if hasattr(engine, "run_query"):
            got = engine.run_query(query, inputs.events, {}, None, None)
        else:
            got = execute(query, inputs.events, engine=engine)
    except ir.RuleError:
        return set()  # a SQL engine's back end reports the rule
    except EngineLimit:
        return {"expressed", "cannot-run"}
    except Exception:
        return {"expressed", "error"}
    status = {"expressed"}
    if len(got) == len(reference):
        status.add("count")
    if differences(reference, got, inputs) == ([], []):
        status.add("rows")
    return status


if __name__ == "__main__":
    main()
