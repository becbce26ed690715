"""The Sigma front end over the public SigmaHQ corpus and the SigmaHQ regression cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rulec.compiler import ir
from rulec.compiler.frontends.sigma.load import load_sigma

SHARED = Path(__file__).resolve().parents[2] / "shared"
RULES = SHARED / "corpus" / "sigma" / "rules"
CASES = SHARED / "regression" / "cases.jsonl"


def test_corpus_rules_never_raise_and_failures_have_lines() -> None:
    if not RULES.is_dir():
        pytest.skip(f"Sigma corpus not found at {RULES}")
    converted = failed = 0
    for path in sorted(RULES.rglob("*.yml")):
        for result in load_sigma(path.read_text(encoding="utf-8"), str(path)):
            if isinstance(result, ir.Query):
                converted += 1
                assert result.meta.path == str(path)
            else:
                failed += 1
                assert result.code.startswith("sigma.")
                assert (result.span.file, result.span.line is not None) == (str(path), True)
    assert converted > 3000
    assert converted / (converted + failed) >= 0.99


def test_regression_rules_all_lower() -> None:
    if not CASES.is_file():
        pytest.skip(f"regression cases not found at {CASES}")
    cases = [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]
    assert len(cases) == 98
    failures = {}
    for case in cases:
        path = SHARED / case["rule"]
        results = load_sigma(path.read_text(encoding="utf-8"), str(path))
        bad = [r for r in results if not isinstance(r, ir.Query)]
        if bad or not results:
            failures[case["rule"]] = bad
    assert failures == {}
