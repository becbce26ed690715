"""Sweep over the published KQL queries in ../shared/corpus/kql: parse, lowering and conversion
rates (to `kql` and `duckdb`, both, as issue 6 counts them).

Conversion is measured on every third parsed file, to keep the suite fast; set
RULEC_KQL_CORPUS_STRIDE=1 for the whole corpus (`rulec convert -t kql -t duckdb --format json
../shared/corpus/kql` gives the same figure). Run with `-s` to see the rates and the most common
reasons for the rest.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pytest

from rulec.backends.registry import emit
from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql, parse_kql

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "kql"
TARGETS = ("kql", "duckdb")
STRIDE = int(os.environ.get("RULEC_KQL_CORPUS_STRIDE", "3"))


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"KQL corpus not found at {CORPUS} (../shared beside the repository)")
    return sorted(CORPUS.rglob("*.kql"))


def reason(diagnostic: ir.Diagnostic) -> str:
    return re.sub(r"'[^']*'", "'…'", re.sub(r" \(line \d+\).*", "", diagnostic.message))


def first_failure(queries: list[ir.Query], target: str) -> ir.Diagnostic | None:
    """The diagnostic of the first query that does not convert to `target`, else None."""
    for query in queries:
        try:
            emit(target, query)
        except ir.RuleError as error:
            assert error.diagnostic.span.line is not None, error.diagnostic
            return error.diagnostic
    return None


def test_corpus_parses_lowers_and_converts() -> None:
    files = corpus_files()
    parsed, lowered, sampled, converted, both = 0, 0, 0, Counter(), 0
    failures = {"lowering": Counter(), **{t: Counter() for t in TARGETS}}
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        _, syntax_errors = parse_kql(text, str(path))
        parsed += not syntax_errors
        results = load_kql(text, str(path))
        errors = [r for r in results if isinstance(r, ir.Diagnostic) and r.severity == "error"]
        for error in errors:
            assert error.span.line is not None, error
        if syntax_errors:
            continue
        lowered += not errors
        failures["lowering"].update(reason(error) for error in errors[:1])
        sampled += parsed % STRIDE == 0
        if errors or parsed % STRIDE:
            continue
        queries = [r for r in results if isinstance(r, ir.Query)]
        outcomes = {t: first_failure(queries, t) for t in TARGETS}
        for target, failure in outcomes.items():
            converted[target] += failure is None
            failures[target].update([reason(failure)] if failure else [])
        both += all(failure is None for failure in outcomes.values())
    print(f"\nKQL corpus: {len(files)} files, parsed {parsed} ({parsed / len(files):.1%}),")
    print(f"lowered {lowered} of the parsed ({lowered / max(parsed, 1):.1%}),")
    print(f"of {sampled} parsed files sampled (one in {STRIDE}), converted")
    for target in TARGETS:
        print(f"to {target} {converted[target]} ({converted[target] / sampled:.1%}),")
    print(f"to both {both} ({both / sampled:.1%}); top reasons:")
    for stage, counter in failures.items():
        for message, count in counter.most_common(8):
            print(f"  {stage:9s} {count:4d}  {message}")
    assert parsed / len(files) >= 0.90
    assert lowered / max(parsed, 1) >= 0.88
    assert both / max(sampled, 1) >= 0.85
