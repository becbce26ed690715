"""A Sigma rule's header made acceptable to pySigma, with a warning for each problem in it.

Metadata never stops a rule from converting: where pySigma would refuse a whole rule for its
header (a tag without a namespace, an `id` that is a number or not a UUID, a status or level
outside Sigma's lists, `references` written as one string, a date that is not YYYY-MM-DD, ...),
the value is corrected (one string where a list belongs becomes a list of one) or left out of
what pySigma reads, and a warning with the code `sigma.meta.KEY` points at the key (or at the
list item) in the file. The rule's own data keeps what was written: its id and name still name it
for correlations. Detection, log source and correlation are not metadata and stay strict.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml
from sigma.exceptions import SigmaError
from sigma.rule.attributes import SigmaLevel, SigmaRelated, SigmaStatus

from rulec.compiler import ir
from rulec.compiler.frontends.sigma.documents import Document, child, child_pair, node_span

KNOWN_KEYS = frozenset(
    (
        *("title", "id", "name", "related", "taxonomy", "status", "description", "license"),
        *("author", "references", "date", "modified", "logsource", "detection", "fields"),
        *("falsepositives", "level", "tags", "scope", "correlation", "filter", "generate"),
        *("timeframe", "action", "regression_tests_path", "simulation"),
    )
)
LIST_KEYS = ("references", "falsepositives", "fields", "scope")
TEXT_KEYS = ("description", "author", "license")
DATE_FORMS = (
    re.compile(r"([1-3][0-9]{3})-([01][0-9])-([0-3][0-9])"),
    re.compile(r"([1-3][0-9]{3})/([01]?[0-9])/([0-3]?[0-9])"),
)
MAX_TITLE = 256


def tolerated(
    data: dict[str, Any], doc: Document, path: str
) -> tuple[dict[str, Any], list[ir.Diagnostic]]:
    """`data` with its header corrected for pySigma, and a warning for each correction."""
    header = _Header(dict(data), doc, path)
    header.check()
    by_place = sorted(header.warnings, key=lambda w: (w.span.line or 0, w.span.column or 0))
    return header.data, by_place


class _Header:
    """One rule's header being checked: the data pySigma gets, and the warnings so far."""

    def __init__(self, data: dict[str, Any], doc: Document, path: str):
        self.data, self.doc, self.path = data, doc, path
        self.warnings: list[ir.Diagnostic] = []

    def warn(self, key: str, message: str, node: yaml.Node | None = None) -> None:
        pair = child_pair(self.doc.node, key)
        where = node or (pair[0] if pair else self.doc.node)
        span = node_span(self.path, where)
        self.warnings.append(ir.Diagnostic(f"sigma.meta.{key}", message, span, "warning"))

    def drop(self, key: str, message: str) -> None:
        self.warn(key, f"{message}; the rule converts without it")
        del self.data[key]

    def check(self) -> None:
        for key in self.data:
            if not isinstance(key, str) or key not in KNOWN_KEYS:
                message = f"'{key}' is not a key of the Sigma specification (ignored)"
                self.warn("unknown-key", message, _key_node(self.doc.node, key))
        self.title()
        self.identifier()
        self.names()
        self.related()
        self.enums()
        self.tags()
        self.dates()
        self.lists()
        self.texts()

    def title(self) -> None:
        title = self.data.get("title")
        if title is None or isinstance(title, list | dict):
            found = "no title" if title is None else f"'title' must be text, found {_kind(title)}"
            self.warn("title", f"{found}; the rule is named after its file")
            self.data["title"] = Path(self.path).stem
        elif not isinstance(title, str):
            self.warn("title", f"'title' must be text, found {_kind(title)}")
            self.data["title"] = str(title)
        elif isinstance(title, str) and len(title) > MAX_TITLE:
            self.warn("title", f"'title' is longer than {MAX_TITLE} characters")
            self.data["title"] = title[:MAX_TITLE]

    def identifier(self) -> None:
        value = self.data.get("id")
        if value is None:
            return
        if not isinstance(value, str):
            self.drop("id", f"'id' must be a UUID written as text, found {_kind(value)}")
            return
        try:
            UUID(value)
        except ValueError:
            example = "929a690e-bef0-4204-a928-ef5e620d6fcc"
            self.drop("id", f"'id' must be a UUID (e.g. {example}), found {value!r}")

    def names(self) -> None:
        for key in ("name", "taxonomy"):
            value = self.data.get(key, "-")
            if key in self.data and (not isinstance(value, str) or not value):
                self.drop(key, f"'{key}' must be non-empty text, found {_kind(value)}")

    def related(self) -> None:
        value = self.data.get("related")
        if value is None:
            return
        try:
            if not isinstance(value, list):
                raise TypeError
            SigmaRelated.from_dict(value)
        except (SigmaError, TypeError, AttributeError, ValueError):
            self.drop("related", "'related' must be a list of mappings with an id and a type")

    def enums(self) -> None:
        for key, enum in (("status", SigmaStatus), ("level", SigmaLevel)):
            value = self.data.get(key)
            if value is None:
                continue
            if not isinstance(value, str) or value.upper() not in enum.__members__:
                known = ", ".join(m.lower() for m in enum.__members__)
                self.drop(key, f"'{key}' must be one of {known}, found {_kind(value)}")

    def tags(self) -> None:
        tags = self.data.get("tags")
        if tags is None:
            return
        node = child(self.doc.node, "tags")
        if isinstance(tags, str):
            self.warn("tags", "'tags' must be a list; read as a list of one tag")
            tags, node = [tags], None
        elif not isinstance(tags, list):
            self.drop("tags", f"'tags' must be a list of texts, found {_kind(tags)}")
            return
        items = node.value if isinstance(node, yaml.SequenceNode) else [None] * len(tags)
        kept = []
        for tag, item in zip(tags, items, strict=False):
            if isinstance(tag, str) and "." in tag:
                kept.append(tag)
            elif isinstance(tag, str):
                message = f"the tag '{tag}' has no namespace (e.g. attack.t1059, cve.2021-44228)"
                self.warn("tags", message + "; it is left out", item)
            else:
                message = f"a tag in 'tags' must be text, found {_kind(tag)}; it is left out"
                self.warn("tags", message, item)
        self.data["tags"] = kept

    def dates(self) -> None:
        for key in ("date", "modified"):
            value = self.data.get(key)
            if value is not None and not isinstance(value, date) and not _is_date(str(value)):
                self.drop(key, f"'{key}' must be a date written YYYY-MM-DD, found {_kind(value)}")

    def lists(self) -> None:
        for key in LIST_KEYS:
            value = self.data.get(key)
            if value is None:
                continue
            if isinstance(value, str):
                self.warn(key, f"'{key}' must be a list; read as a list of one text")
                self.data[key] = [value]
            elif not isinstance(value, list):
                self.drop(key, f"'{key}' must be a list of texts, found {_kind(value)}")
            elif any(isinstance(v, list | dict) for v in value):
                wrong = next(v for v in value if isinstance(v, list | dict))
                self.warn(key, f"'{key}' must be a list of texts, found {_kind(wrong)} in it")
                self.data[key] = [v for v in value if not isinstance(v, list | dict)]

    def texts(self) -> None:
        for key in TEXT_KEYS:
            value = self.data.get(key)
            if value is None or isinstance(value, str):
                continue
            if isinstance(value, list) and all(not isinstance(v, list | dict) for v in value):
                self.warn(key, f"'{key}' must be text, found a list; its items are joined")
                self.data[key] = ", ".join(str(v) for v in value)
            elif isinstance(value, list | dict):
                self.drop(key, f"'{key}' must be text, found {_kind(value)}")
            else:
                self.warn(key, f"'{key}' must be text, found {_kind(value)}; read as text")
                self.data[key] = str(value)


def _is_date(text: str) -> bool:
    for form in DATE_FORMS:
        found = form.fullmatch(text)
        if found:
            try:
                date(int(found[1]), int(found[2]), int(found[3]))
            except ValueError:
                return False
            return True
    return False


def _key_node(node: yaml.Node, key: object) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(key):
                return key_node
    return None


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return repr(value[:60])
    return f"{type(value).__name__} {value!r}"[:80]
