"""`rulec verify --format junit`: JUnit XML, one test case per rule and target.

A CI system shows each target as a suite and each rule as a test: a disagreement is a failure
(with the rows that differ), an engine fault an error, and a rule the target cannot express or
its engine cannot run is skipped with the reason. Characters XML 1.0 cannot hold are written
as `\\uXXXX`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from xml.etree import ElementTree

from rulec.compiler.run.equivalence import Finding

NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
SKIPPED = ("cannot-express", "cannot-run")


def xml_text(text: str) -> str:
    return NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def render(findings: Sequence[Finding]) -> str:
    """The findings as a JUnit XML document, one `testsuite` per target in order of appearance."""
    root = ElementTree.Element("testsuites", name="rulec verify")
    suites: dict[str, ElementTree.Element] = {}
    for finding in findings:
        suite = suites.get(finding.target)
        if suite is None:
            suite = ElementTree.SubElement(root, "testsuite", name=f"rulec verify {finding.target}")
            suites[finding.target] = suite
        case = ElementTree.SubElement(
            suite, "testcase", classname=finding.target, name=xml_text(finding.rule)
        )
        _outcome(case, finding)
    for suite in [root, *suites.values()]:
        cases = list(suite.iter("testcase"))
        suite.set("tests", str(len(cases)))
        for kind in ("failure", "error", "skipped"):
            count = sum(1 for c in cases if c.find(kind) is not None)
            suite.set(kind + ("s" if kind != "skipped" else ""), str(count))
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, "unicode") + "\n"


def _outcome(case: ElementTree.Element, finding: Finding) -> None:
    message = xml_text(finding.detail)
    if finding.status == "disagree":
        failure = ElementTree.SubElement(case, "failure", message=message, type="disagree")
        failure.text = xml_text(_rows(finding))
    elif finding.status == "error":
        error = ElementTree.SubElement(case, "error", message=message, type="error")
        error.text = xml_text(finding.query or "")
    elif finding.status in SKIPPED:
        ElementTree.SubElement(case, "skipped", message=xml_text(f"{finding.status}: {message}"))
    if finding.query:
        ElementTree.SubElement(case, "system-out").text = xml_text(finding.query)


def _rows(finding: Finding) -> str:
    lines = [f"only on the reference: {_row(r)}" for r in finding.reference_only]
    lines += [f"only on {finding.target}: {_row(r)}" for r in finding.target_only]
    return "\n".join(lines)


def _row(row: dict[str, object]) -> str:
    return json.dumps({k: v for k, v in row.items() if v is not None}, default=str)
