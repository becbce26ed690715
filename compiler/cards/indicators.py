"""Indicators: the field, kind and values a rule matches, read from its filters.

An indicator is a positive predicate of a `Filter` (a `Match`, or a comparison of a field with a
constant) that is not part of an exclusion (see `exclusions`). Values are shown as written; each
also has a catalog key, normalised so that the same indicator counts once across languages:

- field names are case-folded (after the field mapping the rules were loaded with);
- `in` counts as `eq`, one key per value;
- values of case-insensitive kinds are case-folded;
- an `ends_with` value loses one leading backslash (a path separator): Sigma's
  `Image|endswith: \\x.exe` and KQL's `FolderPath endswith "x.exe"` share a key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from rulec.compiler import ir

KIND_NAMES = {
    ir.MatchKind.STARTSWITH: "starts_with",
    ir.MatchKind.ENDSWITH: "ends_with",
}
COMPARE_KINDS = {
    ir.CompareOp.EQ: "eq",
    ir.CompareOp.NE: "ne",
    ir.CompareOp.LT: "lt",
    ir.CompareOp.LE: "le",
    ir.CompareOp.GT: "gt",
    ir.CompareOp.GE: "ge",
}
KEYWORDS = "keywords"


@dataclass(frozen=True)
class Predicate:
    """One field test as an analyst reads it: `field kind values`, plus how the field is read."""

    field: str
    kind: str
    values: tuple[str, ...]
    case_sensitive: bool
    transforms: tuple[str, ...] = ()
    line: int | None = None


IndicatorKey = tuple[str, str, str]


def kind_name(kind: ir.MatchKind, count: int, negated: bool = False) -> str:
    """The card's name of a match kind: `in` for a list of equalities, `ne` for a negated one."""
    if kind is ir.MatchKind.EQ:
        name = "in" if count > 1 else "eq"
        return ("not_" + name if count > 1 else "ne") if negated else name
    return KIND_NAMES.get(kind, kind.value)


def indicator_keys(predicate: Predicate) -> list[IndicatorKey]:
    """The catalog keys of a predicate, one per value (see the module notes)."""
    field = predicate.field.casefold()
    kind = "eq" if predicate.kind == "in" else predicate.kind
    return [(field, kind, normalise_value(predicate, value)) for value in predicate.values]


def normalise_value(predicate: Predicate, value: str) -> str:
    if predicate.kind == "ends_with" and value.startswith("\\"):
        value = value[1:]
    return value if predicate.case_sensitive else value.casefold()


def predicate_of(
    expr: ir.Expr, params: dict[str, ir.Expr], negated: bool = False
) -> Predicate | None:
    """The predicate an expression states, or None when it is not a simple field test."""
    if isinstance(expr, ir.Match):
        return _match_predicate(expr, params, negated)
    if isinstance(expr, ir.Compare) and isinstance(expr.right, ir.Literal):
        op = expr.op
        if negated:
            if op not in (ir.CompareOp.EQ, ir.CompareOp.NE):
                return None
            op = ir.CompareOp.NE if op is ir.CompareOp.EQ else ir.CompareOp.EQ
        return Predicate(
            field=expr_text(expr.left),
            kind=COMPARE_KINDS[op],
            values=(value_text(expr.right.value),),
            case_sensitive=True,
            line=expr.span.line,
        )
    return None


def _match_predicate(match: ir.Match, params: dict[str, ir.Expr], negated: bool) -> Predicate:
    return Predicate(
        field=expr_text(match.field),
        kind=kind_name(match.kind, len(match.values), negated),
        values=tuple(value_text(v) for v in match.values),
        case_sensitive=match.case_sensitive,
        transforms=tuple(transform_text(t, params) for t in match.transforms),
        line=match.span.line,
    )


def transform_text(transform: ir.Transform, params: dict[str, ir.Expr]) -> str:
    """`coalesce_default:0` for coalesce with a default (resolved through the query's params)."""
    args = [expr_text(_resolve(arg, params)) for arg in transform.args]
    if transform.name == "coalesce" and args:
        return "coalesce_default:" + ",".join(args)
    return ":".join([transform.name, ",".join(args)]) if args else transform.name


def _resolve(expr: ir.Expr, params: dict[str, ir.Expr]) -> ir.Expr:
    seen: set[str] = set()
    while isinstance(expr, ir.ScalarRef) and expr.name in params and expr.name not in seen:
        seen.add(expr.name)
        expr = params[expr.name]
    return expr


def params_of(query: ir.Query) -> dict[str, ir.Expr]:
    """Defaults of parameters and scalar let-bindings, by name."""
    found = {p.name: p.default for p in query.params if p.default is not None}
    found.update({let.name: let.value for let in query.lets if not _is_pipeline(let.value)})
    return found


def _is_pipeline(value: object) -> bool:
    return isinstance(value, ir.Pipeline)


def positive_predicates(
    expr: ir.Expr, params: dict[str, ir.Expr], language: str
) -> Iterator[Predicate]:
    """Predicates an expression requires, through and/or; negations only as KQL inequalities."""
    if isinstance(expr, ir.And | ir.Or):
        for operand in expr.operands:
            yield from positive_predicates(operand, params, language)
    elif isinstance(expr, ir.Not):
        if language == "kql" and is_inequality(expr.operand):
            found = predicate_of(expr.operand, params, negated=True)
            if found:
                yield found
    else:
        found = predicate_of(expr, params)
        if found:
            yield found


