"""Rule cards of the two seed rules carry every fact the seed pages show (asserted on JSON)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rulec.compiler.cards.card import build_card
from rulec.compiler.cards.render import card_json
from rulec.compiler.frontends.kql import load_kql
from rulec.compiler.rules import load_rules

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
SEED_000 = REPO / "rules" / "sigma" / "win_winrm_listening_service_reconnaissance.yml"
SCHEMA = REPO / "compiler" / "schemas" / "card.schema.json"


def _json(query) -> dict:
    return json.loads(json.dumps(card_json(build_card(query))))


@pytest.fixture(scope="module")
def card_000() -> dict:
    return _json(load_rules(SEED_000)[0])


@pytest.fixture(scope="module")
def card_003() -> dict:
    seed = SHARED / "seeds" / "003_1c460c4c04386f8e.txt"
    if not seed.is_file():
        pytest.skip(f"the seed page is absent: {seed}")
    body = re.search(r"Rule body kusto\n\n(.*?)\n\nStages and Predicates", seed.read_text(), re.S)
    return _json(load_kql(body.group(1), "winrm_plugin_lateral_movement.kql")[0])


def _rows(items: list[dict], *keys: str) -> list[tuple]:
    return [tuple(tuple(i[k]) if isinstance(i[k], list) else i[k] for k in keys) for i in items]


def test_seed_000_condition_stage_has_threshold_and_window(card_000):
    stages = card_000["sections"][0]["stages"]
    assert _rows(stages, "index", "label") == [
        (0, "condition"),
        (1, "selection"),
        (2, "not filter"),
    ]
    condition = stages[0]
    assert condition["text"] == "selection and not filter | count(Computer) > 30"
    threshold = condition["threshold"]
    assert (threshold["op"], threshold["value"], threshold["window"]) == (">", "30", "15m")
    assert threshold["measure"] == "dcount(Computer)"
    assert stages[1]["text"] == "selection:\n  NewProcessName|endswith: \\wsmprovhost.exe"
    assert stages[2]["text"] == "filter:\n  TargetUserName|endswith: '$'"


def test_seed_000_selection_exclusion_and_meta(card_000):
    assert _rows(card_000["indicators"], "field", "kind") == [("NewProcessName", "ends_with")]
    assert card_000["indicators"][0]["values"][0]["value"] == "\\wsmprovhost.exe"
    [exclusion] = card_000["exclusions"]
    assert _rows(exclusion["conditions"], "field", "kind", "values") == [
        ("TargetUserName", "ends_with", ("$",))
    ]
    meta = card_000["meta"]
    assert (meta["status"], meta["level"], meta["time_window"]) == ("experimental", "medium", "15m")
    assert meta["logsource"] == "product windows, category process_creation"
    assert meta["author"] == "mdecrevoisier"
    assert _rows(card_000["attack"], "tag", "kind") == [
        ("attack.lateral_movement", "tactic"),
        ("attack.t1021.006", "technique"),
    ]
    assert card_000["body"]["syntax"] == "yaml"
    assert "condition: selection and not filter | count(Computer) > 30" in card_000["body"]["text"]


def test_seed_003_parameters_and_let_binding(card_003):
    assert _rows(card_003["params"], "name", "default", "text") == [
        ("timeframe", "2 * 1d", "let timeframe = 2*1d;"),
        ("default_global_prevalence", "0", "let default_global_prevalence = 0;"),
        ("lookback", "30d", "let lookback = 30d;"),
    ]
    lets = {let["name"]: let for let in card_003["lets"]}
    writes = lets["PotentialWrites"]
    assert (writes["role"], writes["derived_from"]) == ("binding", ["lookback", "PotentialPlugins"])
    assert writes["text"].startswith("let PotentialWrites = (\n  DeviceFileEvents\n")
    assert writes["text"].endswith("| extend FolderPath=tolower(FolderPath)\n);")
    assert lets["PotentialPlugins"]["role"] == "source"


def test_seed_003_stages_in_order(card_003):
    source, main = card_003["sections"]
    assert (source["pipeline"], source["role"], main["role"]) == (
        "PotentialPlugins",
        "source",
        "main",
    )
    assert _rows(source["stages"] + main["stages"], "index", "op", "text") == [
        (1, "source", "DeviceImageLoadEvents"),
        (2, "where", "| where ingestion_time() >= ago(timeframe)"),
        (3, "where", '| where InitiatingProcessFileName =~ "wsmprovhost.exe"'),
        (4, "where", '| where FolderPath !startswith @"C:\\windows\\assembly\\nativeimages_"'),
        (5, "invoke", "| invoke FileProfile(SHA1, 1000)"),
        (6, "where", '| where ProfileAvailability !~ "Error"'),
        (7, "where", "| where coalesce(GlobalPrevalence, default_global_prevalence) < 100"),
        (8, "extend", "| extend FolderPath=tolower(FolderPath)"),
        (
            9,
            "join",
            "PotentialPlugins\n| join kind=inner PotentialWrites on SHA1, DeviceId, FolderPath",
        ),
    ]


def test_seed_003_exclusion_indicators_join_outputs(card_003):
    [exclusion] = card_003["exclusions"]
    assert _rows(exclusion["conditions"], "field", "kind", "values") == [
        ("FolderPath", "starts_with", ("C:\\windows\\assembly\\nativeimages_",))
    ]
    indicators = [
        (i["field"], i["kind"], tuple(v["value"] for v in i["values"]), tuple(i["transforms"]))
        for i in card_003["indicators"]
    ]
    assert indicators == [
        ("ActionType", "in", ("FileCreated", "FileModified", "FileRenamed"), ()),
        ("GlobalPrevalence", "lt", ("100",), ("coalesce_default:0",)),
        ("InitiatingProcessFileName", "eq", ("wsmprovhost.exe",), ()),
        ("ProfileAvailability", "ne", ("Error",), ()),
    ]
    [join] = card_003["joins"]
    assert (join["kind"], join["left"], join["right"]) == (
        "inner",
        "PotentialPlugins",
        "PotentialWrites",
    )
    assert join["keys"] == [
        ["SHA1", "SHA1"],
        ["DeviceId", "DeviceId"],
        ["FolderPath", "FolderPath"],
    ]
    assert _rows(card_003["outputs"], "name", "source", "expr") == [
        ("FolderPath", "extend", "lower(FolderPath)")
    ]
    assert _rows(card_003["events"], "kind", "name") == [
        ("table", "DeviceImageLoadEvents"),
        ("table", "DeviceFileEvents"),
    ]


def test_cards_validate_against_the_schema(card_000, card_003):
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema validates the card schema")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    for card in (card_000, card_003):
        jsonschema.validate(card, schema)
    broken = dict(card_000, indicators=[{"field": "x"}])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
