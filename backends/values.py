"""How every target writes a rule's values: a bool or a number compared with an event field's
text, a regex's inline flags, and a duration in its largest whole unit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

DAY, HOUR, MINUTE, SECOND = (
    timedelta(days=1),
    timedelta(hours=1),
    timedelta(minutes=1),
    timedelta(seconds=1),
)

DURATION_UNITS = (("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", SECOND))


def bool_text(value: bool) -> str:
    """A bool as the text an event field holds: `true` / `false`."""
    return "true" if value else "false"


def as_text(value: object) -> object:
    """A bool rule value as the text events hold ("true"/"false"); any other value unchanged."""
    return bool_text(value) if isinstance(value, bool) else value


def number_text(value: int | float) -> str:
    """A number as the reference compares it with text: `3.0` is "3"."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def regex_flags(flags: Iterable[str], case_sensitive: bool) -> str:
    """A regex's inline flags, `(?is)`, with `i` when it ignores case ("" when there are none)."""
    letters = "".join(sorted(set(flags) | (set() if case_sensitive else {"i"})))
    return f"(?{letters})" if letters else ""


def duration_text(size: timedelta, units: Sequence[tuple[str, timedelta]]) -> str:
    """`15m`, `2h`: `size` in the largest of `units` (largest first) that divides it exactly,
    else (and zero) in the last, the smallest."""
    smallest, step = units[-1]
    count = size // step
    for suffix, length in units[:-1]:
        if count and count % (length // step) == 0:
            return f"{count // (length // step)}{suffix}"
    return f"{count}{smallest}"
