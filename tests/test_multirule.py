"""Single-pass evaluation of many rules: the same result as `execute`, rule by rule.

Oracle: `executor.execute` run on each rule alone over the same events; `run_rules` must return,
for every rule, the same rows (or fail with the same error), whatever scan strategy it uses.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from conftest import SHARED, regression_cases
from rulec.compiler import ir
from rulec.compiler.rules import load_rules
from rulec.compiler.run.engines import DuckDBEngine
from rulec.compiler.run.events import EventTable, flatten, load_events
from rulec.compiler.run.executor import execute
from rulec.compiler.run.multirule import candidates
from rulec.compiler.run.multirule import checks as multirule_checks
from rulec.compiler.run.multirule import runner as multirule
from rulec.compiler.run.multirule.prefilter import clauses
from rulec.compiler.run.multirule.runner import STRATEGIES, run_rules


def one_by_one(queries, events, tables=None):
    """What `execute` gives each rule alone: its rows, or its error's type and message."""
    results = []
    for query in queries:
        try:
            results.append(("rows", execute(query, events, tables)))
        except Exception as error:
            results.append(("error", type(error).__name__, str(error)))
    return results


def together(queries, events, tables=None, strategy="prefilter"):
    runs = run_rules(queries, events, tables, strategy=strategy)
    return [
        ("rows", run.rows) if run.ok else ("error", type(run.error).__name__, str(run.error))
        for run in runs
    ]


@pytest.fixture(scope="module")
def regression():
    cases = regression_cases()
    queries = [q for case in cases for q in load_rules(SHARED / case["rule"])]
    assert all(isinstance(q, ir.Query) for q in queries)
    return cases, queries


def test_every_regression_rule_over_all_regression_events(regression):
    _, queries = regression
    events = load_events([str(SHARED / "regression" / "flat")])
    assert len(queries) == 98
    expected = one_by_one(queries, events)
    assert together(queries, events) == expected
    matched = sum(1 for result in expected if result[0] == "rows" and result[1])
    assert matched == 98  # every rule finds at least its own events


def test_the_lowered_scan_agrees_on_the_regression_rules(regression):
    _, queries = regression
    events = load_events([str(SHARED / "regression" / "flat")])
    assert together(queries, events, strategy="lowered") == together(queries, events)


def test_nested_windows_events_give_the_same_rows(regression):
    _, queries = regression
    events = load_events([str(SHARED / "regression" / "events")])
    assert together(queries[:20], events) == one_by_one(queries[:20], events)


def rule(predicate: ir.Expr, *stages: ir.Stage, table: str = "events") -> ir.Query:
    return ir.Query(ir.Pipeline(ir.Table(table), (ir.Filter(predicate), *stages)))


def match(field: str, kind: ir.MatchKind, *values: str) -> ir.Match:
    return ir.Match(ir.FieldRef(field), kind, values, case_sensitive=False)


def table_of(*events: dict) -> EventTable:
    rows, columns = [], {"_row": None}
    for number, event in enumerate(events, 1):
        row = {**flatten(event), "_row": number}
        columns.update(dict.fromkeys(row))
        rows.append(row)
    return EventTable(tuple(columns), tuple(rows))


EVENTS = table_of(
    {"Image": "C:\\w\\cmd.exe", "User": "bob", "TimeCreated": "2026-01-01T00:00:00Z"},
    {"Image": "C:\\w\\powershell.exe", "User": "bob", "TimeCreated": "2026-01-01T00:01:00Z"},
    {"Image": "C:\\w\\cmd.exe", "User": "eve", "TimeCreated": "2026-01-01T00:02:00Z"},
    {"Image": "C:\\w\\notepad.exe", "TimeCreated": "2026-01-01T00:03:00Z"},
)
COUNT_BY_USER = ir.Aggregate(
    group_by=(ir.Assign("User", ir.FieldRef("User")),),
    measures=(ir.Measure("value", ir.AggCall("count")),),
    window=ir.Window(timedelta(minutes=5)),
    having=ir.Compare(ir.CompareOp.GE, ir.FieldRef("value"), ir.Literal(2)),
)

# rule                                                              expected `_row`s / alert rows
SMALL = [
    (rule(match("Image", ir.MatchKind.ENDSWITH, "\\cmd.exe")), [1, 3]),
    (rule(match("Image", ir.MatchKind.CONTAINS, "shell", "note")), [2, 4]),
    (rule(match("User", ir.MatchKind.EQ, "BOB")), [1, 2]),
    (rule(ir.Not(match("User", ir.MatchKind.EQ, "bob"))), [3, 4]),
    (rule(match("Image", ir.MatchKind.CONTAINS, "nothing")), []),
    (rule(match("Image", ir.MatchKind.CONTAINS, ".exe"), COUNT_BY_USER), [("bob", 2)]),
    (rule(match("Missing", ir.MatchKind.EQ, "x")), []),  # a field no event has reads as NULL
    (rule(match("Image", ir.MatchKind.REGEX, "(unclosed")), "error"),
    (rule(match("Image", ir.MatchKind.CONTAINS, "cmd"), table="Other"), [1, 3]),
]


