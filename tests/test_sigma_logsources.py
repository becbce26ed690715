"""A Sigma log source listing several values means events of any of them, each event once.

Oracle: the Sigma specification (a list in `logsource` names alternative sources) and the counts
of the events below, written by hand. Every engine runs the emitted query: DuckDB and PostgreSQL
(SQL), Elastic's `eql` engine (EQL), `compiler/run/spl_evaluator.py` (SPL) and the KQL parsed
back and executed. The pipeline adds each source's own condition, so event 1, which both sources'
conditions accept, is the case that a union of the sources would count twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rulec.backends.base import Options
from rulec.backends.eql import EqlBackend
from rulec.backends.kql import KqlBackend
from rulec.backends.spl import SplBackend
from rulec.backends.sql import SqlBackend
from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql
from rulec.compiler.frontends.sigma.load import load_sigma, resolve_pipeline
from rulec.compiler.run import spl_evaluator
from rulec.compiler.run.engines_eql import run_eql
from rulec.compiler.run.events import ROW, EventTable
from rulec.compiler.run.executor import execute

RULE = """\
title: listed log sources
logsource:
  product: windows
  category: [ps_module, ps_script]
detection:
  sel: {Payload|contains: Mimikatz}
  condition: sel
"""

CONDITIONS = """\
name: a condition per log source
priority: 10
transformations:
  - id: module
    type: add_condition
    conditions: {Channel: PowerShell}
    rule_conditions: [{type: logsource, category: ps_module}]
  - id: script
    type: add_condition
    conditions: {Provider: PS}
    rule_conditions: [{type: logsource, category: ps_script}]
"""

TABLES = """\
name: a table per log source
priority: 10
transformations:
  - id: module
    type: set_state
    key: query_table
    val: module_events
    rule_conditions: [{type: logsource, category: ps_module}]
  - id: script
    type: set_state
    key: query_table
    val: script_events
    rule_conditions: [{type: logsource, category: ps_script}]
"""

FIELDS = ("Channel", "Provider", "Payload")
EVENTS = [
    {"Channel": "PowerShell", "Provider": "PS", "Payload": "Invoke-Mimikatz"},  # both sources
    {"Channel": "PowerShell", "Provider": None, "Payload": "Invoke-Mimikatz"},  # ps_module
    {"Channel": None, "Provider": "PS", "Payload": "Get-Date"},  # ps_script, no match
    {"Channel": None, "Provider": None, "Payload": "Invoke-Mimikatz"},  # neither source
]
EXPECTED = [1, 2]


def rule_through(pipeline_text: str, tmp_path: Path) -> ir.Query:
    path = tmp_path / "pipeline.yml"
    path.write_text(pipeline_text)
    [query] = load_sigma(RULE, "rule.yml", resolve_pipeline([str(path)]))
    assert isinstance(query, ir.Query), query
    return query


def table(events: list[dict[str, str | None]], first: int = 1) -> EventTable:
    rows = tuple({ROW: i, **e, "_raw": ""} for i, e in enumerate(events, first))
    return EventTable((ROW, *FIELDS, "_raw"), rows)


def rows_of(found: list[dict[str, object]]) -> list[int]:
    return sorted(int(row[ROW]) for row in found)  # type: ignore[call-overload]


@pytest.fixture
def query(tmp_path: Path) -> ir.Query:
    return rule_through(CONDITIONS, tmp_path)


def test_one_scan_with_the_or_of_the_sources_conditions(query: ir.Query) -> None:
    assert isinstance(query.pipeline.source, ir.AnySource)
    sql = SqlBackend("duckdb").emit(query).text
    assert "UNION" not in sql.upper() and sql.count('FROM "events"') == 1, sql


def test_duckdb_counts_an_event_of_two_sources_once(query: ir.Query) -> None:
    assert rows_of(execute(query, table(EVENTS))) == EXPECTED


def test_postgres_counts_an_event_of_two_sources_once(query: ir.Query, postgres_engine) -> None:
    assert rows_of(execute(query, table(EVENTS), engine=postgres_engine)) == EXPECTED


def test_eql_engine_counts_an_event_of_two_sources_once(query: ir.Query) -> None:
    text = EqlBackend(Options(raw_field="_raw")).emit(query).text
    assert run_eql(text, table(EVENTS)) == EXPECTED, text


def test_spl_evaluator_counts_an_event_of_two_sources_once(query: ir.Query) -> None:
    text = SplBackend().emit(query).text
    found = spl_evaluator.run(text, [dict(row) for row in table(EVENTS).rows])
    assert rows_of(found) == EXPECTED, text


def test_kql_parsed_back_counts_an_event_of_two_sources_once(query: ir.Query) -> None:
    assert rows_of(execute(kql_parsed_back(query), table(EVENTS))) == EXPECTED


def kql_parsed_back(query: ir.Query) -> ir.Query:
    text = KqlBackend().emit(query).text
    [parsed] = load_kql(text, "<emitted kql>")
    assert isinstance(parsed, ir.Query), (text, parsed)
    return parsed


# Each table holds its own events (rows 1-2 and 3-5): every one naming Mimikatz is found, once.
SPLIT = {"module_events": table(EVENTS[:2]), "script_events": table([*EVENTS[2:], EVENTS[0]], 3)}


@pytest.fixture
def split_query(tmp_path: Path) -> ir.Query:
    return rule_through(TABLES, tmp_path)


def test_sources_in_two_tables_are_one_scan_of_each(split_query: ir.Query) -> None:
    assert rows_of(execute(split_query, tables=SPLIT)) == [1, 2, 4, 5]
    assert rows_of(execute(kql_parsed_back(split_query), tables=SPLIT)) == [1, 2, 4, 5]


def test_sources_in_two_tables_on_postgres(split_query: ir.Query, postgres_engine) -> None:
    assert rows_of(execute(split_query, tables=SPLIT, engine=postgres_engine)) == [1, 2, 4, 5]
