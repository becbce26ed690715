"""Relational stages in SQL (extend, project-away, rename, join, union, invoke), executed.

Expected rows follow KQL's documented semantics (join kinds, `1`-suffixed right columns, keys
compared as strings where a missing value equals ""). Each case runs on DuckDB with the schema
known (explicit column lists, the form every engine runs), on DuckDB without it (star
modifiers), and on PostgreSQL (oracle: a second engine running the schema form).
"""

from __future__ import annotations

import pytest

from rulec.backends.base import Options
from rulec.backends.sql import SqlBackend
from rulec.compiler import ir
from rulec.compiler.run.engines import DuckDBEngine
from rulec.compiler.run.events import EventTable

F = ir.FieldRef


def rows_table(*rows: dict) -> EventTable:
    columns = tuple(dict.fromkeys(c for r in rows for c in r))
    return EventTable(columns, tuple(rows))


LEFT = rows_table(
    {"k": "a", "v": "1"},
    {"k": "a", "v": "2"},
    {"k": "b", "v": "3"},
    {"k": None, "v": "4"},
)
RIGHT = rows_table({"k": "a", "w": "x"}, {"k": "c", "w": "y"}, {"k": "", "w": "z"})
TABLES = {"L": LEFT, "R": RIGHT}


def pipeline(*stages: ir.Stage, source: str = "L") -> ir.Query:
    return ir.Query(ir.Pipeline(ir.Table(source), stages))


def join(kind: ir.JoinKind) -> ir.Join:
    return ir.Join(kind, ir.Pipeline(ir.Table("R")), (("k", "k"),))


def run(query: ir.Query, engine, schema: bool) -> list[dict]:
    for name, table in TABLES.items():
        engine.load(name, table)
    known = {name: table.columns for name, table in TABLES.items()} if schema else {}
    sql = SqlBackend(engine.dialect, Options(schema=known)).emit(query).text
    rows = engine.run(sql)
    return sorted(rows, key=lambda r: sorted((k, str(v)) for k, v in r.items()))


def canon(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: sorted((k, str(v)) for k, v in r.items()))


CASES = [
    (
        "inner join: every matching pair; the right key is renamed k1",
        pipeline(join(ir.JoinKind.INNER)),
        [
            {"k": "a", "v": "1", "k1": "a", "w": "x"},
            {"k": "a", "v": "2", "k1": "a", "w": "x"},
            {"k": None, "v": "4", "k1": "", "w": "z"},
        ],
    ),
    (
        "a missing key equals the empty string, as KQL strings are never null",
        pipeline(
            ir.Filter(ir.Not(ir.Match(F("k"), ir.MatchKind.EXISTS, (), False))),
            join(ir.JoinKind.INNER),
        ),
        [{"k": None, "v": "4", "k1": "", "w": "z"}],
    ),
    (
        "innerunique: one left row per key first (the first in column order)",
        pipeline(join(ir.JoinKind.INNERUNIQUE)),
        [{"k": "a", "v": "1", "k1": "a", "w": "x"}, {"k": None, "v": "4", "k1": "", "w": "z"}],
    ),
    (
        "leftouter keeps unmatched left rows with empty right columns",
        pipeline(
            ir.Filter(ir.Match(F("k"), ir.MatchKind.EQ, ("b",), True)), join(ir.JoinKind.LEFTOUTER)
        ),
        [{"k": "b", "v": "3", "k1": None, "w": None}],
    ),
    (
        "leftsemi: left rows with a match, left columns only",
        pipeline(join(ir.JoinKind.LEFTSEMI)),
        [{"k": "a", "v": "1"}, {"k": "a", "v": "2"}, {"k": None, "v": "4"}],
    ),
    (
        "leftanti: left rows without a match",
        pipeline(join(ir.JoinKind.LEFTANTI)),
        [{"k": "b", "v": "3"}],
    ),
    (
        "rightanti: right rows without a match",
        pipeline(join(ir.JoinKind.RIGHTANTI)),
        [{"k": "c", "w": "y"}],
    ),
    (
        "extend replaces a column in place and adds a new one",
        pipeline(
            ir.Filter(ir.Match(F("k"), ir.MatchKind.EQ, ("b",), True)),
            ir.Extend(
                (ir.Assign("v", ir.Call("upper", (ir.Literal("x"),))), ir.Assign("n", F("v")))
            ),
        ),
        [{"k": "b", "v": "X", "n": "X"}],
    ),
    (
        "project-away and rename",
        pipeline(
            ir.Filter(ir.Match(F("k"), ir.MatchKind.EQ, ("b",), True)),
            ir.ProjectAway(("v",)),
            ir.Rename((("key", "k"),)),
        ),
        [{"key": "b"}],
    ),
    (
        "union: the columns of both, missing ones empty",
        pipeline(
            ir.Filter(ir.Match(F("k"), ir.MatchKind.EQ, ("b",), True)),
            ir.Union(
                (
                    ir.Pipeline(
                        ir.Table("R"), (ir.Filter(ir.Match(F("k"), ir.MatchKind.EQ, ("c",), True)),)
                    ),
                )
            ),
        ),
        [{"k": "b", "v": "3", "w": None}, {"k": "c", "v": None, "w": "y"}],
    ),
    (
        "union withsource=T: each row's table in T (the union operator's documented option)",
        pipeline(
            ir.Union((ir.Pipeline(ir.Table("R")),), source_column="T"),
            ir.Filter(ir.Match(F("k"), ir.MatchKind.EQ, ("b", "c"), True)),
        ),
        [{"T": "L", "k": "b", "v": "3", "w": None}, {"T": "R", "k": "c", "v": None, "w": "y"}],
    ),
    (
        "invoke: the named table left-joined on the key field",
        pipeline(
            ir.Filter(ir.Match(F("v"), ir.MatchKind.LE, (3,), True)), ir.Invoke("R", (F("k"),))
        ),
        [
            {"k": "a", "v": "1", "w": "x"},
            {"k": "a", "v": "2", "w": "x"},
            {"k": "b", "v": "3", "w": None},
        ],
    ),
    (
        "invoke F('k'): the key column named by a string",
        pipeline(
            ir.Filter(ir.Match(F("v"), ir.MatchKind.EQ, ("1",), True)),
            ir.Invoke("R", (ir.Literal("k"),)),
        ),
        [{"k": "a", "v": "1", "w": "x"}],
    ),
    (
        "datatable: typed constant rows, joined like any table",
        ir.Query(
            ir.Pipeline(
                ir.Datatable((("k", "string"), ("n", "long")), (("a", 1), ("z", None))),
                (ir.Extend((ir.Assign("m", ir.Arith(ir.ArithOp.ADD, F("n"), ir.Literal(1))),)),),
            )
        ),
        [{"k": "a", "n": 1, "m": 2}, {"k": "z", "n": None, "m": None}],
    ),
    (
        "datatable without rows",
        ir.Query(ir.Pipeline(ir.Datatable((("k", "string"),), ()))),
        [],
    ),
]


