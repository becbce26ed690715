"""`rulec verify`: every target's engine against the reference, as text, JSON and JUnit XML.

Oracles: the golden cases (the bundled rules' expected rows) for agreement; for disagreement, an
engine made wrong on purpose (it drops the last row), whose fault the report must show; for the
comparison itself, rows written out by hand with the answer they must give.
"""

from __future__ import annotations

import json
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from conftest import REPO
from rulec.compiler.cli import main
from rulec.compiler.run import engine_choice
from rulec.compiler.run.engines_spl import SplEngine
from rulec.compiler.run.equivalence import Inputs, differences
from rulec.compiler.run.events import EventTable

pytest.importorskip("eql", reason="the eql engine runs on Elastic's eql package")

CASE = REPO / "golden" / "win_wmi_activity_nteventlogfile_cleareventlog"
RULE = REPO / "rules" / "sigma" / "win_wmi_activity_nteventlogfile_cleareventlog.yml"
SEED = REPO / "rules" / "sigma" / "win_winrm_listening_service_reconnaissance.yml"
SEED_EVENTS = REPO / "golden" / "win_winrm_listening_service_reconnaissance" / "events.ndjson"
TARGETS = ("-t", "eql", "-t", "kql", "-t", "spl")


def verify(*args: object):
    return CliRunner().invoke(main, ["verify", *map(str, args)], catch_exceptions=False)


def lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_every_target_agrees_on_a_rule_and_its_events():
    result = verify(RULE, "--events", CASE / "events.ndjson", *TARGETS, "--format", "json")
    assert result.exit_code == 0, result.output
    found = {(f["target"], f["status"]) for f in lines(result.stdout)}
    assert found == {("eql", "agree"), ("kql", "agree"), ("spl", "agree")}


def test_a_target_that_cannot_express_the_rule_says_why_and_does_not_fail():
    result = verify(SEED, "--events", SEED_EVENTS, *TARGETS, "--format", "json")
    assert result.exit_code == 0, result.output
    by_target = {f["target"]: f for f in lines(result.stdout)}
    assert by_target["spl"]["status"] == "agree" and by_target["spl"]["detail"] == "2 rows"
    assert by_target["eql"]["status"] == "cannot-express"
    assert "Aggregate" in by_target["eql"]["detail"]


class DropsLastRow(SplEngine):
    """An spl engine with a fault: it loses the last row it finds."""

    def run_query(self, *args):
        return super().run_query(*args)[:-1]


@pytest.fixture
def faulty_spl(monkeypatch):
    made = engine_choice.make_engine

    def make(name, spark_master=None):
        return DropsLastRow() if name == "spl" else made(name, spark_master)

    monkeypatch.setattr(engine_choice, "make_engine", make)


def test_a_disagreement_fails_and_shows_the_rows_that_differ(faulty_spl):
    result = verify(SEED, "--events", SEED_EVENTS, *TARGETS, "--format", "json")
    assert result.exit_code == 1
    (spl,) = [f for f in lines(result.stdout) if f["target"] == "spl"]
    assert spl["status"] == "disagree" and not spl["ok"]
    assert spl["detail"] == "2 rows on the reference, 1 on spl"
    assert spl["reference_only"] == [
        {"window_start": "2026-03-02T11:05:00Z", "window_end": "2026-03-02T11:20:00Z", "value": 31}
    ]
    assert spl["target_only"] == [] and "streamstats" in spl["query"]
    text = verify(SEED, "--events", SEED_EVENTS, *TARGETS).stdout
    assert "DISAGREE       spl" in text and "only on the reference:" in text


def test_junit_has_a_test_case_per_rule_and_target(faulty_spl):
    rules = (SEED, RULE)
    events = ("--events", SEED_EVENTS, "--events", CASE / "events.ndjson")
    result = verify(*rules, *events, *TARGETS, "--format", "junit")
    assert result.exit_code == 1
    root = ElementTree.fromstring(result.stdout)
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"rulec verify eql", "rulec verify kql", "rulec verify spl"}
    assert root.get("tests") == "6" and root.get("failures") == "2"  # spl, both rules
    spl = suites["rulec verify spl"]
    failed = [c for c in spl.iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == [str(SEED), str(RULE)]
    assert "only on the reference:" in failed[0].find("failure").text
    eql_seed = next(
        c for c in suites["rulec verify eql"].iter("testcase") if c.get("name") == str(SEED)
    )
    assert eql_seed.find("skipped").get("message").startswith("cannot-express:")


def test_golden_cases_are_checked_on_every_target():
    result = CliRunner().invoke(
        main, ["verify", str(REPO / "golden"), *TARGETS, "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    found = lines(result.stdout)
    golden = [f for f in found if f["target"] == "golden"]
    assert golden and all(f["status"] == "agree" for f in golden)
    for target in ("eql", "kql", "spl"):
        statuses = [f["status"] for f in found if f["target"] == target]
        assert len(statuses) == len(golden) and statuses.count("agree") >= len(golden) - 7


def test_an_unknown_target_is_bad_usage():
    assert verify(RULE, "--events", CASE / "events.ndjson", "-t", "nosuch").exit_code == 2


NO_EVENTS = Inputs(EventTable(("_row",), ()), {})


@pytest.mark.parametrize(
    ("reference", "target", "only_reference", "only_target"),
    [
        pytest.param([{"_row": 1}, {"_row": 2}], [{"_row": 2}, {"_row": 3}], [0], [1], id="rows"),
        pytest.param([{"n": 31}], [{"n": 31.0}], [], [], id="numbers-as-numbers"),
        pytest.param(
            [{"t": "2026-03-02T09:50:00Z"}], [{"t": 1772445000.0}], [], [], id="time-as-epoch"
        ),
        pytest.param([{"n": "31"}], [{"n": 31}], [0], [0], id="text-is-not-a-number"),
        pytest.param([{"g": "a"}, {"g": "a"}], [{"g": "a"}], [0, 1], [], id="multisets"),
    ],
)
def test_differences(reference, target, only_reference, only_target):
    left, right = differences(reference, target, NO_EVENTS)
    assert left == [reference[i] for i in only_reference]
    assert right == [target[i] for i in only_target]


def test_sequence_events_must_fall_inside_the_alert_windows():
    alerts = [{"window_start": "2026-01-01T00:00:00Z", "window_end": "2026-01-01T00:05:00Z"}]
    inside = {"_row": 1, "TimeCreated": "2026-01-01T00:04:00Z"}
    outside = {"_row": 2, "TimeCreated": "2026-01-01T00:06:00Z"}
    assert differences(alerts, [inside], NO_EVENTS) == ([], [])
    assert differences(alerts, [inside, outside], NO_EVENTS) == ([], [outside])
    assert differences(alerts, [], NO_EVENTS) == (alerts, [])
