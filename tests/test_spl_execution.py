"""Proof by execution for SPL: the Splunk searches rulec emits select what the reference selects.

No Splunk runs here, so the `spl` engine (`compiler/run/spl_evaluator.py`) evaluates the emitted
text by Splunk's documented semantics (its docstring cites the pages). First the evaluator
itself is checked on searches whose Splunk results the documentation states; then every golden
case and every ../shared/regression case is converted to SPL (the rule's own field names, no
pipeline), run on the engine, and compared with the DuckDB reference executor (further tables
of a case become lookups); then sliding-window aggregates, other pipeline stages, random IR
filters and hostile values do the same. Text whose Splunk result the documentation does not
settle (`Undocumented`) fails a case, and is skipped, with its reason counted, in the random
examples.

The "ci" hypothesis profile runs 100 examples per property; a campaign, as in test_properties:

    HYPOTHESIS_PROFILE=long pytest -q tests/test_spl_execution.py --hypothesis-show-statistics
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from test_crosstarget import SPECS, Spec, prepare
from test_properties import (
    PROFILE,
    any_string,
    expected_rows,
    expressible,
    query_of,
    scenario,
    table_of,
)

from rulec.backends.base import Options
from rulec.backends.spl import TIME_APPROXIMATION, SplBackend
from rulec.compiler import ir
from rulec.compiler.run import spl_evaluator
from rulec.compiler.run.engines_spl import SplEngine
from rulec.compiler.run.events import ROW, EventTable
from rulec.compiler.run.executor import execute

# ------------------------------------------------------------------- the evaluator on its own

EVENTS = [
    {"_row": 1, "Location": "Calaveras Farms", "Path": "C:\\Windows\\x.exe", "Num": "10"},
    {"_row": 2, "Location": "Marin Meadows", "Path": 'say "hi"'},
    {"_row": 3, "Name": "Roan"},
    {"_row": 4, "Location": "calaveras farms", "Path": "C:\\Temp\\a*b", "Num": "9"},
]

# SPL | rows Splunk selects from EVENTS (by its documentation)
SEMANTICS = [
    ('search Location!="Calaveras Farms"', [2]),  # != needs the field
    ('search NOT Location="Calaveras Farms"', [2, 3]),  # NOT selects events without it
    ('search Location="calaveras*"', [1, 4]),  # search is case-insensitive, * a wildcard
    ('search location="Calaveras Farms"', []),  # field names are case-sensitive
    ('search Location="*Farm"', []),  # the whole value must match
    ('search Location IN ("x", "*meadows")', [2]),
    ('search Path="C:\\\\Windows\\\\*"', [1]),  # \\ in a quoted string is one backslash
    ('search Path="say \\"hi\\""', [2]),
    ('search Path="C:\\\\Temp\\\\a*"', [4]),
    ("search Name=* OR Location=*", [1, 2, 3, 4]),
    ('search Location="Marin Meadows" OR Name=* Path=*', [2]),  # OR binds tighter than AND
    ('search * | where Location=="Calaveras Farms"', [1]),  # where is case-sensitive
    ('search * | where NOT Location=="Calaveras Farms"', [2, 4]),
    ('search * | where lower(Location)=="calaveras farms"', [1, 4]),
    ('search * | where like(Location, "%Farm_")', [1]),
    ('search * | where match(Path, "^C:\\\\\\\\")', [1, 4]),
    ('search * | where match(Location, "(?i)^MARIN")', [2]),
    ("search * | where isnull(Location)", [3]),
    ('search * | where in(Name, "Roan", "x")', [3]),
    ('search * | regex Path="^C:\\\\\\\\W"', [1]),
    ('search * | regex Path!="^C"', [2]),
    ('search [| inputlookup places | eval p="*".p | rename p AS Location]', [1, 2, 4]),
    ("search Num=* | sort 0 -Num | head 1", [1]),  # sort compares numbers as numbers
    ("search Num=* | sort 0 -str(Num) | head 1", [4]),  # unless str() says text
    ("search * | sort 0 +Num | head 2", [1, 4]),  # events without Num sort last
    ("search * | sort 0 -Num | head 2", [1, 4]),
]


@pytest.mark.parametrize(("text", "rows"), SEMANTICS)
def test_evaluator_follows_splunks_documented_semantics(text: str, rows: list[int]):
    lookups = {"places": [{"p": "farms"}, {"p": "Meadows"}]}
    assert selected(spl_evaluator.run(text, EVENTS, lookups=lookups)) == rows


def test_strptime_and_substr():
    events = [
        {"_row": 1, "t": "2026-01-01T00:01:00Z", "k": "1abc"},
        {"_row": 2, "t": "2026-01-01 00:01:00", "k": "0"},
    ]
    text = 'search * | eval s=strptime(t, "%Y-%m-%dT%H:%M:%S%Z"), r=substr(k, 2) | table _row, s, r'
    rows = sorted(spl_evaluator.run(text, events), key=lambda r: r["_row"])
    assert rows == [{"_row": 1, "s": 1767225660.0, "r": "abc"}, {"_row": 2, "s": None, "r": ""}]
    with pytest.raises(spl_evaluator.Undocumented):  # text after the format
        spl_evaluator.run(text, [{"t": "2026-01-01T00:01:00Z+01:00", "k": "x"}])


def test_cidrmatch_and_numbers_in_where():
    events = [{"_row": 1, "ip": "10.1.2.3", "n": "7"}, {"_row": 2, "ip": "8.8.8.8", "n": "12"}]
    text = 'search * | where cidrmatch("10.0.0.0/8", ip)'
    assert selected(spl_evaluator.run(text, events)) == [1]
    assert selected(spl_evaluator.run("search * | where n>10", events)) == [2]  # numbers compare


# streamstats with window=1 over events of groups a, b, a: `global` decides what `last` sees
WINDOW_EVENTS = [
    {"_row": i, "g": g, "TimeCreated": f"2026-01-01T00:0{i}:00Z"} for i, g in enumerate("aba", 1)
]


@pytest.mark.parametrize(
    ("option", "previous"),
    [("", [None, None, None]), (" global=f", [None, None, "2026-01-01T00:01:00Z"])],
)
def test_streamstats_window_is_global_unless_told(option: str, previous: list[object]):
    text = (
        f"search * | sort 0 + _time | streamstats current=f window=1{option} last(_time) AS p by g"
    )
    rows = spl_evaluator.run(text, WINDOW_EVENTS)
    assert [iso(r["p"]) if "p" in r else None for r in rows] == previous


def test_stats_eventstats_and_bin():
    events = [
        {"_row": i, "g": g, "t": str(t)}
        for i, (g, t) in enumerate([("a", 61), ("a", 7), ("b", 5)], 1)
    ]
    stats = spl_evaluator.run("search * | stats count AS n, max(t) AS top by g", events)
    assert stats == [{"g": "a", "n": 2, "top": 61.0}, {"g": "b", "n": 1, "top": 5.0}]
    eventstats = spl_evaluator.run("search * | eventstats dc(t) AS d by g | table _row, d", events)
    assert sorted((r["_row"], r["d"]) for r in eventstats) == [(1, 2), (2, 2), (3, 1)]
    binned = spl_evaluator.run("search * | bin t span=1m AS b | table _row, b", events)
    assert sorted((r["_row"], r["b"]) for r in binned) == [(1, 60.0), (2, 0.0), (3, 0.0)]


@pytest.mark.parametrize(
    "text",
    [
        "search * | stats median(x) AS m",  # an aggregation outside the subset
        "search error",  # a keyword search
        "search * | dedup x",  # a command outside the subset
        "search * | where replace(x, 1, 2)",  # a function outside the subset
        "| makeresults",
        'search * | where match(Path, "a\\Z")',
    ],
)
def test_text_outside_the_subset_raises(text: str):
    with pytest.raises(spl_evaluator.SplError):
        spl_evaluator.run(text, EVENTS)


@pytest.mark.parametrize(
    ("text", "events"),
    [
        ("search * | where n>5", [{"n": "abc"}]),  # text ordered against a number
        ('search f="é"', [{"f": "É"}]),  # case folding beyond ASCII
        ('search * | where cidrmatch("1.0.0.0/8", ip)', [{"ip": "01.2.3.4"}]),
        ("search * | where f==true()", [{"f": "true"}]),  # text compared with a boolean
    ],
)
def test_undocumented_behaviour_raises(text: str, events: list[dict[str, object]]):
    with pytest.raises(spl_evaluator.Undocumented):
        spl_evaluator.run(text, events)


# ------------------------------------------------------------- golden and regression cases


def case_param(spec: Spec):
    return pytest.param(spec, id=spec.name)


def iso(seconds: object) -> str:
    moment = datetime.fromtimestamp(float(seconds), timezone.utc)  # type: ignore[arg-type]
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def selected(rows: list[dict[str, object]]) -> list[int]:
    return sorted(int(row[ROW]) for row in rows)  # type: ignore[call-overload]


def alerts(rows: list[dict[str, object]], like: dict[str, object]) -> list[str]:
    """Alert rows by the reference's columns: times in ISO form, whole numbers as integers."""

    def value(name: str, row: dict[str, object]) -> object:
        got = row.get(name)
        if name in ("window_start", "window_end") and got is not None:
            return iso(got)
        return int(got) if isinstance(got, float) and got.is_integer() else got

    return sorted(json.dumps({k: value(k, r) for k in like}, sort_keys=True) for r in rows)


