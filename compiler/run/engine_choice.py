"""The engine a command runs on (`--engine duckdb|postgres|spark|eql|kql|spl`), and running rules
there.

DuckDB runs many rules in one pass (`multirule.run_rules`). PostgreSQL (reached through the libpq
environment: PGHOST, PGUSER, ...) runs each rule's compiled query on its own. Spark (a local
session, or `--spark-master URL`) loads the tables once and runs the rules' queries in batches,
each batch one Spark job (`SparkEngine.run_many`); a batch that fails runs rule by rule, so each
rule gets its own rows or error. The `eql`, `kql` and `spl` engines run each rule as the text
its target's back end emits (`engines_eql`, `engines_kql`, `engines_spl`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from rulec.compiler import ir
from rulec.compiler.run.engines import Engine
from rulec.compiler.run.events import ROW, EventTable, load_events
from rulec.compiler.run.executor import execute, result_row
from rulec.compiler.run.multirule.runner import RuleRun

ENGINES = ("duckdb", "postgres", "spark", "eql", "kql", "spl")
SQL_ENGINES = ("duckdb", "postgres", "spark")
BATCH = 50  # rules per Spark job
Progress = Callable[[int, int], None]


def make_engine(name: str, spark_master: str | None = None) -> Engine:
    """A fresh engine of that name; Spark's session is started once per process."""
    if name == "duckdb":
        from rulec.compiler.run.engines import DuckDBEngine

        return DuckDBEngine()
    if name == "postgres":
        from rulec.compiler.run.engines import PostgresEngine

        try:
            return PostgresEngine("")
        except ImportError as error:
            message = f"the postgres engine needs psycopg (pip install rulec[postgres]): {error}"
            raise ValueError(message) from None
    if name == "spark":
        try:
            from rulec.compiler.run.engines_spark import SparkEngine

            return SparkEngine(spark_master)
        except ImportError as error:
            message = f"the spark engine needs pyspark (pip install rulec[spark]): {error}"
            raise ValueError(message) from None
    if name == "eql":
        try:
            from rulec.compiler.run.engines_eql import EqlEngine

            return EqlEngine()  # type: ignore[return-value]
        except ImportError as error:
            message = f"the eql engine needs Elastic's eql (pip install rulec[eql]): {error}"
            raise ValueError(message) from None
    if name == "kql":
        from rulec.compiler.run.engines_kql import KqlEngine

        return KqlEngine()  # type: ignore[return-value]
    if name == "spl":
        from rulec.compiler.run.engines_spl import SplEngine

        return SplEngine()  # type: ignore[return-value]
    raise ValueError(f"unknown engine {name!r}: expected one of {', '.join(ENGINES)}")


def load_on(engine: Engine | None, specs: Sequence[str]) -> EventTable:
    """Events for `engine`: paths with a scheme (s3a://, abfss://, hdfs://) go to Spark as they
    are, unread; everything else is loaded as `load_events` loads it."""
    remote = getattr(engine, "remote_table", None)
    if remote is not None:
        from rulec.compiler.run.engines_spark import is_url

        if any(is_url(spec) for spec in specs):
            try:
                return remote(list(specs))
            except Exception as error:
                message = f"Spark cannot read the events at {', '.join(specs)}: {error}"
                raise ir.RuleError(
                    ir.Diagnostic("events.missing", message, ir.Span(specs[0]))
                ) from None

    return load_events(specs)


def run_each(
    queries: Sequence[ir.Query],
    engine: Engine,
    events: EventTable | None,
    tables: Mapping[str, EventTable],
    now: datetime | None,
    time_field: str | None,
    progress: Progress | None = None,
) -> list[RuleRun]:
    """Each query's rows (or the error it raised) on `engine`: as its target's text on an
    `eql`, `kql` or `spl` engine, batched on Spark, else compiled and run one by one."""

    def execute_on(query: ir.Query, target: Any) -> list[dict[str, object]]:
        return execute(query, events, tables, now, time_field, target)

    if hasattr(engine, "run_many"):
        return _run_batched(queries, engine, execute_on, progress)
    if hasattr(engine, "run_query"):
        empty = EventTable((ROW,), ())

        def run(query: ir.Query) -> list[dict[str, object]]:
            rows = engine.run_query(query, events or empty, tables, now, time_field)
            return sorted(rows, key=_order)
    else:

        def run(query: ir.Query) -> list[dict[str, object]]:
            return execute_on(query, engine)

    runs: list[RuleRun] = []
    for query in queries:
        try:
            runs.append(RuleRun(rows=run(query)))
        except Exception as error:
            runs.append(RuleRun(error=error))
        if progress:
            progress(len(runs), len(queries))
    return runs


class Recorder:
    """An engine for `execute` that loads each table once into `engine` and records the query
    instead of running it."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.dialect = engine.dialect
        self.loaded: dict[str, int] = {}
        self.sql = ""

    def load(self, name: str, table: EventTable) -> None:
        if self.loaded.get(name) != id(table):
            self.engine.load(name, table)
            self.loaded[name] = id(table)

    def stored_columns(self, name: str) -> tuple[str, ...] | None:
        return self.engine.stored_columns(name)

    def run(self, sql: str) -> list[dict[str, object]]:
        self.sql = sql
        return []


def _run_batched(
    queries: Sequence[ir.Query],
    engine: Engine,
    execute_on: Callable[[ir.Query, Any], object],
    progress: Progress | None = None,
) -> list[RuleRun]:
    """The rules' queries compiled (`execute_on` a recorder) against tables loaded once,
    run `BATCH` to a Spark job."""
    recorder = Recorder(engine)
    runs: dict[int, RuleRun] = {}
    compiled: dict[int, str] = {}
    for index, query in enumerate(queries):
        try:
            execute_on(query, recorder)
            compiled[index] = recorder.sql
        except Exception as error:
            runs[index] = RuleRun(error=error)
    pending = sorted(compiled)
    for start in range(0, len(pending), BATCH):
        batch = pending[start : start + BATCH]
        runs.update(_run_batch(engine, batch, [compiled[i] for i in batch]))
        if progress:
            progress(len(runs), len(queries))
    return [runs[i] for i in range(len(queries))]


def _run_batch(engine: Any, indexes: list[int], sqls: list[str]) -> dict[int, RuleRun]:
    try:
        results = engine.run_many(sqls)
    except Exception:
        results = None
    out: dict[int, RuleRun] = {}
    for position, (index, sql) in enumerate(zip(indexes, sqls, strict=True)):
        try:
            rows = results[position] if results is not None else engine.run(sql)
        except Exception as error:
            out[index] = RuleRun(error=error)
            continue
        out[index] = RuleRun(rows=sorted((result_row(r) for r in rows), key=_order))
    return out


def _order(row: Mapping[str, object]) -> tuple:
    """The executor's order: event rows by `_row`, other rows by their values."""
    if isinstance(row.get(ROW), int):
        return (0, row[ROW])
    return (1, sorted((k, str(v)) for k, v in row.items()))
