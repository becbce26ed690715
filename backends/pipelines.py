"""Each target's default Sigma processing pipelines, by the names pySigma's plugins publish.

A SIEM reads its own field names and tables, not Sigma's: Splunk's Windows add-on (Sysmon and
`source="WinEventLog:..."`), Elastic's ECS (Winlogbeat), Microsoft's tables for KQL. The mappings
live in the published pipeline packages (pySigma-pipeline-sysmon, pySigma-backend-splunk,
pySigma-backend-elasticsearch, pySigma-backend-kusto); this module only names them. SQL targets
read events as the rule names them: no pipeline by default.

KQL names alternatives (`a|b`, see `sigma_alternatives`): a rule reads the Defender XDR table
`microsoft_xdr` maps it to (DeviceProcessEvents, ...), else the Sentinel table of
`azure_monitor` (SecurityEvent for the Windows Security channel, ...), else the Sentinel ASIM
parser of `sentinel_asim` (imWebSession for proxy logs, ...).

The Splunk deploy format reads a Windows process-creation rule that names fields only Security
event 4688 has (`NewProcessName`, `TargetUserName`, ...) through pySigma's `windows-audit`
pipeline rather than `sysmon`: `deploy_pipelines/sysmon_process_fields.yml` refuses such a rule
after `sysmon`, so the alternative `sysmon|windows-audit` takes the second.

The front end runs once per distinct pipeline list: `pipeline_sets` groups the targets of one
run by the pipelines they need, so a rule converted to spl and kql is lowered twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

SYSMON_PROCESS_FIELDS = Path(__file__).parent / "deploy_pipelines" / "sysmon_process_fields.yml"

DEFAULT_PIPELINES: dict[str, tuple[str, ...]] = {
    "spl": ("sysmon", "splunk_windows"),
    "eql": ("ecs_windows",),
    "kuery": ("ecs_windows",),
    "kql": ("microsoft_xdr|azure_monitor|sentinel_asim",),
    "splunk-savedsearch": ("sysmon|windows-audit", str(SYSMON_PROCESS_FIELDS), "splunk_windows"),
}


def default_pipeline(target: str) -> list[str]:
    """The pipeline names a target uses when the user names none (empty for SQL targets)."""
    return list(DEFAULT_PIPELINES.get(target, ()))


def pipelines_for(target: str, chosen: Sequence[str], without: bool) -> tuple[str, ...]:
    """The pipelines for one target: none with `without`, else `chosen` (`-p`, in order) if
    given, else the target's default."""
    if without:
        return ()
    return tuple(chosen) if chosen else tuple(default_pipeline(target))


def pipeline_sets(
    targets: Sequence[str], chosen: Sequence[str] = (), without: bool = False
) -> dict[tuple[str, ...], list[str]]:
    """Targets grouped by the pipeline list they need, in the order the targets were given."""
    sets: dict[tuple[str, ...], list[str]] = {}
    for target in targets:
        sets.setdefault(pipelines_for(target, chosen, without), []).append(target)
    return sets
