"""MITRE ATT&CK tags (`attack.t1021.006`, `attack.lateral_movement`) resolved to names.

The names come from pySigma's ATT&CK loader (`sigma.data.mitre_attack`, the same API on pySigma
1.5 and 2.0): it reads MITRE's enterprise STIX bundle from a URL or a local file and caches it on
disk. Without network access, point it at a local copy of `enterprise-attack.json`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rulec.compiler import ir

TECHNIQUE = re.compile(r"t\d{4}(\.\d{3})?")
GROUP = re.compile(r"g\d{4}")
SOFTWARE = re.compile(r"s\d{4}")


@dataclass(frozen=True)
class AttackData:
    """The parts of ATT&CK a card names: tactics, techniques, groups and software by id."""

    version: str
    tactics: Mapping[str, str]  # TA0008 -> lateral-movement
    techniques: Mapping[str, str]  # T1021.006 -> Windows Remote Management
    technique_tactics: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    groups: Mapping[str, str] = field(default_factory=dict)
    software: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AttackTag:
    """One `attack.*` tag: its kind (tactic, technique, group, software), id and name."""

    tag: str
    kind: str
    id: str | None = None
    name: str | None = None
    tactics: tuple[str, ...] = ()
    parent: str | None = None  # a sub-technique's parent technique name


def load_attack(source: str | Path | None = None, cache_dir: str | Path | None = None):
    """ATT&CK data through pySigma (from `source`, a file or URL, when given).

    Raises `ir.RuleError` (`attack.unavailable`) when the data cannot be read.
    """
    from sigma.data import mitre_attack

    if cache_dir is not None:
        mitre_attack.set_cache_dir(str(cache_dir))
    if source is not None:
        mitre_attack.set_url(str(source))
    try:
        return AttackData(
            version=str(mitre_attack.mitre_attack_version),
            tactics=dict(mitre_attack.mitre_attack_tactics),
            techniques=dict(mitre_attack.mitre_attack_techniques),
            technique_tactics={
                k: tuple(v) for k, v in mitre_attack.mitre_attack_techniques_tactics_mapping.items()
            },
            groups=dict(mitre_attack.mitre_attack_intrusion_sets),
            software=dict(mitre_attack.mitre_attack_software),
        )
    except (RuntimeError, AttributeError) as error:
        message = (
            f"MITRE ATT&CK data could not be loaded ({error}); expected a reachable URL or a "
            "local enterprise-attack.json (rulec explain --attack-data FILE)"
        )
        diagnostic = ir.Diagnostic("attack.unavailable", message, severity="warning")
        raise ir.RuleError(diagnostic) from None


def resolve_tags(tags: tuple[str, ...], data: AttackData | None) -> tuple[AttackTag, ...]:
    """The `attack.*` tags of a rule, named from `data` where it knows them."""
    return tuple(_resolve(tag, data) for tag in tags if tag.lower().startswith("attack."))


def _resolve(tag: str, data: AttackData | None) -> AttackTag:
    name = tag.split(".", 1)[1].lower()
    if TECHNIQUE.fullmatch(name):
        return _technique(tag, name.upper(), data)
    if GROUP.fullmatch(name) or SOFTWARE.fullmatch(name):
        kind = "group" if name.startswith("g") else "software"
        table = (data.groups if kind == "group" else data.software) if data else {}
        return AttackTag(tag, kind, name.upper(), table.get(name.upper()))
    shortname = name.replace("_", "-")
    ids = {short: tid for tid, short in (data.tactics.items() if data else ())}
    if shortname in ids or data is None:
        return AttackTag(tag, "tactic", ids.get(shortname), shortname)
    return AttackTag(tag, "other")


def _technique(tag: str, tid: str, data: AttackData | None) -> AttackTag:
    if data is None:
        return AttackTag(tag, "technique", tid)
    parent = data.techniques.get(tid.split(".")[0]) if "." in tid else None
    return AttackTag(
        tag,
        "technique",
        tid,
        data.techniques.get(tid),
        data.technique_tactics.get(tid, ()),
        parent,
    )
