"""Result columns as KQL names and orders them: a summarize's where names would clash, and
mv-apply's.

Oracle: Kusto.Language (tests/kql_oracle/semantic.js, the npm package the parser tests use) names
each query's result columns over a declared table; rulec's result on DuckDB and on PostgreSQL
must have those columns, in that order. Values: arg_max's documentation (the row where the
expression is largest, per group); mv-apply's (it generalises mv-expand: a sub-query of row-wise
stages gives the rows mv-expand followed by those stages gives; one with a project keeps the
input's other columns and the projected ones); a built-in function's named argument is passed by
position (the semantic analysis types `substring(start=1, source=a)` by position too).
"""

from __future__ import annotations

import pytest

from conftest import microsoft_result_columns
from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql
from rulec.compiler.run.engines import DuckDBEngine
from rulec.compiler.run.events import EventTable
from rulec.compiler.run.executor import execute

TYPES = {"Timestamp": "datetime", "DeviceId": "string", "A": "long", "B": "string", "J": "dynamic"}
ROWS = (
    ("2024-01-01T10:05:00Z", "d1", 1, "x", '[{"n": "a", "v": 1}, {"n": "b", "v": 2, "w": [5, 6]}]'),
    ("2024-01-01T10:40:00Z", "d1", 2, "y", '[{"n": "b", "v": 3}]'),
    ("2024-01-01T11:10:00Z", "d2", 3, "z", "[]"),
)
EVENTS = EventTable(tuple(TYPES), tuple(dict(zip(TYPES, row, strict=True)) for row in ROWS))
QUERIES = [
    "T | summarize arg_max(Timestamp, *) by bin(Timestamp, 1h)",
    "T | summarize arg_max(Timestamp, *) by DeviceId, bin(Timestamp, 1h)",
    "T | summarize n = count(), arg_max(Timestamp, *) by DeviceId",
    "T | summarize arg_max(A, B) by A",
    "T | summarize arg_max(Timestamp, DeviceId, A) by DeviceId, bin(Timestamp, 1h)",
    "T | summarize arg_max(A, *), arg_min(A, *)",
    "T | summarize arg_max(A, *) by A, B",
    "T | summarize Timestamp = count(), arg_max(Timestamp, *) by DeviceId",
    "T | summarize arg_max(Timestamp, *) by DeviceId = B",
    "T | summarize count() by bin(Timestamp, 1h), Timestamp",
    "T | summarize count() by A, A1 = B, bin(A, 1)",
    "T | summarize toint(n = countif(A > 1)) by B",
    "T | extend tostring(s = A), X = toint(value = B)",
    "T | summarize count(A > 1), n = count(B == 'x') by B",
    "T | top-nested 2 of B by sum(A)",
    "T | top-nested of x = strlen(B) by n = count() asc",
    "T | summarize arg_max(A, *), arg_min(A, *), x = arg_max(B, *)",
    PROJECT_THEN_WHERE := 'T | mv-apply p = J on (project V = toint(p.v), N = p.n | where N == "b"'
    " | extend W = V + 1)",
    'T | mv-apply J on (where J.n == "b" | extend V = toint(J.v))',
    'T | mv-apply p = J on (where p.n == "b" | extend V = toint(p.v), W = A)',
    "T | mv-apply p = J limit 1 on (extend V = toint(p.v))",
    'T | mv-apply p = J on (where p.n == "b" | project V = toint(p.v))',
    "T | mv-apply p = J on (extend N = p.n | mv-apply q = p.w on (extend V = toint(q)))",
]
# mv-apply queries, and the mv-expand query mv-apply's documentation makes each equal to
EXPANDED = {
    QUERIES[-1]: "T | mv-expand p = J | extend N = p.n | mv-expand q = p.w | extend V = toint(q)",
    QUERIES[-5]: 'T | mv-expand J | where J.n == "b" | extend V = toint(J.v)',
    QUERIES[-4]: 'T | mv-expand p = J | where p.n == "b" | extend V = toint(p.v), W = A',
    QUERIES[-3]: "T | mv-expand p = J limit 1 | extend V = toint(p.v)",
    QUERIES[-2]: 'T | mv-expand p = J | where p.n == "b" | extend V = toint(p.v) | project-away p',
    PROJECT_THEN_WHERE: "T | mv-expand p = J | extend V = toint(p.v), N = p.n | project-away p"
    ' | where N == "b" | extend W = V + 1',
}


