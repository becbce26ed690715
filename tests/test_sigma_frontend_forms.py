"""Forms of the public Sigma corpus that used to fail: placeholders, inline regex flags, prose.

A placeholder no pipeline resolves (`|expand: '%name%'`) is a match against a named list: the
one-column table `placeholder_<name>` (column `value`) that the deployment supplies (a SQL table,
a Splunk lookup, a KQL function or table); EQL has no lookups.
"""

from __future__ import annotations

import textwrap

import pytest

from rulec.backends.registry import emit
from rulec.compiler import ir
from rulec.compiler.frontends.sigma.load import load_sigma
from rulec.compiler.run.engines import DuckDBEngine
from rulec.compiler.run.events import EventTable, flatten
from rulec.compiler.run.executor import execute

K = ir.MatchKind


def rule(detection: str) -> str:
    body = textwrap.indent(textwrap.dedent(detection).strip(), "    ")
    return f"title: t\nlogsource:\n    product: windows\ndetection:\n{body}\n"


def lower(text: str) -> ir.Query:
    (result,) = load_sigma(text, "rule.yml")
    assert isinstance(result, ir.Query), result
    return result


def listed(field: ir.Expr, name: str, kind: ir.MatchKind, cased: bool = False) -> ir.InPipeline:
    column = ir.Assign("value", ir.FieldRef("value"))
    values = ir.Pipeline(ir.Table(f"placeholder_{name}"), (ir.Project((column,)),))
    return ir.InPipeline(field, values, cased, kind)


# (detection, expected predicate)
LOWERED = [
    ("sel: {User|expand: '%admins%'}", listed(ir.FieldRef("User"), "admins", K.EQ)),
    ("sel: {User|contains|expand: '%a%'}", listed(ir.FieldRef("User"), "a", K.CONTAINS)),
    ("sel: {User|startswith|expand: '%a%'}", listed(ir.FieldRef("User"), "a", K.STARTSWITH)),
    ("sel: {User|endswith|expand: '%a%'}", listed(ir.FieldRef("User"), "a", K.ENDSWITH)),
    ("sel: {User|cased|expand: '%a%'}", listed(ir.FieldRef("User"), "a", K.EQ, cased=True)),
    (
        "sel: {User|expand: ['%a%', root]}",
        ir.Or(
            (
                listed(ir.FieldRef("User"), "a", K.EQ),
                ir.Match(ir.FieldRef("User"), K.EQ, ("root",), False),
            )
        ),
    ),
    ("sel: {'|expand': '%words%'}\ncondition: sel", listed(ir.RawText(), "words", K.CONTAINS)),
]


@pytest.mark.parametrize(("detection", "expected"), LOWERED)
def test_placeholder_is_a_match_against_its_named_list(detection: str, expected: ir.Expr):
    text = detection if "condition" in detection else detection + "\ncondition: sel"
    (stage,) = lower(rule(text)).pipeline.stages
    assert stage.predicate == expected


def test_placeholder_inside_other_text_is_a_located_diagnostic():
    (result,) = load_sigma(rule("sel: {User|expand: 'ad%x%min'}\ncondition: sel"), "r.yml")
    assert isinstance(result, ir.Diagnostic)
    assert result.code == "sigma.unsupported" and result.span.line == 5
    assert "mixes a placeholder with other text" in result.message


EXCLUDE_ADMINS = rule(
    """
    sel: {EventID: 4624}
    admins: {User|expand: '%admins%'}
    condition: sel and not admins
    """
)


def test_placeholder_list_is_read_at_run_time():
    rows = tuple(
        flatten({"EventID": "4624", "User": user}) | {"_row": n}
        for n, user in enumerate(["ROOT", "alice", "bob", None], 1)
    )
    events = EventTable(tuple(dict.fromkeys(k for row in rows for k in row)), rows)
    admins = EventTable(("value",), ({"value": "root"}, {"value": "bob"}))
    found = execute(
        lower(EXCLUDE_ADMINS), events, {"placeholder_admins": admins}, engine=DuckDBEngine()
    )
    # case-insensitive as Sigma is: ROOT is an admin; an event without User is not
    assert [row["_row"] for row in found] == [2, 4]


