"""KQL -> IR: one KQL line and the IR it must lower to, side by side (spans excluded)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from kql_lowering import lower

from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql

F = ir.FieldRef
L = ir.Literal
M = ir.Match
K = ir.MatchKind
C = ir.CompareOp


def predicate(condition: str) -> ir.Expr:
    (stage,) = lower(f"T | where {condition}").pipeline.stages
    assert isinstance(stage, ir.Filter)
    return stage.predicate


PREDICATES = [
    ('A =~ "x"', M(F("A"), K.EQ, ("x",), False)),
    ('A == "x"', M(F("A"), K.EQ, ("x",), True)),
    ('"x" == A', M(F("A"), K.EQ, ("x",), True)),
    ('A != "x"', ir.Not(M(F("A"), K.EQ, ("x",), True))),
    ('A !~ "x"', ir.Not(M(F("A"), K.EQ, ("x",), False))),
    ("A == 5", ir.Compare(C.EQ, F("A"), L(5))),
    ("A == B", ir.Compare(C.EQ, F("A"), F("B"))),
    ("A =~ B", M(F("A"), K.EQ, (F("B"),), False)),
    ('A contains "x"', M(F("A"), K.CONTAINS, ("x",), False)),
    ('A contains_cs "x"', M(F("A"), K.CONTAINS, ("x",), True)),
    ('A !contains "x"', ir.Not(M(F("A"), K.CONTAINS, ("x",), False))),
    ('A !contains_cs "x"', ir.Not(M(F("A"), K.CONTAINS, ("x",), True))),
    ('A startswith "x"', M(F("A"), K.STARTSWITH, ("x",), False)),
    ('A !startswith_cs "x"', ir.Not(M(F("A"), K.STARTSWITH, ("x",), True))),
    ('A endswith @"c:\\x"', M(F("A"), K.ENDSWITH, ("c:\\x",), False)),
    ('A has "x"', M(F("A"), K.HAS, ("x",), False)),
    ('A has_cs "x"', M(F("A"), K.HAS, ("x",), True)),
    ('A !has "x"', ir.Not(M(F("A"), K.HAS, ("x",), False))),
    ('A has_any ("x", "y")', M(F("A"), K.HAS, ("x", "y"), False)),
    (
        'A has_all ("x", "y")',
        ir.And((M(F("A"), K.HAS, ("x",), False), M(F("A"), K.HAS, ("y",), False))),
    ),
    ('A in ("x", "y")', M(F("A"), K.EQ, ("x", "y"), True)),
    ('A in~ ("x", "y")', M(F("A"), K.EQ, ("x", "y"), False)),
    ('A !in ("x")', ir.Not(M(F("A"), K.EQ, ("x",), True))),
    ('A !in~ ("x")', ir.Not(M(F("A"), K.EQ, ("x",), False))),
    ("A in (1, 2)", M(F("A"), K.EQ, (1, 2), True)),
    ('A in (dynamic(["x", "y"]))', M(F("A"), K.EQ, ("x", "y"), True)),
    ('A matches regex "a.*b"', M(F("A"), K.REGEX, ("a.*b",), True)),
    ('tolower(A) == "x"', M(F("A"), K.EQ, ("x",), True, (ir.Transform("lower"),))),
    ("coalesce(A, 0) < 100", M(F("A"), K.LT, (100,), True, (ir.Transform("coalesce", (L(0),)),))),
    ("100 > coalesce(A, 0)", M(F("A"), K.LT, (100,), True, (ir.Transform("coalesce", (L(0),)),))),
    ("A < 100", ir.Compare(C.LT, F("A"), L(100))),
    ("isnotnull(A)", M(F("A"), K.EXISTS, (), True)),
    ("isnull(A)", ir.Not(M(F("A"), K.EXISTS, (), True))),
    (
        "isnotempty(A)",
        ir.And((M(F("A"), K.EXISTS, (), True), ir.Not(M(F("A"), K.EQ, ("",), True)))),
    ),
    (
        "isempty(A)",
        ir.Not(ir.And((M(F("A"), K.EXISTS, (), True), ir.Not(M(F("A"), K.EQ, ("",), True))))),
    ),
    ('ipv4_is_in_range(IP, "10.0.0.0/8")', M(F("IP"), K.CIDR, ("10.0.0.0/8",), False)),
    (
        "A between (1 .. 5)",
        ir.And((ir.Compare(C.GE, F("A"), L(1)), ir.Compare(C.LE, F("A"), L(5)))),
    ),
    (
        "A !between (1 .. 5)",
        ir.Or((ir.Compare(C.LT, F("A"), L(1)), ir.Compare(C.GT, F("A"), L(5)))),
    ),
    (
        "T between (datetime(2024-01-01) .. 1d)",
        ir.And(
            (
                ir.Compare(C.GE, F("T"), L(datetime(2024, 1, 1, tzinfo=timezone.utc))),
                ir.Compare(
                    C.LE,
                    F("T"),
                    ir.Arith(
                        ir.ArithOp.ADD,
                        L(datetime(2024, 1, 1, tzinfo=timezone.utc)),
                        L(timedelta(days=1)),
                    ),
                ),
            )
        ),
    ),
    (
        'A == "x" and B == "y" and C == "z"',
        ir.And(tuple(M(F(n), K.EQ, (v,), True) for n, v in ("Ax", "By", "Cz"))),
    ),
    (
        'A == "x" or not(B has "y")',
        ir.Or((M(F("A"), K.EQ, ("x",), True), ir.Not(M(F("B"), K.HAS, ("y",), False)))),
    ),
    (
        "Timestamp > ago(1h)",
        ir.Compare(C.GT, F("Timestamp"), ir.Call("ago", (L(timedelta(hours=1)),))),
    ),
    (
        "strlen(tolower(A)) > 2 * 3",
        ir.Compare(
            C.GT,
            ir.Call("strlen", (ir.Call("lower", (F("A"),)),)),
            ir.Arith(ir.ArithOp.MUL, L(2), L(3)),
        ),
    ),
    ('A.b.c == "x"', M(F("A.b.c"), K.EQ, ("x",), True)),
    ('A["b"] =~ "x"', M(F("A.b"), K.EQ, ("x",), False)),
    (
        "split(A, '/')[3] == 'x'",
        M(ir.Call("index", (ir.Call("split", (F("A"), L("/"))), L(3))), K.EQ, ("x",), True),
    ),
    ("A == -1.5", ir.Compare(C.EQ, F("A"), L(-1.5))),
    ('A == h"secret"', M(F("A"), K.EQ, ("secret",), True)),
]


@pytest.mark.parametrize(("condition", "expected"), PREDICATES)
def test_predicate(condition: str, expected: ir.Expr) -> None:
    assert predicate(condition) == expected


STAGES = [
    ("T | extend B = tolower(A)", (ir.Extend((ir.Assign("B", ir.Call("lower", (F("A"),))),)),)),
    ("T | project A, C = B", (ir.Project((ir.Assign("A", F("A")), ir.Assign("C", F("B")))),)),
    ("T | project-away A, B", (ir.ProjectAway(("A", "B")),)),
    ("T | project-rename New = Old", (ir.Rename((("New", "Old"),)),)),
    ("T | take 5", (ir.Limit(5),)),
    ("T | limit 5", (ir.Limit(5),)),
    ("T | distinct A, B", (ir.Distinct(("A", "B")),)),
    ("T | sort by A", (ir.Sort((ir.SortKey(F("A"), True),)),)),
    (
        "T | order by A asc, B desc",
        (ir.Sort((ir.SortKey(F("A"), False), ir.SortKey(F("B"), True))),),
    ),
    ("T | top 3 by A", (ir.Sort((ir.SortKey(F("A"), True),)), ir.Limit(3))),
    ("T | count", (ir.Aggregate((), (ir.Measure("Count", ir.AggCall("count")),)),)),
    ("T | invoke FileProfile(SHA1, 1000)", (ir.Invoke("FileProfile", (F("SHA1"), L(1000))),)),
    (
        "T | summarize count(), N = dcount(U) by bin(Timestamp, 1h), H",
        (
            ir.Aggregate(
                (
                    ir.Assign("Timestamp", ir.Call("bin", (F("Timestamp"), L(timedelta(hours=1))))),
                    ir.Assign("H", F("H")),
                ),
                (
                    ir.Measure("count_", ir.AggCall("count")),
                    ir.Measure("N", ir.AggCall("dcount", F("U"))),
                ),
            ),
        ),
    ),
    (
        "T | summarize make_set(A) by B",
        (
            ir.Aggregate(
                (ir.Assign("B", F("B")),), (ir.Measure("set_A", ir.AggCall("make_set", F("A"))),)
            ),
        ),
    ),
    (
        "T | join (U) on K",
        (ir.Join(ir.JoinKind.INNERUNIQUE, ir.Pipeline(ir.Table("U")), (("K", "K"),)),),
    ),
    (
        "T | join kind=leftanti (U | where X == 1) on $left.A == $right.B, C",
        (
            ir.Join(
                ir.JoinKind.LEFTANTI,
                ir.Pipeline(ir.Table("U"), (ir.Filter(ir.Compare(C.EQ, F("X"), L(1))),)),
                (("A", "B"), ("C", "C")),
            ),
        ),
    ),
    (
        "T | lookup (U) on K",
        (ir.Join(ir.JoinKind.LEFTOUTER, ir.Pipeline(ir.Table("U")), (("K", "K"),)),),
    ),
    (
        "T | union U, (V | take 1)",
        (ir.Union((ir.Pipeline(ir.Table("U")), ir.Pipeline(ir.Table("V"), (ir.Limit(1),)))),),
    ),
    ("T | render timechart", ()),
    ("T | project-reorder B, A", ()),
]


@pytest.mark.parametrize(("text", "expected"), STAGES)
def test_stages(text: str, expected: tuple[ir.Stage, ...]) -> None:
    assert lower(text).pipeline.stages == expected


def test_union_as_source() -> None:
    assert lower("union A, B | where X == 1").pipeline == ir.Pipeline(
        ir.Table("A"),
        (ir.Union((ir.Pipeline(ir.Table("B")),)), ir.Filter(ir.Compare(C.EQ, F("X"), L(1)))),
    )


def test_datatable_source() -> None:
    source = lower('datatable(A: string, B: long) ["x", 1, "y", 2]').pipeline.source
    assert source == ir.Datatable((("A", "string"), ("B", "long")), (("x", 1), ("y", 2)))


def test_scalar_let_becomes_param_and_scalar_ref() -> None:
    query = lower("let window = 2*1d;\nT | where Timestamp > ago(window)")
    assert query.params == (
        ir.Param("window", default=ir.Arith(ir.ArithOp.MUL, L(2), L(timedelta(days=1)))),
    )
    (stage,) = query.pipeline.stages
    assert stage == ir.Filter(
        ir.Compare(C.GT, F("Timestamp"), ir.Call("ago", (ir.ScalarRef("window"),)))
    )


def test_list_let_is_inlined_into_in() -> None:
    query = lower('let names = dynamic(["a.exe", "b.exe"]);\nT | where F in~ (names)')
    assert query.params == ()
    assert query.pipeline.stages == (ir.Filter(M(F("F"), K.EQ, ("a.exe", "b.exe"), False)),)


def test_declare_query_parameters() -> None:
    query = lower("declare query_parameters(limit_to: long = 10);\nT | where N < limit_to")
    assert query.params == (ir.Param("limit_to", "long", L(10)),)


def test_in_subquery_is_in_pipeline() -> None:
    predicate_ = predicate("A !in ((U | project A))")
    sub = ir.InPipeline(
        F("A"), ir.Pipeline(ir.Table("U"), (ir.Project((ir.Assign("A", F("A")),)),)), True
    )
    assert predicate_ == ir.Not(sub)


def test_spans_name_file_line_and_column() -> None:
    query = lower('T\n| where  A =~ "x"')
    (stage,) = query.pipeline.stages
    assert stage.span == ir.Span("t.kql", 2, 3)
    assert stage.predicate.span == ir.Span("t.kql", 2, 12)
    assert query.pipeline.source.span == ir.Span("t.kql", 1, 1)


def test_meta_title_is_first_comment() -> None:
    query = lower("// Rare DLL loads\n// more text\nT | take 1")
    assert query.meta == ir.RuleMeta(
        language="kql",
        path="t.kql",
        title="Rare DLL loads",
        text="// Rare DLL loads\n// more text\nT | take 1",
    )


UNSUPPORTED = [
    (
        "T\n| mv-expand with_itemindex=I A",
        "cannot lower the mv-expand option 'with_itemindex' (line 2) into the IR yet",
        2,
        13,
    ),
    (
        "T | make-series make_set(A) on Timestamp step 1h",
        "cannot lower a make-series measure other than one of its aggregations (line 1) into"
        " the IR yet",
        1,
        17,
    ),
    (
        "T | top-nested 3 of a by count(), top-nested 2 of b by count()",
        "cannot lower top-nested of several levels or with others (line 1) into the IR yet",
        1,
        5,
    ),
    (
        "T | extend x = toreal({Seats})",
        "cannot lower the client parameter {Seats}, which a workbook or tool fills in (line 1)"
        " into the IR yet",
        1,
        23,
    ),
    (
        "let G = U; T | evaluate pivot(G)",
        "cannot lower a named or tabular argument of the plugin pivot() (line 1) into the IR yet",
        1,
        31,
    ),
    (
        "T | where A has_all ((U | project B))",
        "cannot lower 'has_all' over a table (line 1) into the IR yet",
        1,
        13,
    ),
    (
        "T | union foo('x').U",
        "cannot lower a Member used as a table (line 1) into the IR yet",
        1,
        11,
    ),
    (
        "workspace(W).T",
        "cannot lower workspace() without one constant string (line 1) into the IR yet",
        1,
        1,
    ),
    # Microsoft's `in` page: an array among the items is a list of values, not one value
    (
        'T | where A in (split(B, ","))',
        "cannot lower a dynamic value (split()) in the list of 'in' (line 1) into the IR yet",
        1,
        17,
    ),
]


@pytest.mark.parametrize(("text", "message", "line", "column"), UNSUPPORTED)
def test_unsupported_is_a_located_diagnostic(
    text: str, message: str, line: int, column: int
) -> None:
    (diagnostic,) = load_kql(text, "t.kql")
    assert diagnostic == ir.Diagnostic("kql.unsupported", message, ir.Span("t.kql", line, column))


def test_render_and_set_leave_notes_not_silence() -> None:
    results = load_kql("set notruncation;\nT | take 1 | render table", "t.kql")
    assert [type(r).__name__ for r in results] == ["Diagnostic", "Query", "Diagnostic"]
    assert (results[0].severity, results[0].code) == ("warning", "kql.ignored-option")
    assert (results[2].severity, results[2].code, results[2].span.line) == (
        "note",
        "kql.dropped",
        2,
    )


def test_absurd_nesting_is_a_diagnostic() -> None:
    (diagnostic,) = load_kql("T | where " + "(" * 5000 + "A" + ")" * 5000, "t.kql")
    assert diagnostic.code == "kql.syntax"
    assert "nesting" in diagnostic.message


def test_long_and_chain_lowers_without_recursion_error() -> None:
    condition = " and ".join(f'A{i} == "x"' for i in range(3000))
    assert len(predicate(condition).operands) == 3000