def picked(result):
    if result[0] == "error":
        return "error"
    rows = result[1]
    if rows and "_row" in rows[0]:
        return [row["_row"] for row in rows]
    return [(row["User"], row["value"]) for row in rows]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strategies_agree_with_execute(strategy):
    queries = [query for query, _ in SMALL]
    got = together(queries, EVENTS, strategy=strategy)
    assert [picked(r) for r in got] == [want for _, want in SMALL]
    assert got == one_by_one(queries, EVENTS)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_filter_rules_share_the_scan_and_never_run_alone(strategy, monkeypatch):
    def alone(*args, **kwargs):
        raise AssertionError("a filter rule ran alone")

    monkeypatch.setattr(multirule, "execute", alone)
    queries = [query for query, want in SMALL[:5]]
    got = run_rules(queries, EVENTS, strategy=strategy)
    assert [[row["_row"] for row in run.rows] for run in got] == [want for _, want in SMALL[:5]]


def test_a_table_given_by_name_wins_over_the_events():
    other = table_of({"Image": "cmd.exe"})
    query = rule(match("Image", ir.MatchKind.CONTAINS, "cmd"), table="Other")
    got = run_rules([query], EVENTS, {"Other": other})
    assert [row["_row"] for row in got[0].rows] == [1]
    assert got[0].rows == execute(query, EVENTS, {"Other": other})


def test_progress_reaches_the_number_of_rules():
    seen: list[tuple[int, int]] = []
    queries = [query for query, _ in SMALL]
    run_rules(queries, EVENTS, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (len(queries), len(queries))


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="unknown strategy"):
        run_rules([], EVENTS, strategy="fastest")


# ----------------------------------------------------------------------------- prefilter clauses
# filter (DuckDB SQL)                                       clauses: texts one of which must occur
CLAUSES = [
    ("contains(lower(a), lower('x1'))", [{("a", "x1")}]),
    ("starts_with(a, 'x1') AND suffix(lower(b), 'y2')", [{("a", "x1")}, {("b", "y2")}]),
    ("a = 'x1' OR lower(b) = lower('y22')", [{("a", "x1"), ("b", "y22")}]),
    ("a IN ('x1', 'y2')", [{("a", "x1"), ("a", "y2")}]),
    ("lower(a) LIKE '%ab%cdef_g%' ESCAPE '\\'", [{("a", "cdef")}]),
    ("a LIKE 'ab\\%cd%' ESCAPE '\\'", [{("a", "ab%cd")}]),
    ("regexp_matches(a, 'x.*y')", [{("a", "")}]),
    (
        "(contains(a, 'x') AND contains(a, 'long')) OR b = 'y'",
        [{("a", "x"), ("b", "y")}, {("a", "long"), ("b", "y")}],
    ),
    (
        "(a = 'p' AND b = 'q') OR (c = 'r' AND d = 's')",
        [
            {("a", "p"), ("c", "r")},
            {("a", "p"), ("d", "s")},
            {("b", "q"), ("c", "r")},
            {("b", "q"), ("d", "s")},
        ],
    ),
    ("COALESCE(contains(a, 'x'), FALSE)", [{("a", "x")}]),
    ("NOT contains(a, 'x')", []),
    ("contains(a, 'x') OR NOT contains(b, 'y')", []),
    ("length(a) > 3", []),
    ("CASE WHEN contains(a, 'x') THEN TRUE END", []),
]


@pytest.mark.parametrize(("sql", "expected"), CLAUSES)
def test_clauses_a_filter_needs(sql, expected):
    import sqlglot

    found = clauses(sqlglot.parse_one(sql, dialect="duckdb"))
    assert [set(clause) for clause in found] == expected


# Texts that only a lowering other than Python's finds, rare values and the NULL requirement of
# regular expressions: the candidates must never lose a match.
TRICKY = table_of(
    {"Image": "C:\\W\\CMD.EXE", "CommandLine": "İstanbul KELVİN"},
    {"Image": "c:\\w\\cmd.exe", "CommandLine": "ab%cd"},
    {"Image": "x.exe"},
)
TRICKY_RULES = [
    (rule(match("CommandLine", ir.MatchKind.CONTAINS, "i̇stanbul")), "execute"),
    (rule(match("CommandLine", ir.MatchKind.CONTAINS, "%")), [2]),
    (rule(match("CommandLine", ir.MatchKind.REGEX, "b.c")), [2]),
    (rule(match("Image", ir.MatchKind.ENDSWITH, "cmd.exe")), [1, 2]),
    (rule(ir.Not(match("CommandLine", ir.MatchKind.CONTAINS, "ab"))), [1, 3]),
    (rule(ir.Match(ir.RawText(), ir.MatchKind.CONTAINS, ("x.ex",), case_sensitive=False)), [3]),
    (
        rule(
            ir.And(
                (
                    ir.Match(ir.RawText(), ir.MatchKind.CONTAINS, ("cmd",), case_sensitive=False),
                    match("CommandLine", ir.MatchKind.CONTAINS, "%"),
                )
            )
        ),
        [2],
    ),
]


