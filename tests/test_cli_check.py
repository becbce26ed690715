"""`rulec check` (SigmaHQ's rule schema and conventions, as `sigma check`) and `convert --strict`.

Oracles: the Sigma specification's header fields for the schema findings, and pySigma's rule
validators (the conventions `sigma check` applies) for the others; the positions in the texts.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from rulec.compiler.cli import main

BODY = """\
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\\\whoami.exe'}
  unused: {User: x}
  condition: sel
level: high
"""
CLEAN = """\
title: Whoami run
id: 5d1e8c1c-86a2-4b8e-9c36-3c8e6c1f0a11
status: test
description: whoami.exe was run
author: rulec
date: 2024-01-02
tags: [attack.discovery, attack.t1033]
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\\\whoami.exe'}
  condition: sel
falsepositives: [Administrators]
level: low
"""


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_check_names_each_problem_at_its_key(tmp_path: Path) -> None:
    rule = tmp_path / "proc_creation_win_whoami_problems.yml"
    rule.write_text("title: t\nid: 12\ntags: [attack.discovery, sysmon]\n" + BODY)
    result = run("check", "--format", "json", str(rule))
    assert result.exit_code == 1
    found = {
        (f["code"], f["line"], f["column"]) for f in map(json.loads, result.stdout.split("\n")[:-1])
    }
    assert ("sigma.meta.id", 2, 1) in found  # the schema: id is a UUID
    assert ("sigma.meta.tags", 3, 26) in found  # the schema: namespace.name
    assert ("check.identifier-existence", 1, 1) in found  # the convention: every rule has an id
    assert ("check.dangling-detection", 7, 3) in found  # `unused` is in no condition
    assert "findings in 1 Sigma files" in result.stderr


def test_check_finds_nothing_in_a_rule_that_keeps_the_conventions(tmp_path: Path) -> None:
    rule = tmp_path / "proc_creation_win_whoami_execution.yml"
    rule.write_text(CLEAN)
    result = run("check", str(rule))
    assert (result.exit_code, result.stdout) == (0, ""), result.output


def test_strict_convert_turns_warnings_into_errors(tmp_path: Path) -> None:
    rule = tmp_path / "rule.yml"
    rule.write_text(CLEAN.replace("attack.t1033]", "attack.t1033, sysmon]"))
    lenient = run("convert", "-t", "duckdb", "--format", "json", str(rule))
    assert lenient.exit_code == 0 and json.loads(lenient.stdout)["ok"]
    strict = run("convert", "--strict", "-t", "duckdb", "--format", "json", str(rule))
    assert strict.exit_code == 1
    out = json.loads(strict.stdout)
    assert not out["ok"] and out["error"]["code"] == "sigma.meta.tags"
    assert f"{rule}:7:40: error[sigma.meta.tags]" in strict.stderr
