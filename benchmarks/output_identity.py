"""Outputs kept byte-identical across a refactoring: save every conversion, then compare.

Converts SigmaHQ's rule folders (`../shared/corpus/sigma/rules*`) and the bundled `rules/` to the
five targets (duckdb, postgres, eql, spl, kql) with `--format json`, every reported approximation
allowed so that correlations and other approximated forms are written too, and the deploy formats
(`--format elastic-eql`, ...: one artefact file per rule). `--save DIR` writes them into DIR (one
JSON file per folder and format, by rule); `--compare DIR` converts again and lists, with a diff,
every rule whose output differs (exit 1 if any does).

    python benchmarks/output_identity.py --save /tmp/outputs-before
    python benchmarks/output_identity.py --compare /tmp/outputs-before
"""

from __future__ import annotations

import argparse
import difflib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TARGETS = ["duckdb", "postgres", "eql", "spl", "kql"]
DEPLOY_FORMATS = ["elastic-eql", "elastic-threshold", "splunk-savedsearch", "sentinel", "defender"]
ALLOW = "bucket,case,runs,numeric,empty,time-format"


def folders() -> dict[str, Path]:
    """The rule folders converted, by the name of their output file."""
    found = {p.name: p for p in sorted((SHARED / "corpus" / "sigma").glob("rules*")) if p.is_dir()}
    found["bundled"] = ROOT / "rules"
    return found


def convert(folder: Path, options: list[str]) -> str:
    """One `rulec convert` run's standard output."""
    command = [
        sys.executable,
        "-c",
        "from rulec.compiler.cli import main; main()",
        "convert",
        str(folder),
    ]
    done = subprocess.run(
        [*command, *options], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command + options)} failed:\n{done.stderr}")
    return done.stdout.replace(f"{folder}/", "")  # rule paths relative to their folder


def by_rule(text: str) -> dict[str, str]:
    """JSON lines by rule and target, so that a difference names its rule."""
    lines = {}
    for line in text.splitlines():
        record = json.loads(line)
        lines[f"{record['rule']} [{record['target']}]"] = line
    return lines


def artefacts(folder: Path, form: str) -> dict[str, str]:
    """A deploy format's artefact files (`-o DIR/`), by path."""
    with tempfile.TemporaryDirectory() as out:
        convert(folder, ["--format", form, "-o", f"{out}/"])
        return {
            str(p.relative_to(out)): p.read_text()
            for p in sorted(Path(out).rglob("*"))
            if p.is_file()
        }


def outputs() -> dict[str, dict[str, str]]:
    """Every output by set (`<folder>` or `<folder>.<format>`), then by rule."""
    result = {}
    targets = [option for target in TARGETS for option in ("-t", target)]
    for name, folder in folders().items():
        result[name] = by_rule(convert(folder, [*targets, "--format", "json", "--allow", ALLOW]))
        for form in DEPLOY_FORMATS:
            result[f"{name}.{form}"] = artefacts(folder, form)
    return result


def compare(saved: Path) -> int:
    """Print each output that differs from the saved one, with its diff; count them."""
    changed = 0
    for name, now in outputs().items():
        path = saved / f"{name}.json"
        before = json.loads(path.read_text()) if path.exists() else {}
        for key in sorted(before.keys() | now.keys()):
            if before.get(key) != now.get(key):
                changed += 1
                print(f"{name}: {key}")
                old, new = before.get(key, "").splitlines(), now.get(key, "").splitlines()
                if old and old[0].startswith("{"):
                    old, new = (
                        json.dumps(json.loads(t[0]), indent=1).splitlines() if t else []
                        for t in (old, new)
                    )
                diff = list(difflib.unified_diff(old, new, lineterm="", n=1))[2:40]
                print("\n".join("    " + line for line in diff))
    print(f"{changed} output(s) differ")
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", type=Path, help="write the outputs into this folder")
    group.add_argument("--compare", type=Path, help="compare with the outputs saved here")
    args = parser.parse_args()
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        for name, texts in outputs().items():
            (args.save / f"{name}.json").write_text(json.dumps(texts, indent=0, sort_keys=True))
        print(f"saved to {args.save}")
    else:
        sys.exit(1 if compare(args.compare) else 0)


if __name__ == "__main__":
    main()
