"""On Windows events, `rulec run` applies each Sigma rule's log source by default.

Oracle: the Sigma taxonomy (SigmaHQ/sigma-specification, specification/sigma-appendix-taxonomy.md,
version 2.1.0, "Windows Folder"), which says which channel and event IDs carry each Windows log
source, and SigmaHQ's `windows-audit` pipeline (pySigma-pipeline-windows), which reads process
creation from Security 4688 and registry events from Security 4657. The table below is written
from those documents, not from rulec's mapping, and every match of every SigmaHQ Windows rule on
the public EVTX recordings (../shared/evtx/EVTX-ATTACK-SAMPLES) is checked against it.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from rulec.compiler import ir
from rulec.compiler.cli import main
from rulec.compiler.rules import discover
from rulec.compiler.run.events import load_events
from rulec.compiler.run.multirule.runner import run_rules
from rulec.compiler.run.windows_logs import load_windows_rules

SYSMON = "Microsoft-Windows-Sysmon/Operational"
POWERSHELL = ("Microsoft-Windows-PowerShell/Operational", "PowerShellCore/Operational")


def _sysmon(*ids: int) -> set[tuple[str, int]]:
    return {(SYSMON, i) for i in ids}


# category -> the (channel, event ID) pairs that carry it; file_access and file_rename come from an
# ETW provider (Microsoft-Windows-Kernel-File), which no EVTX channel holds.
CATEGORIES: dict[str, set[tuple[str, int]]] = {
    "process_creation": _sysmon(1) | {("Security", 4688)},
    "file_change": _sysmon(2),
    "network_connection": _sysmon(3),
    "sysmon_status": _sysmon(4, 16),
    "process_termination": _sysmon(5),
    "driver_load": _sysmon(6),
    "image_load": _sysmon(7),
    "create_remote_thread": _sysmon(8),
    "raw_access_thread": _sysmon(9),
    "process_access": _sysmon(10),
    "file_event": _sysmon(11),
    "registry_event": _sysmon(12, 13, 14) | {("Security", 4657)},
    "registry_add": _sysmon(12) | {("Security", 4657)},
    "registry_delete": _sysmon(12),
    "registry_set": _sysmon(13) | {("Security", 4657)},
    "registry_rename": _sysmon(14),
    "create_stream_hash": _sysmon(15),
    "pipe_created": _sysmon(17, 18),
    "wmi_event": _sysmon(19, 20, 21),
    "dns_query": _sysmon(22),
    "file_delete": _sysmon(23),
    "clipboard_capture": _sysmon(24),
    "process_tampering": _sysmon(25),
    "file_delete_detected": _sysmon(26),
    "file_block_executable": _sysmon(27),
    "file_block_shredding": _sysmon(28),
    "file_executable_detected": _sysmon(29),
    "sysmon_error": _sysmon(255),
    "ps_classic_start": {("Windows PowerShell", 400)},
    "ps_classic_provider_start": {("Windows PowerShell", 600)},
    "ps_classic_script": {("Windows PowerShell", 800)},
    "ps_module": {(c, 4103) for c in POWERSHELL},
    "ps_script": {(c, 4104) for c in POWERSHELL},
    "file_access": set(),
    "file_rename": set(),
}

# service -> its channels (smbserver-connectivity, not in the appendix: the SMB server's
# Connectivity channel; microsoft-servicebus-client: the appendix's servicebus-client as
# pySigma-pipeline-windows names it)
SERVICES: dict[str, set[str]] = {
    "application": {"Application"},
    "applocker": {
        "Microsoft-Windows-AppLocker/MSI and Script",
        "Microsoft-Windows-AppLocker/EXE and DLL",
        "Microsoft-Windows-AppLocker/Packaged app-Deployment",
        "Microsoft-Windows-AppLocker/Packaged app-Execution",
    },
    "appmodel-runtime": {"Microsoft-Windows-AppModel-Runtime/Admin"},
    "appxdeployment-server": {"Microsoft-Windows-AppXDeploymentServer/Operational"},
    "appxpackaging-om": {"Microsoft-Windows-AppxPackaging/Operational"},
    "bits-client": {"Microsoft-Windows-Bits-Client/Operational"},
    "capi2": {"Microsoft-Windows-CAPI2/Operational"},
    "certificateservicesclient-lifecycle-system": {
        "Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational"
    },
    "codeintegrity-operational": {"Microsoft-Windows-CodeIntegrity/Operational"},
    "diagnosis-scripted": {"Microsoft-Windows-Diagnosis-Scripted/Operational"},
    "dns-client": {"Microsoft-Windows-DNS Client Events/Operational"},
    "dns-server": {"DNS Server"},
    "driver-framework": {"Microsoft-Windows-DriverFrameworks-UserMode/Operational"},
    "firewall-as": {"Microsoft-Windows-Windows Firewall With Advanced Security/Firewall"},
    "iis-configuration": {"Microsoft-IIS-Configuration/Operational"},
    "ldap": {"Microsoft-Windows-LDAP-Client/Debug"},
    "lsa-server": {"Microsoft-Windows-LSA/Operational"},
    "microsoft-servicebus-client": {"Microsoft-ServiceBus-Client"},
    "msexchange-management": {"MSExchange Management"},
    "ntlm": {"Microsoft-Windows-NTLM/Operational"},
    "openssh": {"OpenSSH/Operational"},
    "powershell": set(POWERSHELL),
    "powershell-classic": {"Windows PowerShell"},
    "security": {"Security"},
    "security-mitigations": {
        "Microsoft-Windows-Security-Mitigations/Kernel Mode",
        "Microsoft-Windows-Security-Mitigations/User Mode",
    },
    "shell-core": {"Microsoft-Windows-Shell-Core/Operational"},
    "smbclient-security": {"Microsoft-Windows-SmbClient/Security"},
    "smbserver-connectivity": {"Microsoft-Windows-SMBServer/Connectivity"},
    "sysmon": {SYSMON},
    "system": {"System"},
    "taskscheduler": {"Microsoft-Windows-TaskScheduler/Operational"},
    "terminalservices-localsessionmanager": {
        "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational"
    },
    "windefend": {"Microsoft-Windows-Windows Defender/Operational"},
    "wmi": {"Microsoft-Windows-WMI-Activity/Operational"},
}


def _inside(source: ir.LogSource, row: dict) -> bool:
    """Whether the event is in the log source, by the table above."""
    channel, event_id = row.get("Channel"), int(row["EventID"])
    if source.category:
        assert source.category in CATEGORIES, f"add {source.category} to the table"
        if (channel, event_id) not in CATEGORIES[source.category]:
            return False
    if source.service:
        assert source.service in SERVICES, f"add {source.service} to the table"
        return channel in SERVICES[source.service]
    return True


def test_no_sigmahq_windows_rule_matches_an_event_outside_its_log_source(shared):
    rules = [
        item
        for path in discover([shared / "corpus/sigma/rules/windows"])
        for item in load_windows_rules(path)
    ]
    assert [item for item in rules if isinstance(item, ir.Diagnostic)] == []
    events = load_events([str(shared / "evtx/EVTX-ATTACK-SAMPLES")])
    runs = run_rules(rules, events, {}, None, None)
    outside, matched, security_4688 = [], 0, 0
    for rule, run in zip(rules, runs, strict=True):
        assert run.ok, (rule.meta.path, run.error)
        for row in run.rows:
            matched += 1
            security_4688 += (row["Channel"], row["EventID"]) == ("Security", "4688")
            if not _inside(rule.meta.logsource, row):
                outside.append((rule.meta.path, row["Channel"], row["EventID"]))
    assert outside == []
    assert matched > 1000  # the rules still find the attacks recorded
    assert security_4688 > 0  # process creation is also read from the Security log


def _run(*args: str) -> list[dict]:
    result = CliRunner().invoke(main, ["run", *map(str, args), "--format", "json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture
def rule_and_events(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A process-creation rule, Windows events from three logs, and the same events flat."""
    rule = tmp_path / "rule.yml"
    rule.write_text(
        "title: whoami\nlogsource:\n  category: process_creation\n  product: windows\n"
        "detection:\n  selection:\n    Image|endswith: '\\whoami.exe'\n  condition: selection\n"
    )
    image = "C:\\Windows\\System32\\whoami.exe"
    windows = [
        {"Channel": SYSMON, "EventID": 1, "Image": image},  # process creation
        {"Channel": SYSMON, "EventID": 7, "Image": image},  # image load: another log source
        {"Channel": "Security", "EventID": 4688, "NewProcessName": image},  # process creation
    ]
    nested = tmp_path / "windows.ndjson"
    nested.write_text(
        "".join(
            json.dumps(
                {
                    "Event": {
                        "System": {k: e[k] for k in ("Channel", "EventID")},
                        "EventData": {
                            k: v for k, v in e.items() if k not in ("Channel", "EventID")
                        },
                    }
                }
            )
            + "\n"
            for e in windows
        )
    )
    flat = tmp_path / "flat.ndjson"
    flat.write_text("".join(json.dumps({"Image": image, "n": n}) + "\n" for n in range(2)))
    return rule, nested, flat


