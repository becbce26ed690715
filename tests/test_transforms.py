"""The IR walker and the shared IR-to-IR rewrites (backends/transforms.py).

Oracle: the Sigma correlation specification (a temporal correlation's default condition is that
all of its rules occur; `gte`/`gt` thresholds count events) and the IR's own definitions.
"""

from datetime import timedelta
from pathlib import Path

import pytest

from rulec.backends.transforms import (
    RULE_COLUMN,
    all_rules,
    at_least,
    correlation_aggregate,
    default_conditions,
    with_condition,
)
from rulec.compiler import ir

K = ir.CorrelationKind
VALUE = ir.FieldRef("value")


def correlation(kind: K, rules=("a", "b"), **more) -> ir.Correlation:
    return ir.Correlation(kind, tuple(rules), ("User",), timedelta(minutes=5), **more)


def test_all_rules_counts_distinct_rules():
    # the measure counts distinct rules, so a rule named twice must not raise the bar
    wanted = ir.Compare(ir.CompareOp.GE, VALUE, ir.Literal(2))
    assert all_rules(correlation(K.TEMPORAL, ("a", "b", "a"))) == wanted


def test_temporal_default_condition_is_written_out_once():
    stage = correlation(K.TEMPORAL, ("a", "b", "c"))
    assert with_condition(stage).condition == all_rules(stage)
    given = correlation(K.TEMPORAL, condition=ir.Compare(ir.CompareOp.GE, VALUE, ir.Literal(1)))
    assert with_condition(given) is given
    counted = correlation(K.EVENT_COUNT)
    assert with_condition(counted) is counted
    ordered = correlation(K.TEMPORAL_ORDERED, ("a", "b", "a"))
    assert with_condition(ordered).condition == ir.Compare(ir.CompareOp.GE, VALUE, ir.Literal(2))


def test_default_conditions_rewrites_every_correlation_of_a_query():
    rule = ir.Pipeline(ir.Table("T"), ())
    lets = (ir.Let("a", rule), ir.Let("b", rule))
    stage = correlation(K.TEMPORAL)
    query = ir.Query(ir.Pipeline(ir.PipelineRef("a"), (stage,)), lets=lets)
    (written,) = default_conditions(None, query).pipeline.stages
    assert written.condition == ir.Compare(ir.CompareOp.GE, VALUE, ir.Literal(2))
    plain = ir.Query(rule, lets=lets)
    assert default_conditions(None, plain) is plain


@pytest.mark.parametrize(
    ("op", "n", "minimum"),
    [(ir.CompareOp.GE, 3, 3), (ir.CompareOp.GT, 3, 4), (ir.CompareOp.GT, 0, 1)],
)
def test_at_least_reads_gt_as_n_plus_one(op, n, minimum):
    assert at_least(ir.Compare(op, VALUE, ir.Literal(n))) == minimum


@pytest.mark.parametrize(
    "condition",
    [
        None,
        ir.Compare(ir.CompareOp.LT, VALUE, ir.Literal(3)),
        ir.Compare(ir.CompareOp.GE, VALUE, ir.Literal(2.5)),
        ir.Compare(ir.CompareOp.GE, VALUE, ir.Literal(True)),
        ir.Compare(ir.CompareOp.EQ, VALUE, ir.Literal(3)),
    ],
)
def test_at_least_refuses_other_conditions(condition):
    assert at_least(condition) is None


def test_correlation_aggregate_measures():
    temporal = correlation_aggregate(with_condition(correlation(K.TEMPORAL, ("a", "b", "a"))))
    assert temporal.measures[0].agg == ir.AggCall("dcount", ir.FieldRef(RULE_COLUMN))
    assert temporal.having == ir.Compare(ir.CompareOp.GE, VALUE, ir.Literal(2))
    assert temporal.window == ir.Window(timedelta(minutes=5))
    assert [g.name for g in temporal.group_by] == ["User"]
    counted = correlation_aggregate(correlation(K.VALUE_COUNT, value_field="Host"))
    assert counted.measures[0].agg == ir.AggCall("dcount", ir.FieldRef("Host"))
    assert correlation_aggregate(correlation(K.VALUE_SUM)) is None  # no field to sum
    assert correlation_aggregate(correlation(K.TEMPORAL_ORDERED)) is None
    assert correlation_aggregate(correlation(K.EVENT_COUNT, absent=("c",))) is None