def run_spl(
    query: ir.Query,
    events: EventTable,
    tables: dict[str, EventTable] | None = None,
    options: Options | None = None,
) -> tuple[str, list[dict[str, object]]]:
    """The emitted SPL and its results on the `spl` engine (further tables are lookups)."""
    engine = SplEngine(options)
    try:
        text = engine.emit(query, None, None)
    except ir.RuleError as error:
        pytest.skip(f"spl cannot express this rule: {error.diagnostic.message}")
    return text, engine.run_query(query, events, tables or {}, None, None)


@pytest.mark.parametrize("spec", [case_param(s) for s in SPECS])
def test_spl_on_the_evaluator_agrees_with_the_reference(spec: Spec):
    prepared = prepare(spec)
    text, rows = run_spl(prepared.query, prepared.events, prepared.tables)
    reference = prepared.reference
    if reference and ROW not in reference[0]:
        expected = sorted(json.dumps(r, sort_keys=True, default=str) for r in reference)
        assert alerts(rows, reference[0]) == expected, text
    else:
        assert selected(rows) == selected(reference), text


# --------------------------------------------------------------- sliding-window aggregates

GE, LT = ir.CompareOp.GE, ir.CompareOp.LT


def burst(*events: tuple[str, str, int, int]) -> EventTable:
    """Events (group, user, minute and second after 10:00), one per row."""
    rows = tuple(
        {ROW: i, "g": g, "u": u, "TimeCreated": f"2026-03-02T10:{m:02d}:{s:02d}Z"}
        for i, (g, u, m, s) in enumerate(events, 1)
    )
    return EventTable((ROW, "g", "u", "TimeCreated"), rows)


