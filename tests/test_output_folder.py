"""`rulec convert -o DIR/`: one query file per rule and target, kept current with `--check` and
`--prune` (as code generators and `black --check` do).

Oracle: the JSON lines of `rulec convert --format json` for the same rules (the folder must hold
exactly those queries, under names taken from the rule files' paths), and the folder's own
contents before and after each command.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil

import pytest
from click.testing import CliRunner

from conftest import REPO
from rulec.compiler.cli import main

CMD = """title: {title}
id: {id}
logsource: {{product: windows, category: process_creation}}
detection:
  sel: {{Image|endswith: '\\{image}'}}
  condition: sel
"""
GOOD = CMD.format(title="Cmd", id="11111111-1111-1111-1111-111111111111", image="cmd.exe")
PWSH = CMD.format(title="Pwsh", id="22222222-2222-2222-2222-222222222222", image="pwsh.exe")
BROKEN = "title: Broken\nlogsource: {product: windows\ndetection: [\n"


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def snapshot(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def queries(*args: object) -> dict[tuple[str, str], str]:
    """(rule file, target) -> query, from the JSON lines of the same conversion."""
    result = invoke("convert", "--format", "json", *args)
    return {
        (o["rule"], o["target"]): o["query"]
        for o in map(json.loads, result.stdout.splitlines())
        if o["ok"]
    }


@pytest.fixture
def rules(tmp_path):
    folder = tmp_path / "rules"
    (folder / "windows").mkdir(parents=True)
    (folder / "windows" / "cmd.yml").write_text(GOOD)
    (folder / "pwsh.yml").write_text(PWSH)
    return folder


def test_one_file_per_rule_and_target_named_after_the_rule_file(tmp_path, rules):
    out = tmp_path / "queries"
    result = invoke(
        "convert", "-t", "duckdb", "-t", "kql", "-t", "sql:snowflake", "-o", f"{out}/", rules
    )
    assert result.exit_code == 0, result.output
    expected = queries("-t", "duckdb", "-t", "kql", "-t", "sql:snowflake", rules)
    folders = {"duckdb": ".sql", "kql": ".kql", "sql:snowflake": ".sql"}
    assert snapshot(out) == {
        f"{target.replace(':', '-')}/{name}{suffix}": expected[str(rules / f"{name}.yml"), target]
        + "\n"
        for target, suffix in folders.items()
        for name in ("pwsh", "windows/cmd")
    }
    assert f"{out}: 6 written, 0 unchanged" in result.stderr
    assert result.stdout == ""


def test_check_passes_on_a_current_folder_and_lists_what_would_change(tmp_path, rules):
    out = tmp_path / "queries"
    assert invoke("convert", "-t", "duckdb", "-o", f"{out}/", rules).exit_code == 0
    current = invoke("convert", "-t", "duckdb", "-o", f"{out}/", "--check", rules)
    assert current.exit_code == 0, current.output
    assert f"{out}: no files would change" in current.stderr

    (out / "duckdb" / "pwsh.sql").write_text("SELECT 1\n")
    (rules / "new.yml").write_text(GOOD.replace("1111", "3333"))
    before = snapshot(out)
    stale = invoke("convert", "-t", "duckdb", "-o", f"{out}/", "--check", rules)
    assert stale.exit_code == 1
    assert before_summary(stale.stderr) == [
        f"would write {out}/duckdb/new.sql",
        f"would write {out}/duckdb/pwsh.sql",
        f"{out}: 2 files would change",
    ]
    assert snapshot(out) == before  # --check writes nothing

    assert invoke("convert", "-t", "duckdb", "-o", f"{out}/", rules).exit_code == 0
    assert invoke("convert", "-t", "duckdb", "-o", f"{out}/", "--check", rules).exit_code == 0


def test_files_of_removed_rules_are_reported_and_removed_with_prune(tmp_path, rules):
    out = tmp_path / "queries"
    assert invoke("convert", "-t", "duckdb", "-t", "spl", "-o", f"{out}/", rules).exit_code == 0
    (out / "duckdb" / "notes.txt").write_text("not rulec's")  # another suffix: never touched
    (rules / "windows" / "cmd.yml").unlink()
    gone = [f"{out}/duckdb/windows/cmd.sql", f"{out}/spl/windows/cmd.spl"]

    kept = invoke("convert", "-t", "duckdb", "-t", "spl", "-o", f"{out}/", rules)
    assert kept.exit_code == 0, kept.output
    assert [f"{path}: no rule writes it (--prune removes it)" for path in gone] == [
        line for line in kept.stderr.splitlines() if "no rule writes" in line
    ]
    assert all((tmp_path / path).exists() for path in gone)
    # Without --prune, this command removes nothing: --check has nothing to report as change.
    check = invoke("convert", "-t", "duckdb", "-t", "spl", "-o", f"{out}/", "--check", rules)
    assert check.exit_code == 0, check.output

    check_prune = ("convert", "-t", "duckdb", "-t", "spl", "-o", f"{out}/", "--check", "--prune")
    would = invoke(*check_prune, rules)
    assert would.exit_code == 1
    assert [f"would remove {path}" for path in gone] == would.stderr.splitlines()[:2]
    assert all((tmp_path / path).exists() for path in gone)

    pruned = invoke("convert", "-t", "duckdb", "-t", "spl", "-o", f"{out}/", "--prune", rules)
    assert pruned.exit_code == 0, pruned.output
    assert [f"removed {path}" for path in gone] == pruned.stderr.splitlines()[:2]
    assert sorted(snapshot(out)) == ["duckdb/notes.txt", "duckdb/pwsh.sql", "spl/pwsh.spl"]
    assert not (out / "spl" / "windows").exists()  # the folder its last file left empty
    assert invoke(*check_prune, rules).exit_code == 0


def test_a_rule_that_fails_keeps_its_file_and_the_others_are_written(tmp_path, rules):
    out = tmp_path / "queries"
    assert invoke("convert", "-t", "duckdb", "-o", f"{out}/", rules).exit_code == 0
    deployed = (out / "duckdb" / "pwsh.sql").read_text()
    (rules / "pwsh.yml").write_text(BROKEN)
    (rules / "windows" / "cmd.yml").write_text(GOOD.replace("cmd.exe", "cmd2.exe"))
    result = invoke("convert", "-t", "duckdb", "-o", f"{out}/", "--prune", rules)
    assert result.exit_code == 1
    assert "pwsh.yml:" in result.stderr and "removed" not in result.stderr
    assert (out / "duckdb" / "pwsh.sql").read_text() == deployed
    assert "cmd2.exe" in (out / "duckdb" / "windows" / "cmd.sql").read_text()


def test_a_file_of_several_rules_gives_one_file_per_rule_in_order(tmp_path):
    (tmp_path / "both.yml").write_text(GOOD + "---\n" + PWSH)
    out = tmp_path / "queries"
    assert invoke("convert", "-t", "eql", "-o", f"{out}/", tmp_path / "both.yml").exit_code == 0
    files = snapshot(out)
    assert sorted(files) == ["eql/both.1.eql", "eql/both.2.eql"]
    assert "cmd.exe" in files["eql/both.1.eql"] and "pwsh.exe" in files["eql/both.2.eql"]


def test_two_rules_writing_one_file_is_an_error_and_nothing_is_written(tmp_path, rules):
    (rules / "pwsh.kql").write_text("DeviceProcessEvents | where FileName == 'pwsh.exe'\n")
    out = tmp_path / "queries"
    result = invoke("convert", "-t", "duckdb", "-o", f"{out}/", rules)
    assert result.exit_code == 1
    assert f"{rules}/pwsh.kql and {rules}/pwsh.yml would both write duckdb/pwsh.sql" in (
        result.stderr
    )
    assert not out.exists()


def test_a_write_that_fails_leaves_the_folder_as_it_was(tmp_path, rules):
    out = tmp_path / "queries"
    (out / "duckdb" / "windows" / "cmd.sql").mkdir(parents=True)  # a folder in the way
    result = invoke("convert", "-t", "duckdb", "-o", f"{out}/", rules)
    assert result.exit_code == 1
    assert f"cannot write {out}/duckdb/windows/cmd.sql: is a folder" in result.stderr
    assert snapshot(out) == {} and [p.name for p in out.rglob("*")] == [
        "duckdb",
        "windows",
        "cmd.sql",
    ]


def test_check_compares_a_single_output_file(tmp_path, rules):
    out = tmp_path / "all.sql"
    assert invoke("convert", "-t", "duckdb", "-o", out, rules).exit_code == 0
    assert invoke("convert", "-t", "duckdb", "-o", out, "--check", rules).exit_code == 0
    (rules / "pwsh.yml").unlink()
    before = out.read_text()
    result = invoke("convert", "-t", "duckdb", "-o", out, "--check", rules)
    assert result.exit_code == 1
    assert f"would write {out}" in result.stderr
    assert out.read_text() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--prune", "-o", "out.sql"), "--prune works on -o DIR/"),
        (("--format", "json", "-o", "out/"), "-o DIR/ writes one query file per rule and target"),
    ],
)
def test_bad_combinations_are_usage_errors(tmp_path, rules, args, message):
    result = invoke("convert", "-t", "duckdb", *args, rules)
    assert result.exit_code == 2
    assert message in result.stderr


def test_the_readme_commands_run(tmp_path, monkeypatch):
    """The README's two commands, as written, over a copy of the bundled rules."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Generated queries kept in a repository\n", 1)[1].split("\n### ")[0]
    (block,) = re.findall(r"```sh\n(.*?)```", section, re.S)
    write, check = (shlex.split(line, comments=True) for line in block.splitlines())
    shutil.copytree(REPO / "rules", tmp_path / "rules")
    monkeypatch.chdir(tmp_path)
    assert invoke(*write[1:]).exit_code == 0
    assert invoke(*check[1:]).exit_code == 0
    (tmp_path / "rules" / "sigma" / "registry_delete_runmru.yml").unlink()
    stale = invoke(*check[1:])
    assert stale.exit_code == 1
    assert "would remove queries/duckdb/sigma/registry_delete_runmru.sql" in stale.stderr


def test_check_without_output_only_checks_that_every_rule_converts(tmp_path, rules):
    good = invoke("convert", "-t", "duckdb", "--check", rules)
    assert good.exit_code == 0, good.output
    assert good.stdout == "" and before_summary(good.stderr) == []
    (rules / "broken.yml").write_text(BROKEN)
    broken = invoke("convert", "-t", "duckdb", "--check", rules)
    assert broken.exit_code == 1
    assert broken.stdout == "" and f"{rules}/broken.yml:" in broken.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rules"]


def before_summary(stderr: str) -> list[str]:
    """The lines of `stderr` before convert's closing summary."""
    return stderr.split("summary:")[0].splitlines()
