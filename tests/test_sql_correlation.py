"""Sigma correlations in SQL, executed on DuckDB and PostgreSQL over hand-written events.

Each case states its events (minute:second after 10:00 on 2026-03-02) and the alert rows that must
come out: group key, window start and end (inclusive windows of the timespan ending at an event,
overlapping windows merged), and the measured value.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from rulec.backends.sql import SqlBackend
from rulec.compiler import ir
from rulec.compiler.frontends.sigma.load import load_sigma
from rulec.compiler.run.engines import DuckDBEngine
from rulec.compiler.run.events import EventTable, flatten
from rulec.compiler.run.executor import execute

K = ir.CorrelationKind
GE, GT = ir.CompareOp.GE, ir.CompareOp.GT


def at(clock: str) -> str:
    """'13:30' -> 2026-03-02T10:13:30Z; '1:05:00' (hours) -> 11:05:00."""
    parts = [int(p) for p in clock.split(":")]
    hours, minutes, seconds = ([0] * (3 - len(parts)) + parts)[-3:]
    return f"2026-03-02T{10 + hours:02d}:{minutes:02d}:{seconds:02d}Z"


def events(*rows: tuple[str, dict]) -> EventTable:
    out = []
    for number, (clock, fields) in enumerate(rows, 1):
        row = flatten({"TimeCreated": at(clock), **fields})
        row["_row"] = number
        out.append(row)
    columns = dict.fromkeys(c for r in out for c in r)
    return EventTable(tuple(columns), tuple(out))


def rule(name: str, event_id: int) -> ir.Let:
    match = ir.Match(ir.FieldRef("EventID"), ir.MatchKind.EQ, (event_id,), False)
    return ir.Let(name, ir.Pipeline(ir.LogSource(), (ir.Filter(match),)))


def correlation(
    kind: ir.CorrelationKind,
    rules: tuple[str, ...],
    group_by: tuple[str, ...],
    minutes: int,
    condition: tuple[ir.CompareOp, float] | None = None,
    field: str | None = None,
) -> ir.Query:
    lets = tuple(rule(name, number) for number, name in enumerate(rules, 1))
    having = None
    if condition is not None:
        having = ir.Compare(condition[0], ir.FieldRef("value"), ir.Literal(condition[1]))
    stage = ir.Correlation(kind, rules, group_by, timedelta(minutes=minutes), having, field)
    return ir.Query(ir.Pipeline(ir.PipelineRef(rules[0]), (stage,)), lets=lets)


def alert(key: dict, start: str, end: str, value: float) -> dict:
    return {**key, "window_start": at(start), "window_end": at(end), "value": value}


# (case, query, events, expected alerts)
CASES = [
    (
        "event_count: a burst straddling 10:05, an exactly-5-minute span, a run merged",
        correlation(K.EVENT_COUNT, ("fail",), ("User",), 5, (GE, 3)),
        events(
            ("03:00", {"EventID": 1, "User": "alice"}),
            ("04:00", {"EventID": 1, "User": "alice"}),
            ("06:00", {"EventID": 1, "User": "alice"}),  # 3 within 10:01-10:06
            ("04:30", {"EventID": 1, "User": "bob"}),
            ("05:30", {"EventID": 1, "User": "bob"}),  # bob: only 2
            ("05:45", {"EventID": 2, "User": "bob"}),  # another rule: not counted
            ("1:00:00", {"EventID": 1, "User": "alice"}),
            ("1:02:00", {"EventID": 1, "User": "alice"}),
            ("1:05:00", {"EventID": 1, "User": "alice"}),  # 11:00-11:05 inclusive: 3
            ("1:06:00", {"EventID": 1, "User": "alice"}),  # 11:01-11:06: 3, same run
        ),
        [
            alert({"User": "alice"}, "01:00", "06:00", 3),
            alert({"User": "alice"}, "1:00:00", "1:06:00", 3),
        ],
    ),
    (
        "value_count: distinct sources, repeats of one source do not count",
        correlation(K.VALUE_COUNT, ("fail",), ("User",), 10, (GE, 3), "Src"),
        events(
            ("00:00", {"EventID": 1, "User": "alice", "Src": "a"}),
            ("00:30", {"EventID": 1, "User": "alice", "Src": "a"}),
            ("02:00", {"EventID": 1, "User": "alice", "Src": "b"}),
            ("09:00", {"EventID": 1, "User": "alice", "Src": "c"}),  # a, b, c in 10 minutes
            ("11:00", {"EventID": 1, "User": "alice", "Src": "c"}),  # 10:01-10:11: b, c only
            ("00:00", {"EventID": 1, "User": "bob", "Src": "a"}),
            ("01:00", {"EventID": 1, "User": "bob", "Src": "a"}),
            ("02:00", {"EventID": 1, "User": "bob", "Src": "a"}),
            ("03:00", {"EventID": 1, "User": "bob"}),  # no value: not a value
        ),
        [alert({"User": "alice"}, "-1:59:00", "09:00", 3)],
    ),
    (
        "temporal: both rules within 5 minutes, in any order",
        correlation(K.TEMPORAL, ("a", "b"), ("Host",), 5, (GE, 2)),
        events(
            ("00:00", {"EventID": 2, "Host": "h1"}),
            ("03:00", {"EventID": 1, "Host": "h1"}),  # b then a, 3 minutes apart
            ("00:00", {"EventID": 1, "Host": "h2"}),
            ("06:00", {"EventID": 2, "Host": "h2"}),  # 6 minutes apart
            ("00:00", {"EventID": 1, "Host": "h3"}),
            ("01:00", {"EventID": 1, "Host": "h3"}),  # only rule a
        ),
        [alert({"Host": "h1"}, "-1:58:00", "03:00", 2)],
    ),
    (
        "temporal_ordered: order violations and same-instant pairs do not fire",
        correlation(K.TEMPORAL_ORDERED, ("a", "b"), ("Host",), 5, (GE, 2)),
        events(
            ("00:00", {"EventID": 2, "Host": "h1"}),
            ("03:00", {"EventID": 1, "Host": "h1"}),  # b before a: violation
            ("00:00", {"EventID": 1, "Host": "h2"}),
            ("04:00", {"EventID": 2, "Host": "h2"}),  # a then b: fires
            ("00:00", {"EventID": 1, "Host": "h3"}),
            ("00:00", {"EventID": 2, "Host": "h3"}),  # same instant: not ordered
            ("00:00", {"EventID": 1, "Host": "h4"}),
            ("02:00", {"EventID": 2, "Host": "h4"}),
            ("04:00", {"EventID": 2, "Host": "h4"}),
            ("06:00", {"EventID": 1, "Host": "h4"}),  # 10:01-10:06: a after both b
        ),
        [
            alert({"Host": "h2"}, "-1:59:00", "04:00", 2),
            alert({"Host": "h4"}, "-1:57:00", "04:00", 2),
        ],
    ),
    (
        "temporal_ordered over three rules: a chain a < b < c within the window",
        correlation(K.TEMPORAL_ORDERED, ("a", "b", "c"), (), 10, (GE, 3)),
        events(
            ("00:00", {"EventID": 1}),
            ("02:00", {"EventID": 3}),  # c before b: not yet
            ("03:00", {"EventID": 2}),
            ("11:00", {"EventID": 3}),  # 10:01-10:11 misses a at 10:00
            ("12:00", {"EventID": 1}),
            ("13:00", {"EventID": 2}),
            ("14:00", {"EventID": 3}),  # a 10:12 < b 10:13 < c 10:14
        ),
        [alert({}, "04:00", "14:00", 3)],
    ),
    (
        "value_sum: bytes per user over 5 minutes, text parsed as numbers",
        correlation(K.VALUE_SUM, ("xfer",), ("User",), 5, (GE, 100), "Bytes"),
        events(
            ("00:00", {"EventID": 1, "User": "alice", "Bytes": "40"}),
            ("04:00", {"EventID": 1, "User": "alice", "Bytes": "70"}),  # 110
            ("10:00", {"EventID": 1, "User": "alice", "Bytes": "50"}),
            ("00:00", {"EventID": 1, "User": "bob", "Bytes": "99"}),
        ),
        [alert({"User": "alice"}, "-1:59:00", "04:00", 110)],
    ),
    (
        "value_avg: the mean over the window must exceed 50",
        correlation(K.VALUE_AVG, ("xfer",), ("User",), 5, (GT, 50), "Bytes"),
        events(
            ("00:00", {"EventID": 1, "User": "alice", "Bytes": "40"}),
            ("04:00", {"EventID": 1, "User": "alice", "Bytes": "70"}),  # mean 55
            ("10:00", {"EventID": 1, "User": "alice", "Bytes": "50"}),  # mean 50
        ),
        [alert({"User": "alice"}, "-1:59:00", "04:00", 55)],
    ),
]


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request):
    if request.param == "duckdb":
        return DuckDBEngine()
    return request.getfixturevalue("postgres_engine")


@pytest.mark.parametrize(("case", "query", "table", "expected"), CASES, ids=[c[0] for c in CASES])
def test_correlation_alerts(engine, case, query, table, expected) -> None:
    rows = execute(query, table, engine=engine)
    got = [{k: row[k] for k in expected[0]} if expected else row for row in rows]
    assert sorted(got, key=str) == sorted(expected, key=str), case


def test_sigma_aliases_and_group_by_on_both_engines(engine) -> None:
    text = """
