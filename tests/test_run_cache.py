"""`rulec run --cache DIR`: rules and plans kept between runs give the same results.

Oracle: `executor.execute` run on each rule alone (the rows every other `rulec run` test is held
to), and the same `rulec run` without a cache; a second run must not read the rules or plan them
again (the calls are counted), and a stale or unreadable entry only costs the work.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import SHARED, regression_cases
from rulec.compiler import ir
from rulec.compiler.cli import main
from rulec.compiler.rules import load_rules
from rulec.compiler.run import run_cache
from rulec.compiler.run.events import load_events
from rulec.compiler.run.executor import execute
from rulec.compiler.run.multirule import runner
from rulec.compiler.run.multirule.runner import run_rules


@pytest.fixture(scope="module")
def regression():
    cases = regression_cases()
    rules = sorted({SHARED / case["rule"] for case in cases})
    queries = [q for rule in rules for q in load_rules(rule)]
    assert all(isinstance(q, ir.Query) for q in queries)
    return rules, queries, load_events([str(SHARED / "regression" / "flat")])


def rows_of(runs):
    return [run.rows if run.ok else type(run.error).__name__ for run in runs]


@pytest.mark.parametrize("strategy", ["prefilter", "lowered"])
def test_plans_read_back_find_what_each_rule_finds_alone(
    regression, tmp_path, monkeypatch, strategy
):
    _, queries, events = regression
    cache = run_cache.RunCache(tmp_path)
    alone = []
    run_alone = runner.Runner.alone
    monkeypatch.setattr(
        runner.Runner, "alone", lambda self, q, **k: alone.append(q) or run_alone(self, q, **k)
    )
    first = rows_of(run_rules(queries, events, cache=cache, strategy=strategy))
    assert first == [execute(query, events) for query in queries]
    assert len(list(tmp_path.rglob("*.plans.pickle"))) == 1
    alone_first, alone[:] = list(alone), []

    def planned_again(*args):
        raise AssertionError("a cached rule was planned again")

    monkeypatch.setattr(runner.Runner, "plan", planned_again)
    assert rows_of(run_rules(queries, events, cache=cache, strategy=strategy)) == first
    assert alone == alone_first  # no plan read back fails in the shared scan


def test_other_columns_are_planned_again(regression, tmp_path):
    _, queries, events = regression
    cache = run_cache.RunCache(tmp_path)
    run_rules(queries[:5], events, cache=cache)
    narrower = load_events([str(SHARED / "regression" / "events")])
    assert rows_of(run_rules(queries[:5], narrower, cache=cache)) == [
        execute(query, narrower) for query in queries[:5]
    ]
    assert len(list(tmp_path.rglob("*.plans.pickle"))) == 2


def test_a_second_run_reads_no_rule_and_prints_the_same(regression, tmp_path, monkeypatch):
    rules, _, _ = regression
    events = str(SHARED / "regression" / "flat")
    command = ["run", *map(str, rules[:30]), "--events", events, "--format", "json"]
    cache = ["--cache", str(tmp_path / "cache")]
    plain = CliRunner().invoke(main, command)
    first = CliRunner().invoke(main, command + cache)
    assert first.stdout == plain.stdout and first.exit_code == plain.exit_code == 0
    assert len(list((tmp_path / "cache").rglob("*.rules.pickle"))) == 30

    def read_again(*args, **kwargs):
        raise AssertionError("a cached rule file was read again")

    monkeypatch.setattr("rulec.compiler.cli.load_rules", read_again)
    monkeypatch.setattr("rulec.compiler.cli.load_windows_rules", read_again)
    second = CliRunner().invoke(main, command + cache)
    assert second.stdout == plain.stdout and second.exit_code == 0


def test_an_edited_rule_is_read_again(tmp_path):
    rule = tmp_path / "rule.yml"
    text = (
        "title: t\nid: 5f1c1f5e-0000-4000-8000-000000000001\nstatus: test\n"
        "logsource: {product: test}\ndetection:\n  sel: {A: '%s'}\n  condition: sel\n"
    )
    events = tmp_path / "events.json"
    events.write_text('{"A": "1"}\n{"A": "2"}\n')
    command = ["run", str(rule), "--events", str(events), "--format", "json", "--all"]
    command += ["--cache", str(tmp_path / "cache"), "--without-pipeline"]
    found = []
    for value in ("1", "2", "1"):
        rule.write_text(text % value)
        result = CliRunner().invoke(main, command)
        found.append([row["A"] for row in json.loads(result.stdout)["rows"]])
    assert found == [["1"], ["2"], ["1"]]


def test_a_broken_entry_is_read_as_missing(regression, tmp_path):
    _, queries, events = regression
    cache = run_cache.RunCache(tmp_path)
    first = rows_of(run_rules(queries[:5], events, cache=cache))
    (entry,) = tmp_path.rglob("*.plans.pickle")
    entry.write_bytes(b"not a pickle")
    assert rows_of(run_rules(queries[:5], events, cache=cache)) == first
