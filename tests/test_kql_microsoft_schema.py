"""Emitted KQL against Microsoft's semantic analysis, with the tables of `backends/schemas/`.

Oracle: Kusto.Language (tests/kql_oracle/semantic.js, from the npm package the parser tests use)
with every documented table declared in one database: an unknown table or column, or an operator
applied to the wrong type, is an error there. The Sigma log source mappings
(`backends/sigma_pipelines/*.yml`) are checked on rules written here and on SigmaHQ's rules.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rulec.backends import schemas
from rulec.backends.pipelines import located, pipeline_sets, product_pipelines
from rulec.compiler.corpus import convert_corpus
from rulec.compiler.rules import discover

ORACLE = Path(__file__).resolve().parent / "kql_oracle"
PACKAGE = ORACLE / "node_modules" / "@kusto" / "language-service-next"
# the language service stops short of analysing deeply nested conditions
TOO_DEEP = "Query syntax depth exceeds maximum safe limit"


def semantic_errors(queries: list[str]) -> list[list[dict]]:
    """Microsoft's error diagnostics for each query, every documented table declared."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: Microsoft's language service cannot run")
    if not PACKAGE.is_dir():
        pytest.skip(f"run `npm install` in {ORACLE} to install @kusto/language-service-next")
    tables = {name: schemas.lookup(name) for name in sorted(schemas.known_tables())}
    request = json.dumps({"kind": "errors", "tables": tables, "queries": queries})
    command = ["node", str(ORACLE / "semantic.js")]
    output = subprocess.run(command, input=request, capture_output=True, text=True, check=True)
    return json.loads(output.stdout)


def convert(folder: Path, pipelines: tuple[str, ...] = ()) -> dict[str, object]:
    """Each rule file of `folder` to kql: its query text, or its error message."""
    groups = pipeline_sets(["kql"], pipelines)
    results = convert_corpus(discover([folder]), groups, workers=1)
    return {
        result.path.name: outcome.query or outcome.error.message
        for result in results
        for outcome in result.outcomes
    }


def rule(tmp_path: Path, name: str, logsource: str, selection: str) -> None:
    text = f"title: {name}\nlogsource: {logsource}\n"
    text += f"detection:\n  sel: {selection}\n  condition: sel\n"
    (tmp_path / f"{name}.yml").write_text(text, encoding="utf-8")


def test_the_oracle_reports_unknown_names_and_wrong_types() -> None:
    queries = [
        "SecurityEvent | where NoSuchColumn == 1",
        "NoSuchTable | take 1",
        'SecurityEvent | where EventID =~ "4624"',
        'SecurityEvent | where EventID == 4624 and TargetUserName =~ "a"',
    ]
    unknown_column, unknown_table, wrong_type, fine = semantic_errors(queries)
    assert "NoSuchColumn" in unknown_column[0]["message"]
    assert "NoSuchTable" in unknown_table[0]["message"]
    assert "int and string" in wrong_type[0]["message"]
    assert fine == []


