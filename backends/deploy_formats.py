"""Each deploy format written from one `Deployment`: a value from the rule is only ever a value.

JSON and YAML are written by their serialisers from dictionaries, so no text of a rule can open
or close a structure. A Splunk `.conf` value is written by `conf_value`, and a stanza name by
`conf_stanza`.
"""

from __future__ import annotations

import json
from datetime import timedelta

import yaml

from rulec.backends import schemas
from rulec.backends.deploy_model import Deployment, Tactic
from rulec.backends.kuery import Threshold, duration

ELASTIC_RISK = {"informational": 21, "low": 21, "medium": 47, "high": 73, "critical": 99}
ELASTIC_SEVERITY = {"informational": "low", "critical": "critical"}
SENTINEL_SEVERITY = {"informational": "Informational", "critical": "High"}
DEFENDER_SEVERITY = {"critical": "high"}
SPLUNK_SEVERITY = {"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
DEFENDER_PERIODS = (
    (timedelta(hours=1), "1H"),
    (timedelta(hours=3), "3H"),
    (timedelta(hours=12), "12H"),
)
SENTINEL_RANGE = (timedelta(minutes=5), timedelta(days=14))
SENTINEL_LIMITS = {"name": 256, "description": 5000, "query": 10000}  # characters
ATTACK = "https://attack.mitre.org"
# ATT&CK tactic id -> the name Microsoft Sentinel and Defender XDR accept (Azure-Sentinel's
# AttackTactic enum): by id, so TA0005 is DefenseEvasion whether a rule tags it `defense-evasion`
# or, as ATT&CK renamed it, `stealth`; a tactic missing here (TA0112 Defense Impairment) has none
MICROSOFT_TACTICS = {
    "TA0043": "Reconnaissance",
    "TA0042": "ResourceDevelopment",
    "TA0001": "InitialAccess",
    "TA0002": "Execution",
    "TA0003": "Persistence",
    "TA0004": "PrivilegeEscalation",
    "TA0005": "DefenseEvasion",
    "TA0006": "CredentialAccess",
    "TA0007": "Discovery",
    "TA0008": "LateralMovement",
    "TA0009": "Collection",
    "TA0010": "Exfiltration",
    "TA0011": "CommandAndControl",
    "TA0040": "Impact",
}
LINE_BREAKS = {ord(c): f"\\u{ord(c):04x}" for c in "\x85\u2028\u2029"}  # json leaves them raw
# column -> (Sentinel entity type, identifier): the columns Sentinel maps to entities
SENTINEL_ENTITIES = {
    "Computer": ("Host", "HostName"),
    "DeviceName": ("Host", "HostName"),
    "HostName": ("Host", "HostName"),
    "TargetUserName": ("Account", "Name"),
    "SubjectUserName": ("Account", "Name"),
    "AccountName": ("Account", "Name"),
    "UserPrincipalName": ("Account", "FullName"),
    "AccountUpn": ("Account", "FullName"),
    "TargetUserSid": ("Account", "Sid"),
    "AccountSid": ("Account", "Sid"),
    "IpAddress": ("IP", "Address"),
    "IPAddress": ("IP", "Address"),
    "RemoteIP": ("IP", "Address"),
    "SourceIP": ("IP", "Address"),
    "CommandLine": ("Process", "CommandLine"),
    "ProcessCommandLine": ("Process", "CommandLine"),
    "NewProcessId": ("Process", "ProcessId"),
    "FileName": ("File", "Name"),
    "RegistryKey": ("RegistryKey", "Key"),
    "RemoteUrl": ("URL", "Url"),
}
# Graph's impacted-asset identifiers: a query's output column, spelled in lower camel case
DEFENDER_DEVICE = ("deviceId", "deviceName", "remoteDeviceName", "targetDeviceName")
DEFENDER_USER = (
    "accountObjectId",
    "accountSid",
    "accountUpn",
    "accountName",
    "accountDomain",
    "initiatingProcessAccountUpn",
    "initiatingAccountSid",
    "initiatingAccountName",
    "requestAccountSid",
    "requestAccountName",
    "targetAccountUpn",
)
DEFENDER_REQUIRED = ("Timestamp", "ReportId")
ASSET = "#microsoft.graph.security.impacted{}Asset"


# --------------------------------------------------------------------------- Elastic


def elastic(rule: Deployment, threshold: Threshold | None) -> str:
    """A Kibana detection rule (one line of NDJSON): EQL, or a kuery threshold rule."""
    every = threshold.window if threshold else rule.every
    document: dict = {
        "rule_id": rule.id,
        "name": rule.title,
        "description": rule.full_description or rule.title,
        "author": list(rule.author) or ["unknown"],
        "type": "threshold" if threshold else "eql",
        "language": "kuery" if threshold else "eql",
        "query": rule.query,
        "index": ["logs-*"],
        "risk_score": ELASTIC_RISK[rule.level],
        "severity": ELASTIC_SEVERITY.get(rule.level, rule.level),
        "interval": duration(every),
        "from": f"now-{duration(every)}",
        "enabled": False,
        "tags": list(rule.all_tags),
        "references": list(rule.references),
        "false_positives": list(rule.falsepositives),
        "threat": [elastic_threat(tactic) for tactic in rule.tactics],
        "version": 1,
    }
    if threshold:
        document["threshold"] = threshold.spec
    return one_line(json.dumps(document, ensure_ascii=False)) + "\n"


def one_line(text: str) -> str:
    """JSON text with the characters some readers take for a line break escaped (NDJSON)."""
    return text.translate(LINE_BREAKS)


def elastic_threat(tactic: Tactic) -> dict:
    """One tactic with its techniques, each sub-technique under its technique."""
    techniques: dict[str, dict] = {}
    for technique in tactic.techniques:
        base = technique.id.split(".")[0]
        entry = techniques.setdefault(
            base,
            {
                "id": base,
                "name": technique.parent or technique.name,
                "reference": f"{ATTACK}/techniques/{base}/",
            },
        )
        if technique.parent:
            sub = technique.id.split(".")[1]
            entry.setdefault("subtechnique", []).append(
                {
                    "id": technique.id,
                    "name": technique.name,
                    "reference": f"{ATTACK}/techniques/{base}/{sub}/",
                }
            )
    return {
        "framework": "MITRE ATT&CK",
        "tactic": {
            "id": tactic.id,
            "name": tactic.name,
            "reference": f"{ATTACK}/tactics/{tactic.id}/",
        },
        "technique": list(techniques.values()),
    }


# --------------------------------------------------------------------------- Sentinel


def microsoft_tactics(rule: Deployment) -> list[str]:
    """The rule's tactics as Sentinel and Defender XDR name them, each once."""
    return list(
        dict.fromkeys(MICROSOFT_TACTICS[t.id] for t in rule.tactics if t.id in MICROSOFT_TACTICS)
    )


class _Literal(str):
    """A string YAML writes as a literal block (`|`)."""


def _represent(dumper: yaml.SafeDumper, value: _Literal):
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Literal, _represent)


