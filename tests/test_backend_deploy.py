"""Deployable formats: the seed rules as each SIEM imports them, checked against each product's
published schema (oracle: the schemas in ../shared/schemas/deploy, see tests/deploy_validation.py)
and against MITRE's ATT&CK data for tactic and technique names; hostile values read back from
each artefact by the product format's own reader (json, YAML, Splunk's .conf rules)."""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from deploy_validation import parse, problems, read_conf, tactics
from test_kql_microsoft_schema import semantic_errors

from rulec.backends import deploy, splunk_data
from rulec.backends.base import Options
from rulec.backends.deploy_targets import pipeline_target
from rulec.backends.pipelines import pipelines_for
from rulec.backends.registry import emit as emit_target
from rulec.compiler import ir
from rulec.compiler.cli import main
from rulec.compiler.frontends.kql import load_kql
from rulec.compiler.rules import load_rules, resolve_pipeline

RULES = Path(__file__).resolve().parents[1] / "rules/sigma"
SEED = RULES / "win_winrm_listening_service_reconnaissance.yml"
BITSADMIN = RULES / "proc_creation_win_bitsadmin_download.yml"
BURST = RULES / "corr_event_count_local_user_creation_burst.yml"
TEMPORAL = RULES / "corr_temporal_ordered_user_created_and_made_admin.yml"
ALLOW = Options(approximations=frozenset({"bucket", "case"}))
HOSTILE = (
    'a "quoted" title: with\nnewline, back\\slash\\\n[stanza] # {{ jinja }} $x `tick` ünï'
    "\r\nsearch = | delete\\\r[x]\u2028y\x85z\\"
)
CONF_HOSTILE = HOSTILE.replace("\r\n", "\n").replace("\r", "\n")  # .conf line breaks are LF


def rules(path: Path, format: str) -> list[ir.Query]:
    """The rules of `path` read through `format`'s default pipelines, as `rulec convert` does."""
    names = pipelines_for(pipeline_target(format), (), False)
    return [q for q in load_rules(path, resolve_pipeline(names)) if isinstance(q, ir.Query)]


def artefact(format: str, query: ir.Query, options: Options = ALLOW) -> str:
    return deploy.emit(format, query, options).text


def document(format: str, query: ir.Query, options: Options = ALLOW):
    (parsed,) = parse(format, artefact(format, query, options))
    return parsed


def test_every_format_names_the_target_it_needs():
    assert deploy.FORMATS == {
        "elastic-eql": "eql",
        "elastic-threshold": "kuery",
        "splunk-savedsearch": "spl",
        "sentinel": "kql",
        "defender": "kql",
    }


# --------------------------------------------------------------------------- the seed rule


def test_seed_is_an_elastic_threshold_rule_on_the_fields_its_query_uses(shared):
    (seed,) = rules(SEED, "elastic-threshold")
    rule = document("elastic-threshold", seed)
    assert problems(shared, "elastic-threshold", rule) == []
    assert (rule["type"], rule["language"]) == ("threshold", "kuery")
    query = "process.executable.caseless:*\\\\wsmprovhost.exe"
    assert rule["query"] == query + " and not winlog.event_data.TargetUserName:*$"
    # count(Computer) > 30: at least 31 distinct computers (threshold rules compare with >=),
    # the field named as ecs_windows names a Computer field in a detection
    assert rule["threshold"] == {
        "field": [],
        "value": 1,
        "cardinality": [{"field": "winlog.event_data.Computer", "value": 31}],
    }
    assert (rule["interval"], rule["from"]) == ("15m", "now-15m")
    assert (rule["severity"], rule["risk_score"]) == ("medium", 47)


def test_threshold_fields_follow_the_pipelines_the_user_names():
    runner = CliRunner()
    base = ["convert", "--format", "elastic-threshold", "--allow", "bucket,case", str(SEED)]
    raw = json.loads(runner.invoke(main, [*base, "--without-pipeline"]).stdout)
    assert raw["query"].startswith("NewProcessName:")
    assert raw["threshold"]["cardinality"] == [{"field": "Computer", "value": 31}]
    ecs = json.loads(runner.invoke(main, [*base, "-p", "ecs_windows"]).stdout)
    assert ecs["threshold"]["cardinality"][0]["field"] == "winlog.event_data.Computer"


