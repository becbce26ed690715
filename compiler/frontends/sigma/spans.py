"""Source positions of a parsed Sigma rule's detections, detection items and values.

pySigma keeps no line numbers, so the parsed objects are aligned with the YAML node tree once,
before any pipeline runs, and each is marked with the number of its span in the rule's
`SpanIndex`: an attribute of the object itself (a small int, cheap to pickle), which the copies
each pipeline gets keep, as do objects a pipeline changes in place. A value a pipeline replaces
has no mark and falls back to its detection item's span.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import yaml
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule

from rulec.compiler import ir
from rulec.compiler.frontends.sigma.documents import child, child_pair, node_span

SPAN = "_rulec_span"  # the attribute holding a marked object's number in `SpanIndex.spans`


@dataclass(frozen=True)
class SpanIndex:
    """The spans of a rule, of its condition lines, and of its marked parts."""

    path: str
    rule_span: ir.Span
    conditions: tuple[ir.Span, ...] = ()
    spans: list[ir.Span] = field(default_factory=list)

    def of(self, obj: object, default: ir.Span | None = None) -> ir.Span:
        number = getattr(obj, SPAN, None)
        return self.spans[number] if number is not None else default or self.rule_span

    def condition(self, index: int) -> ir.Span:
        if index < len(self.conditions):
            return self.conditions[index]
        return self.conditions[-1] if self.conditions else self.rule_span

    def mark(self, obj: object, span: ir.Span) -> None:
        with contextlib.suppress(TypeError):  # an object without a __dict__ stays unmarked
            vars(obj)[SPAN] = len(self.spans)
            self.spans.append(span)


def index_rule(rule: SigmaRule, node: yaml.Node, path: str) -> SpanIndex:
    """Mark `rule.detection`'s parts with the spans of the `detection:` node of its document."""
    detection_node = child(node, "detection")
    condition_node = child(detection_node, "condition")
    conditions: tuple[ir.Span, ...] = ()
    if isinstance(condition_node, yaml.SequenceNode):
        conditions = tuple(node_span(path, item) for item in condition_node.value)
    elif condition_node is not None:
        conditions = (node_span(path, condition_node),)
    index = SpanIndex(path, node_span(path, node), conditions)
    for name, detection in rule.detection.detections.items():
        pair = child_pair(detection_node, name)
        if pair is not None:
            index.mark(detection, node_span(path, pair[0]))
            _align_detection(index, detection, pair[1])
    return index


def _align_detection(index: SpanIndex, detection: SigmaDetection, node: yaml.Node) -> None:
    items = detection.detection_items
    if isinstance(node, yaml.MappingNode) and len(items) == len(node.value):
        for item, (key_node, value_node) in zip(items, node.value, strict=True):
            if isinstance(item, SigmaDetectionItem):
                index.mark(item, node_span(index.path, key_node))
                _align_values(index, item, value_node)
    elif isinstance(node, yaml.SequenceNode) and len(items) == len(node.value):
        for item, sub in zip(items, node.value, strict=True):
            index.mark(item, node_span(index.path, sub))
            if isinstance(item, SigmaDetection):
                _align_detection(index, item, sub)
            else:
                _align_values(index, item, sub)
    elif len(items) == 1 and isinstance(items[0], SigmaDetectionItem):
        index.mark(items[0], node_span(index.path, node))
        _align_values(index, items[0], node)


def _align_values(index: SpanIndex, item: SigmaDetectionItem, node: yaml.Node) -> None:
    if isinstance(node, yaml.SequenceNode) and len(node.value) == len(item.value):
        for value, sub in zip(item.value, node.value, strict=True):
            index.mark(value, node_span(index.path, sub))
    else:
        for value in item.value:
            index.mark(value, node_span(index.path, node))
