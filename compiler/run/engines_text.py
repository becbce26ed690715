"""What the engines of the text targets (`eql`, `kql`, `spl`) share: each runs the text its
target's back end emits for a rule, so a rule goes `emit` then `run_text`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from rulec.backends.base import Backend, Options
from rulec.compiler import ir
from rulec.compiler.run.events import EventTable

DEFAULT_TIME_FIELD = "TimeCreated"


class TextEngine:
    """An engine running the text that `backend` writes for a rule."""

    target: str
    backend: type[Backend]

    def options(self, now: datetime | None, time_field: str | None) -> Options:
        """The back end's options for a run at `now` over events timed by `time_field`."""
        return Options(time_field=time_field or DEFAULT_TIME_FIELD, now=now)

    def emit(self, query: ir.Query, now: datetime | None, time_field: str | None) -> str:
        return self.backend(self.options(now, time_field)).emit(query).text

    def run_query(
        self,
        query: ir.Query,
        events: EventTable,
        tables: Mapping[str, EventTable],
        now: datetime | None,
        time_field: str | None,
    ) -> list[dict[str, object]]:
        text = self.emit(query, now, time_field)
        return self.run_text(text, events, tables, now, time_field)

    def run_text(
        self,
        text: str,
        events: EventTable,
        tables: Mapping[str, EventTable],
        now: datetime | None,
        time_field: str | None,
    ) -> list[dict[str, object]]:
        """The rows the emitted `text` gives over the events (and further tables)."""
        raise NotImplementedError
