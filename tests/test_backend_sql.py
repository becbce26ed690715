"""SQL back end: IR in, the WHERE clause for DuckDB and PostgreSQL side by side; then execution.

The execution tests run the emitted SQL on DuckDB (the reference engine) and state the rows each
match must select, so a wrong translation fails even where the text looks plausible.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from rulec.backends.sql import SqlBackend
from rulec.compiler import ir
from rulec.compiler.run.engines import DuckDBEngine
from rulec.compiler.run.events import EventTable, flatten
from rulec.compiler.run.executor import execute

F, M, K = ir.FieldRef, ir.Match, ir.MatchKind
# PostgreSQL reads as a number the texts DuckDB's TRY_CAST reads: `1_000`, `nan`, `+-2`.
DIGITS = "[0-9]+(_[0-9]+)*"
NUMBER = (
    rf"'(?i)^\s*\+?-?(inf|infinity|nan|({DIGITS}(\.({DIGITS})?)?|\.{DIGITS})"
    rf"(e[-+]?{DIGITS})?)\s*$'"
)
PLAIN = r"""REPLACE(REGEXP_REPLACE(CAST({} AS VARCHAR), '^\s*\+-', '-', 'g'), '_', '')"""
SIZE, P = PLAIN.format('"Size"'), PLAIN.format('"P"')

# (IR predicate, DuckDB WHERE clause, PostgreSQL WHERE clause; None: same as DuckDB)
CASES = [
    (
        M(F("Image"), K.EQ, ("C:\\x.exe",), False),
        "LOWER(\"Image\") = LOWER('C:\\x.exe')",
        None,
    ),
    (
        M(F("Image"), K.EQ, ("a", "b"), True),
        "(\"Image\" = 'a' OR \"Image\" = 'b')",
        None,
    ),
    (
        M(F("CommandLine"), K.CONTAINS, ("50%_off\\",), False),
        "LOWER(\"CommandLine\") LIKE LOWER('%50\\%\\_off\\\\%') ESCAPE '\\'",
        None,
    ),
    (
        M(
            F("Image"),
            K.WILDCARD,
            (ir.Pattern(("a", ir.Wildcard.ANY, "b", ir.Wildcard.ONE)),),
            False,
        ),
        "LOWER(\"Image\") LIKE LOWER('a%b_') ESCAPE '\\'",
        None,
    ),
    (
        M(F("CommandLine"), K.REGEX, ("^a.*b$",), True, flags=frozenset({"s"})),
        "REGEXP_MATCHES(\"CommandLine\", '(?s)^a.*b$')",
        "\"CommandLine\" ~ '^a.*b$'",
    ),
    (
        M(F("CommandLine"), K.REGEX, ("(?i)^a.b",), True),
        "REGEXP_MATCHES(\"CommandLine\", '(?i)^a.b')",
        "\"CommandLine\" ~ '(?i)^a[^\\n]b'",
    ),
    (M(F("EventID"), K.EQ, (4688,), False), "\"EventID\" = '4688'", None),
    (
        M(F("Size"), K.GT, (100,), True),
        'TRY_CAST("Size" AS DOUBLE) > 100',
        f'CASE WHEN CAST("Size" AS VARCHAR) ~ {NUMBER} '
        f"THEN CAST({SIZE} AS DOUBLE PRECISION) END > 100",
    ),
    (M(F("Foo"), K.EXISTS, (), False), 'NOT "Foo" IS NULL', None),
    (
        ir.Not(M(F("User"), K.ENDSWITH, ("$",), False)),
        "NOT COALESCE(LOWER(\"User\") LIKE LOWER('%$') ESCAPE '\\', FALSE)",
        None,
    ),
    (
        M(ir.RawText(), K.CONTAINS, ("mimikatz",), False),
        "LOWER(\"_raw\") LIKE LOWER('%mimikatz%') ESCAPE '\\'",
        None,
    ),
    (M(F("a"), K.EQ, (F("b"),), False), 'LOWER("a") = LOWER("b")', None),
    (
        M(F("CommandLine"), K.HAS, ("whoami",), False),
        "REGEXP_MATCHES(\"CommandLine\", '(?i)(^|[^A-Za-z0-9])whoami($|[^A-Za-z0-9])')",
        '"CommandLine" ~ \'(?i)(^|[^0-9A-Za-z\\u017f\\u212a])whoami'
        "($|[^0-9A-Za-z\\u017f\\u212a])'",
    ),
    (
        M(F("P"), K.LT, (100,), True, transforms=(ir.Transform("coalesce", (ir.Literal(0),)),)),
        'COALESCE(TRY_CAST("P" AS DOUBLE), 0) < 100',
        f'COALESCE(CASE WHEN CAST("P" AS VARCHAR) ~ {NUMBER} '
        f"THEN CAST({P} AS DOUBLE PRECISION) END, 0) < 100",
    ),
]


def where(predicate: ir.Expr, dialect: str) -> str:
    query = ir.Query(ir.Pipeline(ir.LogSource(), (ir.Filter(predicate),)))
    return SqlBackend(dialect).build(query).sql(dialect).split(" WHERE ", 1)[1]


@pytest.mark.parametrize(("predicate", "duckdb", "postgres"), CASES)
def test_where_clause(predicate, duckdb, postgres):
    assert where(predicate, "duckdb") == duckdb
    assert where(predicate, "postgres") == (postgres or duckdb)


def table(*events: dict) -> EventTable:
    rows = []
    for number, event in enumerate(events, 1):
        row = flatten(event)
        row["_row"] = number
        rows.append(row)
    columns = dict.fromkeys(c for r in rows for c in r)
    return EventTable(tuple(columns), tuple(rows))


def selected(predicate: ir.Expr, events: EventTable) -> list[int]:
    query = ir.Query(ir.Pipeline(ir.LogSource(), (ir.Filter(predicate),)))
    return [row["_row"] for row in execute(query, events, engine=DuckDBEngine())]


PATHS = table(
    {"Image": "C:\\Windows\\System32\\cmd.exe", "User": "alice"},
    {"Image": "c:\\windows\\system32\\CMD.EXE", "User": "HOST$"},
    {"Image": "C:\\Temp\\cmd.exe.bak"},
    {"Image": "C:\\Temp\\50%_off\\x", "SourceIp": "10.1.2.3"},
    {"Image": "C:\\Temp\\50XYoff\\x", "SourceIp": "10.0.0.256"},
    {"Image": "", "SourceIp": "11.0.0.1", "Size": "not a number"},
    {"Size": "250", "SourceIp": "9.255.255.255"},
)

EXECUTED = [
    (M(F("Image"), K.ENDSWITH, ("\\cmd.exe",), False), [1, 2]),
    (M(F("Image"), K.ENDSWITH, ("\\cmd.exe",), True), [1]),
    (M(F("Image"), K.CONTAINS, ("50%_off",), False), [4]),
    (
        M(F("Image"), K.WILDCARD, (ir.Pattern(("c:\\", ir.Wildcard.ANY, "\\cmd.exe")),), False),
        [1, 2],
    ),
    (
        M(
            F("Image"),
            K.WILDCARD,
            (ir.Pattern(("C:\\Temp\\50", ir.Wildcard.ONE, "_off\\x")),),
            True,
        ),
        [4],
    ),
    (ir.Not(M(F("User"), K.ENDSWITH, ("$",), False)), [1, 3, 4, 5, 6, 7]),
    (ir.Not(M(F("User"), K.EXISTS, (), False)), [3, 4, 5, 6, 7]),
    (M(F("Image"), K.EQ, ("",), False), [6]),
    (M(F("SourceIp"), K.CIDR, ("10.0.0.0/8",), False), [4]),
    (M(F("Size"), K.GE, (250,), False), [7]),
    (M(F("Image"), K.REGEX, ("cmd\\.EXE$",), False), [1, 2]),
    (M(F("Image"), K.REGEX, ("CMD\\.EXE$",), True), [2]),
    (M(ir.RawText(), K.CONTAINS, ("host$",), False), [2]),
    (M(F("Image"), K.HAS, ("cmd",), False), [1, 2, 3]),
    (M(F("Image"), K.HAS, ("off",), False), [4]),
]


@pytest.mark.parametrize(("predicate", "rows"), EXECUTED)
def test_selects_exactly(predicate, rows):
    assert selected(predicate, PATHS) == rows


HOSTILE = [
    "it's",
    'say "hi"',
    "back\\",
    "\\\\server\\share",
    "line\nbreak",
    "50%_off*?[]",
    "a|b; DROP TABLE events; --",
    "' OR '1'='1",
    "ünïcödé ✓ 日本",
    "\\*\\?",
]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "kind", [K.EQ, K.CONTAINS, K.STARTSWITH, K.ENDSWITH], ids=lambda k: k.value
)
def test_hostile_values_match_only_themselves(value, kind):
    events = table({"v": value}, {"v": value + "x"}, {"v": "x" + value}, {"v": "other"})
    expected = {
        K.EQ: [1],
        K.CONTAINS: [1, 2, 3],
        K.STARTSWITH: [1, 2],
        K.ENDSWITH: [1, 3],
    }[kind]
    assert selected(M(F("v"), kind, (value,), True), events) == expected


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark", "snowflake"])
def test_hostile_value_stays_one_literal(dialect):
    import sqlglot

    value = "x' OR 1=1; --\\"
    sql = (
        SqlBackend(dialect)
        .emit(ir.Query(ir.Pipeline(ir.LogSource(), (ir.Filter(M(F("v"), K.EQ, (value,), True)),))))
        .text
    )
    tree = sqlglot.parse_one(sql, read=dialect)
    literals = [lit.this for lit in tree.find_all(sqlglot.exp.Literal) if lit.is_string]
    assert literals == [value]


def test_sliding_window_alerts_span_quarter_hour_edges():
    start = "2026-01-01T10:10:00Z"
    from datetime import datetime

    base = datetime.fromisoformat(start.replace("Z", "+00:00"))
    events = table(
        *[
            {"host": f"h{i}", "TimeCreated": (base + timedelta(seconds=20 * i)).isoformat()}
            for i in range(31)
        ]
    )
    stage = ir.Aggregate(
        (),
        (ir.Measure("value", ir.AggCall("dcount", F("host"))),),
        ir.Window(timedelta(minutes=15)),
        ir.Compare(ir.CompareOp.GT, F("value"), ir.Literal(30)),
    )
    query = ir.Query(ir.Pipeline(ir.LogSource(), (stage,)))
    rows = execute(query, events, engine=DuckDBEngine())
    assert rows == [
        {"window_start": "2026-01-01T10:05:00Z", "window_end": "2026-01-01T10:20:00Z", "value": 31}
    ]


def test_unknown_dialect_is_an_error():
    with pytest.raises(ValueError):
        SqlBackend("no-such-dialect")


ADDRESSES = [
    "::1", "0:0:0:0:0:0:0:1", "fe80::1%eth0", "FE80::abcd", "fe7f::1", "fc00::1", "fdff:ffff::1",
    "fe00::", "2001:db8::1", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "febf:ffff::", "fec0::",
    "1:2:3:4:5:6:7:8", "::", "10.0.0.1", "10.255.255.255", "11.0.0.0", "192.168.1.7", "9.0.0.1",
    "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::1", "garbage", "", "10.0.0", "010.0.0.1x",
]  # fmt: skip
NETWORKS = [
    "::1/128", "fe80::/10", "fc00::/7", "2001:db8::/32", "::/0", "fe80::/9", "2001:db8:85a3::/48",
    "10.0.0.0/8", "192.168.0.0/16", "0.0.0.0/0", "10.0.0.0/31",
]  # fmt: skip


def python_cidr(address: str, network: str) -> bool:
    """Oracle: Python's ipaddress module."""
    import ipaddress

    try:
        parsed = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    net = ipaddress.ip_network(network)
    return parsed.version == net.version and parsed in net


