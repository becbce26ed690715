"""The stages of a rule as a card lists them, each with the source text it came from.

A KQL rule's main pipeline is listed stage by stage; when it reads a let-bound pipeline (seed
003's `PotentialPlugins`), that pipeline's stages come first. A Sigma rule is listed as its
condition (with any threshold and window) followed by one stage per top-level conjunct of the
condition, each with the detection items it uses (`selection`, `not filter`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rulec.compiler import ir
from rulec.compiler.cards.indicators import (
    expr_text,
    is_exclusion,
    timespan_text,
    value_text,
)
from rulec.compiler.cards.source_text import condition_text, span_lines, tidy, yaml_block

OPS = {
    ir.Filter: "where",
    ir.Extend: "extend",
    ir.Project: "project",
    ir.ProjectAway: "project-away",
    ir.Rename: "project-rename",
    ir.Aggregate: "summarize",
    ir.Join: "join",
    ir.Union: "union",
    ir.Invoke: "invoke",
    ir.Sort: "sort",
    ir.Limit: "take",
    ir.Distinct: "distinct",
    ir.MvExpand: "mv-expand",
    ir.Parse: "parse",
    ir.Correlation: "correlation",
}


@dataclass(frozen=True)
class Threshold:
    """When an aggregation fires: `measure op value` within `window`, per `group_by`."""

    measure: str
    op: str
    value: str
    window: str | None = None
    group_by: tuple[str, ...] = ()
    line: int | None = None


@dataclass(frozen=True)
class StageCard:
    index: int
    op: str
    label: str
    text: str
    line: int | None = None
    threshold: Threshold | None = None


@dataclass(frozen=True)
class Section:
    """Stages of one pipeline: `role` is `source` (a let the rule reads) or `main`."""

    pipeline: str | None
    role: str
    stages: tuple[StageCard, ...]


def op_name(stage: ir.Stage) -> str:
    return OPS.get(type(stage), type(stage).__name__.lower())


def source_chain(query: ir.Query) -> list[ir.Let]:
    """The let-bound pipelines the main pipeline reads from, innermost first."""
    lets = {let.name: let for let in query.lets if isinstance(let.value, ir.Pipeline)}
    chain: list[ir.Let] = []
    source = query.pipeline.source
    while isinstance(source, ir.PipelineRef) and source.name in lets:
        let = lets[source.name]
        if let in chain:
            break
        chain.insert(0, let)
        source = let.value.source
    return chain


def statement_ends(query: ir.Query, lines: list[str]) -> dict[int, int]:
    """For each statement's first line, the line before the next statement starts."""
    starts = sorted(
        {n.span.line for n in (*query.params, *query.lets, query.pipeline) if n.span.line}
    )
    ends = [following - 1 for following in starts[1:]] + [len(lines)]
    return dict(zip(starts, ends, strict=True))


def kql_sections(query: ir.Query, lines: list[str]) -> tuple[Section, ...]:
    ends = statement_ends(query, lines)
    sections: list[Section] = []
    index = 1
    for let in source_chain(query):
        end = ends.get(let.span.line or 0, len(lines))
        stages = pipeline_stages(let.value, lines, index, end)
        sections.append(Section(let.name, "source", stages))
        index += len(stages)
    end = ends.get(query.pipeline.span.line or 0, len(lines))
    sections.append(Section(None, "main", pipeline_stages(query.pipeline, lines, index, end)))
    return tuple(sections)


def pipeline_stages(
    pipeline: ir.Pipeline, lines: list[str], index: int, end: int
) -> tuple[StageCard, ...]:
    """One card per stage (and one for a table source), numbered from `index`."""
    cards: list[StageCard] = []
    starts = [stage.span.line for stage in pipeline.stages]
    source = pipeline.source
    first = next((s for s in starts if s), end + 1)
    carry = None
    if isinstance(source, ir.PipelineRef):
        carry = source.span.line
    else:
        text = tidy(span_lines(lines, source.span.line, first - 1)) or source_name(source)
        cards.append(StageCard(index, "source", "source", text, source.span.line))
    for i, stage in enumerate(pipeline.stages):
        line = stage.span.line
        following = next((s for s in starts[i + 1 :] if s), end + 1)
        begin = carry if i == 0 and carry else line
        text = tidy(span_lines(lines, begin, following - 1), strip_comments=True)
        op = op_name(stage)
        card = StageCard(index + len(cards), op, op, text, line, threshold_of(stage))
        cards.append(card)
    return tuple(cards)


