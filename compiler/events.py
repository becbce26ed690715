"""Event loading: NDJSON, JSON (arrays, or objects one after another), CSV and Parquet.

Every event becomes one flat row of text fields, as a SIEM stores them: nested Windows events
(`Event.System` / `Event.EventData`) are flattened to their System and EventData fields, other
nested objects to dotted names (`process.name`). Two columns are added: `_row`, the event's
1-based position in its file(s), and `_raw`, the event as text (`name=value` lines) for keyword
searches, unless the event carries its own `_raw`.
"""

from __future__ import annotations

import csv
import glob
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rulec.compiler import ir

ROW = "_row"
RAW = "_raw"
SUFFIXES = (".json", ".ndjson", ".jsonl", ".csv", ".parquet")


@dataclass(frozen=True)
class EventTable:
    """Flat text rows with the union of their field names, in first-seen order."""

    columns: tuple[str, ...]
    rows: tuple[dict[str, str | int | None], ...]


def text_of(value: object) -> str | None:
    """A JSON value as the text a SIEM would index."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
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
    flat: dict[str, object] = {}
    for key, value in (event.get("System") or {}).items():
        if isinstance(value, dict):
            flat.update(_attributes(key, value))
        else:
            flat[key] = value
    for section in ("EventData", "UserData"):
        flat.update(_leaves(event.get(section)))
    return flat


def _leaves(node: object) -> Iterator[tuple[str, object]]:
    """EventData / UserData fields by their own names (EVTX `Data` lists included)."""
    if isinstance(node, list):
        for item in node:
            if isinstance(item, dict) and "Name" in (item.get("#attributes") or {}):
                yield item["#attributes"]["Name"], item.get("#text")
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "#attributes":
            continue
        text_node = isinstance(value, dict) and "#text" in value and len(value) <= 2
        data_list = key == "Data" and isinstance(value, list)
        if data_list or (isinstance(value, dict) and not text_node):
            yield from _leaves(value)
        elif isinstance(value, dict):
            yield key, value["#text"]
        else:
            yield key, value


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


def _json_values(text: str, path: Path) -> Iterator[object]:
    """Top-level JSON values one after another (NDJSON, concatenated, or one array)."""
    decoder = json.JSONDecoder()
    index, length = 0, len(text)
    while True:
        while index < length and text[index].isspace():
            index += 1
        if index >= length:
            return
        try:
            value, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError as error:
            line = text.count("\n", 0, index) + 1
            message = f"event starting here is not JSON: {error.msg} at line {error.lineno}"
            message += f" column {error.colno}"
            raise ir.RuleError(
                ir.Diagnostic("events.bad-json", message, ir.Span(str(path), line))
            ) from None
        if isinstance(value, list):
            yield from value
        else:
            yield value


def _records(path: Path) -> Iterator[dict]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            yield from csv.DictReader(handle)
        return
    if suffix == ".parquet":
        import duckdb

        relation = duckdb.read_parquet(str(path))
        names = relation.columns
        for values in relation.fetchall():
            yield dict(zip(names, values, strict=True))
        return
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ir.RuleError(
            ir.Diagnostic("events.encoding", f"not UTF-8 text: {error.reason}", ir.Span(str(path)))
        ) from None
    for number, value in enumerate(_json_values(text, path), 1):
        if not isinstance(value, dict):
            raise ir.RuleError(
                ir.Diagnostic(
                    "events.not-object", f"event {number} is not a JSON object", ir.Span(str(path))
                )
            )
        yield value


def event_files(spec: str) -> list[Path]:
    """A file, a folder (its event files, sorted) or a glob -> the files it names."""
    path = Path(spec)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    if path.exists():
        return [path]
    matches = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
    if not matches:
        raise ir.RuleError(
            ir.Diagnostic("events.missing", f"no event files at {spec}", ir.Span(spec))
        )
    return matches


def load_events(specs: Iterable[str]) -> EventTable:
    """All events of the given files/folders/globs, as one table."""
    rows: list[dict[str, str | int | None]] = []
    columns: dict[str, None] = {ROW: None}
    for spec in specs:
        for path in event_files(spec):
            for record in _records(path):
                row = flatten(record)
                row[ROW] = len(rows) + 1
                columns.update(dict.fromkeys(row))
                rows.append(row)
    return EventTable(tuple(columns), tuple(rows))
