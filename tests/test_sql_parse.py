"""KQL `parse` / `parse-where` in SQL: each row is a KQL stage, the regex it becomes, and the
columns KQL gives for some texts (checked by hand against the operator's documentation), run on
DuckDB."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from rulec.backends.base import Options
from rulec.backends.sql import SqlBackend
from rulec.backends.sql_parse import pattern
from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql
from rulec.compiler.run.engines import DuckDBEngine
from rulec.compiler.run.events import EventTable

MEMBER = "CN=John,OU=Users,DC=corp"
SLICES = "Event: (resourceName=Sched, totalSlices=27, lockTime=2016-02-17 08:40:01)"
BAD_SLICES = "Event: (resourceName=Sched, totalSlices=many, lockTime=2016-02-17 08:40:01)"
LOCK = datetime(2016, 2, 17, 8, 40, 1, tzinfo=timezone.utc)
SLICE_STAGE = "* 'resourceName=' r ', totalSlices=' n:long ', lockTime=' t:datetime ')' *"

# (stage, regex, text, the columns KQL gives; None: the row is dropped by parse-where)
CASES = [
    ("parse x with * 'CN=' U ',' *", r"^.*?CN=(.*?),.*?", MEMBER, {"U": "John"}),
    ("parse x with * 'CN=' U ',' *", r"^.*?CN=(.*?),.*?", "OU=Users", {"U": None}),
    ("parse x with Drive '\\\\' *", r"^(.*?)\\.*?", "C:\\Windows\\x", {"Drive": "C:"}),
    ("parse x with * 'duser=' User", r"^.*?duser=(.*)$", "a duser=bob x", {"User": "bob x"}),
    ("parse x with * \"ID: '\" K \"'\" *", r"^.*?ID:\ '(.*?)'.*?", "ID: 'k1' 'k2'", {"K": "k1"}),
    (f"parse x with {SLICE_STAGE}", None, SLICES, {"r": "Sched", "n": 27, "t": LOCK}),
    (f"parse x with {SLICE_STAGE}", None, BAD_SLICES, {"r": None, "n": None, "t": None}),
    (f"parse kind=relaxed x with {SLICE_STAGE}", None, BAD_SLICES, {"r": "Sched", "n": None,
                                                                    "t": LOCK}),
    ("parse-where x with * 'CN=' U ',' *", None, MEMBER, {"U": "John"}),
    ("parse-where x with * 'CN=' U ',' *", None, "OU=Users", None),
]  # fmt: skip


def run(stage: str, text: str) -> list[dict[str, object]]:
    engine = DuckDBEngine()
    engine.load("T", EventTable(("x",), ({"x": text},)))
    (query,) = load_kql(f"T | {stage}", "parse.kql")
    sql = SqlBackend("duckdb", Options(schema={"T": ("x",)})).emit(query).text
    return engine.run(sql)


@pytest.mark.parametrize(("stage", "regex", "text", "expected"), CASES)
def test_parse_on_duckdb(stage, regex, text, expected):
    (query,) = load_kql(f"T | {stage}", "parse.kql")
    (parse,) = query.pipeline.stages
    if regex is not None:
        assert pattern(parse) == regex
    rows = run(stage, text)
    if expected is None:
        assert rows == []
        return
    (row,) = rows
    for name, value in expected.items():
        found = row[name]
        if isinstance(value, datetime):
            found = datetime.fromisoformat(str(found).replace("Z", "+00:00"))
        assert found == value, (name, row)


def test_parse_without_a_schema_keeps_every_other_column():
    engine = DuckDBEngine()
    engine.load("T", EventTable(("x", "y"), ({"x": MEMBER, "y": "kept"},)))
    (query,) = load_kql("T | parse x with * 'CN=' y ',' *", "parse.kql")
    (row,) = engine.run(SqlBackend("duckdb").emit(query).text)
    assert row == {"x": MEMBER, "y": "John"}


@pytest.mark.parametrize(
    ("stage", "target", "why"),
    [
        ("parse kind=regex x with * 'a' y", "duckdb", "parse kind=regex"),
        ("parse x with * 'a' y:timespan", "duckdb", "type timespan"),
        ("parse x with * 'a' y", "postgres", "lazy quantifiers"),
    ],
)
def test_what_sql_cannot_parse_exactly_is_a_diagnostic(stage, target, why):
    (query,) = load_kql(f"T | {stage}", "parse.kql")
    with pytest.raises(ir.RuleError) as caught:
        SqlBackend(target, Options(schema={"T": ("x",)})).emit(query)
    assert why in caught.value.diagnostic.message
    assert caught.value.diagnostic.span.line == 1
