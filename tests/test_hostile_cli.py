"""Hostile batches through the `rulec` command: every bad file gets a located diagnostic, the good
rules are still converted and written (atomically), the exit status is 1, and no traceback
reaches the user. Runs are subprocesses; their timeout is only a guard against hangs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_hostile_kql import BAD_QUERIES
from test_hostile_sigma import BAD_RULES, RULE

from rulec.compiler.atomic import write_atomic

HANG_GUARD = 600
GOOD_KQL = 'SecurityEvent\n| where Image endswith "\\\\cmd.exe"\n'
EVENTS = b'{"Image": "x", "CommandLine": "a"}\n{"Image": "y"}\n'


def rulec(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("rulec")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "rulec.compiler.cli"]
    return subprocess.run(
        [*command, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=HANG_GUARD
    )


@pytest.fixture
def batch(tmp_path: Path) -> Path:
    """A folder of every bad Sigma rule and KQL query of the hostile tests, plus two good rules."""
    rules = tmp_path / "rules"
    rules.mkdir()
    for n, (text, _, _) in enumerate(BAD_RULES):
        (rules / f"bad_{n:02}.yml").write_text(text, encoding="utf-8")
    for n, (text, _, _, _) in enumerate(BAD_QUERIES):
        (rules / f"bad_{n:02}.kql").write_text(text, encoding="utf-8")
    (rules / "bad_latin1.yml").write_bytes(RULE.replace("'x'", "'caf\xe9'").encode("latin-1"))
    (rules / "good.yml").write_text(RULE)
    (rules / "good.kql").write_text(GOOD_KQL)
    return rules


def test_a_hostile_batch_converts_the_good_rules_and_locates_every_bad_one(batch, tmp_path):
    out = tmp_path / "out" / "queries.jsonl"
    result = rulec("convert", "-t", "duckdb", "--format", "json", "-o", out, batch, cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    by_file = {Path(line["rule"]).name: line for line in lines}
    bad = sorted(p.name for p in batch.iterdir() if p.name.startswith("bad_"))
    assert sorted(n for n, line in by_file.items() if not line["ok"]) == bad
    assert by_file["good.yml"]["ok"] and by_file["good.kql"]["ok"]
    for name in bad:
        error = by_file[name]["error"]
        assert error["file"].endswith(name) and error["line"] >= 1, error
        assert f"{name}:{error['line']}" in result.stderr
    assert "internal" not in {line["error"]["code"] for line in lines if not line["ok"]}
    assert [p.name for p in out.parent.iterdir()] == ["queries.jsonl"]


def test_a_non_utf8_rule_names_the_line_of_the_bad_byte(tmp_path):
    path = tmp_path / "latin1.yml"
    path.write_bytes(RULE.replace("'x'", "'caf\xe9'").encode("latin-1"))
    result = rulec("convert", "-t", "kql", path, cwd=tmp_path)
    assert result.returncode == 1
    assert "latin1.yml:4: error[io.encoding]" in result.stderr, result.stderr


def test_run_reports_bad_rules_and_still_runs_the_good_one(batch, tmp_path):
    events = tmp_path / "events.ndjson"
    events.write_bytes(EVENTS)
    good, bad = batch / "good.yml", batch / "bad_00.yml"
    result = rulec("run", bad, good, "--events", events, "--format", "json", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert not first["ok"] and first["error"]["line"] == 3
    assert second["ok"] and [row["_row"] for row in second["rows"]] == [1]


# events file | text a diagnostic on stderr starts with
BAD_EVENTS = [
    (b'{"Image": "x"}\n{"Image": ', "events.ndjson:2: error[events.bad-json]"),
    (b"not json\n", "events.ndjson:1: error[events.bad-json]"),
    (b'{"Image": "caf\xe9"}\n', "events.ndjson:1: error[events.encoding]"),
    (b'{"Image": "x"}\n{"Image": "caf\xe9"}\n', "events.ndjson:2: error[events.encoding]"),
    (b'{"Image": "x"}\n[1]\n', "events.ndjson:2: error[events.not-object]"),
    (b"", "events.ndjson: error[events.empty]"),
]


@pytest.mark.parametrize(("data", "message"), BAD_EVENTS)
def test_run_over_a_bad_event_file_is_a_located_diagnostic(tmp_path, data, message):
    (tmp_path / "rule.yml").write_text(RULE)
    (tmp_path / "events.ndjson").write_bytes(data)
    result = rulec("run", "rule.yml", "--events", "events.ndjson", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(message), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [("convert", "-t", "duckdb"), ("explain",), ("catalog",), ("diff", "rule.yml")],
    ids=lambda c: c[0],
)
def test_an_unwritable_output_path_is_a_clear_error(tmp_path, command):
    (tmp_path / "rule.yml").write_text(RULE)
    (tmp_path / "taken").mkdir()
    result = rulec(*command, "-o", "taken", "rule.yml", cwd=tmp_path)
    assert result.returncode in (1, 2)
    assert "internal error" not in result.stderr and "taken" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["rule.yml", "taken"]


def test_an_output_path_under_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "rule.yml").write_text(RULE)
    result = rulec("convert", "-t", "duckdb", "-o", "rule.yml/out/q.sql", "rule.yml", cwd=tmp_path)
    assert result.returncode == 1
    assert "cannot write rule.yml/out/q.sql" in result.stderr, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["rule.yml"]


def test_a_failed_write_leaves_no_file_and_no_folder_behind(tmp_path, monkeypatch):
    def refuse(source, target):
        raise PermissionError(13, "refused", str(target))

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        write_atomic(tmp_path / "new" / "deeper" / "out.sql", "SELECT 1")
    assert list(tmp_path.iterdir()) == []


def test_writing_over_a_folder_names_it(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(IsADirectoryError) as caught:
        write_atomic(tmp_path / "taken", "SELECT 1")
    assert caught.value.filename == str(tmp_path / "taken")
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]
