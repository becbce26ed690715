"""Sigma coverage per target: rulec beside pySigma's own back ends, same corpus, same run.

    nice python benchmarks/coverage.py [CORPUS ...] [--workers N] [--json FILE]

Each target reads the rules through its SIEM's default pipelines (`backends/pipelines.py`);
pySigma's back end for the same target gets the same published pipelines (KQL: each of the
three, and the best of them per rule). kql is also measured per Microsoft product, through that
product's pipelines alone (`product_pipelines`: Defender XDR, Sentinel). A rule counts as
converted when the converter returns a query for it without an error. rulec's `eql
(+threshold)` row also counts an aggregation that has no EQL form but deploys as an Elastic
threshold rule (`--format elastic-threshold --allow bucket,case`, whose fixed windows and
case-sensitive keyword matching are reported).
The pySigma back ends used are those installed: pySigma-backend-splunk, -elasticsearch, -kusto
and -duckdb (compatible with pySigma 1.5). rulec's table is printed (and written) before
pySigma's run starts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from rulec.backends.base import Options
from rulec.backends.pipelines import pipelines_for, product_pipelines
from rulec.compiler.corpus import FileResult, convert_corpus
from rulec.compiler.rules import discover

SHARED = Path(__file__).resolve().parents[2] / "shared"
TARGETS = ["duckdb", "postgres", "spl", "eql", "kql"]
THRESHOLD = "elastic-threshold"
THRESHOLD_OPTIONS = Options(approximations=frozenset({"bucket", "case"}))
# rulec target -> [(label, pySigma back end, its pipelines)]
PYSIGMA: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "duckdb": [("duckdb", "duckdb", ())],
    "spl": [("splunk", "splunk", ("sysmon", "splunk_windows"))],
    "eql": [("eql", "eql", ("ecs_windows",))],
    "kql": [
        ("kusto microsoft_xdr", "kusto", ("microsoft_xdr",)),
        ("kusto azure_monitor", "kusto", ("azure_monitor",)),
        ("kusto sentinel_asim", "kusto", ("sentinel_asim",)),
    ],
}
PYSIGMA["kql defender_xdr"] = PYSIGMA["kql"][:1]
PYSIGMA["kql sentinel"] = PYSIGMA["kql"][1:]
BEST_KUSTO = "kusto, best of the three"
# kql for one Microsoft product alone: its own pipelines (`product_pipelines`)
PRODUCTS = {"kql defender_xdr": "defender_xdr", "kql sentinel": "sentinel"}


# --------------------------------------------------------------------------- rulec


def rulec_counts(files: Sequence[Path], workers: int) -> dict[str, Counter]:
    """Per target: rules, converted, and the failures' diagnostic codes."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for target in TARGETS:
        groups.setdefault(pipelines_for(target, (), False), []).append(target)
    results = convert_corpus(files, groups, workers=workers)
    counts = {target: Counter() for target in [*TARGETS, "eql (+threshold)"]}
    failed_eql: dict[Path, list[int]] = {}
    for result in results:
        for target in TARGETS:
            mine = [o for o in result.outcomes if o.target == target]
            counts[target]["rules"] += len(mine)
            counts[target]["converted"] += sum(o.ok for o in mine)
            counts[target].update(f"error {o.error.code}" for o in mine if not o.ok)
            counts[target].update(f"reason {reason(o.error)}" for o in mine if not o.ok)
            if target == "eql":
                failed_eql[result.path] = [i for i, o in enumerate(mine) if not o.ok]
    deployed = threshold_rules(failed_eql, workers)
    eql = counts["eql"]
    counts["eql (+threshold)"].update(
        rules=eql["rules"], converted=eql["converted"] + deployed, threshold=deployed
    )
    for label, product in PRODUCTS.items():
        groups = {product_pipelines(product): ["kql"]}
        outcomes = [o for r in convert_corpus(files, groups, workers=workers) for o in r.outcomes]
        counts[label] = Counter(rules=len(outcomes), converted=sum(o.ok for o in outcomes))
    return counts


def reason(diagnostic) -> str:
    """A failure's message without the rule's own names and values, to group failures by."""
    message = diagnostic.message.split(": Invalid SigmaDetectionItem field name")[0]
    return re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "_", message)[:110]


def threshold_rules(failed: dict[Path, list[int]], workers: int) -> int:
    """How many of the rules EQL rejected deploy as Elastic threshold rules instead."""
    paths = [path for path, indexes in failed.items() if indexes]
    groups = {pipelines_for("kuery", (), False): [THRESHOLD]}
    results: list[FileResult] = convert_corpus(paths, groups, THRESHOLD_OPTIONS, workers=workers)
    return sum(
        result.outcomes[i].ok
        for result in results
        for i in failed[result.path]
        if i < len(result.outcomes)
    )


# --------------------------------------------------------------------------- pySigma


_BACKENDS: dict[str, object] = {}


