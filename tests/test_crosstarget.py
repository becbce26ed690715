"""Proof by execution: the EQL and KQL that rulec emits select what the reference executor selects.

Over every golden case and every SigmaHQ regression case (../shared/regression):

- EQL: the emitted query runs on Elastic's `eql` Python engine over the same flattened events;
  the `_row`s it selects must equal the reference executor's.
- KQL: the emitted query is parsed back with rulec's KQL front end, executed on DuckDB, and
  must give the same rows (alerts included) as the rule itself. Every emitted query must also
  parse without error in Microsoft's own KQL parser (tests/kql_oracle, when installed).

The `eql` engine is an independent oracle with known limits; the test translates syntax for it,
never meaning:
- it compares strings case-insensitively even for `==`/`like`/`regex` (a case-sensitive rule
  could over-match there: none of the cases below needs that distinction);
- it has no `?` wildcard after `:` (`?` is literal) and anchors `regex` at the start only;
- its parser reads `\\u{..}` escapes greedily, so the test writes those characters raw;
- Elasticsearch maps numeric fields (event ids, ports) as numbers while the flattened events hold
  text, so values that are canonical integers are given to it as numbers.
A case whose rule a target cannot express (a sliding window in EQL) is skipped with the
back end's diagnostic, and so is a case whose rule the reference executor cannot run, or whose
parsed-back KQL uses functions the SQL back end lacks (the sliding-window plan's `todatetime`,
`prev`, `row_cumsum`: that route's limit, named in the skip).
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from rulec.backends.base import Options
from rulec.backends.eql import EqlBackend
from rulec.backends.kql import KqlBackend
from rulec.compiler import ir
from rulec.compiler.events import ROW, EventTable, load_events
from rulec.compiler.executor import execute
from rulec.compiler.frontends.kql import load_kql
from rulec.compiler.rules import load_rules
from rulec.compiler.verify import find_cases, read_case

eql = pytest.importorskip("eql", reason="Elastic's eql package is the EQL oracle")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
KQL_ORACLE = REPO / "tests" / "kql_oracle"
CANONICAL_INT = re.compile(r"-?(0|[1-9][0-9]{0,17})")
EQL_UNICODE_ESCAPE = re.compile(r"\\u\{([0-9A-Fa-f]+)\}")


@dataclass(frozen=True)
class Spec:
    """A rule and the events it runs on (plus further tables and a clock, for golden cases)."""

    name: str
    rule: Path
    events: Path
    tables: tuple[tuple[str, Path], ...] = ()
    now: object = None


def golden_specs() -> list[Spec]:
    specs = []
    for folder in find_cases([REPO / "golden"]):
        case = read_case(folder)
        tables = tuple(sorted(case.tables.items()))
        specs.append(Spec(f"golden/{folder.name}", case.rule, case.events, tables, case.now))
    return specs


def regression_specs() -> list[Spec]:
    path = SHARED / "regression" / "cases.jsonl"
    if not path.is_file():
        return []
    cases = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [
        Spec(f"regression/{c['id'][:8]}", SHARED / c["rule"], SHARED / c["flat_path"])
        for c in cases
    ]


SPECS = golden_specs() + regression_specs()


@dataclass(frozen=True)
class Prepared:
    query: ir.Query
    events: EventTable
    tables: dict[str, EventTable]
    reference: list[dict[str, object]]


@functools.cache
def prepare(spec: Spec) -> Prepared:
    """The rule, its events and the reference executor's rows; skips when these are not had."""
    loaded = load_rules(spec.rule)
    if len(loaded) != 1 or isinstance(loaded[0], ir.Diagnostic):
        pytest.skip(f"the rule does not load as one query: {loaded}")
    query = loaded[0]
    events = load_events([str(spec.events)])
    tables = {name: load_events([str(path)]) for name, path in spec.tables}
    try:
        reference = execute(query, events, tables, spec.now)
    except ir.RuleError as error:
        pytest.skip(f"the reference executor cannot run this rule: {error.diagnostic.message}")
    return Prepared(query, events, tables, reference)


def emitted(backend, query: ir.Query) -> str:
    try:
        return backend.emit(query).text
    except ir.RuleError as error:
        pytest.skip(f"{backend.name} cannot express this rule: {error.diagnostic.message}")


# ---------------------------------------------------------------------------------------- EQL


def eql_value(value: object) -> object:
    if isinstance(value, str) and CANONICAL_INT.fullmatch(value):
        return int(value)
    return value


