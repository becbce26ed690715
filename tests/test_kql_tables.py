"""Tables the workspace decides: wildcards (`union *`, `union Device*`), `search` over every table,
and tables of another workspace or service (`workspace("w").T`, `arg("").Resources`).

The kql target writes each back (checked by Microsoft's parser, `tests/kql_oracle/oracle.js`, and
by lowering the text again into the same IR); a SQL target, which holds only its own tables and
cannot know which tables a wildcard matches, gives a diagnostic located at the table.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rulec.backends.base import Options
from rulec.backends.kql import KqlBackend
from rulec.backends.registry import emit
from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql

ORACLE = Path(__file__).resolve().parent / "kql_oracle"

# a KQL query | how the kql target writes it
FORMS = [
    ("union *", "union *"),
    ("union * | summarize n = count() by Type", "union *\n| summarize n = count() by Type"),
    ("union withsource=T Device*", "union withsource=T Device*"),
    (
        "union withsource=TableName Device*, SecurityEvent | take 3",
        "union withsource=TableName Device*, (SecurityEvent)\n| take 3",
    ),
    ("SecurityEvent | union Device*, Alert", "SecurityEvent\n| union Device*, (Alert)"),
    ("union Device* | extend y = 2", "union Device*\n| extend y = 2"),
    ("union withsource=X A | take 1", "union withsource=X A\n| take 1"),
    (
        'search "10.0.0.4" | distinct Type',
        "union withsource=['$table'] *\n| search \"10.0.0.4\"\n| distinct Type",
    ),
    (
        "search * | summarize n = count() by $table",
        "union withsource=['$table'] *\n| summarize n = count() by ['$table']",
    ),
    ('arg("").Resources | where type == "x"', 'arg("").Resources\n| where type == "x"'),
    ('workspace("abc").SecurityEvent | take 1', 'workspace("abc").SecurityEvent\n| take 1'),
    (
        'let R = arg("").Resources | take 1; T | union R',
        'let R = (\n    arg("").Resources\n    | take 1\n);\nT\n| union (R)',
    ),
]


def lowered(text: str) -> ir.Query:
    (query,) = [item for item in load_kql(text, "q.kql") if isinstance(item, ir.Query)]
    return query


def body(query: ir.Query) -> tuple[object, ...]:
    return query.pipeline, query.params, query.lets


@pytest.mark.parametrize(("source", "expected"), FORMS)
def test_the_kql_target_writes_the_table_back(source: str, expected: str) -> None:
    query = lowered(source)
    text = KqlBackend(Options()).emit(query).text
    assert text == expected
    assert body(lowered(text)) == body(query), text


def test_microsofts_parser_accepts_what_is_written(tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: Microsoft's KQL parser cannot run")
    if not (ORACLE / "node_modules" / "@kusto" / "language-service-next").is_dir():
        pytest.skip(f"run `npm install` in {ORACLE} for @kusto/language-service-next")
    files = []
    for index, (source, _) in enumerate(FORMS):
        path = tmp_path / f"{index:02d}.kql"
        path.write_text(KqlBackend(Options()).emit(lowered(source)).text, encoding="utf-8")
        files.append(path)
    command = ["node", str(ORACLE / "oracle.js"), *map(str, files)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in output.splitlines()]
    assert len(rows) == len(FORMS)
    assert [row for row in rows if row["diagnostics"]] == []


def test_the_ir_carries_the_pattern_and_the_scope() -> None:
    assert lowered("union Device*").pipeline.source == ir.Table("Device*", wildcard=True)
    scoped = lowered('workspace("w").SecurityEvent').pipeline.source
    assert scoped == ir.Table("SecurityEvent", scope=(("workspace", "w"),))
    every = lowered('search "x"').pipeline
    assert every.source == ir.Table("*", wildcard=True)
    assert every.stages[0] == ir.Union((), "$table")


# a KQL query | the SQL diagnostic | its line and column
SQL_DIAGNOSTICS = [
    ("union *", "cannot express the table wildcard '*'", 1, 7),
    ("T\n| union Device*", "cannot express the table wildcard 'Device*'", 2, 9),
    ('search "x"', "cannot express the table wildcard '*'", 1, 1),
    ('T | join (arg("").Resources) on id', 'cannot express the table arg("").Resources', 1, 11),
]


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
@pytest.mark.parametrize(("source", "message", "line", "column"), SQL_DIAGNOSTICS)
def test_sql_targets_say_where_they_cannot_know_the_tables(
    target: str, source: str, message: str, line: int, column: int
) -> None:
    with pytest.raises(ir.RuleError) as raised:
        emit(target, lowered(source))
    diagnostic = raised.value.diagnostic
    assert message in diagnostic.message
    assert (diagnostic.span.file, diagnostic.span.line, diagnostic.span.column) == (
        "q.kql",
        line,
        column,
    )


@pytest.mark.parametrize("target", ["spl", "eql"])
@pytest.mark.parametrize(
    ("source", "named", "column"),
    [("union Device* | where x == 1", "Device*", 7), ('arg("").Resources', 'arg("").Resources', 1)],
)
def test_event_targets_say_they_cannot_read_such_tables(
    target: str, source: str, named: str, column: int
) -> None:
    with pytest.raises(ir.RuleError) as raised:
        emit(target, lowered(source))
    diagnostic = raised.value.diagnostic
    assert diagnostic.message == f"{target} cannot express the table {named}"
    assert (diagnostic.span.line, diagnostic.span.column) == (1, column)
