"""Proof by execution: the EQL and KQL that rulec emits select what the reference executor selects.

Over every golden case and every SigmaHQ regression case (../shared/regression), through the
engines of `rulec run --engine eql|kql` and the comparison of `rulec verify`:

- EQL: the emitted query runs on Elastic's `eql` Python engine (the oracle) over the same
  flattened events; the `_row`s it selects must equal the reference executor's (a sequence's
  events must fall inside the reference's alert windows).
- KQL: the emitted query is parsed back with rulec's KQL front end, executed on DuckDB, and
  must give the same rows (alerts included) as the rule itself. Every emitted query must also
  parse without error in Microsoft's own KQL parser (tests/kql_oracle, when installed).

The `eql` engine compares strings case-insensitively even for `==`/`like`/`regex` (a
case-sensitive rule could over-match there: none of the cases below needs that distinction),
has no `?` wildcard after `:` and anchors `regex` at the start only.
A case whose rule a target cannot express (a sliding window in EQL) is skipped with the
back end's diagnostic, and so is a case whose rule the reference executor cannot run, or whose
parsed-back KQL uses functions the SQL back end lacks (that route's limit, named in the skip).
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from rulec.backends.kql import KqlBackend
from rulec.compiler import ir
from rulec.compiler.rules import load_rules
from rulec.compiler.run.engines import EngineLimit
from rulec.compiler.run.engines_eql import EqlEngine
from rulec.compiler.run.engines_kql import KqlEngine
from rulec.compiler.run.equivalence import Inputs, differences
from rulec.compiler.run.events import EventTable, load_events
from rulec.compiler.run.executor import execute
from rulec.compiler.run.verify import find_cases, read_case

eql = pytest.importorskip("eql", reason="Elastic's eql package is the EQL oracle")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
KQL_ORACLE = REPO / "tests" / "kql_oracle"


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


def emitted(engine, query: ir.Query) -> str:
    try:
        return engine.emit(query, None, None)
    except ir.RuleError as error:
        pytest.skip(f"{engine.target} cannot express this rule: {error.diagnostic.message}")


# ------------------------------------------------------------------------------ EQL and KQL


def assert_agrees(engine, spec: Spec) -> None:
    """The target's engine selects what the reference selects (`rulec verify`'s comparison)."""
    prepared = prepare(spec)
    text = emitted(engine, prepared.query)
    try:
        rows = engine.run_query(prepared.query, prepared.events, prepared.tables, spec.now, None)
    except EngineLimit as why:  # the route's limit (e.g. SQL lacks prev()), not a mismatch
        pytest.skip(str(why))
    inputs = Inputs(prepared.events, prepared.tables, spec.now)
    assert differences(prepared.reference, rows, inputs) == ([], []), text


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_eql_on_elastics_engine_agrees_with_the_reference(spec: Spec):
    if spec.tables:
        pytest.skip("EQL reads one event stream; this rule joins further tables")
    assert_agrees(EqlEngine(), spec)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_kql_parsed_back_agrees_with_the_reference(spec: Spec):
    assert_agrees(KqlEngine(), spec)


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
