"""IR-to-IR rewrites the back ends share, so that a decision several targets make is made once.

- `with_condition`: a temporal correlation with its default condition, all of its (distinct)
  rules, written out (`all_rules`).
- `at_least`: a count threshold `> n` read as `>= n + 1` (for targets that only count up to a
  minimum: EQL's runs, Elastic's threshold rules).
- `correlation_aggregate`: a counting correlation as the sliding-window aggregate it means over
  the tagged union of its rules' events (each row tagged with its rule in `RULE_COLUMN`), which
  the SQL, SPL and KQL back ends write.
"""

from __future__ import annotations

from dataclasses import replace

from rulec.compiler import ir

RULE_COLUMN = "_rulec_rule"
CORRELATION_MEASURES = {
    ir.CorrelationKind.EVENT_COUNT: "count",
    ir.CorrelationKind.VALUE_COUNT: "dcount",
    ir.CorrelationKind.TEMPORAL: "dcount",
    ir.CorrelationKind.VALUE_SUM: "sum",
    ir.CorrelationKind.VALUE_AVG: "avg",
}
BOUNDS = {ir.CompareOp.GE: 0, ir.CompareOp.GT: 1}


def all_rules(correlation: ir.Correlation) -> ir.Expr:
    """`value >= n`, n the number of distinct rules: a temporal correlation's default condition
    (its measure counts distinct rules, so a rule named twice is counted once)."""
    span = correlation.span
    count = ir.Literal(len(dict.fromkeys(correlation.rules)), span=span)
    return ir.Compare(ir.CompareOp.GE, ir.FieldRef("value", span=span), count, span=span)


def with_condition(correlation: ir.Correlation) -> ir.Correlation:
    """A temporal correlation with its default condition written out; others unchanged."""
    if correlation.condition is not None or correlation.kind is not ir.CorrelationKind.TEMPORAL:
        return correlation
    return replace(correlation, condition=all_rules(correlation))


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
    """The sliding-window aggregate a correlation means over the union of its rules' rows
    (each tagged with its rule's name in `RULE_COLUMN`), or None when it is not one.

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
        with_condition(correlation).condition,
        span=span,
    )
