"""The project file (`rulec.toml`, or `[tool.rulec]` in pyproject.toml): a bare `rulec convert`
runs the conversion it describes, and command-line options override it.

Oracle: the same conversion spelled out on the command line (the project file must give exactly
its output), and DuckDB running the emitted SQL for the table map.
"""

from __future__ import annotations

import json

import duckdb
import pytest
from click.testing import CliRunner

from conftest import REPO
from rulec.compiler.cli import main

RULE = """title: Cmd
id: 11111111-1111-1111-1111-111111111111
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\cmd.exe'}
  condition: sel
"""
THRESHOLD = """title: Many
id: 22222222-2222-2222-2222-222222222222
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\net.exe'}
  condition: sel | count() by DeviceName > 3
timeframe: 5m
"""


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def files(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()  # the search for a project file stops here
    (tmp_path / "detections").mkdir()
    (tmp_path / "detections" / "cmd.yml").write_text(RULE)
    (tmp_path / "detections" / "many.yml").write_text(THRESHOLD)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_bare_convert_runs_the_project_conversion(project):
    (project / "rulec.toml").write_text(
        'paths = ["detections"]\ntargets = ["spl", "kql"]\noutput = "queries/"\n'
    )
    result = invoke("convert")
    assert result.exit_code == 0, result.output
    project_files = files(project / "queries")
    spelled = invoke("convert", "-t", "spl", "-t", "kql", "-o", "spelled/", "detections")
    assert spelled.exit_code == 0, spelled.output
    assert project_files == files(project / "spelled")
    assert sorted(project_files) == ["kql/cmd.kql", "kql/many.kql", "spl/cmd.spl", "spl/many.spl"]
    assert invoke("convert", "--check").exit_code == 0


def test_pyproject_settings_are_found_from_a_subfolder_with_paths_relative_to_them(
    project, monkeypatch
):
    (project / "pyproject.toml").write_text(
        '[project]\nname = "detections"\n\n[tool.rulec]\npaths = ["detections"]\n'
        'targets = ["duckdb"]\nformat = "json"\n'
    )
    monkeypatch.chdir(project / "detections")
    result = invoke("convert")
    assert result.exit_code == 0, result.output
    rules = [json.loads(line)["rule"] for line in result.stdout.splitlines()]
    assert rules == ["../detections/cmd.yml", "../detections/many.yml"]


def test_command_line_options_override_the_project(project):
    (project / "rulec.toml").write_text(
        'paths = ["detections"]\ntargets = ["spl"]\noutput = "queries/"\nformat = "text"\n'
    )
    result = invoke("convert", "-t", "duckdb", "--format", "json", "detections/cmd.yml")
    assert result.exit_code == 0, result.output
    (line,) = map(json.loads, result.stdout.splitlines())  # to stdout: the paths are not its own
    assert line["target"] == "duckdb" and line["rule"] == "detections/cmd.yml"
    assert not (project / "queries").exists()


@pytest.mark.parametrize(
    ("settings", "spelled"),
    [
        ('pipelines = ["sysmon"]', ["-p", "sysmon"]),
        ("pipelines = { spl = [] }", []),
        ('pipelines = { spl = ["sysmon"], "*" = ["windows-audit"] }', ["-p", "sysmon"]),
        ("without-pipeline = true", ["--without-pipeline"]),
    ],
)
def test_pipelines_for_every_target_or_per_target(project, settings, spelled):
    (project / "rulec.toml").write_text(f'targets = ["spl"]\nformat = "json"\n{settings}\n')
    ours = invoke("convert", "detections/cmd.yml")
    theirs = invoke("convert", "-t", "spl", "--format", "json", *spelled, "detections/cmd.yml")
    assert ours.exit_code == theirs.exit_code == 0, ours.output + theirs.output
    assert ours.stdout == theirs.stdout


def test_a_pipeline_file_is_read_relative_to_the_project(project, monkeypatch):
    (project / "fields.yml").write_text(
        "name: fields\npriority: 10\ntransformations:\n"
        "  - type: field_name_mapping\n    mapping: {Image: process_path}\n"
    )
    (project / "rulec.toml").write_text(
        'paths = ["detections/cmd.yml"]\ntargets = ["duckdb"]\npipelines = ["fields.yml"]\n'
    )
    monkeypatch.chdir(project / "detections")
    result = invoke("convert")
    assert result.exit_code == 0, result.output
    assert '"process_path"' in result.stdout and '"Image"' not in result.stdout


def test_allowed_approximations_come_from_the_project(project):
    burst = REPO / "rules" / "sigma" / "corr_event_count_local_user_creation_burst.yml"
    (project / "rulec.toml").write_text('targets = ["eql"]\n')
    assert invoke("convert", burst).exit_code == 1
    (project / "rulec.toml").write_text('targets = ["eql"]\nallow = ["runs"]\n')
    ours = invoke("convert", burst)
    theirs = invoke("convert", "-t", "eql", "--allow", "runs", burst)
    assert ours.exit_code == theirs.exit_code == 0, ours.output
    assert ours.stdout == theirs.stdout and "runs=" in ours.stdout


def test_the_table_map_names_each_log_source_table(project):
    (project / "rulec.toml").write_text(
        'targets = ["duckdb"]\nformat = "json"\ndefault-table = "other"\n\n'
        '[[tables]]\nproduct = "windows"\ncategory = "process_creation"\ntable = "win_proc"\n'
    )
    result = invoke("convert", "detections/cmd.yml")
    assert result.exit_code == 0, result.output
    query = json.loads(result.stdout)["query"]
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE win_proc AS SELECT * FROM (VALUES ('C:\\Windows\\cmd.exe'), ('x.exe')) "
        "AS t(Image)"
    )
    assert connection.execute(query).fetchall() == [("C:\\Windows\\cmd.exe",)]

    (project / "rulec.toml").write_text(
        'targets = ["duckdb"]\nformat = "json"\ndefault-table = "other"\n'
    )
    query = json.loads(invoke("convert", "detections/cmd.yml").stdout)["query"]
    with pytest.raises(duckdb.CatalogException, match="other"):
        connection.execute(query)


