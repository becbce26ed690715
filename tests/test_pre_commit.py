"""The pre-commit hooks of `.pre-commit-hooks.yaml`, run by pre-commit itself (`try-repo`) on a
temporary git repository of rules: one good rule (deployed: its queries are in the project's
output folder), one broken draft outside the project's paths.

Oracle: pre-commit, which installs rulec from the hook repository into an environment of its own
(as it does for a user) and reports each hook's verdict, and the located diagnostic the broken
rule gives. The other verdicts of the second hook's command (stale and removed queries) are
tested on the command line in test_output_folder.py.

The hook repository is a committed copy of what `pip install .` needs, so that the test runs the
hooks of this checkout as it is, committed or not. try-repo installs its environment at each run
(about 25 s here, most of it pip installing rulec's dependencies), so the test runs it once.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from source_tree import copy_source

from rulec.compiler.cli import main

GOOD = """title: Cmd
id: 11111111-1111-1111-1111-111111111111
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\cmd.exe'}
  condition: sel
"""
BROKEN = "title: Broken\nlogsource: {product: windows\ndetection: [\n"
GIT = ("git", "-c", "user.name=rulec", "-c", "user.email=rulec@example.org")


def git(folder, *args: str) -> None:
    subprocess.run([*GIT, *args], cwd=folder, check=True, capture_output=True)


def hook_repository(folder):
    copy_source(folder)
    git(folder, "init", "-q")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "hooks")
    return folder


@pytest.fixture
def pre_commit(tmp_path):
    """`pre-commit try-repo HOOKS ...` in the rule repository; (exit status, output)."""
    hooks = hook_repository(tmp_path / "hooks")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "NO_COLOR": "1"}

    def run(rules, *args: str) -> tuple[int, str]:
        result = subprocess.run(
            [sys.executable, "-m", "pre_commit", "try-repo", str(hooks), *args],
            cwd=rules,
            env=env,
            capture_output=True,
            text=True,
        )
        return result.returncode, result.stdout + result.stderr

    return run


def test_a_broken_rule_fails_with_its_location_and_current_queries_pass(tmp_path, pre_commit):
    rules = tmp_path / "detections"
    for folder in ("rules", "drafts"):
        (rules / folder).mkdir(parents=True)
    (rules / "rules" / "good.yml").write_text(GOOD)
    (rules / "drafts" / "broken.yml").write_text(BROKEN)
    (rules / "rulec.toml").write_text(
        'paths = ["rules"]\ntargets = ["spl", "kql"]\noutput = "queries/"\n'
    )
    (rules / ".pre-commit-config.yaml").write_text("repos: []\n")  # hidden: never a rule
    written = CliRunner().invoke(
        main, ["convert", "-t", "spl", "-t", "kql", "-o", f"{rules}/queries/", str(rules / "rules")]
    )
    assert written.exit_code == 0, written.output
    git(rules, "init", "-q")
    git(rules, "add", "-A")

    status, output = pre_commit(rules, "--all-files", "--verbose")
    assert status == 1, output
    verdicts = [line for line in output.splitlines() if line.endswith(("Passed", "Failed"))]
    assert [v.split(".")[0] for v in verdicts] == ["rulec convert", "rulec queries are current"]
    assert verdicts[0].endswith("Failed") and verdicts[1].endswith("Passed"), output
    assert "drafts/broken.yml:3:10: error[sigma.yaml]" in output and "broken YAML" in output
    assert "good.yml:" not in output and ".pre-commit-config.yaml:" not in output
    assert "queries: no files would change" in output
