"""Deploy artefacts checked against each product's published schema, and read back as values.

Schemas (read from ../shared/schemas/deploy, see its SOURCE file for origin and licence):
Elastic's detection-rule API schemas (elastic/detection-rules, one per rule type), Sentinel's
scheduled analytics rule as Azure-Sentinel's template validation checks it, and the Microsoft
Graph custom detection rule body for Defender XDR. Splunk publishes no machine-readable schema:
`SPLUNK_SPEC` transcribes the keys rulec writes from `savedsearches.conf.spec` (Splunk Enterprise
9.x admin manual) and Splunk ES's `action.correlationsearch.*` keys, with the value each allows;
`read_conf` reads a `.conf` file as Splunk's reader does (a line ending in a backslash continues
its value on the next line, the newline kept).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from functools import cache
from pathlib import Path

import yaml

TIMESPAN = re.compile(r"(\d+)([mhd])")
CRON_FIELD = re.compile(r"(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*")
RELATIVE_TIME = re.compile(r"now|-?\d+[smhdwqy](@[smhdwqy])?|0|@[smhdwqy]")
BOOLEAN = re.compile(r"[01]|true|false")


def _json_object(value: str) -> bool:
    try:
        return isinstance(json.loads(value), dict)
    except ValueError:
        return False


SPLUNK_SPEC = {
    "description": lambda v: True,
    "search": lambda v: bool(v.strip()),
    "enableSched": BOOLEAN.fullmatch,
    "cron_schedule": lambda v: len(v.split()) == 5 and all(map(CRON_FIELD.fullmatch, v.split())),
    "dispatch.earliest_time": RELATIVE_TIME.fullmatch,
    "dispatch.latest_time": RELATIVE_TIME.fullmatch,
    "counttype": re.compile(r"number of events|number of hosts|number of sources|always").fullmatch,
    "relation": re.compile(
        r"greater than|less than|equal to|not equal to|drops by|rises by"
    ).fullmatch,
    "quantity": re.compile(r"\d+").fullmatch,
    "alert.track": BOOLEAN.fullmatch,
    "alert.severity": re.compile(r"[1-6]").fullmatch,
    "alert.suppress": BOOLEAN.fullmatch,
    "alert.suppress.period": re.compile(r"\d+[smhd]").fullmatch,
    "alert.suppress.fields": lambda v: bool(v.strip()),
    "action.correlationsearch.enabled": BOOLEAN.fullmatch,
    "action.correlationsearch.label": lambda v: bool(v.strip()),
    "action.correlationsearch.annotations": _json_object,
}


def read_conf(text: str) -> list[tuple[str, dict[str, str]]]:
    """Stanzas of a `.conf` text: (name, key -> value), in order; raises ValueError on a line
    that is neither a stanza, a `key = value` pair, a comment nor blank."""
    stanzas: list[tuple[str, dict[str, str]]] = []
    lines = iter(text.split("\n"))
    for line in lines:
        while line.endswith("\\"):
            line = line[:-1] + "\n" + next(lines, "")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("[") and line.rstrip().endswith("]"):
            stanzas.append((line.strip()[1:-1], {}))
            continue
        key, equals, value = line.partition("=")
        if not equals or not stanzas:
            raise ValueError(f"not a stanza or a key = value line: {line!r}")
        stanzas[-1][1][key.strip()] = value.strip(" \t")
    return stanzas


@cache
def schema(shared: Path, name: str) -> dict:
    return json.loads((shared / "schemas" / "deploy" / name).read_text(encoding="utf-8"))


def timespan(text: str) -> timedelta:
    number, unit = TIMESPAN.fullmatch(text.strip()).groups()  # type: ignore[union-attr]
    return timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]: int(number)})


def parse(format: str, text: str) -> list:
    """The documents of one artefact text (a stream may hold several rules)."""
    if format.startswith("elastic"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if format == "defender":
        document = json.loads(text)
        return document if isinstance(document, list) else [document]
    if format == "sentinel":
        return [d for d in yaml.safe_load_all(text) if d is not None]
    return read_conf(text)


def problems(shared: Path, format: str, document) -> list[str]:
    """What the product's schema rejects in one parsed rule (empty: it validates)."""
    import jsonschema

    if format == "splunk-savedsearch":
        _, keys = document
        return [
            f"{key} = {value!r}"
            for key, value in keys.items()
            if key not in SPLUNK_SPEC or not SPLUNK_SPEC[key](value)
        ] + [f"missing {key}" for key in ("search", "cron_schedule") if key not in keys]
    if format.startswith("elastic"):
        name = f"elastic/9.5.{'threshold' if format == 'elastic-threshold' else 'eql'}.json"
    else:
        name = {
            "sentinel": "sentinel/scheduled-analytics-rule.schema.json",
            "defender": "defender/detection-rule.schema.json",
        }[format]
    validator = jsonschema.validators.validator_for(schema(shared, name))(schema(shared, name))
    found = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(document)]
    if format == "sentinel" and not found:
        frequency, period = timespan(document["queryFrequency"]), timespan(document["queryPeriod"])
        low, high = timedelta(minutes=5), timedelta(days=14)
        if not (low <= frequency <= high and low <= period <= high and period >= frequency):
            found.append(f"queryFrequency {frequency} / queryPeriod {period} out of range")
    return found


def tactics(format: str, document) -> list[str]:
    """The ATT&CK tactics an artefact names."""
    if format.startswith("elastic"):
        return [t["tactic"]["id"] for t in document.get("threat", [])]
    if format == "sentinel":
        return list(document.get("tactics") or [])
    if format == "defender":
        category = document["detectionAction"]["alertTemplate"]["category"]
        return [] if category == "SuspiciousActivity" else [category]
    annotations = json.loads(document[1].get("action.correlationsearch.annotations", "{}"))
    return [t for t in annotations.get("mitre_attack", []) if t.startswith("TA")]