def eql_event(row: dict[str, object]) -> dict[str, object]:
    """A flat row as the nested document Elasticsearch stores (`a.b` becomes `{a: {b}}`)."""
    document: dict[str, object] = {}
    for name, value in row.items():
        if value is None:
            continue
        *parents, leaf = name.split(".")
        node = document
        for parent in parents:
            child = node.get(parent)
            if not isinstance(child, dict):
                child = node[parent] = {}
            node = child
        node[leaf] = eql_value(value)
    return document


def run_eql(text: str, table: EventTable) -> list[int]:
    """The `_row`s that Elastic's eql engine selects with `text`."""
    text = EQL_UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
        parsed = eql.parse_query(text)
    engine = eql.PythonEngine()
    engine.add_query(parsed)
    hits: list[int] = []
    engine.add_output_hook(lambda result: hits.extend(e.data[ROW] for e in result.events))
    events = [eql.Event("any", eql_time(r, i), eql_event(r)) for i, r in enumerate(table.rows)]
    engine.stream_events(sorted(events, key=lambda e: e.time))
    return sorted(hits)


def eql_time(row: dict[str, object], index: int) -> int:
    """The event's time in the engine's unit (FILETIME ticks of 100 ns), else its position."""
    if not row.get("TimeCreated"):
        return index
    since = moment(row["TimeCreated"]) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return int(since.total_seconds() * 10_000_000)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_eql_on_elastics_engine_agrees_with_the_reference(spec: Spec):
    prepared = prepare(spec)
    if prepared.tables:
        pytest.skip("EQL reads one event stream; this rule joins further tables")
    text = emitted(EqlBackend(), prepared.query)
    hits = run_eql(text, prepared.events)
    if prepared.reference and ROW not in prepared.reference[0]:
        assert_sequences_inside_alerts(hits, prepared, text)
        return
    expected = sorted(int(row[ROW]) for row in prepared.reference)
    assert hits == expected, text


def assert_sequences_inside_alerts(hits: list[int], prepared: Prepared, text: str) -> None:
    """A correlation: the reference gives merged alert windows, EQL the events of each sequence.
    EQL must find sequences exactly when there are alerts, each event inside an alert window."""
    assert bool(hits) == bool(prepared.reference), text
    time_of = {row[ROW]: moment(row.get("TimeCreated")) for row in prepared.events.rows}
    windows = [(moment(a["window_start"]), moment(a["window_end"])) for a in prepared.reference]
    for hit in hits:
        assert any(start <= time_of[hit] <= end for start, end in windows), (hit, text)


def moment(text: object) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


# ---------------------------------------------------------------------------------------- KQL


def canonical(rows: list[dict[str, object]]) -> list[str]:
    return sorted(json.dumps(row, sort_keys=True, default=str) for row in rows)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_kql_parsed_back_agrees_with_the_reference(spec: Spec):
    prepared = prepare(spec)
    text = emitted(KqlBackend(Options(time_field="TimeCreated")), prepared.query)
    parsed = load_kql(text, "emitted.kql")
    queries = [item for item in parsed if isinstance(item, ir.Query)]
    errors = [item for item in parsed if isinstance(item, ir.Diagnostic)]
    assert len(queries) == 1 and not errors, (text, errors)
    try:
        rows = execute(queries[0], prepared.events, prepared.tables, spec.now)
    except ir.RuleError as error:  # the route's limit (SQL back end), not a KQL mismatch
        pytest.skip(f"the parsed-back KQL does not run on DuckDB: {error.diagnostic.message}")
    assert canonical(rows) == canonical(prepared.reference), text


def test_every_emitted_kql_parses_in_microsofts_parser(tmp_path: Path):
    if shutil.which("node") is None:
        pytest.skip("node is not installed: Microsoft's KQL parser cannot run")
    if not (KQL_ORACLE / "node_modules" / "@kusto" / "language-service-next").is_dir():
        pytest.skip(f"run `npm install` in {KQL_ORACLE} for @kusto/language-service-next")
    files = []
    for index, spec in enumerate(SPECS):
        loaded = load_rules(spec.rule)
        if len(loaded) != 1 or isinstance(loaded[0], ir.Diagnostic):
            continue
        try:
            text = KqlBackend().emit(loaded[0]).text
        except ir.RuleError:
            continue
        path = tmp_path / f"{index:03d}.kql"
        path.write_text(text, encoding="utf-8")
        files.append(path)
    command = ["node", str(KQL_ORACLE / "oracle.js"), *map(str, files)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rejected = [row for row in map(json.loads, output.splitlines()) if row["diagnostics"]]
    assert len(files) >= len(SPECS) - 5
    assert rejected == []
