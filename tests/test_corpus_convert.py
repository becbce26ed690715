"""The whole public Sigma corpus converts to SQL without one internal error.

Every rule either converts or fails with a located diagnostic; the success rate is printed
(`pytest -s`) and must not fall below what main already achieves.
"""

from __future__ import annotations

from collections import Counter

from rulec.compiler.outcomes import convert_file
from rulec.compiler.rules import discover


def test_sigma_corpus_to_duckdb_and_postgres(shared):
    files = discover([shared / "corpus" / "sigma"])
    outcomes = [o for path in files for o in convert_file(path, ["duckdb", "postgres"])]
    failures = [o.error for o in outcomes if not o.ok]
    assert not [d for d in failures if d.code == "internal"]
    assert all(d.span.file for d in failures)
    rate = 1 - len(failures) / len(outcomes)
    top = Counter(d.code for d in failures).most_common(5)
    print(f"\nSigma corpus -> duckdb, postgres: {rate:.2%} of {len(outcomes)} converted; {top}")
    assert rate >= 0.98
