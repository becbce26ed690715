"""The `eql` engine: the EQL rulec emits, run by Elastic's `eql` package over the events.

`eql` (the `eql` extra: `pip install "rulec[eql]"`) is Elastic's own Python implementation of
the language. Each event goes to it as the document Elasticsearch would store: dotted names
nested (`process.name` as `{"process": {"name": ...}}`), missing fields absent, and the event
time read from the time field (`TimeCreated` unless `--time-field`), in event order for
sequences. Fields stay text, as everywhere in rulec; a rule comparing a field with a number is
emitted with `string(f)`. Its parser reads a `\\u{XX}` escape up to the last `}` of the string,
so such escapes are given to it as the characters they stand for (the text means the same).

The engine returns the events the query selects (for a sequence, the events of every sequence
found), as the loader holds them, by `_row`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from rulec.backends.base import Options
from rulec.backends.eql import EqlBackend
from rulec.compiler.run.engines_text import DEFAULT_TIME_FIELD, TextEngine
from rulec.compiler.run.event_time import instant
from rulec.compiler.run.events import RAW, ROW, EventTable

UNICODE_ESCAPE = re.compile(r"(\\\\)|\\u\{([0-9A-Fa-f]{1,6})\}")


class EqlEngine(TextEngine):
    """Runs rules as the EQL they compile to, on Elastic's `eql` engine."""

    target = "eql"
    backend = EqlBackend

    def __init__(self) -> None:
        import eql  # noqa: F401  (fails early when the extra is missing)

    def options(self, now: datetime | None, time_field: str | None) -> Options:
        return Options(raw_field=RAW, time_field=time_field or DEFAULT_TIME_FIELD, now=now)

    def run_text(
        self,
        text: str,
        events: EventTable,
        tables: Mapping[str, EventTable],
        now: datetime | None,
        time_field: str | None,
    ) -> list[dict[str, object]]:
        selected = set(run_eql(text, events, time_field or DEFAULT_TIME_FIELD))
        return [
            {k: v for k, v in row.items() if k != RAW}
            for row in events.rows
            if row.get(ROW) in selected
        ]


def run_eql(text: str, table: EventTable, time_field: str = DEFAULT_TIME_FIELD) -> list[int]:
    """The `_row`s of the events that Elastic's eql engine selects with `text`."""
    import eql

    text = UNICODE_ESCAPE.sub(lambda m: m.group(1) or chr(int(m.group(2), 16)), text)
    with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
        parsed = eql.parse_query(text)
    engine = eql.PythonEngine()
    engine.add_query(parsed)
    hits: set[int] = set()
    engine.add_output_hook(lambda result: hits.update(e.data[ROW] for e in result.events))
    events = [
        eql.Event("any", event_time(row, index, time_field), document(row))
        for index, row in enumerate(table.rows)
    ]
    engine.stream_events(sorted(events, key=lambda e: e.time))
    return sorted(hits)


def document(row: Mapping[str, object]) -> dict[str, object]:
    """A flat row as the nested document Elasticsearch stores (`a.b` becomes `{a: {b}}`)."""
    out: dict[str, object] = {}
    for name, value in row.items():
        if value is None:
            continue
        *parents, leaf = name.split(".")
        node = out
        for parent in parents:
            child = node.get(parent)
            if not isinstance(child, dict):
                child = node[parent] = {}
            node = child
        node[leaf] = value
    return out


def event_time(row: Mapping[str, object], index: int, time_field: str) -> int:
    """The event's time in the engine's unit (100 ns ticks since 1970), else its position."""
    value = row.get(time_field)
    seconds = instant(value) if isinstance(value, str) else None
    return index if seconds is None else int(seconds * 10_000_000)
