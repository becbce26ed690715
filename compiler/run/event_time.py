"""Which field of the events `rulec run` reads as their time, for rules that count in windows.

Sigma aggregations and correlations count events within a timespan, so they need each event's
time. Event sources name it differently: Windows `TimeCreated` (and Sysmon's `UtcTime`), ECS
`@timestamp`, Defender XDR `Timestamp`, Sentinel `TimeGenerated`, Splunk `_time`. Without
`--time-field` the first of these that the events have is used; a window rule over events that
have none of them (or not the field named) would silently match nothing, so it is warned about.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from rulec.compiler import ir

EVENT_TIME_FIELDS = ("TimeCreated", "@timestamp", "Timestamp", "TimeGenerated", "_time", "UtcTime")


def event_time_field(columns: Sequence[str]) -> str | None:
    """The first of the common event-time fields that `columns` holds."""
    present = set(columns)
    return next((name for name in EVENT_TIME_FIELDS if name in present), None)


def reads_event_time(query: ir.Query) -> bool:
    """Whether `query` counts in windows over the configured event time (a correlation, or an
    aggregation whose window names no time field of its own)."""
    pipelines = [query.pipeline, *(let.value for let in query.lets)]
    return any(
        isinstance(stage, ir.Correlation)
        or (
            isinstance(stage, ir.Aggregate)
            and stage.window is not None
            and stage.window.time_field is None
        )
        for pipeline in pipelines
        if isinstance(pipeline, ir.Pipeline)
        for stage in pipeline.stages
    )


def choose_time_field(
    given: str | None, columns: Sequence[str], queries: Sequence[ir.Query]
) -> tuple[str | None, list[ir.Diagnostic]]:
    """The time field to run with (`given`, else the one the events have) and a warning for
    each window rule whose events lack it."""
    chosen = given or event_time_field(columns)
    if chosen is not None and chosen in columns:
        return chosen, []
    if given:
        lacking = f"the events have no field '{given}' (--time-field): it can match nothing"
    else:
        lacking = (
            "the events have none of the event-time fields "
            + ", ".join(EVENT_TIME_FIELDS)
            + ": it can match nothing (name their time field with --time-field)"
        )
    warnings = [
        ir.Diagnostic(
            "run.no-event-time",
            f"this rule counts events in time windows, but {lacking}",
            _where(query),
            severity="warning",
        )
        for query in queries
        if reads_event_time(query)
    ]
    return chosen, warnings


def _where(query: ir.Query) -> ir.Span:
    if query.span.file is not None:
        return query.span
    return ir.Span(query.meta.path)


def instant(value: object) -> float | None:
    """Epoch seconds of an ISO 8601 text (UTC unless it says otherwise) or of a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