def test_seed_threshold_reports_its_approximations_in_the_artefact():
    (seed,) = rules(SEED, "elastic-threshold")
    rule = document("elastic-threshold", seed)
    assert {"approximation:bucket", "approximation:case"} <= set(rule["tags"])
    assert (
        "Approximation (bucket): the sliding 15m window becomes fixed windows."
        in (rule["description"])
    )
    assert (
        "Approximation (case): kuery matches keyword fields case-sensitively."
        in (rule["description"])
    )
    with pytest.raises(ir.RuleError, match="allow 'bucket'"):
        artefact("elastic-threshold", seed, Options(approximations=frozenset({"case"})))


def test_seed_is_a_splunk_search_of_security_event_4688(shared):
    (seed,) = rules(SEED, "splunk-savedsearch")
    ((stanza, keys),) = parse("splunk-savedsearch", artefact("splunk-savedsearch", seed))
    assert problems(shared, "splunk-savedsearch", (stanza, keys)) == []
    assert stanza == "WinRM listening service reconnaissance (process)"
    # NewProcessName and TargetUserName are fields of Security event 4688, not of Sysmon event 1;
    # the Security channel as the Windows add-on names it in classic and XML rendering
    assert keys["search"].startswith(
        "search `rulec_index(windows)` "
        'source IN ("WinEventLog:Security", "XmlWinEventLog:Security") AND EventCode=4688 '
        'AND NewProcessName="*\\\\wsmprovhost.exe" AND NOT TargetUserName="*$" | '
    )
    assert "streamstats time_window=15m dc(Computer) AS value" in keys["search"]
    assert (keys["cron_schedule"], keys["dispatch.earliest_time"]) == ("*/15 * * * *", "-15m")
    assert json.loads(keys["action.correlationsearch.annotations"]) == {
        "mitre_attack": ["TA0008", "T1021.006"]
    }


def test_seed_is_a_sentinel_rule_whose_entities_are_columns_it_outputs(shared):
    (seed,) = rules(SEED, "sentinel")
    rule = document("sentinel", seed)
    assert problems(shared, "sentinel", rule) == []
    assert rule["kind"] == "Scheduled" and rule["severity"] == "Medium"
    assert (rule["queryFrequency"], rule["queryPeriod"]) == ("15m", "30m")
    assert rule["tactics"] == ["LateralMovement"]
    assert rule["relevantTechniques"] == ["T1021.006"]
    assert "count_distinct(Computer)" in rule["query"]
    # the aggregated query outputs window_start, window_end and value: no entity column
    assert "entityMappings" not in rule


def test_seed_reads_device_process_events_as_a_defender_detection():
    """The defender format reads rules through Defender XDR's mappings only (never a Sentinel
    table): the seed's Security event 4688 fields are DeviceProcessEvents columns, and its
    aggregation counts the column `Computer` maps to (Microsoft's 4688 and DeviceProcessEvents
    pages; `backends/sigma_pipelines/defender_xdr.yml`)."""
    names = pipelines_for(pipeline_target("defender"), (), False)
    (query,) = load_rules(SEED, resolve_pipeline(names))
    assert isinstance(query, ir.Query)
    text = emit_target("kql", query).text
    assert text.startswith("let _rulec_rows1 = DeviceProcessEvents\n"), text
    assert 'FolderPath endswith @"\\wsmprovhost.exe"' in text
    assert "count_distinct(DeviceName)" in text


def test_microsoft_formats_name_only_their_own_products_tables():
    """Oracle: the table lists of backends/schemas (Microsoft's table references)."""
    schemas = Path(deploy.__file__).parent / "schemas"
    defender = set(yaml.safe_load((schemas / "defender_xdr.yml").read_text())["tables"])
    for path in sorted(RULES.glob("*.yml")):
        for query in rules(path, "defender"):
            try:
                text = artefact("defender", query)
            except ir.RuleError:
                continue
            (rule,) = parse("defender", text)
            (read,) = load_kql(rule["queryCondition"]["queryText"], path.name)
            tables = {table.name for table in ir.find_all(read, ir.Table)}
            assert tables and tables <= defender, (path.name, tables)
    (sentinel,) = rules(BITSADMIN, "sentinel")
    assert document("sentinel", sentinel)["query"].startswith("WindowsEvent")


# --------------------------------------------------------------------------- events, correlations


