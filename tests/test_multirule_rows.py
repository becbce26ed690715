"""Rows read for many rules at once: the same dicts as `executor.result_row` of `plain` values.

Oracle: the row-by-row conversion `execute` applies (`result_row` over `plain` values), on
queries whose columns need every kind of conversion.
"""

from __future__ import annotations

import duckdb
import pytest

from rulec.compiler.run.engines import plain
from rulec.compiler.run.executor import result_row
from rulec.compiler.run.multirule.rows import row_reader

# query                                                            expected first row
QUERIES = [
    ("SELECT 'a' AS s, 7::BIGINT AS _row", {"s": "a", "_row": 7}),
    ("SELECT 'x' AS a, 'line' AS _raw, 'r' AS _raw1", {"a": "x"}),
    ("SELECT 2.0::DOUBLE AS f, 1.5::DOUBLE AS g", {"f": 2, "g": 1.5}),
    ("SELECT 3.00::DECIMAL(4,2) AS d, 2.50::DECIMAL(4,2) AS e", {"d": 3, "e": 2.5}),
    ("SELECT DATE '2026-01-02' AS day", {"day": "2026-01-02"}),
    (
        "SELECT TIMESTAMP '2026-01-02 03:04:05.5' AS t, TIMESTAMP '2026-01-02 03:04:05' AS u",
        {"t": "2026-01-02T03:04:05.5Z", "u": "2026-01-02T03:04:05Z"},
    ),
    ("SELECT 'v' AS \"user\x1f1\", 'w' AS \"User\"", {"user": "v", "User": "w"}),
    ("SELECT 1 AS a, 2 AS a", {"a": 2}),
    ("SELECT NULL::VARCHAR AS n, true AS b, [1, 2] AS l", {"n": None, "b": True, "l": [1, 2]}),
    ("SELECT 'only' AS _raw", {}),
]


@pytest.mark.parametrize(("sql", "expected"), QUERIES)
def test_rows_read_as_execute_reads_them(sql, expected):
    cursor = duckdb.connect().execute(f"{sql} UNION ALL {sql}")
    read = row_reader(cursor.description)
    names = [d[0] for d in cursor.description]
    for values in cursor.fetchall():
        row = read(values)
        assert row == expected
        assert list(row) == list(expected)
        assert row == result_row(dict(zip(names, map(plain, values), strict=True)))


def test_the_columns_a_cursor_does_not_read_are_none_in_the_order_of_the_table():
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE t AS SELECT 1::BIGINT AS _row, NULL::VARCHAR AS a, 'x' AS b, "
        "'r' AS _raw, NULL::DOUBLE AS c, 2.0::DOUBLE AS d"
    )
    whole = connection.execute("SELECT * FROM t")
    order = [d[0] for d in whole.description]
    expected = result_row(dict(zip(order, map(plain, whole.fetchone()), strict=True)))
    cursor = connection.execute("SELECT d, b, _row FROM t")
    row = row_reader(cursor.description, order)(cursor.fetchone())
    assert row == expected
    assert list(row) == ["_row", "a", "b", "c", "d"]
