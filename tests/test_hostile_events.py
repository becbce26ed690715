"""Hostile event files: truncated, not JSON, wrong encodings, mixed types in one column.

Each bad file is one `ir.RuleError` naming the file and line, in bounded time (the table of bad
files is `BAD_FILES` in test_events.py); a field that no event has, or that differs from another
only in case, is a field like any other to the executor.
"""

from __future__ import annotations

import csv
import json

import pytest

from rulec.compiler import ir
from rulec.compiler.run.events import load_events
from rulec.compiler.run.executor import execute
from rulec.compiler.run.multirule.runner import STRATEGIES, run_rules


def match(field: str, value: str) -> ir.Query:
    predicate = ir.Match(ir.FieldRef(field), ir.MatchKind.EQ, (value,), True)
    return ir.Query(ir.Pipeline(ir.Table("events"), (ir.Filter(predicate),)))


MIXED = b"""{"a": "1"}
{"a": 2}
{"a": [1, 2]}
{"a": {"x": 1}}
{"a": null}
{"a": true}
{"a": 2.5}
"""

# value as text | rows whose `a` holds it
MIXED_TEXTS = [("1", [1]), ("2", [2]), ("[1, 2]", [3]), ("true", [6]), ("2.5", [7])]


@pytest.mark.parametrize(("text", "rows"), MIXED_TEXTS)
def test_mixed_types_in_one_column_are_text(tmp_path, text, rows):
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(MIXED)
    table = load_events([str(path)])
    assert [row["_row"] for row in execute(match("a", text), table)] == rows


def test_non_object_event_names_its_line(tmp_path):
    path = tmp_path / "numbers.ndjson"
    path.write_bytes(b'{"a": "1"}\n5\n')
    with pytest.raises(ir.RuleError) as caught:
        load_events([str(path)])
    assert caught.value.diagnostic.span.line == 2


def test_non_utf8_csv_is_a_diagnostic(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"a,b\ncaf\xe9,1\n")
    with pytest.raises(ir.RuleError):
        load_events([str(path)])


