"""Indicators and exclusions of one KQL filter each: input and expected rows side by side."""

from __future__ import annotations

import pytest

from rulec.compiler.cards.exclusions import exclusions
from rulec.compiler.cards.indicators import indicators
from rulec.compiler.frontends.kql import load_kql


def _rows(predicates) -> list[tuple]:
    return [(p.field, p.kind, p.values, p.transforms) for p in predicates]


CASES = [
    # where clause, indicators (field, kind, values, transforms), exclusions (one row each)
    ('A =~ "x"', [("A", "eq", ("x",), ())], []),
    ('A in~ ("b", "a")', [("A", "in", ("a", "b"), ())], []),
    ('A !~ "x"', [("A", "ne", ("x",), ())], []),
    ('A !in~ ("x", "y")', [], [("A", "in", ("x", "y"), ())]),
    ('A !contains "tmp"', [], [("A", "contains", ("tmp",), ())]),
    (
        'A endswith "x" and not(B startswith "y" or C has "z")',
        [("A", "ends_with", ("x",), ())],
        [("B", "starts_with", ("y",), ()), ("C", "has", ("z",), ())],
    ),
    ("coalesce(N, d) >= 5", [("N", "ge", ("5",), ("coalesce_default:7",))], []),
]


@pytest.mark.parametrize(("where", "expected_indicators", "expected_exclusions"), CASES)
def test_filter_predicates(where, expected_indicators, expected_exclusions):
    [query] = load_kql(f"let d = 7;\nT\n| where {where}\n", "case.kql")
    assert _rows(indicators(query)) == expected_indicators
    rows = [c for e in exclusions(query) for c in _rows(e.conditions)]
    assert rows == expected_exclusions


def test_negated_conjunction_is_one_exclusion():
    [query] = load_kql('T\n| where not(A == "x" and B == "y")\n', "case.kql")
    [exclusion] = exclusions(query)
    assert _rows(exclusion.conditions) == [("A", "eq", ("x",), ()), ("B", "eq", ("y",), ())]
