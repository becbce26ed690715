"""Condition forms legacy Sigma tooling accepted and pySigma rejects: each converts, with a warning.

Oracle: legacy sigmac's condition tokenizer (SigmaHQ's legacy sigmatools,
`tools/sigma/parser/condition.py`), which read `and`, `or`, `not`, `1 of`, `all of` and the
aggregation words (`count`, `min`, `max`, `avg`, `sum`, `by`, `near`) case-insensitively and
wrote the aggregation comparison `==`. Each form must mean what its lower-case Sigma form means:
the same IR as that form, which pySigma itself reads.
"""

from __future__ import annotations

import pytest

from rulec.compiler import ir
from rulec.compiler.frontends.sigma.load import load_sigma

RULE = """\
title: t
logsource: {product: windows, category: process_creation}
detection:
  sel1: {Image|endswith: '\\\\a.exe'}
  sel2: {Image|endswith: '\\\\b.exe'}
  filter_x: {User: SYSTEM}
  condition: CONDITION
"""
COLUMN = len("  condition: ") + 1

# as legacy rules wrote it | as Sigma writes it | offset of the first keyword not in lower case
FORMS = [
    ("sel1 AND sel2", "sel1 and sel2", 5),
    ("sel1 OR sel2", "sel1 or sel2", 5),
    ("sel1 and NOT sel2", "sel1 and not sel2", 9),
    ("1 OF sel*", "1 of sel*", 2),
    ("ALL OF sel*", "all of sel*", 0),
    ("sel1 And Not filter_x", "sel1 and not filter_x", 5),
    ("(sel1 Or sel2) AND NOT 1 OF filter_*", "(sel1 or sel2) and not 1 of filter_*", 6),
    ("1 of sel* AND all of THEM", "1 of sel* and all of them", 10),
]


def load(condition: str) -> list[ir.Query | ir.Diagnostic]:
    return load_sigma(RULE.replace("CONDITION", condition), "legacy.yml")


@pytest.mark.parametrize(("legacy", "sigma", "offset"), FORMS)
def test_keywords_in_any_case_mean_what_lower_case_keywords_mean(legacy, sigma, offset):
    warning, query = load(legacy)
    [expected] = load(sigma)
    assert isinstance(query, ir.Query) and isinstance(expected, ir.Query), query
    assert query.pipeline == expected.pipeline
    assert (warning.severity, warning.code) == ("warning", "sigma.keyword-case")
    assert (warning.span.line, warning.span.column) == (7, COLUMN + offset)


def test_a_detection_named_like_a_keyword_stays_a_detection():
    text = RULE.replace("filter_x:", "ALL:").replace("CONDITION", "ALL or sel1")
    [query] = load_sigma(text, "legacy.yml")
    assert isinstance(query, ir.Query), query


@pytest.mark.parametrize(
    ("legacy", "sigma"),
    [
        ("sel1 | COUNT() BY User > 5", "sel1 | count() by User > 5"),
        ("sel1 | count(User) == 2", "sel1 | count(User) = 2"),
        ("sel1 | MAX(Size) by User > 5", "sel1 | max(Size) by User > 5"),
    ],
)
def test_legacy_aggregation_words_in_any_case(legacy, sigma):
    text = RULE.replace("CONDITION", legacy) + "  timeframe: 5m\n"
    [query] = load_sigma(text, "legacy.yml")
    [expected] = load_sigma(RULE.replace("CONDITION", sigma) + "  timeframe: 5m\n", "x.yml")
    assert isinstance(query, ir.Query), query
    assert query.pipeline == expected.pipeline
