"""The data a Splunk search reads: the index (site-specific, through a macro) and the sourcetype
or source that the Splunk add-on collecting each Sigma log source documents.

Every search of the `splunk-savedsearch` format begins with `` `rulec_index(KEY)` `` (KEY: the
log source's product, else its category or service; a KQL rule's table), then the add-on's
sourcetype or source from `ADDONS`. Splunk expands the macro from `macros.conf`; rulec's
documented default is `index=*` (every index the role may search), and a site names its own
indexes in the macro's definition (`index=$key$`, or a `case()` over `$key$`).

Windows event logs: the Splunk Add-on for Microsoft Windows (and for Sysmon) names each event's
source after its channel, `WinEventLog:<channel>` in classic rendering and
`XmlWinEventLog:<channel>` when the input renders XML (`renderXml = true`, the sourcetype then
being `XmlWinEventLog`). `with_xml_sources` makes the channel test that pySigma's
`splunk_windows` pipeline writes (`source="WinEventLog:Security"`) accept both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from rulec.backends.spl import SplBackend
from rulec.compiler import ir

INDEX_MACRO = "rulec_index"
CLASSIC, XML = "WinEventLog:", "XmlWinEventLog:"


@dataclass(frozen=True)
class Addon:
    """What a Splunk add-on documents for one Sigma log source (None matches any value)."""

    product: str | None
    category: str | None
    service: str | None
    field: str  # sourcetype or source
    values: tuple[str, ...]
    addon: str  # the add-on whose documentation lists the sourcetype or source


def _windows(channel: str) -> tuple[str, ...]:
    return (CLASSIC + channel, XML + channel)


WINDOWS = "Splunk Add-on for Microsoft Windows (source types: WinEventLog, XmlWinEventLog)"
SYSMON_LINUX = "Splunk Add-on for Sysmon for Linux"
UNIX = "Splunk Add-on for Unix and Linux"
CLOUD = "Splunk Add-on for Microsoft Cloud Services"
ZEEK = "Splunk Add-on for Zeek aka Bro (source types: bro:<log>:json)"
# (category, service, channel): Windows channels pySigma's splunk_windows does not name, from
# Sigma's log source definitions: script block (4104) and module (4103) logging are in the
# PowerShell/Operational channel, the classic engine events in "Windows PowerShell"
WINDOWS_CHANNELS = (
    ("ps_script", None, "Microsoft-Windows-PowerShell/Operational"),
    ("ps_module", None, "Microsoft-Windows-PowerShell/Operational"),
    ("ps_classic_start", None, "Windows PowerShell"),
    ("ps_classic_provider_start", None, "Windows PowerShell"),
    ("ps_classic_script", None, "Windows PowerShell"),
    (None, "iis-configuration", "Microsoft-IIS-Configuration/Operational"),
)
ADDONS: tuple[Addon, ...] = (
    *(
        Addon("windows", category, service, "source", _windows(channel), WINDOWS)
        for category, service, channel in WINDOWS_CHANNELS
    ),
    *(
        Addon("linux", category, None, "sourcetype", ("sysmon:linux",), SYSMON_LINUX)
        for category in ("process_creation", "file_event", "network_connection")
    ),
    Addon("linux", None, "auditd", "sourcetype", ("linux:audit",), UNIX),
    Addon("linux", None, "sshd", "sourcetype", ("linux_secure",), UNIX),
    Addon("linux", None, "syslog", "sourcetype", ("syslog",), UNIX),
    Addon("aws", None, "cloudtrail", "sourcetype", ("aws:cloudtrail",), "Splunk Add-on for AWS"),
    *(
        Addon("azure", None, service, "sourcetype", ("azure:monitor:aad",), CLOUD)
        for service in ("signinlogs", "auditlogs", "riskdetection", "pim")
    ),
    Addon("azure", None, "activitylogs", "sourcetype", ("azure:monitor:activity",), CLOUD),
    Addon(
        "okta",
        None,
        "okta",
        "sourcetype",
        ("OktaIM2:log",),
        "Splunk Add-on for Okta Identity Cloud",
    ),
    Addon(
        "gcp",
        None,
        "gcp.audit",
        "sourcetype",
        ("google:gcp:pubsub:message",),
        "Splunk Add-on for Google Cloud Platform",
    ),
    Addon(
        "github",
        None,
        "audit",
        "sourcetype",
        ("github:enterprise:audit",),
        "Splunk Add-on for GitHub",
    ),
    Addon(
        "m365",
        None,
        None,
        "sourcetype",
        ("o365:management:activity",),
        "Splunk Add-on for Microsoft Office 365",
    ),
    *(
        Addon("zeek", None, log, "sourcetype", (f"bro:{log}:json",), ZEEK)
        for log in ("dns", "http", "smb_files", "dce_rpc", "kerberos", "rdp", "x509")
    ),
)


def addon_for(source: ir.LogSource) -> Addon | None:
    """The first add-on entry matching `source`."""
    for entry in ADDONS:
        wanted = ((entry.product, source.product), (entry.category, source.category))
        if all(want is None or want == got for want, got in wanted) and (
            entry.service is None or entry.service == source.service
        ):
            return entry
    return None


def index_key(source: ir.Source) -> str:
    """The macro argument naming a source: a word of lower-case letters, digits and `_`."""
    if isinstance(source, ir.LogSource):
        name = source.product or source.category or source.service or "any"
    else:
        name = getattr(source, "name", "any")
    return re.sub(r"[^a-z0-9_]", "_", name.lower()) or "any"


class SplunkSearchBackend(SplBackend):
    """SPL whose every search begins with the data it reads (`SPL`'s other output unchanged)."""

    def source(self, source: ir.Source) -> str:
        head = super().source(source)
        if isinstance(source, ir.LogSource) and (entry := addon_for(source)):
            match = ir.Match(ir.FieldRef(entry.field), ir.MatchKind.EQ, entry.values, False)
            head = self.search.render(match).text
        return " ".join(t for t in (f"`{INDEX_MACRO}({index_key(source)})`", head) if t)


# --------------------------------------------------------------------------- Windows channels


def with_xml_sources(query: ir.Query) -> ir.Query:
    """`query` with each `source="WinEventLog:<channel>"` test also accepting the XML rendering."""
    lets = tuple(
        replace(let, value=_pipeline(let.value)) if isinstance(let.value, ir.Pipeline) else let
        for let in query.lets
    )
    return replace(query, pipeline=_pipeline(query.pipeline), lets=lets)


def _pipeline(pipeline: ir.Pipeline) -> ir.Pipeline:
    stages = tuple(
        replace(s, predicate=_sources(s.predicate)) if isinstance(s, ir.Filter) else s
        for s in pipeline.stages
    )
    return replace(pipeline, stages=stages)


def _sources(node: ir.Expr) -> ir.Expr:
    if isinstance(node, ir.And | ir.Or):
        return replace(node, operands=tuple(map(_sources, node.operands)))
    if isinstance(node, ir.Not):
        return replace(node, operand=_sources(node.operand))
    if (
        isinstance(node, ir.Match)
        and node.field == ir.FieldRef("source")
        and node.kind is ir.MatchKind.EQ
        and not node.transforms
        and node.values
        and all(isinstance(v, str) and v.startswith(CLASSIC) for v in node.values)
    ):
        both = tuple(x for v in node.values for x in _windows(v[len(CLASSIC) :]))
        return replace(node, values=both)
    return node
