"""SPL back end: what goes to `search`, what must go to `| where`, and aggregates."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rulec.backends.base import Options
from rulec.backends.spl import SplBackend
from rulec.compiler import ir

M, F, W = ir.MatchKind, ir.FieldRef, ir.Wildcard


def query(*predicates: ir.Expr, stages: tuple[ir.Stage, ...] = ()) -> ir.Query:
    filters = tuple(ir.Filter(p) for p in predicates)
    return ir.Query(ir.Pipeline(ir.LogSource(product="windows"), filters + stages))


def spl(q: ir.Query, options: Options | None = None) -> str:
    return SplBackend(options).emit(q).text


# IR predicate | expected SPL
CASES = [
    (ir.Match(F("f"), M.CONTAINS, ("a\\",), False), 'search f="*a\\\\*"'),
    (ir.Match(F("f"), M.CONTAINS, ("a*b",), False), 'search * | where match(f, "(?is)a\\\\*b")'),
    (ir.Match(F("f"), M.EQ, ("a*b",), False), 'search * | where lower(f)=="a*b"'),
    (
        ir.Match(F("f"), M.WILDCARD, (ir.Pattern(("cmd", W.ONE, ".exe")),), False),
        'search * | where match(f, "(?is)^cmd.\\\\.exe\\\\z")',
    ),
    (ir.Match(F("f"), M.EXISTS, (), True), "search f=*"),
    (ir.Match(ir.RawText(), M.CONTAINS, ("evil",), False), 'search _raw="*evil*"'),
    (
        ir.Not(ir.Match(F("f"), M.REGEX, ("^x",), True)),
        'search * | where NOT (isnotnull(f) AND match(f, "^x"))',
    ),
    (
        ir.And(
            (
                ir.Match(F("a"), M.EQ, ("x",), False),
                ir.Match(F("b"), M.EQ, ("Y",), True),
                ir.Or(
                    (ir.Match(F("c"), M.EQ, ("1",), False), ir.Match(F("d"), M.EQ, ("2",), False))
                ),
            )
        ),
        'search a="x" AND (c="1" OR d="2") | where b=="Y"',
    ),
    (
        ir.Match(F("n"), M.EQ, ("x",), False, (ir.Transform("coalesce", (ir.Literal("d"),)),)),
        'search * | where lower(coalesce(n, "d"))=="x"',
    ),
]


@pytest.mark.parametrize(("predicate", "expected"), CASES)
def test_spl_text(predicate, expected):
    assert spl(query(predicate)) == expected


def test_single_character_wildcard_is_never_a_search_star():
    pattern = ir.Pattern(("a", W.ONE, "c"))
    text = spl(query(ir.Match(F("f"), M.WILDCARD, (pattern,), False)))
    assert 'f="a*c"' not in text
    assert text == 'search * | where match(f, "(?is)^a.c\\\\z")'


def test_mapped_logsource_names_the_search_prefix():
    from rulec.backends.base import TableMap

    tables = TableMap(((ir.LogSource(product="windows"), "index=win sourcetype=Sysmon"),))
    text = spl(query(ir.Match(F("f"), M.EQ, ("v",), False)), Options(tables=tables))
    assert text == 'search index=win sourcetype=Sysmon f="v"'


COUNT_BY_HOST = ir.Aggregate(
    (ir.Assign("Computer", F("Computer")),),
    (ir.Measure("n", ir.AggCall("dcount", F("User"))),),
    window=ir.Window(timedelta(minutes=15)),
    having=ir.Compare(ir.CompareOp.GT, F("n"), ir.Literal(30)),
)


def test_sliding_window_is_a_streamstats_time_window_never_a_bin():
    emitted = SplBackend().emit(query(stages=(COUNT_BY_HOST,)))
    assert emitted.text == (
        "search * | where isnotnull(_time) | sort 0 + _time"
        " | streamstats time_window=15m dc(User) AS n by Computer | where n > 30"
        " | streamstats current=f window=1 last(_time) AS _rulec_prev by Computer"
        " | eval _rulec_new=if(isnotnull(_rulec_prev) AND _rulec_prev>=_time-900, 0, 1)"
        " | streamstats sum(_rulec_new) AS _rulec_run by Computer"
        " | stats min(_time) AS _rulec_first, max(_time) AS window_end, max(n) AS n"
        " by Computer, _rulec_run | eval window_start=_rulec_first-900"
        " | fields - _rulec_first, _rulec_run"
    )
    assert "bin " not in emitted.text and emitted.notes == ()


def test_tumbling_window_is_exact():
    window = ir.Window(timedelta(hours=1), ir.WindowKind.TUMBLING)
    aggregate = ir.Aggregate((), (ir.Measure("n", ir.AggCall("count")),), window=window)
    emitted = SplBackend().emit(query(stages=(aggregate,)))
    assert (
        emitted.text
        == "search * | bin _time span=1h AS window_start | stats count AS n by window_start"
    )
    assert emitted.notes == ()


def test_joins_are_reported():
    join = ir.Join(ir.JoinKind.INNER, ir.Pipeline(ir.Table("x")), (("a", "a"),))
    with pytest.raises(ir.RuleError) as caught:
        spl(query(stages=(join,)))
    assert caught.value.diagnostic.target == "spl"


def lookup(table: str = "placeholder_admins", column: str = "value") -> ir.Pipeline:
    return ir.Pipeline(ir.Table(table), (ir.Project((ir.Assign(column, F(column)),)),))


# IR predicate over a lookup table | expected SPL: a subsearch in `search` (case-insensitive)
LOOKUPS = [
    (
        ir.InPipeline(F("User"), lookup(), False),
        "search [| inputlookup placeholder_admins | fields value | rename value AS User]",
    ),
    (
        ir.Not(ir.InPipeline(F("User"), lookup(), False)),
        "search NOT [| inputlookup placeholder_admins | fields value | rename value AS User]",
    ),
    (
        ir.InPipeline(F("host.name"), lookup(), False, M.CONTAINS),
        'search [| inputlookup placeholder_admins | eval value="*".value."*"'
        " | fields value | rename value AS host.name]",
    ),
    (
        ir.InPipeline(F("f"), lookup(), False, M.ENDSWITH),
        'search [| inputlookup placeholder_admins | eval value="*".value'
        " | fields value | rename value AS f]",
    ),
]


@pytest.mark.parametrize(("predicate", "expected"), LOOKUPS)
def test_lookup_is_a_subsearch(predicate, expected):
    assert spl(query(predicate)) == expected


@pytest.mark.parametrize(
    "predicate",
    [
        ir.InPipeline(F("User"), lookup(), True),  # search cannot match case-sensitively
        ir.InPipeline(F("User"), lookup('x" | delete'), False),  # not a lookup name
        ir.InPipeline(F("User"), ir.Pipeline(ir.Table("t")), False),  # no single column
        ir.InPipeline(F("User"), lookup(), False, M.HAS),
    ],
)
def test_lookup_splunk_cannot_read_exactly_is_reported(predicate):
    with pytest.raises(ir.RuleError) as caught:
        spl(query(predicate))
    assert caught.value.diagnostic.target == "spl"
    assert "a match against a table (lookup)" in caught.value.diagnostic.message
