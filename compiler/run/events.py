"""Event loading: NDJSON, JSON (arrays, or objects one after another), CSV, Parquet and EVTX.

Every event becomes one flat row of text fields, as a SIEM stores them: nested Windows events
(`Event.System` / `Event.EventData`, as EVTX files hold them) are flattened to their System and
EventData fields, other nested objects to dotted names (`process.name`). Two columns are added:
`_row`, the event's 1-based position in its file(s), and `_raw`, the event as text (`name=value`
lines) for keyword searches, unless the event carries its own `_raw`.

JSON and Parquet files whose events are already flat are not read here: the table keeps their
paths (`FlatFiles`) and DuckDB reads them itself with the same text semantics (`flat_select`).
Everything else goes through `flatten`, one event at a time.
"""

from __future__ import annotations

import bisect
import csv
import functools
import glob
import io
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rulec.compiler import ir

ROW = "_row"
RAW = "_raw"
SUFFIXES = (".json", ".ndjson", ".jsonl", ".csv", ".parquet", ".evtx")

FLAT_SUFFIXES = {".json": "json", ".ndjson": "json", ".jsonl": "json", ".parquet": "parquet"}
NESTED = ("STRUCT", "MAP", "[]", "UNION", "JSON")
MAX_OBJECT = 1 << 30
STORED_MARK = "\x1f"  # a stored column name is `field<mark><n>` when the field needs renaming
STORED = re.compile(rf"(.*){STORED_MARK}[0-9]+", re.DOTALL)

Row = dict[str, str | int | None]
Origin = tuple[str, str | int | None]  # (file, record in it)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class FlatFiles:
    """Files of flat events that DuckDB reads itself: their format, paths and field names."""

    format: str  # "json" | "parquet"
    paths: tuple[str, ...]
    fields: tuple[str, ...]  # as in the files, without `_row`
    counts: tuple[int, ...] = ()  # events per file (Parquet)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.fields, RAW) if RAW not in self.fields else self.fields


class EventTable:
    """Flat text rows with the union of their field names, in first-seen order.

    The rows are held in memory, or (`files`) left in flat files that DuckDB reads itself; the
    `rows` of those are read on first use.
    """

    def __init__(
        self,
        columns: tuple[str, ...],
        rows: tuple[Row, ...] | None = None,
        files: FlatFiles | None = None,
        origins: tuple[Origin, ...] | None = None,
    ):
        self.columns = columns
        self.files = files
        self._rows = rows
        self._origins = origins
        self._starts: tuple[int, ...] | None = None
        self._read_back: Callable[[], tuple[Row, ...]] | None = None

    @property
    def rows(self) -> tuple[Row, ...]:
        if self._rows is None:
            if self._read_back is not None:
                self._rows = self._read_back()
            else:
                self._rows = read_flat(self.files) if self.files else ()
        return self._rows

    def hand_over(self, read_back: Callable[[], tuple[Row, ...]]) -> None:
        """Let go of the rows held in memory, now stored where `read_back` reads them again
        on their next use."""
        if self.files is None:
            self._rows, self._read_back = None, read_back

    def origin(self, row: int) -> Origin | None:
        """The file event `row` (its `_row`) comes from, and its record there: an EVTX event's
        EventRecordID, the line a JSON or CSV event starts on, a Parquet row's number."""
        if self.files is not None:
            return self._flat_origin(row)
        if self._origins is None or not 0 < row <= len(self._origins):
            return None
        return self._origins[row - 1]

    def _flat_origin(self, row: int) -> Origin | None:
        files = self.files
        assert files is not None
        if self._starts is None:
            self._starts = tuple(itertools.accumulate(flat_counts(files), initial=0))
        index = bisect.bisect_left(self._starts, row) - 1
        if not 0 <= index < len(files.paths):
            return None
        name, number = files.paths[index], row - self._starts[index]
        return name, number if files.format == "parquet" else json_lines(name)[number - 1]


