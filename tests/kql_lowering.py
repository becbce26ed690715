"""KQL text lowered to one IR query, for the KQL front-end tests."""

from __future__ import annotations

from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql


def lower(text: str) -> ir.Query:
    """The one query of `text`; fails the test on any error diagnostic."""
    results = load_kql(text, "t.kql")
    errors = [r for r in results if isinstance(r, ir.Diagnostic) and r.severity == "error"]
    assert not errors, errors
    (query,) = [r for r in results if isinstance(r, ir.Query)]
    return query