def test_an_event_rule_is_a_defender_detection_with_its_impacted_assets(shared):
    (query,) = rules(BITSADMIN, "defender")
    rule = document("defender", query)
    assert problems(shared, "defender", rule) == []
    template = rule["detectionAction"]["alertTemplate"]
    identifiers = {asset["identifier"] for asset in template["impactedAssets"]}
    assert {"deviceId", "deviceName", "accountSid"} <= identifiers
    assert template["mitreTechniques"] == ["T1197", "T1036.003", "T1105"]
    assert rule["schedule"] == {"period": "1H"}


def test_a_kql_hunting_query_deploys_to_defender_and_sentinel(shared):
    """Its output columns (a join of DeviceImageLoadEvents, FileProfile and DeviceFileEvents) are
    the ones the SQL back end tracks from the documented tables."""
    path = RULES.parent / "kql/winrm_plugin_lateral_movement.kql"
    (query,) = load_rules(path)
    rule = document("defender", query)
    assert problems(shared, "defender", rule) == []
    assert rule["displayName"] == "winrm_plugin_lateral_movement"
    assets = rule["detectionAction"]["alertTemplate"]["impactedAssets"]
    assert {"deviceId", "deviceName"} <= {asset["identifier"] for asset in assets}
    sentinel = document("sentinel", query)
    assert problems(shared, "sentinel", sentinel) == []
    columns = {m["fieldMappings"][0]["columnName"] for m in sentinel["entityMappings"]}
    assert columns == {"DeviceName", "FileName"}


def test_several_defender_detections_are_one_json_array():
    (query,) = rules(BITSADMIN, "defender")
    text = deploy.stream("defender", [artefact("defender", query)] * 2)
    assert [r["displayName"] for r in json.loads(text)] == ["File Download Via Bitsadmin"] * 2


def test_an_aggregated_defender_query_detects_the_events_of_its_alerts(tmp_path, shared):
    """A custom detection's rows are events (Timestamp, ReportId and DeviceId identify each):
    the events of each alert's group and window. Oracle: Microsoft's semantic analysis of the
    query over the documented Defender XDR tables, and the schema."""
    path = tmp_path / "burst.yml"
    path.write_text(
        "title: bitsadmin burst\nlogsource: {product: windows, category: process_creation}\n"
        "detection:\n  selection: {Image|endswith: '\\bitsadmin.exe'}\n"
        "  condition: selection | count() by DeviceName > 5\n  timeframe: 1h\n",
        encoding="utf-8",
    )
    (query,) = rules(path, "defender")
    rule = document("defender", query)
    assert problems(shared, "defender", rule) == []
    text = rule["queryCondition"]["queryText"]
    assert text.startswith("let _rulec_rows1 = DeviceProcessEvents\n")
    assert "| summarize value = count() by DeviceName, window_end\n" in text
    assert text.endswith(
        ");\nDeviceProcessEvents\n"
        '| where FolderPath endswith @"\\bitsadmin.exe"\n'
        "| join kind=inner (_rulec_alerts) on DeviceName\n"
        "| where Timestamp >= window_start and Timestamp <= window_end"
    )
    assert semantic_errors([text]) == [[]]
    assets = rule["detectionAction"]["alertTemplate"]["impactedAssets"]
    assert {"deviceId", "deviceName"} <= {asset["identifier"] for asset in assets}


def test_the_seed_is_a_defender_detection_where_its_fields_map(shared):
    """Through the defender format's own mapping (`defender_xdr.yml`: the seed's Security 4688
    fields as DeviceProcessEvents has them, Computer: DeviceName), the seed's distinct-device
    count is a custom detection of the events of each 15-minute window that counts over 30
    devices. Oracles: the Defender schema and Microsoft's semantic analysis."""
    (seed,) = rules(SEED, "defender")
    rule = document("defender", seed)
    assert problems(shared, "defender", rule) == []
    text = rule["queryCondition"]["queryText"]
    assert "| summarize value = count_distinct(DeviceName) by _rulec_all, window_end\n" in text
    assert text.endswith(
        "| join kind=inner (_rulec_alerts\n| extend _rulec_key = 1) on _rulec_key\n"
        "| where Timestamp >= window_start and Timestamp <= window_end"
    )
    assert semantic_errors([text]) == [[]]
    template = rule["detectionAction"]["alertTemplate"]
    assert (template["category"], template["mitreTechniques"]) == ("LateralMovement", ["T1021.006"])
    assert (rule["displayName"], template["severity"]) == (
        "WinRM listening service reconnaissance (process)",
        "medium",
    )


