"""Legacy Sigma condition forms that pySigma rejects.

The aggregation (`selection | count(field) by group > n`): the part after `|` is parsed here and
lowered to an `Aggregate` stage. Keywords in upper or mixed case (`sel1 AND NOT 1 OF filter*`):
legacy sigmac's tokenizer read `and`, `or`, `not`, `1 of`, `all of` and the aggregation words in
any case; they are lowered for pySigma, with a warning.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from rulec.compiler import ir
from rulec.compiler.frontends.sigma.values import unsupported

_AGGREGATION = re.compile(
    r"""^\s*(?P<func>count|min|max|avg|sum)\s*\(\s*(?P<arg>[\w.@-]*)\s*\)
        (?:\s+by\s+(?P<group>[\w.@-]+(?:\s*,\s*[\w.@-]+)*))?
        \s*(?P<op>>=|<=|==|=|>|<)\s*(?P<n>-?\d+(?:\.\d+)?)\s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_OPS = {
    ">": ir.CompareOp.GT,
    ">=": ir.CompareOp.GE,
    "<": ir.CompareOp.LT,
    "<=": ir.CompareOp.LE,
    "==": ir.CompareOp.EQ,
    "=": ir.CompareOp.EQ,
}
_TIMEFRAME = re.compile(r"^\s*(\d+)\s*([smhdMy])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class LegacyAggregation:
    """The parsed right-hand side of a legacy condition."""

    func: str  # count | dcount | min | max | avg | sum
    arg: str | None
    group_by: tuple[str, ...]
    op: ir.CompareOp
    threshold: int | float


def aggregation_fields(aggregations: Sequence[object]) -> list[str]:
    """The fields legacy aggregations name (argument, then group-by), once each."""
    named = (
        [a.arg, *a.group_by] if a.arg else list(a.group_by)
        for a in aggregations
        if isinstance(a, LegacyAggregation)
    )
    return list(dict.fromkeys(name for names in named for name in names))


def renamed(
    aggregation: LegacyAggregation, named: list[str], fields: list[str]
) -> LegacyAggregation:
    """The aggregation with its fields as a pipeline renamed them (`named` became `fields`);
    unchanged when a name became several, which no aggregation can group by."""
    if len(named) != len(fields):
        return aggregation
    names = dict(zip(named, fields, strict=True))
    arg = names[aggregation.arg] if aggregation.arg else None
    return replace(aggregation, arg=arg, group_by=tuple(names[g] for g in aggregation.group_by))


_KEYWORDS = frozenset(("and", "or", "not", "of", "all", "them"))
_WORD = re.compile(r"[^\s()|]+")


def lower_keywords(condition: str, names: Collection[str]) -> tuple[str, list[tuple[int, str]]]:
    """`condition` with its keywords in lower case (a detection named like one stays itself),
    and the offset and text of each keyword that was not."""
    found: list[tuple[int, str]] = []

    def lowered(match: re.Match[str]) -> str:
        word = match.group()
        if word.lower() in _KEYWORDS and word != word.lower() and word not in names:
            found.append((match.start(), word))
            return word.lower()
        return word

    return _WORD.sub(lowered, condition), found


def split_condition(condition: str) -> tuple[str, str | None]:
    """The search part and the aggregation part (None when there is no `|`)."""
    left, bar, right = condition.partition("|")
    return (left.strip(), right.strip()) if bar else (condition, None)


@dataclass(frozen=True)
class Near:
    """`search | near a and b`: events of `a` and of `b` within the timeframe of a search hit."""

    identifiers: tuple[str, ...]


_NEAR = re.compile(r"^\s*near\s+(?P<ids>[\w-]+(?:\s+and\s+[\w-]+)*)\s*$", re.IGNORECASE)


def parse_aggregation(text: str, span: ir.Span) -> LegacyAggregation | Near:
    """Parse `count(f) by g > n`, its min/max/avg/sum forms, and `near a [and b ...]`."""
    if re.match(r"^\s*near\b", text, re.IGNORECASE):
        near = _NEAR.match(text)
        if near is None:
            raise unsupported(
                f"the legacy 'near' aggregation with 'not', 'or' or brackets ('| {text}'): "
                "only 'near a and b ...' is an ordinary temporal correlation",
                span,
            )
        return Near(tuple(re.split(r"\s+and\s+", near["ids"].strip(), flags=re.IGNORECASE)))
    found = _AGGREGATION.match(text)
    if found is None:
        raise ir.RuleError(
            ir.Diagnostic(
                "sigma.bad-aggregation",
                f"cannot parse the aggregation '| {text}': expected "
                "'count([field]) [by group] OP n' or 'min|max|avg|sum(field) [by group] OP n' "
                "with OP one of > >= < <= ==",
                span,
            )
        )
    func, arg = found["func"].lower(), found["arg"] or None
    if func == "count" and arg:
        func = "dcount"
    elif func != "count" and not arg:
        raise ir.RuleError(
            ir.Diagnostic("sigma.bad-aggregation", f"{func}() needs a field: '| {text}'", span)
        )
    group = tuple(g.strip() for g in found["group"].split(",")) if found["group"] else ()
    number = float(found["n"]) if "." in found["n"] else int(found["n"])
    return LegacyAggregation(func, arg, group, _OPS[found["op"]], number)


def parse_timeframe(value: object, span: ir.Span) -> timedelta:
    """`15m` -> 15 minutes (units s, m, h, d)."""
    found = _TIMEFRAME.match(str(value))
    if found is None:
        raise ir.RuleError(
            ir.Diagnostic(
                "sigma.bad-timeframe",
                f"timeframe '{value}' is not a number followed by a unit s, m, h or d",
                span,
            )
        )
    count, unit = int(found[1]), found[2]
    if unit not in _UNITS:
        raise unsupported(f"timeframe '{value}': months and years have no fixed length", span)
    try:
        return timedelta(**{_UNITS[unit]: count})
    except OverflowError:
        message = f"timeframe '{value}' is too long: expected at most 999999999 days"
        raise ir.RuleError(ir.Diagnostic("sigma.bad-timeframe", message, span)) from None


def aggregate_stage(
    agg: LegacyAggregation, timeframe: timedelta | None, span: ir.Span
) -> ir.Aggregate:
    """The Aggregate stage of a legacy aggregation; its measure is named `value`."""
    arg = ir.FieldRef(agg.arg, span=span) if agg.arg else None
    return ir.Aggregate(
        group_by=tuple(ir.Assign(g, ir.FieldRef(g, span=span), span=span) for g in agg.group_by),
        measures=(ir.Measure("value", ir.AggCall(agg.func, arg, span=span), span=span),),
        window=ir.Window(timeframe, ir.WindowKind.SLIDING, span=span) if timeframe else None,
        having=ir.Compare(
            agg.op, ir.FieldRef("value", span=span), ir.Literal(agg.threshold, span=span), span=span
        ),
        span=span,
    )


def near_query(
    near: Near,
    exprs: list[ir.Expr],
    source: ir.Source,
    timeframe: timedelta | None,
    span: ir.Span,
) -> tuple[ir.Pipeline, tuple[ir.Let, ...]]:
    """`search | near a and b` as a temporal correlation of let-bound searches, no grouping."""
    if timeframe is None:
        raise unsupported(
            "the legacy 'near' aggregation without a timeframe: 'near' means within a time "
            "window, so the rule needs one (e.g. `timeframe: 5m` under detection)",
            span,
        )
    names = ("_search", *near.identifiers)
    lets = tuple(
        ir.Let(name, ir.Pipeline(source, (ir.Filter(expr, span=span),), span=span), span=span)
        for name, expr in zip(names, exprs, strict=True)
    )
    correlation = ir.Correlation(ir.CorrelationKind.TEMPORAL, names, (), timeframe, span=span)
    return ir.Pipeline(ir.PipelineRef(names[0], span=span), (correlation,), span=span), lets