@pytest.fixture(scope="module")
def microsoft_columns() -> dict[str, list[str]]:
    return microsoft_result_columns(QUERIES, {"T": TYPES})


def run(text: str, engine) -> list[dict]:
    (query,) = load_kql(text, "t.kql")
    assert isinstance(query, ir.Query), query
    return execute(query, EVENTS, engine=engine)


@pytest.mark.parametrize("text", QUERIES)
def test_duckdb_names_columns_as_kql(text, microsoft_columns):
    rows = run(text, DuckDBEngine())
    assert rows and all(list(row) == microsoft_columns[text] for row in rows)


@pytest.mark.parametrize("text", QUERIES)
def test_postgres_names_columns_as_kql(text, microsoft_columns, postgres_engine):
    rows = run(text, postgres_engine)
    assert rows and all(list(row) == microsoft_columns[text] for row in rows)


@pytest.mark.parametrize("text", list(EXPANDED))
def test_mv_apply_of_row_wise_stages_gives_the_rows_of_mv_expand(text):
    def rows(query: str) -> list[tuple]:
        return sorted(tuple(sorted(row.items())) for row in run(query, DuckDBEngine()))

    assert rows(text) == rows(EXPANDED[text]) != []


def test_arg_max_by_a_binned_key_keeps_the_latest_row_of_each_bin():
    rows = run("T | summarize arg_max(Timestamp, *) by bin(Timestamp, 1h)", DuckDBEngine())
    latest = sorted((row["Timestamp1"], row["DeviceId"], row["A"], row["B"]) for row in rows)
    assert latest == [(t, d, str(a), b) for t, d, a, b, _ in ROWS[1:]]


def test_a_named_argument_of_a_built_in_is_its_value_by_position():
    rows = run("T | summarize toint(n = countif(A > 1)) by B", DuckDBEngine())
    assert sorted((row["B"], row["n"]) for row in rows) == [("x", 0), ("y", 1), ("z", 1)]


def test_count_of_a_predicate_is_countif():
    # Kusto.Language declares count(predicate) an obsolete form of countif
    rows = run("T | summarize count(A > 1) by B", DuckDBEngine())
    assert sorted((row["B"], row["count_"]) for row in rows) == [("x", 0), ("y", 1), ("z", 1)]


def test_top_nested_keeps_the_groups_with_the_largest_aggregate():
    # top-nested's documentation: the top N values of the column by the aggregation
    rows = run("T | top-nested 2 of B by sum(A)", DuckDBEngine())
    assert sorted((row["B"], row["aggregated_B"]) for row in rows) == [("y", 2), ("z", 3)]
    rows = run("T | top-nested 1 of DeviceId by s = max(A) asc", DuckDBEngine())
    assert [(row["DeviceId"], row["s"]) for row in rows] == [("d1", 2)]


def test_mv_apply_projecting_a_column_of_its_input_is_a_located_diagnostic():
    # Kusto.Language keeps the name A in its place; which value it holds is not documented
    (query,) = load_kql("T\n| mv-apply p = J on (project A = toint(p.v), N = p.n)", "t.kql")
    with pytest.raises(ir.RuleError) as raised:
        execute(query, EVENTS, engine=DuckDBEngine())
    diagnostic = raised.value.diagnostic
    assert "projects A, a column of its input" in diagnostic.message
    assert diagnostic.span.line == 2
