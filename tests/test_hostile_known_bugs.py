"""Strict-xfail reproducers of back-end bugs the property tests found (tests/test_properties.py
skips these constructs for the target concerned until they are fixed; see `bugs_of` there).

Each row: the IR filter, the events (flat text fields), and the rows the reference executor and
`reference_eval` select; the target's result is expected to be the same.
"""

from __future__ import annotations

import pytest
from reference_eval import evaluate
from test_properties import run_eql as run_eql_text

from rulec.backends.base import Options
from rulec.backends.eql import EqlBackend
from rulec.backends.kql import KqlBackend
from rulec.compiler import ir
from rulec.compiler.events import ROW, EventTable, flatten
from rulec.compiler.executor import execute
from rulec.compiler.frontends.kql import load_kql

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


def run_eql(predicate: ir.Expr, events: EventTable) -> list[int]:
    text = EqlBackend(Options(raw_field="_raw")).emit(query(predicate)).text
    return run_eql_text(text, events)


def run_kql(predicate: ir.Expr, events: EventTable) -> list[int]:
    text = KqlBackend().emit(query(predicate)).text
    [parsed] = load_kql(text, "<emitted kql>")
    assert isinstance(parsed, ir.Query), (text, parsed)
    return [row[ROW] for row in execute(parsed, events)]


# bug | IR filter | events | rows selected by the reference
EQL_BUGS = [
    (
        "a number in an eq match is emitted as a number; eql never equals it to text '0'",
        ir.Match(F("a"), K.EQ, (0,), False),
        [{"a": "0"}, {"a": "1"}],
        [1],
    ),
    (
        "a threshold on text compares text with a number: null in eql, and `not null` is null",
        ir.Not(ir.Match(F("a"), K.LT, (0,), False)),
        [{"a": "x"}, {"a": "-1"}],
        [1],
    ),
]


@pytest.mark.xfail(strict=True, reason="EQL back end: field-to-field eq is emitted, not reported")
def test_eql_field_to_field_comparison_is_reported_not_emitted():
    """Elasticsearch EQL rejects `a == b` between two fields; the back end emits it."""
    predicate = ir.Match(F("a"), K.EQ, (F("b"),), True)
    try:
        text = EqlBackend().emit(query(predicate)).text
    except ir.RuleError as error:
        assert error.diagnostic.code == "unsupported"
        return
    with eql.parser.elasticsearch_syntax:
        eql.parse_query(text)


KQL_BUGS = [
    (
        "a bool in an eq match is emitted bare; parsed back it becomes a text = BOOLEAN compare",
        ir.Match(F("a"), K.EQ, (False,), False),
        [{"a": "false"}, {"a": "x"}],
        [1],
    ),
    (
        "exists is emitted as isnotempty(), which is false on an empty string",
        ir.Match(F("a"), K.EXISTS, (), False),
        [{"a": ""}, {}],
        [1],
    ),
    (
        "a case-insensitive match on a non-ASCII letter is emitted as KQL's ASCII-only fold",
        ir.Match(F("a"), K.CONTAINS, ("À",), False),
        [{"a": "xàx"}, {"a": "x"}],
        [1],
    ),
]


@pytest.mark.parametrize(("bug", "predicate", "events", "rows"), EQL_BUGS)
@pytest.mark.xfail(strict=True, reason="EQL back end: see the case's `bug`")
def test_eql_selects_what_the_reference_selects(bug, predicate, events, rows):
    events = table(events)
    assert reference(predicate, events) == rows
    assert run_eql(predicate, events) == rows, bug


@pytest.mark.parametrize(("bug", "predicate", "events", "rows"), KQL_BUGS)
@pytest.mark.xfail(strict=True, reason="KQL back end: see the case's `bug`")
def test_kql_round_trip_selects_what_the_reference_selects(bug, predicate, events, rows):
    events = table(events)
    assert reference(predicate, events) == rows
    assert run_kql(predicate, events) == rows, bug