# modifier | rows whose CommandLine holds a listed value that way (values hold LIKE and regex
# characters, matched as plain text, case-insensitively)
AFFIXED = [
    ("contains", [1, 2, 3, 4]),
    ("startswith", [1, 3]),
    ("endswith", [2, 4]),
]
LINES = ["A%_B tail", "head a%_b", "x.*y and more", "more X.*Y", "a_b", None]


@pytest.mark.parametrize(("modifier", "rows"), AFFIXED)
def test_placeholder_inside_a_pattern_is_matched_as_text(modifier: str, rows: list[int]):
    """Oracle: the rows picked by hand from LINES; DuckDB runs the SQL."""
    text = rule(f"sel: {{CommandLine|{modifier}|expand: '%tools%'}}\ncondition: sel")
    events = EventTable(
        ("CommandLine", "_row"),
        tuple({"CommandLine": line, "_row": n} for n, line in enumerate(LINES, 1)),
    )
    tools = EventTable(("value",), ({"value": "a%_b"}, {"value": "X.*y"}))
    found = execute(lower(text), events, {"placeholder_tools": tools}, engine=DuckDBEngine())
    assert [row["_row"] for row in found] == rows


# target | expected text (or the diagnostic's message) for EXCLUDE_ADMINS
TARGETS = [
    ("duckdb", 'LOWER("User") IN ('),
    ("spl", "NOT [| inputlookup placeholder_admins | fields value | rename value AS User]"),
    ("kql", "not(User in~ (placeholder_admins"),
    ("eql", "eql cannot express"),
]


@pytest.mark.parametrize(("target", "expected"), TARGETS)
def test_placeholder_per_target(target: str, expected: str):
    query = lower(EXCLUDE_ADMINS)
    try:
        text = emit(target, query).text
    except ir.RuleError as error:
        text = error.diagnostic.message
        assert error.diagnostic.target == target
    assert expected in text


# A leading global flag group is the match's own flags: (detection, expected predicate)
REGEX_FLAGS = [
    ("sel: {F|re: '(?i)^a.b'}", ir.Match(ir.FieldRef("F"), K.REGEX, ("^a.b",), False)),
    (
        "sel: {F|re: '(?s)(?i)a'}",
        ir.Match(ir.FieldRef("F"), K.REGEX, ("a",), False, flags=frozenset("s")),
    ),
    (
        "sel: {F|re|m: '(?s)a'}",
        ir.Match(ir.FieldRef("F"), K.REGEX, ("a",), True, flags=frozenset("ms")),
    ),
    ("sel: {F|re: '(?i:a)b'}", ir.Match(ir.FieldRef("F"), K.REGEX, ("(?i:a)b",), True)),
]


@pytest.mark.parametrize(("detection", "expected"), REGEX_FLAGS)
def test_leading_regex_flags_become_match_flags(detection: str, expected: ir.Expr):
    (stage,) = lower(rule(detection + "\ncondition: sel")).pipeline.stages
    assert stage.predicate == expected


def test_prose_condition_is_reported_as_such_through_any_pipeline():
    from rulec.compiler.frontends.sigma.load import resolve_pipeline

    text = rule("sel: {A: 1}\ncondition: write X from sel to list; then alert")
    for pipeline in (None, resolve_pipeline(["ecs_windows"])):
        (result,) = load_sigma(text, "r.yml", pipeline)
        assert isinstance(result, ir.Diagnostic) and result.code == "sigma.condition"
        written = "the condition 'write X from sel to list; then alert' is not Sigma condition"
        assert result.message.startswith(written)
        assert "at char" not in result.message  # a position in the condition a pipeline rewrote
        assert result.span.line == 6


def test_near_without_timeframe_says_what_is_missing():
    text = rule("a: {X: 1}\nb: {Y: 2}\ncondition: a | near b")
    (result,) = load_sigma(text, "r.yml")
    assert isinstance(result, ir.Diagnostic) and result.code == "sigma.unsupported"
    assert "'near' aggregation without a timeframe" in result.message
    assert "timeframe: 5m" in result.message and result.span.line == 7
