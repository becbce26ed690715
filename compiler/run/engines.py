"""SQL engines behind one small interface: load a table of events, run a query, return rows.

DuckDB is the embedded reference engine. PostgreSQL (through psycopg) runs the same compiled
plans for the cross-engine checks. Both hold event fields as text, `_row` as an integer, and run
in UTC.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Protocol

from rulec.compiler.run.events import (
    RAW,
    ROW,
    EventTable,
    Row,
    flat_select,
    flat_source,
    raw_text,
    stored_names,
)


class EngineLimit(Exception):
    """The engine cannot run this query: its own limit, not a fault of the translation."""


class Engine(Protocol):
    dialect: str

    def load(self, name: str, table: EventTable) -> None: ...

    def run(self, sql: str) -> list[dict[str, object]]: ...

    def stored_columns(self, name: str) -> tuple[str, ...] | None: ...


class LoadOnce:
    """`engine`, loading each table once however many rules run over it (a table given again
    under the same name is not loaded again)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.dialect = engine.dialect
        self.loaded: dict[str, EventTable] = {}

    def load(self, name: str, table: EventTable) -> None:
        if self.loaded.get(name) is not table:
            self.engine.load(name, table)
            self.loaded[name] = table

    def stored_columns(self, name: str) -> tuple[str, ...] | None:
        return self.engine.stored_columns(name)

    def run(self, sql: str) -> list[dict[str, object]]:
        return self.engine.run(sql)


def plain(value: object) -> object:
    """A result value as JSON-friendly Python: times in ISO 8601 UTC, decimals as numbers."""
    if isinstance(value, datetime):
        moment = value.astimezone(timezone.utc) if value.tzinfo else value
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


ROW_GROUP = 122_880  # rows DuckDB stores (and scans on one thread) together


def _session(connection):
    """A connection to the engine's database set as every statement of a run expects: times
    in UTC, the compressed tables by default."""
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("USE compressed")
    return connection