def test_an_event_count_correlation_is_an_elastic_threshold_rule(shared):
    (burst,) = rules(BURST, "elastic-threshold")
    rule = document("elastic-threshold", burst)
    assert problems(shared, "elastic-threshold", rule) == []
    assert rule["query"] == 'winlog.channel:"Security" and event.code:"4720"'
    # group-by Computer, SubjectUserName as ecs_windows names them in a Security-log detection
    assert rule["threshold"] == {"field": ["winlog.event_data.Computer", "user.name"], "value": 3}
    assert (rule["interval"], rule["severity"], rule["risk_score"]) == ("10m", "high", 73)
    with pytest.raises(ir.RuleError, match="allow 'bucket'"):
        artefact("elastic-threshold", burst, Options())


def test_an_elastic_sequence_is_by_the_fields_its_query_uses(shared):
    (temporal,) = rules(TEMPORAL, "elastic-eql")
    rule = document("elastic-eql", temporal)
    assert problems(shared, "elastic-eql", rule) == []
    assert rule["query"].startswith("sequence by winlog.event_data.Computer with maxspan=")


def test_an_event_rule_runs_hourly_everywhere(shared):
    (query,) = rules(BITSADMIN, "splunk-savedsearch")
    ((_, keys),) = parse("splunk-savedsearch", artefact("splunk-savedsearch", query))
    assert (keys["cron_schedule"], keys["dispatch.earliest_time"]) == ("0 * * * *", "-1h")
    (query,) = rules(BITSADMIN, "sentinel")
    rule = document("sentinel", query)
    assert problems(shared, "sentinel", rule) == []
    assert (rule["queryFrequency"], rule["queryPeriod"]) == ("1h", "1h")


# window | cron_schedule (no gap longer than the window) | Sentinel queryFrequency, queryPeriod
SCHEDULES = [
    (timedelta(seconds=450), "*/7 * * * *", "8m", "16m"),
    (timedelta(minutes=2), "*/2 * * * *", "5m", "5m"),
    (timedelta(hours=5), "0 */5 * * *", "5h", "10h"),
    (timedelta(days=20), "0 0 * * *", "14d", "14d"),
]


def with_window(query: ir.Query, size: timedelta) -> ir.Query:
    *filters, stage = query.pipeline.stages
    windowed = replace(stage, window=replace(stage.window, size=size))
    return replace(query, pipeline=replace(query.pipeline, stages=(*filters, windowed)))


@pytest.mark.parametrize(("window", "cron", "frequency", "period"), SCHEDULES)
def test_the_schedule_follows_the_window(window, cron, frequency, period, shared):
    (seed,) = rules(SEED, "sentinel")
    rule = document("sentinel", with_window(seed, window))
    assert problems(shared, "sentinel", rule) == []
    assert (rule["queryFrequency"], rule["queryPeriod"]) == (frequency, period)
    (seed,) = rules(SEED, "splunk-savedsearch")
    (conf,) = parse("splunk-savedsearch", artefact("splunk-savedsearch", with_window(seed, window)))
    assert problems(shared, "splunk-savedsearch", conf) == []
    assert conf[1]["cron_schedule"] == cron


# log source | the data its search names first: the index macro, then the sourcetype or source
# the Splunk add-on for it documents (oracle: the add-ons' source type tables; Sigma's log source
# appendix for the PowerShell channels); a source no add-on documents names its index alone
SPLUNK_DATA = [
    (
        "product: linux, category: process_creation",
        '`rulec_index(linux)` sourcetype="sysmon:linux"',
    ),
    ("product: aws, service: cloudtrail", '`rulec_index(aws)` sourcetype="aws:cloudtrail"'),
    ("product: okta, service: okta", '`rulec_index(okta)` sourcetype="OktaIM2:log"'),
    (
        "product: windows, category: ps_script",
        '`rulec_index(windows)` source IN ("WinEventLog:Microsoft-Windows-PowerShell/Operational", '
        '"XmlWinEventLog:Microsoft-Windows-PowerShell/Operational")',
    ),
    ("product: zeek, service: x509", '`rulec_index(zeek)` sourcetype="bro:x509:json"'),
    ("product: macos, category: process_creation", "`rulec_index(macos)`"),
    ("category: proxy", "`rulec_index(proxy)`"),
    # a log source's name is a value: it never leaves the macro's one argument
    ("product: 'x) | delete `y`'", "`rulec_index(x____delete__y_)`"),
]


