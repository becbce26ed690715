"""Back-end bugs the property tests found, kept as regression cases (all fixed).

Oracle: the reference executor on DuckDB, checked against `reference_eval` for each case.

Each row: the bug, the IR filter, the events (flat text fields), and the rows the reference
executor and `reference_eval` select; the target selects the same rows, or reports the filter as
unsupported (`UNSUPPORTED`) where it cannot express it exactly.
"""

from __future__ import annotations

import pytest
from reference_eval import evaluate

from rulec.compiler import ir
from rulec.compiler.run.engines_eql import EqlEngine
from rulec.compiler.run.engines_eql import run_eql as run_eql_text
from rulec.compiler.run.engines_kql import KqlEngine
from rulec.compiler.run.events import ROW, EventTable, flatten
from rulec.compiler.run.executor import execute

eql = pytest.importorskip("eql", reason="Elastic's eql package runs the emitted EQL")

K, F = ir.MatchKind, ir.FieldRef


def query(predicate: ir.Expr) -> ir.Query:
    return ir.Query(ir.Pipeline(ir.Table("events"), (ir.Filter(predicate),)))


def table(events: list[dict[str, str]]) -> EventTable:
    rows = tuple({**flatten(e), ROW: i} for i, e in enumerate(events, 1))
    return EventTable((ROW, "a", "_raw"), rows)


def reference(predicate: ir.Expr, events: EventTable) -> list[int]:
    selected = [row[ROW] for row in execute(query(predicate), events)]
    assert selected == [row[ROW] for row in events.rows if evaluate(predicate, row)]
    return selected


UNSUPPORTED = "unsupported"


def outcome(run, predicate: ir.Expr, events: EventTable) -> list[int] | str:
    """The rows the target selects, or the code of the diagnostic it reports."""
    try:
        return run(predicate, events)
    except ir.RuleError as error:
        return error.diagnostic.code


def run_eql(predicate: ir.Expr, events: EventTable) -> list[int]:
    return run_eql_text(EqlEngine().emit(query(predicate), None, None), events)


def run_kql(predicate: ir.Expr, events: EventTable) -> list[int]:
    return [row[ROW] for row in KqlEngine().run_query(query(predicate), events, {}, None, None)]


# bug | IR filter | events | rows selected by the reference | rows selected by EQL
EQL_BUGS = [
    (
        "a number in an eq match was emitted as a number; eql never equals it to text '0'",
        ir.Match(F("a"), K.EQ, (0,), False),
        [{"a": "0"}, {"a": "1"}],
        [1],
        [1],
    ),
    (
        "a threshold on text compared text with a number: null in eql, and `not null` is null",
        ir.Not(ir.Match(F("a"), K.LT, (0,), False)),
        [{"a": "x"}, {"a": "-1"}],
        [1],
        UNSUPPORTED,
    ),
    (
        "a field-to-field eq was emitted as `a == b`, which Elasticsearch EQL rejects",
        ir.Match(F("a"), K.EQ, (F("_raw"),), True),
        [{"a": "x", "_raw": "x"}, {"a": "x", "_raw": "y"}],
        [1],
        UNSUPPORTED,
    ),
]

# bug | IR filter | events | rows selected by the reference | rows selected by KQL parsed back
KQL_BUGS = [
    (
        "a bool in an eq match was emitted bare; parsed back it became a text = BOOLEAN compare",
        ir.Match(F("a"), K.EQ, (False,), False),
        [{"a": "false"}, {"a": "x"}, {"a": "FALSE"}],
        [1, 3],
        [1, 3],
    ),
    (
        "exists was emitted as isnotempty(), which is false on an empty string",
        ir.Match(F("a"), K.EXISTS, (), False),
        [{"a": ""}, {}],
        [1],
        UNSUPPORTED,
    ),
    (
        "a case-insensitive match on a non-ASCII letter was emitted as KQL's ASCII-only fold",
        ir.Match(F("a"), K.CONTAINS, ("À",), False),
        [{"a": "xàx"}, {"a": "x"}],
        [1],
        [1],
    ),
    (
        "the same for a non-ASCII term: `has` folds every letter",
        ir.Match(F("a"), K.HAS, ("Σx",), False),
        [{"a": "a \u03c3X b"}, {"a": "\u03c3xy"}, {"a": "\u03c2x"}],
        [1, 3],
        [1, 3],
    ),
    (
        "the same for a wildcard pattern",
        ir.Match(F("a"), K.WILDCARD, (ir.Pattern(("É", ir.Wildcard.ONE, "x")),), False),
        [{"a": "é-X"}, {"a": "É-x"}, {"a": "e-x"}],
        [1, 2],
        [1, 2],
    ),
]


@pytest.mark.parametrize(("bug", "predicate", "events", "rows", "selected"), EQL_BUGS)
def test_eql_selects_what_the_reference_selects(bug, predicate, events, rows, selected):
    events = table(events)
    assert reference(predicate, events) == rows
    assert outcome(run_eql, predicate, events) == selected, bug


@pytest.mark.parametrize(("bug", "predicate", "events", "rows", "selected"), KQL_BUGS)
def test_kql_round_trip_selects_what_the_reference_selects(bug, predicate, events, rows, selected):
    events = table(events)
    assert reference(predicate, events) == rows
    assert outcome(run_kql, predicate, events) == selected, bug


NUMBER_TEXTS = [{"a": v} for v in ("nan", "NaN", "-inf", "1_000", "+-2", " 7 ", "0x10", "5")]

# bug | IR filter | rows selected by the reference (DuckDB's TRY_CAST) and by PostgreSQL
POSTGRES_BUGS = [
    (
        "PostgreSQL read nan, inf and 1_000 as no number, DuckDB as numbers",
        ir.Match(F("a"), K.GT, (0,), False),
        [1, 2, 4, 6, 8],
    ),
    ("... and +-2 as no number, DuckDB as -2", ir.Match(F("a"), K.LT, (0,), False), [3, 5]),
]


@pytest.mark.parametrize(("bug", "predicate", "rows"), POSTGRES_BUGS)
def test_postgres_reads_numbers_as_the_reference_does(postgres_engine, bug, predicate, rows):
    events = table(NUMBER_TEXTS)
    assert reference(predicate, events) == rows
    assert [row[ROW] for row in execute(query(predicate), events, engine=postgres_engine)] == rows