@pytest.mark.parametrize(
    ("text", "located"),
    [
        ("targets = [spl]\n", "rulec.toml:1:12: error[project.syntax]: Invalid value"),
        ('targets = ["spl"\n', "rulec.toml:1: error[project.syntax]: Unclosed array"),
        ('targets = ["spl"]\ntarget = "kql"\n', "rulec.toml:2: error[project.unknown-key]: "),
        ('\n\ntargets = "spl"\n', "rulec.toml:3: error[project.bad-setting]: 'targets' must be"),
        ('[[tables]]\nproduct = "windows"\n', "rulec.toml:1: error[project.bad-setting]: 'tables'"),
        ('paths = ["nowhere"]\n', "rulec.toml: error[project.missing-path]: nowhere does not"),
    ],
)
def test_a_bad_project_file_is_a_located_usage_error(project, text, located):
    (project / "rulec.toml").write_text(text)
    result = invoke("convert", "-t", "duckdb")
    assert result.exit_code == 2
    assert located in result.stderr, result.stderr


def test_the_search_stops_at_the_repository_root(project, monkeypatch):
    (project.parent / "rulec.toml").write_text('targets = ["spl"]\n')
    result = invoke("convert", "detections/cmd.yml")
    assert result.exit_code == 2
    assert "name at least one target" in result.stderr
    result = invoke("convert")
    assert result.exit_code == 2
    assert "name rule files or folders (or a rulec.toml)" in result.stderr


def test_the_readme_project_file_converts(project):
    """The README's example, as it is, over one rule."""
    readme = (REPO / "README.md").read_text()
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    (project / "rulec.toml").write_text(example)
    (project / "detections").rename(project / "rules")
    (project / "schemas.yml").write_text("process_events: [Image]\n")
    (project / "mappings").mkdir()
    (project / "mappings" / "fields.yml").write_text(
        "name: fields\npriority: 10\ntransformations:\n"
        "  - type: field_name_mapping\n    mapping: {Image: process_path}\n"
    )
    (project / "rules" / "many.yml").unlink()
    result = invoke("convert")
    assert result.exit_code == 0, result.output
    written = files(project / "queries")
    assert sorted(written) == ["duckdb/cmd.sql", "kql/cmd.kql", "spl/cmd.spl"]
    assert 'FROM "process_events"' in written["duckdb/cmd.sql"]
    assert '"process_path"' in written["duckdb/cmd.sql"]  # its pipeline: the mapping file
    assert "Image=" in written["spl/cmd.spl"]  # spl's own: sysmon + splunk_windows
    assert (project / ".rulec-cache").is_dir()
    assert "process_path" not in written["kql/cmd.kql"]  # kql keeps its default pipelines


def test_a_deploy_format_on_the_command_line_sets_the_target_over_the_project(project):
    (project / "rulec.toml").write_text('targets = ["spl", "kql"]\nformat = "json"\n')
    result = invoke("convert", "--format", "splunk-savedsearch", "detections/cmd.yml")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("[Cmd]\n")
    clash = invoke("convert", "-t", "spl", "--format", "sentinel", "detections/cmd.yml")
    assert clash.exit_code == 2
