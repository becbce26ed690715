"""Hostile Sigma input through `load_sigma`: each bad rule is one located diagnostic, never an
exception, in bounded time and memory; the good rules of the same file still load.

Each case is generated here: a rule text, the diagnostic code expected and the line it names.
"""

from __future__ import annotations

import json

import pytest

from rulec.compiler import ir
from rulec.compiler.frontends.sigma.documents import MAX_EXPANDED_NODES
from rulec.compiler.frontends.sigma.load import load_sigma
from rulec.compiler.run.events import EventTable
from rulec.compiler.run.executor import execute

RULE = """title: t
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image: 'x'}
  condition: sel
"""


def rule(old: str = "", new: str = "", extra: str = "") -> str:
    return RULE.replace(old, new) + extra


def alias_bomb(levels: int, old: str = "", new: str = "", extra: str = "") -> str:
    """A rule whose `{top}` expands to 9**levels strings through nine aliases per level."""
    lines = ["x0: &a0 [v, v, v, v, v, v, v, v, v]"]
    for n in range(1, levels):
        lines.append(f"x{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]")
    top = f"*a{levels - 1}"
    return "\n".join(lines) + "\n" + rule(old, new.format(top=top), extra.format(top=top))


# rule text | diagnostic code | line it names
BAD_RULES = [
    ("title: t\nlogsource: {product: windows\n", "sigma.yaml", 3),
    ("}}}{{{", "sigma.yaml", 1),
    ("\t:", "sigma.yaml", 1),
    ("a: \x00", "sigma.yaml", 1),
    ("!!python/object:os.system {}\n", "sigma.yaml", 1),
    ("<<: [*nowhere]\n", "sigma.yaml", 1),
    ("- a list\n- not a rule\n", "sigma.invalid", 1),
    (rule("logsource: {product: windows, category: process_creation}", "logsource: 5"), None, 2),
    ("title: t\nlogsource: {product: windows}\ndetection: [1, 2]\n", "sigma.detection", 3),
    (rule("Image: 'x'", "5: 'x'"), "sigma.type", 4),
    (rule("Image: 'x'", "Image: {a: 1}"), "sigma.type", 4),
    (rule("Image: 'x'", "Image: 2020-01-01"), "sigma.type", 4),
    (rule("Image: 'x'", "Image: [a, [b]]"), "sigma.type", 4),
    (rule("Image: 'x'", "Image|foo: 'x'"), "sigma.unknown-modifier", 4),
    (rule("Image: 'x'", "Image|cidr: 'nonsense'"), "sigma.type", 4),
    (rule("Image: 'x'", "Image|re: '(a'"), "sigma.regular-expression", 4),
    (rule("Image: 'x'", "Image|gt: 'x'"), "sigma.type", 4),
    (rule("condition: sel", "condition: 5"), "sigma.condition", 5),
    (rule("condition: sel", "condition: {a: b}"), "sigma.condition", 5),
    (rule("condition: sel", "condition: sel and nope"), "sigma.condition", 5),
    (rule("condition: sel", "condition: sel and ( or"), "sigma.condition", 5),
    (rule("condition: sel", "condition: sel | count( > 5"), "sigma.bad-aggregation", 5),
    (
        rule("condition: sel", "condition: sel | count() > 5\n  timeframe: 99999999999999d"),
        "sigma.bad-timeframe",
        5,
    ),
    (rule("condition: sel", "condition: " + "not " * 10_000 + "sel"), "sigma.too-deep", 5),
    ("a: " + "[" * 10_000 + "]" * 10_000 + "\n", "sigma.yaml", 1),
    ("a: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n", "sigma.yaml", 1),
    ("a: &a [*a]\n" + RULE, "sigma.yaml", 1),
    (alias_bomb(9, extra="references: {top}\n"), "sigma.yaml", None),
    (alias_bomb(9, extra="description: {top}\n"), "sigma.yaml", None),
    (alias_bomb(8, "{Image: 'x'}", "{{Image: {top}}}"), "sigma.yaml", None),
    (alias_bomb(8, "{Image: 'x'}", "{top}"), "sigma.yaml", None),
    ("title: c\ncorrelation: {type: nope, rules: [x]}\n", "sigma.correlation-type", 2),
]


HEADER_FIELDS = [
    "title",
    "id",
    "name",
    "status",
    "description",
    "author",
    "references",
    "tags",
    "level",
    "falsepositives",
    "related",
    "fields",
    "date",
    "modified",
    "license",
    "scope",
]


@pytest.mark.parametrize("key", HEADER_FIELDS)
@pytest.mark.parametrize("value", ["{a: [1]}", "[[1], {b: 2}]", "5.5"])
def test_a_header_field_of_the_wrong_type_is_a_warning_at_its_line(key, value):
    """Metadata never stops a rule (the detection converts), and the warning names the key."""
    text = (
        RULE.replace("title: t\n", "")
        + f"{key}: {value}\n"
        + ("" if key == "title" else "title: t\n")
    )
    *warnings, query = load_sigma(text, "header.yml")
    assert isinstance(query, ir.Query), query
    assert warnings and query.warnings == tuple(warnings)
    for warning in warnings:
        assert (warning.severity, warning.code, warning.span.line) == (
            "warning",
            f"sigma.meta.{key}",
            5,
        ), warning
        assert key in warning.message


@pytest.mark.parametrize(("text", "code", "line"), BAD_RULES)
def test_bad_rule_is_one_located_diagnostic(text, code, line):
    [diagnostic] = load_sigma(text, "bad.yml")
    assert isinstance(diagnostic, ir.Diagnostic), diagnostic
    assert diagnostic.span.file == "bad.yml"
    assert diagnostic.span.line is not None and diagnostic.span.line >= 1
    if code is not None:
        assert diagnostic.code == code, diagnostic
    if line is not None:
        assert diagnostic.span.line == line, diagnostic
    assert "Traceback" not in diagnostic.message


