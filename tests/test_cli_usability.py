"""The command line for a first-time user: versions, listings, summaries, empty input, engines."""

from __future__ import annotations

import importlib.metadata
import json
import sys

import pytest
from click.testing import CliRunner

from conftest import REPO
from rulec.backends.deploy import FORMATS as DEPLOY_FORMATS
from rulec.backends.pipelines import DEFAULT_PIPELINES
from rulec.backends.registry import available, backend_for
from rulec.compiler.cli import main
from rulec.compiler.frontends.sigma import installed_pipelines

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
    assert set(pipelines) == set(installed_pipelines())
    for target, chosen in DEFAULT_PIPELINES.items():
        for name in (n for spec in chosen for n in spec.split("|")):
            assert target == "kuery" or target in pipelines[name], (name, pipelines[name])


def test_list_formats_names_every_format_convert_accepts():
    formats = listed("formats")
    assert list(formats) == ["text", "json", *DEPLOY_FORMATS]
