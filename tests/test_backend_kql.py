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
        "isempty(f)",
    ),
    (
        ir.Match(F("n"), M.GE, (10,), True),
        "any where n >= 10",
        'search sourcetype="T" | where n>=10',
        "n >= 10",
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
    kql_text = emit("kql", q)
    expected_kql = kql if kql.startswith("unsupported") else f"T\n| where {kql}"
    assert (emit("eql", q), emit("spl", q), kql_text) == (eql, spl, expected_kql)


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


def test_sliding_window_and_correlation_are_reported():
    window = ir.Window(timedelta(minutes=15))
    aggregate = ir.Aggregate((), (ir.Measure("n", ir.AggCall("count")),), window=window)
    correlation = ir.Correlation(ir.CorrelationKind.EVENT_COUNT, ("a",), (), timedelta(minutes=5))
    for stage in (aggregate, correlation):
        assert emit("kql", query(stages=(stage,))).startswith("unsupported: kql cannot express")


def test_field_names_that_are_not_identifiers_are_bracketed():
    text = emit("kql", query(ir.Match(F("process.name"), M.EQ, ("x",), False)))
    assert text == "T\n| where ['process.name'] =~ \"x\""
