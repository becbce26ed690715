"""KQL -> IR: what the lowering knows about a pipeline's columns. A property of a column the
query computed is an element of that dynamic value, not a flattened event field; an externaldata
table has exactly the columns the query declares. Each row: KQL, and the stages it must give."""

from __future__ import annotations

import pytest
from kql_lowering import lower

from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql

F, L, C = ir.FieldRef, ir.Literal, ir.Call


def extend(name: str, expr: ir.Expr) -> ir.Extend:
    return ir.Extend((ir.Assign(name, expr),))


GEO = C("geo_info_from_ip_address", (F("IP"),))
CASES = [
    # an event field with a dotted name (nested events are flattened)
    ("T | extend c = AdditionalFields.Country", (extend("c", F("AdditionalFields.Country")),)),
    # a column the query computed: an element of its value
    (
        "T | extend g = geo_info_from_ip_address(IP) | extend c = g.country",
        (extend("g", GEO), extend("c", C("index", (F("g"), L("country"))))),
    ),
    (
        "T | extend g = geo_info_from_ip_address(IP) | where g.country == 'X'",
        (
            extend("g", GEO),
            ir.Filter(ir.Match(C("index", (F("g"), L("country"))), ir.MatchKind.EQ, ("X",), True)),
        ),
    ),
    # a column computed by summarize, then read by property
    (
        "T | summarize s = make_set(A) by B | extend first = s[0]",
        (
            ir.Aggregate(
                (ir.Assign("B", F("B")),), (ir.Measure("s", ir.AggCall("make_set", F("A"))),)
            ),
            extend("first", C("index", (F("s"), L(0)))),
        ),
    ),
    # re-projecting an event field keeps it an event field
    (
        "T | project A | extend b = A.x",
        (ir.Project((ir.Assign("A", F("A")),)), extend("b", F("A.x"))),
    ),
]


@pytest.mark.parametrize(("text", "stages"), CASES, ids=[t for t, _ in CASES])
def test_member_access(text: str, stages: tuple[ir.Stage, ...]) -> None:
    assert lower(text).pipeline.stages == stages


def test_a_let_bound_pipeline_passes_its_computed_columns_on() -> None:
    query = lower("let X = T | extend g = parse_json(A); X | extend c = g.k")
    assert query.pipeline.stages == (extend("c", C("index", (F("g"), L("k")))),)


def test_externaldata_has_the_columns_it_declares() -> None:
    query = lower(
        "let Feed = externaldata(IP: string, ioc: string)[@'https://x/feed.csv'];\n"
        "Feed | where ioc == 'c2'"
    )
    declared = ir.Project((ir.Assign("IP", F("IP")), ir.Assign("ioc", F("ioc"))))
    assert query.pipeline.source == ir.Table("Feed")
    assert query.pipeline.stages[0] == declared


@pytest.mark.parametrize(
    "let",
    [
        "let Feed = (externaldata(IP: string, ioc: string)[h@'https://x/f.csv']"
        " with (format='csv') | where ioc == 'c2');",
        "let Feed = externaldata(IP: string, ioc: string)[@'https://x/f.csv'] | where ioc == 'c2';",
        "let Feed = () { externaldata(IP: string, ioc: string)[@'https://x/f.csv']"
        " | where ioc == 'c2' };",
        "let Feed = materialize((externaldata(IP: string, ioc: string)[@'https://x/f.txt']"
        " with (format='txt')) | where ioc == 'c2');",
    ],
)
def test_externaldata_followed_by_operators_is_its_table_then_those_stages(let: str) -> None:
    query = lower(let + "\nFeed | project IP")
    declared = ir.Project((ir.Assign("IP", F("IP")), ir.Assign("ioc", F("ioc"))))
    where = ir.Filter(ir.Match(F("ioc"), ir.MatchKind.EQ, ("c2",), True))
    assert query.pipeline.source == ir.Table("Feed")
    assert query.pipeline.stages == (declared, where, ir.Project((ir.Assign("IP", F("IP")),)))


def test_externaldata_in_a_scalar_let_is_the_table_that_let_names() -> None:
    query = lower(
        "let S = toscalar(externaldata(IP: string)[@'https://x/f.txt'] | summarize make_set(IP));"
        "\nT | where A in (S)"
    )
    (where,) = query.pipeline.stages
    assert isinstance(where, ir.Filter) and isinstance(where.predicate, ir.InPipeline)
    assert where.predicate.pipeline.source == ir.Table("S")
    assert where.predicate.pipeline.stages[0] == ir.Project((ir.Assign("IP", F("IP")),))


def test_externaldata_outside_a_let_is_a_located_diagnostic() -> None:
    (error,) = load_kql("// feed\nexternaldata(a: string)[@'https://x/f.txt']", "x.kql")
    assert isinstance(error, ir.Diagnostic) and error.span == ir.Span("x.kql", 2, 1)
    assert "externaldata outside a let" in error.message


def test_externaldata_in_a_let_inside_a_function_is_the_table_that_let_names() -> None:
    query = lower(
        "let F = (n: long) { let Inner = externaldata(IP: string)[@'https://x/f.csv'];"
        " Inner | take n };\nF(5)"
    )
    assert query.pipeline.source == ir.Table("Inner")
    assert query.pipeline.stages == (ir.Project((ir.Assign("IP", F("IP")),)), ir.Limit(5))