class DuckDBEngine:
    """An in-memory DuckDB database, its tables compressed as DuckDB compresses them on disk.

    Flat Parquet files stay where they are (a view reads them at each scan, in little memory)
    unless `materialize`; flat JSON is read once into a table whose `_raw` is computed on use.
    """

    dialect = "duckdb"

    def __init__(self, materialize: bool = False) -> None:
        import duckdb

        self.connection = duckdb.connect()
        # many sparse text columns take a fraction of their plain size
        self.connection.execute("ATTACH ':memory:' AS compressed (COMPRESS)")
        _session(self.connection)
        self.materialize = materialize
        self.sizes: dict[str, int | None] = {}  # each table's rows (None: files, any number)

    def alongside(self) -> DuckDBEngine:
        """The same database through a connection of its own, for statements another thread
        runs meanwhile (this connection's temporary tables are not seen there)."""
        other = object.__new__(DuckDBEngine)
        other.connection = _session(self.connection.cursor())
        other.materialize, other.sizes = self.materialize, self.sizes
        return other

    def load(self, name: str, table: EventTable) -> None:
        self.drop(name)
        self.sizes[name] = len(table.rows) if table.files is None else None
        self._threads()
        if table.files is None:
            self._load_rows(name, table)
            return
        files, ident = table.files, quote(name)
        if files.format == "parquet" and not self.materialize:
            self.connection.execute(f"CREATE VIEW {ident} AS {flat_select(files)}")
            return
        if RAW in files.fields:
            self.connection.execute(f"CREATE TABLE {ident} AS {flat_source(files)}")
            return
        stored = quote(f"_rulec_stored_{name}")
        self.connection.execute(f"CREATE OR REPLACE TABLE {stored} AS {flat_source(files)}")
        self.connection.execute(
            f"CREATE VIEW {ident} AS SELECT *, {raw_text(files.fields)} AS {quote(RAW)} "
            f"FROM {stored}"
        )

    def _threads(self) -> None:
        """One thread while every table is rows held in memory, fewer than a row group in all:
        DuckDB scans a row group on one thread anyway, and each further thread only holds
        buffers of its own. The default otherwise (files, or more rows)."""
        sizes = self.sizes.values()
        if sizes and None not in sizes and sum(sizes) < ROW_GROUP:  # type: ignore[arg-type]
            self.connection.execute("SET threads = 1")
        else:
            self.connection.execute("RESET threads")

    def drop(self, name: str) -> None:
        """Remove a table or view of that name, if any."""
        found = self.connection.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchall()
        for (kind,) in found:
            what = "VIEW" if kind == "VIEW" else "TABLE"
            self.connection.execute(f"DROP {what} IF EXISTS {quote(name)}")
        self.sizes.pop(name, None)

    def alias(self, name: str, target: str) -> None:
        """`name` as a second name for the table `target`."""
        self.drop(name)
        self.connection.execute(f"CREATE VIEW {quote(name)} AS SELECT * FROM {quote(target)}")

    def columns(self, name: str) -> list[str]:
        cursor = self.connection.execute(f"SELECT * FROM {quote(name)} LIMIT 0")
        return [d[0] for d in cursor.description]

    def stored_columns(self, name: str) -> tuple[str, ...] | None:
        """The columns of the table or view `name` as stored, or None when there is none."""
        found = self.connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position",
            [name],
        ).fetchall()
        return tuple(column for (column,) in found) or None

    def _load_rows(self, name: str, table: EventTable) -> None:
        stored = stored_names(table.columns)
        columns = {stored[c]: ("BIGINT" if c == ROW else "VARCHAR") for c in table.columns}
        handle, path = tempfile.mkstemp(suffix=".ndjson")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                for row in table.rows:
                    named = {stored[k]: v for k, v in row.items() if k in stored}
                    out.write(json.dumps(named, ensure_ascii=False))
                    out.write("\n")
            ident = quote(name)
            self.connection.execute(
                f"CREATE TABLE {ident} AS SELECT * FROM read_json(?, columns = ?, "
                "format = 'newline_delimited', maximum_object_size = 1073741824)",
                [path, columns],
            )
        finally:
            os.unlink(path)

    def stored_rows(self, name: str, columns: tuple[str, ...]) -> tuple[Row, ...]:
        """The rows `load` stored in table `name` from rows held in memory, as they were:
        each with its fields that have a value."""
        stored = stored_names(columns)
        cursor = self.connection.execute(
            f"SELECT {', '.join(quote(stored[c]) for c in columns)} FROM {quote(name)} "
            f"ORDER BY {quote(stored[ROW])}"
        )
        return tuple(
            {c: v for c, v in zip(columns, values, strict=True) if v is not None}
            for values in cursor.fetchall()
        )

    def run(self, sql: str) -> list[dict[str, object]]:
        cursor = self.connection.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, map(plain, row), strict=True)) for row in cursor.fetchall()]


class PostgresEngine:
    """A PostgreSQL database reached through psycopg (`dsn` as libpq understands it)."""

    dialect = "postgres"

    def __init__(self, dsn: str) -> None:
        import psycopg

        self.connection = psycopg.connect(dsn, autocommit=True)
        self.connection.execute("SET TIME ZONE 'UTC'")

    def load(self, name: str, table: EventTable) -> None:
        from psycopg import sql

        stored = stored_names(table.columns)
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(
                sql.Identifier(stored[c]), sql.SQL("BIGINT" if c == ROW else "TEXT")
            )
            for c in table.columns
        )
        ident = sql.Identifier(name)
        self.connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
        self.connection.execute(sql.SQL("CREATE TABLE {} ({})").format(ident, columns))
        names = sql.SQL(", ").join(sql.Identifier(stored[c]) for c in table.columns)
        with self.connection.cursor() as cursor:
            copy = sql.SQL("COPY {} ({}) FROM STDIN").format(ident, names)
            with cursor.copy(copy) as writer:
                for row in table.rows:
                    writer.write_row([row.get(c) for c in table.columns])

    def stored_columns(self, name: str) -> tuple[str, ...] | None:
        """The columns of the table or view `name` as stored, or None when there is none."""
        found = self.connection.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = %s AND table_schema = current_schema() ORDER BY ordinal_position",
            [name],
        ).fetchall()
        return tuple(column for (column,) in found) or None

    def run(self, sql: str) -> list[dict[str, object]]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql.encode())
            names = [d.name for d in cursor.description]
            return [dict(zip(names, map(plain, row), strict=True)) for row in cursor.fetchall()]


def quote(name: str) -> str:
    """A DuckDB identifier, quoted so that any name stays one identifier."""
    return '"' + name.replace('"', '""') + '"'
