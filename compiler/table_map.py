"""Which table the SQL targets read for a Sigma rule's log source (`--table-name`, `--table-map`).

Without either, every rule reads `events`. `--table-name NAME` names the table for every log
source; `--table-map FILE` maps log sources to tables, the first entry whose keys all agree with
the rule's log source winning, and `default` (else `--table-name`, else `events`) for the rest:

    default: events
    tables:
      - {product: windows, category: process_creation, table: win_process}
      - {product: windows, service: security, table: win_security}

A dotted name (`catalog.schema.table`) names a table in a schema; each part is quoted.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from rulec.backends.base import DEFAULT_TABLE, TableMap
from rulec.compiler import ir

KEYS = ("product", "category", "service")


def table_map(name: str | None, path: Path | None) -> TableMap:
    """The map `--table-name` and `--table-map` describe; a bad file raises `ir.RuleError`."""
    if path is None:
        return TableMap(default=name or DEFAULT_TABLE)
    root = _compose(path)
    default = _scalar(path, _child(root, "default"), "default") or name or DEFAULT_TABLE
    entries = _child(root, "tables")
    if entries is None:
        return TableMap(default=default)
    if not isinstance(entries, yaml.SequenceNode):
        raise _error(
            path, entries, "'tables' must be a list of {product, category, service, table}"
        )
    return TableMap(tuple(_entry(path, node) for node in entries.value), default)


def _compose(path: Path) -> yaml.MappingNode:
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError) as error:
        diagnostic = ir.Diagnostic("tables.unreadable", str(error), ir.Span(str(path)))
        raise ir.RuleError(diagnostic) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        span = ir.Span(str(path), mark.line + 1, mark.column + 1) if mark else ir.Span(str(path))
        raise ir.RuleError(ir.Diagnostic("tables.yaml", f"broken YAML: {error}", span)) from None
    if not isinstance(root, yaml.MappingNode):
        raise _error(path, root, "expected a mapping with 'tables' (and optionally 'default')")
    return root


def _entry(path: Path, node: yaml.Node) -> tuple[ir.LogSource, str]:
    if not isinstance(node, yaml.MappingNode):
        raise _error(
            path, node, "each entry must be a mapping: {product, category, service, table}"
        )
    for key, _ in node.value:
        if key.value not in (*KEYS, "table"):
            raise _error(path, key, f"unknown key '{key.value}': expected {', '.join(KEYS)}, table")
    table = _scalar(path, _child(node, "table"), "table")
    if not table:
        raise _error(path, node, "the entry names no table")
    keys = {key: _scalar(path, _child(node, key), key) for key in KEYS}
    return ir.LogSource(**keys), table


def _child(node: yaml.MappingNode, key: str) -> yaml.Node | None:
    for key_node, value in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value
    return None


def _scalar(path: Path, node: yaml.Node | None, key: str) -> str | None:
    if node is None:
        return None
    if not isinstance(node, yaml.ScalarNode) or not node.value:
        raise _error(path, node, f"'{key}' must be a non-empty text")
    return node.value


def _error(path: Path, node: yaml.Node | None, message: str) -> ir.RuleError:
    span = ir.Span(str(path))
    if node is not None:
        span = ir.Span(str(path), node.start_mark.line + 1, node.start_mark.column + 1)
    return ir.RuleError(ir.Diagnostic("tables.shape", message, span))
