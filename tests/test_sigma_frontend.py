"""The Sigma front end: Sigma YAML snippets and the IR each one lowers to."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from rulec.compiler import ir
from rulec.compiler.frontends.sigma.load import load_sigma, resolve_pipeline

K = ir.MatchKind
ANY, ONE = ir.Wildcard.ANY, ir.Wildcard.ONE
SHARED = Path(__file__).resolve().parents[2] / "shared"


def f(name: str) -> ir.FieldRef:
    return ir.FieldRef(name)


def m(field: str, kind: ir.MatchKind, *values: object, cs: bool = False, **kw: object) -> ir.Match:
    target = ir.RawText() if field == "_raw" else f(field)
    return ir.Match(target, kind, values, cs, **kw)


def rule(detection: str, header: str = "") -> str:
    body = textwrap.indent(textwrap.dedent(detection).strip(), "    ")
    return f"title: t\n{header}logsource:\n    product: windows\ndetection:\n{body}\n"


def lower(text: str, pipeline=None) -> ir.Query:
    (result,) = load_sigma(text, "rule.yml", pipeline)
    assert isinstance(result, ir.Query), result
    return result


def predicate(detection: str) -> ir.Expr:
    (stage,) = lower(rule(detection)).pipeline.stages
    assert isinstance(stage, ir.Filter)
    return stage.predicate


# (detection section, expected predicate)
VALUES = [
    ("sel: {Image: a.exe}", m("Image", K.EQ, "a.exe")),
    ("sel: {Image: [a, b]}", m("Image", K.EQ, "a", "b")),
    ("sel: {Image|contains: x}", m("Image", K.CONTAINS, "x")),
    ("sel: {Image|startswith: x}", m("Image", K.STARTSWITH, "x")),
    ("sel: {Image|endswith: ['\\a', '\\b']}", m("Image", K.ENDSWITH, "\\a", "\\b")),
    ("sel: {Image: '*x*'}", m("Image", K.CONTAINS, "x")),
    ("sel: {Image: 'x*'}", m("Image", K.STARTSWITH, "x")),
    ("sel: {Image: '*x'}", m("Image", K.ENDSWITH, "x")),
    ("sel: {Image: 'a*b?c'}", m("Image", K.WILDCARD, ir.Pattern(("a", ANY, "b", ONE, "c")))),
    ("sel: {Image|contains: 'a*b'}", m("Image", K.WILDCARD, ir.Pattern((ANY, "a", ANY, "b", ANY)))),
    ("sel: {Image: 'a\\*b\\?'}", m("Image", K.EQ, "a*b?")),
    ("sel: {Image: 'C:\\\\*'}", m("Image", K.STARTSWITH, "C:\\")),
    ("sel: {Image: ''}", m("Image", K.EQ, "")),
    (
        "sel: {Image: [a, '*b*', 'c?']}",
        ir.Or(
            (
                m("Image", K.EQ, "a"),
                m("Image", K.CONTAINS, "b"),
                m("Image", K.WILDCARD, ir.Pattern(("c", ONE))),
            )
        ),
    ),
    (
        "sel: {Image|contains|all: [a, b]}",
        ir.And((m("Image", K.CONTAINS, "a"), m("Image", K.CONTAINS, "b"))),
    ),
    ("sel: {Image|cased: Ab}", m("Image", K.EQ, "Ab", cs=True)),
    ("sel: {Image|contains|cased: Ab}", m("Image", K.CONTAINS, "Ab", cs=True)),
    ("sel: {Image|re: '^a.*$'}", m("Image", K.REGEX, "^a.*$", cs=True)),
    ("sel: {Image|re|i: 'a'}", m("Image", K.REGEX, "a")),
    ("sel: {Image|re|m|s: 'a'}", m("Image", K.REGEX, "a", cs=True, flags=frozenset("ms"))),
    ("sel: {EventID: 4688}", m("EventID", K.EQ, 4688)),
    ("sel: {EventID: [1, 2.5]}", m("EventID", K.EQ, 1, 2.5)),
    ("sel: {Size|gt: 10}", m("Size", K.GT, 10)),
    ("sel: {Size|gte: 10}", m("Size", K.GE, 10)),
    ("sel: {Size|lt: 10}", m("Size", K.LT, 10)),
    ("sel: {Size|lte: 1.5}", m("Size", K.LE, 1.5)),
    ("sel: {User: null}", ir.Not(m("User", K.EXISTS))),
    ("sel: {User|exists: true}", m("User", K.EXISTS)),
    ("sel: {User|exists: false}", ir.Not(m("User", K.EXISTS))),
    (
        "sel: {Ip|cidr: ['10.0.0.0/8', 'fe80::/10']}",
        m("Ip", K.CIDR, "10.0.0.0/8", "fe80::/10"),
    ),
    ("sel: {A|fieldref: B}", m("A", K.EQ, f("B"))),
    ("sel: {A|fieldref|startswith: B}", m("A", K.STARTSWITH, f("B"))),
    ("sel: {Flag: true}", m("Flag", K.EQ, True)),
    ("sel: {A: [x, 1]}", ir.Or((m("A", K.EQ, "x"), m("A", K.EQ, 1)))),
    (
        "sel: {A|windash: -c}",
        m("A", K.EQ, "-c", "/c", "\u2013c", "\u2014c", "\u2015c"),
    ),
    ("sel: {A|base64: ab}", m("A", K.EQ, "YWI=")),
    ("sel: {A|base64offset|contains: ab}", m("A", K.CONTAINS, "YW", "Fi", "hY")),
    ("sel: {A|wide|base64offset|contains: a}", m("A", K.CONTAINS, "YQ", "EA", "hA")),
    ("sel: [foo, bar]", m("_raw", K.CONTAINS, "foo", "bar")),
    ("sel: ['f*o']", m("_raw", K.WILDCARD, ir.Pattern((ANY, "f", ANY, "o", ANY)))),
    ("sel: ['*foo']", m("_raw", K.CONTAINS, "foo")),
    ("sel: {'|re': 'a.b'}", m("_raw", K.REGEX, "a.b", cs=True)),
]


@pytest.mark.parametrize(("detection", "expected"), VALUES, ids=[v[0] for v in VALUES])
def test_values(detection: str, expected: ir.Expr) -> None:
    assert predicate(f"{detection}\ncondition: sel") == expected


# (detection section with condition, expected predicate)
CONDITIONS = [
    (
        "a: {X: 1}\nb: {Y: 2}\ncondition: a and not b",
        ir.And((m("X", K.EQ, 1), ir.Not(m("Y", K.EQ, 2)))),
    ),
    (
        "a: {X: 1}\nb: {Y: 2}\nc: {Z: 3}\ncondition: a or (b or c)",
        ir.Or((m("X", K.EQ, 1), m("Y", K.EQ, 2), m("Z", K.EQ, 3))),
    ),
    (
        "a1: {X: 1}\na2: {X: 2}\ncondition: 1 of a*",
        ir.Or((m("X", K.EQ, 1), m("X", K.EQ, 2))),
    ),
    (
        "a: {X: 1, Y: 2}\nb: {Z: 3}\ncondition: all of them",
        ir.And((m("X", K.EQ, 1), m("Y", K.EQ, 2), m("Z", K.EQ, 3))),
    ),
    (
        "a:\n  - {X: 1}\n  - {Y: 2}\ncondition: a",
        ir.Or((m("X", K.EQ, 1), m("Y", K.EQ, 2))),
    ),
    ("a: {X: 1}\nb: {Y: 2}\ncondition: [a, b]", ir.Or((m("X", K.EQ, 1), m("Y", K.EQ, 2)))),
    ("a: {X|neq: 1}\ncondition: a", ir.Not(m("X", K.EQ, 1))),
]


@pytest.mark.parametrize(("detection", "expected"), CONDITIONS, ids=[c[0] for c in CONDITIONS])
def test_conditions(detection: str, expected: ir.Expr) -> None:
    assert predicate(detection) == expected


def _aggregate(group: tuple[str, ...], func: str, arg: str | None, op, n, window) -> ir.Aggregate:
    return ir.Aggregate(
        group_by=tuple(ir.Assign(g, f(g)) for g in group),
        measures=(ir.Measure("value", ir.AggCall(func, f(arg) if arg else None)),),
        window=ir.Window(window, ir.WindowKind.SLIDING) if window else None,
        having=ir.Compare(op, f("value"), ir.Literal(n)),
    )


# (condition aggregation part, timeframe line, expected Aggregate stage)
AGGREGATIONS = [
    ("count() > 5", "", _aggregate((), "count", None, ir.CompareOp.GT, 5, None)),
    (
        "count(User) by Host >= 3",
        "timeframe: 1h",
        _aggregate(("Host",), "dcount", "User", ir.CompareOp.GE, 3, timedelta(hours=1)),
    ),
    (
        "count() by a, b < 2",
        "timeframe: 30s",
        _aggregate(("a", "b"), "count", None, ir.CompareOp.LT, 2, timedelta(seconds=30)),
    ),
    (
        "sum(bytes) by src == 10",
        "timeframe: 2d",
        _aggregate(("src",), "sum", "bytes", ir.CompareOp.EQ, 10, timedelta(days=2)),
    ),
    ("max(n) <= 7", "", _aggregate((), "max", "n", ir.CompareOp.LE, 7, None)),
    ("avg(n) > 1.5", "", _aggregate((), "avg", "n", ir.CompareOp.GT, 1.5, None)),
    ("min(n) by g > 0", "", _aggregate(("g",), "min", "n", ir.CompareOp.GT, 0, None)),
]


@pytest.mark.parametrize(("agg", "timeframe", "expected"), AGGREGATIONS)
def test_legacy_aggregations(agg: str, timeframe: str, expected: ir.Aggregate) -> None:
    text = rule(f"sel: {{X: 1}}\ncondition: sel | {agg}\n{timeframe}")
    assert lower(text).pipeline.stages == (ir.Filter(m("X", K.EQ, 1)), expected)


def test_seed_000_legacy_count() -> None:
    seeds = sorted((SHARED / "seeds").glob("000_*.txt"))
    if not seeds:
        pytest.skip(f"seed 000 not found under {SHARED}")
    page = seeds[0].read_text(encoding="utf-8")
    text = page[page.index("title: WinRM") : page.index("Stages and Predicates")]
    query = lower(text)
    assert query.pipeline.source == ir.LogSource("windows", "process_creation", None)
    assert query.pipeline.stages == (
        ir.Filter(
            ir.And(
                (
                    m("NewProcessName", K.ENDSWITH, "\\wsmprovhost.exe"),
                    ir.Not(m("TargetUserName", K.ENDSWITH, "$")),
                )
            )
        ),
        _aggregate((), "dcount", "Computer", ir.CompareOp.GT, 30, timedelta(minutes=15)),
    )
    assert query.meta.author == "mdecrevoisier"
    assert query.meta.level == "medium"
    assert query.meta.tags == ("attack.lateral_movement", "attack.t1021.006")


def test_metadata_and_source() -> None:
    text = textwrap.dedent(
        """\
        title: Demo
        id: 5f2b4a9e-0000-4000-8000-000000000001
        status: test
        description: d
        author: me
        level: high
        tags: [attack.t1059]
        references: [https://example.org]
        falsepositives: [admins]
        logsource: {product: windows, category: process_creation}
        detection:
            sel: {Image: a}
            condition: sel
        """
    )
    query = lower(text)
    assert query.pipeline.source == ir.LogSource("windows", "process_creation", None)
    assert query.meta == ir.RuleMeta(
        language="sigma",
        path="rule.yml",
        id="5f2b4a9e-0000-4000-8000-000000000001",
        title="Demo",
        description="d",
        status="test",
        level="high",
        author="me",
        tags=("attack.t1059",),
        references=("https://example.org",),
        falsepositives=("admins",),
        logsource=ir.LogSource("windows", "process_creation", None),
        text=text,
    )


def test_spans_of_matches_and_condition() -> None:
    text = rule("sel:\n  Image|endswith:\n    - a\n    - b\n  User: x\ncondition: sel")
    query = lower(text)
    (stage,) = query.pipeline.stages
    assert stage.span == ir.Span("rule.yml", 10, 16)
    image, user = stage.predicate.operands
    assert image.span == ir.Span("rule.yml", 7, 11)
    assert user.span == ir.Span("rule.yml", 9, 13)
    assert stage.predicate.span == ir.Span("rule.yml", 10, 16)


def test_keyword_span_is_the_value_line() -> None:
    query = lower(rule("kw:\n  - foo\ncondition: kw"))
    assert query.pipeline.stages[0].predicate.span == ir.Span("rule.yml", 6, 9)


# (file text, expected diagnostic code, expected line)
ERRORS = [
    ("title: t\ndetection: [\n", "sigma.yaml", 3),
    (rule("sel: {Image|nosuch: a}\ncondition: sel"), "sigma.unknown-modifier", 5),
    (rule("sel: {Image: a}\ncondition: sel and other"), "sigma.condition", 6),
    (rule("sel: {Image: a}\ncondition: sel | near other\ntimeframe: 1m"), "sigma.condition", 6),
    (rule("sel: {Image: a}\ncondition: sel | count() >"), "sigma.bad-aggregation", 6),
    (rule("sel: {Image: a}\ncondition: sel | count() > 1\ntimeframe: 1M"), "sigma.unsupported", 6),
    (rule("sel: {Image|expand: 'a%list%b'}\ncondition: sel"), "sigma.unsupported", 5),
    (rule("sel: {Image|re: '(a'}\ncondition: sel"), "sigma.regular-expression", 5),
    ("- a\n- b\n", "sigma.invalid", 1),
]


@pytest.mark.parametrize(("text", "code", "line"), ERRORS, ids=[e[1] for e in ERRORS])
def test_errors_are_located_diagnostics(text: str, code: str, line: int) -> None:
    results = load_sigma(text, "rule.yml")
    assert len(results) == 1
    (diagnostic,) = results
    assert isinstance(diagnostic, ir.Diagnostic), diagnostic
    assert (diagnostic.code, diagnostic.span.file, diagnostic.span.line) == (code, "rule.yml", line)


def test_collection_keeps_going_after_a_bad_rule() -> None:
    good = rule("sel: {A: 1}\ncondition: sel")
    bad = rule("sel: {A|nosuch: 1}\ncondition: sel")
    results = load_sigma(f"{good}---\n{bad}---\n{good}", "c.yml")
    assert [type(r) for r in results] == [ir.Query, ir.Diagnostic, ir.Query]
    assert results[1].span.line == 12


def test_global_action_merges_into_each_rule() -> None:
    text = textwrap.dedent(
        """\
        action: global
        title: t
        detection:
            sel: {A: 1}
            condition: sel and other
        ---
        logsource: {product: windows}
        detection:
            other: {B: 2}
        ---
        logsource: {product: linux}
        detection:
            other: {C: 3}
        """
    )
    first, second = load_sigma(text, "g.yml")
    assert first.pipeline.stages[0].predicate == ir.And((m("A", K.EQ, 1), m("B", K.EQ, 2)))
    assert second.pipeline.source == ir.LogSource("linux")
    assert second.pipeline.stages[0].predicate == ir.And((m("A", K.EQ, 1), m("C", K.EQ, 3)))


def test_filter_document_applies_to_named_rule() -> None:
    text = textwrap.dedent(
        """\
        title: base
        name: base
        logsource: {product: windows}
        detection:
            sel: {A: 1}
            condition: sel
        ---
        title: f
        logsource: {product: windows}
        filter:
            rules: [base]
            selection: {B: 2}
            condition: not selection
        """
    )
    (query,) = load_sigma(text, "f.yml")
    assert query.pipeline.stages[0].predicate == ir.And((m("A", K.EQ, 1), ir.Not(m("B", K.EQ, 2))))


def test_correlation_over_rules_of_the_file() -> None:
    text = textwrap.dedent(
        """\
        title: fail
        name: failed_logon
        logsource: {product: windows, service: security}
        detection:
            sel: {EventID: 4625}
            condition: sel
        ---
        title: many failures
        correlation:
            type: event_count
            rules: [failed_logon]
            group-by: [TargetUserName]
            timespan: 5m
            condition: {gte: 10}
        """
    )
    (corr,) = load_sigma(text, "c.yml")  # the rule it uses is not generated on its own
    (base,) = load_sigma(text.split("---")[0], "c.yml")
    assert isinstance(corr, ir.Query), corr
    assert corr.lets == (ir.Let("failed_logon", base.pipeline),)
    assert corr.pipeline.stages == (
        ir.Correlation(
            ir.CorrelationKind.EVENT_COUNT,
            ("failed_logon",),
            ("TargetUserName",),
            timedelta(minutes=5),
            ir.Compare(ir.CompareOp.GE, f("value"), ir.Literal(10)),
        ),
    )
    assert corr.meta.title == "many failures"


def test_correlation_with_aliases_and_value_count() -> None:
    text = textwrap.dedent(
        """\
        title: a
        name: ra
        logsource: {product: windows}
        detection: {sel: {EventID: 1}, condition: sel}
        ---
        title: b
        name: rb
        logsource: {product: windows}
        detection: {sel: {EventID: 2}, condition: sel}
        ---
        title: c
        correlation:
            type: value_count
            rules: [ra, rb]
            aliases: {host: {ra: Computer, rb: HostName}}
            group-by: [host]
            timespan: 1h
            condition: {gt: 3, field: User}
        """
    )
    *_, corr = load_sigma(text, "c.yml")
    lets = {let.name: let.value.stages[-1] for let in corr.lets}
    assert lets == {
        "ra": ir.Extend((ir.Assign("host", f("Computer")),)),
        "rb": ir.Extend((ir.Assign("host", f("HostName")),)),
    }
    (stage,) = corr.pipeline.stages
    assert (stage.kind, stage.group_by, stage.value_field) == (
        ir.CorrelationKind.VALUE_COUNT,
        ("host",),
        "User",
    )


def test_correlation_to_a_missing_rule_is_a_diagnostic() -> None:
    text = "title: c\ncorrelation:\n  type: event_count\n  rules: [nowhere]\n"
    text += "  timespan: 5m\n  condition: {gte: 2}\n"
    (result,) = load_sigma(text, "c.yml")
    assert isinstance(result, ir.Diagnostic)
    assert result.code == "sigma.unknown-rule" and result.span.line == 3


def test_pipeline_yaml_renames_fields(tmp_path: Path) -> None:
    pipeline_file = tmp_path / "p.yml"
    pipeline_file.write_text(
        "name: demo\nvars: {admins: [root, admin]}\ntransformations:\n"
        "  - type: field_name_mapping\n    mapping: {Image: process.executable}\n"
        "  - type: value_placeholders\n"
    )
    pipeline = resolve_pipeline([str(pipeline_file)])
    text = rule("sel: {Image: a, User|expand: '%admins%'}\ncondition: sel")
    assert lower(text, pipeline).pipeline.stages[0].predicate == ir.And(
        (m("process.executable", K.EQ, "a"), m("User", K.EQ, "root", "admin"))
    )


def test_unknown_pipeline_is_a_rule_error() -> None:
    with pytest.raises(ir.RuleError) as caught:
        resolve_pipeline(["no-such-pipeline"])
    assert caught.value.diagnostic.code == "sigma.unknown-pipeline"
    assert "no-such-pipeline" in caught.value.diagnostic.message


def test_no_pipeline_names_is_none() -> None:
    assert resolve_pipeline([]) is None


def test_legacy_near_is_a_temporal_correlation() -> None:
    text = rule("a: {X: 1}\nb: {Y: 2}\nc: {Z: 3}\ncondition: a | near b and c\ntimeframe: 30s")
    query = lower(text)
    source = ir.LogSource("windows")
    assert query.lets == tuple(
        ir.Let(name, ir.Pipeline(source, (ir.Filter(expr),)))
        for name, expr in (
            ("_search", m("X", K.EQ, 1)),
            ("b", m("Y", K.EQ, 2)),
            ("c", m("Z", K.EQ, 3)),
        )
    )
    assert query.pipeline == ir.Pipeline(
        ir.PipelineRef("_search"),
        (
            ir.Correlation(
                ir.CorrelationKind.TEMPORAL, ("_search", "b", "c"), (), timedelta(seconds=30)
            ),
        ),
    )


# (near condition, timeframe line): forms that are reported, not guessed
NEAR_UNSUPPORTED = [
    ("a | near b", ""),
    ("a | near b and not c", "timeframe: 1m"),
    ("a | near (b or c)", "timeframe: 1m"),
]


@pytest.mark.parametrize(("condition", "timeframe"), NEAR_UNSUPPORTED)
def test_legacy_near_forms_reported(condition: str, timeframe: str) -> None:
    text = rule(f"a: {{X: 1}}\nb: {{Y: 2}}\nc: {{Z: 3}}\ncondition: {condition}\n{timeframe}")
    (result,) = load_sigma(text, "rule.yml")
    assert isinstance(result, ir.Diagnostic)
    assert (result.code, result.span.line) == ("sigma.unsupported", 8)
    assert "near" in result.message


def test_list_valued_logsource_reads_any_of_its_sources() -> None:
    text = "title: t\nlogsource: {product: [windows, linux], category: process_creation}\n"
    text += "detection: {sel: {A: 1}, condition: sel}\n"
    query = lower(text)
    assert query.pipeline.source == ir.AnySource(
        tuple(
            ir.Pipeline(ir.LogSource(product, "process_creation"), (ir.Filter(m("A", K.EQ, 1)),))
            for product in ("windows", "linux")
        )
    )
    assert query.pipeline.stages == ()


def test_empty_documents_are_not_rules() -> None:
    rule = "title: T\nlogsource: {product: windows}\ndetection: {s: {a: 1}, condition: s}\n"
    (query,) = load_sigma(f"---\n---\n{rule}---\n", "e.yml")
    assert isinstance(query, ir.Query)


def test_a_file_of_empty_documents_is_an_error() -> None:
    (error,) = load_sigma("---\n---\n", "e.yml")
    assert (error.code, error.span.line) == ("sigma.empty", 1)