def sliding(func: str, op: ir.CompareOp, n: int, by: tuple[str, ...] = ("g",), **window):
    """`func(u)` (count: of rows) over a sliding ten-minute window by `by`, kept where `op n`."""
    aggregate = ir.Aggregate(
        tuple(ir.Assign(b, ir.FieldRef(b)) for b in by),
        (ir.Measure("value", ir.AggCall(func, None if func == "count" else ir.FieldRef("u"))),),
        ir.Window(timedelta(minutes=10), **window),
        ir.Compare(op, ir.FieldRef("value"), ir.Literal(n)),
    )
    return ir.Query(ir.Pipeline(ir.Table("events"), (aggregate,)))


# a window over a named time field is read by strptime only when the user allows it
TIME_FORMAT_ALLOWED = Options(approximations=frozenset({TIME_APPROXIMATION}))

# rule | events (group, user, minute, second) | why
SLIDING = [
    pytest.param(sliding("count", GE, 2), burst(("a", "x", 0, 0), ("a", "y", 0, 0)), id="ties"),
    pytest.param(
        sliding("count", GE, 2),
        burst(("a", "x", 0, 0), ("a", "y", 10, 0), ("a", "z", 20, 1)),
        id="inclusive-boundary",
    ),
    pytest.param(
        sliding("count", GE, 2),
        burst(*(("a", "x", m, 0) for m in (0, 5, 9, 25, 28))),
        id="two-runs",
    ),
    pytest.param(
        sliding("dcount", GE, 2),
        burst(("a", "x", 0, 0), ("a", "x", 1, 0), ("a", "y", 2, 0), ("a", "y", 30, 0)),
        id="distinct-values",
    ),
    pytest.param(
        sliding("count", LT, 2), burst(("a", "x", 0, 0), ("a", "x", 1, 0)), id="less-than"
    ),
    pytest.param(
        sliding("count", GE, 2, by=()),
        burst(("a", "x", 0, 0), ("b", "x", 1, 0), ("c", "y", 30, 0)),
        id="no-group",
    ),
    pytest.param(
        sliding("count", GE, 2),
        burst(*((g, "x", m, 0) for m, g in enumerate("ababa"))),
        id="interleaved-groups",  # each group's previous alert, not any group's
    ),
    pytest.param(
        sliding("count", GE, 2, time_field="TimeCreated"),
        burst(("a", "x", 0, 0), ("a", "x", 4, 0)),
        id="named-time-field",  # read by strptime, not as text
    ),
    pytest.param(
        sliding("count", GE, 2),
        EventTable(
            (ROW, "TimeCreated"),
            tuple({ROW: i, "TimeCreated": f"2026-03-02T10:0{i}:00Z"} for i in (1, 2)),
        ),
        id="missing-group-field",  # one null group, as in the reference
    ),
    pytest.param(
        sliding("count", GE, 2),
        burst(("a", "x", 0, 0), ("", "x", 1, 0), ("b", "x", 2, 0), ("", "y", 3, 0)),
        id="empty-group-value",
    ),
]