def cidr_events() -> EventTable:
    return table(*[{"ip": a} for a in ADDRESSES])


@pytest.mark.parametrize("network", NETWORKS)
def test_cidr_agrees_with_python_ipaddress(network):
    got = selected(M(F("ip"), K.CIDR, (network,), False), cidr_events())
    want = [i for i, a in enumerate(ADDRESSES, 1) if python_cidr(a, network)]
    assert got == want


@pytest.mark.parametrize("network", NETWORKS)
def test_cidr_on_postgres_agrees_with_python_ipaddress(network, postgres_engine):
    query = ir.Query(
        ir.Pipeline(ir.LogSource(), (ir.Filter(M(F("ip"), K.CIDR, (network,), False)),))
    )
    got = [row["_row"] for row in execute(query, cidr_events(), engine=postgres_engine)]
    assert got == [i for i, a in enumerate(ADDRESSES, 1) if python_cidr(a, network)]


def test_bad_network_is_a_located_diagnostic():
    predicate = M(F("ip"), K.CIDR, ("10.0.0.0/33",), False, span=ir.Span("r.yml", 7, 3))
    with pytest.raises(ir.RuleError) as caught:
        where(predicate, "duckdb")
    assert caught.value.diagnostic.code == "sql.bad-cidr"
    assert caught.value.diagnostic.span.line == 7
