"""Hostile KQL through `load_kql`: a located diagnostic for each bad query, never an exception.

The KQL front end belongs to its own engineer; cases it gets wrong are strict xfails naming the
bug, so the test turns green (and the marker must go) when it is fixed.
"""

from __future__ import annotations

import pytest

from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql

# query text | diagnostic code | line | column
BAD_QUERIES = [
    ("T | where (a == 1", "kql.syntax", 1, 18),
    ("T | where a == 1)", "kql.syntax", 1, 17),
    ("T | where a in (1, 2", "kql.syntax", 1, 21),
    ('T | where a == "abc', "kql.syntax", 1, 16),
    ("T | where a == 'abc", "kql.syntax", 1, 16),
    ('T | where a == @"abc', "kql.syntax", 1, 16),
    ("T | where a == ```abc", "kql.syntax", 1, 16),
    ('T | where a == "abc\\', "kql.syntax", 1, None),
    ("T | where " + "(" * 10_000 + "a == 1" + ")" * 10_000, "kql.syntax", 1, None),
    ("T | where " + "not(" * 5_000 + "a == 1" + ")" * 5_000, "kql.syntax", 1, None),
    ("T | extend x = " + "+".join(["1"] * 10_000), "kql.too-deep", 1, None),
    ("T | frobnicate a", "kql.syntax", 1, 5),
    ("T | where a <=> 1", "kql.syntax", 1, None),
    ("}}}{{{ ;;; @@@ ###", "kql.syntax", 1, 1),
    ("T | where a == \x00", "kql.syntax", 1, 16),
    ("T | where a == \u202e", "kql.syntax", 1, 16),
    ("", "kql.no-query", 1, 1),
    ("// only a comment", "kql.no-query", 1, 1),
    ("let x = 1;\nT\n| where a ==", "kql.syntax", 3, None),
]


@pytest.mark.parametrize(("text", "code", "line", "column"), BAD_QUERIES)
def test_bad_query_is_a_located_diagnostic(text, code, line, column):
    results = load_kql(text, "bad.kql")
    errors = [r for r in results if isinstance(r, ir.Diagnostic) and r.severity == "error"]
    assert errors, results
    first = errors[0]
    assert (first.code, first.span.file, first.span.line) == (code, "bad.kql", line), first
    if column is not None:
        assert first.span.column == column, first


def test_ten_megabyte_string_and_hundred_thousand_item_list_load():
    value = "x" * 10_000_000
    [query] = load_kql(f'T | where a == "{value}"', "big.kql")
    assert query.pipeline.stages[0].predicate.values == (value,)
    items = ",".join(f'"v{i}"' for i in range(100_000))
    [query] = load_kql(f"T | where a in ({items})", "list.kql")
    assert len(query.pipeline.stages[0].predicate.values) == 100_000


@pytest.mark.xfail(strict=True, reason="KQL front end: a huge timespan raises OverflowError")
def test_huge_timespan_is_a_diagnostic():
    results = load_kql("T | where t > ago(99999999999999999999d)", "big.kql")
    assert all(isinstance(r, ir.Diagnostic) for r in results)


@pytest.mark.xfail(strict=True, reason="KQL front end: an invalid RE2 pattern is accepted")
def test_invalid_regex_is_a_diagnostic():
    [result] = load_kql('T | where a matches regex "(a"', "re.kql")
    assert isinstance(result, ir.Diagnostic)


@pytest.mark.xfail(strict=True, reason="KQL front end: `take -5` lowers to a negative Limit")
def test_negative_take_is_a_diagnostic():
    [result] = load_kql("T | take -5", "take.kql")
    assert isinstance(result, ir.Diagnostic)