@pytest.mark.parametrize(("query", "events"), SLIDING)
def test_sliding_window_alerts_agree_with_the_reference(query: ir.Query, events: EventTable):
    reference = execute(query, events)
    text, rows = run_spl(query, events, options=TIME_FORMAT_ALLOWED)
    assert reference or not rows, text
    like = reference[0] if reference else {}
    expected = sorted(json.dumps(r, sort_keys=True, default=str) for r in reference)
    assert alerts(rows, like) == expected, text


# ------------------------------------------------------------------------- pipeline stages

F = ir.FieldRef
STAGE_EVENTS = EventTable(
    (ROW, "g", "n", "k"),
    tuple(
        {ROW: i, "g": g, "n": str(i * 3), "k": str(i) if i % 2 else None}
        for i, g in enumerate("ababac", 1)
    ),
)

# stages after `Table("events")` | why
PIPELINES = [
    pytest.param(
        (
            ir.Aggregate(
                (ir.Assign("g", F("g")),),
                (
                    ir.Measure("c", ir.AggCall("count")),
                    ir.Measure("s", ir.AggCall("sum", F("n"))),
                    ir.Measure("d", ir.AggCall("dcount", F("n"))),
                ),
                having=ir.Compare(ir.CompareOp.GT, F("c"), ir.Literal(1)),
            ),
        ),
        id="stats-by-having",
    ),
    pytest.param(
        (
            ir.Extend((ir.Assign("m", ir.Arith(ir.ArithOp.MUL, F("n"), ir.Literal(2))),)),
            ir.Project((ir.Assign("g", F("g")), ir.Assign("m", F("m")))),
        ),
        id="extend-project",
    ),
    pytest.param(
        (
            ir.Rename((("h", "g"),)),
            ir.ProjectAway(("n",)),
            ir.Filter(ir.Match(F("h"), ir.MatchKind.EQ, ("A",), False)),
        ),
        id="rename-away-filter",
    ),
    pytest.param(
        (ir.Sort((ir.SortKey(F("n"), True),)), ir.Limit(2), ir.Project((ir.Assign(ROW, F(ROW)),))),
        id="sort-text-limit",  # "9" > "18" as text
    ),
    pytest.param(
        (ir.Sort((ir.SortKey(F("k")),)), ir.Limit(3), ir.Project((ir.Assign(ROW, F(ROW)),))),
        id="sort-nulls-first",  # ascending: the events without k first, as in the reference
    ),
    pytest.param(
        (
            ir.Sort((ir.SortKey(F("k"), True, nulls_first=True),)),
            ir.Limit(4),
            ir.Project((ir.Assign(ROW, F(ROW)),)),
        ),
        id="sort-descending-nulls-first",
    ),
]


