"""The reference executor: run an IR query over events on DuckDB (or another SQL engine).

The IR means whatever this executor selects: it compiles the query with the SQL back end for the
engine's dialect, loads the events, runs the query and returns the rows in a stable order
(event rows by `_row`; other rows by their values). `_raw` stays out of the output.
Tables bound by name also give the SQL back end their columns, so relational stages (extend,
join, union, invoke) compile to explicit column lists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from rulec.backends.base import DEFAULT_TABLE, Options
from rulec.backends.sql import SqlBackend
from rulec.compiler import ir
from rulec.compiler.engines import DuckDBEngine, Engine
from rulec.compiler.events import RAW, ROW, EventTable

RAW_COLUMN = re.compile(rf"^{RAW}[0-9]*$")  # `_raw`, and `_raw1`... from the right of a join


def main_table(query: ir.Query) -> str:
    """The table the rule's events come from, following let-bound pipelines to their source."""
    lets = {let.name: let.value for let in query.lets if isinstance(let.value, ir.Pipeline)}
    source: ir.Source = query.pipeline.source
    seen: set[str] = set()
    while isinstance(source, ir.PipelineRef) and source.name in lets and source.name not in seen:
        seen.add(source.name)
        source = lets[source.name].source
    return source.name if isinstance(source, ir.Table) else DEFAULT_TABLE


def _sort_key(row: Mapping[str, object]) -> tuple:
    if ROW in row and isinstance(row[ROW], int):
        return (0, row[ROW])
    return (1, sorted((k, str(v)) for k, v in row.items()))


def execute(
    query: ir.Query,
    events: EventTable | None = None,
    tables: Mapping[str, EventTable] | None = None,
    now: datetime | None = None,
    time_field: str | None = None,
    engine: Engine | None = None,
) -> list[dict[str, object]]:
    """Rows that `query` selects. `events` binds to the rule's main table; `tables` by name."""
    engine = engine or DuckDBEngine()
    bound = dict(tables or {})
    if events is not None:
        bound.setdefault(main_table(query), events)
    for name, table in bound.items():
        engine.load(name, table)
    schema = {name: table.columns for name, table in bound.items()}
    options = Options(now=now, time_field=time_field, schema=schema)
    sql = SqlBackend(engine.dialect, options).emit(query).text
    rows = [{k: v for k, v in row.items() if not RAW_COLUMN.match(k)} for row in engine.run(sql)]
    return sorted(rows, key=_sort_key)
