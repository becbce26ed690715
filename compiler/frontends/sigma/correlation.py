"""Sigma correlation rules as an `ir.Correlation` over let-bound pipelines of the rules they name.

The referenced rules must be in the same file (collection); each becomes a `Let` named by the
reference as written, with an `Extend` stage for the correlation's field aliases.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)
from sigma.processing.pipeline import ProcessingPipeline

from rulec.compiler import ir
from rulec.compiler.frontends.sigma.documents import Document, child, node_span
from rulec.compiler.frontends.sigma.meta import rule_meta
from rulec.compiler.frontends.sigma.values import unsupported

_KINDS = {
    SigmaCorrelationType.EVENT_COUNT: ir.CorrelationKind.EVENT_COUNT,
    SigmaCorrelationType.VALUE_COUNT: ir.CorrelationKind.VALUE_COUNT,
    SigmaCorrelationType.TEMPORAL: ir.CorrelationKind.TEMPORAL,
    SigmaCorrelationType.TEMPORAL_ORDERED: ir.CorrelationKind.TEMPORAL_ORDERED,
    SigmaCorrelationType.VALUE_SUM: ir.CorrelationKind.VALUE_SUM,
    SigmaCorrelationType.VALUE_AVG: ir.CorrelationKind.VALUE_AVG,
}
_OPS = {
    SigmaCorrelationConditionOperator.LT: ir.CompareOp.LT,
    SigmaCorrelationConditionOperator.LTE: ir.CompareOp.LE,
    SigmaCorrelationConditionOperator.GT: ir.CompareOp.GT,
    SigmaCorrelationConditionOperator.GTE: ir.CompareOp.GE,
    SigmaCorrelationConditionOperator.EQ: ir.CompareOp.EQ,
    SigmaCorrelationConditionOperator.NEQ: ir.CompareOp.NE,
}


def lower_correlation(
    rule: SigmaCorrelationRule,
    data: dict[str, Any],
    doc: Document,
    path: str,
    pipeline: ProcessingPipeline | None,
    queries: dict[str, ir.Query],
) -> ir.Query:
    """The correlation as a Query whose lets are the rules it correlates."""
    span = node_span(path, child(doc.node, "correlation") or doc.node)
    if pipeline is not None:
        rule = pipeline.apply(rule)  # alternatives may return a processed copy
    kind = _KINDS.get(rule.type)
    if kind is None:
        raise unsupported(f"the correlation type '{rule.type.name.lower()}'", span)
    lets: dict[str, ir.Let] = {}
    names = tuple(_bind(rule, ref.reference, queries, lets, span) for ref in rule.rules or ())
    if not names:
        raise unsupported("a correlation that names no rules", span)
    condition, value_field = _condition(rule, span)
    correlation = ir.Correlation(
        kind,
        names,
        tuple(rule.group_by or ()),
        _timespan(rule, span),
        condition,
        value_field,
        span=span,
    )
    stages = (correlation,)
    return ir.Query(
        ir.Pipeline(ir.PipelineRef(names[0], span=span), stages, span=span),
        lets=tuple(lets.values()),
        meta=rule_meta(data, path, doc.text),
        span=span,
    )


def _bind(
    rule: SigmaCorrelationRule,
    reference: str,
    queries: dict[str, ir.Query],
    lets: dict[str, ir.Let],
    span: ir.Span,
) -> str:
    """Add the let for one referenced rule (and the lets it needs itself); return its name."""
    query = queries.get(str(reference))
    if query is None:
        raise ir.RuleError(
            ir.Diagnostic(
                "sigma.unknown-rule",
                f"the correlation refers to rule '{reference}', which is not a rule of this file "
                "that converts (correlations see the rules of their own file)",
                span,
            )
        )
    for let in query.lets:
        lets.setdefault(let.name, let)
    aliases = tuple(
        ir.Assign(alias.alias, ir.FieldRef(name, span=span), span=span)
        for alias in rule.aliases
        for ref, name in alias.mapping.items()
        if ref.reference == reference
    )
    pipeline = query.pipeline
    if aliases:
        extend = ir.Extend(aliases, span=span)
        pipeline = ir.Pipeline(pipeline.source, (*pipeline.stages, extend), span=pipeline.span)
    lets[reference] = ir.Let(reference, pipeline, span=span)
    return reference


def _condition(rule: SigmaCorrelationRule, span: ir.Span) -> tuple[ir.Expr | None, str | None]:
    condition = rule.condition
    if condition is None:
        return None, None
    if not isinstance(condition, SigmaCorrelationCondition):
        raise unsupported("an extended (boolean) correlation condition", span)
    if condition.percentile is not None:
        raise unsupported("a percentile correlation condition (the IR has no percentile)", span)
    fields = condition.fieldref
    if isinstance(fields, list):
        if len(fields) != 1:
            raise unsupported("a correlation condition over several fields", span)
        fields = fields[0]
    compare = ir.Compare(
        _OPS[condition.op],
        ir.FieldRef("value", span=span),
        ir.Literal(condition.count, span=span),
        span=span,
    )
    return compare, fields


def _timespan(rule: SigmaCorrelationRule, span: ir.Span) -> timedelta:
    if rule.timespan.unit in ("M", "y"):
        raise unsupported(f"timespan '{rule.timespan.spec}': months and years vary in length", span)
    return timedelta(seconds=rule.timespan.seconds)
