"""One line per IR stage and source, as a change report shows them (`summarize count() by x`)."""

from __future__ import annotations

from collections.abc import Callable

from rulec.compiler import ir
from rulec.compiler.cards.indicators import expr_text, timespan_text
from rulec.compiler.cards.stages import measure_text, op_name, source_name

LIMIT = 240


def _assigns(items: tuple[ir.Assign, ...]) -> str:
    return ", ".join(
        a.name
        if isinstance(a.expr, ir.FieldRef) and a.expr.name == a.name
        else f"{a.name} = {expr_text(a.expr)}"
        for a in items
    )


def _aggregate(stage: ir.Aggregate) -> str:
    text = ", ".join(f"{m.name} = {measure_text(m)}" for m in stage.measures)
    if stage.group_by:
        text += f" by {_assigns(stage.group_by)}"
    if stage.window:
        text += f" within {timespan_text(stage.window.size)}"
    if stage.having is not None:
        text += f" having {expr_text(stage.having)}"
    return text


def _correlation(stage: ir.Correlation) -> str:
    text = f"{stage.kind.value} of {', '.join(stage.rules)} within {timespan_text(stage.timespan)}"
    if stage.group_by:
        text += f" by {', '.join(stage.group_by)}"
    if stage.condition is not None:
        text += f" having {expr_text(stage.condition)}"
    return text


def _join(stage: ir.Join) -> str:
    keys = ", ".join(left if left == right else f"{left} = {right}" for left, right in stage.keys)
    right = source_name(stage.right.source)
    return f"kind={stage.kind.value} {right} ({len(stage.right.stages)} stages) on {keys}"


DETAILS: dict[type, Callable] = {
    ir.Filter: lambda s: expr_text(s.predicate),
    ir.Extend: lambda s: _assigns(s.assignments),
    ir.Project: lambda s: _assigns(s.columns),
    ir.ProjectAway: lambda s: ", ".join(s.names),
    ir.Rename: lambda s: ", ".join(f"{new} = {old}" for new, old in s.pairs),
    ir.Aggregate: _aggregate,
    ir.Join: _join,
    ir.Union: lambda s: ", ".join(source_name(p.source) for p in s.pipelines),
    ir.Invoke: lambda s: f"{s.function}({', '.join(expr_text(a) for a in s.args)})",
    ir.Sort: lambda s: ", ".join(
        expr_text(k.expr) + (" desc" if k.descending else " asc") for k in s.keys
    ),
    ir.Limit: lambda s: str(s.count),
    ir.Distinct: lambda s: ", ".join(s.columns) or "*",
    ir.MvExpand: lambda s: _assigns(s.columns),
    ir.Correlation: _correlation,
}


def stage_text(stage: ir.Stage) -> str:
    """`where (Field eq (a))`: the stage's operator and what it does, cut at LIMIT characters."""
    detail = DETAILS.get(type(stage))
    text = op_name(stage) + (f" {detail(stage)}" if detail else "")
    return text if len(text) <= LIMIT else text[: LIMIT - 3] + "..."
