"""ATT&CK tags resolve through pySigma's loader, fed a small STIX bundle made here."""

from __future__ import annotations

import json

import pytest

from rulec.compiler import ir
from rulec.compiler.passes.attack import AttackTag, load_attack, resolve_tags


def _ref(external_id: str) -> list[dict]:
    return [{"source_name": "mitre-attack", "external_id": external_id}]


BUNDLE = {
    "type": "bundle",
    "objects": [
        {"type": "x-mitre-collection", "x_mitre_version": "test-1"},
        {
            "type": "x-mitre-tactic",
            "x_mitre_shortname": "lateral-movement",
            "external_references": _ref("TA0008"),
        },
        {"type": "attack-pattern", "name": "Remote Services", "external_references": _ref("T1021")},
        {
            "type": "attack-pattern",
            "name": "Windows Remote Management",
            "external_references": _ref("T1021.006"),
            "kill_chain_phases": [
                {"kill_chain_name": "mitre-attack", "phase_name": "lateral-movement"}
            ],
        },
        {"type": "intrusion-set", "name": "APT29", "external_references": _ref("G0016")},
    ],
}


@pytest.fixture
def attack(tmp_path):
    source = tmp_path / "enterprise-attack.json"
    source.write_text(json.dumps(BUNDLE))
    return load_attack(source, cache_dir=tmp_path / "cache")


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        (
            "attack.t1021.006",
            AttackTag(
                "attack.t1021.006",
                "technique",
                "T1021.006",
                "Windows Remote Management",
                ("lateral-movement",),
                "Remote Services",
            ),
        ),
        (
            "attack.lateral_movement",
            AttackTag("attack.lateral_movement", "tactic", "TA0008", "lateral-movement"),
        ),
        ("attack.g0016", AttackTag("attack.g0016", "group", "G0016", "APT29")),
        ("attack.t9999", AttackTag("attack.t9999", "technique", "T9999", None, (), None)),
        ("attack.unknown_thing", AttackTag("attack.unknown_thing", "other")),
    ],
)
def test_tags_resolve_to_names(attack, tag, expected):
    assert attack.version == "test-1"
    assert resolve_tags((tag,), attack) == (expected,)


def test_non_attack_tags_are_left_out(attack):
    assert resolve_tags(("cve.2021-44228", "detection.threat_hunting"), attack) == ()


def test_missing_data_is_a_diagnostic(tmp_path):
    with pytest.raises(ir.RuleError) as raised:
        load_attack(tmp_path / "absent.json", cache_dir=tmp_path / "cache")
    assert raised.value.diagnostic.code == "attack.unavailable"
    assert "enterprise-attack.json" in raised.value.diagnostic.message
