"""Sweep over the published KQL queries in ../shared/corpus/kql: parse and lowering rates.

Run with `-s` to see the rates and the most common reasons for the rest.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql, parse_kql

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "kql"


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"KQL corpus not found at {CORPUS} (../shared beside the repository)")
    return sorted(CORPUS.rglob("*.kql"))


def reason(diagnostic: ir.Diagnostic) -> str:
    return re.sub(r"'[^']*'", "'…'", re.sub(r" \(line \d+\).*", "", diagnostic.message))


def test_corpus_parses_and_lowers() -> None:
    files = corpus_files()
    parsed, lowered, failures = 0, 0, Counter()
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
        failures.update(reason(error) for error in errors[:1])
    print(f"\nKQL corpus: {len(files)} files, parsed {parsed} ({parsed / len(files):.1%}),")
    print(f"lowered {lowered} of the parsed ({lowered / max(parsed, 1):.1%}); top reasons:")
    for message, count in failures.most_common(10):
        print(f"  {count:4d}  {message}")
    assert parsed / len(files) >= 0.90
    assert lowered / max(parsed, 1) >= 0.88
