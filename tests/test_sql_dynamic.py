"""mv-expand in SQL, executed: an array gives one row per element, a property bag one row per
property, an empty array none, null or a plain value one row; several columns zip, the shorter
padded with null; `limit` caps rows per input row. JSON compares parsed (engines space it
differently)."""

from __future__ import annotations

import json

import pytest

from rulec.backends.base import Options
from rulec.backends.sql import SqlBackend
from rulec.compiler import ir
from rulec.compiler.run.engines import DuckDBEngine
from rulec.compiler.run.events import EventTable

F = ir.FieldRef
ROWS = (
    {"k": "a", "x": '[1, "s", {"b": 2}]', "y": '["p"]'},
    {"k": "b", "x": "[]", "y": '["q"]'},
    {"k": "c", "x": None, "y": '{"u": 1, "v": [2]}'},
    {"k": "d", "x": "plain", "y": "[]"},
)
TABLE = EventTable(("k", "x", "y"), ROWS)


def expand(*columns: tuple[str, ir.Expr], limit: int | None = None) -> ir.Query:
    stage = ir.MvExpand(tuple(ir.Assign(n, e) for n, e in columns), limit)
    return ir.Query(ir.Pipeline(ir.Table("T"), (stage,)))


# (mv-expand, the (k, x, z) rows KQL gives)
CASES = [
    (
        expand(("x", F("x"))),
        [("a", 1, None), ("a", "s", None), ("a", {"b": 2}, None), ("c", None, None),
         ("d", "plain", None)],
    ),
    (
        expand(("x", F("x")), ("z", F("y"))),
        [("a", 1, "p"), ("a", "s", None), ("a", {"b": 2}, None), ("b", None, "q"),
         ("c", None, {"u": 1}), ("c", None, {"v": [2]}), ("d", "plain", None)],
    ),
    (expand(("x", F("x")), limit=1), [("a", 1, None), ("c", None, None), ("d", "plain", None)]),
    (
        expand(("z", ir.Call("index", (ir.Call("parse_json", (F("y"),)), ir.Literal("v"))))),
        [("a", None, None), ("b", None, None), ("c", None, 2), ("d", None, None)],
    ),
]  # fmt: skip


def value(text: str | None) -> object:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def expanded(query: ir.Query) -> list[str]:
    return [a.name for a in query.pipeline.stages[0].columns]


def run(engine, query: ir.Query, schema: bool) -> list[tuple]:
    """The (k, x, z) rows, x only where it is expanded."""
    engine.load("T", TABLE)
    known = {"T": TABLE.columns} if schema else {}
    rows = engine.run(SqlBackend(engine.dialect, Options(schema=known)).emit(query).text)
    keep_x = "x" in expanded(query)
    out = [(r["k"], value(r["x"]) if keep_x else None, value(r.get("z"))) for r in rows]
    return sorted(out, key=repr)


def normalised(query: ir.Query, expected: list[tuple]) -> list[tuple]:
    keep_x = "x" in expanded(query)
    return sorted(((k, x if keep_x else None, z) for k, x, z in expected), key=repr)


@pytest.mark.parametrize(("query", "expected"), CASES)
@pytest.mark.parametrize("schema", [True, False], ids=["schema", "star-modifiers"])
def test_duckdb(query, expected, schema):
    assert run(DuckDBEngine(), query, schema) == normalised(query, expected)


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_postgres(query, expected, postgres_engine):
    assert run(postgres_engine, query, True) == normalised(query, expected)


def test_postgres_needs_the_schema():
    with pytest.raises(ir.RuleError, match="schema"):
        SqlBackend("postgres").emit(expand(("x", F("x"))))


def nested_expand() -> ir.Query:
    """Four `mv-expand`s, each of a property of the element the one before made (DuckDB planned
    nested LATERAL joins in time exponential in their depth: four did not finish)."""
    stages: list[ir.Stage] = [ir.MvExpand((ir.Assign("x", F("x")),), None)]
    for name in ("a", "b", "c"):
        value = ir.Call("index", (ir.Call("parse_json", (F(stages[-1].columns[0].name),)),
                                  ir.Literal(name)))  # fmt: skip
        stages.append(ir.MvExpand((ir.Assign(name, value),), None))
    return ir.Query(ir.Pipeline(ir.Table("T"), tuple(stages)))


NESTED = EventTable(("k", "x"), ({"k": "n", "x": '[{"a": [{"b": [{"c": [1, 2]}, {"c": 3}]}]}]'},))


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_nested_expansions(engine, request):
    """Per KQL's documented mv-expand: one row per element at each level, c of 1, 2 and 3."""
    db = DuckDBEngine() if engine == "duckdb" else request.getfixturevalue("postgres_engine")
    db.load("T", NESTED)
    query = nested_expand()
    text = SqlBackend(db.dialect, Options(schema={"T": NESTED.columns})).emit(query).text
    assert sorted(value(r["c"]) for r in db.run(text)) == [1, 2, 3]
    assert ("LATERAL" in text) == (engine == "postgres")
