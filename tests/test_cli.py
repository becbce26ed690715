"""The command-line contract: targets, JSON lines, exit statuses, atomic output."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import REPO
from rulec.compiler.cli import main
from rulec.compiler.rules import discover

SEED = REPO / "rules" / "sigma" / "win_winrm_listening_service_reconnaissance.yml"
SEED_EVENTS = REPO / "golden" / "win_winrm_listening_service_reconnaissance" / "events.ndjson"
GOOD = """title: Good
id: 11111111-1111-1111-1111-111111111111
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\\\cmd.exe'}
  condition: sel
"""
BROKEN = "title: Broken\nlogsource: {product: windows\ndetection: [\n"


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_convert_bundled_rules_to_duckdb_and_postgres():
    result = invoke("convert", "-t", "duckdb", "-t", "postgres", "--format", "json", REPO / "rules")
    assert result.exit_code == 0, result.output
    out = lines(result.stdout)
    assert {o["target"] for o in out} == {"duckdb", "postgres"}
    assert all(o["ok"] and o["query"].startswith(("SELECT", "WITH")) for o in out)
    files = {str(p) for p in discover([REPO / "rules"])}
    assert {o["rule"] for o in out} == files
    assert any(f.endswith(".kql") for f in files)


def test_a_broken_rule_fails_alone_with_file_and_line(tmp_path):
    (tmp_path / "a_broken.yml").write_text(BROKEN)
    (tmp_path / "b_good.yml").write_text(GOOD)
    result = invoke("convert", "-t", "duckdb", "--format", "json", tmp_path)
    assert result.exit_code == 1
    broken, good = lines(result.stdout)
    assert broken["ok"] is False and broken["error"]["line"] >= 1
    assert broken["error"]["file"].endswith("a_broken.yml")
    assert good["ok"] and good["id"] == "11111111-1111-1111-1111-111111111111"
    assert "a_broken.yml:" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_target_is_bad_usage():
    result = invoke("convert", "-t", "nosuch", SEED)
    assert result.exit_code == 2
    assert "unknown target" in result.output


def test_output_file_is_written_whole(tmp_path):
    out = tmp_path / "deep" / "queries.jsonl"
    (tmp_path / "good.yml").write_text(GOOD)
    (tmp_path / "zbroken.yml").write_text(BROKEN)
    result = invoke("convert", "-t", "duckdb", "--format", "json", "-o", out, tmp_path)
    assert result.exit_code == 1
    assert [o["ok"] for o in lines(out.read_text())] == [True, False]
    assert [p.name for p in out.parent.iterdir()] == ["queries.jsonl"]


def test_run_seed_rule_raises_two_alerts():
    result = invoke("run", SEED, "--events", SEED_EVENTS, "--format", "json")
    assert result.exit_code == 0, result.output
    (report,) = lines(result.stdout)
    assert report["ok"] and report["matches"] == 2
    assert [r["value"] for r in report["rows"]] == [31, 31]


def test_run_reports_bad_events_with_line(tmp_path):
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"a": 1}\nnot json\n')
    result = invoke("run", SEED, "--events", bad)
    assert result.exit_code == 1
    assert f"{bad}:2:" in result.stderr


def test_run_bad_now_is_bad_usage():
    result = invoke("run", SEED, "--events", SEED_EVENTS, "--now", "yesterday")
    assert result.exit_code == 2


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_verify_bundled_golden(fmt, monkeypatch):
    monkeypatch.chdir(REPO)
    result = invoke("verify", "--format", fmt)
    assert result.exit_code == 0, result.output
    if fmt == "json":
        assert all(v["ok"] for v in lines(result.stdout))


def test_deploy_format_renders_a_splunk_saved_search():
    result = invoke("convert", "--format", "splunk-savedsearch", SEED)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("[WinRM listening service reconnaissance (process)]")
    assert "streamstats" in result.stdout


def test_deploy_format_with_a_target_is_bad_usage():
    assert invoke("convert", "--format", "sentinel", "-t", "kql", SEED).exit_code == 2


def test_an_approximation_is_refused_unless_allowed():
    refused = invoke("convert", "--format", "elastic-threshold", SEED)
    assert refused.exit_code == 1 and "allow 'bucket'" in refused.stderr
    allowed = invoke("convert", "--format", "elastic-threshold", "--allow", "bucket,case", SEED)
    assert allowed.exit_code == 0, allowed.output
    assert json.loads(allowed.stdout)["type"] == "threshold"


def test_explain_is_a_command():
    result = invoke("explain", SEED, "--format", "json")
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)
    fields = [c["field"] for e in card["exclusions"] for c in e["conditions"]]
    assert fields == ["TargetUserName"]


def test_parallel_and_cached_conversion_print_what_one_process_prints(tmp_path):
    base = ["convert", "-t", "duckdb", "-t", "spl", "--format", "json", REPO / "rules"]
    alone = invoke(*base, "-j", "1")
    cache = tmp_path / "cache"
    parallel = invoke(*base, "-j", "2", "--cache", cache)
    cached = invoke(*base, "-j", "2", "--cache", cache)
    assert alone.exit_code == parallel.exit_code == cached.exit_code
    assert lines(alone.stdout) == lines(parallel.stdout) == lines(cached.stdout)
    assert len(lines(alone.stdout)) > 50 and (cache / "entries.sqlite").is_file()


def test_run_names_a_table_the_rule_reads_but_nobody_gave():
    seed = REPO / "rules" / "kql" / "winrm_plugin_lateral_movement.kql"
    case = REPO / "golden" / "winrm_plugin_lateral_movement"
    result = invoke(
        "run", seed, "--now", "2026-03-10T12:00:00Z",
        "--events", case / "DeviceImageLoadEvents.ndjson",
        "--table", f"DeviceFileEvents={case / 'DeviceFileEvents.ndjson'}",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "error[run.missing-table]" in result.stderr and "'FileProfile'" in result.stderr
    assert "internal error" not in result.stderr


# A rule's rows are read and written a chunk at a time: the output is the same whatever the
# chunk's size, and each JSON line is whole (the oracle: Python's `json` reading it back, and
# the rows the events file holds).
@pytest.mark.parametrize("fmt", ["json", "text"])
def test_run_writes_a_rules_rows_chunk_by_chunk(tmp_path, monkeypatch, fmt):
    from rulec.compiler.run.multirule import runner

    rule = tmp_path / "rule.yml"
    rule.write_text(
        "title: t\nlogsource:\n  product: test\ndetection:\n  s:\n    Image|endswith: .exe\n"
        "  condition: s\n"
    )
    events = tmp_path / "events.ndjson"
    images = ["a.exe", "b.dll", "c.exe", "d.exe", "e.txt", 'f "q".exe']
    events.write_text("".join(json.dumps({"Image": image}) + "\n" for image in images))
    outputs = []
    for size in (10_000, 2, 1):
        monkeypatch.setattr(runner, "ROWS_AT_ONCE", size)
        result = invoke("run", rule, "--events", events, "--format", fmt)
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] == outputs[2]
    if fmt == "json":
        (report,) = lines(outputs[0])
        assert report["matches"] == 4
        assert [row["Image"] for row in report["rows"]] == [i for i in images if i.endswith(".exe")]
