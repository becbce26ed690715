"""Lowering of pySigma's parsed condition trees (after pipeline processing) to IR expressions."""

from __future__ import annotations

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.rule import SigmaDetectionItem

from rulec.compiler import ir
from rulec.compiler.frontends.sigma_spans import SpanIndex
from rulec.compiler.frontends.sigma_values import match_any, unsupported

Leaf = ConditionFieldEqualsValueExpression | ConditionValueExpression


def lower_condition(tree: object, index: SpanIndex, span: ir.Span) -> ir.Expr:
    """The IR expression of one parsed condition; boolean nodes carry the condition's span."""
    if isinstance(tree, ConditionAND):
        return ir.And(_flatten(ir.And, tree, index, span), span=span)
    if isinstance(tree, ConditionOR):
        if _is_value_list(tree):
            return _leaves(tree.args, index)
        return ir.Or(_flatten(ir.Or, tree, index, span), span=span)
    if isinstance(tree, ConditionNOT):
        return ir.Not(lower_condition(tree.args[0], index, span), span=span)
    if isinstance(tree, (ConditionFieldEqualsValueExpression, ConditionValueExpression)):
        return _leaves([tree], index)
    if tree is None:
        raise unsupported("the condition selects nothing (every detection item was dropped)", span)
    raise unsupported(f"a condition element of type {type(tree).__name__}", span)


def _flatten(
    kind: type[ir.And] | type[ir.Or], tree: ConditionItem, index: SpanIndex, span: ir.Span
) -> tuple[ir.Expr, ...]:
    operands: list[ir.Expr] = []
    for arg in tree.args:
        lowered = lower_condition(arg, index, span)
        operands.extend(lowered.operands if isinstance(lowered, kind) else (lowered,))
    return tuple(operands)


def _is_value_list(tree: ConditionOR) -> bool:
    """An Or that pySigma made from one detection item's list of values for one field."""
    args = tree.args
    if not all(isinstance(a, Leaf) and a.parent is tree for a in args):
        return False
    return len({getattr(a, "field", None) for a in args}) == 1


def _leaves(leaves: list[Leaf], index: SpanIndex) -> ir.Expr:
    first = leaves[0]
    item_span = index.of(_detection_item(first))
    field = (
        ir.FieldRef(first.field, span=item_span)
        if isinstance(first, ConditionFieldEqualsValueExpression)
        else ir.RawText(span=item_span)
    )
    return match_any(field, [leaf.value for leaf in leaves], lambda v: index.of(v, item_span))


def _detection_item(leaf: Leaf) -> object:
    node: object = leaf.parent
    while node is not None and not isinstance(node, SigmaDetectionItem):
        node = getattr(node, "parent", None)
    return node if node is not None else leaf.parent