def _pysigma_start() -> None:
    from sigma.plugins import InstalledSigmaPlugins

    plugins = InstalledSigmaPlugins.autodiscover()
    resolver = plugins.get_pipeline_resolver()
    for configs in PYSIGMA.values():
        for label, backend, pipelines in configs:
            if label in _BACKENDS:
                continue
            pipeline = resolver.resolve(list(pipelines)) if pipelines else None
            _BACKENDS[label] = _backend_class(plugins, backend)(processing_pipeline=pipeline)


def _backend_class(plugins, name: str):
    if name == "duckdb":
        from sigma_backend_duckdb import DuckDBBackend

        return DuckDBBackend
    return plugins.backends[name]


def _pysigma_file(path: Path) -> dict[str, tuple[int, int]]:
    """Per pySigma configuration: (rules, converted) for one file. Each back end reads the file
    afresh: converting a rule applies the back end's pipeline to it in place."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return {label: (1, 0) for label in [*_BACKENDS, BEST_KUSTO]}
    converted = {label: _file_flags(text, backend) for label, backend in _BACKENDS.items()}
    kusto = [converted[label] for label, _, _ in PYSIGMA["kql"]]
    best = [any(flags) for flags in zip(*kusto, strict=True)]
    out = {label: (len(flags), sum(flags)) for label, flags in converted.items()}
    return out | {BEST_KUSTO: (len(best), sum(best))}


def _file_flags(text: str, backend) -> list[bool]:
    """Whether each rule of the file converts; a file pySigma cannot read is one failed rule."""
    from sigma.collection import SigmaCollection
    from sigma.correlations import SigmaCorrelationRule
    from sigma.rule import SigmaRule

    try:
        collection = SigmaCollection.from_yaml(text, collect_errors=True)
        collection.resolve_rule_references()
    except Exception:
        return [False]
    rules = [r for r in collection if isinstance(r, SigmaRule | SigmaCorrelationRule)]
    hidden = {
        str(ref.reference)
        for rule in rules
        if isinstance(rule, SigmaCorrelationRule) and not rule.generate
        for ref in rule.rules or ()
    }
    shown = [r for r in rules if not (hidden & {str(r.id), str(r.name)})]
    return [_converts(backend, rule) for rule in shown]


def _converts(backend, rule) -> bool:
    if rule.errors:
        return False
    try:
        return bool(backend.convert_rule(rule))
    except Exception:
        return False


def pysigma_counts(files: Sequence[Path], workers: int) -> dict[str, Counter]:
    counts: dict[str, Counter] = {}
    with ProcessPoolExecutor(workers, initializer=_pysigma_start) as pool:
        for result in pool.map(_pysigma_file, files, chunksize=16):
            for label, (rules, ok) in result.items():
                counts.setdefault(label, Counter()).update(rules=rules, converted=ok)
    return counts


# --------------------------------------------------------------------------- report


def table(rulec: dict[str, Counter], pysigma: dict[str, Counter]) -> str:
    header = "| target | rules | rulec converted | pySigma back end | pySigma rules | converted |"
    lines = [header, "|---|---|---|---|---|---|"]
    for target, counts in rulec.items():
        theirs = PYSIGMA.get(target, []) if target != "eql (+threshold)" else []
        labels = [label for label, _, _ in theirs] + ([BEST_KUSTO] if target == "kql" else [])
        labels = labels if pysigma else []  # rulec's table alone
        mine = f"{counts['converted']:,} ({counts['converted'] / max(1, counts['rules']):.1%})"
        if not labels:
            lines.append(f"| {target} | {counts['rules']:,} | {mine} | (none) | | |")
        for n, label in enumerate(labels):
            other = pysigma.get(label, Counter())
            rate = other["converted"] / max(1, other["rules"])
            first = (target, f"{counts['rules']:,}", mine) if n == 0 else ("", "", "")
            lines.append(
                f"| {' | '.join(first)} | {label} | {other['rules']:,} | "
                f"{other['converted']:,} ({rate:.1%}) |"
            )
    return "\n".join(lines)


def failures(rulec: dict[str, Counter]) -> None:
    """rulec's failures per target, grouped by diagnostic code and by reason."""
    for target, counts in rulec.items():
        print(f"{target} failures:")
        for prefix in ("error ", "reason "):
            found = [(k, v) for k, v in counts.most_common() if k.startswith(prefix)]
            for key, value in found[:12]:
                print(f"  {value:5}  {key}")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="*", default=[str(SHARED / "corpus" / "sigma")])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="also write the counts here")
    args = parser.parse_args()
    files = [p for p in discover(args.corpus) if p.suffix in (".yml", ".yaml")]
    started = time.perf_counter()
    rulec = rulec_counts(files, args.workers)
    print(f"{len(files):,} files; rulec {time.perf_counter() - started:.0f} s\n")
    print(table(rulec, {}) + "\n")
    failures(rulec)
    if args.json:
        args.json.write_text(json.dumps({"rulec": rulec}, indent=1, sort_keys=True) + "\n")
    middle = time.perf_counter()
    pysigma = pysigma_counts(files, args.workers)
    print(f"\npySigma {time.perf_counter() - middle:.0f} s\n")
    print(table(rulec, pysigma))
    if args.json:
        data = {"rulec": rulec, "pysigma": pysigma}
        args.json.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
