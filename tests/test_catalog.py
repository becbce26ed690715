"""The catalog counts each indicator once per rule, per language, across Sigma and KQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rulec.compiler import ir
from rulec.compiler.cards.catalog import catalog_from_json, catalog_json, index_rules
from rulec.compiler.cli.cards import catalog, explain

SIGMA = """title: {title}
logsource: {{product: windows, category: process_creation}}
detection:
  selection:
    Image|endswith: '{image}'
  filter:
    User: SYSTEM
  condition: selection and not filter
"""
RULES = {
    "a.yml": SIGMA.format(title="A", image="\\WSMPROVHOST.EXE"),
    "b.yml": SIGMA.format(title="B", image="\\wsmprovhost.exe"),
    "c.kql": 'DeviceProcessEvents\n| where Image endswith "wsmprovhost.exe"\n',
    "d.kql": 'DeviceProcessEvents\n| where Image endswith_cs "wsmprovhost.exe"'
    ' and Image endswith "wsmprovhost.exe"\n',
}


@pytest.fixture
def corpus(tmp_path) -> Path:
    for name, text in RULES.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "broken.kql").write_text("DeviceProcessEvents | where (\n")
    return tmp_path


def test_counts_per_language_after_normalisation(corpus):
    found = index_rules([corpus])
    assert (found.files, found.rules, found.failed) == (5, 4, 1)
    # endswith: one leading backslash dropped, case folded; the KQL _cs variant stays apart.
    assert found.lookup(("image", "ends_with", "wsmprovhost.exe")).by_language == {
        "kusto": 2,
        "sigma": 2,
    }
    assert found.lookup(("image", "ends_with", "wsmprovhost.exe")).total == 4
    # exclusions are not indicators
    assert found.lookup(("user", "eq", "system")) is None


def test_json_index_round_trips(corpus):
    data = json.loads(json.dumps(catalog_json(index_rules([corpus]))))
    top = data["indicators"][0]
    assert (top["field"], top["kind"], top["rules"]) == ("Image", "ends_with", 4)
    again = catalog_from_json(data)
    assert again.lookup(tuple(top["key"])).total == 4
    with pytest.raises(ir.RuleError):
        catalog_from_json({"catalog_version": 99})


def test_explain_puts_corpus_counts_on_the_card(corpus, tmp_path):
    index = tmp_path / "index.json"
    runner = CliRunner()
    result = runner.invoke(catalog, [str(corpus), "--format", "json", "-q", "-o", str(index)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        explain, [str(corpus / "a.yml"), "--catalog", str(index), "--format", "md"]
    )
    assert result.exit_code == 0, result.output
    assert "`\\WSMPROVHOST.EXE` corpus 4 (kusto 2, sigma 2)" in result.output
    card = json.loads(
        runner.invoke(
            explain, [str(corpus / "c.kql"), "--catalog", str(index), "--format", "json"]
        ).output
    )
    [indicator] = card["indicators"]
    assert indicator["values"][0]["corpus"] == {"total": 4, "by_language": {"kusto": 2, "sigma": 2}}


def test_catalog_markdown_lists_the_most_used(corpus):
    result = CliRunner().invoke(catalog, [str(corpus), "-q", "--top", "1"])
    assert result.exit_code == 0
    assert "4 rules read from 5 files (1 could not be read)" in result.output
    assert "| 4 | kusto 2, sigma 2 | Image | ends_with | `\\WSMPROVHOST.EXE` |" in result.output


def test_bad_index_is_bad_usage(tmp_path):
    index = tmp_path / "index.json"
    index.write_text("{}")
    rule = tmp_path / "r.kql"
    rule.write_text("T | where A == 1\n")
    result = CliRunner().invoke(explain, [str(rule), "--catalog", str(index)])
    assert result.exit_code == 2
    assert "not a rulec catalog index" in result.output
