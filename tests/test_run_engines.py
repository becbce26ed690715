"""`rulec run --engine eql|kql|spl`: every target's engine from the command line.

Oracles: the golden cases (rows a bundled rule must select on its events) and, for hostile
values, the events themselves: a rule asking for a value must select the event holding exactly
that value and not its neighbours, on every engine. A value Splunk's documentation does not
settle (case folding of non-ASCII letters) must be reported by the spl engine, never answered.
"""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner
from test_backend_escaping import HOSTILE

from conftest import REPO
from rulec.compiler.cli import main

pytest.importorskip("eql", reason="the eql engine runs on Elastic's eql package")

ENGINES = ["duckdb", "eql", "kql", "spl"]
CASE = REPO / "golden" / "win_wmi_activity_nteventlogfile_cleareventlog"
RULE = REPO / "rules" / "sigma" / "win_wmi_activity_nteventlogfile_cleareventlog.yml"


def run(*args: object) -> tuple[int, list[dict], str]:
    result = CliRunner().invoke(main, ["run", *map(str, args)], catch_exceptions=False)
    out = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result.exit_code, out, result.stderr


@pytest.mark.parametrize("engine", ENGINES)
def test_each_engine_selects_the_golden_rows(engine: str):
    code, (report,), _ = run(
        RULE, "--events", CASE / "events.ndjson", "--engine", engine, "--format", "json"
    )
    expected = json.loads((CASE / "expected.json").read_text())["rows"]
    assert code == 0 and report["ok"], report
    assert [row["_row"] for row in report["rows"]] == expected
    assert "_raw" not in report["rows"][0]


def test_a_rule_a_target_cannot_express_is_its_diagnostic():
    rule = REPO / "rules" / "sigma" / "win_winrm_listening_service_reconnaissance.yml"
    events = REPO / "golden" / "win_winrm_listening_service_reconnaissance" / "events.ndjson"
    code, (report,), stderr = run(rule, "--events", events, "--engine", "eql", "--format", "json")
    assert code == 1 and report["error"]["code"] == "unsupported"
    assert report["error"]["line"] == 28 and "Aggregate" in report["error"]["message"]
    assert "internal error" not in stderr


def sigma_value(value: str) -> str:
    """`value` as a Sigma string: `*`, `?` and `\\` escaped, so it means itself."""
    return value.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_value_stays_a_value(tmp_path, engine: str, value: str):
    rule = {
        "title": "hostile",
        "logsource": {"product": "windows", "category": "process_creation"},
        "detection": {"sel": {"f": sigma_value(value)}, "condition": "sel"},
    }
    (tmp_path / "rule.yml").write_text(yaml.safe_dump(rule, allow_unicode=True), "utf-8")
    events = [{"f": value}, {"f": value + "~"}, {"f": "~" + value}, {"f": value[:-1]}]
    lines = "".join(json.dumps(e) + "\n" for e in events)
    (tmp_path / "events.ndjson").write_text(lines, "utf-8")
    code, (report,), _ = run(
        tmp_path / "rule.yml", "--events", tmp_path / "events.ndjson", "--engine", engine,
        "--format", "json",
    )  # fmt: skip
    if engine == "spl" and not value.isascii():
        assert code == 1 and report["error"]["code"] == "run.engine-limit", report
        return
    assert code == 0, report
    assert [row["_row"] for row in report["rows"]] == [1]
    assert report["rows"][0]["f"] == value
