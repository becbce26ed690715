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
    ("// lets alone\nlet x = 1;\nlet TI = T | project a;", "kql.no-query", 3, 1),
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


# query text | diagnostic code | column
BAD_VALUES = [
    ("T | where t > ago(99999999999999999999d)", "kql.bad-literal", 19),
    ("T | where t > ago(1e400d)", "kql.bad-literal", 19),
    ("T | where t > ago(1000000000d)", "kql.bad-literal", 19),
    ('T | where a matches regex "(a"', "kql.bad-regex", 27),
    ('T | where a matches regex "a(?=b)"', "kql.bad-regex", 27),
    ('T | where a matches regex @"\\1"', "kql.bad-regex", 27),
    ('T | where a matches regex "x{1001}"', "kql.bad-regex", 27),
    ("T | where a matches regex '[z-a]'", "kql.bad-regex", 27),
    ("T | take -5", "kql.bad-count", 10),
    ("T | limit 99999999999999999999", "kql.bad-literal", 11),
    ("T | top -1 by a", "kql.bad-count", 9),
    ("T | where a == " + "9" * 5_000, "kql.bad-literal", 16),
    ("T | where a == 9223372036854775808", "kql.bad-literal", 16),
    ("T | where a == 0x10000000000000000", "kql.bad-literal", 16),
    ('T | where a == "\\ud800"', "kql.syntax", 17),
    ('T | where a == "x\\uDE00\\uD800"', "kql.syntax", 18),
    ('T | where a == "\\U00110000"', "kql.syntax", 17),
]


@pytest.mark.parametrize(("text", "code", "column"), BAD_VALUES)
def test_out_of_range_values_and_invalid_regexes_are_located_diagnostics(text, code, column):
    [result] = load_kql(text, "bad.kql")
    assert isinstance(result, ir.Diagnostic), result
    assert (result.code, result.span.line, result.span.column) == (code, 1, column), result


def test_valid_re2_that_python_rejects_is_accepted():
    [query] = load_kql(r'T | where a matches regex @"\pL(?P<n>x)\C"', "re.kql")
    assert query.pipeline.stages[0].predicate.values == (r"\pL(?P<n>x)\C",)


# escapes (C#'s, as Microsoft's parser reads them) | value
ESCAPES = [
    ('"\\uD83D\\uDE00"', "\U0001f600"),  # a UTF-16 surrogate pair is one character
    ('"\\U0001F600"', "\U0001f600"),
    ('"\\a\\b\\f\\v\\0"', "\a\b\f\v\x00"),
    ('"\\x41\\u0042"', "AB"),
    ("'\\u2028'", "\u2028"),
]


@pytest.mark.parametrize(("literal", "value"), ESCAPES)
def test_escapes_are_read_as_csharp_reads_them(literal, value):
    [query] = load_kql(f"T | where a == {literal}", "esc.kql")
    assert query.pipeline.stages[0].predicate.values == (value,)


@pytest.mark.parametrize(
    "text", ["T\u2028| where a == 1", "T |\u2029where a == 1", "\ufeffT | where a == 1"]
)
def test_unicode_separators_between_tokens_are_white_space(text):
    [query] = load_kql(text, "sep.kql")
    assert query.pipeline.stages[0].predicate == ir.Compare(
        ir.CompareOp.EQ, ir.FieldRef("a"), ir.Literal(1)
    )


def test_a_file_of_lets_alone_names_what_it_defines():
    (error,) = load_kql("let x = 1;\nlet TI = T | project a;\n", "lets.kql")
    assert (
        error.message == "the file only defines x, TI: no query (a table expression after the lets)"
    )
