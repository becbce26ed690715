"""KQL -> IR, round two: each newly lowered construct and the IR it must give (spans excluded)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from kql_lowering import lower

from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql

F = ir.FieldRef
L = ir.Literal
M = ir.Match
K = ir.MatchKind
T = ir.Pipeline(ir.Table("T"))
U = ir.Pipeline(ir.Table("U"))


def by(*names: str) -> tuple[ir.Assign, ...]:
    return tuple(ir.Assign(n, F(n)) for n in names)


def agg(name: str, func: str, arg: ir.Expr | None = None, *args: ir.Expr) -> ir.Measure:
    return ir.Measure(name, ir.AggCall(func, arg, args))


SUMMARIZE = [
    (
        "T | summarize arg_max(Timestamp, *) by A",
        (
            ir.Aggregate(
                by("A"), (ir.Measure("Timestamp", ir.ArgExtreme("arg_max", F("Timestamp"))),)
            ),
        ),
    ),
    (
        "T | summarize arg_min(Timestamp, B, C) by A",
        (
            ir.Aggregate(
                by("A"),
                (ir.Measure("Timestamp", ir.ArgExtreme("arg_min", F("Timestamp"), ("B", "C"))),),
            ),
        ),
    ),
    (
        "T | summarize First = arg_min(Timestamp, B)",
        (
            ir.Aggregate(
                (), (ir.Measure("First", ir.ArgExtreme("arg_min", F("Timestamp"), ("B",))),)
            ),
        ),
    ),
    (
        'T | summarize countif(A == "x")',
        (ir.Aggregate((), (agg("countif_", "countif", M(F("A"), K.EQ, ("x",), True)),)),),
    ),
    (
        "T | summarize dcountif(U, N > 1) by A",
        (
            ir.Aggregate(
                by("A"),
                (agg("dcountif_U", "dcountif", F("U"), ir.Compare(ir.CompareOp.GT, F("N"), L(1))),),
            ),
        ),
    ),
    (
        "T | summarize sumif(N, B) by A",
        (ir.Aggregate(by("A"), (agg("sumif_N", "sumif", F("N"), F("B")),)),),
    ),
    (
        "T | summarize make_set(U, 5)",
        (ir.Aggregate((), (agg("set_U", "make_set", F("U"), L(5)),)),),
    ),
    (
        "T | summarize makelist(U, 10)",
        (ir.Aggregate((), (agg("list_U", "make_list", F("U"), L(10)),)),),
    ),
    (
        "T | summarize percentile(N, 95)",
        (ir.Aggregate((), (agg("percentile_N_95", "percentile", F("N"), L(95)),)),),
    ),
    (
        "T | summarize percentiles(N, 50, 99)",
        (
            ir.Aggregate(
                (),
                (
                    agg("percentile_N_50", "percentile", F("N"), L(50)),
                    agg("percentile_N_99", "percentile", F("N"), L(99)),
                ),
            ),
        ),
    ),
    (
        "T | summarize X = round(avg(N), 2), count() by A",
        (
            ir.Aggregate(by("A"), (agg("_rulec_agg1", "avg", F("N")), agg("count_", "count"))),
            ir.Extend((ir.Assign("X", ir.Call("round", (F("_rulec_agg1"), L(2)))),)),
            ir.Project(by("A", "X", "count_")),
        ),
    ),
    (
        "T | summarize Span = max(Ts) - min(Ts), arg_max(Ts, *)",
        (
            ir.Aggregate(
                (),
                (
                    agg("_rulec_agg1", "max", F("Ts")),
                    agg("_rulec_agg2", "min", F("Ts")),
                    ir.Measure("Ts", ir.ArgExtreme("arg_max", F("Ts"))),
                ),
            ),
            ir.Extend(
                (ir.Assign("Span", ir.Arith(ir.ArithOp.SUB, F("_rulec_agg1"), F("_rulec_agg2"))),)
            ),
            ir.ProjectAway(("_rulec_agg1", "_rulec_agg2")),
        ),
    ),
]

RESHAPE = [
    ("T | mv-expand A", (ir.MvExpand(by("A")),)),
    ("T | mv-expand A, B limit 10", (ir.MvExpand(by("A", "B"), 10),)),
    ("T | mvexpand A", (ir.MvExpand(by("A"), 128),)),
    (
        "T | mv-expand todynamic(A)",
        (ir.MvExpand((ir.Assign("A", ir.Call("parse_json", (F("A"),))),)),),
    ),
    (
        "T | mv-expand X = parse_json(A).items to typeof(string)",
        (
            ir.MvExpand(
                (ir.Assign("X", ir.Call("index", (ir.Call("parse_json", (F("A"),)), L("items")))),)
            ),
        ),
    ),
    (
        'T | parse Msg with * "from " Src:string " to " Dst',
        (ir.Parse(F("Msg"), (("*", None), "from ", ("Src", "string"), " to ", ("Dst", None))),),
    ),
    (
        'T | parse-where kind=regex Msg with "id=" Id:long',
        (ir.Parse(F("Msg"), ("id=", ("Id", "long")), "regex", keep_unmatched=False),),
    ),
    (
        "T | union withsource=Source U",
        (ir.Union((U,), source_column="Source"),),
    ),
    (
        'T | search "evil"',
        (ir.Filter(M(ir.RawText(), K.HAS, ("evil",), False)),),
    ),
    (
        'T | search kind=case_sensitive "*vil*" or "bad"',
        (
            ir.Filter(
                ir.Or(
                    (
                        M(ir.RawText(), K.CONTAINS, ("vil",), True),
                        M(ir.RawText(), K.HAS, ("bad",), True),
                    )
                )
            ),
        ),
    ),
    # serialize keeps the row order window functions read, and extends
    ("T | serialize", (ir.Serialize(()),)),
    (
        "T | serialize r = row_number()",
        (ir.Serialize((ir.Assign("r", ir.Call("row_number", ())),)),),
    ),
    # a plug-in's lookup table, named arguments and declared output columns are kept
    (
        "T | evaluate ipv4_lookup(U, IP, network, return_unmatched = true)",
        (
            ir.Evaluate(
                "ipv4_lookup",
                (U, F("IP"), F("network")),
                (ir.Assign("return_unmatched", L(True)),),
            ),
        ),
    ),
    (
        "T | evaluate bag_unpack(AF, columnsConflict='keep_source') : (A: string, N: long)",
        (
            ir.Evaluate(
                "bag_unpack",
                (F("AF"),),
                (ir.Assign("columnsConflict", L("keep_source")),),
                (("A", "string"), ("N", "long")),
            ),
        ),
    ),
    # `where * has "x"` is `search "x"` (the search operator's documentation): any column
    (
        'T | where * has "evil" or * contains "vil"',
        (
            ir.Filter(
                ir.Or(
                    (
                        M(ir.RawText(), K.HAS, ("evil",), False),
                        M(ir.RawText(), K.CONTAINS, ("vil",), False),
                    )
                )
            ),
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), SUMMARIZE + RESHAPE)
def test_stages(text: str, expected: tuple[ir.Stage, ...]) -> None:
    assert lower(text).pipeline.stages == expected


PROJECT_A = ir.Project(by("A"))

PREDICATES = [
    # a range from the row is the function itself; a constant one, a CIDR match
    ("ipv4_is_in_range(A, B)", ir.Call("ipv4_is_in_range", (F("A"), F("B")))),
    ('ipv4_is_in_range(A, "10.0.0.0/8")', M(F("A"), K.CIDR, ("10.0.0.0/8",), False)),
    (
        "A in ((U | project A))",
        ir.InPipeline(F("A"), ir.Pipeline(ir.Table("U"), (PROJECT_A,)), True),
    ),
    (
        "A has_any ((U | project A))",
        ir.InPipeline(F("A"), ir.Pipeline(ir.Table("U"), (PROJECT_A,)), False, K.HAS),
    ),
    (
        "A has_any_cs ((U | project A))",
        ir.InPipeline(F("A"), ir.Pipeline(ir.Table("U"), (PROJECT_A,)), True, K.HAS),
    ),
    (
        "A in~ (toscalar(U | summarize make_set(B)))",
        ir.InPipeline(
            F("A"),
            ir.Pipeline(
                ir.Table("U"),
                (ir.Aggregate((), (agg("set_B", "make_set", F("B")),)), ir.MvExpand(by("set_B"))),
            ),
            False,
        ),
    ),
    (
        "A in (B, C)",
        ir.Or(
            (
                ir.Compare(ir.CompareOp.EQ, F("A"), F("B")),
                ir.Compare(ir.CompareOp.EQ, F("A"), F("C")),
            )
        ),
    ),
    ('A =~ "Été"', M(F("A"), K.REGEX, ("^(?:É[tT]é)$",), True)),
    ('A has "x-é"', M(F("A"), K.REGEX, ("(?:(?:^|[^A-Za-z0-9])[xX]\\-é)",), True)),
    ('A contains "ete"', M(F("A"), K.CONTAINS, ("ete",), False)),
    ("A in (1d)", ir.Compare(ir.CompareOp.EQ, F("A"), L(timedelta(days=1)))),
    ("A !in (dynamic([]))", ir.Not(L(False))),
]


@pytest.mark.parametrize(("condition", "expected"), PREDICATES)
def test_predicates(condition: str, expected: ir.Expr) -> None:
    (stage,) = lower(f"T | where {condition}").pipeline.stages
    assert stage == ir.Filter(expected)


def test_tabular_let_in_has_any_is_a_pipeline_ref() -> None:
    query = lower("let Bad = U | project A;\nT | where A has_any (Bad)")
    assert query.lets == (ir.Let("Bad", ir.Pipeline(ir.Table("U"), (PROJECT_A,))),)
    assert query.pipeline.stages == (
        ir.Filter(ir.InPipeline(F("A"), ir.Pipeline(ir.PipelineRef("Bad")), False, K.HAS)),
    )


def test_scalar_let_of_toscalar_set_is_expanded() -> None:
    query = lower("let S = toscalar(U | summarize make_set(B, 3));\nT | where A in (S)")
    assert query.params == ()
    assert query.pipeline.stages[0].predicate.pipeline.stages[-1] == ir.MvExpand(by("set_B"))


SOURCES = [
    (
        "union withsource=Src A, B",
        ir.Pipeline(ir.Table("A"), (ir.Union((ir.Pipeline(ir.Table("B")),), "Src"),)),
    ),
    (
        'search in (A, B) "x"',
        ir.Pipeline(
            ir.Table("A"),
            (
                ir.Extend((ir.Assign("$table", L("A")),)),
                ir.Union(
                    (ir.Pipeline(ir.Table("B"), (ir.Extend((ir.Assign("$table", L("B")),)),)),)
                ),
                ir.Filter(M(ir.RawText(), K.HAS, ("x",), False)),
            ),
        ),
    ),
    (
        "print a = 1, strlen('xy')",
        ir.Pipeline(
            ir.Datatable((), ((),)),
            (
                ir.Extend(
                    (ir.Assign("a", L(1)), ir.Assign("print_1", ir.Call("strlen", (L("xy"),))))
                ),
            ),
        ),
    ),
    (
        "range n from 1 to 7 step 3",
        ir.Pipeline(ir.Datatable((("n", "long"),), ((1,), (4,), (7,)))),
    ),
    (
        "range d from 0d to 2d step 1d",
        ir.Pipeline(
            ir.Datatable(
                (("d", "timespan"),), ((timedelta(0),), (timedelta(days=1),), (timedelta(days=2),))
            )
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), SOURCES)
def test_sources(text: str, expected: ir.Pipeline) -> None:
    assert lower(text).pipeline == expected


FILTER_A_X = ir.Filter(M(F("A"), K.EQ, ("x",), True))

FUNCTIONS = [
    (
        'let f = (v: string) { T | where A == v };\nf("x")',
        ir.Pipeline(ir.Table("T"), (FILTER_A_X,)),
    ),
    (
        'let f = (t: string, v: string) { table(t) | where A == v };\nf("T", "x")',
        ir.Pipeline(ir.Table("T"), (FILTER_A_X,)),
    ),
    (
        'let f = (v: string = "x") { let W = T | where A == v; W | take 2 };\nf()',
        ir.Pipeline(ir.Table("T"), (FILTER_A_X, ir.Limit(2))),
    ),
    (
        "let low = (s: string) { tolower(s) };\nT | extend B = low(A)",
        ir.Pipeline(ir.Table("T"), (ir.Extend((ir.Assign("B", ir.Call("lower", (F("A"),))),)),)),
    ),
    (
        'let f = (R: (*), v: string) { R | where A == v };\nT | invoke f("x")',
        ir.Pipeline(ir.Table("T"), (FILTER_A_X,)),
    ),
    (
        'let f = (v: string) { T | where A == v };\nunion f("x"), f("y")',
        ir.Pipeline(
            ir.Table("T"),
            (
                FILTER_A_X,
                ir.Union(
                    (ir.Pipeline(ir.Table("T"), (ir.Filter(M(F("A"), K.EQ, ("y",), True)),)),)
                ),
            ),
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), FUNCTIONS)
def test_user_functions_are_inlined(text: str, expected: ir.Pipeline) -> None:
    query = lower(text)
    assert (query.pipeline, query.lets, query.params) == (expected, (), ())


def test_function_refers_to_top_level_let() -> None:
    query = lower("let w = 1d;\nlet f = (v: string) { T | where Ts > ago(w) and A == v };\nf('x')")
    assert query.params == (ir.Param("w", default=L(timedelta(days=1))),)


def test_views_inside_a_view_are_lets_each_after_the_ones_it_uses() -> None:
    query = lower(
        "let U = T | where A == 'x';\n"
        "let outer = view() { let inner = view() { U | take 2 }; let n = 5; inner | take n };\n"
        "outer"
    )
    assert [let.name for let in query.lets] == ["U", "inner"]
    assert query.lets[1].value == ir.Pipeline(ir.PipelineRef("U"), (ir.Limit(2),))
    assert query.pipeline == ir.Pipeline(ir.PipelineRef("inner"), (ir.Limit(5),))


def test_toscalar_of_a_scalar_expression_is_that_value() -> None:
    query = lower(
        "let n = toscalar(2 * 3);\nlet W = toscalar(pack_array('a', 'b'));\n"
        "T | where A in (W) | where B > n"
    )
    assert query.params == (ir.Param("n", default=ir.Arith(ir.ArithOp.MUL, L(2), L(3))),)
    assert query.pipeline.stages == (
        ir.Filter(M(F("A"), K.EQ, ("a", "b"), True)),
        ir.Filter(ir.Compare(ir.CompareOp.GT, F("B"), ir.ScalarRef("n"))),
    )


def test_a_tabular_name_as_a_scalar_is_the_column_of_that_name() -> None:
    # Microsoft's analysis types `strlen(A)` here as the string column A, not the let
    query = lower("let A = T | take 1;\nT | project B = strlen(A)")
    assert query.pipeline.stages == (ir.Project((ir.Assign("B", ir.Call("strlen", (F("A"),))),)),)


def test_a_let_bound_to_another_workspace_s_table_is_a_table() -> None:
    query = lower('let W = workspace("w").AuditLogs;\nW | take 1')
    (let,) = query.lets
    assert let.value.source == ir.Table("AuditLogs", scope=(("workspace", "w"),))


def test_recursive_function_is_a_diagnostic() -> None:
    (diagnostic,) = load_kql("let f = (v: string) { f(v) };\nT | where f('x')", "t.kql")
    assert diagnostic.code == "kql.unsupported"
    assert "refers to itself" in diagnostic.message


def test_dcount_leaves_a_note_that_kql_estimates() -> None:
    results = load_kql("T | summarize dcount(A)", "t.kql")
    assert [type(r).__name__ for r in results] == ["Query", "Diagnostic"]
    assert results[1].severity == "note" and "estimates" in results[1].message
