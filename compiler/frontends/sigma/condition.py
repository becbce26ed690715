"""Lowering of a Sigma rule's conditions, over its detections after pipeline processing, to IR.

A condition text is parsed into pySigma's tree of identifiers, `1 of`/`all of` selectors and
not/and/or (`sigma_condition_parser`; once per distinct text: the tree is shared, never changed),
then resolved against the processed detections with pySigma's rules (`SigmaCondition.parsed`): a
detection links its items with and (a mapping) or or (a list), an item its values with or (`|all`:
and); an item without values compares its field with null; operands that select nothing (every
item dropped by a pipeline) drop out, and a link left with one operand is that operand.
"""

from __future__ import annotations

import functools

from sigma.conditions import (
    ConditionAND,
    ConditionIdentifier,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionSelector,
    SigmaCondition,
)
from sigma.exceptions import SigmaConditionError
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaDetections
from sigma.types import SigmaNull, SigmaType

from rulec.compiler import ir
from rulec.compiler.frontends.sigma.condition_parser import parse_condition
from rulec.compiler.frontends.sigma.spans import SpanIndex
from rulec.compiler.frontends.sigma.values import match_any, unsupported
from rulec.compiler.frozen import frozen

Link = type[ir.And] | type[ir.Or] | type[ir.Not]


@frozen
class _Leaf:
    """A detection item's field (None: a keyword) compared with one of its values."""

    item: SigmaDetectionItem
    value: SigmaType


@frozen
class _Node:
    """Operands linked by and, or or not; `values`: linked by a detection or detection item,
    whose comparisons of one field merge into one list of values."""

    kind: Link
    args: tuple[_Leaf | _Node, ...]
    values: bool = False


Tree = _Leaf | _Node | None


def lower_condition(condition: SigmaCondition, index: SpanIndex, span: ir.Span) -> ir.Expr:
    """The IR expression of one of a rule's conditions; boolean nodes carry the condition's span."""
    tree = _resolve(_syntax(condition.condition), condition.detections, span)
    if tree is None:
        raise unsupported("the condition selects nothing (every detection item was dropped)", span)
    return _lower(tree, index, span)


def selects_nothing(condition: SigmaCondition, span: ir.Span) -> bool:
    """Whether a pipeline dropped every detection item the condition reads."""
    return _resolve(_syntax(condition.condition), condition.detections, span) is None


@functools.lru_cache(maxsize=4096)
def _syntax(text: str) -> ConditionItem:
    """pySigma's parse tree of a condition text, with pySigma's errors; shared, never changed."""
    tree = parse_condition(text)
    if tree is None:  # pySigma's own parser has the last word: usually an error
        tree = SigmaCondition(text, None).parse(postprocess=False)  # type: ignore[arg-type]
    assert isinstance(tree, ConditionItem)
    return tree


_LINKS: dict[type, Link] = {ConditionAND: ir.And, ConditionOR: ir.Or, ConditionNOT: ir.Not}


def _resolve(node: object, detections: SigmaDetections, span: ir.Span) -> Tree:
    kind = type(node)  # the parse tree's own classes (an isinstance check on them costs more)
    if kind is ConditionIdentifier:
        return _detection(_named(detections, node.identifier))  # type: ignore[attr-defined]
    if kind is ConditionSelector:
        names = node.resolve_referenced_detections(detections)  # type: ignore[attr-defined]
        found = [_detection(_named(detections, name.identifier)) for name in names]
        return _linked(_LINKS[node.cond_class], found)  # type: ignore[attr-defined]
    if kind not in _LINKS:
        raise unsupported(f"a condition element of type {kind.__name__}", span)
    return _linked(_LINKS[kind], [_resolve(arg, detections, span) for arg in node.args])  # type: ignore[attr-defined]


def _named(detections: SigmaDetections, name: str) -> SigmaDetection:
    try:
        return detections.detections[name]
    except KeyError:
        message = f"Detection '{name}' not defined in detections"
        raise SigmaConditionError(message + _operator_hint(detections, name)) from None


def _operator_hint(detections: SigmaDetections, name: str) -> str:
    """Why a name may be missing: a detection whose name starts with an operator (`notepad`)
    reads as that operator and the rest (`not epad`), as in pySigma."""
    for operator in ("not", "and", "or"):
        if operator + name in detections.detections:
            return (
                f" (the condition reads '{operator}{name}' as '{operator} {name}': not, and, or "
                "need no space after them, so a detection name cannot start with one)"
            )
    return ""


def _detection(detection: SigmaDetection) -> Tree:
    items = [
        _item(item) if isinstance(item, SigmaDetectionItem) else _detection(item)
        for item in detection.detection_items
    ]
    return _linked(_LINKS[detection.item_linking], items, values=True)


def _item(item: SigmaDetectionItem) -> Tree:
    if not item.value and item.field is None:
        raise SigmaConditionError("Null value must be bound to a field")
    values = item.value or [SigmaNull()]
    tree = _linked(_LINKS[item.value_linking], [_Leaf(item, v) for v in values], values=True)
    return _linked(ir.Not, [tree]) if item.negated else tree


def _linked(kind: Link, operands: list[Tree], values: bool = False) -> Tree:
    """`operands` linked by `kind`, without those that select nothing; one left is itself."""
    kept = tuple([operand for operand in operands if operand is not None])
    if not kept:
        return None
    if len(kept) == 1 and kind is not ir.Not:
        return kept[0]
    return _Node(kind, kept, values)


def _lower(tree: _Leaf | _Node, index: SpanIndex, span: ir.Span) -> ir.Expr:
    if isinstance(tree, _Leaf):
        return _leaves([tree], index)
    if tree.kind is ir.Not:
        return ir.Not(_lower(tree.args[0], index, span), span=span)
    leaves = [arg for arg in tree.args if isinstance(arg, _Leaf)]
    one_field = len(leaves) == len(tree.args) and len({leaf.item.field for leaf in leaves}) == 1
    if tree.kind is ir.Or and tree.values and one_field:
        return _leaves(leaves, index)  # one field's (or the keywords') list of values
    operands: list[ir.Expr] = []
    for arg in tree.args:
        lowered = _lower(arg, index, span)
        same = isinstance(lowered, (ir.And, ir.Or)) and type(lowered) is tree.kind
        operands.extend(lowered.operands if same else (lowered,))  # type: ignore[union-attr]
    return tree.kind(tuple(operands), span=span)  # type: ignore[call-arg]


def _leaves(leaves: list[_Leaf], index: SpanIndex) -> ir.Expr:
    first = leaves[0].item
    item_span = index.of(first)
    field = (
        ir.RawText(span=item_span)
        if first.field is None
        else ir.FieldRef(first.field, span=item_span)
    )
    return match_any(field, [leaf.value for leaf in leaves], lambda v: index.of(v, item_span))
