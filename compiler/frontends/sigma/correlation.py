"""Sigma correlation rules as an `ir.Correlation` over let-bound pipelines of the rules they name.

The referenced rules must be in the same file (collection); each becomes a `Let` named by the
reference as written, with an `Extend` stage for the correlation's field aliases. The
correlation's fields are those of each rule it names: the pipeline that read a rule maps them as
it mapped that rule's (its table and log source decide), and a field two rules name differently
becomes an alias under its Sigma name.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
    SigmaRuleReference,
)
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule

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
    read: dict[str, tuple[Any, ProcessingPipeline | None]],
    queries: dict[str, ir.Query],
) -> ir.Query:
    """The correlation as a Query whose lets are the rules it correlates; `read` holds each
    rule it names (by reference) with the pipeline that read it."""
    span = node_span(path, child(doc.node, "correlation") or doc.node)
    kind = _KINDS.get(rule.type)
    if kind is None:
        raise unsupported(f"the correlation type '{rule.type.name.lower()}'", span)
    references = [str(ref.reference) for ref in rule.rules or ()]
    if not references:
        raise unsupported("a correlation that names no rules", span)
    mapped = {name: _mapped_for(rule, name, *read.get(name, (None, None))) for name in references}
    fields, renamed = _fields(rule, mapped, span)
    lets: dict[str, ir.Let] = {}
    names = tuple(
        _bind(mapped[name], name, renamed.get(name, {}), queries, lets, span) for name in references
    )
    condition, value_field = _condition(mapped[references[0]], span)
    group_by = fields[: len(rule.group_by or ())]
    value_field = fields[-1] if value_field is not None else None
    correlation = ir.Correlation(
        kind,
        names,
        group_by,
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


def _mapped_for(
    rule: SigmaCorrelationRule, name: str, read: Any, pipeline: ProcessingPipeline | None
) -> SigmaCorrelationRule:
    """The correlation as `pipeline` maps it for the rule `read` (named `name`) alone: that
    rule resolves its reference, and lends its log source and detection to conditions written
    for rules (tables chosen by log source or event id)."""
    if pipeline is None:
        return rule
    copied = copy.deepcopy(rule)
    if isinstance(read, SigmaRule):
        reference = SigmaRuleReference(name)
        reference.rule = read
        copied.referenced_rules = [reference]
        copied.logsource = read.logsource  # type: ignore[attr-defined]
        copied.detection = copy.deepcopy(read.detection)  # type: ignore[attr-defined]
    return pipeline.apply(copied)  # alternatives may return a processed copy


def _fields(
    rule: SigmaCorrelationRule, mapped: dict[str, SigmaCorrelationRule], span: ir.Span
) -> tuple[tuple[str, ...], dict[str, dict[str, str]]]:
    """The correlation's group-by fields then its value field, each the column all its rules
    name it by, else its Sigma name; and for each rule (by reference) the column of each field
    named by its Sigma name."""
    fields = [*(rule.group_by or ()), *_fieldrefs(rule)]
    columns = {name: [*(m.group_by or ()), *_fieldrefs(m)] for name, m in mapped.items()}
    if len({tuple(c) for c in columns.values()}) == 1:
        return tuple(next(iter(columns.values()))), {}
    if any(len(c) != len(fields) for c in columns.values()):
        what = "a correlation whose field a pipeline maps to several columns for one of its rules"
        raise unsupported(what, span)
    differ = {i for i in range(len(fields)) if len({c[i] for c in columns.values()}) > 1}
    chosen = next(iter(columns.values()))
    result = tuple(fields[i] if i in differ else column for i, column in enumerate(chosen))
    return result, {name: {fields[i]: c[i] for i in sorted(differ)} for name, c in columns.items()}


def _fieldrefs(rule: SigmaCorrelationRule) -> list[str]:
    condition = rule.condition
    fields = getattr(condition, "fieldref", None) if condition is not None else None
    return [] if fields is None else fields if isinstance(fields, list) else [fields]


def _bind(
    rule: SigmaCorrelationRule,
    reference: str,
    renamed: dict[str, str],
    queries: dict[str, ir.Query],
    lets: dict[str, ir.Let],
    span: ir.Span,
) -> str:
    """Add the let for one referenced rule (and the lets it needs itself); return its name.
    `renamed` gives the Sigma name of each field this rule's table names differently."""
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
    ) + tuple(
        ir.Assign(field, ir.FieldRef(column, span=span), span=span)
        for field, column in renamed.items()
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
