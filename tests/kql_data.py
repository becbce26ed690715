"""Generated events for KQL queries: for each table a query reads, rows holding a random subset of
its columns (the documented ones and those the query names), with values of every shape a SIEM
field takes (text, numbers, times, JSON, empty)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from datetime import datetime, timedelta, timezone

from rulec.backends.schemas import known_columns
from rulec.compiler import ir
from rulec.compiler.run.events import RAW, EventTable

NOW = datetime(2024, 1, 10, 12, 0, tzinfo=timezone.utc)


def nodes(node: object) -> Iterator[object]:
    """Every IR node under `node` (itself included)."""
    yield node
    items = node if isinstance(node, tuple) else ()
    if is_dataclass(node) and not isinstance(node, type):
        items = tuple(getattr(node, f.name) for f in fields(node) if f.name != "span")
    for item in items:
        yield from nodes(item)


def tables_read(query: ir.Query) -> set[str]:
    return {n.name for n in nodes(query) if isinstance(n, ir.Table)}


def fields_named(query: ir.Query) -> set[str]:
    return {n.name for n in nodes(query) if isinstance(n, ir.FieldRef)}


def value(chooser: random.Random) -> str | None:
    moment = NOW - timedelta(seconds=chooser.randrange(0, 40 * 86400))
    shapes = [
        lambda: None,
        lambda: "",
        lambda: str(chooser.randrange(-5, 5000)),
        lambda: moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        lambda: chooser.choice(["cmd.exe", "C:\\Windows\\System32\\x.dll", "10.0.0.1", "True"]),
        lambda: json.dumps({"a": chooser.randrange(3), "Name": "x"}),
        lambda: json.dumps(["p", chooser.randrange(3)]),
    ]
    return chooser.choice(shapes)()


def events_for(query: ir.Query, chooser: random.Random, rows: int = 3) -> dict[str, EventTable]:
    """Per table the query reads: `rows` events over a random subset of its possible columns."""
    named = sorted(fields_named(query))
    tables = {}
    for name in sorted(tables_read(query)):
        possible = sorted({*(known_columns(name) or ()), *named})
        kept = [c for c in possible if chooser.random() < 0.5]
        events = []
        for number in range(1, rows + 1):
            event = {c: v for c in kept if (v := value(chooser)) is not None}
            raw = "\n".join(f"{k}={v}" for k, v in event.items())
            events.append({**event, "_row": number, RAW: raw})
        columns = tuple(dict.fromkeys(["_row", *kept, RAW]))
        full = tuple({c: e.get(c) for c in columns} for e in events)
        tables[name] = EventTable(columns, full)
    return tables
