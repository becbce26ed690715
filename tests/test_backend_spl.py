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
    # booleans are the text events hold
    (ir.Match(F("Signed"), M.EQ, (True,), False), 'search Signed="true"'),
    (ir.Match(F("Signed"), M.EQ, (False,), True), 'search * | where Signed=="false"'),
    (
        ir.Or(
            (ir.Match(F("Signed"), M.EQ, (True,), False), ir.Match(F("f"), M.REGEX, ("x",), True))
        ),
        'search * | where lower(Signed)=="true" OR match(f, "x")',
    ),
    (
        ir.Match(F("Signed"), M.EQ, (True, "yes"), False),
        'search Signed IN ("true", "yes")',
    ),
    # another field among the values: compared lowered, and guarded under NOT
    (ir.Match(F("a"), M.EQ, (F("B"),), False), "search * | where lower(a)==lower(B)"),
    (
        ir.Match(F("a"), M.EQ, (F("B"), "X"), False),
        'search * | where in(lower(a), lower(B), "x")',
    ),
    (
        ir.Not(ir.Match(F("a"), M.EQ, (F("B"),), True)),
        "search * | where NOT (isnotnull(a) AND (isnotnull(B) AND a==B))",
    ),
    (  # Splunk's isnotnull() tests the field itself, not its lower-cased text
        ir.Not(ir.Match(F("a"), M.EQ, (F("B"),), False)),
        "search * | where NOT (isnotnull(a) AND (isnotnull(B) AND lower(a)==lower(B)))",
    ),
    (
        ir.Not(ir.Match(F("a"), M.EQ, (F("B"), "x"), True)),
        'search * | where NOT (isnotnull(a) AND ((isnotnull(B) AND a==B) OR a=="x"))',
    ),
    (
        ir.Not(ir.Match(F("n"), M.GT, (F("m"), 3), True)),
        "search * | where NOT (isnotnull(n) AND ((isnotnull(m) AND n>m) OR n>3))",
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
        'search * | eval Computer=if(isnull(Computer), "0", "1".Computer)'
        " | where isnotnull(_time) | sort 0 + _time"
        " | streamstats time_window=15m dc(User) AS n by Computer | where n > 30"
        " | streamstats current=f window=1 global=f last(_time) AS _rulec_prev by Computer"
        " | eval _rulec_new=if(isnotnull(_rulec_prev) AND _rulec_prev>=_time-900, 0, 1)"
        " | streamstats sum(_rulec_new) AS _rulec_run by Computer"
        " | stats min(_time) AS _rulec_first, max(_time) AS window_end, max(n) AS n"
        " by Computer, _rulec_run | eval window_start=_rulec_first-900"
        " | fields - _rulec_first, _rulec_run"
        ' | eval Computer=if(Computer=="0", null(), substr(Computer, 2))'
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


COUNT = ir.Measure("c", ir.AggCall("count"))
BY_USER = (ir.Assign("User", F("User")),)
MORE_THAN_ONE = ir.Compare(ir.CompareOp.GT, F("c"), ir.Literal(1))
KEYED = 'eval User=if(isnull(User), "0", "1".User)'
UNKEYED = 'eval User=if(User=="0", null(), substr(User, 2))'

# stages after the source | expected SPL
STAGES = [
    # events without a group-by field are one group: keys encoded, grouped on, decoded
    (
        (ir.Aggregate(BY_USER, (COUNT,), having=MORE_THAN_ONE),),
        f"search * | {KEYED} | stats count AS c by User | {UNKEYED} | where c > 1",
    ),
    (
        (ir.Aggregate((), (COUNT,), having=MORE_THAN_ONE),),
        "search * | stats count AS c | where c > 1",
    ),
    # event fields are text and sort as text; computed numbers sort as numbers
    ((ir.Sort((ir.SortKey(F("n"), True),)),), "search * | sort 0 -str(n)"),
    # Splunk sorts missing values last; where the IR puts them first, a helper key leads
    (
        (ir.Sort((ir.SortKey(F("n")),)),),
        "search * | eval _rulec_null1=if(isnull(n), 0, 1) | sort 0 +_rulec_null1, +str(n)"
        " | fields - _rulec_null1",
    ),
    ((ir.Sort((ir.SortKey(F("n"), nulls_first=False),)),), "search * | sort 0 +str(n)"),
    (
        (
            ir.Aggregate(BY_USER, (COUNT,)),
            ir.Sort((ir.SortKey(F("c"), True), ir.SortKey(F("User"), nulls_first=False))),
        ),
        f"search * | {KEYED} | stats count AS c by User | {UNKEYED} | sort 0 -c, +str(User)",
    ),
    (
        (
            ir.Extend((ir.Assign("m", ir.Arith(ir.ArithOp.MUL, F("n"), ir.Literal(2))),)),
            ir.Rename((("k", "m"),)),
            ir.Sort((ir.SortKey(F("k")), ir.SortKey(F("n")))),
        ),
        "search * | eval m=n * 2 | rename m AS k"
        " | eval _rulec_null1=if(isnull(k), 0, 1), _rulec_null2=if(isnull(n), 0, 1)"
        " | sort 0 +_rulec_null1, +k, +_rulec_null2, +str(n) | fields - _rulec_null1, _rulec_null2",
    ),
]


@pytest.mark.parametrize(("stages", "expected"), STAGES)
def test_stages(stages, expected):
    assert spl(query(stages=stages)) == expected


@pytest.mark.parametrize(
    ("stage", "construct"),
    [
        (
            ir.Aggregate(BY_USER, (ir.Measure("d", ir.AggCall("dcount", F("User"))),)),
            "an aggregate that reads its group-by field User",
        ),
        (ir.Sort((ir.SortKey(ir.Call("lower", (F("n"),))),)), "a sort on a computed value"),
    ],
)
def test_stages_splunk_cannot_run_exactly_are_reported(stage, construct):
    with pytest.raises(ir.RuleError) as caught:
        spl(query(stages=(stage,)))
    assert caught.value.diagnostic.message.startswith(f"spl cannot express {construct}")


TIMED = ir.Aggregate(
    (),
    (COUNT,),
    window=ir.Window(timedelta(minutes=10), time_field="EventTime"),
    having=MORE_THAN_ONE,
)


def test_a_named_time_field_is_read_by_strptime_only_when_allowed():
    with pytest.raises(ir.RuleError, match="allow the 'time-format' approximation"):
        spl(query(stages=(TIMED,)))
    emitted = SplBackend(Options(approximations=frozenset({"time-format"}))).emit(
        query(stages=(TIMED,))
    )
    assert emitted.text.startswith(
        'search * | eval _time=strptime(EventTime, "%Y-%m-%dT%H:%M:%S%Z")'
        " | where isnotnull(_time) | sort 0 + _time | streamstats time_window=10m count AS c"
    )
    assert "EventTime-" not in emitted.text
    assert [n.message for n in emitted.notes] == [
        "the time field EventTime is read as %Y-%m-%dT%H:%M:%S%Z (allowed: time-format)"
    ]


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
