"""Real Windows events, found by file and EventRecordID in the public EVTX recordings
(../shared/evtx/EVTX-ATTACK-SAMPLES), and the rules each must or must not match.

Oracles: the events themselves (their XML as Windows writes it, read through the `evtx` package),
the Sigma specification (value escaping, modifiers, `null`), the Sigma taxonomy (log sources) and
SigmaHQ's own rules. Every rule runs with `rulec run`'s default on Windows events (each rule
scoped to its log source) on the one file, and the event's presence among the matches is checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rulec.compiler import ir
from rulec.compiler.run.events import load_events
from rulec.compiler.run.executor import execute
from rulec.compiler.run.windows_logs import load_windows_rules

SAMPLES = "evtx/EVTX-ATTACK-SAMPLES"
SIGMAHQ = "corpus/sigma/rules/windows"

# Rules written here: each tests one reading of the event.
INLINE = {
    "msi_program_files_google": (
        "service: application",
        "Provider_Name: MsiInstaller\n    Data|contains: 'Program Files\\Google'",
    ),
    "msi_data_starts_with_first_element": (
        "service: application",
        "Data|startswith: 'C:\\Program Files\\Google\\Update\\'",
    ),
    "msi_data_ends_with_first_element": ("service: application", "Data|endswith: '.msi'"),
    "msi_two_backslashes": ("service: application", "Data|contains: '\\\\\\\\'"),
    "msi_quote": ("service: application", "Data|contains: '\"'"),
    "mssql_across_elements": (
        "service: application",
        "Data|re: 'provided\\.\\s+\\[CLIENT: 10\\.0\\.2\\.17\\]'",
    ),
    "defender_threat_name": (
        "service: windefend",
        "EventID: 1116\n    ThreatName|contains: 'Powersploit'",
    ),
    "defender_spaced_name": ("service: windefend", "Threat Name|contains: 'Powersploit'"),
    "system_log_cleared": (
        "service: system",
        "EventID: 104\n    Channel: System\n    UserData_Channel: System",
    ),
    "rulename_empty": ("category: file_event", "RuleName: ''"),
    "rulename_null": ("category: file_event", "RuleName: null"),
    "missing_field_null": ("category: file_event", "NoSuchField: null"),
    "missing_field_empty": ("category: file_event", "NoSuchField: ''"),
    "esent_binary_empty": ("service: application", "EventID: 326\n    Binary: ''"),
    "esent_binary_null": ("service: application", "EventID: 326\n    Binary: null"),
}

# (file, EventRecordID, rule: a name above or a SigmaHQ rule path, whether it matches, why)
CASES = [
    # 1. log sources
    (
        "AutomatedTestingTools/Malware/DE_timestomp_and_dll_sideloading_and_RunPersist.evtx",
        6578,
        "raw_access_thread/raw_access_thread_susp_disk_access_using_uncommon_tools.yml",
        False,
        "a Sysmon image load (7) is not a raw access read (9)",
    ),
    (
        "Credential Access/tutto_malseclogon.evtx",
        329921,
        "process_creation/proc_creation_win_lsass_process_clone.yml",
        True,
        "process creation read from Security 4688 (NewProcessName, ParentProcessName)",
    ),
    (
        "Credential Access/sysmon_rdrleakdiag_lsass_dump.evtx",
        5228,
        "process_creation/proc_creation_win_lsass_process_clone.yml",
        True,
        "process creation read from Sysmon 1",
    ),
    # 2. unnamed <Data> lists: one field `Data`, the elements joined by newlines
    (
        "Execution/rogue_msi_url_1040_1042.evtx",
        2513,
        "msi_program_files_google",
        True,
        "a single backslash is one backslash, not JSON's two",
    ),
    (
        "Execution/rogue_msi_url_1040_1042.evtx",
        2513,
        "builtin/application/msiinstaller/win_msi_install_from_susp_locations.yml",
        False,
        "'\\\\\\\\' (a UNC path's two backslashes) is not in C:\\Program Files\\...",
    ),
    ("Execution/rogue_msi_url_1040_1042.evtx", 2513, "msi_two_backslashes", False, "as above"),
    ("Execution/rogue_msi_url_1040_1042.evtx", 2513, "msi_quote", False, "no JSON quotes"),
    (
        "Execution/rogue_msi_url_1040_1042.evtx",
        2513,
        "msi_data_starts_with_first_element",
        True,
        "the text starts with the first element",
    ),
    (
        "Execution/rogue_msi_url_1040_1042.evtx",
        2513,
        "msi_data_ends_with_first_element",
        False,
        "the text ends with the last element (empty), not the first",
    ),
    (
        "Credential Access/MSSQL_multiple_failed_logon_EventID_18456.evtx",
        13026,
        "mssql_across_elements",
        True,
        "a newline between two elements is whitespace",
    ),
    (
        "Credential Access/MSSQL_multiple_failed_logon_EventID_18456.evtx",
        13026,
        "builtin/application/mssqlserver/win_mssql_failed_logon_from_external_network.yml",
        False,
        "the client 10.0.2.17 is filtered as a local address",
    ),
    # 3. names with spaces are matched without them
    (
        "AutomatedTestingTools/WinDefender_Events_1117_1116_AtomicRedTeam.evtx",
        37,
        "defender_threat_name",
        True,
        "`Threat Name` is ThreatName",
    ),
    (
        "AutomatedTestingTools/WinDefender_Events_1117_1116_AtomicRedTeam.evtx",
        37,
        "defender_spaced_name",
        False,
        "the spaced name is not a field",
    ),
    # 4. UserData never replaces System fields
    (
        "Defense Evasion/DE_104_system_log_cleared.evtx",
        27736,
        "system_log_cleared",
        True,
        "System/Channel stays; the cleared log's name is UserData_Channel",
    ),
    (
        "Defense Evasion/DE_104_system_log_cleared.evtx",
        27736,
        "builtin/system/microsoft_windows_eventlog/win_system_susp_eventlog_cleared.yml",
        True,
        "SigmaHQ's rule for a cleared System log (Channel: System)",
    ),
    (
        "Defense Evasion/DE_104_system_log_cleared.evtx",
        27736,
        "builtin/system/microsoft_windows_eventlog/win_system_eventlog_cleared.yml",
        False,
        "its filter drops Channel: System, the event's own channel",
    ),
    # 5. empty and missing: '' is a field present with no text, null a field the event lacks
    (
        "AutomatedTestingTools/Malware/DE_timestomp_and_dll_sideloading_and_RunPersist.evtx",
        6575,
        "rulename_empty",
        True,
        '<Data Name="RuleName"></Data>',
    ),
    (
        "AutomatedTestingTools/Malware/DE_timestomp_and_dll_sideloading_and_RunPersist.evtx",
        6575,
        "rulename_null",
        False,
        "RuleName is present",
    ),
    (
        "AutomatedTestingTools/Malware/DE_timestomp_and_dll_sideloading_and_RunPersist.evtx",
        6575,
        "missing_field_null",
        True,
        "the event has no NoSuchField",
    ),
    (
        "AutomatedTestingTools/Malware/DE_timestomp_and_dll_sideloading_and_RunPersist.evtx",
        6575,
        "missing_field_empty",
        False,
        "a missing field is not an empty one",
    ),
    (
        "Credential Access/dc_applog_ntdsutil_dfir_325_326_327.evtx",
        1969,
        "esent_binary_empty",
        True,
        "<Binary></Binary> is present and empty",
    ),
    (
        "Credential Access/dc_applog_ntdsutil_dfir_325_326_327.evtx",
        1969,
        "esent_binary_null",
        False,
        "<Binary></Binary> is present",
    ),
]


def _rule(name: str, shared: Path, folder: Path) -> Path:
    if name not in INLINE:
        return shared / SIGMAHQ / name
    source, selection = INLINE[name]
    path = folder / f"{name}.yml"
    path.write_text(
        f"title: {name}\nlogsource:\n  product: windows\n  {source}\n"
        f"detection:\n  selection:\n    {selection}\n  condition: selection\n"
    )
    return path


@pytest.mark.parametrize(("file", "record", "rule", "matches", "why"), CASES)
def test_real_event(file, record, rule, matches, why, shared, tmp_path):
    pytest.importorskip("evtx")
    events = load_events([str(shared / SAMPLES / file)])
    assert str(record) in {row["EventRecordID"] for row in events.rows}, "no such event"
    (query,) = load_windows_rules(_rule(rule, shared, tmp_path))
    assert isinstance(query, ir.Query), query
    found = {row["EventRecordID"] for row in execute(query, events)}
    assert (str(record) in found) is matches, why


def test_a_cleared_log_keeps_the_system_channel_and_names_the_cleared_one(shared):
    pytest.importorskip("evtx")
    file = shared / SAMPLES / "Defense Evasion/DE_104_system_log_cleared.evtx"
    (row,) = [r for r in load_events([str(file)]).rows if r["EventRecordID"] == "27736"]
    assert (row["Channel"], row["UserData_Channel"], row["BackupPath"]) == ("System", "System", "")


def test_run_names_the_file_and_record_of_each_match(shared):
    pytest.importorskip("evtx")
    import json

    from click.testing import CliRunner

    from rulec.compiler.cli import main

    rule = shared / SIGMAHQ / "process_creation/proc_creation_win_lsass_process_clone.yml"
    folder = shared / SAMPLES / "Credential Access"
    args = ["run", str(rule), "--events", str(folder), "--format", "json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert [(Path(r["_file"]).name, r["_record"]) for r in rows] == [
        ("sysmon_rdrleakdiag_lsass_dump.evtx", "5228"),
        ("tutto_malseclogon.evtx", "329921"),
    ]
