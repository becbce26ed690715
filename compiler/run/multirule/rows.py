"""Result rows from a DuckDB cursor, as `executor.execute` returns them, read fast.

`execute` turns each row into a dict of plain values named by field, without `_raw` columns.
Over hundreds of columns and many thousands of events, doing that value by value in Python is
most of a run's time; the names, the columns kept and the columns whose values need `plain`
are worked out once per cursor instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import count
from operator import itemgetter

from rulec.compiler.run.engines import plain, quote
from rulec.compiler.run.events import ROW, field_name
from rulec.compiler.run.executor import RAW_COLUMN

AS_IS = {"VARCHAR", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "BOOLEAN"}  # plain keeps these

Reader = Callable[[tuple], dict[str, object]]


def row_reader(description: Sequence[tuple], order: Sequence[str] | None = None) -> Reader:
    """A function from a row of the cursor with this description to the row `execute` gives.
    With `order` (the columns of the table in order, of which the cursor reads some), the
    columns it does not read are in the row too, as None, where the table has them."""
    positions: dict[str, int] = {}
    for index, (name, *_) in enumerate(description):
        positions[name] = index  # a repeated name keeps its first place and its last value
    kept: dict[str, int | None] = {}
    for name in order if order is not None else positions:
        field = field_name(name)
        if not RAW_COLUMN.match(field):
            kept[field] = positions.get(name)
    read = {field: index for field, index in kept.items() if index is not None}
    fields = tuple(read)
    if not fields:
        return lambda values: dict.fromkeys(kept)
    indices = tuple(read.values())
    pick = itemgetter(*indices) if len(indices) > 1 else (lambda values: (values[indices[0]],))
    converted = [f for f, i in read.items() if str(description[i][1]) not in AS_IS]
    template = dict.fromkeys(kept) if len(read) < len(kept) else None

    def read_row(values: tuple) -> dict[str, object]:
        if template is None:
            row = dict(zip(fields, pick(values), strict=True))
        else:
            row = template.copy()
            row.update(zip(fields, pick(values), strict=True))
        for field in converted:
            row[field] = plain(row[field])
        return row

    return read_row


TABLES = count()


class Rows:
    """Events' rows by `_row`: each kept as it was fetched with the function that reads it into
    the row `execute` gives (a value tuple is a fifth of the size of its dict), or left in
    DuckDB tables (`keep`), in its compressed columns, until read."""

    def __init__(self) -> None:
        self.stored: dict[int, tuple[Callable[[object], dict[str, object]], object]] = {}
        self.tables: list[tuple[object, str, Sequence[str]]] = []

    def add(self, number: int, read: Callable[[object], dict[str, object]], kept: object) -> None:
        self.stored[number] = (read, kept)

    def keep(
        self, connection, select: str, parameters: Sequence[list], order: Sequence[str]
    ) -> None:
        """Keep the rows of `select` (which has `_row`; `order`: as `row_reader` takes it), run
        with each of the `parameters`, in a new temporary table."""
        name = quote(f"_rulec_matched_{next(TABLES)}")
        for index, bound in enumerate(parameters):
            into = f"INSERT INTO {name} " if index else f"CREATE TEMP TABLE {name} AS "
            connection.execute(into + select, bound)
        self.tables.append((connection, name, order))

    def update(self, other: Rows) -> None:
        self.stored.update(other.stored)
        self.tables += other.tables

    def read(self, numbers: Sequence[int]) -> list[dict[str, object]]:
        """The rows of these events, in this order (a new dict each)."""
        fetched = self._fetched([number for number in numbers if number not in self.stored])
        rows = []
        for number in numbers:
            if number in fetched:
                rows.append(fetched[number])
            else:
                read, kept = self.stored[number]
                rows.append(read(kept))
        return rows

    def _fetched(self, numbers: list[int]) -> dict[int, dict[str, object]]:
        """The rows of these events that the tables keep, by `_row`."""
        fetched: dict[int, dict[str, object]] = {}
        for connection, name, order in self.tables if numbers else ():
            cursor = connection.execute(
                f"SELECT * FROM {name} WHERE {quote(ROW)} IN (SELECT unnest(?::BIGINT[]))",
                [numbers],
            )
            read = row_reader(cursor.description, order)
            position = [d[0] for d in cursor.description].index(ROW)
            for values in cursor.fetchall():
                fetched[values[position]] = read(values)
        return fetched
