"""A log source listing several values (`ir.AnySource`), as every target reads it.

An event of any of the sources counts once: the branches that read one table become one scan of
it with the OR of their filters; branches reading other tables are added with a `Union` (an event
is in one table only, so it is still counted once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from rulec.compiler import ir


def one_scan(query: ir.Query, table_for: Callable[[ir.Source], str]) -> ir.Query:
    """`query` with every `AnySource` (the rule's own and its let-bound rules') resolved."""
    lets = query.lets
    if any(_is_any(let.value) for let in lets):
        lets = tuple(
            replace(let, value=_resolved(let.value, table_for)) if _is_any(let.value) else let
            for let in lets
        )
    pipeline = query.pipeline
    if _is_any(pipeline):
        pipeline = _resolved(pipeline, table_for)
    if pipeline is query.pipeline and lets is query.lets:
        return query
    return replace(query, pipeline=pipeline, lets=lets)


def _is_any(value: object) -> bool:
    return isinstance(value, ir.Pipeline) and isinstance(value.source, ir.AnySource)


def _resolved(pipeline: ir.Pipeline, table_for: Callable[[ir.Source], str]) -> ir.Pipeline:
    assert isinstance(pipeline.source, ir.AnySource)
    tables: dict[str, list[ir.Pipeline]] = {}
    for branch in pipeline.source.branches:
        tables.setdefault(table_for(branch.source), []).append(branch)
    first, *others = (_scan(branches) for branches in tables.values())
    union = (ir.Union(tuple(others), span=pipeline.source.span),) if others else ()
    return replace(pipeline, source=first.source, stages=(*first.stages, *union, *pipeline.stages))


def _scan(branches: list[ir.Pipeline]) -> ir.Pipeline:
    """Branches reading one table: its rows that pass any branch's filters."""
    predicates = tuple(dict.fromkeys(_predicate(branch) for branch in branches))
    if len(predicates) == 1:
        return ir.Pipeline(branches[0].source, (ir.Filter(predicates[0]),), span=branches[0].span)
    either = ir.Or(predicates, span=branches[0].span)
    return ir.Pipeline(branches[0].source, (ir.Filter(either, span=either.span),), span=either.span)


def _predicate(branch: ir.Pipeline) -> ir.Expr:
    filters = tuple(stage.predicate for stage in branch.stages if isinstance(stage, ir.Filter))
    assert len(filters) == len(branch.stages), "a branch is a source and its filters"
    return filters[0] if len(filters) == 1 else ir.And(filters, span=branch.span)