def stored_names(fields: Iterable[str]) -> dict[str, str]:
    """Field -> the column that stores it, unique regardless of case (DuckDB ignores the case of
    identifiers). `_row` and `_raw` keep their names; another field keeps its name unless it
    is empty, or looks like a stored name itself, or differs only in case from a field before
    it; then it is stored as `field<STORED_MARK>n`."""
    fields = list(dict.fromkeys(fields))
    reserved = {f.lower() for f in fields}
    used: set[str] = set()
    stored: dict[str, str] = {}
    for field in sorted(fields, key=lambda f: f not in (ROW, RAW)):
        column, number = field, 0
        if not field or field.lower() in used or STORED.fullmatch(field):
            while not column or column.lower() in used | reserved:
                number += 1
                column = f"{field}{STORED_MARK}{number}"
        used.add(column.lower())
        stored[field] = column
    return {field: stored[field] for field in fields}


def field_name(column: str) -> str:
    """The field a stored column holds (the inverse of `stored_names`)."""
    renamed = STORED.fullmatch(column)
    return renamed.group(1) if renamed else column


def text_of(value: object) -> str | None:
    """A JSON value as the text a SIEM would index."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if type(value) is int:
        return str(value)  # as JSON writes it
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _attributes(name: str, node: dict) -> Iterator[tuple[str, object]]:
    """A System child such as `Provider: {"#attributes": {"Name": ...}}` -> Provider_Name."""
    attributes = node.get("#attributes") or {}
    if name == "TimeCreated" and "SystemTime" in attributes:
        yield name, attributes["SystemTime"]
        return
    if "#text" in node:
        yield name, node["#text"]
    for key, value in attributes.items():
        yield f"{name}_{key}", value


def _windows_event(event: dict) -> dict[str, object]:
    """System fields, then EventData and UserData fields by their names without spaces; a
    field whose name is taken keeps its value as `EventData_name` / `UserData_name`. An
    element the event holds with no text is present and empty ("")."""
    flat: dict[str, object] = {}
    for key, value in (event.get("System") or {}).items():
        if isinstance(value, dict):
            flat.update(_attributes(key, value))
        else:
            flat[key] = "" if value is None else value
    for section in ("EventData", "UserData"):
        for key, value in _leaves(event.get(section)):
            name = key.replace(" ", "")
            flat[f"{section}_{name}" if name in flat else name] = value
    return flat


def _leaves(node: object) -> Iterator[tuple[str, object]]:
    """EventData / UserData fields by their own names; unnamed `<Data>` elements are one field
    `Data`, their texts joined by newlines."""
    if isinstance(node, list):
        unnamed = []
        for item in node:
            name = _name(item)
            if name is None:
                unnamed.append(_element_text(item))
            else:
                yield name, _element_text(item)
        if unnamed:
            yield "Data", "\n".join(unnamed)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "#attributes":
            continue
        text_node = isinstance(value, dict) and "#text" in value and len(value) <= 2
        if key == "Data" and isinstance(value, list):
            yield from _leaves(value)
        elif key == "Data" and text_node and _name(value) is not None:
            yield _name(value), _element_text(value)
        elif key == "Data" and text_node:
            yield from _leaves(value["#text"] if isinstance(value["#text"], list) else [value])
        elif isinstance(value, dict) and not text_node:
            yield from _leaves(value)
        else:
            yield key, _element_text(value)


def _name(item: object) -> str | None:
    """The `Name` attribute of a `<Data Name="...">` element, else None."""
    attributes = item.get("#attributes") if isinstance(item, dict) else None
    name = attributes.get("Name") if isinstance(attributes, dict) else None
    return None if name is None else str(name)


def _element_text(item: object) -> str:
    """An element's text as a string ("" when it has none)."""
    if isinstance(item, dict):
        item = item.get("#text")
    if isinstance(item, list):
        return "\n".join(map(_element_text, item))
    return text_of(item) or ""


def _dotted(node: dict, prefix: str = "") -> Iterator[tuple[str, object]]:
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _dotted(value, f"{name}.")
        else:
            yield name, value


