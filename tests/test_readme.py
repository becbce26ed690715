"""Every `rulec` command of the README's shell examples runs, as a user would type it.

Each command runs through bash from a copy of the repository's layout (links to `rules/`,
`golden/` and `../shared`), so that files it writes (`-o queries.txt`, `--cache`) land in a
temporary folder; a command reading a file an earlier one writes (`--catalog index.json`) runs
that one first. A command passes when it exits 0, or 1 with the diagnostics of the rules that
failed (the documented exit status: on stderr, or in the JSON results), and never with an
internal error or a traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SHARED

FENCE = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)
HANG_GUARD = 1800  # seconds; a whole SigmaHQ corpus on a loaded machine takes minutes
KNOWN_FAILURES: dict[str, str] = {}  # command start -> why it fails (an expected failure)
NEEDS_CLUSTER = "spark://"


def readme_commands() -> list[str]:
    """The `rulec` commands of the README's ```sh blocks, continuation lines kept (a block that
    is a whole script, `#!` first, runs as one in tests/test_ci_example.py)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    commands: list[str] = []
    for block in FENCE.findall(text):
        if block.startswith("#!"):
            continue
        lines = iter(block.splitlines())
        for line in lines:
            command = line
            while command.split("#")[0].rstrip().endswith("\\"):
                command += "\n" + next(lines)
            start = command.find("rulec ")
            if command.startswith("rulec ") or "&& rulec " in command:
                commands.append(command[start:])
    return commands


COMMANDS = readme_commands()


def outputs() -> dict[str, str]:
    """Files the commands write (`-o FILE`), each with the command writing it."""
    return {m: c for c in COMMANDS for m in re.findall(r"-o (\S+)", c)}


def test_the_readme_has_its_examples():
    assert len(COMMANDS) >= 15
    assert any(c.startswith("rulec verify") for c in COMMANDS)


def marks(command: str) -> list[pytest.MarkDecorator]:
    return [
        pytest.mark.xfail(reason=reason, strict=True)
        for start, reason in KNOWN_FAILURES.items()
        if command.startswith(start)
    ]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder laid out like the repository (with ../shared beside it where there is one)."""
    root = tmp_path_factory.mktemp("readme")
    (root / "repo").mkdir()
    for name in ("rules", "golden"):
        (root / "repo" / name).symlink_to(REPO / name)
    if SHARED.is_dir():
        (root / "shared").symlink_to(SHARED)
    return root / "repo"


def run(command: str, cwd: Path) -> subprocess.CompletedProcess:
    environment = dict(os.environ)
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
    )


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(c, id=c.split("#")[0].split("\\")[0].strip()[:100], marks=marks(c))
        for c in COMMANDS
    ],
)
def test_readme_command_runs(command: str, workspace: Path, request: pytest.FixtureRequest):
    if NEEDS_CLUSTER in command:
        pytest.skip("needs a Spark cluster and object storage (the README's cluster example)")
    if "../shared" in command:
        request.getfixturevalue("shared")
    if "--engine spark" in command:
        request.getfixturevalue("spark_installed")
    for name, producer in outputs().items():
        if producer != command and name in command.split() and not (workspace / name).exists():
            assert run(producer, workspace).returncode in (0, 1)
    result = run(command, workspace)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "internal error" not in result.stderr, result.stderr[-3000:]
    assert result.returncode in (0, 1), result.stderr[-3000:]
    if result.returncode == 1:  # some rule failed (or `check` found something): located, or JSON
        reported = re.search(r"^\S+: (error|warning)\[", result.stdout + result.stderr, re.M)
        assert reported or '"ok": false' in result.stdout, result.stderr[-3000:]


@pytest.fixture
def spark_installed() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError as error:
        if os.environ.get("RULEC_REQUIRE_SPARK") == "1":
            pytest.fail(f"pyspark is required here (RULEC_REQUIRE_SPARK=1): {error}")
        pytest.skip(f"pyspark is not installed (pip install rulec[spark]): {error}")