@pytest.mark.parametrize("few_texts", [0, 64])  # texts searched by an automaton / by DuckDB
def test_prefilter_keeps_every_match_of_tricky_text(few_texts, monkeypatch):
    monkeypatch.setattr(candidates, "FEW_TEXTS", few_texts)
    queries = [query for query, _ in TRICKY_RULES]
    got = together(queries, TRICKY)
    assert got == one_by_one(queries, TRICKY)
    for (_, want), result in zip(TRICKY_RULES, got, strict=True):
        assert want == "execute" or picked(result) == want


# Events read a slice at a time, filters checked a few to a statement and matched rows read one
# per statement; a failing filter (the unclosed regex) is split from its batch. The candidate
# events are copied once (few of them) or joined by each statement (many).
# Network tests read each address from columns computed once per event: in the copy of the
# candidate events, or next to the joined events with DuckDB's filter pushdown off.
ADDRESSES = table_of(
    *(
        {"Image": "C:\\w\\cmd.exe", "Ip": ip, "Src": src}
        for ip, src in [
            ("10.1.2.3", "fe80::1"),
            ("192.168.7.1", "2001:db8::5"),
            ("fe80::abcd%eth0", "10.200.0.1"),
            ("not an address", "::ffff:10.0.0.1"),
            ("10.0.0.256", "172.16.0.1"),
            ("::1", "FE80:0:0:0:0:0:0:9"),
        ]
    ),
    {"Image": "C:\\w\\cmd.exe"},
)
CMD = match("Image", ir.MatchKind.CONTAINS, "cmd")
NETWORK_RULES = [
    rule(ir.And((CMD, match("Ip", ir.MatchKind.CIDR, "10.0.0.0/8", "fe80::/10")))),
    rule(ir.And((CMD, ir.Not(match("Src", ir.MatchKind.CIDR, "10.0.0.0/8", "fe80::/10"))))),
    rule(ir.And((CMD, match("Src", ir.MatchKind.CIDR, "2001:db8::/32", "172.16.0.0/12")))),
]


@pytest.mark.parametrize("few_events", [0, 3, 10**6])
def test_checks_in_small_slices_and_batches_agree_with_execute(few_events, monkeypatch):
    monkeypatch.setattr(multirule_checks, "FEW_EVENTS", few_events)
    monkeypatch.setattr(multirule_checks, "SLICE", 2)
    monkeypatch.setattr(multirule_checks, "RULES_PER_CHECK", 2)
    monkeypatch.setattr(multirule, "ROWS_PER_READ", 1)
    queries = [query for query, _ in SMALL + TRICKY_RULES] + NETWORK_RULES
    for events in (EVENTS, TRICKY, ADDRESSES):
        assert together(queries, events) == one_by_one(queries, events)
    assert [picked(r) for r in together(NETWORK_RULES, ADDRESSES)] != [[], [], []]


@pytest.mark.parametrize("rows_in_python", [0, 100])
def test_a_column_no_event_sets_is_none_in_each_row_in_its_place(rows_in_python, monkeypatch):
    """The matched events are read back with the columns that hold a value only (kept in
    Python, or in a DuckDB table when they are many); a column that no event sets is still in
    each row, as None, in the table's order. Oracle: `execute`, rule by rule."""
    monkeypatch.setattr(multirule, "ROWS_IN_PYTHON", rows_in_python)
    columns = (EVENTS.columns[0], "Unset", *EVENTS.columns[1:], "AlsoUnset")
    events = EventTable(columns, EVENTS.rows)
    queries = [query for query, _ in SMALL]
    found = together(queries, events)
    assert found == one_by_one(queries, events)
    rows = [row for result in found if result[0] == "rows" for row in result[1] if "Image" in row]
    assert rows and all(list(row)[:2] == ["_row", "Unset"] for row in rows)
    assert all(list(row)[-1] == "AlsoUnset" and row["AlsoUnset"] is None for row in rows)


