"""Deployable formats: the seed 000 rule as each SIEM imports it, and hostile metadata escaped."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from rulec.backends import deploy
from rulec.backends.base import Options
from rulec.compiler import ir
from rulec.compiler.rules import load_rules

SEED = (
    Path(__file__).resolve().parents[1]
    / "rules/sigma/win_winrm_listening_service_reconnaissance.yml"
)
ALLOW = Options(approximations=frozenset({"bucket", "case"}))
HOSTILE = 'a "quoted" title: with\nnewline, back\\slash\\\n[stanza] # {{ jinja }} ünï'


def seed() -> ir.Query:
    return load_rules(SEED)[0]


def render(format: str, query: ir.Query, options: Options = ALLOW) -> str:
    emitted = deploy.backend(format, options).emit(query)
    return deploy.render(format, query, emitted, options)


def test_every_format_names_the_target_it_needs():
    assert deploy.FORMATS == {
        "elastic-eql": "eql",
        "elastic-threshold": "kuery",
        "splunk-savedsearch": "spl",
        "sentinel": "kql",
        "defender": "kql",
    }


def test_seed_000_is_an_elastic_threshold_rule_with_cardinality():
    rule = json.loads(render("elastic-threshold", seed()))
    assert rule["type"] == "threshold" and rule["language"] == "kuery"
    assert rule["query"] == "NewProcessName:*\\\\wsmprovhost.exe and not TargetUserName:*$"
    # count(Computer) > 30: at least 31 distinct computers (threshold rules compare with >=)
    assert rule["threshold"] == {
        "field": [],
        "value": 1,
        "cardinality": [{"field": "Computer", "value": 31}],
    }
    assert (rule["interval"], rule["from"]) == ("15m", "now-15m")
    assert rule["threat"][0]["tactic"]["id"] == "TA0008"


def test_threshold_rule_reports_its_approximations_and_needs_them_allowed():
    emitted = deploy.backend("elastic-threshold", ALLOW).emit(seed())
    assert sorted(note.message.split(" (")[0] for note in emitted.notes) == [
        "kuery matches keyword fields case-sensitively",
        "the sliding 15m window becomes fixed windows",
    ]
    with pytest.raises(ir.RuleError, match="allow 'bucket'"):
        deploy.backend("elastic-threshold", Options(approximations=frozenset({"case"}))).emit(
            seed()
        )


def test_seed_000_is_a_splunk_saved_search_with_a_sliding_window():
    text = render("splunk-savedsearch", seed())
    assert text.startswith("[WinRM listening service reconnaissance (process)]\n")
    assert "streamstats time_window=15m dc(Computer) AS value" in text
    assert "dispatch.earliest_time = -15m\n" in text and "cron_schedule = */15 * * * *\n" in text


def test_seed_000_is_a_sentinel_scheduled_rule():
    rule = yaml.safe_load(render("sentinel", seed()))
    assert rule["kind"] == "Scheduled" and rule["severity"] == "Medium"
    assert (rule["queryFrequency"], rule["queryPeriod"]) == ("PT15M", "PT30M")
    assert (rule["triggerOperator"], rule["triggerThreshold"]) == ("gt", 0)
    assert rule["tactics"] == ["LateralMovement"]
    assert rule["relevantTechniques"] == ["T1021.006"]
    assert "count_distinct(Computer)" in rule["query"]
    assert rule["entityMappings"][0]["entityType"] == "Host"


def test_seed_000_is_a_defender_custom_detection():
    rule = json.loads(render("defender", seed()))
    assert rule["detectionAction"]["alertTemplate"]["mitreTechniques"] == ["T1021.006"]
    assert "row_cumsum" in rule["queryCondition"]["queryText"]


def hostile_query() -> ir.Query:
    query = seed()
    meta = replace(query.meta, title=HOSTILE, description=HOSTILE)
    return replace(query, meta=meta)


@pytest.mark.parametrize("format", ["elastic-threshold", "defender"])
def test_hostile_metadata_survives_json(format):
    text = render(format, hostile_query())
    rule = json.loads(text)
    assert rule.get("name", rule.get("displayName")) == HOSTILE


def test_hostile_metadata_survives_yaml():
    rule = yaml.safe_load(render("sentinel", hostile_query()))
    assert rule["name"] == HOSTILE and rule["description"] == HOSTILE


def test_hostile_metadata_stays_in_its_conf_value():
    hostile = HOSTILE.replace("\\\n", "\n")  # a line ending in a backslash is refused instead
    query = replace(seed(), meta=replace(seed().meta, title=hostile, description=hostile))
    text = render("splunk-savedsearch", query)
    stanza, description = text.splitlines()[:2]
    assert stanza == '[a "quoted" title: with newline, back\\slash (stanza) # {{ jinja }} ünï]'
    assert description == 'description = a "quoted" title: with \\'
    keys = [line.split(" = ")[0] for line in text.splitlines() if " = " in line]
    assert keys[:2] == ["description", "search"]


def test_a_backslash_before_a_newline_is_a_diagnostic_in_conf():
    with pytest.raises(ir.RuleError) as caught:
        render("splunk-savedsearch", hostile_query())
    assert caught.value.diagnostic.code == "deploy.unrenderable"


def test_event_rules_are_elastic_eql_rules():
    rule_path = SEED.parent / "proc_creation_win_bitsadmin_download.yml"
    rule = json.loads(render("elastic-eql", load_rules(rule_path)[0]))
    assert rule["type"] == "eql" and rule["query"].startswith("any where ")


# kuery term for a wildcard pattern | expected text
KUERY_PATTERNS = [
    (ir.Pattern((ir.Wildcard.ANY, "", ir.Wildcard.ANY)), "*"),
    (ir.Pattern((ir.Wildcard.ANY, ir.Wildcard.ANY, "a b")), "*a\\ b"),
    (ir.Pattern(("a*", ir.Wildcard.ANY)), "a\\**"),
]


@pytest.mark.parametrize(("pattern", "expected"), KUERY_PATTERNS)
def test_kuery_wildcards_collapse_and_escape(pattern: ir.Pattern, expected: str):
    match = ir.Match(ir.FieldRef("f"), ir.MatchKind.WILDCARD, (pattern,), False)
    assert deploy.KueryBackend(ALLOW).term(pattern, match) == expected