# (log source, selection, the table the kql default reads, a line of the query)
CASES = [
    (
        "{product: windows, service: security}",
        "{EventID: 4624, LogonType: 10, TargetUserName|startswith: Admin}",
        "SecurityEvent",
        'EventID == 4624 and LogonType == 10 and TargetUserName startswith "Admin"',
    ),
    (  # AccessList is no SecurityEvent column: the event is read from WindowsEvent
        "{product: windows, service: security}",
        "{EventID: 5145, AccessList|contains: WriteData}",
        "WindowsEvent",
        'Channel =~ "Security" and EventID == 5145 and EventData.AccessList contains "WriteData"',
    ),
    (
        "{product: windows, category: ps_script}",
        "{ScriptBlockText|contains: Invoke-Mimikatz}",
        "WindowsEvent",
        "EventID == 4104",
    ),
    (
        "{product: windows, service: system}",
        "{Provider_Name: Service Control Manager, EventID: 7045, ImagePath|contains: x}",
        "WindowsEvent",
        'Provider =~ "Service Control Manager" and EventID == 7045',
    ),
    (
        "{product: windows, category: pipe_created}",
        "{PipeName|startswith: '\\\\msagent_'}",
        "WindowsEvent",
        'Channel =~ "Microsoft-Windows-Sysmon/Operational" and EventID in (17, 18)',
    ),
    (
        "{product: aws, service: cloudtrail}",
        "{eventSource: s3.amazonaws.com, userIdentity.type: Root}",
        "AWSCloudTrail",
        'EventSource =~ "s3.amazonaws.com" and UserIdentityType =~ "Root"',
    ),
    (
        "{product: azure, service: signinlogs}",
        "{ResultType: 50053, DeviceDetail.isCompliant: 'false'}",
        "SigninLogs",
        'ResultType =~ "50053"',  # documented as a string: the number as its text
    ),
    (  # a keyword of a Linux log with no category: Syslog's message text
        "{product: linux}",
        "[' denied AXFR from ', 'exiting (due to fatal error)']",
        "Syslog",
        'SyslogMessage contains " denied AXFR from "',
    ),
    (
        "{product: kubernetes, service: audit}",
        "{verb: create, objectRef.resource: pods}",
        "AKSAudit",
        'Verb =~ "create" and ObjectRef.resource =~ "pods"',
    ),
    (
        "{category: webserver}",
        "{cs-method: POST, sc-status: 200}",
        "W3CIISLog",
        'csMethod =~ "POST" and scStatus =~ "200"',
    ),
    (  # CloudTrail's requestParameters: JSON text in RequestParameters (Microsoft's AWS rules
        # read it with parse_json); a path into it is dynamic, so `exists` is exact
        "{product: aws, service: cloudtrail}",
        "{eventName: ModifyInstanceAttribute, requestParameters.attribute: userData, "
        "responseElements.instanceId|exists: true}",
        "AWSCloudTrail",
        'parse_json(RequestParameters).attribute =~ "userData" and '
        "isnotnull(parse_json(ResponseElements).instanceId)",
    ),
    (  # Okta's System Log event as Sentinel's Okta connector stores it (nested a.b is a_b_s)
        "{product: okta, service: okta}",
        "{eventType: user.session.start, securityContext.isProxy: 'true'}",
        "Okta_CL",
        'eventType_s =~ "user.session.start" and securityContext_isProxy_b == true',
    ),
    (  # GitHub's audit log event as Sentinel's GitHub connector stores it
        "{product: github, service: audit}",
        "{action: repo.destroy, actor_location.country_code: US}",
        "GitHubAuditLogPolling_CL",
        'action_s =~ "repo.destroy" and actor_location_country_code_s =~ "US"',
    ),
    (  # Zeek's dns.log as Sentinel's Corelight connector stores it (id.orig_h is id_orig_h_s)
        "{product: zeek, service: dns}",
        "{query|endswith: .onion, id.orig_h|cidr: 10.0.0.0/8, rejected: 'false'}",
        "Corelight_v2_dns_CL",
        'query_s endswith ".onion" and ipv4_is_in_range(id_orig_h_s, "10.0.0.0/8") and '
        "rejected_b == false",
    ),
    (  # a channel outside pySigma's Windows mapping, read from WindowsEvent like the others
        "{product: windows, service: smbserver-connectivity}",
        "{EventID: 4000, ShareName|contains: ADMIN$}",
        "WindowsEvent",
        'Channel =~ "Microsoft-Windows-SMBServer/Connectivity" and EventID == 4000',
    ),
    (  # a Windows log source outside Sigma's taxonomy whose rule names its channel
        "{product: windows, category: rdp}",
        "{EventID: 148, Channel: Microsoft-Windows-RemoteDesktopServices-RdpCoreTS/Operational, "
        "ChannelName: ms_t120}",
        "WindowsEvent",
        'Channel =~ "Microsoft-Windows-RemoteDesktopServices-RdpCoreTS/Operational" and '
        'EventData.ChannelName =~ "ms_t120"',
    ),
    (  # a path into a dynamic column: a missing value is null, so `exists` is exact
        "{product: windows, service: system}",
        "{EventID: 1, Origin|exists: true}",
        "WindowsEvent",
        "isnotnull(EventData.Origin)",
    ),
]