def flatten(record: dict) -> dict[str, str | None]:
    """One event as flat text fields (without `_row`), with `_raw`."""
    event = record.get("Event") if isinstance(record.get("Event"), dict) else None
    fields = _windows_event(event) if event and "System" in event else dict(_dotted(record))
    flat = {key: text_of(value) for key, value in fields.items()}
    if RAW not in flat:
        flat[RAW] = "\n".join(f"{k}={v}" for k, v in flat.items() if v is not None)
    return flat


def _error(code: str, message: str, path: Path | str, line: int | None = None) -> ir.RuleError:
    return ir.RuleError(ir.Diagnostic(code, message, ir.Span(str(path), line)))


def _json_values(text: str, path: Path) -> Iterator[tuple[int, object]]:
    """Top-level JSON values one after another (NDJSON, concatenated, or one array), each with
    the line it starts on (an array's elements: the array's line)."""
    decoder = json.JSONDecoder()
    index, length, line, counted = 0, len(text), 1, 0
    while True:
        while index < length and text[index].isspace():
            index += 1
        if index >= length:
            return
        line += text.count("\n", counted, index)
        counted = index
        try:
            value, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError as error:
            message = f"event starting here is not JSON: {error.msg} at line {error.lineno}"
            raise _error("events.bad-json", f"{message} column {error.colno}", path, line) from None
        except RecursionError:
            raise _error("events.too-deep", "event nested too deeply", path, line) from None
        if isinstance(value, list):
            yield from ((line, item) for item in value)
        else:
            yield line, value


def _evtx_records(path: Path) -> Iterator[tuple[int | None, dict]]:
    """The records of a Windows event log file, as the JSON its parser writes."""
    from evtx import PyEvtxParser

    try:
        for record in PyEvtxParser(str(path)).records_json():
            yield None, json.loads(record["data"])
    except (OSError, RuntimeError, ValueError) as error:
        raise _error("events.bad-evtx", f"not a readable EVTX file: {error}", path) from None


def _read_utf8(path: Path) -> str:
    """The file as text (a leading byte order mark dropped); an error names the bad byte's line."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise _error("events.unreadable", f"cannot read: {error.strerror}", path) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        message = f"not UTF-8 text: byte 0x{data[error.start]:02x} at offset {error.start}"
        raise _error("events.encoding", message, path, line) from None
    if not text or text.isspace():
        raise _error("events.empty", "the file holds no events (it is empty)", path)
    return text


def _csv_records(path: Path) -> Iterator[tuple[int, dict]]:
    """The rows of a CSV file with a header line; a quote left open or text after a closing
    quote is an error naming the line its record starts on."""
    reader = csv.DictReader(io.StringIO(_read_utf8(path), newline=""), strict=True)
    start = 0
    try:
        start = reader.line_num if reader.fieldnames else 0
        for record in reader:
            if None in record:
                message = f"{len(reader.fieldnames or ())} names in the header, more values here"
                raise _error("events.bad-csv", message, path, start + 1)
            yield start + 1, record
            start = reader.line_num
    except csv.Error as error:
        raise _error("events.bad-csv", f"not CSV: {error}", path, start + 1) from None


def _parquet_records(path: Path) -> Iterator[tuple[None, dict]]:
    import duckdb

    try:
        relation = duckdb.read_parquet(str(path))
        names, values = relation.columns, relation.fetchall()
    except duckdb.Error as error:
        message = f"not a readable Parquet file: {str(error).splitlines()[0]}"
        raise _error("events.bad-parquet", message, path) from None
    for row in values:
        yield None, dict(zip(names, row, strict=True))


def _records(path: Path) -> Iterator[tuple[int | None, dict]]:
    """The file's events, each with its line where the format has lines."""
    suffix = path.suffix.lower()
    if suffix == ".evtx":
        return _evtx_records(path)
    if suffix == ".csv":
        return _csv_records(path)
    if suffix == ".parquet":
        return _parquet_records(path)
    return _json_objects(path)


