"""The `spl` engine: the SPL rulec emits, run by `spl_evaluator` over the events.

No Splunk runs here: `spl_evaluator` executes the subset of SPL that rulec writes by Splunk's
documented semantics and refuses any other text. Events are given as they are loaded (flat
text fields, `_raw` for keyword searches), `_time` is read from the time field (`TimeCreated`
unless `--time-field`), and further tables (`--table NAME=PATH`) are lookups for `inputlookup`.
Where the documentation does not settle what Splunk returns, the engine says so (`EngineLimit`)
instead of answering.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from rulec.backends.base import Options
from rulec.backends.spl import SplBackend
from rulec.compiler.run import spl_evaluator
from rulec.compiler.run.engines import EngineLimit
from rulec.compiler.run.engines_text import DEFAULT_TIME_FIELD, TextEngine
from rulec.compiler.run.events import RAW, ROW, EventTable


class SplEngine(TextEngine):
    """Runs rules as the SPL they compile to, on the evaluator of Splunk's documented SPL."""

    target = "spl"
    backend = SplBackend

    def __init__(self, options: Options | None = None) -> None:
        self.given = options or Options()

    def options(self, now: datetime | None, time_field: str | None) -> Options:
        """The options given (SPL reads `_time`, which the evaluator sets from the time field)."""
        return self.given

    def run_text(
        self,
        text: str,
        events: EventTable,
        tables: Mapping[str, EventTable],
        now: datetime | None,
        time_field: str | None,
    ) -> list[dict[str, object]]:
        lookups = {
            name: [{k: v for k, v in row.items() if k not in (ROW, RAW)} for row in table.rows]
            for name, table in tables.items()
        }
        rows = [{k: v for k, v in row.items() if v is not None} for row in events.rows]
        try:
            found = spl_evaluator.run(text, rows, time_field or DEFAULT_TIME_FIELD, lookups)
        except spl_evaluator.Undocumented as why:
            raise EngineLimit(f"Splunk's documentation does not settle this: {why}") from None
        return [{k: v for k, v in row.items() if k != RAW} for row in found]
