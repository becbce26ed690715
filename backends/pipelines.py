"""Each target's default Sigma processing pipelines, by the names pySigma's plugins publish.

A SIEM reads its own field names and tables, not Sigma's: Splunk's Windows add-on (Sysmon and
`source="WinEventLog:..."`), Elastic's ECS (Winlogbeat), Microsoft's tables for KQL. The mappings
live in the published pipeline packages (pySigma-pipeline-sysmon, pySigma-backend-splunk,
pySigma-backend-elasticsearch, pySigma-backend-kusto); this module only names them. SQL targets
read events as the rule names them: no pipeline by default.

KQL names alternatives (`a|b`, see `sigma/alternatives.py`), one product after the other: a rule
reads the Defender XDR table that `microsoft_xdr` maps it to (DeviceProcessEvents, ...), or
rulec's own `defender_xdr` (process creation written with Security event 4688's fields), else a
Microsoft Sentinel table: rulec's own mappings first (`sigma_pipelines/*.yml`: SecurityEvent for
the Security log where every field is one of its documented columns, SigninLogs, AWSCloudTrail,
..., then WindowsEvent for any Windows channel, fields read from EventData, then SecurityEvent's
event 4688 for a process creation written with its fields), then `azure_monitor`'s, then
the ASIM parser of `sentinel_asim` (imWebSession for proxy logs, ...).
`product_pipelines` gives one product's list: the `sentinel` and `defender` deploy formats
convert with their own product's, so a Defender custom detection never names a Sentinel table.

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
SEPARATOR = "|"  # between alternatives, as `-p 'a|b'` names them
# rulec's own pipeline YAML files, by the name `-p` knows them by
OWN_DIR = Path(__file__).resolve().parent / "sigma_pipelines"
OWN_PIPELINES = ("defender_xdr", "sentinel", "sentinel_windows_event", "sentinel_security_event")
PRODUCT_PIPELINES: dict[str, str] = {
    "defender_xdr": "microsoft_xdr|defender_xdr",
    "sentinel": SEPARATOR.join(
        (
            "sentinel",
            "sentinel_windows_event",
            "sentinel_security_event",
            "azure_monitor",
            "sentinel_asim",
        )
    ),
}

DEFAULT_PIPELINES: dict[str, tuple[str, ...]] = {
    "spl": ("sysmon", "splunk_windows"),
    "eql": ("ecs_windows",),
    "kuery": ("ecs_windows",),
    "kql": (SEPARATOR.join(PRODUCT_PIPELINES.values()),),
    "splunk-savedsearch": ("sysmon|windows-audit", str(SYSMON_PROCESS_FIELDS), "splunk_windows"),
    # each Microsoft deploy format names only its own product's tables
    "sentinel": (PRODUCT_PIPELINES["sentinel"],),
    "defender": (PRODUCT_PIPELINES["defender_xdr"],),
}


def default_pipeline(target: str) -> list[str]:
    """The pipeline names a target uses when the user names none (empty for SQL targets)."""
    return list(DEFAULT_PIPELINES.get(target, ()))


def product_pipelines(product: str) -> tuple[str, ...]:
    """The Sigma pipelines (file paths for rulec's own) that map rules to the tables of one
    Microsoft product, `defender_xdr` or `sentinel`: what its deploy format converts with."""
    if product not in PRODUCT_PIPELINES:
        raise ValueError(f"unknown product {product!r}: expected one of {tuple(PRODUCT_PIPELINES)}")
    return located((PRODUCT_PIPELINES[product],))


def located(names: Sequence[str]) -> tuple[str, ...]:
    """`names` with each of rulec's own pipelines (alternatives too) replaced by its file."""

    def one(name: str) -> str:
        return str(OWN_DIR / f"{name}.yml") if name in OWN_PIPELINES else name

    return tuple(SEPARATOR.join(map(one, name.split(SEPARATOR))) for name in names)


def pipelines_for(target: str, chosen: Sequence[str], without: bool) -> tuple[str, ...]:
    """The pipelines for one target: none with `without`, else `chosen` (`-p`, in order) if
    given, else the target's default; rulec's own named by their files."""
    if without:
        return ()
    return located(tuple(chosen) if chosen else default_pipeline(target))


def pipeline_sets(
    targets: Sequence[str], chosen: Sequence[str] = (), without: bool = False
) -> dict[tuple[str, ...], list[str]]:
    """Targets grouped by the pipeline list they need, in the order the targets were given."""
    sets: dict[tuple[str, ...], list[str]] = {}
    for target in targets:
        sets.setdefault(pipelines_for(target, chosen, without), []).append(target)
    return sets