def test_log_sources_read_the_documented_tables(tmp_path: Path) -> None:
    for number, (logsource, selection, _, _) in enumerate(CASES):
        rule(tmp_path, f"r{number}", logsource, selection)
    queries = convert(tmp_path)
    texts = [queries[f"r{number}.yml"] for number in range(len(CASES))]
    for text, (_, _, table, line) in zip(texts, CASES, strict=True):
        assert str(text).split("\n")[0] == table, text
        assert line in str(text), text
    assert semantic_errors([str(t) for t in texts]) == [[] for _ in texts]


def test_a_log_source_without_table_names_the_product(tmp_path: Path) -> None:
    rule(
        tmp_path,
        "opencanary",
        "{product: opencanary, category: application}",
        "{logtype: 2000}",
    )
    (message,) = convert(tmp_path, product_pipelines("sentinel")).values()
    assert "product: opencanary, category: application" in str(message)
    assert "Microsoft Sentinel has no table for this log source" in str(message)


def test_exists_on_a_string_column_reads_the_next_table_that_says_it(tmp_path: Path) -> None:
    """SecurityEvent's string columns cannot tell missing from empty; WindowsEvent's EventData
    (dynamic) can, so the rule is read through the next alternative that holds its log source."""
    rule(tmp_path, "s", "{product: windows, service: security}", "{SubjectUserName|exists: true}")
    (message,) = convert(tmp_path, located(("sentinel",))).values()
    assert "a test whether a field exists" in str(message)
    (query,) = convert(tmp_path).values()
    assert str(query).startswith("WindowsEvent\n"), query
    assert "isnotnull(EventData.SubjectUserName)" in str(query)
    assert semantic_errors([str(query)]) == [[]]


def test_a_defender_query_that_cannot_be_written_falls_back_to_sentinel(tmp_path: Path) -> None:
    selection = "{Image|endswith: '\\bash.exe', CommandLine: null}"
    rule(tmp_path, "p", "{product: windows, category: process_creation}", selection)
    (message,) = convert(tmp_path, product_pipelines("defender_xdr")).values()
    assert "a test whether a field exists" in str(message)
    (query,) = convert(tmp_path).values()
    assert str(query).startswith("WindowsEvent\n"), query
    assert "isnull(EventData.CommandLine)" in str(query)
    assert semantic_errors([str(query)]) == [[]]


def test_a_zeek_vector_field_held_as_json_text_is_a_diagnostic(tmp_path: Path) -> None:
    """Zeek's `answers` is a vector: the connector keeps it as JSON text, which `endswith`
    would not read as the rule means, so no Sigma field maps to it."""
    rule(tmp_path, "z", "{product: zeek, service: dns}", "{answers|endswith: .onion}")
    (message,) = convert(tmp_path, located(("sentinel",))).values()
    assert "the table Corelight_v2_dns_CL has no column for this field" in str(message)


def test_a_text_that_is_no_bool_on_a_bool_column_is_a_diagnostic(tmp_path: Path) -> None:
    rule(tmp_path, "b", "{product: okta, service: okta}", "{securityContext.isProxy: 'yes'}")
    (message,) = convert(tmp_path, located(("sentinel",))).values()
    assert "a text that is no bool on a bool column" in str(message)


def test_product_pipelines_name_only_that_products_mappings() -> None:
    (defender,) = product_pipelines("defender_xdr")
    (sentinel,) = product_pipelines("sentinel")
    assert defender.split("|")[0] == "microsoft_xdr"
    assert defender.split("|")[1].endswith("defender_xdr.yml")
    assert sentinel.split("|")[0].endswith("sentinel.yml")
    assert located(("sentinel",)) == (sentinel.split("|")[0],)
    with pytest.raises(ValueError, match="unknown product"):
        product_pipelines("splunk")


def test_sigmahq_queries_pass_microsofts_semantic_analysis(shared: Path) -> None:
    """Every 4th SigmaHQ rule file: each query kql emits has no semantic error, except those
    reading an ASIM parser (`sentinel_asim`), a function whose output no schema here holds."""
    files = discover([shared / "corpus" / "sigma" / "rules"])[::4]
    results = convert_corpus(files, pipeline_sets(["kql"]), workers=1)
    queries = [o.query for r in results for o in r.outcomes if o.query]
    checked = [q for q in queries if q.split("\n")[0] in schemas.known_tables()]
    assert len(checked) > 0.9 * len(queries)
    errors = semantic_errors(checked)
    wrong = [
        (query, found)
        for query, found in zip(checked, errors, strict=True)
        if found and not all(TOO_DEEP in e["message"] for e in found)
    ]
    print(f"\n{len(checked)} queries checked, {len(wrong)} with semantic errors")
    assert wrong == []