def test_process_creation_reads_sysmon_1_and_security_4688_each_event_once(rule_and_events):
    rule, windows, _ = rule_and_events
    (result,) = _run(rule, "--events", windows)
    assert [row["_row"] for row in result["rows"]] == [1, 3]


def test_without_pipeline_runs_the_rule_on_every_event(rule_and_events):
    rule, windows, _ = rule_and_events
    (result,) = _run(rule, "--events", windows, "--without-pipeline")
    assert [row["_row"] for row in result["rows"]] == [1, 2]  # 4688 has no Image field


def test_events_that_are_not_windows_events_keep_the_rule_as_written(rule_and_events):
    rule, _, flat = rule_and_events
    (result,) = _run(rule, "--events", flat)
    assert [row["_row"] for row in result["rows"]] == [1, 2]


def test_a_named_pipeline_replaces_the_default(rule_and_events):
    rule, windows, _ = rule_and_events
    (result,) = _run(rule, "--events", windows, "-p", "sysmon", "-p", "windows-logsources")
    assert [row["_row"] for row in result["rows"]] == [1]


def test_an_unknown_windows_log_source_is_an_error_naming_it(rule_and_events, tmp_path):
    _, windows, _ = rule_and_events
    rule = tmp_path / "unknown.yml"
    rule.write_text(
        "title: t\nlogsource:\n  product: windows\n  service: no-such-log\n"
        "detection:\n  selection:\n    EventID: 1\n  condition: selection\n"
    )
    result = CliRunner().invoke(main, ["run", str(rule), "--events", str(windows)])
    assert result.exit_code == 1
    assert "error[run.unknown-logsource]" in result.output
    assert "service: no-such-log" in result.output


def test_rules_as_read_keep_no_yaml_node(shared):
    """The lowered rules keep plain spans only: once read, no YAML node of the file is left."""
    folder = shared / "corpus/sigma/rules/windows/process_creation"
    rules = [r for p in sorted(folder.glob("*.yml"))[:20] for r in load_windows_rules(p)]
    gc.collect()
    assert any(isinstance(r, ir.Query) for r in rules)
    assert not any(isinstance(o, yaml.Node) for o in gc.get_objects())