title: Logon
name: logon
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4624}, condition: sel}
---
title: Share access
name: share
logsource: {product: windows, service: security}
detection: {sel: {EventID: 5140}, condition: sel}
---
title: Logon then share access from one address
correlation:
  type: temporal_ordered
  rules: [logon, share]
  group-by: [ip]
  timespan: 1m
  aliases:
    ip: {logon: IpAddress, share: SourceAddress}
"""
    *_, query = load_sigma(text, "corr.yml")
    assert isinstance(query, ir.Query), query
    table = events(
        ("00:00", {"EventID": 4624, "IpAddress": "10.0.0.1"}),
        ("00:30", {"EventID": 5140, "SourceAddress": "10.0.0.1"}),  # fires
        ("00:40", {"EventID": 5140, "SourceAddress": "10.0.0.2"}),  # other address
        ("00:50", {"EventID": 5140, "IpAddress": "10.0.0.2"}),  # field of the other rule
    )
    rows = execute(query, table, engine=engine)
    assert rows == [alert({"ip": "10.0.0.1"}, "-1:59:30", "00:30", 2)]


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        (
            ir.Correlation(K.VALUE_PERCENTILE, ("a",), (), timedelta(minutes=1), None, "x", 95),
            "duckdb cannot express the value_percentile correlation",
        ),
        (
            ir.Correlation(K.TEMPORAL, ("a",), (), timedelta(minutes=1), absent=("b",)),
            "duckdb cannot express a correlation with rules that must not occur",
        ),
        (
            ir.Correlation(K.EVENT_COUNT, ("nope",), (), timedelta(minutes=1)),
            "duckdb cannot express a correlation over rules that are not let-bound",
        ),
    ],
)
def test_inexpressible_correlations_are_diagnostics(stage, message) -> None:
    query = ir.Query(ir.Pipeline(ir.PipelineRef("a"), (stage,)), lets=(rule("a", 1),))
    with pytest.raises(ir.RuleError) as caught:
        SqlBackend("duckdb").emit(query)
    assert caught.value.diagnostic.message.startswith(message)
    assert caught.value.diagnostic.target == "duckdb"