@pytest.mark.parametrize(("why", "query", "expected"), CASES, ids=[c[0][:40] for c in CASES])
@pytest.mark.parametrize("schema", [True, False], ids=["schema", "star-modifiers"])
def test_duckdb(why, query, expected, schema):
    if not schema and any(isinstance(s, ir.Join) for s in query.pipeline.stages):
        with pytest.raises(ir.RuleError, match="schema"):
            run(query, DuckDBEngine(), schema)
        return
    assert run(query, DuckDBEngine(), schema) == canon(expected), why


@pytest.mark.parametrize(("why", "query", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_postgres(why, query, expected, postgres_engine):
    assert run(query, postgres_engine, True) == canon(expected), why


def test_postgres_without_schema_is_reported():
    with pytest.raises(ir.RuleError) as caught:
        SqlBackend("postgres").emit(pipeline(ir.Extend((ir.Assign("n", F("v")),))))
    assert "add `L: [Column1, Column2, ...]` to a --schema file" in caught.value.diagnostic.message


def test_a_table_documented_under_another_letter_case_is_named():
    query = ir.Query(ir.Pipeline(ir.Table("GraphAPIAuditEvents"), (ir.ProjectAway(("x",)),)))
    with pytest.raises(ir.RuleError) as caught:
        SqlBackend("postgres").emit(query)
    message = caught.value.diagnostic.message
    assert "`GraphAPIAuditEvents: [Column1, Column2, ...]`" in message
    assert "(Microsoft documents GraphApiAuditEvents)" in message


def test_join_without_schema_is_reported_even_on_duckdb():
    with pytest.raises(ir.RuleError) as caught:
        SqlBackend("duckdb").emit(pipeline(join(ir.JoinKind.INNER)))
    assert caught.value.diagnostic.target == "duckdb"


# ---------------------------------------------------------------------- arg_max / arg_min

EVENTS = rows_table(
    {"k": "a", "t": "2020-01-01T00:00:00Z", "n": "9", "v": "old"},
    {"k": "a", "t": "2020-01-03T00:00:00Z", "n": "10", "v": "new"},
    {"k": "b", "t": None, "n": None, "v": "only"},
    {"k": "b", "t": "2020-01-02T00:00:00Z", "n": "1", "v": "dated"},
)


def summarize(*measures: ir.Measure, keys: tuple[str, ...] = ("k",)) -> ir.Query:
    group = tuple(ir.Assign(k, F(k)) for k in keys)
    return ir.Query(ir.Pipeline(ir.Table("E"), (ir.Aggregate(group, measures),)))


def extreme(name: str, func: str, by: str, *columns: str) -> ir.Measure:
    return ir.Measure(name, ir.ArgExtreme(func, F(by), columns))


# (summarize, rows KQL gives: the chosen row's columns; a null `by` loses to any value)
EXTREMES = [
    (
        "arg_max(t, *) by k: the latest row of each group, every column",
        summarize(extreme("t", "arg_max", "t")),
        [{"k": "a", "t": "2020-01-03T00:00:00Z", "n": "10", "v": "new"},
         {"k": "b", "t": "2020-01-02T00:00:00Z", "n": "1", "v": "dated"}],
    ),
    (
        "arg_min(n, v) by k, with count(): numbers order as numbers (9 < 10)",
        summarize(extreme("n", "arg_min", "n", "v"), ir.Measure("c", ir.AggCall("count"))),
        [{"k": "a", "n": "9", "v": "old", "c": 2}, {"k": "b", "n": "1", "v": "dated", "c": 2}],
    ),
    (
        "arg_max(n, v) without keys",
        summarize(extreme("n", "arg_max", "n", "v"), keys=()),
        [{"n": "10", "v": "new"}],
    ),
]  # fmt: skip


def run_events(query: ir.Query, engine, schema: bool) -> list[dict]:
    engine.load("E", EVENTS)
    known = {"E": EVENTS.columns} if schema else {}
    return canon(engine.run(SqlBackend(engine.dialect, Options(schema=known)).emit(query).text))


@pytest.mark.parametrize(("why", "query", "expected"), EXTREMES, ids=[c[0][:30] for c in EXTREMES])
@pytest.mark.parametrize("schema", [True, False], ids=["schema", "star-modifiers"])
def test_arg_extreme_duckdb(why, query, expected, schema):
    assert run_events(query, DuckDBEngine(), schema) == canon(expected), why


@pytest.mark.parametrize(("why", "query", "expected"), EXTREMES, ids=[c[0][:30] for c in EXTREMES])
def test_arg_extreme_postgres(why, query, expected, postgres_engine):
    assert run_events(query, postgres_engine, True) == canon(expected), why


# ---------------------------------------------------------------------- in / has_any over a table

TERMS = rows_table({"term": "Evil.exe", "other": "x"}, {"term": "run", "other": "y"})
LINES = rows_table(
    {"line": "c:\\evil.exe -x"}, {"line": "rerun now"}, {"line": "run-it"}, {"line": "EVIL.EXE"}
)


def lines_matching(kind: ir.MatchKind, case_sensitive: bool) -> ir.Query:
    values = ir.Pipeline(ir.Table("TERMS"))  # two columns: KQL takes the first
    match = ir.InPipeline(F("line"), values, case_sensitive, kind)
    return ir.Query(ir.Pipeline(ir.Table("LINES"), (ir.Filter(match),)))


# (kind, case-sensitive, the lines KQL keeps)
IN_TABLE = [
    (ir.MatchKind.EQ, False, ["EVIL.EXE"]),
    (ir.MatchKind.EQ, True, []),
    (ir.MatchKind.HAS, False, ["EVIL.EXE", "c:\\evil.exe -x", "run-it"]),
    (ir.MatchKind.HAS, True, ["run-it"]),
]


def run_lines(query: ir.Query, engine) -> list[str]:
    engine.load("TERMS", TERMS)
    engine.load("LINES", LINES)
    schema = {"TERMS": TERMS.columns, "LINES": LINES.columns}
    sql = SqlBackend(engine.dialect, Options(schema=schema)).emit(query).text
    return sorted(r["line"] for r in engine.run(sql))


@pytest.mark.parametrize(("kind", "case_sensitive", "expected"), IN_TABLE)
def test_in_table_duckdb(kind, case_sensitive, expected):
    assert run_lines(lines_matching(kind, case_sensitive), DuckDBEngine()) == sorted(expected)


@pytest.mark.parametrize(("kind", "case_sensitive", "expected"), IN_TABLE)
def test_in_table_postgres(kind, case_sensitive, expected, postgres_engine):
    assert run_lines(lines_matching(kind, case_sensitive), postgres_engine) == sorted(expected)


def test_union_withsource_of_a_computed_table_is_reported():
    """Which name withsource= gives rows that no stored table holds as they are is not
    documented."""
    filtered = ir.Pipeline(
        ir.Table("R"), (ir.Filter(ir.Match(F("k"), ir.MatchKind.EQ, ("c",), True)),)
    )
    query = pipeline(ir.Union((filtered,), source_column="T"))
    with pytest.raises(ir.RuleError, match="withsource"):
        SqlBackend("duckdb").emit(query)


def test_renaming_an_undocumented_column_gives_the_schema_entry_that_makes_it_convert():
    """AzureDiagnostics keeps each resource's own columns (`addedAccessPolicy_ObjectId_g`),
    which Microsoft's table reference does not list: the diagnostic's entry, given with
    --schema, is what the conversion needs."""
    import yaml

    query = ir.Query(
        ir.Pipeline(
            ir.Table("AzureDiagnostics"), (ir.Rename((("Added", "addedAccessPolicy_ObjectId_g"),)),)
        )
    )
    with pytest.raises(ir.RuleError) as caught:
        SqlBackend("postgres").emit(query)
    entry = caught.value.diagnostic.message.split("--schema file: `")[1].rstrip("`")
    schema = {k: tuple(v) for k, v in yaml.safe_load(entry).items()}
    assert schema["AzureDiagnostics"][-1] == "addedAccessPolicy_ObjectId_g"
    text = SqlBackend("postgres", Options(schema=schema)).emit(query).text
    assert '"addedAccessPolicy_ObjectId_g" AS "Added"' in text
