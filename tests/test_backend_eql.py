"""EQL back end: emitted text, and execution with Elastic's `eql` package as the oracle.

The `eql` Python engine is the oracle for which events an emitted query selects. Its dialect
differs from Elasticsearch's in ways these tests avoid rather than paper over: it compares all
strings case-insensitively (so case-sensitive matches are checked as text only), it has no `?`
wildcard, and its `regex` is anchored at the start only.
"""

from __future__ import annotations

import pytest

from rulec.backends.eql import EqlBackend
from rulec.compiler import ir
from rulec.compiler.run import engines_eql
from rulec.compiler.run.events import ROW, EventTable

eql = pytest.importorskip("eql", reason="Elastic's eql package is the oracle for these tests")

M, F, W = ir.MatchKind, ir.FieldRef, ir.Wildcard


def query(*predicates: ir.Expr, stages: tuple[ir.Stage, ...] = ()) -> ir.Query:
    filters = tuple(ir.Filter(p) for p in predicates)
    return ir.Query(ir.Pipeline(ir.LogSource(product="windows"), filters + stages))


def run_eql(text: str, events: list[dict]) -> list[int]:
    """Indices of the events that Elastic's eql engine (the `eql` engine of `rulec run`)
    selects with `text`."""
    rows = tuple({**e, ROW: i} for i, e in enumerate(events))
    return engines_eql.run_eql(text, EventTable((ROW,), rows))


EVENTS = [
    {"Image": r"C:\Windows\System32\cmd.exe", "User": "alice", "Port": 445},
    {"Image": r"C:\Tools\CMD.EXE", "User": "bob$", "Port": "80", "ip": "10.1.2.3", "Admin": "True"},
    {"Image": r"C:\tmp\evil*.exe", "User": "carol", "ip": "192.168.0.1"},
    {"User": "dave", "event": {"original": "powershell -enc AAAA"}, "ip": "fe80::1"},
]

# IR predicate | expected EQL text | events eql selects (indices into EVENTS)
EXECUTED = [
    (
        ir.Match(F("Image"), M.ENDSWITH, ("\\cmd.exe",), False),
        'any where Image : "*\\\\cmd.exe"',
        [0, 1],
    ),
    (
        ir.Match(F("User"), M.EQ, ("alice", "DAVE"), False),
        'any where User : ("alice", "DAVE")',
        [0, 3],
    ),
    (
        ir.Not(ir.Match(F("Image"), M.CONTAINS, ("system32",), False)),
        'any where not (Image != null and Image : "*system32*")',
        [1, 2, 3],
    ),
    (
        ir.Match(F("Admin"), M.EQ, (True,), False),
        'any where Admin : "true"',
        [1],
    ),
    (
        ir.Match(F("Port"), M.EQ, (80.0, 8080), True),
        'any where string(Port) in ("80", "8080")',
        [1],
    ),
    (
        ir.Match(F("Image"), M.CONTAINS, ("evil*",), False),
        'any where stringContains~(Image, "evil*")',
        [2],
    ),
    (
        ir.Match(F("Image"), M.WILDCARD, (ir.Pattern(("c:\\", W.ANY, "\\cmd.exe")),), False),
        'any where Image : "c:\\\\*\\\\cmd.exe"',
        [0, 1],
    ),
    (
        ir.Match(F("User"), M.ENDSWITH, ("$",), False),
        'any where User : "*$"',
        [1],
    ),
    (
        ir.Match(ir.RawText(), M.CONTAINS, ("-enc",), False),
        'any where event.original : "*-enc*"',
        [3],
    ),
    (
        ir.Match(F("ip"), M.CIDR, ("10.0.0.0/8", "fe80::/10"), True),
        'any where cidrMatch(ip, "10.0.0.0/8", "fe80::/10")',
        [1, 3],
    ),
    (
        ir.Not(ir.Match(F("ip"), M.EXISTS, (), True)),
        "any where not ip != null",
        [0],
    ),
    (
        ir.Match(F("Image"), M.REGEX, (r"system\d+\\",), False),
        'any where Image regex~ ".*system[0-9]+\\\\\\\\.*"',
        [0],
    ),
    (
        ir.Or(
            (
                ir.And(
                    (ir.Match(F("Port"), M.EQ, (445,), True), ir.Match(F("ip"), M.EXISTS, (), True))
                ),
                ir.Match(F("User"), M.STARTSWITH, ("ca",), False),
            )
        ),
        'any where (string(Port) == "445" and ip != null) or User : "ca*"',
        [2],
    ),
]


@pytest.mark.parametrize(("predicate", "text", "selected"), EXECUTED)
def test_emitted_eql_selects_the_expected_events(predicate, text, selected):
    emitted = EqlBackend().emit(query(predicate)).text
    assert emitted == text
    assert run_eql(emitted, EVENTS) == selected


