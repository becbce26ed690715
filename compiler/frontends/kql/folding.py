"""KQL folds case for ASCII letters only; the IR's `case_sensitive=False` folds every letter.

Where a needle holds a non-ASCII letter with a case (`é`, `ß`), the two differ: `"ÉVIL" =~ "évil"`
is false in KQL. Such matches become case-sensitive RE2 patterns that fold ASCII letters alone.
(An ASCII needle can still differ on the few non-ASCII letters whose lower case is ASCII, such as
the Kelvin sign: those are left to the IR's fold.)
"""

from __future__ import annotations

import re

from rulec.compiler import ir

TERM_EDGE_LEFT = "(?:^|[^A-Za-z0-9])"
TERM_EDGE_RIGHT = "(?:[^A-Za-z0-9]|$)"
ANCHORS = {
    ir.MatchKind.EQ: ("^(?:", ")$"),
    ir.MatchKind.CONTAINS: ("(?:", ")"),
    ir.MatchKind.STARTSWITH: ("^(?:", ")"),
    ir.MatchKind.ENDSWITH: ("(?:", ")$"),
    ir.MatchKind.HAS: ("(?:", ")"),
}


def needs_ascii_fold(values: tuple[ir.MatchValue, ...]) -> bool:
    return any(
        isinstance(v, str) and any(not c.isascii() and c.lower() != c.upper() for c in v)
        for v in values
    )


def ascii_fold_pattern(values: tuple[ir.MatchValue, ...], kind: ir.MatchKind) -> str | None:
    """One RE2 pattern matching any of `values` as KQL's case-insensitive `kind` does."""
    if kind not in ANCHORS or not all(isinstance(v, str) and v for v in values):
        return None
    alternatives = [term(v, kind) for v in values if isinstance(v, str)]
    start, end = ANCHORS[kind]
    return start + "|".join(alternatives) + end


def term(value: str, kind: ir.MatchKind) -> str:
    body = "".join(f"[{c.lower()}{c.upper()}]" if c.isascii() and c.isalpha() else re.escape(c)
                   for c in value)  # fmt: skip
    if kind is not ir.MatchKind.HAS:
        return body
    left = TERM_EDGE_LEFT if is_term_char(value[0]) else ""
    right = TERM_EDGE_RIGHT if is_term_char(value[-1]) else ""
    return left + body + right


def term_prefix_regex(value: str, prefix: bool, case_sensitive: bool) -> str:
    """RE2 for `hasprefix` (`prefix`) or `hassuffix`: a term starting (ending) with `value`.
    Terms are runs of ASCII letters and digits; KQL folds ASCII letters alone."""
    body = re.escape(value) if case_sensitive else term(value, ir.MatchKind.CONTAINS)
    if not value:
        return body
    if prefix:
        return (TERM_EDGE_LEFT if is_term_char(value[0]) else "") + body
    return body + (TERM_EDGE_RIGHT if is_term_char(value[-1]) else "")


def is_term_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


def kql_match(
    field: ir.Expr,
    kind: ir.MatchKind,
    values: tuple[ir.MatchValue, ...],
    case_sensitive: bool,
    transforms: tuple[ir.Transform, ...] = (),
    span: ir.Span = ir.NOWHERE,
) -> ir.Match:
    """`Match` with KQL's case folding: a regex where the IR's fold would differ."""
    if not case_sensitive and needs_ascii_fold(values):
        pattern = ascii_fold_pattern(values, kind)
        if pattern is not None:
            return ir.Match(field, ir.MatchKind.REGEX, (pattern,), True, transforms, span=span)
    return ir.Match(field, kind, values, case_sensitive, transforms, span=span)
