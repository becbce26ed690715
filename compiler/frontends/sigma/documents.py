"""Sigma YAML documents with their node trees, so rule parts can be located by line and column.

Documents are read with PyYAML's safe loader on libyaml (its pure-Python twin where libyaml is
missing), guarded against hostile input: aliases that would expand a document beyond
`MAX_EXPANDED_NODES` nodes (an alias bomb), recursive aliases, nesting too deep to compose
(libyaml stops at 1,000 levels) all become located YAML errors. A timestamp that is no valid date
stays text, for the rule's header check to report.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.error import MarkedYAMLError

from rulec.compiler import ir

MAX_EXPANDED_NODES = 1_000_000


@dataclass(frozen=True)
class Document:
    """One YAML document of a rule file: the plain data, its node tree and its text."""

    data: Any
    node: yaml.Node
    text: str


class _SafeLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """The safe loader; a timestamp that is no date or time (`2023-02-30`) stays text."""

    def construct_yaml_timestamp(self, node: yaml.Node) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            return node.value


_SafeLoader.add_constructor("tag:yaml.org,2002:timestamp", _SafeLoader.construct_yaml_timestamp)


@functools.lru_cache(maxsize=4096)
def node_span(path: str, node: yaml.Node | None) -> ir.Span:
    """The 1-based position where `node` starts (cached: a file lowered through several
    pipelines asks for the same nodes' spans once per pipeline)."""
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
    anchored = "&" in text  # without an anchor there is no alias, so nothing to expand
    loader = _SafeLoader(text)
    try:
        while _check_node(loader):
            node = _get_node(loader)
            if node is None:
                continue
            if anchored:
                check_expansion(node)
            data = loader.construct_document(node)
            end = node.end_mark.line + (1 if node.end_mark.column else 0)
            body = "".join(lines[node.start_mark.line : end])
            yield Document(data, node, body)
    finally:
        loader.dispose()


def _check_node(loader: _SafeLoader) -> bool:
    try:
        return loader.check_node()
    except RecursionError:
        raise _too_deep(loader) from None


def _get_node(loader: _SafeLoader) -> yaml.Node | None:
    try:
        return loader.get_node()
    except RecursionError:
        raise _too_deep(loader) from None


def _too_deep(loader: _SafeLoader) -> MarkedYAMLError:
    problem = "the document is nested too deeply (a Sigma rule needs a few levels)"
    return MarkedYAMLError(problem=problem, problem_mark=loader.get_mark())


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


def check_expansion(root: yaml.Node) -> None:
    """Raise a YAML error if aliases make `root` recursive or larger than MAX_EXPANDED_NODES.

    Node sizes count every node as often as aliases repeat it; computed without recursion.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            active.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in _children(node))
            if sizes[id(node)] > max(MAX_EXPANDED_NODES, len(sizes)):
                raise _expansion_error(
                    node, f"aliases expand it beyond {MAX_EXPANDED_NODES:,} values (an alias bomb?)"
                )
            continue
        if id(node) in sizes:
            continue
        if id(node) in active:
            raise _expansion_error(node, "an alias refers to a node that contains it")
        active.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _expansion_error(node: yaml.Node, problem: str) -> MarkedYAMLError:
    return MarkedYAMLError(
        problem=f"this node cannot be used: {problem}", problem_mark=node.start_mark
    )