def test_network_tests_read_each_address_from_the_columns_computed_for_it():
    """The plan of a rule testing networks computes each field's address once per event (its
    IPv4 and IPv6 forms) and its check reads those columns, parsing no address itself: parsing
    it once per network took DuckDB seconds to plan for a rule of a hundred networks."""
    runner = multirule.Runner(DuckDBEngine(), ADDRESSES, {}, None, None)
    runner.load({"events"})
    for index, (query, field) in enumerate(zip(NETWORK_RULES, ["Ip", "Src", "Src"], strict=True)):
        plan = runner.plan(index, query)
        assert isinstance(plan, multirule.Plan)
        forms = {f"_rulec_ip{v}_{field}_{part}" for v in "46" for part in ("shape", "value")}
        assert {name for name, _ in plan.computed} == forms
        assert "split_part" not in plan.check.lower() and all(f in plan.check for f in forms)


# --------------------------------------------------------------------------- native event loading
# Flat NDJSON and Parquet are read by DuckDB itself; the rows must equal what `flatten` makes,
# except that `_raw` lists the fields in the table's column order, not each event's own order.

FLAT = [
    {"EventID": 1, "Image": "C:\\a.exe", "Score": 1.5, "Big": 1e20, "Flag": True, "Gone": None},
    {"EventID": 4688, "Image": "Ü\\ß.exe", "Extra": "x'y\"z", "Flag": False},
]


def python_rows(events: list[dict]) -> list[dict]:
    return [{**flatten(e), "_row": n} for n, e in enumerate(events, 1)]


def raw_as_lines(row: dict) -> dict:
    return {**row, "_raw": sorted(row["_raw"].split("\n"))}


def test_flat_ndjson_is_read_natively_with_flatten_text(tmp_path):
    path = tmp_path / "e.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in FLAT))
    table = load_events([str(path)])
    assert table.files is not None and table.files.format == "json"
    columns = set(table.columns)
    expected = [{c: row.get(c) for c in columns} for row in python_rows(FLAT)]
    assert [raw_as_lines(row) for row in table.rows] == [raw_as_lines(row) for row in expected]
    assert table.rows[0]["Score"] == "1.5" and table.rows[0]["Big"] == "1e+20"


def test_parquet_columns_become_text_and_rows_number_across_files(tmp_path):
    import duckdb

    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    connection = duckdb.connect()
    connection.execute(f"COPY (SELECT 7 AS EventID, true AS Flag) TO '{first}' (FORMAT PARQUET)")
    connection.execute(f"COPY (SELECT 8 AS EventID, 'x' AS Image) TO '{second}' (FORMAT PARQUET)")
    table = load_events([str(tmp_path / "*.parquet")])
    assert table.files is not None and table.files.format == "parquet"
    assert [(r["_row"], r["EventID"], r["Flag"], r["Image"]) for r in table.rows] == [
        (1, "7", "true", None),
        (2, "8", None, "x"),
    ]
    assert table.rows[1]["_raw"] == "EventID=8\nImage=x"


def test_nested_events_go_through_flatten(tmp_path):
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"process": {"name": "cmd.exe"}}))
    table = load_events([str(path)])
    assert table.files is None
    assert table.rows[0]["process.name"] == "cmd.exe"


@pytest.mark.parametrize("materialize", [False, True])
def test_engine_tables_of_flat_files_equal_their_rows(tmp_path, materialize):
    from rulec.compiler.run.engines import DuckDBEngine

    path = tmp_path / "e.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in FLAT))
    table = load_events([str(path)])
    engine = DuckDBEngine(materialize=materialize)
    engine.load("events", table)
    assert engine.run('SELECT * FROM "events" ORDER BY "_row"') == [dict(r) for r in table.rows]


def test_events_held_in_memory_are_let_go_once_stored_and_read_back_alike():
    """Oracle: the rows as built from the events, and `execute` on its own engine."""
    events = table_of(
        {"Image": "C:\\w\\cmd.exe", "User": "bob"},
        {"Image": "C:\\w\\notepad.exe", "CommandLine": "notepad  a.txt"},
    )
    built = [dict(row) for row in events.rows]
    query = rule(match("Image", ir.MatchKind.ENDSWITH, "\\cmd.exe"))
    (result,) = run_rules([query], events)
    assert [row["_row"] for row in result.rows] == [1]
    assert events._rows is None  # released: DuckDB holds the events now
    assert [dict(row) for row in events.rows] == built
    assert execute(query, events) == result.rows


def test_broad_rules_scanned_alongside_the_text_search_agree_with_execute(monkeypatch):
    # every table as a large one: the rules without a rare text (the `not`) are scanned by a
    # second connection while the candidates of the others are searched, texts counted on a
    # sample (so each field is searched again), the field of most texts here, the others on a
    # third connection
    monkeypatch.setattr(candidates, "ROW_GROUP", 0)
    monkeypatch.setattr(candidates, "SAMPLE", 1)
    queries = [query for query, _ in SMALL + TRICKY_RULES] + NETWORK_RULES
    for events in (EVENTS, TRICKY, ADDRESSES):
        assert together(queries, events) == one_by_one(queries, events)