def test_walk_visits_every_node_in_order_without_spans():
    span = ir.Span("r.yml", 3, 1)
    a, b = ir.FieldRef("a", span=span), ir.FieldRef("b")
    expr = ir.And((ir.Not(ir.Compare(ir.CompareOp.EQ, a, ir.Literal(1))), b))
    nodes = [n for n in ir.walk(expr) if isinstance(n, ir.Node)]
    assert [type(n).__name__ for n in nodes] == [
        "And",
        "Not",
        "Compare",
        "FieldRef",
        "Literal",
        "FieldRef",
    ]
    assert not any(isinstance(n, ir.Span) for n in ir.walk(expr))
    assert list(ir.find_all(expr, ir.FieldRef)) == [a, b]


def test_find_all_gives_walks_nodes_in_walks_order():
    # find_all walks without recursion; `walk`, the plain recursive generator, is the oracle:
    # the same nodes in the same order, for single kinds and tuples of kinds, spans left out
    from rulec.compiler.frontends.sigma.load import load_sigma

    rules = sorted((Path(__file__).parent.parent / "rules" / "sigma").rglob("*.yml"))
    queries = [
        q
        for path in rules
        for q in load_sigma(path.read_text(), str(path), None)
        if isinstance(q, ir.Query)
    ]
    assert len(queries) > 5
    for query in queries:
        for kinds in (ir.Node, ir.FieldRef, (ir.Match, ir.Pipeline), ir.Span, str):
            expected = [n for n in ir.walk(query) if isinstance(n, kinds)]
            found = list(ir.find_all(query, kinds))
            assert len(found) == len(expected)
            assert all(a is b for a, b in zip(found, expected, strict=True))


def test_conjuncts_flatten_nested_ands_only():
    a, b, c = (ir.Match(ir.FieldRef(n), ir.MatchKind.EXISTS, (), True) for n in "abc")
    assert ir.conjuncts(ir.And((a, ir.And((b, c))))) == (a, b, c)
    either = ir.Or((a, b))
    assert ir.conjuncts(either) == (either,)


# Oracle: the targets' documented duration literals: EQL's maxspan (`ms`, `s`, `m`, `h`, `d`),
# KQL's timespan (`1d`, `2h`, `90s`, `10microsecond`) and Splunk's `span=` (`s`, `m`, `h`, `d`).
@pytest.mark.parametrize(
    ("size", "eql", "kql", "spl"),
    [
        (timedelta(minutes=5), "5m", "5m", "5m"),
        (timedelta(hours=48), "2d", "2d", "2d"),
        (timedelta(seconds=90), "90s", "90s", "90s"),
        (timedelta(milliseconds=1500), "1500ms", "1500000microsecond", "1s"),
        (timedelta(0), "0ms", "0microsecond", "0s"),
    ],
)
def test_one_duration_formatter_for_every_target(size, eql, kql, spl):
    from rulec.backends.eql import EqlBackend
    from rulec.backends.kql import KqlBackend
    from rulec.backends.spl import SplBackend

    assert EqlBackend().duration(size) == eql
    assert KqlBackend().timespan(size, ir.Literal(size)) == kql
    assert SplBackend().duration(size) == spl


@pytest.mark.parametrize(
    ("value", "text"), [(True, "true"), (False, "false"), (3, "3"), (3.0, "3"), (2.5, "2.5")]
)
def test_bool_and_number_as_the_text_events_hold(value, text):
    # Oracle: the reference executor compares a rule's bool/number with a field's text this way
    from rulec.backends.values import bool_text, number_text

    assert (bool_text(value) if isinstance(value, bool) else number_text(value)) == text


def test_regex_flags():
    from rulec.backends.values import regex_flags

    assert regex_flags({"s"}, case_sensitive=False) == "(?is)"
    assert regex_flags((), case_sensitive=True) == ""
    assert regex_flags({"m", "s"}, case_sensitive=True) == "(?ms)"


def test_kuery_writes_bools_and_numbers_as_the_other_targets_compare_them():
    # Oracle: the reference executor compares 3.0 with a field's text as "3" (as EQL, SPL, KQL
    # and SQL write it); Kuery's keyword match compares text too
    from rulec.backends.kuery import KueryBackend

    node = ir.Match(ir.FieldRef("EventID"), ir.MatchKind.EQ, (3.0,), True)
    assert KueryBackend().term(3.0, node) == "3"
    assert KueryBackend().term(True, node) == "true"
    assert KueryBackend().term(2.5, node) == "2.5"