# Case-sensitive forms: Elasticsearch honours them; the eql package compares case-insensitively,
# so these are checked as text (and as parseable EQL).
CASED = [
    (ir.Match(F("User"), M.EQ, ("Alice",), True), 'any where User == "Alice"'),
    (ir.Match(F("User"), M.EQ, ("a", "b"), True), 'any where User in ("a", "b")'),
    (ir.Match(F("User"), M.CONTAINS, ("li",), True), 'any where User like "*li*"'),
    (ir.Match(F("User"), M.EQ, ("a*b",), False), 'any where User in~ ("a*b")'),
    (ir.Match(F("User"), M.STARTSWITH, ("a?",), True), 'any where startsWith(User, "a?")'),
    (
        ir.Match(F("User"), M.WILDCARD, (ir.Pattern(("a", W.ONE, "c")),), True),
        'any where User like "a?c"',
    ),
    (ir.Match(F("User"), M.REGEX, ("^ab$",), True), 'any where User regex "ab"'),
]


@pytest.mark.parametrize(("predicate", "text"), CASED)
def test_case_sensitive_forms(predicate, text):
    emitted = EqlBackend().emit(query(predicate)).text
    assert emitted == text
    run_eql(emitted, EVENTS)  # parses in the eql grammar


def test_keywords_search_a_configured_raw_field():
    from rulec.backends.base import Options

    backend = EqlBackend(Options(raw_field="message"))
    predicate = ir.Match(ir.RawText(), M.CONTAINS, ("x",), False)
    assert backend.emit(query(predicate)).text == 'any where message : "*x*"'


def test_field_names_outside_identifiers_are_backquoted():
    predicate = ir.Match(F("a b`c"), M.EQ, ("x",), False)
    assert EqlBackend().emit(query(predicate)).text == 'any where `a b``c` : "x"'


@pytest.mark.parametrize(
    ("regex", "lucene"),
    [
        ("abc", ".*abc.*"),
        ("^a.c$", "a[^\n]c"),
        ("a|b", ".*(a|b).*"),
        (r"\w+@x\.com", ".*[0-9A-Za-z_]+\\@x\\.com.*"),
        ("(?:ab)+?c", ".*(ab)+c.*"),
        ("[^a-z\\d]", ".*[^a-z0-9].*"),
    ],
)
def test_re2_patterns_become_anchored_lucene_regexes(regex, lucene):
    from rulec.backends.eql import LuceneRegex

    assert LuceneRegex(regex, frozenset()).translate() == lucene


@pytest.mark.parametrize(
    ("predicate", "construct"),
    [
        (ir.Match(F("a"), M.HAS, ("x",), False), "match kind 'has'"),
        (ir.Match(F("a"), M.REGEX, (r"\bword",), False), "regex"),
        (ir.Match(F("a"), M.REGEX, ("(?i)x",), True), "regex"),
        (ir.Match(F("a"), M.REGEX, (F("b"),), False), "regex match on the value"),
        (ir.Match(F("a"), M.EQ, (F("b"),), False), "comparison of two fields"),
        (ir.Match(F("a"), M.EQ, (F("b"),), True), "comparison of two fields"),
        (ir.Match(F("a"), M.LT, (5,), True), "lt threshold"),
        (ir.Match(F("a"), M.EQ, ("x",), False, (ir.Transform("lower"),)), "transform lower"),
    ],
)
def test_what_eql_cannot_say_is_a_diagnostic(predicate, construct):
    with pytest.raises(ir.RuleError) as caught:
        EqlBackend().emit(query(predicate))
    diagnostic = caught.value.diagnostic
    assert diagnostic.code == "unsupported" and diagnostic.target == "eql"
    assert construct in diagnostic.message


def test_a_threshold_is_emitted_when_the_user_allows_numeric_fields():
    from rulec.backends.base import Options

    backend = EqlBackend(Options(approximations=frozenset({"numeric"})))
    emitted = backend.emit(query(ir.Not(ir.Match(F("Port"), M.GT, (100,), True))))
    assert emitted.text == "any where not (Port != null and Port > 100)"
    assert [note.code for note in emitted.notes] == ["approximation"]
    numeric = [{"Port": 445}, {"Port": 80}, {"User": "x"}]
    assert run_eql(emitted.text, numeric) == [1, 2]


def test_relational_stages_are_reported_with_their_span():
    span = ir.Span("rule.yml", 12, 3)
    aggregate = ir.Aggregate((), (ir.Measure("n", ir.AggCall("count")),), span=span)
    with pytest.raises(ir.RuleError) as caught:
        EqlBackend().emit(query(stages=(aggregate,)))
    assert caught.value.diagnostic.span == span
    assert "Aggregate" in caught.value.diagnostic.message