def test_broken_parquet_is_a_diagnostic(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(ir.RuleError):
        load_events([str(path)])


def test_deeply_nested_json_is_a_diagnostic(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ir.RuleError):
        load_events([str(path)])


def test_fields_differing_in_case_stay_apart(tmp_path):
    path = tmp_path / "case.ndjson"
    path.write_bytes(b'{"A": "1", "a": "2"}\n')
    table = load_events([str(path)])
    assert [row["_row"] for row in execute(match("a", "2"), table)] == [1]


def test_a_field_no_event_has_is_missing_not_an_error(tmp_path):
    path = tmp_path / "events.ndjson"
    path.write_bytes(b'{"a": "1"}\n')
    table = load_events([str(path)])
    negated = ir.Not(match("Image", "x").pipeline.stages[0].predicate)
    query = ir.Query(ir.Pipeline(ir.Table("events"), (ir.Filter(negated),)))
    assert [row["_row"] for row in execute(query, table)] == [1]


def absent(kind: ir.MatchKind, *values: str) -> ir.Match:
    return ir.Match(ir.FieldRef("Image"), kind, values, False)


def kept(*stages: ir.Stage) -> ir.Query:
    return ir.Query(ir.Pipeline(ir.Table("events"), stages))


TWO_EVENTS = b'{"a": "1"}\n{"a": "2"}\n'
HAS_A1 = ir.Match(ir.FieldRef("a"), ir.MatchKind.EQ, ("1",), True)

# predicate over `Image`, which no event has | `_row`s it keeps of events 1 and 2
ABSENT_FIELD = [
    (absent(ir.MatchKind.EQ, "x"), []),
    (ir.Not(absent(ir.MatchKind.EQ, "x")), [1, 2]),
    (absent(ir.MatchKind.EXISTS), []),
    (ir.Not(absent(ir.MatchKind.EXISTS)), [1, 2]),
    (absent(ir.MatchKind.CONTAINS, "x", "y"), []),
    (absent(ir.MatchKind.REGEX, ".*"), []),
    (absent(ir.MatchKind.CIDR, "10.0.0.0/8"), []),
    (ir.Match(ir.FieldRef("Image"), ir.MatchKind.GT, (5,), False), []),
    (ir.Or((HAS_A1, absent(ir.MatchKind.EQ, "x"))), [1]),
    (ir.And((HAS_A1, ir.Not(absent(ir.MatchKind.STARTSWITH, "x")))), [1]),
    (ir.Compare(ir.CompareOp.EQ, ir.FieldRef("Image"), ir.Literal(None)), []),
]


@pytest.mark.parametrize(("predicate", "rows"), ABSENT_FIELD)
def test_a_field_no_event_has_reads_as_missing(tmp_path, predicate, rows):
    path = tmp_path / "events.ndjson"
    path.write_bytes(TWO_EVENTS)
    table = load_events([str(path)])
    assert [row["_row"] for row in execute(kept(ir.Filter(predicate)), table)] == rows


def test_a_field_no_event_has_keeps_its_name_in_projections_and_groups(tmp_path):
    path = tmp_path / "events.ndjson"
    path.write_bytes(TWO_EVENTS)
    table = load_events([str(path)])
    project = ir.Project(
        (ir.Assign("Image", ir.FieldRef("Image")), ir.Assign("a", ir.FieldRef("a")))
    )
    assert execute(kept(project), table) == [{"Image": None, "a": "1"}, {"Image": None, "a": "2"}]
    count = ir.Measure("n", ir.AggCall("count"))
    grouped = ir.Aggregate((ir.Assign("Image", ir.FieldRef("Image")),), (count,))
    assert execute(kept(grouped), table) == [{"Image": None, "n": 2}]


def test_a_field_defined_by_the_rule_is_not_missing(tmp_path):
    path = tmp_path / "events.ndjson"
    path.write_bytes(TWO_EVENTS)
    table = load_events([str(path)])
    extend = ir.Extend((ir.Assign("Image", ir.FieldRef("a")),))
    query = kept(extend, ir.Filter(ir.Match(ir.FieldRef("Image"), ir.MatchKind.EQ, ("2",), True)))
    assert [row["_row"] for row in execute(query, table)] == [2]


CASES = b'{"A": "1", "a": "2"}\n{"a": "1"}\n{"A": "2"}\n'

# field | value | `_row`s whose field (in exactly that case) holds the value
CASE_MATCHES = [("A", "1", [1]), ("a", "1", [2]), ("A", "2", [3]), ("a", "2", [1])]


@pytest.mark.parametrize(("field", "value", "rows"), CASE_MATCHES)
def test_fields_differing_only_in_case_keep_their_own_values(tmp_path, field, value, rows):
    path = tmp_path / "case.ndjson"
    path.write_bytes(CASES)
    table = load_events([str(path)])
    assert [row["_row"] for row in execute(match(field, value), table)] == rows


def test_rows_name_fields_differing_in_case_as_the_events_do(tmp_path):
    path = tmp_path / "case.ndjson"
    path.write_bytes(CASES)
    table = load_events([str(path)])
    rows = execute(match("a", "2"), table)
    assert [{k: v for k, v in row.items() if k != "_raw"} for row in rows] == [
        {"_row": 1, "A": "1", "a": "2"}
    ]
    count = ir.Measure("n", ir.AggCall("count"))
    grouped = ir.Aggregate((ir.Assign("a", ir.FieldRef("a")),), (count,))
    assert execute(kept(grouped), table) == [
        {"a": "1", "n": 1},
        {"a": "2", "n": 1},
        {"a": None, "n": 1},
    ]


def test_a_field_in_another_case_than_the_events_is_missing(tmp_path):
    path = tmp_path / "events.ndjson"
    path.write_bytes(TWO_EVENTS)
    table = load_events([str(path)])
    assert execute(match("A", "1"), table) == []
    negated = ir.Not(match("A", "1").pipeline.stages[0].predicate)
    assert [row["_row"] for row in execute(kept(ir.Filter(negated)), table)] == [1, 2]


def hostile_rules() -> list[tuple[ir.Query, list[int]]]:
    """Rules over fields no event has or that differ only in case | `_row`s of CASES kept."""
    return [
        (match("Image", "1"), []),
        (kept(ir.Filter(ir.Not(absent(ir.MatchKind.EQ, "1")))), [1, 2, 3]),
        (match("a", "1"), [2]),
        (match("A", "1"), [1]),
        (kept(ir.Filter(ir.Not(ir.Match(ir.FieldRef("a"), ir.MatchKind.EXISTS, (), True)))), [3]),
    ]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_run_rules_agrees_with_execute_on_hostile_fields(tmp_path, strategy):
    path = tmp_path / "case.ndjson"
    path.write_bytes(CASES)
    table = load_events([str(path)])
    rules = hostile_rules()
    runs = run_rules([q for q, _ in rules], table, strategy=strategy)
    assert [[row["_row"] for row in run.rows] for run in runs] == [rows for _, rows in rules]
    assert [run.rows for run in runs] == [execute(q, table) for q, _ in rules]


def test_postgres_reads_hostile_fields_as_duckdb_does(tmp_path, postgres_engine):
    path = tmp_path / "case.ndjson"
    path.write_bytes(CASES)
    table = load_events([str(path)])
    for query, rows in hostile_rules():
        got = execute(query, table, engine=postgres_engine)
        assert [row["_row"] for row in got] == rows
        assert got == execute(query, table)


HOSTILE_NAMES = ["", " ", 'a"b', "a'b", "a\nb", "x" * 10_000, "_ROW", "_RAW", "\x00", "*", "a\x1f1"]


@pytest.mark.parametrize("suffix", [".ndjson", ".csv"])
@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_any_field_name_is_a_field_like_any_other(tmp_path, suffix, name):
    path = tmp_path / f"events{suffix}"
    if suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows([[name, "z"], ["v", "1"], ["w", "2"]])
    else:
        path.write_text(json.dumps({name: "v", "z": "1"}) + "\n" + json.dumps({name: "w"}) + "\n")
    table = load_events([str(path)])
    rows = execute(match(name, "v"), table)
    assert [(row["_row"], row[name]) for row in rows] == [(1, "v")]
    assert "_raw" not in rows[0]


def test_postgres_reads_a_field_no_event_has_as_missing(tmp_path, postgres_engine):
    path = tmp_path / "events.ndjson"
    path.write_bytes(TWO_EVENTS)
    table = load_events([str(path)])
    for predicate, rows in ABSENT_FIELD:
        got = execute(kept(ir.Filter(predicate)), table, engine=postgres_engine)
        assert [row["_row"] for row in got] == rows, predicate
