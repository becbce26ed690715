"""ATT&CK tags resolve to names: offline from the packaged data, or from a STIX bundle given
through pySigma's loader (a small bundle made here)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from rulec.compiler import ir
from rulec.compiler.cards.attack import AttackTag, load_attack, packaged_attack, resolve_tags
from rulec.compiler.cli.cards import explain

SEED_000 = (
    Path(__file__).resolve().parents[1]
    / "rules"
    / "sigma"
    / "win_winrm_listening_service_reconnaissance.yml"
)


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


@pytest.fixture
def offline(monkeypatch):
    """No network: every socket connection or name lookup raises; the packaged data is reread."""

    def refuse(*args, **kwargs):
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    packaged_attack.cache_clear()
    yield
    packaged_attack.cache_clear()


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
            AttackTag("attack.lateral_movement", "tactic", "TA0008", "Lateral Movement"),
        ),
        (
            "attack.credential_access",
            AttackTag("attack.credential_access", "tactic", "TA0006", "Credential Access"),
        ),
        ("attack.s0002", AttackTag("attack.s0002", "software", "S0002", "Mimikatz")),
        ("attack.g0016", AttackTag("attack.g0016", "group", "G0016", "APT29")),
        ("attack.not_a_tactic", AttackTag("attack.not_a_tactic", "other")),
    ],
)
def test_packaged_data_names_tags_offline(offline, tag, expected):
    with pytest.raises(OSError):
        socket.create_connection(("example.org", 443))
    assert resolve_tags((tag,), load_attack()) == (expected,)


def test_explain_names_the_seed_tags_offline(offline):
    result = CliRunner().invoke(explain, [str(SEED_000), "--format", "json"])
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)
    assert card["attack_note"] is None
    names = [(t["tag"], t["id"], t["name"]) for t in card["attack"]]
    assert names == [
        ("attack.lateral_movement", "TA0008", "Lateral Movement"),
        ("attack.t1021.006", "T1021.006", "Windows Remote Management"),
    ]
