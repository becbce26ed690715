"""Sigma YAML documents with their node trees, so rule parts can be located by line and column."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from rulec.compiler import ir


@dataclass(frozen=True)
class Document:
    """One YAML document of a rule file: the plain data, its node tree and its text."""

    data: Any
    node: yaml.Node
    text: str


def node_span(path: str, node: yaml.Node | None) -> ir.Span:
    """The 1-based position where `node` starts."""
    if node is None:
        return ir.Span(path)
    return ir.Span(path, node.start_mark.line + 1, node.start_mark.column + 1)


def yaml_error_span(path: str, error: yaml.YAMLError) -> ir.Span:
    """The position a PyYAML error points at."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is None:
        return ir.Span(path, 1, 1)
    return ir.Span(path, mark.line + 1, mark.column + 1)


def documents(text: str) -> Iterator[Document]:
    """Yield the non-empty documents of `text` (raises yaml.YAMLError at the first broken one)."""
    lines = text.splitlines(keepends=True)
    loader = yaml.SafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            end = node.end_mark.line + (1 if node.end_mark.column else 0)
            body = "".join(lines[node.start_mark.line : end])
            yield Document(data, node, body)
    finally:
        loader.dispose()


def child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The value node under `key` of a mapping node, or None."""
    pair = child_pair(node, key)
    return pair[1] if pair else None


def child_pair(node: yaml.Node | None, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    """The (key node, value node) pair under `key` of a mapping node, or None."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return key_node, value_node
    return None


def find_scalar(node: yaml.Node | None, predicate: Any) -> yaml.Node | None:
    """The first scalar node (keys included) below `node` whose text satisfies `predicate`."""
    if isinstance(node, yaml.ScalarNode):
        return node if predicate(node.value) else None
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    for sub in children:
        found = find_scalar(sub, predicate)
        if found is not None:
            return found
    return None