def canonical(rows: list[dict[str, object]], keys: list[str]) -> list[str]:
    """Rows by the reference's columns, numbers as floats (SPL's eval computes in doubles)."""

    def value(got: object) -> object:
        return float(got) if isinstance(got, int | float) and not isinstance(got, bool) else got

    return sorted(json.dumps({k: value(r.get(k)) for k in keys}, sort_keys=True) for r in rows)


@pytest.mark.parametrize("stages", PIPELINES)
def test_pipeline_stages_agree_with_the_reference(stages: tuple[ir.Stage, ...]):
    query = ir.Query(ir.Pipeline(ir.Table("events"), stages))
    reference = execute(query, STAGE_EVENTS)
    text, rows = run_spl(query, STAGE_EVENTS)
    keys = sorted(reference[0]) if reference else []
    assert reference and canonical(rows, keys) == canonical(reference, keys), text


# ------------------------------------------------------------------------ random IR filters


# IR filter | events | rows it selects
FIELD_MATCHES = [
    pytest.param(
        ir.Not(ir.Match(F("a"), ir.MatchKind.EQ, (F("B"),), True)),
        [{"a": "x"}],
        [1],
        id="negated-with-missing-field",  # the match is false, its negation true
    ),
    pytest.param(
        ir.Not(ir.Match(F("a"), ir.MatchKind.EQ, (F("B"), "x"), False)),
        [{"a": "X"}, {"a": "y"}, {"a": "y", "B": "Y"}],
        [2],
        id="negated-field-or-text",  # a missing B leaves the text value to decide
    ),
    pytest.param(
        ir.Match(F("a"), ir.MatchKind.EQ, (F("B"),), False),
        [{"a": "X", "B": "x"}, {"a": "X", "B": "y"}],
        [1],
        id="case-insensitive-fields",
    ),
    pytest.param(
        ir.Match(F("Signed"), ir.MatchKind.EQ, (True,), False),
        [{"Signed": "true"}, {"Signed": "TRUE"}, {"Signed": "false"}, {}],
        [1, 2],
        id="boolean-as-text",
    ),
    pytest.param(
        ir.Not(ir.Match(F("Signed"), ir.MatchKind.EQ, (False,), True)),
        [{"Signed": "false"}, {"Signed": "False"}, {}],
        [2, 3],
        id="negated-cased-boolean",
    ),
]


@pytest.mark.parametrize(("predicate", "events", "rows"), FIELD_MATCHES)
def test_matches_of_fields_and_booleans_agree(
    predicate: ir.Expr, events: list[dict], rows: list[int]
):
    table = table_of(events)
    text, got = run_spl(query_of(predicate), table)
    assert expected_rows(predicate, table) == rows
    assert selected(got) == rows, text


@PROFILE
@given(scenario())
def test_random_filters_on_the_evaluator_agree_with_the_reference(case):
    predicate, events = case
    table = table_of(events)
    text = expressible(lambda: SplBackend().emit(query_of(predicate)).text)
    if text is None:
        return
    try:
        rows = spl_evaluator.run(text, [dict(row) for row in table.rows])
    except spl_evaluator.Undocumented as why:
        event(f"undocumented in Splunk: {str(why).split(' ')[0]}")
        return
    assert selected(rows) == expected_rows(predicate, table), text


@PROFILE
@given(value=any_string, cased=st.booleans())
def test_hostile_values_select_exactly_their_event(value: str, cased: bool):
    """Quotes, backslashes (a trailing one too), `*`, `?`, `%`, `|`, newlines: the emitted
    search or where selects the event holding the value and not its neighbours."""
    match = ir.Match(ir.FieldRef("a"), ir.MatchKind.EQ, (value,), cased)
    text = SplBackend().emit(query_of(match)).text
    events = [{ROW: 1, "a": value}, {ROW: 2, "a": value + "~"}, {ROW: 3, "a": "~" + value}]
    try:
        rows = spl_evaluator.run(text, events)
    except spl_evaluator.Undocumented as why:
        event(f"undocumented in Splunk: {str(why).split(' ')[0]}")
        return
    assert selected(rows) == [1], text
