"""KQL coverage per target: the queries Microsoft's parser accepts that `rulec convert` converts.

    nice python benchmarks/kql_coverage.py [FOLDER ...] [-t TARGET ...] [--reasons N]

Each `.kql` file of each folder (by default `../shared/corpus/kql`'s collections) goes through
Microsoft's parser (`tests/kql_oracle/oracle.js`, Kusto.Language from npm; `npm ci` there first)
and through `rulec convert --format json`, as a user runs it. Only the files Microsoft accepts
count, and of those only files that hold a query: an empty file (or one of comments only) is
accepted by Microsoft's parser but holds nothing to convert; how many there were is printed.
Prints, per folder and in all, how many of them convert to each target and to kql and duckdb
both, then the most frequent failure reasons per target (numbers and quoted text masked).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORACLE = ROOT / "tests" / "kql_oracle"
CORPUS = ROOT.parent / "shared" / "corpus" / "kql"
TARGETS = ("kql", "duckdb", "postgres")
CHUNK = 200  # files per `node` command line


def microsoft_accepts(files: list[Path]) -> set[str]:
    """The files Microsoft's parser reads without a syntax diagnostic."""
    accepted: set[str] = set()
    for start in range(0, len(files), CHUNK):
        command = ["node", str(ORACLE / "oracle.js"), *map(str, files[start : start + CHUNK])]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        rows = [json.loads(line) for line in output.splitlines()]
        accepted |= {str(Path(row["file"]).resolve()) for row in rows if not row["diagnostics"]}
    return accepted


def holds_query(path: Path) -> bool:
    """Whether the file has any text besides blank lines and `//` comments."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return any(line.strip() and not line.strip().startswith("//") for line in lines)


def converted(folder: Path, targets: list[str]) -> list[dict]:
    """`rulec convert`'s JSON outcomes for every file of `folder`."""
    rulec = shutil.which("rulec", path=str(Path(sys.executable).parent)) or "rulec"
    command = [rulec, "convert", "--format", "json"]
    command += [arg for target in targets for arg in ("-t", target)] + [str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def reason(outcome: dict) -> str:
    message = outcome.get("error", {}).get("message", "")
    return re.sub(r'"[^"]*"|`[^`]*`|\b\d+\b', "…", message)[:90]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("-t", "--target", action="append", dest="targets")
    parser.add_argument("--reasons", type=int, default=8, help="failure reasons shown per target")
    args = parser.parse_args()
    if shutil.which("node") is None or not (ORACLE / "node_modules").is_dir():
        sys.exit(f"Microsoft's parser is needed: install Node.js and run `npm ci` in {ORACLE}")
    folders = args.folders or sorted(p for p in CORPUS.iterdir() if p.is_dir())
    targets = args.targets or list(TARGETS)
    totals: Counter[str] = Counter()
    reasons: dict[str, Counter[str]] = {t: Counter() for t in targets}
    print("| folder | accepted | " + " | ".join(targets) + " | kql and duckdb |")
    print("|---" * (len(targets) + 3) + "|")
    for folder in folders:
        files = sorted(p.resolve() for p in folder.rglob("*.kql"))
        accepted = microsoft_accepts(files)
        empty = {str(f) for f in files if str(f) in accepted and not holds_query(f)}
        accepted -= empty
        totals["empty"] += len(empty)
        ok: dict[str, set[str]] = {t: set() for t in targets}
        for outcome in converted(folder, targets):
            rule = str(Path(outcome["rule"]).resolve())
            if rule not in accepted or outcome["target"] not in ok:
                continue
            if outcome["ok"]:
                ok[outcome["target"]].add(rule)
            else:
                reasons[outcome["target"]][reason(outcome)] += 1
        both = ok.get("kql", set()) & ok.get("duckdb", set())
        counts = {t: len(ok[t]) for t in targets} | {"both": len(both)}
        totals.update(counts | {"accepted": len(accepted)})
        print(row(folder.name, len(accepted), counts, targets))
    print(row("all", totals["accepted"], totals, targets))
    print(f"\nnot counted: {totals['empty']} accepted files without a query (empty or comments)")
    for target in targets:
        print(f"\n{target}: most frequent failure reasons")
        for text, count in reasons[target].most_common(args.reasons):
            print(f"  {count:5}  {text}")


def row(name: str, accepted: int, counts: dict, targets: list[str]) -> str:
    cells = [f"{counts[k]:,} ({counts[k] / max(accepted, 1):.1%})" for k in [*targets, "both"]]
    return f"| {name} | {accepted:,} | " + " | ".join(cells) + " |"


if __name__ == "__main__":
    main()