def test_a_field_no_documented_table_has_is_a_diagnostic(tmp_path: Path) -> None:
    text = "title: c\nname: c\ncorrelation:\n  type: event_count\n  rules: [r]\n"
    text += "  group-by: [NoSuchColumn]\n  timespan: 5m\n  condition: {gte: 3}\n---\n"
    text += "title: r\nname: r\nlogsource: {product: aws, service: cloudtrail}\n"
    text += "detection:\n  sel: {eventName: ConsoleLogin}\n  condition: sel\n"
    (tmp_path / "c.yml").write_text(text, encoding="utf-8")
    (message,) = convert(tmp_path).values()
    assert "the field NoSuchColumn" in str(message)
    assert "no table the rule reads has this column" in str(message)


def test_defender_tables_keep_time_in_timestamp(tmp_path: Path) -> None:
    text = "title: c\nname: c\ncorrelation:\n  type: event_count\n  rules: [r]\n"
    text += "  group-by: [DeviceName]\n  timespan: 5m\n  condition: {gte: 3}\n---\n"
    text += "title: r\nname: r\nlogsource: {product: windows, category: process_creation}\n"
    text += "detection:\n  sel: {Image|endswith: '\\whoami.exe'}\n  condition: sel\n"
    (tmp_path / "c.yml").write_text(text, encoding="utf-8")
    (query,) = convert(tmp_path).values()
    assert str(query).startswith("let r = (\n    DeviceProcessEvents"), query
    assert "todatetime(Timestamp)" in str(query)
    assert semantic_errors([str(query)]) == [[]]


@pytest.mark.parametrize(
    ("value", "written"),
    [("'0x3e7'", "LogonId == 999"), ("'42'", "LogonId == 42"), ("abc", None)],
)
def test_a_text_on_a_numeric_column_is_its_number(tmp_path: Path, value, written) -> None:
    selection = f"{{Image|endswith: '\\cmd.exe', LogonId: {value}}}"
    rule(tmp_path, "n", "{product: windows, category: process_creation}", selection)
    (text,) = convert(tmp_path, product_pipelines("defender_xdr")).values()
    if written is None:
        assert "a text that is no number on a numeric column" in str(text)
    else:
        assert written in str(text), text
        assert semantic_errors([str(text)]) == [[]]


def test_process_creation_with_security_4688_fields_reads_defender(tmp_path: Path) -> None:
    """A process_creation rule written with Security event 4688's fields (Microsoft's 4688 page)
    reads DeviceProcessEvents; its aggregation groups by the column the pipeline maps the field
    to (`Computer` is `DeviceName`)."""
    text = "title: w\nlogsource: {product: windows, category: process_creation}\ndetection:\n"
    text += "  selection: {NewProcessName|endswith: '\\\\wsmprovhost.exe'}\n"
    text += "  filter: {TargetUserName|endswith: '$'}\n"
    text += "  condition: selection and not filter | count(Computer) > 30\n  timeframe: 15m\n"
    (tmp_path / "w.yml").write_text(text, encoding="utf-8")
    (query,) = convert(tmp_path, product_pipelines("defender_xdr")).values()
    assert str(query).startswith("let _rulec_rows1 = DeviceProcessEvents\n"), query
    assert 'FolderPath endswith @"\\wsmprovhost.exe"' in str(query)
    assert 'not(AccountName endswith "$")' in str(query)
    assert "count_distinct(DeviceName)" in str(query)
    assert semantic_errors([str(query)]) == [[]]
    rule(tmp_path, "w", "{product: windows, category: process_creation}", "{MandatoryLabel: x}")
    (message,) = convert(tmp_path, product_pipelines("defender_xdr")).values()
    assert "DeviceProcessEvents has no column for this process creation field" in str(message)


