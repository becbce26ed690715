"""Result rows from a DuckDB cursor, as `executor.execute` returns them, read fast.

`execute` turns each row into a dict of plain values named by field, without `_raw` columns.
Over hundreds of columns and many thousands of events, doing that value by value in Python is
most of a run's time; the names, the columns kept and the columns whose values need `plain`
are worked out once per cursor instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter

from rulec.compiler.run.engines import plain
from rulec.compiler.run.events import field_name
from rulec.compiler.run.executor import RAW_COLUMN

AS_IS = {"VARCHAR", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "BOOLEAN"}  # plain keeps these

Reader = Callable[[tuple], dict[str, object]]


def row_reader(description: Sequence[tuple]) -> Reader:
    """A function from a row of the cursor with this description to the row `execute` gives."""
    positions: dict[str, int] = {}
    for index, (name, *_) in enumerate(description):
        positions[name] = index  # a repeated name keeps its first place and its last value
    kept: dict[str, int] = {}
    for name, index in positions.items():
        field = field_name(name)
        if not RAW_COLUMN.match(field):
            kept[field] = index
    fields = tuple(kept)
    if not fields:
        return lambda values: {}
    indices = tuple(kept.values())
    pick = itemgetter(*indices) if len(indices) > 1 else (lambda values: (values[indices[0]],))
    converted = [f for f, i in kept.items() if str(description[i][1]) not in AS_IS]

    def read(values: tuple) -> dict[str, object]:
        row = dict(zip(fields, pick(values), strict=True))
        for field in converted:
            row[field] = plain(row[field])
        return row

    return read


class Rows:
    """Events' rows by `_row`, each kept as it was fetched with the function that reads it into
    the row `execute` gives (a value tuple is a fifth of the size of its dict)."""

    def __init__(self) -> None:
        self.stored: dict[int, tuple[Callable[[object], dict[str, object]], object]] = {}

    def add(self, number: int, read: Callable[[object], dict[str, object]], kept: object) -> None:
        self.stored[number] = (read, kept)

    def update(self, other: Rows) -> None:
        self.stored.update(other.stored)

    def read(self, numbers: Sequence[int]) -> list[dict[str, object]]:
        """The rows of these events, in this order (a new dict each)."""
        return [read(kept) for read, kept in map(self.stored.__getitem__, numbers)]
