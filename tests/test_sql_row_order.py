"""KQL's row-order functions in SQL: `prev()` and `row_cumsum()` after a sort, and `min()`/`max()`
of computed times, run on DuckDB and PostgreSQL.

Oracle: the examples of Microsoft's documentation (learn.microsoft.com/kusto/query/
row-cumsum-function: `row_cumsum(a)` over 1..10 gives 1, 3, 6, ... 55; prev-function: `prev(x)`
is null on the first row, `prev(x, 2)` the value two rows before). These are the functions the KQL
that rulec writes for sliding windows uses, so that `rulec run --engine kql` runs it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql
from rulec.compiler.run.events import ROW, EventTable
from rulec.compiler.run.executor import execute

TEN = EventTable((ROW, "a"), tuple({ROW: i, "a": str(11 - i)} for i in range(1, 11)))


def run(text: str, table: EventTable, engine=None) -> list[dict[str, object]]:
    (query,) = load_kql(text, "order.kql")
    assert isinstance(query, ir.Query), query
    return execute(query, table, engine=engine)


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request):
    return request.getfixturevalue("postgres_engine") if request.param == "postgres" else None


def test_row_cumsum_follows_the_sort(engine):
    rows = run("T | sort by toint(a) asc | extend cs = row_cumsum(toint(a))", TEN, engine)
    assert sorted(int(r["cs"]) for r in rows) == [1, 3, 6, 10, 15, 21, 28, 36, 45, 55]
    by_a = {int(r["a"]): int(r["cs"]) for r in rows}
    assert by_a[4] == 10 and by_a[10] == 55


def test_prev_reads_the_row_before_in_sort_order(engine):
    text = "T | sort by toint(a) desc | extend p = prev(a), p2 = prev(a, 2)"
    rows = {r["a"]: (r["p"], r["p2"]) for r in run(text, TEN, engine)}
    assert rows["10"] == (None, None)
    assert rows["9"] == ("10", None)
    assert rows["1"] == ("2", "3")


def test_prev_without_a_sort_is_reported():
    with pytest.raises(ir.RuleError, match=r"prev\(\) without a sort just before it"):
        run("T | extend p = prev(a)", TEN)


def test_min_and_max_of_computed_times_stay_times(engine):
    start = datetime(2026, 3, 2, 10, tzinfo=timezone.utc)
    table = EventTable(
        (ROW, "t"),
        tuple({ROW: i, "t": (start + timedelta(minutes=i)).isoformat()} for i in (3, 1, 2)),
    )
    text = "T | extend u = todatetime(t) | summarize lo = min(u) - 5m, hi = max(u)"
    (row,) = run(text, table, engine)
    assert row == {"lo": "2026-03-02T09:56:00Z", "hi": "2026-03-02T10:03:00Z"}