def test_a_negated_search_term_is_a_predicate(tmp_path: Path) -> None:
    """Microsoft's analysis refuses `not("*x*")` in `search` (a string is no bool); the negated
    term is written as the predicate `* contains "x"`, which the search documentation equates."""
    text = "title: k\nlogsource: {product: linux, service: auditd}\ndetection:\n"
    text += "  sel: {type: EXECVE}\n  kw: [dd]\n  other: [of=]\n"
    text += "  condition: sel and kw and not other\n"
    (tmp_path / "k.yml").write_text(text, encoding="utf-8")
    (query,) = convert(tmp_path).values()
    assert 'search RecordType =~ "EXECVE" and "*dd*" and not(* contains "of=")' in str(query)
    assert semantic_errors([str(query)]) == [[]]


def test_a_process_creation_rule_stating_its_event_reads_defender(tmp_path: Path) -> None:
    """`EventID: 4688` with `Channel: Security` (or Sysmon's event 1) names the event every
    DeviceProcessEvents row is; another event id is no process creation there."""
    for name, event in (
        ("security", "{EventID: 4688, Channel: Security}"),
        ("other", "{EventID: 4689}"),
    ):
        text = f"title: {name}\nlogsource: {{product: windows, category: process_creation}}\n"
        text += f"detection:\n  event: {event}\n  sel: {{NewProcessName|endswith: '\\\\a.exe'}}\n"
        text += "  condition: event and sel\n"
        (tmp_path / f"{name}.yml").write_text(text, encoding="utf-8")
    found = convert(tmp_path, product_pipelines("defender_xdr"))
    assert found["security.yml"] == 'DeviceProcessEvents\n| where FolderPath endswith @"\\a.exe"'
    assert semantic_errors([str(found["security.yml"])]) == [[]]
    assert "DeviceProcessEvents has no column for this process creation field" in str(
        found["other.yml"]
    )


def test_a_pipeline_that_drops_every_item_passes_the_rule_on(tmp_path: Path) -> None:
    """`microsoft_xdr` drops the EventID items of a Security-log rule, leaving a condition that
    selects nothing: the rule is read by the next alternative (SecurityEvent)."""
    rule(tmp_path, "l", "{product: windows, service: security}", "{EventID: [4634, 4647]}")
    (message,) = convert(tmp_path, product_pipelines("defender_xdr")).values()
    assert "microsoft_xdr: the condition selects nothing" in str(message)
    (query,) = convert(tmp_path).values()
    assert query == "SecurityEvent\n| where EventID in (4634, 4647)"


def test_a_sliding_window_grouped_by_a_dynamic_path_is_a_diagnostic(tmp_path: Path) -> None:
    """WindowsEvent keeps Sysmon's fields in EventData: `summarize by EventData.QueryName` names
    its column EventData_QueryName, so the sliding plan's join would name no column."""
    text = "title: d\nlogsource: {product: windows, service: sysmon}\ndetection:\n"
    text += "  sel: {EventID: 22}\n  condition: sel | count() by QueryName > 3\n  timeframe: 30s\n"
    (tmp_path / "d.yml").write_text(text, encoding="utf-8")
    (message,) = convert(tmp_path, located(("sentinel_windows_event",))).values()
    assert "a sliding window grouped by a path" in str(message)
    assert "EventData.QueryName" in str(message)
    (tmp_path / "d.yml").write_text(text.replace("  timeframe: 30s\n", ""), encoding="utf-8")
    (message,) = convert(tmp_path, located(("sentinel_windows_event",))).values()
    assert "an aggregate grouped by a path" in str(message)


def test_a_distinct_count_of_a_dynamic_path_is_a_diagnostic(tmp_path: Path) -> None:
    """Microsoft's analysis refuses `count_distinct()` of a dynamic value (WindowsEvent's
    EventData): the rule is reported, not written."""
    text = "title: p\nlogsource: {product: windows, service: sysmon}\ndetection:\n"
    text += "  sel: {EventID: 22}\n  condition: sel | count(QueryName) by Computer > 2\n"
    (tmp_path / "p.yml").write_text(text, encoding="utf-8")
    (message,) = convert(tmp_path, located(("sentinel_windows_event",))).values()
    assert "of a path into a dynamic column" in str(message)
    query = "WindowsEvent\n| summarize value = count_distinct(EventData.QueryName) by Computer"
    assert "'dynamic' is not allowed" in semantic_errors([query])[0][0]["message"]


