"""A tiny, direct evaluator of IR filter expressions over one flat event, for property tests.

It mirrors the reference executor's documented semantics (README "Semantics", `backends/sql.py`)
and defines nothing new: fields are text or missing (None); a match on a missing field is false;
`Not` is two-valued; case-insensitive text compares `lower()` of both sides, one character at a
time as DuckDB does; numbers are parsed from the text as `TRY_CAST(f AS DOUBLE)` parses them,
with NaN above every other number as SQL orders it. Regexes and `has` terms follow RE2 (case
folding included) and are only ever given patterns from the property tests' small grammar, where
Python's `re` agrees with RE2 and is bounded.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping

from rulec.compiler import ir

Event = Mapping[str, str | None]
K = ir.MatchKind
RAW = "_raw"
DIGITS = r"[0-9]+(?:_[0-9]+)*"
NUMBER = re.compile(
    rf"\+?-?(?:inf|infinity|nan|(?:{DIGITS}(?:\.(?:{DIGITS})?)?|\.{DIGITS})(?:e[-+]?{DIGITS})?)"
)
TERM_CHAR = re.compile(r"[A-Za-z0-9]")


def evaluate(expr: ir.Expr, event: Event) -> bool:
    """Whether `event` satisfies `expr`."""
    if isinstance(expr, ir.And):
        return all(evaluate(e, event) for e in expr.operands)
    if isinstance(expr, ir.Or):
        return any(evaluate(e, event) for e in expr.operands)
    if isinstance(expr, ir.Not):
        return not evaluate(expr.operand, event)
    if isinstance(expr, ir.Match):
        return match(expr, event)
    raise NotImplementedError(f"reference_eval does not evaluate {type(expr).__name__}")


def field_text(expr: ir.Expr, event: Event) -> str | None:
    if isinstance(expr, ir.FieldRef):
        return event.get(expr.name)
    if isinstance(expr, ir.RawText):
        return event.get(RAW)
    raise NotImplementedError(f"reference_eval does not read {type(expr).__name__}")


def match(node: ir.Match, event: Event) -> bool:
    text = field_text(node.field, event)
    if node.kind is K.EXISTS:
        return text is not None
    if text is None:
        return False
    return any(match_value(node, text, value, event) for value in node.values)


def match_value(node: ir.Match, text: str, value: ir.MatchValue, event: Event) -> bool:
    kind, cased = node.kind, node.case_sensitive
    if kind in (K.LT, K.LE, K.GT, K.GE):
        return ordered(kind, number(text), float(value))
    if isinstance(value, ir.FieldRef):
        other = event.get(value.name)
        return other is not None and same(text, other, cased)
    if isinstance(value, bool):
        return same(text, "true" if value else "false", cased)
    if isinstance(value, int | float):
        return text == number_text(value)
    if kind is K.EQ:
        return same(text, value, cased)
    if kind in (K.CONTAINS, K.STARTSWITH, K.ENDSWITH, K.WILDCARD):
        return like(text, value, kind, cased)
    if kind is K.REGEX:
        return regex(text, value, cased, node.flags)
    if kind is K.HAS:
        return has(text, value, cased)
    if kind is K.CIDR:
        return in_network(text, value)
    raise NotImplementedError(f"reference_eval does not match {kind.value}")


def lower(text: str) -> str:
    """Per-character simple lowercase mapping (DuckDB's LOWER): İ becomes i, not i + dot."""
    return "".join(c.lower()[0] for c in text)


def same(text: str, value: str, cased: bool) -> bool:
    return text == value if cased else lower(text) == lower(value)


def number_text(value: int | float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def like(text: str, value: str | ir.Pattern, kind: ir.MatchKind, cased: bool) -> bool:
    if not cased:
        text = lower(text)
        value = lower(value) if isinstance(value, str) else lower_pattern(value)
    if kind is K.CONTAINS:
        return value in text
    if kind is K.STARTSWITH:
        return text.startswith(value)
    if kind is K.ENDSWITH:
        return text.endswith(value)
    return wildcard(text, value.parts)


def lower_pattern(pattern: ir.Pattern) -> ir.Pattern:
    return ir.Pattern(tuple(lower(p) if isinstance(p, str) else p for p in pattern.parts))


def wildcard(text: str, parts: tuple[str | ir.Wildcard, ...]) -> bool:
    """`*` any run, `?` one character: matched by dynamic programming over positions."""
    positions = {0}
    for part in parts:
        if part is ir.Wildcard.ANY:
            positions = set(range(min(positions), len(text) + 1)) if positions else set()
        elif part is ir.Wildcard.ONE:
            positions = {p + 1 for p in positions if p < len(text)}
        else:
            positions = {p + len(part) for p in positions if text.startswith(part, p)}
    return len(text) in positions


def fold(text: str) -> str:
    """RE2's `(?i)`: simple case folding, one character at a time (ẞ -> ß, but İ stays İ).

    Python's `re.IGNORECASE` also equates U+0130 and U+0131 with i, which RE2 does not; so
    case-insensitive regexes and terms are matched case-sensitively on folded text instead.
    """
    return "".join(_fold_char(c) for c in text)


def _fold_char(char: str) -> str:
    folded = char.casefold()
    if len(folded) == 1:
        return folded
    lowered = char.lower()
    return lowered if len(lowered) == 1 else char


def regex(text: str, pattern: str, cased: bool, flags: frozenset[str]) -> bool:
    """A partial match. Folding the pattern is sound for the property tests' grammar only:
    escaped punctuation, `.`, `[a-z]`, `[^a]`, `[0-9]` and quantifiers."""
    if not cased:
        text, pattern = fold(text), fold(pattern)
    options = (re.MULTILINE if "m" in flags else 0) | (re.DOTALL if "s" in flags else 0)
    return re.search(pattern, text, options) is not None


def has(text: str, term: str, cased: bool) -> bool:
    """`term` occurs with no letter or digit against its alphanumeric ends (KQL `has`); which
    ends need a boundary is decided on the term as written (the Kelvin sign is not ASCII)."""
    left_edge, right_edge = is_term(term[:1]), is_term(term[-1:])
    if not cased:
        text, term = fold(text), fold(term)
    start = text.find(term)
    while start != -1:
        end = start + len(term)
        left_ok = not left_edge or start == 0 or not is_term(text[start - 1])
        right_ok = not right_edge or end == len(text) or not is_term(text[end])
        if left_ok and right_ok:
            return True
        start = text.find(term, start + 1)
    return False


def is_term(char: str) -> bool:
    return bool(TERM_CHAR.fullmatch(char))


def in_network(text: str, network: str) -> bool:
    """IPv4 text in dotted-quad form (no leading zeros) inside `network`."""
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return address in ipaddress.ip_network(network, strict=False)


def number(text: str) -> float | None:
    """The text as DuckDB's TRY_CAST(text AS DOUBLE) reads it (None when it does not)."""
    body = text.strip(" \t\n\r\v\f").lower()
    if not NUMBER.fullmatch(body):
        return None
    return float(body[1:] if body.startswith("+-") else body)


def ordered(kind: ir.MatchKind, left: float | None, right: float) -> bool:
    """SQL ordering of doubles: NaN equals NaN and is above every other number."""
    if left is None:
        return False
    key = (math.isnan(left), 0.0 if math.isnan(left) else left)
    limit = (math.isnan(right), 0.0 if math.isnan(right) else right)
    return {K.LT: key < limit, K.LE: key <= limit, K.GT: key > limit, K.GE: key >= limit}[kind]
