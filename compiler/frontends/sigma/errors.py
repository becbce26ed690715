"""pySigma exceptions as located diagnostics: a stable code and the line the error is about."""

from __future__ import annotations

import re

import yaml
from sigma.exceptions import SigmaConditionError, SigmaError

from rulec.compiler import ir
from rulec.compiler.frontends.sigma.documents import Document, child, find_scalar, node_span

_UNKNOWN_MODIFIER = re.compile(r"Unknown modifier '([^']*)'")
_QUOTED = re.compile(r"'([^']+)'")
_POSITION = re.compile(r"\s*\(at char \d+\)(, \(line:\d+, col:\d+\))?")
# The Kusto pipelines' invalid-field transformation prepends each field it rejects to a message it
# keeps, so its later errors also name the fields of rules processed before; the first is this one.
_EARLIER_FIELDS = re.compile(
    r"(Invalid SigmaDetectionItem field name encountered: .*?\. )"
    r"(?:Invalid SigmaDetectionItem field name encountered: .*?\. )+"
)


def pysigma_message(error: Exception) -> str:
    """The message of a pySigma exception, about this rule alone."""
    message = str(error.args[0]) if error.args else type(error).__name__
    return _EARLIER_FIELDS.sub(r"\1", message, count=1)


def sigma_error_diagnostic(error: SigmaError, doc: Document, path: str) -> ir.Diagnostic:
    """The diagnostic for a pySigma error raised while parsing or processing `doc`."""
    message = pysigma_message(error)
    modifier = _UNKNOWN_MODIFIER.search(message)
    if modifier:
        key = find_scalar(doc.node, lambda s: modifier[1] in s.split("|")[1:])
        return ir.Diagnostic(
            "sigma.unknown-modifier",
            f"unknown modifier '{modifier[1]}' (expected one of pySigma's modifiers, "
            "e.g. contains, startswith, endswith, all, re, cidr, base64offset, windash)",
            node_span(path, key or doc.node),
        )
    if isinstance(error, SigmaConditionError) and "(at char " in message:
        # the position counts in the condition as a pipeline may have rewritten it: left out
        problem = _POSITION.sub("", message).strip()
        message = (
            f"the condition{_written_condition(doc)} is not Sigma condition syntax ({problem}); "
            "expected detection names joined by and/or/not, brackets, and '1 of'/'all of' "
            "selectors"
        )
    return ir.Diagnostic(_code(error), message, node_span(path, _locate(error, message, doc)))


def _written_condition(doc: Document) -> str:
    """` 'sel and ( or'`: the condition as the rule writes it, when it is one text."""
    node = child(child(doc.node, "detection"), "condition")
    if isinstance(node, yaml.ScalarNode) and len(node.value) <= 200:
        return f" '{node.value}'"
    return ""


def _code(error: SigmaError) -> str:
    name = type(error).__name__.removeprefix("Sigma").removesuffix("Error") or "invalid"
    return "sigma." + re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _locate(error: SigmaError, message: str, doc: Document) -> yaml.Node:
    """The node an error is about: a quoted name from the message, the condition, or the rule."""
    detection = child(doc.node, "detection")
    if isinstance(error, SigmaConditionError):
        return child(detection, "condition") or detection or doc.node
    for quoted in _QUOTED.findall(message):
        found = find_scalar(doc.node, lambda s, q=quoted: s == q or s.startswith(q + "|"))
        if found is not None:
            return found
    named = _named_field(doc, _code(error).removeprefix("sigma."))
    if named is not None:
        return named
    if "log source" in message.lower():
        return child(doc.node, "logsource") or doc.node
    if "condition" in message.lower() or "detection" in message.lower():
        return child(detection, "condition") or detection or doc.node
    return doc.node


def _named_field(doc: Document, topic: str) -> yaml.Node | None:
    """The header field a pySigma error class is named after (SigmaTagError: `tags`)."""
    key = {"identifier": "id", "false-positives": "falsepositives"}.get(topic, topic)
    return child(doc.node, key) or child(doc.node, key + "s")


def unexpected_diagnostic(error: Exception, doc: Document, path: str, doing: str) -> ir.Diagnostic:
    """An error pySigma raised without validating first (`doing`: "parse" or "process")."""
    if isinstance(error, RecursionError):
        message = (
            f"pySigma cannot {doing} this rule: it is nested too deeply (a condition with "
            "thousands of levels of brackets or 'not'?)"
        )
        return ir.Diagnostic("sigma.too-deep", message, node_span(path, _condition_node(doc)))
    message = (
        f"pySigma cannot {doing} this rule: it fails inside ({type(error).__name__}) on "
        "something it does not check; the rule's detection is the likely place"
    )
    return ir.Diagnostic("sigma.invalid", message, node_span(path, doc.node))


def _condition_node(doc: Document) -> yaml.Node:
    detection = child(doc.node, "detection")
    return child(detection, "condition") or detection or doc.node