def test_process_creation_with_4688_fields_defender_lacks_reads_security_event(
    tmp_path: Path,
) -> None:
    """A process_creation rule with Security event 4688's fields that Defender XDR cannot read
    (TokenElevationType's codes; `EventRecordID`, which DeviceProcessEvents lacks) reads
    Sentinel's SecurityEvent, restricted to event 4688 (Microsoft's "4688(S)" page); the oracle
    is Microsoft's semantic analysis against SecurityEvent's documented columns."""
    rule(
        tmp_path,
        "t",
        "{product: windows, category: process_creation}",
        "{NewProcessName|endswith: '\\sc.exe', TokenElevationType: '%%1937'}",
    )
    text = "title: c\nlogsource: {product: windows, category: process_creation}\n"
    text += (
        "detection:\n  sel: {NewProcessName|endswith: '\\sc.exe', CommandLine|contains: delete}\n"
    )
    text += "  condition: sel | count(EventRecordID) by Computer > 2\n  timeframe: 1m\n"
    (tmp_path / "c.yml").write_text(text, encoding="utf-8")
    queries = convert(tmp_path)
    token, burst = str(queries["t.yml"]), str(queries["c.yml"])
    assert token.startswith("SecurityEvent\n| where EventID == 4688 and "), token
    assert 'TokenElevationType =~ "%%1937"' in token
    assert "SecurityEvent\n| where EventID == 4688 and " in burst, burst
    assert "count_distinct(EventRecordId) by Computer" in burst
    assert semantic_errors([token, burst]) == [[], []]


def test_a_correlation_counts_security_events_by_their_record_id(tmp_path: Path) -> None:
    """`EventRecordID` (the event's System/EventRecordID) is SecurityEvent's `EventRecordId`,
    in a correlation's value field as in a rule's detection."""
    text = "title: r\nname: r\nlogsource: {product: windows, service: security}\n"
    text += "detection:\n  sel: {EventID: 4625, SubStatus: '0xc000006A'}\n  condition: sel\n"
    text += "---\ntitle: c\ncorrelation:\n  type: value_count\n  rules: [r]\n"
    text += "  group-by: [Computer]\n  timespan: 30m\n"
    text += "  condition: {gte: 20, field: EventRecordID}\n"
    (tmp_path / "c.yml").write_text(text, encoding="utf-8")
    (query,) = convert(tmp_path).values()
    assert "    SecurityEvent\n    | where EventID == 4625" in str(query), query
    assert "count_distinct(EventRecordId) by Computer" in str(query)
    assert semantic_errors([str(query)]) == [[]]


def test_a_security_log_rule_of_event_4688_reads_device_process_events(tmp_path: Path) -> None:
    """`service: security` with `EventID: 4688` is a process creation (Microsoft's "4688(S)"
    page): Defender XDR reads it from DeviceProcessEvents; a rule that also reads another event
    is refused there (EventID is no DeviceProcessEvents column) and read from SecurityEvent."""
    rule(
        tmp_path,
        "a",
        "{product: windows, service: security}",
        "{EventID: 4688, NewProcessName|endswith: '\\whoami.exe'}",
    )
    text = "title: b\nlogsource: {product: windows, service: security}\ndetection:\n"
    text += "  sel: {EventID: 4688, NewProcessName|endswith: '\\whoami.exe'}\n"
    text += "  other: {EventID: 4624, LogonType: 3}\n  condition: sel or other\n"
    (tmp_path / "b.yml").write_text(text, encoding="utf-8")
    defender = convert(tmp_path, product_pipelines("defender_xdr"))
    assert str(defender["a.yml"]).startswith("DeviceProcessEvents\n| where FolderPath endswith")
    assert "no pipeline of microsoft_xdr | defender_xdr" in str(defender["b.yml"])
    default = convert(tmp_path)
    assert str(default["b.yml"]).startswith("SecurityEvent\n"), default["b.yml"]
    assert semantic_errors([str(defender["a.yml"]), str(default["b.yml"])]) == [[], []]
