"""KQL literal text to Python values: timespans, datetimes, numbers; RE2 pattern checks."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import re2

RE2_OPTIONS = re2.Options()
RE2_OPTIONS.log_errors = False

UNIT_SECONDS = {
    "d": 86400, "day": 86400, "days": 86400,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "m": 60, "min": 60, "minute": 60, "minutes": 60,
    "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "ms": 1e-3, "milli": 1e-3, "millis": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3,
    "microsecond": 1e-6, "microseconds": 1e-6,
    "tick": 1e-7, "ticks": 1e-7,
}  # fmt: skip
SPAN_WITH_UNIT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([a-zA-Z]+)")
SPAN_CLOCK = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?")


def parse_timespan(text: str) -> timedelta | None:
    """`1d`, `1.5h`, `10ms`, `2.10:00:00` (d.hh:mm:ss) or `00:30:00`; None if malformed or
    beyond the largest timespan (999,999,999 days)."""
    try:
        return timespan_of(text.strip())
    except (OverflowError, ValueError):
        return None


def timespan_of(text: str) -> timedelta | None:
    unit = SPAN_WITH_UNIT.fullmatch(text)
    if unit and unit.group(2).lower() in UNIT_SECONDS:
        return timedelta(seconds=float(unit.group(1)) * UNIT_SECONDS[unit.group(2).lower()])
    clock = SPAN_CLOCK.fullmatch(text)
    if clock:
        days, hours, minutes, seconds, fraction = clock.groups()
        return timedelta(
            days=int(days or 0),
            hours=int(hours),
            minutes=int(minutes),
            seconds=int(seconds or 0) + float(fraction or 0),
        )
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return timedelta(days=float(text))
    return None


def parse_datetime(text: str) -> datetime | None:
    """An ISO 8601 date or date-time (UTC unless an offset is given); None if malformed."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1]
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)  # KQL allows 7 fractional digits (ticks)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


LONG_DIGITS = 19  # a KQL long is 64-bit: 9,223,372,036,854,775,807 has 19 digits


def parse_number(kind: str, text: str) -> int | float:
    """A `long` or `real` literal; ValueError for a long beyond 64 bits."""
    if kind != "long":
        return float(text)
    if len(text.lstrip("0")) > 2 * LONG_DIGITS:  # int() refuses very long digit strings
        raise ValueError(f"the number {text[:20]}... is beyond a 64-bit KQL long")
    value = int(text, 0)
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"the number {text} is beyond a 64-bit KQL long")
    return value


def re2_error(pattern: str) -> str | None:
    """Why RE2 (KQL's regex engine) rejects `pattern`, or None when it compiles."""
    try:
        re2.compile(pattern, RE2_OPTIONS)
    except re2.error as error:
        reason = error.args[0] if error.args else "invalid"
        return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
    return None
