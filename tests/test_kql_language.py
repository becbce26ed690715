"""KQL functions and operators with the meaning Microsoft documents.

Each case is an example of the function's or operator's documentation page (Microsoft Learn,
"Kusto Query Language" reference): a query over a small table, and the rows the page gives.
Each runs on DuckDB, and on PostgreSQL where rulec writes the construct for it.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from rulec.backends.registry import emit
from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql, parse_kql
from rulec.compiler.frontends.kql.lexer import tokenize
from rulec.compiler.run.engines import DuckDBEngine
from rulec.compiler.run.events import EventTable
from rulec.compiler.run.executor import execute

NOW = datetime(2024, 1, 10, 12, 0, tzinfo=timezone.utc)


def table(*rows: dict) -> EventTable:
    numbered = [{**row, "_row": n} for n, row in enumerate(rows, 1)]
    return EventTable(tuple(dict.fromkeys(c for r in numbered for c in r)), tuple(numbered))


def query(text: str) -> ir.Query:
    (result,) = load_kql(text, "t.kql")
    assert isinstance(result, ir.Query), result
    return result


def run(text: str, events: EventTable, engine=None) -> list[dict]:
    rows = execute(query(text), events, now=NOW, engine=engine or DuckDBEngine())
    kept = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    return sorted(kept, key=repr)  # a projection without `_row` has no event order


# (query over T, T's rows, the rows the documentation gives)
CASES = [
    # replace() (deprecated): replace(regex, rewrite, text) is replace_regex(text, regex, rewrite)
    ('T | extend B = replace(@"a", @"b", A) | project B', [{"A": "xay"}], [{"B": "xby"}]),
    (
        'T | extend B = replace(@"is (\\w*)", @"was: \\1", A) | project B',
        [{"A": "Number is 5"}],
        [{"B": "Number was: 5"}],
    ),
    # containscs / notcontains / notcontainscs: the older spellings of contains_cs, !contains
    (
        'T | where A containscs "Kusto" | project A',
        [{"A": "Kusto"}, {"A": "kusto"}],
        [{"A": "Kusto"}],
    ),
    ('T | where A notcontains "kus" | project A', [{"A": "Kusto"}, {"A": "x"}], [{"A": "x"}]),
    (
        'T | where A notcontainscs "Kus" | project A',
        [{"A": "Kusto"}, {"A": "kusto"}],
        [{"A": "kusto"}],
    ),
    # indexof(): the zero-based index of the first occurrence, -1 where there is none
    (
        'T | extend idx1 = indexof(A, "cde") | project idx1',
        [{"A": "abcdefg"}, {"A": "xyz"}, {}],
        [{"idx1": 2}, {"idx1": -1}, {"idx1": -1}],
    ),
    # string escapes: "\3" is octal, as Kusto.Language decodes it
    ('T | extend B = strlen("a\\3b") | project B', [{"A": "x"}], [{"B": 3}]),
    ('T | where A == "\\101" | project A', [{"A": "A"}, {"A": "B"}], [{"A": "A"}]),
]


@pytest.mark.parametrize(("text", "rows", "expected"), CASES, ids=[c[0] for c in CASES])
def test_duckdb(text, rows, expected):
    assert run(text, table(*rows)) == sorted(expected, key=repr)


@pytest.mark.parametrize(("text", "rows", "expected"), CASES, ids=[c[0] for c in CASES])
def test_postgres(text, rows, expected, postgres_engine):
    try:
        rows = run(text, table(*rows), postgres_engine)
    except ir.RuleError as error:
        pytest.skip(f"reported for PostgreSQL: {error}")
    assert rows == sorted(expected, key=repr)


# deprecated names (Kusto.Language marks them obsolete) and the current name the kql target writes
DEPRECATED = [
    ('T | extend B = replace(@"a", @"b", A)', 'replace_regex(A, "a", "b")'),
    ("T | extend B = parsejson(A)", "parse_json(A)"),
    ('T | extend B = columnifexists("A", "")', 'column_ifexists("A", "")'),
    ("T | extend B = arraylength(A)", "array_length(A)"),
    ("T | extend B = base64_decodestring(A)", "base64_decode_tostring(A)"),
    ('T | extend B = extractall(@"(\\d)", A)', "extract_all("),
    ("T | extend B = pack('a', A)", 'bag_pack("a", A)'),
    ("T | extend B = weekofyear(A)", "week_of_year(A)"),
    ("T | where notempty(A)", "isnotempty(A)"),
    ("T | summarize makeset(A) by B", "make_set(A)"),
    ("T | summarize argmax(A, C) by B", "arg_max(A, C)"),
    ('T | where A containscs "x"', 'A contains_cs "x"'),
    ('T | where A notcontains "x"', 'not(A contains "x")'),
]


@pytest.mark.parametrize(("text", "current"), DEPRECATED, ids=[c[0] for c in DEPRECATED])
def test_deprecated_names_are_written_back_with_the_current_name(text, current):
    written = emit("kql", query(text)).text
    assert current in written
    _, diagnostics = parse_kql(written, "back.kql")
    assert not diagnostics


def test_octal_escapes_decode_as_kusto_language_decodes_them():
    """Values from Kusto.Language's lexer (tests/kql_oracle): a digit 0-7, then up to two digits,
    each counted in base 8 (an 8 or 9 counts as 8 or 9)."""
    decoded = {"\\3": "\x03", "\\101": "A", "\\38": " ", "\\08": "\b", "\\1234": "S4"}
    for escape, value in decoded.items():
        (token, _) = tokenize(f'"{escape}"')
        assert (token.kind, token.text) == ("string", value)
