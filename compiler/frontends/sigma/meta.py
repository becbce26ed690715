"""A Sigma rule's header (title, id, tags, ...) and log source as IR metadata and source."""

from __future__ import annotations

from typing import Any

import yaml
from sigma.rule import SigmaLogSource

from rulec.compiler import ir
from rulec.compiler.frontends.sigma.documents import child, node_span


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _texts(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return (str(value),)


def rule_meta(data: dict[str, Any], path: str, text: str) -> ir.RuleMeta:
    """The rule's header as written (before any pipeline)."""
    logsource = data.get("logsource")
    written = logsource if isinstance(logsource, dict) else {}
    return ir.RuleMeta(
        language="sigma",
        path=path,
        id=_text(data.get("id")),
        title=_text(data.get("title")),
        description=_text(data.get("description")),
        status=_text(data.get("status")),
        level=_text(data.get("level")),
        author=_text(data.get("author")),
        tags=_texts(data.get("tags")),
        references=_texts(data.get("references")),
        falsepositives=_texts(data.get("falsepositives")),
        logsource=ir.LogSource(
            _text(written.get("product")),
            _text(written.get("category")),
            _text(written.get("service")),
        ),
        text=text,
    )


def source_of(
    logsource: SigmaLogSource, node: yaml.Node, path: str, table: object = None
) -> ir.LogSource | ir.Table:
    """The pipeline source: the table a pipeline chose (its `query_table` state, as the
    Microsoft XDR and Sentinel pipelines set it), else the log source as the pipeline left it."""
    span = node_span(path, child(node, "logsource") or node)
    if isinstance(table, str) and table:
        return ir.Table(table, span=span)
    return ir.LogSource(logsource.product, logsource.category, logsource.service, span=span)
