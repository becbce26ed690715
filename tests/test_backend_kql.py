"""KQL back end, and the IR -> EQL / SPL / KQL table that shows every text target side by side."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rulec.backends.eql import EqlBackend
from rulec.backends.kql import KqlBackend
from rulec.backends.spl import SplBackend
from rulec.compiler import ir

M, F, W = ir.MatchKind, ir.FieldRef, ir.Wildcard
TARGETS = {"eql": EqlBackend, "spl": SplBackend, "kql": KqlBackend}


def query(*predicates: ir.Expr, stages: tuple[ir.Stage, ...] = ()) -> ir.Query:
    filters = tuple(ir.Filter(p) for p in predicates)
    return ir.Query(ir.Pipeline(ir.Table("T"), filters + stages))


def emit(target: str, q: ir.Query) -> str:
    try:
        return TARGETS[target]().emit(q).text
    except ir.RuleError as error:
        return f"unsupported: {error.diagnostic.message}"


# IR predicate | EQL | SPL | KQL (after "T\n| where ")
SIDE_BY_SIDE = [
    (
        ir.Match(F("f"), M.EQ, ("v",), False),
        'any where f : "v"',
        'search sourcetype="T" f="v"',
        'f =~ "v"',
    ),
    (
        ir.Match(F("f"), M.EQ, ("v",), True),
        'any where f == "v"',
        'search sourcetype="T" | where f=="v"',
        'f == "v"',
    ),
    (
        ir.Match(F("f"), M.EQ, ("a", "b"), False),
        'any where f : ("a", "b")',
        'search sourcetype="T" f IN ("a", "b")',
        'f in~ ("a", "b")',
    ),
    (
        ir.Match(F("f"), M.CONTAINS, ("x",), True),
        'any where f like "*x*"',
        'search sourcetype="T" | where match(f, "(?s)x")',
        'f contains_cs "x"',
    ),
    (
        ir.Match(F("f"), M.WILDCARD, (ir.Pattern(("a", W.ONE, "b")),), False),
        'any where f : "a?b"',
        'search sourcetype="T" | where match(f, "(?is)^a.b\\\\z")',
        'f matches regex "(?is)^a.b$"',
    ),
    (
        ir.Match(F("f"), M.WILDCARD, (ir.Pattern((W.ANY, "x", W.ANY)),), False),
        'any where f : "*x*"',
        'search sourcetype="T" f="*x*"',
        'f contains "x"',
    ),
    (
        ir.Match(F("f"), M.REGEX, (r"a\.b",), False),
        'any where f regex~ ".*a\\\\.b.*"',
        'search sourcetype="T" | where match(f, "(?i)a\\\\.b")',
        'f matches regex @"(?i)a\\.b"',
    ),
    (
        ir.Match(F("f"), M.HAS, ("term",), False),
        "unsupported: eql cannot express the match kind 'has'",
        "unsupported: spl cannot express the match kind 'has'",
        'f has "term"',
    ),
    (
        ir.Match(F("ip"), M.CIDR, ("fe80::/10",), True),
        'any where cidrMatch(ip, "fe80::/10")',
        'search sourcetype="T" | where cidrmatch("fe80::/10", ip)',
        'ipv6_is_in_range(ip, "fe80::/10")',
    ),
    (
        ir.Not(ir.Match(F("f"), M.EXISTS, (), True)),
        "any where not f != null",
        'search sourcetype="T" NOT f=*',
        "unsupported: kql cannot express a test whether a field exists",
    ),
    (
        ir.Match(F("n"), M.GE, (10,), True),
        "unsupported: eql cannot express a ge threshold",
        'search sourcetype="T" | where n>=10',
        "n >= 10",
    ),
    (
        ir.Match(F("f"), M.EQ, (F("g"),), True),
        "unsupported: eql cannot express a comparison of two fields",
        'search sourcetype="T" | where f==g',
        "f == g",
    ),
    (
        ir.Match(F("f"), M.CONTAINS, ("Évİl", "x"), False),
        'any where f : ("*Évİl*", "*x*")',
        'search sourcetype="T" f IN ("*Évİl*", "*x*")',
        'tolower(f) contains_cs "évil" or tolower(f) contains_cs "x"',
    ),
    (
        ir.Match(F("f"), M.EQ, ("À", "b"), False),
        'any where f : ("À", "b")',
        'search sourcetype="T" f IN ("À", "b")',
        'tolower(f) in ("à", "b")',
    ),
    (
        ir.Match(F("f"), M.HAS, ("xÆy",), False),
        "unsupported: eql cannot express the match kind 'has'",
        "unsupported: spl cannot express the match kind 'has'",
        'f matches regex "(?i)(^|[^A-Za-z0-9])xÆy($|[^A-Za-z0-9])"',
    ),
    (
        ir.And(
            (
                ir.Match(F("a"), M.ENDSWITH, ("\\x.exe",), False),
                ir.Not(ir.Match(F("u"), M.ENDSWITH, ("$",), False)),
            )
        ),
        'any where a : "*\\\\x.exe" and not (u != null and u : "*$")',
        'search sourcetype="T" a="*\\\\x.exe" AND NOT u="*$"',
        'a endswith @"\\x.exe" and not(u endswith "$")',
    ),
]


@pytest.mark.parametrize(("predicate", "eql", "spl", "kql"), SIDE_BY_SIDE)
def test_each_target_side_by_side(predicate, eql, spl, kql):
    q = query(predicate)
    expected_kql = kql if kql.startswith("unsupported") else f"T\n| where {kql}"
    emitted = [emit(target, q) for target in ("eql", "spl", "kql")]
    for text, expected in zip(emitted, (eql, spl, expected_kql), strict=True):
        assert text.startswith(expected) if expected.startswith("unsupported") else text == expected


def test_exists_is_isnotempty_when_the_user_allows_the_empty_approximation():
    from rulec.backends.base import Options

    backend = KqlBackend(Options(approximations=frozenset({"empty"})))
    exists = ir.Match(F("f"), M.EXISTS, (), True)
    emitted = backend.emit(query(ir.Or((exists, ir.Not(exists)))))
    assert emitted.text == "T\n| where isnotempty(f) or isempty(f)"
    assert [note.code for note in emitted.notes] == ["approximation"]


@pytest.mark.parametrize(
    ("value", "cased", "eql", "kql"),
    [
        (True, False, 'f : "true"', 'f =~ "true"'),
        (False, True, 'f == "false"', 'f == "false"'),
        (3.0, False, 'string(f) == "3"', "f == 3.0"),
    ],
)
def test_bools_and_numbers_are_compared_as_their_text(value, cased, eql, kql):
    q = query(ir.Match(F("f"), M.EQ, (value,), cased))
    assert (emit("eql", q), emit("kql", q)) == (f"any where {eql}", f"T\n| where {kql}")


def test_a_non_ascii_wildcard_is_a_regex_over_the_lowered_text():
    pattern = ir.Pattern(("É", W.ANY, "x", W.ONE))
    text = emit("kql", query(ir.Match(F("f"), M.WILDCARD, (pattern,), False)))
    assert text == 'T\n| where tolower(f) matches regex "(?s)^é.*x.$"'


def test_wildcard_pattern_is_an_anchored_case_insensitive_regex():
    pattern = ir.Pattern(("C:\\", W.ANY, "\\a", W.ONE, ".exe"))
    text = emit("kql", query(ir.Match(F("f"), M.WILDCARD, (pattern,), False)))
    assert text == 'T\n| where f matches regex @"(?is)^C:\\\\.*\\\\a.\\.exe$"'


def test_cased_wildcard_pattern_has_no_case_flag():
    pattern = ir.Pattern(("a", W.ONE))
    text = emit("kql", query(ir.Match(F("f"), M.WILDCARD, (pattern,), True)))
    assert text == 'T\n| where f matches regex "(?s)^a.$"'


def test_null_is_isempty_never_isnull():
    null = ir.Compare(ir.CompareOp.EQ, F("f"), ir.Literal(None))
    assert emit("kql", query(null)) == "T\n| where isempty(f)"


def test_ipv4_and_ipv6_ranges_use_their_own_functions():
    text = emit("kql", query(ir.Match(F("ip"), M.CIDR, ("10.0.0.0/8", "::1/128"), True)))
    assert text == (
        'T\n| where ipv4_is_in_range(ip, "10.0.0.0/8") or ipv6_is_in_range(ip, "::1/128")'
    )


def test_numeric_comparison_under_not_is_two_valued():
    text = emit("kql", query(ir.Not(ir.Match(F("n"), M.LT, (3,), True))))
    assert text == "T\n| where not(isnotnull(n) and n < 3)"


def test_lets_params_and_stages():
    inner = ir.Pipeline(
        ir.Table("DeviceFileEvents"),
        (ir.Filter(ir.Match(F("ActionType"), M.EQ, ("FileCreated",), False)),),
    )
    q = ir.Query(
        ir.Pipeline(
            ir.PipelineRef("Writes"),
            (
                ir.Join(ir.JoinKind.INNER, ir.Pipeline(ir.Table("Other")), (("SHA1", "SHA1"),)),
                ir.Extend((ir.Assign("p", ir.Call("lower", (F("FolderPath"),))),)),
                ir.Aggregate(
                    (ir.Assign("DeviceId", F("DeviceId")),),
                    (ir.Measure("n", ir.AggCall("dcount", F("SHA1"))),),
                    having=ir.Compare(ir.CompareOp.GT, F("n"), ir.Literal(2)),
                ),
                ir.Sort((ir.SortKey(F("n"), descending=True),)),
                ir.Limit(10),
            ),
        ),
        lets=(
            ir.Let("lookback", ir.Literal(timedelta(days=30))),
            ir.Let("Writes", inner, materialize=True),
        ),
    )
    assert emit("kql", q) == (
        "let lookback = 30d;\n"
        "let Writes = materialize(\n"
        "    DeviceFileEvents\n"
        '    | where ActionType =~ "FileCreated"\n'
        ");\n"
        "Writes\n"
        "| join kind=inner (Other) on SHA1\n"
        "| extend p = tolower(FolderPath)\n"
        "| summarize n = count_distinct(SHA1) by DeviceId\n"
        "| where n > 2\n"
        "| sort by n desc\n"
        "| take 10"
    )


DISTINCT_USERS = ir.Aggregate(
    (ir.Assign("Computer", F("Computer")),),
    (ir.Measure("n", ir.AggCall("dcount", F("User"))),),
    window=ir.Window(timedelta(minutes=15)),
    having=ir.Compare(ir.CompareOp.GT, F("n"), ir.Literal(30)),
)


def test_sliding_window_is_an_exact_self_join_never_a_bin():
    text = emit("kql", query(stages=(DISTINCT_USERS,)))
    assert text == "\n".join(
        [
            "let _rulec_rows1 = T",
            "| extend _rulec_t = todatetime(TimeGenerated)",
            "| where isnotnull(_rulec_t);",
            "_rulec_rows1",
            "| summarize by Computer, window_end = _rulec_t",
            "| join kind=inner (_rulec_rows1) on Computer",
            "| where _rulec_t between ((window_end - 15m) .. window_end)",
            "| summarize n = count_distinct(User) by Computer, window_end",
            "| where n > 30",
            "| sort by Computer asc, window_end asc",
            "| extend _rulec_new = iff(prev(Computer) == Computer"
            " and prev(window_end) >= window_end - 15m, 0, 1)",
            "| extend _rulec_run = row_cumsum(_rulec_new)",
            "| summarize window_start = min(window_end) - 15m, window_end = max(window_end),"
            " n = max(n) by Computer, _rulec_run",
            "| project-away _rulec_run",
        ]
    )
    assert "bin(" not in text and "dcount(" not in text


def correlation_query(kind, rules=("a",), condition=None, value_field=None) -> ir.Query:
    lets = tuple(
        ir.Let(
            name, ir.Pipeline(ir.Table("T"), (ir.Filter(ir.Match(F("r"), M.EQ, (name,), True)),))
        )
        for name in rules
    )
    correlation = ir.Correlation(
        kind, rules, ("host",), timedelta(minutes=5), condition, value_field
    )
    return ir.Query(ir.Pipeline(ir.PipelineRef(rules[0]), (correlation,)), lets=lets)


def value(op, n):
    return ir.Compare(op, F("value"), ir.Literal(n))


# correlation | what each target must contain (a diagnostic where it cannot express it)
CORRELATIONS = [
    (
        correlation_query(
            ir.CorrelationKind.VALUE_COUNT, condition=value(ir.CompareOp.GT, 3), value_field="user"
        ),
        "unsupported: eql cannot express a value_count correlation",
        "streamstats time_window=5m dc(user) AS value by host | where value > 3",
        "summarize value = count_distinct(user) by host, window_end",
    ),
    (
        correlation_query(ir.CorrelationKind.EVENT_COUNT, condition=value(ir.CompareOp.GE, 5)),
        "unsupported: eql cannot express an event_count correlation: a sequence with runs",
        "streamstats time_window=5m count AS value by host | where value >= 5",
        "summarize value = count() by host, window_end",
    ),
    (
        correlation_query(
            ir.CorrelationKind.TEMPORAL_ORDERED, ("a", "b"), value(ir.CompareOp.GE, 2)
        ),
        'sequence by host with maxspan=5m\n  [any where r == "a"]\n  [any where r == "b"]',
        "unsupported: spl cannot express a temporal_ordered correlation",
        "unsupported: kql cannot express a temporal_ordered correlation",
    ),
    (
        correlation_query(ir.CorrelationKind.TEMPORAL, ("a", "b")),
        "unsupported: eql cannot express a temporal correlation",
        '| multisearch [search sourcetype="T" | where r=="a" | eval _rulec_rule="a"]',
        'union (a | extend _rulec_rule = "a"), (b | extend _rulec_rule = "b")',
    ),
]


@pytest.mark.parametrize(("correlation", "eql", "spl", "kql"), CORRELATIONS)
def test_correlations_side_by_side(correlation, eql, spl, kql):
    for target, expected in (("eql", eql), ("spl", spl), ("kql", kql)):
        assert expected in emit(target, correlation), target


def test_temporal_needs_every_rule_by_default():
    text = emit("kql", correlation_query(ir.CorrelationKind.TEMPORAL, ("a", "b")))
    assert "| summarize value = count_distinct(_rulec_rule) by host, window_end" in text
    assert "| where value >= 2" in text


@pytest.mark.parametrize(
    ("op", "n", "runs"),
    [(ir.CompareOp.GE, 5, "with runs=5"), (ir.CompareOp.GT, 5, "with runs=6")],
)
def test_eql_runs_are_not_off_by_one(op, n, runs):
    from rulec.backends.base import Options

    backend = EqlBackend(Options(approximations=frozenset({"runs"})))
    emitted = backend.emit(
        correlation_query(ir.CorrelationKind.EVENT_COUNT, condition=value(op, n))
    )
    assert emitted.text == f'sequence by host with maxspan=5m\n  [any where r == "a"] {runs}'
    assert [note.code for note in emitted.notes] == ["approximation"]


def test_eql_runs_cannot_say_fewer_than():
    from rulec.backends.base import Options

    backend = EqlBackend(Options(approximations=frozenset({"runs"})))
    lt = correlation_query(ir.CorrelationKind.EVENT_COUNT, condition=value(ir.CompareOp.LT, 5))
    with pytest.raises(ir.RuleError, match="other than >= n or > n"):
        backend.emit(lt)


@pytest.mark.parametrize(
    ("field", "kql"),
    [
        ("process.name", "process.name"),  # a path into a nested (dynamic) value
        ("a.title", "a['title']"),  # a keyword segment is bracketed
        ("Event Data.x-y", "['Event Data']['x-y']"),
        ("with", "['with']"),
        ("a..b", "['a..b']"),  # no path: one column
    ],
)
def test_field_names_are_paths_with_bracketed_segments(field, kql):
    text = emit("kql", query(ir.Match(F(field), M.EQ, ("x",), False)))
    assert text == f'T\n| where {kql} =~ "x"'


ARG_MAX = ir.Measure("t", ir.ArgExtreme("arg_max", F("t")))
PRESENT = ir.And(
    (ir.Match(F("a"), M.EXISTS, (), True), ir.Not(ir.Match(F("a"), M.EQ, ("",), True)))
)
RAW_TERM = ir.Match(ir.RawText(), M.HAS, ("evil",), False)

# IR stage | KQL (after "T\n| ")
STAGES = [
    (ir.Aggregate((ir.Assign("k", F("k")),), (ARG_MAX,)), "summarize arg_max(t, *) by k"),
    (
        ir.Aggregate((), (ir.Measure("latest", ir.ArgExtreme("arg_min", F("t"), ("a", "b"))),)),
        "summarize latest = arg_min(t, a, b)",
    ),
    (
        ir.Extend(
            (ir.Assign("x", ir.Call("index", (ir.Call("parse_json", (F("A"),)), ir.Literal(0)))),)
        ),
        "extend x = parse_json(A)[0]",
    ),
    (
        ir.MvExpand((ir.Assign("e", ir.Call("parse_json", (F("E"),))), ir.Assign("f", F("f"))), 5),
        "mv-expand e = parse_json(E), f limit 5",
    ),
    (
        ir.Parse(F("u"), (("*", None), "://", ("host", "string")), "simple", False),
        'parse-where u with * "://" host:string',
    ),
    (ir.Union((ir.Pipeline(ir.Table("U")),), "src"), "union withsource=src (U)"),
    (ir.Filter(ir.Or((PRESENT, ir.Not(PRESENT)))), "where isnotempty(a) or isempty(a)"),
    (
        ir.Filter(ir.And((RAW_TERM, ir.Match(F("b"), M.EQ, (1,), True)))),
        'search "evil" and b in (1)',
    ),
    (ir.Filter(ir.Match(F("a"), M.HAS, ("x", "y"), False)), 'where a has_any ("x", "y")'),
    (ir.Extend((ir.Assign("n", ir.Literal(None)),)), "extend n = dynamic(null)"),
    (
        ir.Extend((ir.Assign("d", ir.Call("datepart", (ir.Literal("hour"), F("t")))),)),
        'extend d = datetime_part("hour", t)',
    ),
]


@pytest.mark.parametrize(("stage", "kql"), STAGES)
def test_stages_the_kql_front_end_produces(stage, kql):
    assert emit("kql", query(stages=(stage,))) == f"T\n| {kql}"


def test_a_configured_raw_field_is_searched_as_a_column():
    from rulec.backends.base import Options

    text = KqlBackend(Options(raw_field="RawData")).emit(query(RAW_TERM)).text
    assert text == 'T\n| where RawData has "evil"'


def test_unknown_functions_and_aggregations_are_diagnostics():
    call = ir.Extend((ir.Assign("x", ir.Call("no_such_function", (F("a"),))),))
    agg = ir.Aggregate((), (ir.Measure("m", ir.AggCall("no_such_agg", F("a"))),))
    assert emit("kql", query(stages=(call,))) == (
        "unsupported: kql cannot express the function no_such_function()"
    )
    assert emit("kql", query(stages=(agg,))) == (
        "unsupported: kql cannot express the aggregation no_such_agg()"
    )