# rule text | warning code | line it names: metadata never stops a rule
BAD_METADATA = [
    (rule("title: t", "title: [1, 2]"), "sigma.meta.title", 1),
    (rule(extra="id: [1]\n"), "sigma.meta.id", 6),
    (rule(extra="date: 2020-13-45\n"), "sigma.meta.date", 6),
    (rule(extra="tags: {a: b}\n"), "sigma.meta.tags", 6),
    (rule(extra="status: weird\n"), "sigma.meta.status", 6),
]


@pytest.mark.parametrize(("text", "code", "line"), BAD_METADATA)
def test_bad_metadata_is_one_located_warning(text, code, line):
    warning, query = load_sigma(text, "bad.yml")
    assert isinstance(query, ir.Query), query
    assert (warning.severity, warning.code, warning.span.line) == ("warning", code, line)


def test_alias_bomb_names_the_bombed_node():
    [diagnostic] = load_sigma(alias_bomb(9, extra="tags: {top}\n"), "bomb.yml")
    assert "alias" in diagnostic.message and f"{MAX_EXPANDED_NODES:,}" in diagnostic.message
    assert diagnostic.span.line is not None and diagnostic.span.line <= 8


def test_a_good_rule_after_a_bad_one_still_loads():
    text = rule("condition: sel", "condition: 5") + "---\n" + rule("'x'", "'y'")
    bad, good = load_sigma(text, "two.yml")
    assert isinstance(bad, ir.Diagnostic) and bad.code == "sigma.condition"
    assert isinstance(good, ir.Query)


def test_aliases_that_stay_small_are_fine():
    text = "x: &v [a, b]\n" + rule("{Image: 'x'}", "{Image: *v}")
    unknown, query = load_sigma(text, "ok.yml")
    assert unknown.code == "sigma.meta.unknown-key"
    [stage] = query.pipeline.stages
    assert stage.predicate.values == ("a", "b")


def test_ten_megabyte_value_loads():
    value = "x" * 10_000_000
    [query] = load_sigma(rule("'x'", f"'{value}'"), "big.yml")
    assert query.pipeline.stages[0].predicate.values == (value,)


def test_hundred_thousand_values_load():
    items = "".join(f"      - v{i}\n" for i in range(100_000))
    [query] = load_sigma(rule("{Image: 'x'}", "\n    Image:\n" + items), "list.yml")
    assert len(query.pipeline.stages[0].predicate.values) == 100_000


def test_condition_ten_thousand_brackets_deep_loads():
    deep = "condition: " + "(" * 10_000 + "sel" + ")" * 10_000
    [query] = load_sigma(rule("condition: sel", deep), "deep.yml")
    assert query.pipeline.stages[0].predicate.values == ("x",)


def test_catastrophic_regex_runs_in_linear_time_on_duckdb():
    """`(a+)+$` over 100,000 a's and a '!' is exponential for backtracking engines, not RE2."""
    [query] = load_sigma(rule("Image: 'x'", "Image|re: '(a+)+$'"), "redos.yml")
    row = {"_row": 1, "Image": "a" * 100_000 + "!", "_raw": ""}
    events = EventTable(("_row", "Image", "_raw"), (row,))
    assert execute(query, events) == []


HIDDEN = ("\x01", "\x7f", "\u2028", "\u202e")
# character in the value `a?b` of `Image|contains` | events selected (1: the value itself,
# 2: the value inside other text, 3: "ab", 4: "a*b")
QUOTES_AND_ESCAPES = [
    *[(c, [1, 2]) for c in ("'", '"', "`", "\\", "%", "_", "$", "|", ";", "{}", "[]", "()")],
    *[(c, [1, 2]) for c in ("\n", "\t", "\r", "#", "--", *HIDDEN)],
    ("*", [1, 2, 3, 4]),  # a wildcard
    ("?", [1, 2, 4]),  # a wildcard for one character
    ("\\*", [4]),  # an escaped `*`: the value is a*b
    ("\\\\", []),  # an escaped backslash: the value is a\b
]


@pytest.mark.parametrize(("char", "selected"), QUOTES_AND_ESCAPES)
def test_quotes_and_escapes_in_a_value_reach_every_target_intact(char, selected):
    """A Sigma value holding `char` emits for every target or is reported as unsupported; KQL
    holds no hidden character raw and, parsed back by rulec's front end, selects the same."""
    from rulec.backends.registry import emit
    from rulec.compiler.frontends.kql import load_kql
    from rulec.compiler.run.events import ROW, flatten

    value = f"a{char}b"
    text = rule("{Image: 'x'}", "{Image|contains: " + json.dumps(value) + "}")
    [query] = load_sigma(text, "quotes.yml")
    events = [{"Image": value}, {"Image": f"x{value}y"}, {"Image": "ab"}, {"Image": "a*b"}, {}]
    rows = tuple({**flatten(e), ROW: i} for i, e in enumerate(events, 1))
    table = EventTable((ROW, "Image", "_raw"), rows)
    assert sorted(row[ROW] for row in execute(query, table)) == selected
    for target in ("duckdb", "postgres", "eql", "spl"):
        try:
            emit(target, query)
        except ir.RuleError as error:
            assert error.diagnostic.code == "unsupported", error.diagnostic
    kql = emit("kql", query).text
    assert not any(c in kql for c in HIDDEN), kql
    [parsed] = load_kql(kql, "<kql>")
    assert sorted(row[ROW] for row in execute(parsed, table)) == selected, kql
