"""What a deploy format adds to the IR before its query is written (IR -> IR).

- Elastic: the fields an aggregation or correlation groups and counts by are named as the query
  names every other field, through the same Sigma pipelines (`Computer` becomes
  `winlog.event_data.Computer` under `ecs_windows`, as it would in a detection). pySigma maps
  only detection fields; this maps the others the same way, one field at a time.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from rulec.backends.pipelines import default_pipeline
from rulec.compiler import ir

# --------------------------------------------------------------------------- Elastic


def with_pipeline_fields(
    query: ir.Query, target: str, chosen: tuple[str, ...] | None = None
) -> ir.Query:
    """`query` with its group and count fields named through the pipelines the user `chosen`
    (`-p`; `()`: none), else `target`'s default ones."""
    names = tuple(default_pipeline(target)) if chosen is None else chosen
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
    """The log source of the events a query reads (of the first rule a correlation reads)."""
    if isinstance(query.pipeline.source, ir.LogSource):
        return query.pipeline.source
    for let in query.lets:
        if isinstance(let.value, ir.Pipeline) and isinstance(let.value.source, ir.LogSource):
            return let.value.source
    return None


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