def source_name(source: ir.Source) -> str:
    if isinstance(source, ir.Table | ir.PipelineRef):
        return source.name
    if isinstance(source, ir.LogSource):
        return logsource_text(source)
    if isinstance(source, ir.AnySource):
        return " or ".join(dict.fromkeys(source_name(b.source) for b in source.branches))
    return "datatable"


def logsource_text(source: ir.LogSource) -> str:
    parts = [("product", source.product), ("category", source.category)]
    parts.append(("service", source.service))
    return ", ".join(f"{key} {value}" for key, value in parts if value)


def threshold_of(stage: ir.Stage) -> Threshold | None:
    """The threshold of an aggregation or correlation stage, if it has one."""
    if isinstance(stage, ir.Aggregate) and stage.having is not None:
        measures = {m.name: m for m in stage.measures}
        window = timespan_text(stage.window.size) if stage.window else None
        group = tuple(a.name for a in stage.group_by)
        return _threshold(stage.having, measures, window, group, stage.span.line)
    if isinstance(stage, ir.Correlation) and stage.condition is not None:
        measure = stage.kind.value + (f"({stage.value_field})" if stage.value_field else "")
        window = timespan_text(stage.timespan)
        having = stage.condition
        return _threshold(having, {}, window, stage.group_by, stage.span.line, measure)
    return None


def _threshold(
    having: ir.Expr,
    measures: dict[str, ir.Measure],
    window: str | None,
    group: tuple[str, ...],
    line: int | None,
    measure: str | None = None,
) -> Threshold:
    if isinstance(having, ir.Compare) and isinstance(having.right, ir.Literal):
        name = expr_text(having.left)
        if name in measures:
            name = measure_text(measures[name])
        op, value = having.op.value, value_text(having.right.value)
        return Threshold(measure or name, op, value, window, group, line)
    return Threshold(measure or "", "expr", expr_text(having), window, group, line)


def measure_text(measure: ir.Measure) -> str:
    agg = measure.agg
    if isinstance(agg, ir.ArgExtreme):
        return f"{agg.func}({expr_text(agg.by)})"
    args = ([expr_text(agg.arg)] if agg.arg is not None else []) + [expr_text(a) for a in agg.args]
    return f"{agg.func}({', '.join(args)})"


def sigma_sections(query: ir.Query, lines: list[str]) -> tuple[Section, ...]:
    """Sigma: the condition (stage 0, with the threshold), then one stage per conjunct.

    A log source listing values reads the same condition from each source: its first stands
    for all of them."""
    pipeline = query.pipeline
    if isinstance(pipeline.source, ir.AnySource):
        first = pipeline.source.branches[0]
        pipeline = ir.Pipeline(first.source, (*first.stages, *pipeline.stages), span=pipeline.span)
    filters = [s for s in pipeline.stages if isinstance(s, ir.Filter)]
    if len(filters) != 1:
        return kql_sections(query, lines)
    condition = filters[0]
    threshold = next((t for t in map(threshold_of, pipeline.stages) if t), None)
    span = condition.span
    text = condition_text(lines, span.line, span.column)
    stages = [StageCard(0, "condition", "condition", text, span.line, threshold)]
    for conjunct in ir.conjuncts(condition.predicate):
        stages.append(_conjunct_stage(conjunct, lines, len(stages), query.meta.language))
    return (Section(None, "main", tuple(stages)),)


def _conjunct_stage(conjunct: ir.Expr, lines: list[str], index: int, language: str) -> StageCard:
    excluded = is_exclusion(conjunct, language)
    blocks: dict[str, tuple[int, int]] = {}
    for line in _leaf_lines(conjunct):
        block = yaml_block(lines, line)
        if block:
            blocks.setdefault(block[0], block[1:])
    if not blocks:
        return StageCard(index, "where", expr_text(conjunct), expr_text(conjunct), None)
    names = ", ".join(blocks)
    label = f"not {names}" if excluded else names
    text = "\n".join(tidy(span_lines(lines, a, b), drop_closers=False) for a, b in blocks.values())
    first = min(a for a, _ in blocks.values())
    return StageCard(index, "exclusion" if excluded else "selection", label, text, first)


def _leaf_lines(expr: ir.Expr) -> list[int]:
    if isinstance(expr, ir.And | ir.Or):
        return [n for operand in expr.operands for n in _leaf_lines(operand)]
    if isinstance(expr, ir.Not):
        return _leaf_lines(expr.operand)
    field = getattr(expr, "field", None) or getattr(expr, "left", None)
    lines = [expr.span.line, getattr(getattr(field, "span", None), "line", None)]
    return sorted({n for n in lines if n})
