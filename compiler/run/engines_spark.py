"""Apache Spark as an engine: the SQL back end's `spark` output run on a Spark session.

The same interface as `DuckDBEngine` (load a table of events, run a query, rows back as plain
Python values). One session per process: a local one (`local[*]`) by default, or a cluster's
(`master="spark://host:7077"`, `yarn`, ...). Event fields are text, `_row` a number, times UTC.

Parquet files, and flat NDJSON files at a URL (s3a://, abfss://, hdfs://, ...), are read by Spark
itself: `remote_table` asks Spark for a URL's fields, and `load` gives Spark the paths; rulec never
opens them. Other local events (JSON, CSV, EVTX) are read and flattened by rulec and handed to
Spark as rows. A session given to the engine (a notebook's) gets rulec's time zone (UTC) and
non-ANSI casts.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rulec.compiler.run.engines import plain
from rulec.compiler.run.events import RAW, ROW, EventTable, FlatFiles, stored_names

URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
SETTINGS = {
    "spark.app.name": "rulec",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",  # a value that does not parse is NULL, as TRY_CAST's
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.parquet.mergeSchema": "true",
}
RUNTIME = ("spark.sql.session.timeZone", "spark.sql.ansi.enabled")  # set on a given session too
JSON_TIME = "yyyy-MM-dd HH:mm:ss.SSSSSS"
FORMATS = {".parquet": "parquet", ".json": "json", ".ndjson": "json", ".jsonl": "json"}


def is_url(path: str) -> bool:
    """A path with a scheme (s3a://, abfss://, hdfs://, file://): Spark reads it, rulec does not."""
    return bool(URL.match(path))


def session(master: str | None = None, settings: dict[str, str] | None = None) -> Any:
    """The process's Spark session: the active one (a notebook's, a job's) unless `master` is
    given, else one started with rulec's settings."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    builder = SparkSession.builder.master(master or "local[*]")
    for key, value in {**SETTINGS, **(settings or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


class SparkEngine:
    """Event tables as Spark temporary views; queries as Spark SQL."""

    dialect = "spark"

    def __init__(
        self, master: str | None = None, settings: dict[str, str] | None = None, spark=None
    ) -> None:
        self.spark = spark or session(master, settings)
        for key in RUNTIME:
            self.spark.conf.set(key, SETTINGS[key])

    def load(self, name: str, table: EventTable) -> None:
        files = table.files
        native = files is not None and (files.format == "parquet" or all(map(is_url, files.paths)))
        frame = self._read(files) if native else self._rows(table)
        frame.createOrReplaceTempView(name)

    def alias(self, name: str, target: str) -> None:
        """`name` as a second name for the view `target`."""
        self.spark.table(quote(target)).createOrReplaceTempView(name)

    def columns(self, name: str) -> list[str]:
        return list(self.spark.table(quote(name)).columns)

    def stored_columns(self, name: str) -> tuple[str, ...] | None:
        """The columns of the view `name` as stored, or None when there is none."""
        if not self.spark.catalog.tableExists(name):
            return None
        return tuple(self.columns(name))

    def run(self, sql: str) -> list[dict[str, object]]:
        frame = self.spark.sql(sql)
        names = frame.columns
        timed = {i for i, f in enumerate(frame.schema.fields) if _is_time(f.dataType)}
        safe = frame.toDF(*[f"c{i}" for i in range(len(names))])
        texts = [
            safe[f"c{i}"].cast("string").alias(f"c{i}") if i in timed else safe[f"c{i}"]
            for i in range(len(names))
        ]
        rows = safe.select(*texts).collect()
        return [
            {
                n: plain(_utc(v) if i in timed else v)
                for i, (n, v) in enumerate(zip(names, row, strict=True))
            }
            for row in rows
        ]

    def run_many(self, queries: list[str]) -> list[list[dict[str, object]]]:
        """The rows of each query, all computed by one Spark job (a UNION ALL of JSON rows)."""
        from pyspark.sql import functions as F

        frames = [self.spark.sql(sql) for sql in queries]
        options = {"ignoreNullFields": "false", "timestampFormat": JSON_TIME}
        parts = [
            frame.select(F.lit(i).alias("q"), F.to_json(F.struct("*"), options).alias("row"))
            for i, frame in enumerate(frames)
        ]
        if not parts:
            return []
        union = parts[0]
        for part in parts[1:]:
            union = union.unionAll(part)
        out: list[list[dict[str, object]]] = [[] for _ in queries]
        for number, text in union.collect():
            out[number].append(_json_row(frames[number], text))
        return out

    def remote_table(self, paths: list[str]) -> EventTable:
        """Flat event files that Spark reads (every path one format; a path without a suffix is a
        folder of Parquet files): their fields, unread."""
        formats = {FORMATS.get(_suffix(p)) if _suffix(p) else "parquet" for p in paths}
        if len(formats) != 1 or None in formats:
            kinds = ", ".join(sorted(FORMATS))
            raise ValueError(f"Spark reads event files of one format ({kinds}), got {paths}")
        (kind,) = formats
        reader = self.spark.read.format(str(kind))
        fields = tuple(f for f in reader.load(paths).columns if f != ROW)
        files = FlatFiles(str(kind), tuple(paths), fields)
        return EventTable((ROW, *files.columns), files=files)

    def _rows(self, table: EventTable):
        from pyspark.sql.types import LongType, StringType, StructField, StructType

        stored = stored_names(table.columns)
        schema = StructType(
            [
                StructField(stored[c], LongType() if c == ROW else StringType())
                for c in table.columns
            ]
        )
        rows = [tuple(row.get(c) for c in table.columns) for row in table.rows]
        return self.spark.createDataFrame(rows, schema)

    def _read(self, files: FlatFiles):
        """The files as Spark reads them: fields as text, `_row` by position, `_raw` if absent."""
        from pyspark.sql import functions as F

        reader = self.spark.read.format(files.format).option("primitivesAsString", "true")
        frame = reader.load(list(files.paths))
        stored = stored_names(files.fields)
        kinds = {f.name: f.dataType for f in frame.schema.fields}
        fields = [_text(F.col(quote(f)), kinds.get(f)).alias(stored[f]) for f in files.fields]
        frame = frame.select(_position(files).alias(ROW), *fields)
        if RAW not in files.fields:
            lines = [F.concat(F.lit(f"{f}="), F.col(quote(stored[f]))) for f in files.fields]
            frame = frame.withColumn(RAW, F.concat_ws("\n", *lines))
        return frame


def _position(files: FlatFiles):
    """`_row`: the event's 1-based position across the files, in the order given.

    Parquet files have a row index (with their row counts known, no sort is needed); JSON events
    are numbered in file order, then in the order Spark reads each file. A folder's files go in
    name order.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    file_path = F.col("_metadata.file_path")
    file_index = F.lit(len(files.paths))
    offset = F.lit(0)
    total = 0
    for index, path in enumerate(files.paths):
        same = file_path == _uri(path)
        file_index = F.when(same, index).otherwise(file_index)
        if files.counts:
            offset = F.when(same, total).otherwise(offset)
            total += files.counts[index]
    if files.format == "parquet" and files.counts:
        return (F.col("_metadata.row_index") + offset + 1).cast("long")
    within = (
        F.col("_metadata.row_index")
        if files.format == "parquet"
        else F.monotonically_increasing_id()
    )
    return F.row_number().over(Window.orderBy(file_index, file_path, within)).cast("long")


def _uri(path: str) -> str:
    """A path as Spark names the file it read (`file:///...` for local files)."""
    return path if is_url(path) else Path(path).resolve().as_uri()


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1].lower()
    return name[name.rfind(".") :] if "." in name else ""


def _text(column, kind: object):
    """A stored value as DuckDB writes it as text: a time with its zone (UTC here) as `+00`."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampType

    text = column.cast("string")
    return F.concat(text, F.lit("+00")) if isinstance(kind, TimestampType) else text


def _json_row(frame, text: str) -> dict[str, object]:
    """A row that `to_json` wrote, with the values `run` would give."""
    values = json.loads(text)
    timed = {f.name for f in frame.schema.fields if _is_time(f.dataType)}
    return {n: plain(_utc(v) if n in timed else v) for n, v in values.items()}


def _is_time(kind: object) -> bool:
    from pyspark.sql.types import TimestampNTZType, TimestampType

    return isinstance(kind, TimestampType | TimestampNTZType)


def _utc(text: str | None) -> datetime | None:
    """A timestamp Spark wrote as text in its UTC session time zone."""
    if text is None:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def quote(name: str) -> str:
    """A Spark identifier, quoted so that any name stays one identifier."""
    return "`" + name.replace("`", "``") + "`"