def sentinel(rule: Deployment) -> str:
    """A Microsoft Sentinel scheduled analytics rule (YAML, as Azure-Sentinel keeps them)."""
    if not rule.tables:
        raise rule.refuse("sentinel", "the rule's log source has no Log Analytics table")
    if len(rule.query) > SENTINEL_LIMITS["query"]:
        limit = SENTINEL_LIMITS["query"]
        raise rule.refuse(
            "sentinel", f"the query has {len(rule.query)} characters (at most {limit})"
        )
    low, high = SENTINEL_RANGE
    every = timedelta(minutes=-(-int(rule.every.total_seconds()) // 60))  # whole minutes
    frequency = min(max(every, low), high)
    period = min(max(every * 2 if rule.window else every, frequency), high)
    document: dict = {
        "id": rule.id,
        "name": shortened(rule.title, SENTINEL_LIMITS["name"]),
        "description": shortened(
            rule.full_description or rule.title, SENTINEL_LIMITS["description"]
        ),
        "severity": SENTINEL_SEVERITY.get(rule.level, rule.level.title()),
        "requiredDataConnectors": [],
        "queryFrequency": duration(frequency),
        "queryPeriod": duration(period),
        "triggerOperator": "gt",
        "triggerThreshold": 0,
        "tactics": microsoft_tactics(rule),
        "relevantTechniques": [t.id for t in rule.techniques],
        "query": _Literal(rule.query) if "\n" in rule.query else rule.query,
    }
    entities = sentinel_entities(rule.outputs or ())
    if entities:
        document["entityMappings"] = entities
    document.update(tags=list(rule.all_tags), kind="Scheduled", version="1.0.0")
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=2**31 - 1)


def shortened(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sentinel_entities(columns: tuple[str, ...]) -> list[dict]:
    """Entity mappings for the output columns Sentinel knows: one per entity type, each
    identifier once (Sentinel takes at most 5 entities of at most 3 identifiers)."""
    entities: dict[str, dict[str, str]] = {}
    for column in columns:
        if column in SENTINEL_ENTITIES:
            entity, identifier = SENTINEL_ENTITIES[column]
            identifiers = entities.setdefault(entity, {})
            if identifier not in identifiers and len(identifiers) < 3:
                identifiers[identifier] = column
    return [
        {
            "entityType": entity,
            "fieldMappings": [{"identifier": i, "columnName": c} for i, c in identifiers.items()],
        }
        for entity, identifiers in list(entities.items())[:5]
    ]


# --------------------------------------------------------------------------- Defender XDR


def defender(rule: Deployment) -> str:
    """A Defender XDR custom detection: the body of Graph's `POST detectionRules` (one JSON
    object; a stream of several is a JSON array, see `stream`)."""
    known = schemas.known_tables("defender_xdr")
    other = [f"the table {t}" for t in rule.tables if t not in known]
    if other or not rule.tables:
        where = other[0] if other else "the rule's log source"
        raise rule.refuse("defender", f"{where} is not a Defender XDR advanced hunting table")
    columns = rule.outputs or ()
    missing = [c for c in DEFENDER_REQUIRED if c not in columns]
    assets = defender_assets(columns)
    if missing or not assets:
        needed = missing + ([] if assets else ["a device or account column"])
        detail = f"a custom detection's results need {', '.join(needed)}"
        raise rule.refuse("defender", f"{detail}; the query outputs {', '.join(columns) or '?'}")
    period = next((p for limit, p in DEFENDER_PERIODS if rule.every <= limit), "24H")
    template = {
        "title": rule.title,
        "description": rule.full_description or rule.title,
        "severity": DEFENDER_SEVERITY.get(rule.level, rule.level),
        "category": next(iter(microsoft_tactics(rule)), "SuspiciousActivity"),
        "recommendedActions": None,
        "mitreTechniques": [t.id for t in rule.techniques],
        "impactedAssets": assets,
    }
    document = {
        "displayName": rule.title,
        "isEnabled": True,
        "queryCondition": {"queryText": rule.query},
        "schedule": {"period": period},
        "detectionAction": {"alertTemplate": template, "responseActions": []},
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def defender_assets(columns: tuple[str, ...]) -> list[dict]:
    assets = []
    for column in columns:
        identifier = column[:1].lower() + column[1:]
        for kind, known in (("Device", DEFENDER_DEVICE), ("User", DEFENDER_USER)):
            if identifier in known:
                assets.append({"@odata.type": ASSET.format(kind), "identifier": identifier})
    return assets


# --------------------------------------------------------------------------- Splunk


def splunk(rule: Deployment) -> str:
    """A `savedsearches.conf` stanza: a scheduled alert, and a Splunk ES correlation search
    carrying its ATT&CK annotations."""
    annotations = {
        "mitre_attack": [t.id for t in rule.tactics] + [t.id for t in rule.techniques],
    }
    if rule.approximations:
        annotations["approximations"] = [a.name for a in rule.approximations]
    lines = {
        "action.correlationsearch.enabled": "1",
        "action.correlationsearch.label": rule.title,
        "action.correlationsearch.annotations": json.dumps(annotations),
        "description": rule.full_description,
        "search": rule.query,
        "enableSched": "1",
        "cron_schedule": cron(rule.every),
        "dispatch.earliest_time": f"-{duration(rule.every)}",
        "dispatch.latest_time": "now",
        "counttype": "number of events",
        "relation": "greater than",
        "quantity": "0",
        "alert.track": "1",
        "alert.severity": str(SPLUNK_SEVERITY[rule.level]),
        "alert.suppress": "1" if rule.window else "0",
    }
    if rule.window:
        lines["alert.suppress.period"] = duration(rule.window)
    if "\r" in rule.query:
        raise rule.refuse(
            "splunk-savedsearch", "a .conf value cannot hold the query's carriage return"
        )
    body = "".join(f"{key} = {conf_value(value)}\n" for key, value in lines.items())
    return f"[{conf_stanza(rule.title)}]\n{body}"


def cron(every: timedelta) -> str:
    """A schedule that runs at least once per `every` (an hour: `0 * * * *`): no gap between
    two runs is longer than the time each looks back."""
    minutes = max(1, int(every.total_seconds()) // 60)
    if minutes < 60:
        return f"*/{minutes} * * * *"
    hours = minutes // 60
    if hours < 24:
        return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    return "0 0 * * *"


def conf_value(text: str) -> str:
    """A `.conf` value. A line break (CR, LF or both: written LF) becomes a line continuation,
    a line ending in a backslash, which Splunk's reader drops, keeping the line break (so a
    value line that itself ends in a backslash keeps it). The value's last line must not
    continue: when it ends in a backslash a space follows (values are read without the space
    around them)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[-1].endswith("\\"):
        lines[-1] += " "
    return "\\\n".join(lines)


def conf_stanza(text: str) -> str:
    """A stanza name: one line, with `[`/`]` written as `(`/`)` (the title itself is the
    `action.correlationsearch.label` value)."""
    return " ".join(text.replace("[", "(").replace("]", ")").split()) or "rule"