def is_inequality(expr: ir.Expr) -> bool:
    """A single-value equality, which KQL negates with `!=` / `!~` (read as `ne`)."""
    if isinstance(expr, ir.Match):
        return expr.kind is ir.MatchKind.EQ and len(expr.values) == 1
    return isinstance(expr, ir.Compare) and expr.op is ir.CompareOp.EQ


def value_text(value: object) -> str:
    """A value as an analyst reads it: wildcards as `*`/`?`, timespans as `15m`."""
    if isinstance(value, ir.Pattern):
        return "".join(p.value if isinstance(p, ir.Wildcard) else _escape(p) for p in value.parts)
    if isinstance(value, ir.FieldRef):
        return value.name
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return timespan_text(value)
    if value is None:
        return "null"
    return str(value)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def timespan_text(span: timedelta) -> str:
    """`15m`, `2d`, `90s`: the largest unit that divides the span."""
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{span.total_seconds():g}s"


def expr_text(expr: ir.Expr | None) -> str:
    """A compact, readable rendering of an expression (for fields and fallbacks)."""
    if expr is None:
        return ""
    if isinstance(expr, ir.FieldRef | ir.ScalarRef):
        return expr.name
    if isinstance(expr, ir.RawText):
        return KEYWORDS
    if isinstance(expr, ir.Literal):
        return repr(expr.value) if isinstance(expr.value, str) else value_text(expr.value)
    if isinstance(expr, ir.Call):
        return f"{expr.name}({', '.join(expr_text(a) for a in expr.args)})"
    if isinstance(expr, ir.Compare | ir.Arith):
        return f"{expr_text(expr.left)} {expr.op.value} {expr_text(expr.right)}"
    if isinstance(expr, ir.Not):
        return f"not ({expr_text(expr.operand)})"
    if isinstance(expr, ir.And | ir.Or):
        word = " and " if isinstance(expr, ir.And) else " or "
        return "(" + word.join(expr_text(o) for o in expr.operands) + ")"
    if isinstance(expr, ir.Match):
        values = ", ".join(value_text(v) for v in expr.values)
        return f"{expr_text(expr.field)} {kind_name(expr.kind, len(expr.values))} ({values})"
    if isinstance(expr, ir.InPipeline):
        return f"{expr_text(expr.field)} in (subquery)"
    return type(expr).__name__


def pipelines(query: ir.Query) -> Iterator[tuple[str | None, ir.Pipeline]]:
    """Every pipeline of a query with the let name it belongs to (None: the main pipeline)."""
    for let in query.lets:
        if isinstance(let.value, ir.Pipeline):
            yield from _nested(let.name, let.value)
    yield from _nested(None, query.pipeline)


def _nested(name: str | None, pipeline: ir.Pipeline) -> Iterator[tuple[str | None, ir.Pipeline]]:
    yield name, pipeline
    if isinstance(pipeline.source, ir.AnySource):
        for branch in pipeline.source.branches:
            yield from _nested(name, branch)
    for stage in pipeline.stages:
        if isinstance(stage, ir.Join):
            yield from _nested(name, stage.right)
        elif isinstance(stage, ir.Union):
            for inner in stage.pipelines:
                yield from _nested(name, inner)


def filters(query: ir.Query) -> Iterator[tuple[str | None, ir.Filter]]:
    """Every `Filter` stage of a query with the let name it belongs to."""
    for name, pipeline in pipelines(query):
        for stage in pipeline.stages:
            if isinstance(stage, ir.Filter):
                yield name, stage


def is_exclusion(conjunct: ir.Expr, language: str) -> bool:
    """A top-level NOT conjunct, except a KQL inequality (`!=`, `!~` on one value)."""
    if not isinstance(conjunct, ir.Not):
        return False
    return not (language == "kql" and is_inequality(conjunct.operand))


def indicators(query: ir.Query) -> tuple[Predicate, ...]:
    """The rule's indicators, one per field, kind and transforms, values sorted, by field."""
    params = params_of(query)
    merged: dict[tuple, Predicate] = {}
    for _, stage in filters(query):
        for conjunct in ir.conjuncts(stage.predicate):
            if is_exclusion(conjunct, query.meta.language):
                continue
            for found in positive_predicates(conjunct, params, query.meta.language):
                kind = "eq" if found.kind == "in" else found.kind
                key = (found.field, kind, found.transforms, found.case_sensitive)
                merged[key] = _merge(merged.get(key), found)
    return tuple(sorted(merged.values(), key=lambda p: (p.field.casefold(), p.kind)))


def _merge(old: Predicate | None, new: Predicate) -> Predicate:
    values = set(new.values) | set(old.values if old else ())
    line = old.line if old and old.line else new.line
    kind = new.kind
    if kind in ("eq", "in"):
        kind = "in" if len(values) > 1 else "eq"
    return Predicate(
        field=new.field,
        kind=kind,
        values=tuple(sorted(values, key=lambda v: (v.casefold(), v))),
        case_sensitive=new.case_sensitive,
        transforms=new.transforms,
        line=line,
    )