def _json_objects(path: Path) -> Iterator[tuple[int, dict]]:
    for number, (line, value) in enumerate(_json_values(_read_utf8(path), path), 1):
        if not isinstance(value, dict):
            kind = type(value).__name__ if value is not None else "null"
            message = f"event {number} is not a JSON object (it is a {kind})"
            raise _error("events.not-object", message, path, line)
        yield line, value


def event_files(spec: str) -> list[Path]:
    """A file, a folder (its event files, sorted) or a glob -> the files it names."""
    path = Path(spec)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
        if not found:
            expected = ", ".join(SUFFIXES)
            raise _error("events.missing", f"no event files ({expected}) in folder", path)
        return found
    if path.exists():
        if not path.is_file():
            raise _error("events.not-file", "not a regular file (nor a folder)", path)
        return [path]
    matches = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
    if not matches:
        raise _error("events.missing", f"no event files at {spec}", spec)
    return matches


def _flat(path: Path, line: int | None, record: dict) -> dict[str, str | None]:
    try:
        return flatten(record)
    except RecursionError:
        raise _error("events.too-deep", "event nested too deeply", path, line) from None


def load_events(specs: Iterable[str], progress: Progress | None = None) -> EventTable:
    """All events of the given files/folders/globs, as one table.

    `progress(done, total)` is called with bytes of files read so far, after each file.
    """
    paths = [path for spec in specs for path in event_files(spec)]
    flat = flat_files(paths)
    if flat is not None:
        return EventTable((ROW, *flat.columns), files=flat)
    rows: list[Row] = []
    origins: list[Origin] = []
    columns: dict[str, None] = {ROW: None}
    total, done = sum(p.stat().st_size for p in paths), 0
    for path in paths:
        evtx = path.suffix.lower() == ".evtx"
        for number, (line, record) in enumerate(_records(path), 1):
            row = _flat(path, line, record)
            row[ROW] = len(rows) + 1
            columns.update(dict.fromkeys(row))
            rows.append(row)
            origins.append((str(path), row.get("EventRecordID") if evtx else line or number))
        done += path.stat().st_size
        if progress:
            progress(done, total)
    return EventTable(tuple(columns), tuple(rows), origins=tuple(origins))


# --------------------------------------------------------------------------- flat files in DuckDB


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _list(values: Iterable[str]) -> str:
    return "[" + ", ".join(_text(v) for v in values) + "]"


def flat_files(paths: list[Path]) -> FlatFiles | None:
    """The files as `FlatFiles` when DuckDB can read them as they are, else None."""
    formats = {FLAT_SUFFIXES.get(p.suffix.lower()) for p in paths}
    if len(formats) != 1 or None in formats:
        return None
    import duckdb

    names = [str(p) for p in paths]
    try:
        if formats == {"parquet"}:
            return _parquet_files(duckdb.connect(), names)
        return _json_files(duckdb.connect(), names)
    except duckdb.Error:
        return None


def _usable(fields: list[str]) -> bool:
    """Whether DuckDB can hold the fields, with `_row` and `_raw`, under their own names."""
    return all(field == column for field, column in stored_names([ROW, *fields, RAW]).items())


def _parquet_files(connection, names: list[str]) -> FlatFiles | None:
    described = connection.execute(
        f"DESCRIBE SELECT * FROM read_parquet({_list(names)}, union_by_name = true)"
    ).fetchall()
    if any(marker in kind for _, kind, *_ in described for marker in NESTED):
        return None
    fields = [name for name, *_ in described if name != ROW]
    counts = dict(
        connection.execute(
            f"SELECT file_name, num_rows FROM parquet_file_metadata({_list(names)})"
        ).fetchall()
    )
    if not _usable(fields):
        return None
    return FlatFiles("parquet", tuple(names), tuple(fields), tuple(counts[n] for n in names))


