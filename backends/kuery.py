"""Kibana query language (kuery) filters and thresholds, for Elastic threshold rules.

An Elastic threshold rule filters events with a kuery query and counts them in fixed windows of
its schedule. The fixed window is an approximation of a sliding window (`bucket`), and kuery's
case-sensitive matching of keyword fields is one of a case-insensitive rule (`case`): both must
be allowed and are reported as notes. A threshold is `>= n`, so `> n` becomes `n + 1`. Both a
Sigma aggregation (`| count(f) by g > n`) and an event_count or value_count correlation over one
rule deploy this way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from rulec.backends.base import Emitted, Options
from rulec.backends.text import Prec, Text, TextBackend
from rulec.backends.transforms import at_least
from rulec.backends.values import DURATION_UNITS, bool_text, duration_text, number_text
from rulec.compiler import ir

KUERY_SPECIALS = frozenset('\\():<>"*{} \t\r\n')
DEFAULT_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Threshold:
    """Elastic's `threshold` object and the window it counts in."""

    spec: dict
    window: timedelta


class KueryBackend(TextBackend):
    """Kibana query language filters, and the threshold a final count gives them."""

    name = "kuery"
    presence = "{}:*"
    presence_prec = Prec.COMPARE
    two_valued = True  # `not f:x` holds where f is missing

    def __init__(self, options: Options | None = None):
        super().__init__(options)
        self.notes: list[ir.Diagnostic] = []
        self.threshold: Threshold | None = None

    def emit(self, query: ir.Query) -> Emitted:
        """The filter; a final aggregate or correlation becomes `self.threshold`."""
        self.notes, self.threshold = [], None
        query = self.prepared(query)
        pipeline = query.pipeline
        *filters, last = pipeline.stages or (None,)
        if isinstance(last, ir.Correlation):
            if filters:
                raise self.unsupported(f"the {type(filters[0]).__name__} stage", filters[0])
            filters = list(correlated(query, last, self).stages)
            self.threshold = correlation_threshold(last, self)
        elif isinstance(last, ir.Aggregate):
            self.threshold = aggregate_threshold(last, self)
        elif last is not None:
            filters.append(last)
        for stage in filters:
            if not isinstance(stage, ir.Filter):
                raise self.unsupported(f"the {type(stage).__name__} stage", stage)
        predicates = tuple(s.predicate for s in filters)  # type: ignore[union-attr]
        text = self.expr(ir.And(predicates)) if predicates else "*"
        return Emitted(self.name, text, tuple(self.notes))

    def render_not(self, node: ir.Not, guarded: bool) -> Text:
        return Text(f"not {self.wrap(self.render(node.operand, True), Prec.NOT)}", Prec.NOT)

    def render_match(self, node: ir.Match, guarded: bool) -> Text:
        if node.transforms or not isinstance(node.field, ir.FieldRef):
            raise self.unsupported("a match on a computed value", node)
        if not node.case_sensitive and node.kind is not ir.MatchKind.EXISTS:
            self.allow("case", node, "kuery matches keyword fields case-sensitively")
        return super().render_match(node, guarded)

    def allow(self, approximation: str, node: ir.Node, why: str) -> None:
        if approximation not in self.options.approximations:
            raise self.unsupported("this rule", node, f"{why}; allow '{approximation}'")
        message = f"{why} (allowed: {approximation})"
        if all(note.message != message for note in self.notes):
            self.notes.append(
                ir.Diagnostic("approximation", message, node.span, "warning", "kuery")
            )

    def term(self, value: ir.MatchValue | ir.Pattern, node: ir.Match) -> str:
        if isinstance(value, bool):
            return bool_text(value)
        if isinstance(value, int | float):
            return number_text(value)
        if isinstance(value, str):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(value, ir.Pattern) and ir.Wildcard.ONE not in value.parts:
            parts: list[str | ir.Wildcard] = []
            for part in value.parts:  # `*` around empty text is one `*`
                if part != "" and not (part is ir.Wildcard.ANY and parts[-1:] == [part]):
                    parts.append(part)
            return "".join(
                "*"
                if p is ir.Wildcard.ANY
                else "".join(f"\\{c}" if c in KUERY_SPECIALS else c for c in p)
                for p in parts
            )
        raise self.unsupported("a value kuery cannot match exactly", node)

    def match_values(self, node: ir.Match, values: list) -> Text:
        field = self.render(node.field).text
        terms = [self.term(v, node) for v in values]
        inner = terms[0] if len(terms) == 1 else f"({' or '.join(terms)})"
        return Text(f"{field}:{inner}", Prec.COMPARE)

    def match_eq(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        return self.match_values(node, list(node.values))

    def wildcards(
        self, node: ir.Match, subject: Text, patterns: list[ir.Pattern], guarded: bool
    ) -> Text:
        return self.match_values(node, patterns)


def correlated(query: ir.Query, stage: ir.Correlation, kuery: KueryBackend) -> ir.Pipeline:
    """The events pipeline of the one rule a count correlation counts."""
    counts = (ir.CorrelationKind.EVENT_COUNT, ir.CorrelationKind.VALUE_COUNT)
    if stage.kind not in counts or len(stage.rules) != 1 or stage.absent:
        raise kuery.unsupported(f"a {stage.kind.value} correlation", stage, "one rule, counted")
    lets = {let.name: let.value for let in query.lets}
    pipeline = lets.get(stage.rules[0])
    if not isinstance(pipeline, ir.Pipeline):
        raise kuery.unsupported("a correlation of this rule", stage)
    return pipeline


def aggregate_threshold(stage: ir.Aggregate, kuery: KueryBackend) -> Threshold:
    """The threshold of a Sigma aggregation: one count or distinct count `>= n` or `> n`."""
    if len(stage.measures) != 1:
        raise kuery.unsupported("this aggregate", stage, "one measure, at most 3 group fields")
    agg = stage.measures[0].agg
    fields = [g.name for g in stage.group_by if g.expr == ir.FieldRef(g.name)]
    if len(fields) != len(stage.group_by):
        raise kuery.unsupported("a computed group key", stage)
    if not isinstance(agg, ir.AggCall):
        raise kuery.unsupported("this aggregate", stage, "a count or distinct count >= n or > n")
    if agg.func in ("dcount", "count_distinct") and isinstance(agg.arg, ir.FieldRef):
        distinct = agg.arg.name
    elif agg.func == "count" and agg.arg is None:
        distinct = None
    else:
        raise kuery.unsupported(f"the aggregation {agg.func}() in a threshold rule", stage)
    window = stage.window.size if stage.window is not None else DEFAULT_WINDOW
    if stage.window is not None and stage.window.kind is ir.WindowKind.SLIDING:
        kuery.allow("bucket", stage, f"the sliding {duration(window)} window becomes fixed windows")
    return build_threshold(fields, distinct, stage.having, window, stage, kuery)


def correlation_threshold(stage: ir.Correlation, kuery: KueryBackend) -> Threshold:
    """The threshold of an event_count or value_count correlation over its timespan."""
    distinct = stage.value_field if stage.kind is ir.CorrelationKind.VALUE_COUNT else None
    window = stage.timespan
    kuery.allow("bucket", stage, f"the sliding {duration(window)} window becomes fixed windows")
    return build_threshold(list(stage.group_by), distinct, stage.condition, window, stage, kuery)


def build_threshold(
    fields: list[str],
    distinct: str | None,
    having: ir.Expr | None,
    window: timedelta,
    stage: ir.Node,
    kuery: KueryBackend,
) -> Threshold:
    """Elastic's threshold: group `fields` (at most 3), counting events or `distinct` values."""
    if len(fields) > 3:
        raise kuery.unsupported("this aggregate", stage, "one measure, at most 3 group fields")
    value = at_least(having)
    if value is None:
        raise kuery.unsupported("this aggregate", stage, "a count or distinct count >= n or > n")
    if value < 1:
        raise kuery.unsupported("a threshold below 1", stage, "Elastic counts from 1")
    if distinct is None:
        return Threshold({"field": fields, "value": value}, window)
    cardinality = [{"field": distinct, "value": value}]
    return Threshold({"field": fields, "value": 1, "cardinality": cardinality}, window)


def duration(size: timedelta) -> str:
    """`15m`, `2h`, `1d`: the largest unit that divides the size, else seconds."""
    return duration_text(size, DURATION_UNITS)
