"""KQL plug-ins in SQL: `bag_unpack()` with its output columns declared, executed.

Oracles: the values are those of the examples on Microsoft's bag_unpack page (the bag
`{"Name": "John", "Age": 20}`, ... unpacked; with `OutputColumnPrefix` 'Property_';
`columnsConflict='replace_source'` giving the bag's Name, 'keep_source' the input's
'Old_name'), each run with an output schema declared; the columns and their order are those
Kusto.Language (tests/kql_oracle/semantic.js) gives each query: exactly the declared ones.
Each case runs on DuckDB and on PostgreSQL. Cases the page leaves open are diagnostics.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rulec.backends.base import Options
from rulec.backends.sql import SqlBackend
from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql
from rulec.compiler.run.engines import DuckDBEngine
from rulec.compiler.run.events import EventTable
from rulec.compiler.run.executor import execute

ORACLE = Path(__file__).resolve().parent / "kql_oracle"
PACKAGE = ORACLE / "node_modules" / "@kusto" / "language-service-next"
TYPES = {"Name": "string", "d": "dynamic"}
PEOPLE = (("John", 20), ("Dave", 40), ("Jasmine", 30))
EVENTS = EventTable(
    tuple(TYPES),
    tuple(
        {"Name": "Old_name", "d": json.dumps({"Name": n, "Age": a, "Address": f"A-{a}"})}
        for n, a in PEOPLE
    ),
)
# query -> the rows Microsoft's examples give
CASES = {
    "T | project d | evaluate bag_unpack(d) : (Name: string, Age: long)": [
        {"Name": n, "Age": a} for n, a in PEOPLE
    ],
    "T | project d | evaluate bag_unpack(d, 'Property_')"
    " : (Property_Age: long, Property_Name: string)": [
        {"Property_Age": a, "Property_Name": n} for n, a in PEOPLE
    ],
    "T | evaluate bag_unpack(d, columnsConflict='replace_source') : (Age: long, Name: string)": [
        {"Age": a, "Name": n} for n, a in PEOPLE
    ],
    "T | evaluate bag_unpack(d, columnsConflict='keep_source') : (Age: long, Name: string)": [
        {"Age": a, "Name": "Old_name"} for n, a in PEOPLE
    ],
    "T | evaluate bag_unpack(d, '', 'keep_source', dynamic(['Address']))"
    " : (Name: string, Age: real)": [{"Name": "Old_name", "Age": float(a)} for n, a in PEOPLE],
}


@pytest.fixture(scope="module")
def microsoft_columns() -> dict[str, list[str]]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: Microsoft's language service cannot run")
    if not PACKAGE.is_dir():
        pytest.skip(f"run `npm install` in {ORACLE} to install @kusto/language-service-next")
    request = json.dumps({"kind": "columns", "tables": {"T": TYPES}, "queries": list(CASES)})
    command = ["node", str(ORACLE / "semantic.js")]
    output = subprocess.run(command, input=request, capture_output=True, text=True, check=True)
    return dict(zip(CASES, json.loads(output.stdout), strict=True))


def query(text: str) -> ir.Query:
    (parsed,) = load_kql(text, "t.kql")
    assert isinstance(parsed, ir.Query), parsed
    return parsed


def check(text: str, engine, microsoft_columns) -> None:
    rows = execute(query(text), EVENTS, engine=engine)
    assert all(list(row) == microsoft_columns[text] for row in rows)
    key = lambda row: sorted(row.items())  # noqa: E731
    assert sorted(rows, key=key) == sorted(CASES[text], key=key)


@pytest.mark.parametrize("text", CASES)
def test_duckdb_unpacks_the_declared_columns(text, microsoft_columns):
    check(text, DuckDBEngine(), microsoft_columns)


@pytest.mark.parametrize("text", CASES)
def test_postgres_unpacks_the_declared_columns(text, microsoft_columns, postgres_engine):
    check(text, postgres_engine, microsoft_columns)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("T | evaluate bag_unpack(d)", "declare them"),
        ("T | evaluate bag_unpack(d) : (Name: string)", "columnsConflict='error' refuses"),
        ("T | evaluate bag_unpack(d, 'p_') : (Age: long)", "which slot fills Age"),
        (
            "T | evaluate bag_unpack(d, ignoredProperties=dynamic(['Age'])) : (Age: long)",
            "ignored property Age",
        ),
        ("T | evaluate bag_unpack(d, columnsConflict='other') : (Age: long)", "'other'"),
    ],
)
def test_what_the_page_leaves_open_is_a_located_diagnostic(text, message):
    backend = SqlBackend(DuckDBEngine().dialect, Options(schema={"T": tuple(TYPES)}))
    with pytest.raises(ir.RuleError) as raised:
        backend.emit(query(text))
    diagnostic = raised.value.diagnostic
    assert message in diagnostic.message
    assert (diagnostic.span.line, diagnostic.span.column) == (1, 5)
