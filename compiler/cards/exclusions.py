"""Exclusions: the top-level NOT conjuncts of a rule's filters, what the rule suppresses.

`not (a or b)` is two exclusions (`not a and not b`); `not (a and b)` is one exclusion whose
conditions hold together. In KQL a negated single equality (`!=`, `!~`) is an inequality
indicator (`ne`) rather than an exclusion; Sigma has no inequality operator, so every Sigma
negation names a filter and is an exclusion.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from rulec.compiler import ir
from rulec.compiler.cards.indicators import (
    Predicate,
    expr_text,
    filters,
    is_exclusion,
    params_of,
    predicate_of,
)


@dataclass(frozen=True)
class Exclusion:
    """Events matching all `conditions` are suppressed (in the let `pipeline`, None: main)."""

    conditions: tuple[Predicate, ...]
    pipeline: str | None = None
    line: int | None = None


def exclusions(query: ir.Query) -> tuple[Exclusion, ...]:
    """Every exclusion of the rule, in source order."""
    params = params_of(query)
    found: list[Exclusion] = []
    for pipeline, stage in filters(query):
        for conjunct in ir.conjuncts(stage.predicate):
            if is_exclusion(conjunct, query.meta.language):
                for suppressed in _disjuncts(conjunct.operand):
                    conditions = tuple(_condition(c, params) for c in ir.conjuncts(suppressed))
                    found.append(Exclusion(conditions, pipeline, _line(suppressed, conjunct)))
    return tuple(found)


def _disjuncts(expr: ir.Expr) -> Iterator[ir.Expr]:
    if isinstance(expr, ir.Or):
        for operand in expr.operands:
            yield from _disjuncts(operand)
    else:
        yield expr


def _condition(expr: ir.Expr, params: dict[str, ir.Expr]) -> Predicate:
    found = predicate_of(expr, params)
    if found:
        return found
    return Predicate(
        field="", kind="expr", values=(expr_text(expr),), case_sensitive=True, line=expr.span.line
    )


def _line(expr: ir.Expr, conjunct: ir.Expr) -> int | None:
    return expr.span.line or conjunct.span.line
