"""Shape checks on a Sigma detection before pySigma sees it, for located, plain diagnostics.

pySigma validates most of a rule, but some wrong types reach Python errors inside it (a detection
key `5:`, `condition: 5`); these checks name the field, what it holds and what was expected, at
its line. (The header's problems are warnings: `header`.)
"""

from __future__ import annotations

from typing import Any

import yaml

from rulec.compiler import ir
from rulec.compiler.frontends.sigma.documents import Document, child, node_span

SCALARS = (str, int, float, bool, type(None))


def shape_error(data: dict[str, Any], doc: Document, path: str) -> ir.RuleError | None:
    """The first wrong type in the rule's detection names or condition, if any."""
    detection = data.get("detection")
    if not isinstance(detection, dict):
        return None
    for name, value in detection.items():
        if not isinstance(name, str):
            message = f"the detection name {name!r} must be text, found {_kind(name)}"
            return _error(doc, path, ["detection"], message)
        if (error := _items_error(name, value, doc, path)) is not None:
            return error
    return _condition_error(detection.get("condition"), doc, path)


def _items_error(name: str, value: object, doc: Document, path: str) -> ir.RuleError | None:
    """A field name that is not text, or a value that is neither a scalar nor a list of them."""
    maps = [value] if isinstance(value, dict) else value if isinstance(value, list) else []
    for item in (m for m in maps if isinstance(m, dict)):
        for field, values in item.items():
            if not isinstance(field, str | None):
                message = f"the field name {field!r} in '{name}' must be text, found {_kind(field)}"
                return _error(doc, path, ["detection", name], message)
            listed = values if isinstance(values, list) else [values]
            wrong = next((v for v in listed if not isinstance(v, SCALARS)), None)
            if wrong is not None:
                message = (
                    f"the value of '{field}' in '{name}' must be text, a number, a boolean, null "
                    f"or a list of them, found {_kind(wrong)}"
                )
                return _error(doc, path, ["detection", name, field], message)
    return None


def _condition_error(condition: object, doc: Document, path: str) -> ir.RuleError | None:
    listed = condition if isinstance(condition, list) else [condition]
    if condition is None or all(isinstance(c, str) for c in listed):
        return None
    wrong = next(c for c in listed if not isinstance(c, str))
    message = (
        f"the condition must be text or a list of texts, found {_kind(wrong)}; expected "
        "detection names joined by and/or/not, e.g. 'selection and not filter'"
    )
    return _error(doc, path, ["detection", "condition"], message, "sigma.condition")


def _error(
    doc: Document, path: str, keys: list[str], message: str, code: str = "sigma.type"
) -> ir.RuleError:
    node: yaml.Node | None = doc.node
    for key in keys:
        node = child(node, key) or node
    return ir.RuleError(ir.Diagnostic(code, message, node_span(path, node)))


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return f"{type(value).__name__} {value!r}"[:80]
