"""SigmaHQ's regression cases (../shared/regression): each rule must find its events.

Oracle: SigmaHQ's own regression data, which names the rule and events that it must match.
Both forms of the events are run: nested Windows event JSON and SigmaHQ's flattened NDJSON.
`match_count` there is at most the number of matches: three cases hold further events that the
rule also matches by its own text (for example both `\\AutoShareWks` and `\\AutoShareServer`).
"""

from __future__ import annotations

import json

import pytest

from conftest import SHARED
from rulec.compiler import ir
from rulec.compiler.rules import load_rules
from rulec.compiler.run.events import load_events
from rulec.compiler.run.executor import execute


def cases():
    path = SHARED / "regression" / "cases.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


CASES = cases()


def test_all_regression_cases_present(shared):
    assert len(CASES) == 98


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"][:8])
@pytest.mark.parametrize("form", ["flat_path", "events_path"])
def test_rule_finds_its_events(case, form, shared):
    loaded = load_rules(shared / case["rule"])
    assert len(loaded) == 1
    query = loaded[0]
    assert not isinstance(query, ir.Diagnostic), query
    rows = execute(query, load_events([str(shared / case[form])]))
    assert rows, "the rule matched none of its events"
    assert len(rows) <= case["events"]
    if case["match_count"] is not None:
        assert len(rows) >= case["match_count"]
