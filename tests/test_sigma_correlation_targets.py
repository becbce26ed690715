"""Sigma correlation rules reach every target that can express them, kql included.

Oracles: the `microsoft_xdr` pipeline's own mapping (process_creation reads DeviceProcessEvents,
`User` is `AccountName`, `Image` is `FolderPath`), which the correlation's group-by must follow as
its rule's fields do, and Microsoft's KQL parser (tests/kql_oracle), which must accept the
emitted query.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from test_kql_language import NOW, query, table
from test_kql_microsoft_schema import convert, semantic_errors
from test_kql_oracle import oracle_accepts

from rulec.backends.kql import KqlBackend
from rulec.backends.pipelines import located
from rulec.compiler import ir
from rulec.compiler.cli import main
from rulec.compiler.frontends.sigma.load import load_sigma, resolve_pipeline
from rulec.compiler.run.executor import execute

RULES = """\
title: base
name: base_proc
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\\\whoami.exe'}
  condition: sel
---
title: many whoami
correlation:
  type: event_count
  rules: [base_proc]
  group-by: [User]
  timespan: 10m
  condition: {gte: 3}
"""


def kql_query() -> ir.Query:
    pipeline = resolve_pipeline(["microsoft_xdr|azure_monitor|sentinel_asim"])
    [query] = load_sigma(RULES, "corr.yml", pipeline)
    assert isinstance(query, ir.Query), query
    return query


def test_a_correlation_goes_through_the_pipeline_that_read_its_rule() -> None:
    query = kql_query()
    correlation = query.pipeline.stages[-1]
    assert isinstance(correlation, ir.Correlation)
    assert correlation.group_by == ("AccountName",)
    [let] = query.lets
    assert let.value.source == ir.Table("DeviceProcessEvents")


def test_the_emitted_kql_parses_in_microsofts_parser(tmp_path: Path) -> None:
    path = tmp_path / "corr.kql"
    path.write_text(KqlBackend().emit(kql_query()).text)
    assert oracle_accepts([path]) == {str(path): True}


def test_convert_to_kql_names_no_internal_error(tmp_path: Path) -> None:
    path = tmp_path / "corr.yml"
    path.write_text(RULES)
    result = CliRunner().invoke(main, ["convert", "-t", "kql", str(path)])
    assert result.exit_code == 0, result.output
    assert "attribute" not in result.output and "DeviceProcessEvents" in result.stdout


# Oracles for the tests below: `microsoft_xdr`'s own mapping (process_creation reads
# DeviceProcessEvents, where the process's `CommandLine` is `ProcessCommandLine`;
# network_connection reads DeviceNetworkEvents, where it is the initiating process's
# `InitiatingProcessCommandLine`), Microsoft's language service (tests/kql_oracle/semantic.js)
# and the Sigma specification's event_count semantics: events of all the correlated rules that
# share the group-by fields' values, counted within the timespan.
TWO_TABLES = """\
title: a process started
name: started
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\\\powershell.exe'}
  condition: sel
---
title: a network connection
name: connected
logsource: {product: windows, category: network_connection}
detection:
  sel: {DestinationPort: 443}
  condition: sel
---
title: a command line that starts and connects
correlation:
  type: event_count
  rules: [started, connected]
  group-by: [CommandLine]
  timespan: 5m
  condition: {gte: 2}
"""


def two_tables_kql(tmp_path: Path) -> str:
    (tmp_path / "corr.yml").write_text(TWO_TABLES, encoding="utf-8")
    (text,) = convert(tmp_path).values()
    assert isinstance(text, str)
    return text


def test_each_rule_names_a_correlation_field_by_its_own_tables_column(tmp_path: Path) -> None:
    text = two_tables_kql(tmp_path)
    assert "DeviceProcessEvents\n" in text and "DeviceNetworkEvents\n" in text, text
    assert "| extend CommandLine = ProcessCommandLine\n" in text
    assert "| extend CommandLine = InitiatingProcessCommandLine\n" in text
    assert "count() by CommandLine, window_end" in text
    assert semantic_errors([text]) == [[]]


def test_the_correlation_counts_the_events_of_both_tables_by_one_command_line(
    tmp_path: Path,
) -> None:
    """ "ps -enc A" starts at 11:00 and connects at 11:01: two events within 5 minutes, one
    alert. "other" connects at 11:02 and starts at 11:30: never two within 5 minutes."""
    at = lambda minutes: f"2024-01-10T11:{minutes:02d}:00+00:00"  # noqa: E731
    started = [
        {
            "Timestamp": at(0),
            "FolderPath": "C:\\w\\powershell.exe",
            "ProcessCommandLine": "ps -enc A",
        },
        {"Timestamp": at(30), "FolderPath": "C:\\w\\powershell.exe", "ProcessCommandLine": "other"},
    ]
    connected = [
        {"Timestamp": at(1), "RemotePort": 443, "InitiatingProcessCommandLine": "ps -enc A"},
        {"Timestamp": at(2), "RemotePort": 443, "InitiatingProcessCommandLine": "other"},
    ]
    tables = {"DeviceProcessEvents": table(*started), "DeviceNetworkEvents": table(*connected)}
    emitted = query(two_tables_kql(tmp_path))  # read back by rulec's KQL front end, run on DuckDB
    rows = execute(emitted, tables=tables, now=NOW)
    expected = {"CommandLine": "ps -enc A", "value": 2, "window_end": "2024-01-10T11:01:00Z"}
    assert [{k: row[k] for k in expected} for row in rows] == [expected]


def test_a_field_one_correlated_rules_table_lacks_is_a_diagnostic() -> None:
    """Defender XDR's DeviceProcessEvents has no `Computer` (Sentinel's SecurityEvent has)."""
    rules = TWO_TABLES.replace("category: network_connection", "service: security")
    rules = rules.replace("{DestinationPort: 443}", "{EventID: 4625}")
    rules = rules.replace("[CommandLine]", "[Computer]")
    pipeline = resolve_pipeline(located(("microsoft_xdr|sentinel",)))
    [correlation] = load_sigma(rules, "corr.yml", pipeline)
    assert isinstance(correlation, ir.Query), correlation
    with pytest.raises(
        ir.RuleError, match="rule 'started' reads DeviceProcessEvents, which has no"
    ):
        KqlBackend().emit(correlation)


def test_a_correlation_counting_a_field_read_from_event_data_is_a_diagnostic(
    tmp_path: Path,
) -> None:
    """The System log is Sentinel's WindowsEvent, its fields paths into the dynamic column
    EventData (sentinel_windows_event.yml): Microsoft's language service refuses
    `count_distinct()` of a dynamic value, and a missing field is no value to count."""
    text = "title: r\nname: r\nlogsource: {product: windows, service: system}\n"
    text += "detection:\n  sel: {EventID: 7045}\n  condition: sel\n"
    text += "---\ntitle: c\ncorrelation:\n  type: value_count\n  rules: [r]\n"
    text += "  group-by: [Computer]\n  timespan: 30m\n"
    text += "  condition: {gte: 5, field: ServiceName}\n"
    (tmp_path / "c.yml").write_text(text, encoding="utf-8")
    (message,) = convert(tmp_path).values()
    assert "the field EventData.ServiceName is a path into a dynamic column" in str(message)
