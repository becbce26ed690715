"""Does each target's engine select what the reference executor selects? (`rulec verify`)

A rule runs once on the reference executor (DuckDB unless another SQL engine is given) and once
per target on that target's engine, over the same events. Per target the verdict is:

- `agree`: the same rows. Rows of events compare by `_row`; other rows (alerts, aggregates)
  by the reference's columns, as multisets, numbers as numbers whatever their type and ISO 8601
  times as the instant they name (SPL gives a window's ends in epoch seconds). An EQL sequence
  gives the events of each sequence where the reference gives alert windows: they agree when
  there are sequences exactly when there are alerts, each event inside an alert's window.
- `disagree`: the first rows found only by the reference and only by the target.
- `cannot-express`: the target's back end reports the rule (the diagnostic's message).
- `cannot-run`: the engine cannot answer (the reference cannot run the rule, the KQL read back
  uses what the SQL back end lacks, Splunk's documentation does not settle the result).
- `error`: the engine rejected the text rulec wrote, or failed: a fault to fix.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rulec.compiler import ir
from rulec.compiler.run.engines import EngineLimit
from rulec.compiler.run.event_time import instant
from rulec.compiler.run.events import ROW, EventTable
from rulec.compiler.run.executor import execute

SHOWN = 3  # differing rows shown on each side
Row = dict[str, object]
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?")
FAILING = ("disagree", "error")


@dataclass(frozen=True)
class Finding:
    """One rule on one target."""

    rule: str
    target: str
    status: str  # agree | disagree | cannot-express | cannot-run | error
    detail: str = ""
    title: str | None = None
    reference_only: tuple[Row, ...] = ()
    target_only: tuple[Row, ...] = ()
    query: str | None = field(default=None, compare=False)

    @property
    def failed(self) -> bool:
        return self.status in FAILING


@dataclass(frozen=True)
class Inputs:
    """What a rule runs over: the main events, further tables, the clock and the time field."""

    events: EventTable
    tables: Mapping[str, EventTable]
    now: datetime | None = None
    time_field: str | None = None


Reference = Callable[[ir.Query, Inputs], list[Row]]


def on_engine(engine: object | None) -> Reference:
    """The reference executor on a SQL engine (None: a fresh DuckDB per rule)."""

    def reference(query: ir.Query, inputs: Inputs) -> list[Row]:
        return execute(
            query, inputs.events, inputs.tables, inputs.now, inputs.time_field, engine=engine
        )

    return reference


def compare_rule(
    rule: str,
    query: ir.Query,
    inputs: Inputs,
    engines: Mapping[str, object],
    reference: Reference,
) -> list[Finding]:
    """The rule on the reference, then on each target's engine, and the verdict per target."""
    title = query.meta.title if query.meta else None
    try:
        expected = reference(query, inputs)
    except ir.RuleError as error:
        why = f"the reference executor cannot run the rule: {error.diagnostic.message}"
        return [Finding(rule, target, "cannot-run", why, title) for target in engines]
    return [
        on_target(rule, title, query, inputs, target, engine, expected)
        for target, engine in engines.items()
    ]


def on_target(
    rule: str,
    title: str | None,
    query: ir.Query,
    inputs: Inputs,
    target: str,
    engine: object,
    expected: list[Row],
) -> Finding:
    text = None
    try:
        if hasattr(engine, "run_query"):
            text = engine.emit(query, inputs.now, inputs.time_field)  # type: ignore[attr-defined]
            got = engine.run_query(  # type: ignore[attr-defined]
                query, inputs.events, inputs.tables, inputs.now, inputs.time_field
            )
        else:
            got = on_engine(engine)(query, inputs)
    except ir.RuleError as error:
        status = "cannot-express" if text is None else "error"
        return Finding(rule, target, status, error.diagnostic.message, title, query=text)
    except EngineLimit as why:
        return Finding(rule, target, "cannot-run", str(why), title, query=text)
    except Exception as error:
        detail = f"the engine failed: {type(error).__name__}: {error}"
        return Finding(rule, target, "error", detail, title, query=text)
    only_expected, only_got = differences(expected, got, inputs)
    if not only_expected and not only_got:
        return Finding(rule, target, "agree", rows(len(got)), title, query=text)
    detail = f"{rows(len(expected))} on the reference, {len(got)} on {target}"
    return Finding(
        rule,
        target,
        "disagree",
        detail,
        title,
        tuple(only_expected[:SHOWN]),
        tuple(only_got[:SHOWN]),
        text,
    )


def rows(count: int) -> str:
    return f"{count} row{'' if count == 1 else 's'}"


def differences(
    expected: Sequence[Row], got: Sequence[Row], inputs: Inputs
) -> tuple[list[Row], list[Row]]:
    """Rows only the reference has, and rows only the target has (empty, empty: agreement)."""
    if not expected and not got:
        return [], []
    events_of = all(ROW in r for r in expected) and all(ROW in r for r in got)
    if events_of:
        have = {r[ROW] for r in got}
        want = {r[ROW] for r in expected}
        return [r for r in expected if r[ROW] not in have], [r for r in got if r[ROW] not in want]
    if got and all(ROW in r for r in got) and expected and ROW not in expected[0]:
        return sequences_outside(expected, got, inputs)
    keys = sorted({k for r in expected for k in r} or {k for r in got for k in r})
    left = Counter(canonical(r, keys) for r in expected)
    right = Counter(canonical(r, keys) for r in got)
    only_left = [r for r in expected if left[canonical(r, keys)] > right[canonical(r, keys)]]
    only_right = [r for r in got if right[canonical(r, keys)] > left[canonical(r, keys)]]
    return only_left, only_right


def sequences_outside(
    alerts: Sequence[Row], hits: Sequence[Row], inputs: Inputs
) -> tuple[list[Row], list[Row]]:
    """EQL sequence events against the reference's alert windows: events outside every window."""
    time_field = inputs.time_field or "TimeCreated"
    windows = [(instant(a.get("window_start")), instant(a.get("window_end"))) for a in alerts]

    def inside(hit: Row) -> bool:
        moment = instant(hit.get(time_field))
        return moment is not None and any(
            start is not None and end is not None and start <= moment <= end
            for start, end in windows
        )

    outside = [hit for hit in hits if not inside(hit)]
    return [], outside


def canonical(row: Row, keys: Sequence[str]) -> str:
    return json.dumps([normal(row.get(k)) for k in keys], default=str)


def normal(value: object) -> object:
    """A value as compared across engines: numbers as floats, ISO 8601 times as epoch seconds."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and ISO_TIME.fullmatch(value):
        return instant(value)
    return value
