"""What a deploy format adds to the IR before its query is written (IR -> IR).

- Elastic: the fields an aggregation or correlation groups and counts by are named as the query
  names every other field, through the same Sigma pipelines (`Computer` becomes
  `winlog.event_data.Computer` under `ecs_windows`, as it would in a detection). pySigma maps
  only detection fields; this maps the others the same way, one field at a time (Defender XDR
  too: a Sigma group field becomes its Defender column where the pipelines map it).
- Defender XDR: a custom detection's rows must be events (`Timestamp`, `ReportId` and a device
  or account column identify each), so an aggregation becomes the events of its alerts: the
  aggregated query is let-bound, and the rule's events are joined to its rows on the group keys
  and, with a window, kept when their time lies in the alert's window.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from rulec.backends.pipelines import pipelines_for
from rulec.compiler import ir

ALERTS = "_rulec_alerts"
EVERY_ROW = "_rulec_key"  # a constant key: an aggregation without group keys joins every event
EVENT_TIME = "Timestamp"  # every Defender XDR advanced hunting table's event time


# --------------------------------------------------------------------------- Elastic


def with_pipeline_fields(
    query: ir.Query, target: str, chosen: tuple[str, ...] | None = None
) -> ir.Query:
    """`query` with its group and count fields named through the pipelines the user `chosen`
    (`-p`; `()`: none), else `target`'s default ones."""
    names = pipelines_for(target, (), False) if chosen is None else chosen
    source = _log_source(query)
    if not names or source is None:
        return query

    def name(field: str) -> str:
        return mapped_field(names, source.product, source.category, source.service, field)

    stages = tuple(_renamed(stage, name) for stage in query.pipeline.stages)
    return replace(query, pipeline=replace(query.pipeline, stages=stages))


def _renamed(stage: ir.Stage, name) -> ir.Stage:
    if isinstance(stage, ir.Correlation):
        value = stage.value_field and name(stage.value_field)
        return replace(stage, group_by=tuple(map(name, stage.group_by)), value_field=value)
    if isinstance(stage, ir.Aggregate):
        group_by = tuple(
            ir.Assign(name(g.name), ir.FieldRef(name(g.name)), span=g.span)
            if g.expr == ir.FieldRef(g.name)
            else g
            for g in stage.group_by
        )
        measures = tuple(
            replace(m, agg=replace(m.agg, arg=ir.FieldRef(name(m.agg.arg.name))))
            if isinstance(m.agg, ir.AggCall) and isinstance(m.agg.arg, ir.FieldRef)
            else m
            for m in stage.measures
        )
        return replace(stage, group_by=group_by, measures=measures)
    return stage


def _log_source(query: ir.Query) -> ir.LogSource | None:
    """The log source of the events a query reads (of the first rule a correlation reads; the
    rule's own where its pipelines named a table)."""
    if isinstance(query.pipeline.source, ir.LogSource):
        return query.pipeline.source
    for let in query.lets:
        if isinstance(let.value, ir.Pipeline) and isinstance(let.value.source, ir.LogSource):
            return let.value.source
    return query.meta.logsource


@cache
def mapped_field(
    pipelines: tuple[str, ...],
    product: str | None,
    category: str | None,
    service: str | None,
    field: str,
) -> str:
    """`field` as `pipelines` name it in a detection of a rule with this log source (itself
    when they map it to several fields or none)."""
    from sigma.exceptions import SigmaError
    from sigma.rule import SigmaRule

    from rulec.compiler.rules import resolve_pipeline

    logsource = {k: v for k, v in (("product", product), ("category", category)) if v}
    if service:
        logsource["service"] = service
    rule = SigmaRule.from_dict(
        {
            "title": "field",
            "logsource": logsource,
            "detection": {"selection": {field: "x"}, "condition": "selection"},
        }
    )
    try:
        rule = resolve_pipeline(pipelines).apply(rule) or rule  # type: ignore[union-attr]
        (item,) = rule.detection.detections["selection"].detection_items
    except (SigmaError, ValueError):
        return field
    return getattr(item, "field", None) or field


# --------------------------------------------------------------------------- Defender XDR


def with_event_rows(query: ir.Query) -> ir.Query:
    """An aggregation over one table as the events of its alerts (other queries unchanged)."""
    pipeline = query.pipeline
    *filters, last = pipeline.stages or (None,)
    if (
        not isinstance(last, ir.Aggregate)
        or not isinstance(pipeline.source, ir.Table)
        or query.lets
        or query.params
        or not all(isinstance(stage, ir.Filter) for stage in filters)
    ):
        return query
    keys = tuple(g.name for g in last.group_by if g.expr == ir.FieldRef(g.name))
    if len(keys) != len(last.group_by):
        return query  # a computed group key is no event column to join on
    alerts = ir.Pipeline(ir.PipelineRef(ALERTS))
    joined: list[ir.Stage] = []
    if not keys:
        constant = ir.Extend((ir.Assign(EVERY_ROW, ir.Literal(1)),))
        joined.append(constant)
        alerts = replace(alerts, stages=(constant,))
        keys = (EVERY_ROW,)
    joined.append(ir.Join(ir.JoinKind.INNER, alerts, tuple((k, k) for k in keys)))
    if last.window is not None:
        time = ir.FieldRef(last.window.time_field or EVENT_TIME)
        start, end = ir.FieldRef("window_start"), ir.FieldRef("window_end")
        within = ir.And(
            (ir.Compare(ir.CompareOp.GE, time, start), ir.Compare(ir.CompareOp.LE, time, end))
        )
        joined.append(ir.Filter(within))
    events = replace(pipeline, stages=(*filters, *joined))
    return replace(query, pipeline=events, lets=(ir.Let(ALERTS, pipeline),))
