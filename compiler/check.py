"""`rulec check`: Sigma rules linted as SigmaHQ lints its own repository (`sigma check`).

The findings are, for every Sigma file: what the front end reports while it reads the rules (the
errors that refuse a rule, and the warnings about a header outside SigmaHQ's rule schema: a tag
without namespace, an id that is no UUID, a status outside its list, ...), then the issues of
pySigma's rule validators (SigmaHQ's conventions: an id in every rule and no id twice, tag
formats, duplicate titles or references, detections the condition never uses, ...). Each finding
is located at the key it is about where the validator names one, else at the rule. The
validators that download MITRE's ATT&CK and D3FEND data are left out: `check` reads no network.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path

import yaml
from sigma.rule import SigmaRule
from sigma.validation import SigmaValidator
from sigma.validators.base import SigmaValidationIssue

from rulec.compiler import ir
from rulec.compiler.frontends.sigma.documents import Document, child, find_scalar, node_span
from rulec.compiler.frontends.sigma.load import parse_sigma, plugins, read_sigma
from rulec.compiler.rules import LANGUAGES, discover, read_text

# the validator fields that name what an issue is about, and where that is in a rule
_ABOUT = {"tag": "tags", "reference": "references", "title": "title", "identifier": "id"}
_DETECTION = ("detection_name", "condition_name")
# validators that download their reference data (MITRE ATT&CK, D3FEND) on first use
_ONLINE = frozenset(("attacktag", "d3_fendtag"))


def check_paths(paths: Iterable[str | Path]) -> tuple[list[ir.Diagnostic], int]:
    """Every finding in the Sigma files under `paths`, in file order, and the number of files."""
    offline = [v for name, v in plugins().validators.items() if name not in _ONLINE]
    validator = SigmaValidator(offline)
    findings: list[ir.Diagnostic] = []
    where: dict[int, tuple[str, Document]] = {}
    files = [p for p in discover(paths) if LANGUAGES.get(p.suffix.lower()) == "sigma"]
    for path in files:
        try:
            text = read_text(path)
        except ir.RuleError as error:
            findings.append(error.diagnostic)
            continue
        parsed = parse_sigma(read_sigma(text, str(path)), [None])
        findings += [d for d in parsed.lower(0, None) if isinstance(d, ir.Diagnostic)]
        for rule, doc in parsed.parsed_rules():
            if isinstance(rule, SigmaRule):
                where[id(rule)] = (str(path), doc)
                for issue in validator.validate_rule(rule):
                    findings += _located(issue, where)
    for issue in validator.finalize():
        findings += _located(issue, where)
    return findings, len(files)


def _located(issue: SigmaValidationIssue, where: dict[int, tuple[str, Document]]) -> list:
    """The issue once for each rule it is about, at the key it names."""
    name = type(issue).__name__.removesuffix("Issue")
    code = "check." + re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()
    details = {
        f.name: getattr(issue, f.name)
        for f in dataclasses.fields(issue)
        if f.name != "rules" and getattr(issue, f.name) is not None
    }
    message = issue.description.rstrip(".")
    if details:
        message += ": " + ", ".join(f"{key} {value}" for key, value in details.items())
    found = []
    for rule in issue.rules:
        if id(rule) in where:
            path, doc = where[id(rule)]
            span = node_span(path, _node(doc, details))
            found.append(ir.Diagnostic(code, message, span, "warning"))
    return found


def _node(doc: Document, details: dict[str, object]) -> yaml.Node:
    for field, key in _ABOUT.items():
        if field in details:
            text = str(details[field])
            node = child(doc.node, key)
            return find_scalar(node, lambda s, t=text: s == t) or node or doc.node
    for field in _DETECTION:
        if field in details:
            detection = child(doc.node, "detection")
            named = find_scalar(detection, lambda s, t=str(details[field]): s == t)
            return named or detection or doc.node
    return doc.node
