"""Source positions of a parsed Sigma rule's detections, detection items and values.

pySigma keeps no line numbers, so the parsed objects are aligned with the YAML node tree
before any pipeline runs; the map is keyed by object identity and outlives transformations
that keep the objects (a value a pipeline replaces falls back to its detection item's span).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule

from rulec.compiler import ir
from rulec.compiler.frontends.sigma_yaml import child, child_pair, node_span


@dataclass
class SpanIndex:
    """Spans of pySigma objects by identity, plus the condition lines of the rule."""

    path: str
    rule_span: ir.Span
    # by id, with the object itself: while it lives, no new object can take its id
    by_id: dict[int, tuple[object, ir.Span]] = field(default_factory=dict)
    conditions: list[ir.Span] = field(default_factory=list)

    def add(self, obj: object, span: ir.Span) -> None:
        self.by_id[id(obj)] = (obj, span)

    def of(self, obj: object, default: ir.Span | None = None) -> ir.Span:
        entry = self.by_id.get(id(obj))
        return entry[1] if entry else default or self.rule_span

    def condition(self, index: int) -> ir.Span:
        if index < len(self.conditions):
            return self.conditions[index]
        return self.conditions[-1] if self.conditions else self.rule_span


def index_rule(rule: SigmaRule, node: yaml.Node, path: str) -> SpanIndex:
    """Align `rule.detection` with the `detection:` node of its YAML document."""
    index = SpanIndex(path, node_span(path, node))
    detection_node = child(node, "detection")
    condition_node = child(detection_node, "condition")
    if isinstance(condition_node, yaml.SequenceNode):
        index.conditions = [node_span(path, item) for item in condition_node.value]
    elif condition_node is not None:
        index.conditions = [node_span(path, condition_node)]
    for name, detection in rule.detection.detections.items():
        pair = child_pair(detection_node, name)
        if pair is not None:
            index.add(detection, node_span(path, pair[0]))
            _align_detection(index, detection, pair[1])
    return index


def _align_detection(index: SpanIndex, detection: SigmaDetection, node: yaml.Node) -> None:
    items = detection.detection_items
    if isinstance(node, yaml.MappingNode) and len(items) == len(node.value):
        for item, (key_node, value_node) in zip(items, node.value, strict=True):
            if isinstance(item, SigmaDetectionItem):
                index.add(item, node_span(index.path, key_node))
                _align_values(index, item, value_node)
    elif isinstance(node, yaml.SequenceNode) and len(items) == len(node.value):
        for item, sub in zip(items, node.value, strict=True):
            index.add(item, node_span(index.path, sub))
            if isinstance(item, SigmaDetection):
                _align_detection(index, item, sub)
            else:
                _align_values(index, item, sub)
    elif len(items) == 1 and isinstance(items[0], SigmaDetectionItem):
        index.add(items[0], node_span(index.path, node))
        _align_values(index, items[0], node)


def _align_values(index: SpanIndex, item: SigmaDetectionItem, node: yaml.Node) -> None:
    if isinstance(node, yaml.SequenceNode) and len(node.value) == len(item.value):
        for value, sub in zip(item.value, node.value, strict=True):
            index.add(value, node_span(index.path, sub))
    else:
        for value in item.value:
            index.add(value, node_span(index.path, node))