def _json_files(connection, names: list[str]) -> FlatFiles | None:
    """JSON objects whose values are all scalars (a nested value starts with `":` then [ or {)."""
    objects = (
        f"read_json_objects({_list(names)}, format = 'auto', maximum_object_size = {MAX_OBJECT})"
    )
    count, objects_only, nested = connection.execute(
        f"SELECT count(*), bool_and(json_type(json) = 'OBJECT'), "
        f"bool_or(regexp_matches(json, '\":\\s*[\\[{{]')) FROM {objects}"
    ).fetchone()
    if not count or not objects_only or nested:
        return None
    keys = {
        k
        for (k,) in connection.execute(
            f"SELECT DISTINCT unnest(json_keys(json)) FROM {objects}"
        ).fetchall()
    }
    sampled = connection.execute(
        f"DESCRIBE SELECT * FROM read_json({_list(names)}, format = 'auto', "
        f"maximum_object_size = {MAX_OBJECT})"
    ).fetchall()
    ordered = [name for name, *_ in sampled if name in keys]
    fields = [f for f in ordered + sorted(keys - set(ordered)) if f != ROW]
    return FlatFiles("json", tuple(names), tuple(fields)) if _usable(fields) else None


def flat_counts(files: FlatFiles) -> tuple[int, ...]:
    """How many events each of the files holds."""
    if files.format == "parquet":
        return files.counts
    import duckdb

    found = dict(
        duckdb.connect()
        .execute(
            f"SELECT filename, count(*) FROM read_json_objects({_list(files.paths)}, "
            f"format = 'auto', filename = true, maximum_object_size = {MAX_OBJECT}) "
            "GROUP BY filename"
        )
        .fetchall()
    )
    return tuple(found.get(name, 0) for name in files.paths)


@functools.lru_cache(maxsize=8)
def json_lines(name: str) -> tuple[int, ...]:
    """The line each event of a JSON file starts on."""
    return tuple(line for line, _ in _json_values(_read_utf8(Path(name)), Path(name)))


def flat_source(files: FlatFiles) -> str:
    """A DuckDB SELECT of the files' events: `_row` (BIGINT) and every field as VARCHAR."""
    fields = ", ".join(f"CAST({_ident(f)} AS VARCHAR) AS {_ident(f)}" for f in files.fields)
    if files.format == "parquet":
        offsets, total = [], 0
        for name, count in zip(files.paths, files.counts, strict=True):
            offsets.append(f"WHEN {_text(name)} THEN {total}")
            total += count
        row = f"file_row_number + 1 + CASE _rulec_file {' '.join(offsets)} END"
        reader = (
            f"read_parquet({_list(files.paths)}, union_by_name = true, "
            "file_row_number = true, filename = '_rulec_file')"
        )
    else:
        row = "row_number() OVER ()"
        columns = "{" + ", ".join(f"{_text(f)}: 'VARCHAR'" for f in files.fields) + "}"
        reader = (
            f"read_json({_list(files.paths)}, format = 'auto', columns = {columns}, "
            f"maximum_object_size = {MAX_OBJECT})"
        )
    return f"SELECT CAST({row} AS BIGINT) AS {_ident(ROW)}, {fields} FROM {reader}"


def raw_text(fields: Iterable[str]) -> str:
    """`_raw` as `flatten` writes it: `name=value` lines of the non-null fields."""
    lines = ", ".join(f"{_text(f + '=')} || {_ident(f)}" for f in fields)
    return f"concat_ws(chr(10), {lines})"


def flat_select(files: FlatFiles) -> str:
    """The whole table, `_raw` included, in one SELECT."""
    if RAW in files.fields:
        return flat_source(files)
    return f"SELECT *, {raw_text(files.fields)} AS {_ident(RAW)} FROM ({flat_source(files)})"


def read_flat(files: FlatFiles) -> tuple[Row, ...]:
    """The files' rows in Python (for engines that are not DuckDB)."""
    import duckdb

    cursor = duckdb.connect().execute(f"{flat_select(files)} ORDER BY {_ident(ROW)}")
    names = [d[0] for d in cursor.description]
    return tuple(dict(zip(names, values, strict=True)) for values in cursor.fetchall())
