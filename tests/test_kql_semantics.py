"""KQL semantics that the lowering must keep, proven by running the lowered IR on DuckDB.

Each case: a KQL query over the events below, and the `_row`s (or values) KQL returns.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql
from rulec.compiler.run.engines import DuckDBEngine
from rulec.compiler.run.events import EventTable, flatten
from rulec.compiler.run.executor import execute

NOW = datetime(2024, 1, 10, 12, 0, tzinfo=timezone.utc)


def table(*events: dict) -> EventTable:
    rows = []
    for number, event in enumerate(events, 1):
        row = flatten(event)
        row["_row"] = number
        rows.append(row)
    columns = dict.fromkeys(c for r in rows for c in r)
    return EventTable(tuple(columns), tuple(rows))


EVENTS = table(
    {"Cmd": "net user /add", "Name": "Straße.exe", "N": "5", "Ts": "2024-01-10T11:30:00Z"},
    {"Cmd": "net_user add", "Name": "STRASSE.EXE", "N": "10", "Ts": "2024-01-09T00:00:00Z"},
    {"Cmd": "netuser", "Name": "", "N": "1", "Ts": "2024-01-01T00:00:00Z"},
    {"Cmd": "-enc AAA", "N": "11", "Ts": "2024-01-10T11:59:00Z"},
    {"Cmd": "run.exe -Enc", "Name": "ÉVIL.exe", "N": "7", "Ts": "2023-12-31T23:59:59Z"},
)


def run(text: str, events: EventTable = EVENTS, **tables: EventTable) -> list[dict]:
    results = load_kql(text, "t.kql")
    queries = [r for r in results if isinstance(r, ir.Query)]
    assert len(queries) == 1, results
    return execute(queries[0], events, tables=tables, now=NOW, engine=DuckDBEngine())


def rows(text: str) -> list[int]:
    return [int(row["_row"]) for row in run(f"T | {text}")]


CASES = [
    # `has` matches whole terms: runs of ASCII letters and digits; `_` and `-` delimit.
    ('where Cmd has "user"', [1, 2]),
    ('where Cmd has "net"', [1, 2]),
    ('where Cmd has "-enc"', [4, 5]),
    ('where Cmd !has "user"', [3, 4, 5]),
    # `=~`, `contains`, `in~` fold ASCII letters only: `ß`/`É` are not folded.
    ('where Name =~ "strasse.exe"', [2]),
    ('where Name =~ "straße.EXE"', [1]),
    ('where Name contains "évil"', []),
    ('where Name has "évil"', []),
    ('where Name startswith "Évil"', [5]),
    ('where Name startswith "éVIL"', []),
    ('where Name in~ ("straße.exe", "évil.exe")', [1]),
    ('where Name in ("STRASSE.EXE")', [2]),
    # strings are never null: negations keep empty and missing values.
    ('where Name !contains "exe"', [3, 4]),
    ('where Name !in ("STRASSE.EXE", "Straße.exe")', [3, 4, 5]),
    ('where Name != "x"', [1, 2, 3, 4, 5]),
    # `between` is inclusive at both ends, with a timespan after a datetime.
    ("where toint(N) between (5 .. 10)", [1, 2, 5]),
    # a right-hand side computed from the row is that row's value
    ('where Cmd contains strcat("u", "ser")', [1, 2, 3]),
    ('where Cmd startswith strcat("net", "_")', [2]),
    ('where Cmd contains strcat(substring(Name, 0, 0), "-enc")', [4, 5]),
    # `sort` defaults to descending.
    ("sort by toint(N) | take 2", [2, 4]),
    ("sort by toint(N) asc | take 2", [1, 3]),
]
TIME_CASES = [
    ("where todatetime(Ts) between (datetime(2024-01-09) .. 1d)", [2]),
    # `ago()` is one value for the whole query (the executor's `now`).
    ("where todatetime(Ts) > ago(1h) and todatetime(Ts) <= now()", [1, 4]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_filter_semantics(text: str, expected: list[int]) -> None:
    assert rows(text) == expected


@pytest.mark.parametrize(("text", "expected"), TIME_CASES)
def test_time_semantics(text: str, expected: list[int]) -> None:
    assert rows(text) == expected


def test_bin_rounds_down_from_the_unix_epoch() -> None:
    result = run("T | summarize count() by Day = bin(todatetime(Ts), 7d)")
    starts = sorted(datetime.fromisoformat(row["Day"].replace("Z", "+00:00")) for row in result)
    assert starts == [  # the Unix epoch was a Thursday: 7-day bins start on Thursdays
        datetime(2023, 12, 28, tzinfo=timezone.utc),
        datetime(2024, 1, 4, tzinfo=timezone.utc),
    ]


def test_join_without_kind_is_innerunique() -> None:
    left = table({"K": "a", "L": "1"}, {"K": "a", "L": "2"}, {"K": "b", "L": "3"})
    right = table({"K": "a", "R": "x"}, {"K": "a", "R": "y"})
    result = run("L | join (R) on K", left, R=right)
    assert sorted((row["K"], row["R"]) for row in result) == [("a", "x"), ("a", "y")]


def test_arg_max_keeps_the_whole_latest_row() -> None:
    result = run("T | extend G = Cmd startswith 'net' | summarize arg_max(toint(N), Cmd) by G")
    assert sorted((row["G"], row["Cmd"]) for row in result) == [
        (False, "-enc AAA"),
        (True, "net_user add"),
    ]


def test_a_computed_right_hand_side_leaves_no_column_behind() -> None:
    (row,) = run('T | where Cmd contains strcat("ne", "tuser")')
    assert set(row) == {"Cmd", "Name", "N", "Ts", "_row"}


def test_empty_and_nested_dynamic_literals_are_their_json_values() -> None:
    text = 'T | take 1 | extend a = dynamic([]), b = dynamic({"k": [1, {"x": "y"}]})'
    (row,) = run(text + " | project n = array_length(a), m = tostring(b.k[1].x), c = b.k[0]")
    assert (row["n"], row["m"], str(row["c"])) == (0, "y", "1")
