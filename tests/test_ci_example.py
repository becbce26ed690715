"""The README's CI job for a rule repository (`ci/rules.sh`), run as it is, every command, on a
temporary git repository: three bundled rules and their golden cases, one rule edited since the
base branch.

Oracle: the job's own checks (the golden cases; `--check`), the rulec command line run here for
the same conversions, the YAML reader for the deploy file, and GitHub's Markdown renderer
(cmark-gfm) for the pull-request report. The job installs rulec from a copy of this checkout
into an environment of its own, as a runner would (most of the test's time: pip).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile

import cmarkgfm
import yaml
from click.testing import CliRunner
from source_tree import copy_source

from conftest import REPO
from rulec.compiler.cli import main

SECTION = "### A CI job for a rule repository\n"
RULES = (
    "file_event_win_advanced_ip_scanner",
    "proc_creation_win_bitsadmin_download",
    "registry_delete_runmru",
)
GIT = ("git", "-c", "user.name=ci", "-c", "user.email=ci@example.org")


def readme_blocks() -> dict[str, str]:
    """The code blocks of the README's CI section, by language."""
    readme = (REPO / "README.md").read_text()
    section = re.split(r"\n##+ ", readme.split(SECTION, 1)[1], maxsplit=1)[0]
    return dict(re.findall(r"```(\w+)\n(.*?)```", section, re.S))


def git(folder, *args: str) -> None:
    subprocess.run([*GIT, *args], cwd=folder, check=True, capture_output=True)


def rule_repository(folder, blocks):
    (folder / "ci").mkdir(parents=True)
    (folder / "ci" / "rules.sh").write_text(blocks["sh"])
    (folder / "rulec.toml").write_text(blocks["toml"])
    (folder / "rules" / "sigma").mkdir(parents=True)
    for name in RULES:
        shutil.copy(REPO / "rules" / "sigma" / f"{name}.yml", folder / "rules" / "sigma")
        shutil.copytree(REPO / "golden" / name, folder / "golden" / name)
    git(folder, "init", "-q")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "base")
    git(folder, "branch", "base")
    edited = folder / "rules" / "sigma" / "registry_delete_runmru.yml"
    edited.write_text(
        edited.read_text().replace("TargetObject|endswith:", "TargetObject|contains:")
    )
    git(folder, "commit", "-q", "-am", "RunMRU: contains")
    return folder


def test_every_command_of_the_readme_ci_job_runs(tmp_path, monkeypatch):
    blocks = readme_blocks()
    assert set(blocks) == {"toml", "sh"}
    repo = rule_repository(tmp_path / "detections", blocks)
    env = {**os.environ, "RULEC": str(copy_source(tmp_path / "rulec")), "BASE": "base"}
    job = subprocess.run(
        ["bash", "ci/rules.sh"], cwd=repo, env=env, capture_output=True, text=True, timeout=900
    )
    assert job.returncode == 0, job.stdout + job.stderr
    assert all(f"golden/{name}" in job.stdout for name in RULES)  # verified (or the job stops)

    monkeypatch.chdir(repo)
    queries = sorted(str(p.relative_to(repo)) for p in (repo / "queries").rglob("*.*"))
    suffixes = {"duckdb": "sql", "spl": "spl", "kql": "kql"}
    assert queries == sorted(
        f"queries/{target}/sigma/{name}.{suffix}"
        for target, suffix in suffixes.items()
        for name in RULES
    )
    spelled = CliRunner().invoke(
        main, ["convert", "-t", "duckdb", "-t", "spl", "-t", "kql", "-o", "again/", "rules"]
    )
    assert spelled.exit_code == 0, spelled.output
    again = sorted(str(p.relative_to(repo / "again")) for p in (repo / "again").rglob("*.*"))
    assert [f"queries/{name}" for name in again] == queries
    assert all((repo / q).read_text() == (repo / "again" / q[8:]).read_text() for q in queries)
    assert any((repo / ".rulec-cache").iterdir())

    with tarfile.open(repo / "dist" / "queries.tar.gz") as archive:
        assert sorted(m.name for m in archive.getmembers() if m.isfile()) == queries
    sentinel = list(yaml.safe_load_all((repo / "dist" / "sentinel.yaml").read_text()))
    assert sorted(rule["name"] for rule in sentinel) == sorted(
        yaml.safe_load((repo / "rules" / "sigma" / f"{n}.yml").read_text())["title"] for n in RULES
    )

    report = (repo / "dist" / "diff.md").read_text()
    assert report.startswith(f"### rulec: 1 of {len(RULES)} rules changed\n")
    html = cmarkgfm.github_flavored_markdown_to_html(report)
    assert "<td>indicator changed TargetObject</td>\n<td>changed</td>\n<td>changed</td>" in html
    assert "<td>TargetObject ends_with \\Software\\Microsoft" in html
    assert "<td>TargetObject contains \\Software\\Microsoft" in html


def test_the_diff_sections_ci_step_is_the_jobs():
    readme = (REPO / "README.md").read_text()
    section = readme.split("### What an edit did: `rulec diff`", 1)[1].split("\n## ", 1)[0]
    steps = [
        line.strip()
        for block in re.findall(r"```sh\n(.*?)```", section, re.S)
        for line in block.splitlines()
        if line.strip().startswith("rulec ")
    ]
    assert steps and all(step in readme_blocks()["sh"] for step in steps)
