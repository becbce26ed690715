"""The command line for a first-time user: versions, listings, summaries, empty input, engines."""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import REPO
from rulec.backends.deploy import FORMATS as DEPLOY_FORMATS
from rulec.backends.pipelines import DEFAULT_PIPELINES, OWN_PIPELINES
from rulec.backends.registry import available, backend_for
from rulec.compiler.cli import main
from rulec.compiler.cli.list import TARGETS
from rulec.compiler.frontends.sigma.load import installed_pipelines

SEED = REPO / "rules" / "sigma" / "win_winrm_listening_service_reconnaissance.yml"
SEED_EVENTS = REPO / "golden" / "win_winrm_listening_service_reconnaissance" / "events.ndjson"


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_postgres_engine_without_psycopg_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` now raises ImportError
    result = invoke("run", SEED, "--events", SEED_EVENTS, "--engine", "postgres")
    assert result.exit_code == 1
    assert "pip install rulec[postgres]" in result.stderr


@pytest.mark.parametrize("text", ["", "# a comment and nothing else\n", "---\n...\n"])
@pytest.mark.parametrize("command", ["convert", "run"])
def test_an_empty_rule_file_is_a_located_error(tmp_path, text, command):
    rule = tmp_path / "empty.yml"
    rule.write_text(text)
    args = ["-t", "duckdb", rule] if command == "convert" else [rule, "--events", SEED_EVENTS]
    result = invoke(command, *args)
    assert result.exit_code == 1
    assert f"{rule}:1:1: error[sigma.empty]: no rule in this file" in result.stderr


@pytest.mark.parametrize("command", ["convert", "run"])
def test_a_folder_without_rule_files_is_a_located_error(tmp_path, command):
    (tmp_path / "notes.txt").write_text("title: not a rule file\n")
    args = (
        ["-t", "duckdb", tmp_path] if command == "convert" else [tmp_path, "--events", SEED_EVENTS]
    )
    result = invoke(command, *args)
    assert result.exit_code == 1
    assert f"{tmp_path}: error[input.empty]: no rule file (.yml, .yaml, .kql)" in result.stderr


def test_an_empty_folder_beside_rules_still_converts_them(tmp_path):
    (tmp_path / "empty").mkdir()
    result = invoke("convert", "-t", "duckdb", "--format", "json", tmp_path / "empty", SEED)
    assert result.exit_code == 1
    assert [json.loads(line)["ok"] for line in result.stdout.splitlines()] == [True]


def test_version_is_the_installed_distributions():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"rulec {importlib.metadata.version('rulec')}\n"


def listed(what: str) -> dict[str, str]:
    result = invoke("list", what)
    assert result.exit_code == 0
    return dict(line.split(None, 1) for line in result.stdout.splitlines())


def test_list_targets_names_each_target_convert_accepts():
    targets = listed("targets")
    assert set(available()) | {"spark", "all", "sql:<dialect>"} <= set(targets)
    for name in set(targets) - {"all", "sql:<dialect>"}:
        backend_for(name)  # raises for a name convert would refuse
    assert all(text.strip() for text in targets.values())


def test_list_pipelines_shows_each_installed_pipeline_and_the_defaults():
    pipelines = listed("pipelines")
    assert set(pipelines) == set(installed_pipelines()) | set(OWN_PIPELINES)
    for target, chosen in DEFAULT_PIPELINES.items():
        if target not in TARGETS:  # a deploy format's or kuery's pipelines: not a target's
            continue
        for name in (n for spec in chosen for n in spec.split("|")):
            assert target in pipelines[name], (name, pipelines[name])


def test_list_formats_names_every_format_convert_accepts():
    formats = listed("formats")
    assert list(formats) == ["text", "json", *DEPLOY_FORMATS]


GOOD = """title: Good
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\\\cmd.exe'}
  condition: sel
"""
BROKEN = "title: Broken\nlogsource: {product: windows\ndetection: [\n"
LOOKBEHIND = """title: Look-behind
logsource: {product: windows, category: process_creation}
detection:
  sel: {CommandLine|re: '(?<=x)y'}
  condition: sel
"""


def test_convert_reports_a_parse_failure_once_and_sums_up_per_target(tmp_path):
    (tmp_path / "a_good.yml").write_text(GOOD)
    (tmp_path / "b_broken.yml").write_text(BROKEN)
    (tmp_path / "c_lookbehind.yml").write_text(LOOKBEHIND)
    result = invoke(
        "convert", "-t", "duckdb", "-t", "eql", "-t", "spl", "--format", "json", tmp_path
    )
    assert result.exit_code == 1
    out = [json.loads(line) for line in result.stdout.splitlines()]
    # the JSON stream keeps its line per rule and target
    assert [(Path(o["rule"]).name, o["target"], o["ok"]) for o in out] == [
        ("a_good.yml", "duckdb", True),
        ("a_good.yml", "eql", True),
        ("a_good.yml", "spl", True),
        ("b_broken.yml", "duckdb", False),
        ("b_broken.yml", "eql", False),
        ("b_broken.yml", "spl", False),
        ("c_lookbehind.yml", "duckdb", True),
        ("c_lookbehind.yml", "eql", False),
        ("c_lookbehind.yml", "spl", True),
    ]
    errors = [line for line in result.stderr.splitlines() if ": error[" in line]
    assert len(errors) == 2
    assert errors[0].startswith(f"{tmp_path}/b_broken.yml:") and "error[sigma.yaml]:" in errors[0]
    assert errors[1].startswith(f"{tmp_path}/c_lookbehind.yml:4:")
    assert "error[unsupported] [eql]:" in errors[1]
    assert result.stderr.endswith(
        "summary: 3 files\n"
        "  duckdb  2 converted, 1 failed\n"
        "  eql     1 converted, 2 failed\n"
        "  spl     2 converted, 1 failed\n"
        "failures by reason:\n"
        "  1  sigma.yaml\n"
        "  1  unsupported [eql]\n"
    )


def test_a_transformation_error_names_its_target(tmp_path):
    rule = tmp_path / "security.yml"
    rule.write_text(
        GOOD.replace(
            "{product: windows, category: process_creation}",
            "{product: opencanary, category: application}",
        )
    )
    result = invoke("convert", "-t", "duckdb", "-t", "kql", rule)
    assert result.exit_code == 1
    (error,) = [line for line in result.stderr.splitlines() if ": error[" in line]
    assert "error[sigma.transformation] [kql]:" in error


def process_events(tmp_path: Path) -> Path:
    """Three process events: the first two run cmd.exe, the third calc.exe."""
    events = tmp_path / "events.ndjson"
    images = ["C:\\Windows\\System32\\cmd.exe", "D:\\cmd.exe", "C:\\Windows\\calc.exe"]
    events.write_text("".join(json.dumps({"Image": i, "CommandLine": "x"}) + "\n" for i in images))
    return events


def rule_folder(tmp_path: Path) -> Path:
    """Three rules: cmd.exe (events 1 and 2: `_row` counts from 1), `Image: D:\\cmd.exe`
    (event 2), notepad.exe (none)."""
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "a_cmd.yml").write_text(GOOD)
    (folder / "b_d.yml").write_text(
        GOOD.replace("Image|endswith: '\\\\cmd.exe'", "Image: 'D:\\cmd.exe'")
    )
    (folder / "c_none.yml").write_text(GOOD.replace("cmd.exe", "notepad.exe"))
    return folder


def test_run_prints_the_rules_that_matched_and_a_summary(tmp_path):
    events, folder = process_events(tmp_path), rule_folder(tmp_path)
    result = invoke("run", folder, "--events", events, "--format", "json")
    assert result.exit_code == 0
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(Path(o["rule"]).name, [r["_row"] for r in o["rows"]]) for o in out] == [
        ("a_cmd.yml", [1, 2]),
        ("b_d.yml", [2]),
    ]
    (summary,) = result.stderr.splitlines()
    assert summary.startswith("summary: 3 rules run, 2 matched (2 events), 0 failed, ")


def test_run_all_prints_every_rule_and_o_writes_the_file(tmp_path):
    events, folder = process_events(tmp_path), rule_folder(tmp_path)
    written = tmp_path / "out" / "results.ndjson"
    result = invoke("run", folder, "--events", events, "--format", "json", "--all", "-o", written)
    assert result.exit_code == 0 and result.stdout == ""
    out = [json.loads(line) for line in written.read_text().splitlines()]
    assert [(Path(o["rule"]).name, o["matches"]) for o in out] == [
        ("a_cmd.yml", 2),
        ("b_d.yml", 1),
        ("c_none.yml", 0),
    ]


def test_run_summary_counts_alerts_and_failures(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN)
    result = invoke("run", SEED, broken, "--events", SEED_EVENTS)
    assert result.exit_code == 1
    # golden/win_winrm_listening_service_reconnaissance/expected.json: two alert windows
    assert "2 matches" in result.stdout
    assert "summary: 2 rules run, 1 matched (0 events, 2 alerts), 1 failed, " in result.stderr
    assert result.stderr.endswith("failures by reason:\n  1  sigma.yaml\n")


def seed_events_with_time_as(tmp_path: Path, name: str | None) -> Path:
    """The seed's golden events with `TimeCreated` renamed to `name` (or dropped)."""
    events = tmp_path / "events.ndjson"
    with SEED_EVENTS.open() as source, events.open("w") as out:
        for line in source:
            event = json.loads(line)
            time = event.pop("TimeCreated")
            if name:
                event[name] = time
            out.write(json.dumps(event) + "\n")
    return events


@pytest.mark.parametrize("name", ["@timestamp", "Timestamp", "TimeGenerated", "_time", "UtcTime"])
def test_a_window_rule_finds_the_common_event_time_fields(tmp_path, name):
    events = seed_events_with_time_as(tmp_path, name)
    result = invoke("run", SEED, "--events", events, "--format", "json")
    assert result.exit_code == 0 and "warning" not in result.stderr
    # the oracle: golden/win_winrm_listening_service_reconnaissance/expected.json's two alerts
    assert [row["value"] for row in json.loads(result.stdout)["rows"]] == [31, 31]


def test_a_window_rule_over_events_without_a_time_is_warned_about(tmp_path):
    events = seed_events_with_time_as(tmp_path, None)
    result = invoke("run", SEED, "--events", events)
    assert result.exit_code == 0 and result.stdout == ""
    assert f"{SEED}:" in result.stderr
    assert "warning[run.no-event-time]" in result.stderr
    assert "none of the event-time fields TimeCreated, @timestamp, Timestamp" in result.stderr


def test_a_time_field_the_events_lack_is_named(tmp_path):
    result = invoke("run", SEED, "--events", SEED_EVENTS, "--time-field", "EventTime")
    assert "the events have no field 'EventTime' (--time-field)" in result.stderr


def test_a_rule_without_windows_needs_no_event_time(tmp_path):
    result = invoke("run", rule_folder(tmp_path), "--events", process_events(tmp_path))
    assert result.exit_code == 0 and "warning" not in result.stderr


def test_correlations_and_windowed_aggregations_read_the_event_time():
    from rulec.compiler.rules import load_rules
    from rulec.compiler.run.event_time import reads_event_time

    def reads(name: str) -> list[bool]:
        return [reads_event_time(q) for q in load_rules(REPO / "rules" / "sigma" / name)]

    assert reads("corr_temporal_user_created_and_made_admin.yml")[-1]  # the correlation
    assert reads("win_winrm_listening_service_reconnaissance.yml") == [True]  # timeframe: 15m
    assert reads("proc_creation_win_bitsadmin_download.yml") == [False]


TABLE_MAP = """default: logs.other
tables:
  - {product: windows, category: process_creation, table: win_process}
"""


def test_table_map_names_the_table_each_log_source_reads(tmp_path):
    import duckdb

    (tmp_path / "tables.yml").write_text(TABLE_MAP)
    rules = rule_folder(tmp_path)
    (rules / "d_wmi.yml").write_text(GOOD.replace("category: process_creation", "service: wmi"))
    result = invoke(
        "convert", "-t", "duckdb", "--format", "json", "--table-map", tmp_path / "tables.yml", rules
    )
    assert result.exit_code == 0, result.stderr
    queries = {
        Path(o["rule"]).name: o["query"] for o in map(json.loads, result.stdout.splitlines())
    }
    assert 'FROM "logs"."other"' in queries.pop("d_wmi.yml")
    # the oracle: DuckDB itself, reading the events from the table the map names
    connection = duckdb.connect()
    events = process_events(tmp_path)
    connection.execute(f"CREATE TABLE win_process AS SELECT * FROM read_json_auto('{events}')")
    found = {name: len(connection.execute(q).fetchall()) for name, q in queries.items()}
    assert found == {"a_cmd.yml": 2, "b_d.yml": 1, "c_none.yml": 0}


def test_table_name_replaces_events_and_nothing_else():
    plain = invoke("convert", "-t", "postgres", "--format", "json", SEED)
    named = invoke(
        "convert", "-t", "postgres", "--format", "json", "--table-name", "sec.logs", SEED
    )
    query, renamed = (json.loads(r.stdout)["query"] for r in (plain, named))
    assert '"events"' in query
    assert renamed == query.replace('"events"', '"sec"."logs"')


def test_table_names_are_refused_for_targets_other_than_sql(tmp_path):
    result = invoke("convert", "-t", "duckdb", "-t", "spl", "--table-name", "x", SEED)
    assert result.exit_code == 2
    assert "tables are named for SQL targets only, not spl" in result.stderr


def test_a_bad_table_map_is_located(tmp_path):
    bad = tmp_path / "tables.yml"
    bad.write_text("tables:\n  - {product: windows, tabel: x}\n")
    result = invoke("convert", "-t", "duckdb", "--table-map", bad, SEED)
    assert result.exit_code == 2
    assert f"{bad}:2:24: error[tables.shape]: unknown key 'tabel'" in result.stderr


def test_help_names_evtx_events_and_the_spark_target():
    assert "EVTX" in invoke("run", "--help").stdout
    assert "spark" in invoke("convert", "--help").stdout.split("--target", 1)[1].split("-p,")[0]