@pytest.mark.parametrize(("logsource", "data"), SPLUNK_DATA)
def test_every_splunk_search_names_its_data(logsource, data, tmp_path, shared):
    path = tmp_path / "rule.yml"
    path.write_text(
        f"title: apt\nlogsource: {{{logsource}}}\n"
        "detection:\n  selection: {Image|endswith: /apt}\n  condition: selection\n",
        encoding="utf-8",
    )
    (query,) = rules(path, "splunk-savedsearch")
    (conf,) = parse("splunk-savedsearch", artefact("splunk-savedsearch", query))
    assert problems(shared, "splunk-savedsearch", conf) == []
    assert conf[1]["search"] == f'search {data} Image="*/apt"'


def test_the_readme_defines_the_index_macro_every_search_names():
    """The macros.conf stanza the README gives, read as Splunk reads a .conf file."""
    readme = (RULES.parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```ini\n(.*?)\n\s*```", readme, re.DOTALL).group(1)  # type: ignore[union-attr]
    ((stanza, keys),) = read_conf(textwrap.dedent(block))
    assert stanza == f"{splunk_data.INDEX_MACRO}(1)"
    assert (keys["args"], keys["definition"]) == ("key", "index=*")


def test_each_rule_of_a_correlation_names_its_data():
    (query,) = rules(RULES / "corr_temporal_user_created_and_made_admin.yml", "splunk-savedsearch")
    ((_, keys),) = parse("splunk-savedsearch", artefact("splunk-savedsearch", query))
    security = (
        '`rulec_index(windows)` source IN ("WinEventLog:Security", "XmlWinEventLog:Security")'
    )
    assert keys["search"].startswith(f"| multisearch [search {security} AND EventCode=4720 ")
    assert f"[search {security} AND EventCode=4732 " in keys["search"]


# --------------------------------------------------------------------------- ATT&CK and level


ATTACK_TAGS = ("attack.privilege-escalation", "attack.t1548.002", "attack.command-and-control")


def tagged(query: ir.Query, tags: tuple[str, ...], **meta) -> ir.Query:
    return replace(query, meta=replace(query.meta, tags=tags, **meta))


def test_hyphenated_tactics_and_sub_techniques_in_every_format():
    """Names from MITRE's ATT&CK data: T1548.002 is Bypass User Account Control, a
    sub-technique of Abuse Elevation Control Mechanism (T1548)."""
    (event,) = rules(BITSADMIN, "sentinel")
    sentinel = document("sentinel", tagged(event, ATTACK_TAGS))
    assert sentinel["tactics"] == ["PrivilegeEscalation", "CommandAndControl"]
    assert sentinel["relevantTechniques"] == ["T1548.002"]
    (event,) = rules(BITSADMIN, "defender")
    defender = document("defender", tagged(event, ATTACK_TAGS))
    assert defender["detectionAction"]["alertTemplate"]["category"] == "PrivilegeEscalation"
    (event,) = rules(BITSADMIN, "elastic-eql")
    threat = document("elastic-eql", tagged(event, ATTACK_TAGS))["threat"]
    assert [t["tactic"]["name"] for t in threat] == ["Privilege Escalation", "Command and Control"]
    assert threat[0]["technique"] == [
        {
            "id": "T1548",
            "name": "Abuse Elevation Control Mechanism",
            "reference": "https://attack.mitre.org/techniques/T1548/",
            "subtechnique": [
                {
                    "id": "T1548.002",
                    "name": "Bypass User Account Control",
                    "reference": "https://attack.mitre.org/techniques/T1548/002/",
                }
            ],
        }
    ]
    assert threat[1]["technique"] == []
    (event,) = rules(BITSADMIN, "splunk-savedsearch")
    ((_, keys),) = parse(
        "splunk-savedsearch", artefact("splunk-savedsearch", tagged(event, ATTACK_TAGS))
    )
    assert json.loads(keys["action.correlationsearch.annotations"])["mitre_attack"] == [
        "TA0004",
        "TA0011",
        "T1548.002",
    ]


def test_a_technique_without_a_tactic_tag_brings_its_tactics():
    (event,) = rules(BITSADMIN, "sentinel")
    # T1021.006 (Windows Remote Management) is under Lateral Movement in ATT&CK
    assert document("sentinel", tagged(event, ("attack.t1021.006",)))["tactics"] == [
        "LateralMovement"
    ]


# level | elastic severity, risk | sentinel | defender | splunk alert.severity
LEVELS = [
    ("informational", "low", 21, "Informational", "informational", "1"),
    ("low", "low", 21, "Low", "low", "2"),
    ("medium", "medium", 47, "Medium", "medium", "3"),
    ("high", "high", 73, "High", "high", "4"),
    ("critical", "critical", 99, "High", "high", "5"),
]


@pytest.mark.parametrize(("level", "elastic", "risk", "sentinel", "defender", "splunk"), LEVELS)
def test_severity_follows_the_level(level, elastic, risk, sentinel, defender, splunk):
    def at_level(format):
        (query,) = rules(BITSADMIN, format)
        return document(format, replace(query, meta=replace(query.meta, level=level)))

    rule = at_level("elastic-eql")
    assert (rule["severity"], rule["risk_score"]) == (elastic, risk)
    assert at_level("sentinel")["severity"] == sentinel
    assert at_level("defender")["detectionAction"]["alertTemplate"]["severity"] == defender
    assert at_level("splunk-savedsearch")[1]["alert.severity"] == splunk


# --------------------------------------------------------------------------- hostile values


def hostile_rule(tmp_path: Path, value: str = HOSTILE) -> Path:
    """A rule whose title, description, tags and matched value are all hostile."""
    rule = {
        "title": HOSTILE,
        "description": HOSTILE,
        "tags": ["attack.execution", f"custom.{HOSTILE}"],
        "logsource": {"product": "windows", "category": "process_creation"},
        "detection": {"selection": {"CommandLine": value}, "condition": "selection"},
        "level": "high",
    }
    path = tmp_path / "hostile.yml"
    path.write_text(yaml.safe_dump(rule, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("format", ["elastic-eql", "sentinel", "defender"])
def test_hostile_values_round_trip_in_structured_formats(format, tmp_path, shared):
    (query,) = rules(hostile_rule(tmp_path), format)
    rule = document(format, query)
    assert problems(shared, format, rule) == []
    written = emit_target(deploy.FORMATS[format], query).text  # the query itself, unchanged
    if format == "defender":
        template = rule["detectionAction"]["alertTemplate"]
        assert (rule["displayName"], template["description"]) == (HOSTILE, HOSTILE)
        assert rule["queryCondition"]["queryText"] == written
    else:
        assert (rule["name"], rule["description"], rule["query"]) == (HOSTILE, HOSTILE, written)
        assert f"custom.{HOSTILE}" in rule["tags"]


def test_hostile_metadata_round_trips_in_a_threshold_rule(shared):
    (seed,) = rules(SEED, "elastic-threshold")
    hostile = tagged(seed, (f"custom.{HOSTILE}",), title=HOSTILE, description=HOSTILE)
    rule = document("elastic-threshold", hostile)
    assert problems(shared, "elastic-threshold", rule) == []
    assert rule["name"] == HOSTILE and rule["description"].startswith(HOSTILE + "\n\n")
    assert rule["tags"][0] == f"custom.{HOSTILE}"


def test_hostile_values_stay_values_in_a_conf_stanza(tmp_path, shared):
    (query,) = rules(hostile_rule(tmp_path, CONF_HOSTILE), "splunk-savedsearch")
    text = deploy.stream("splunk-savedsearch", [artefact("splunk-savedsearch", query)] * 2)
    first, second = read_conf(text)  # two stanzas, nothing else, not merged into one
    assert first[1] == second[1] and second[0] == first[0] + " (2)"
    stanza, keys = first
    assert problems(shared, "splunk-savedsearch", first) == []
    assert "\n" not in stanza and "]" not in stanza
    assert keys["action.correlationsearch.label"] == CONF_HOSTILE
    assert keys["description"] == CONF_HOSTILE
    format = "splunk-savedsearch"  # the query as the format's back end writes it, read back whole
    written = deploy.backend(format, ALLOW).emit(deploy.prepare(format, query, ALLOW)).text
    assert keys["search"] == written and "`tick`" in written
    assert list(keys)[:5] == [
        "action.correlationsearch.enabled",
        "action.correlationsearch.label",
        "action.correlationsearch.annotations",
        "description",
        "search",
    ]


def test_a_carriage_return_in_a_splunk_query_is_a_diagnostic(tmp_path):
    (query,) = rules(hostile_rule(tmp_path), "splunk-savedsearch")
    with pytest.raises(ir.RuleError, match="cannot hold the query's carriage return"):
        artefact("splunk-savedsearch", query)


# --------------------------------------------------------------------------- files


def test_bundled_rules_validate_in_every_format(shared):
    for format in deploy.FORMATS:
        for path in sorted(RULES.glob("*.yml")):
            for query in rules(path, format):
                try:
                    text = artefact(
                        format, query, Options(approximations=frozenset({"bucket", "case", "runs"}))
                    )
                except ir.RuleError:
                    continue
                (parsed,) = parse(format, text)
                assert problems(shared, format, parsed) == [], (format, path.name)


def test_a_sample_of_sigmahq_validates_in_every_format(shared):
    """Every 60th SigmaHQ rule file: each artefact that converts validates, the ATT&CK data knows
    every ATT&CK tag, and every rule with one names a tactic (benchmarks/deploy_artefacts.py
    measures the whole folder)."""
    files = sorted((shared / "corpus/sigma/rules").rglob("*.yml"))[::60]
    checked = 0
    for format in deploy.FORMATS:
        for path in files:
            for query in rules(path, format):
                try:
                    emitted = deploy.emit(format, query, ALLOW)
                except ir.RuleError:
                    continue
                (parsed,) = parse(format, emitted.text)
                assert problems(shared, format, parsed) == [], (format, path.name)
                codes = {n.code for n in emitted.notes}
                assert "deploy.attack-unknown" not in codes, (format, path.name)
                if any(t.startswith("attack.") for t in query.meta.tags):
                    # only a tactic the product has no name for leaves its tactics empty
                    unnamed = "deploy.attack-tactic" in codes and format in ("sentinel", "defender")
                    assert tactics(format, parsed) or unnamed, (format, path.name)
                checked += 1
    assert checked > 150


def test_an_output_folder_gets_one_file_per_rule(tmp_path):
    out = tmp_path / "sentinel"
    result = CliRunner().invoke(
        main, ["convert", "--format", "sentinel", "-o", f"{out}/", str(BITSADMIN), str(SEED)]
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "proc_creation_win_bitsadmin_download.yaml",
        "win_winrm_listening_service_reconnaissance.yaml",
    ]
    titles = [yaml.safe_load((out / n).read_text(encoding="utf-8"))["name"] for n in names]
    assert titles == [
        "File Download Via Bitsadmin",
        "WinRM listening service reconnaissance (process)",
    ]


def test_the_defender_stream_is_one_json_document():
    certutil = RULES / "proc_creation_win_certutil_download_direct_ip.yml"
    result = CliRunner().invoke(
        main, ["convert", "--format", "defender", str(BITSADMIN), str(BURST), str(certutil)]
    )
    assert result.exit_code == 1  # Security event 4720 has no Defender XDR table
    names = [rule["displayName"] for rule in json.loads(result.stdout)]
    assert names == [
        "File Download Via Bitsadmin",
        "Suspicious File Downloaded From Direct IP Via Certutil.EXE",
    ]


# kuery term for a wildcard pattern | expected text
KUERY_PATTERNS = [
    (ir.Pattern((ir.Wildcard.ANY, "", ir.Wildcard.ANY)), "*"),
    (ir.Pattern((ir.Wildcard.ANY, ir.Wildcard.ANY, "a b")), "*a\\ b"),
    (ir.Pattern(("a*", ir.Wildcard.ANY)), "a\\**"),
]


@pytest.mark.parametrize(("pattern", "expected"), KUERY_PATTERNS)
def test_kuery_wildcards_collapse_and_escape(pattern: ir.Pattern, expected: str):
    from rulec.backends.kuery import KueryBackend

    match = ir.Match(ir.FieldRef("f"), ir.MatchKind.WILDCARD, (pattern,), False)
    assert KueryBackend(ALLOW).term(pattern, match) == expected


def test_artefact_files_are_named_after_their_rules():
    from rulec.compiler.artefacts import artefact_files
    from rulec.compiler.outcomes import Outcome

    outcomes = [
        Outcome("rules/a.yml", "sentinel", title="A", query="a"),
        Outcome("rules/corr.yml", "sentinel", title="Burst: ../x", query="b"),
        Outcome("rules/corr.yml", "sentinel", title="Base", query="c"),
        Outcome("other/a.yml", "sentinel", title="A again", query="d"),
        Outcome("rules/failed.yml", "sentinel", error=ir.Diagnostic("x", "failed")),
    ]
    assert artefact_files("sentinel", outcomes) == {
        "a.yaml": "a",
        "corr_burst_x.yaml": "b",
        "corr_base.yaml": "c",
        "a-2.yaml": "d",
    }


def test_an_attack_tag_the_shipped_data_does_not_know_is_a_warning():
    (event,) = rules(BITSADMIN, "sentinel")
    emitted = deploy.emit("sentinel", tagged(event, ("attack.t9999", "attack.t1021.006")))
    (warning,) = [n for n in emitted.notes if n.code == "deploy.attack-unknown"]
    assert warning.severity == "warning" and warning.message.startswith("attack.t9999 is not")
    assert yaml.safe_load(emitted.text)["tactics"] == ["LateralMovement"]


def test_tags_of_the_newest_attack_release_in_every_format():
    """MITRE's ATT&CK after 18.1 renamed TA0005 Stealth and added TA0112 Defense Impairment
    with T1685 Disable or Modify Tools; Sentinel and Defender name tactics from their own list
    (Azure-Sentinel's AttackTactic enum), which has DefenseEvasion for TA0005 and nothing for
    TA0112, so Defense Impairment is a warning there and its technique is still written."""
    tags = ("attack.stealth", "attack.defense-impairment", "attack.t1685")
    (event,) = rules(BITSADMIN, "elastic-eql")
    threat = document("elastic-eql", tagged(event, tags))["threat"]
    assert [(t["tactic"]["id"], t["tactic"]["name"]) for t in threat] == [
        ("TA0005", "Stealth"),
        ("TA0112", "Defense Impairment"),
    ]
    assert threat[1]["technique"] == [
        {
            "id": "T1685",
            "name": "Disable or Modify Tools",
            "reference": "https://attack.mitre.org/techniques/T1685/",
        }
    ]
    (event,) = rules(BITSADMIN, "splunk-savedsearch")
    ((_, keys),) = parse("splunk-savedsearch", artefact("splunk-savedsearch", tagged(event, tags)))
    annotations = json.loads(keys["action.correlationsearch.annotations"])
    assert annotations["mitre_attack"] == ["TA0005", "TA0112", "T1685"]
    (event,) = rules(BITSADMIN, "sentinel")
    emitted = deploy.emit("sentinel", tagged(event, tags))
    sentinel = yaml.safe_load(emitted.text)
    assert (sentinel["tactics"], sentinel["relevantTechniques"]) == (["DefenseEvasion"], ["T1685"])
    (warning,) = [n for n in emitted.notes if n.code == "deploy.attack-tactic"]
    assert warning.message.startswith("TA0112 Defense Impairment is no sentinel tactic")
    (event,) = rules(BITSADMIN, "defender")
    only = tagged(event, ("attack.defense-impairment", "attack.t1685"))
    template = document("defender", only)["detectionAction"]["alertTemplate"]
    assert (template["category"], template["mitreTechniques"]) == ("SuspiciousActivity", ["T1685"])


def test_a_tag_retired_by_the_newest_release_keeps_the_name_it_had():
    """ATT&CK 18.1: TA0005 Defense Evasion, T1562.001 Disable or Modify Tools under T1562."""
    (event,) = rules(BITSADMIN, "elastic-eql")
    tags = ("attack.defense-evasion", "attack.t1562.001")
    emitted = deploy.emit("elastic-eql", tagged(event, tags))
    assert not [n for n in emitted.notes if n.code.startswith("deploy.attack")]
    (threat,) = json.loads(emitted.text)["threat"]
    assert threat["tactic"]["name"] == "Defense Evasion"
    assert threat["technique"][0]["name"] == "Impair Defenses"
    assert threat["technique"][0]["subtechnique"][0]["name"] == "Disable or Modify Tools"
