"""Each semantic decision is made in one place: a scan of the source for second copies.

Oracle: the source itself. Each test names the one module that makes a decision and fails when
another module makes it again (the way the copies used to drift apart).
"""

from __future__ import annotations

import re

import pytest

from conftest import REPO

SOURCES = sorted(p for d in ("compiler", "backends") for p in (REPO / d).rglob("*.py"))


def offenders(pattern: str, allowed: set[str]) -> list[str]:
    """The `file:line` of every match of `pattern` outside the allowed files."""
    found = []
    for path in SOURCES:
        name = str(path.relative_to(REPO))
        if name in allowed:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.search(pattern, line):
                found.append(f"{name}:{number}: {line.strip()}")
    return found


@pytest.mark.parametrize(
    ("decision", "pattern", "home"),
    [
        # which SQL engine: only SqlDialect's subclasses and their attributes say
        (
            "a test of the SQL dialect's name",
            r"dialect(\.name)?\s*(==|!=|\bin\b|\bnot in\b)",
            set(),
        ),
        # the tag column of a correlation's union of rules
        (
            "the correlation's rule column",
            r'"_rulec_rule"',
            # the single-pass runner has a rule column of its own
            {"backends/transforms.py", "compiler/run/multirule/candidates.py"},
        ),
        # `> n` as `>= n + 1`
        ("`> n` read as n + 1", r"CompareOp\.GT:\s*1", {"backends/transforms.py"}),
        # "all rules" of a temporal correlation
        (
            "how many rules 'all rules' is",
            r"Literal\(len\((set\()?\w+\.rules\)",
            {"backends/transforms.py"},
        ),
        (
            "the sliding aggregate of a correlation",
            r"def correlation_aggregate",
            {"backends/transforms.py"},
        ),
        # the IR walker
        (
            "a hand-written walk over the IR",
            r"dataclasses\.fields\(node\)|is_dataclass\(node\)",
            {"compiler/ir.py", "compiler/frontends/kql/lower_summarize.py"},  # KQL syntax
        ),
        ("the AND operands of an expression", r"def conjuncts", {"compiler/ir.py"}),
        # a rule file's front end, by its suffix (check.py runs Sigma's own validators)
        (
            "which front end reads a rule file",
            r"frontends\.sigma import .*\b(load_sigma|read_sigma)\b",
            {"compiler/rules.py", "compiler/check.py"},
        ),
    ],
)
def test_decision_made_in_one_place(decision, pattern, home):
    assert offenders(pattern, home) == [], f"{decision} is decided outside {sorted(home)}"


def test_the_scan_finds_what_it_looks_for():
    """The patterns do match their one home (so a test above cannot pass by matching nothing)."""
    assert offenders(r"def correlation_aggregate", set())
    assert offenders(r"def conjuncts", set())
    assert offenders(r'"_rulec_rule"', set())


@pytest.mark.parametrize(
    ("decision", "pattern", "home"),
    [
        ("a bool written as text", r'"true" if \w+ else "false"|str\(\w+\)\.lower\(\) if', set()),
        ("a number written as text", r"\.is_integer\(\)", {"compiler/run/engines.py"}),
        ("a regex's inline flags", r"f\"\(\?\{", {"backends/sql_dialects.py"}),  # ARE modes
        ("a duration's units", r"% (length|size) == 0", set()),
        ("a presence guard's and", r"isnotnull\(\{[^}]*\}\) (and|AND) |!= null and ", set()),
    ],
)
def test_backend_value_decisions_in_values(decision, pattern, home):
    """backends/values.py writes bools, numbers, regex flags and durations for every target."""
    scanned = offenders(pattern, home | {"backends/values.py"})
    assert [o for o in scanned if o.startswith("backends/")] == [], decision


def test_front_ends_do_not_import_the_loader_or_back_ends():
    """Front ends depend on the IR only: the loader (`compiler/rules.py`) calls them."""
    importing = offenders(r"from rulec\.(compiler\.rules|backends)\b", set())
    assert [o for o in importing if o.startswith("compiler/frontends/")] == []
