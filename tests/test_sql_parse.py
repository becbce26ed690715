"""KQL `parse` / `parse-where` in SQL: each row is a KQL stage, the regex it becomes, and the
columns KQL gives for some texts (checked by hand against the operator's documentation), run on
DuckDB and PostgreSQL; and generated patterns and texts, whose columns on PostgreSQL must be those
DuckDB's RE2 gives."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


def run(stage: str, texts: list[str], engine=None) -> list[dict[str, object]]:
    engine = engine or DuckDBEngine()
    engine.load("T", EventTable(("x",), tuple({"x": text} for text in texts)))
    (query,) = load_kql(f"T | {stage}", "parse.kql")
    sql = SqlBackend(engine.dialect, Options(schema={"T": ("x",)})).emit(query).text
    return engine.run(sql)


def check(stage: str, regex: str | None, text: str, expected, engine=None) -> None:
    (query,) = load_kql(f"T | {stage}", "parse.kql")
    (parse,) = query.pipeline.stages
    if regex is not None:
        assert pattern(parse) == regex
    rows = run(stage, [text], engine)
    if expected is None:
        assert rows == []
        return
    (row,) = rows
    for name, value in expected.items():
        found = row[name]
        if isinstance(value, datetime):
            found = datetime.fromisoformat(str(found).replace("Z", "+00:00"))
        assert found == value, (name, row)


@pytest.mark.parametrize(("stage", "regex", "text", "expected"), CASES)
def test_parse_on_duckdb(stage, regex, text, expected):
    check(stage, regex, text, expected)


@pytest.mark.parametrize(("stage", "regex", "text", "expected"), CASES)
def test_parse_on_postgres(stage, regex, text, expected, postgres_engine):
    check(stage, regex, text, expected, postgres_engine)


# parse patterns mixing lazy string columns, greedy typed ones and literals, over texts made of
# the same literals and of numbers (newlines included), so that columns have many ways to split them
LITERALS = ["a", "b", "ab", "1", "-", ".", " "]
PARTS = st.lists(
    st.sampled_from(LITERALS) | st.sampled_from(["", ":long", ":real", "*"]).map(lambda t: (t,)),
    min_size=1,
    max_size=5,
)
PIECES = st.sampled_from([*LITERALS, "23", "-4", ".5", "1.", "e6", "+", "\n"])


def stage_of(parts: list, kind: str) -> str:
    written = [
        f"'{p}'" if isinstance(p, str) else "*" if p == ("*",) else f"c{i}{p[0]}"
        for i, p in enumerate(parts)
    ]
    return f"parse kind={kind} x with {' '.join(written)}"


def texts_for(parts: list) -> st.SearchStrategy[str]:
    """Texts that follow the pattern part by part (a literal kept or not, a column some pieces)."""
    fills = [
        st.sampled_from([p, p, ""]) if isinstance(p, str) else st.lists(PIECES, max_size=3)
        for p in parts
    ]
    return st.tuples(*fills, st.lists(PIECES, max_size=2)).map(
        lambda drawn: "".join(d if isinstance(d, str) else "".join(d) for d in drawn)
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=PARTS, kind=st.sampled_from(["simple", "relaxed"]), data=st.data())
def test_parse_on_postgres_splits_texts_as_re2_does(parts, kind, data, postgres_engine):
    stage = stage_of(parts, kind)
    texts = data.draw(st.lists(texts_for(parts), min_size=1, max_size=8))
    expected = sorted(map(repr, run(stage, texts)))
    assert sorted(map(repr, run(stage, texts, postgres_engine))) == expected, stage


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
    ],
)
def test_what_sql_cannot_parse_exactly_is_a_diagnostic(stage, target, why):
    (query,) = load_kql(f"T | {stage}", "parse.kql")
    with pytest.raises(ir.RuleError) as caught:
        SqlBackend(target, Options(schema={"T": ("x",)})).emit(query)
    assert why in caught.value.diagnostic.message
    assert caught.value.diagnostic.span.line == 1
