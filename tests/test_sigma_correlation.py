"""Which rules of a correlation file are output: Sigma's `generate` flag."""

from __future__ import annotations

import pytest

from rulec.compiler import ir
from rulec.compiler.frontends.sigma import load_sigma

BASE = """
title: Failed logon
id: 0e95725d-7320-415d-80f7-004da920fc11
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4625}, condition: sel}
---
title: Unrelated
logsource: {product: windows, service: security}
detection: {sel: {EventID: 1102}, condition: sel}
---
title: Many failed logons
correlation:
  type: event_count
  rules: 0e95725d-7320-415d-80f7-004da920fc11
  timespan: 5m
  condition: {gte: 3}
"""


# (generate line, titles output in file order)
CASES = [
    ("", ["Unrelated", "Many failed logons"]),
    ("  generate: false\n", ["Unrelated", "Many failed logons"]),
    ("  generate: true\n", ["Failed logon", "Unrelated", "Many failed logons"]),
]


@pytest.mark.parametrize(("generate", "titles"), CASES)
def test_rules_used_by_a_correlation_are_output_only_when_generated(generate, titles) -> None:
    results = load_sigma(BASE + generate, "c.yml")
    assert all(isinstance(r, ir.Query) for r in results), results
    assert [r.meta.title for r in results] == titles


def test_a_used_rule_that_fails_keeps_its_diagnostic() -> None:
    text = BASE.replace("{EventID: 4625}", "{EventID|nosuch: 4625}")
    results = load_sigma(text, "c.yml")
    assert [r.code for r in results if isinstance(r, ir.Diagnostic)] == [
        "sigma.unknown-modifier",
        "sigma.unknown-rule",
    ]
