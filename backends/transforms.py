"""IR-to-IR rewrites the back ends share, so that a decision several targets make is made once.

A back end declares the rewrites it opts into as its `preprocess` list (as sqlglot's
`transforms.preprocess`); `preprocess` applies them, in order, before the query is written:

- `one_scan`: each log source listing several values read once per table (`passes/any_source`);
- `default_conditions`: every temporal (and temporal_ordered) correlation with its default
  condition, all of its (distinct) rules, written out (`all_rules`; `with_condition` for one).

And the readings of the IR several back ends write from:

- `at_least`: a count threshold `> n` read as `>= n + 1` (for targets that only count up to a
  minimum: EQL's runs, Elastic's threshold rules).
- `correlation_aggregate`: a counting correlation as the sliding-window aggregate it means over
  the tagged union of its rules' events (each row tagged with its rule in `RULE_COLUMN`), which
  the SQL, SPL and KQL back ends write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from rulec.compiler import ir
from rulec.compiler.passes import any_source

if TYPE_CHECKING:
    from rulec.backends.base import Backend

Rewrite = Callable[["Backend", ir.Query], ir.Query]
RULE_COLUMN = "_rulec_rule"
CORRELATION_MEASURES = {
    ir.CorrelationKind.EVENT_COUNT: "count",
    ir.CorrelationKind.VALUE_COUNT: "dcount",
    ir.CorrelationKind.TEMPORAL: "dcount",
    ir.CorrelationKind.VALUE_SUM: "sum",
    ir.CorrelationKind.VALUE_AVG: "avg",
}
BOUNDS = {ir.CompareOp.GE: 0, ir.CompareOp.GT: 1}
ALL_RULES_BY_DEFAULT = frozenset({ir.CorrelationKind.TEMPORAL, ir.CorrelationKind.TEMPORAL_ORDERED})


def all_rules(correlation: ir.Correlation) -> ir.Expr:
    """`value >= n`, n the number of distinct rules: a temporal (or temporal_ordered)
    correlation's default condition (its measure counts distinct rules, so a rule named twice
    is counted once)."""
    span = correlation.span
    count = ir.Literal(len(dict.fromkeys(correlation.rules)), span=span)
    return ir.Compare(ir.CompareOp.GE, ir.FieldRef("value", span=span), count, span=span)


def with_condition(correlation: ir.Correlation) -> ir.Correlation:
    """A temporal (or temporal_ordered) correlation with its default condition written out;
    others unchanged."""
    if correlation.condition is not None or correlation.kind not in ALL_RULES_BY_DEFAULT:
        return correlation
    return replace(correlation, condition=all_rules(correlation))


def preprocess(backend: Backend, query: ir.Query, rewrites: Iterable[Rewrite]) -> ir.Query:
    """`query` through each of `rewrites` in turn, for `backend`."""
    for rewrite in rewrites:
        query = rewrite(backend, query)
    return query


def one_scan(backend: Backend, query: ir.Query) -> ir.Query:
    """`query` with each log source that lists several values read once per table."""
    return any_source.one_scan(query, backend.source_table)


def default_conditions(backend: Backend, query: ir.Query) -> ir.Query:
    """`query` with each temporal correlation's default condition written out (a correlation
    is a stage of the query's pipeline or of a let-bound one)."""

    def conditioned(pipeline: ir.Pipeline) -> ir.Pipeline:
        stages = tuple(
            with_condition(s) if isinstance(s, ir.Correlation) else s for s in pipeline.stages
        )
        return pipeline if stages == pipeline.stages else replace(pipeline, stages=stages)

    lets = tuple(
        replace(let, value=conditioned(let.value)) if isinstance(let.value, ir.Pipeline) else let
        for let in query.lets
    )
    pipeline = conditioned(query.pipeline)
    if pipeline is query.pipeline and lets == query.lets:
        return query
    return replace(query, pipeline=pipeline, lets=lets)


def at_least(condition: ir.Expr | None) -> int | None:
    """The minimum a `>= n` or `> n` count threshold (n an integer) asks for, else None."""
    if not (
        isinstance(condition, ir.Compare)
        and condition.op in BOUNDS
        and isinstance(condition.right, ir.Literal)
        and isinstance(condition.right.value, int)
        and not isinstance(condition.right.value, bool)
    ):
        return None
    return condition.right.value + BOUNDS[condition.op]


def correlation_aggregate(correlation: ir.Correlation) -> ir.Aggregate | None:
    """The sliding-window aggregate a correlation (with its default condition written out:
    `default_conditions`) means over the union of its rules' rows (each tagged with its rule's
    name in `RULE_COLUMN`), or None when it is not one.

    event_count counts events; value_count counts distinct values of its field (never events);
    temporal counts distinct rules and by default needs all of them; the sums and averages
    measure their field. The window slides: it is never a fixed bucket.
    """
    func = CORRELATION_MEASURES.get(correlation.kind)
    if func is None or correlation.absent:
        return None
    span = correlation.span
    arg: ir.Expr | None = None
    if correlation.kind is ir.CorrelationKind.TEMPORAL:
        arg = ir.FieldRef(RULE_COLUMN, span=span)
    elif func != "count":
        if correlation.value_field is None:
            return None
        arg = ir.FieldRef(correlation.value_field, span=span)
    return ir.Aggregate(
        tuple(ir.Assign(g, ir.FieldRef(g, span=span), span=span) for g in correlation.group_by),
        (ir.Measure("value", ir.AggCall(func, arg, span=span), span=span),),
        ir.Window(correlation.timespan, span=span),
        correlation.condition,
        span=span,
    )
