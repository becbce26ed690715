"""KQL parser: the parse tree of small inputs, and located errors with recovery."""

from __future__ import annotations

import pytest

from rulec.compiler import ir
from rulec.compiler.frontends.kql import parse_kql
from rulec.compiler.frontends.kql import syntax as s
from rulec.compiler.frontends.kql.lexer import tokenize

P = s.Pos(1, 1)  # positions are excluded from ==


def parse_one(text: str) -> s.Statement:
    script, diagnostics = parse_kql(text, "t.kql")
    assert diagnostics == []
    (statement,) = script.statements
    return statement


def where(text: str) -> s.Expr:
    statement = parse_one(f"T | where {text}")
    (op,) = statement.expr.operators
    return op.args[0]


def n(name: str) -> s.Name:
    return s.Name(name, pos=P)


def lit(kind: str, value: object) -> s.Literal:
    return s.Literal(kind, value, pos=P)


TOKENS = [
    ('@"c:\\x""y"', [("string", 'c:\\x"y')]),
    ("'a\\tb'", [("string", "a\tb")]),
    ('h"secret"', [("string", "secret")]),
    ("```multi\nline```", [("string", "multi\nline")]),
    (
        "1.5h 30d 10ms 0x1F 2.5e3",
        [
            ("timespan", "1.5h"),
            ("timespan", "30d"),
            ("timespan", "10ms"),
            ("long", "0x1F"),
            ("real", "2.5e3"),
        ],
    ),
    ("datetime(2024-01-01 10:00)", [("datetime", "2024-01-01 10:00")]),
    ("a // comment\n!~ $left", [("name", "a"), ("punct", "!~"), ("name", "$left")]),
]


@pytest.mark.parametrize(("text", "expected"), TOKENS)
def test_tokens(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(t.kind, t.text) for t in tokenize(text)[:-1]] == expected


EXPRESSIONS = [
    ("a or b and c", s.Binary("or", n("a"), s.Binary("and", n("b"), n("c"), pos=P), pos=P)),
    ("a + b * c", s.Binary("+", n("a"), s.Binary("*", n("b"), n("c"), pos=P), pos=P)),
    ("a + b == c", s.Binary("==", s.Binary("+", n("a"), n("b"), pos=P), n("c"), pos=P)),
    ("a < b == c", s.Binary("==", s.Binary("<", n("a"), n("b"), pos=P), n("c"), pos=P)),
    ("a !has_cs 'x'", s.Binary("!has_cs", n("a"), lit("string", "x"), pos=P)),
    (
        "a !in~ ('x', 'y')",
        s.InList("!in~", n("a"), (lit("string", "x"), lit("string", "y")), pos=P),
    ),
    ("a matches regex 'x'", s.Binary("matches regex", n("a"), lit("string", "x"), pos=P)),
    ("a !between (1 .. 2)", s.Between(True, n("a"), lit("long", "1"), lit("long", "2"), pos=P)),
    (
        "$left.a == x.['b c'][0]",
        s.Binary(
            "==",
            s.Member(n("$left"), "a", pos=P),
            s.Index(s.Member(n("x"), "b c", pos=P), lit("long", "0"), pos=P),
            pos=P,
        ),
    ),
    ("f(x, n = 1)", s.Call("f", (n("x"), s.NamedExpr(("n",), lit("long", "1"), pos=P)), pos=P)),
    ('dynamic({"a": [1, -2, "x"]})', lit("dynamic", {"a": [1, -2, "x"]})),
    ("-a", s.Unary("-", n("a"), pos=P)),
]


@pytest.mark.parametrize(("text", "expected"), EXPRESSIONS)
def test_expression_tree(text: str, expected: s.Expr) -> None:
    assert where(text) == expected


OPERATORS = [
    "T | extend (a, b) = f(x), c = 1",
    "T | project-away Foo*, ['Bar baz']",
    "T | summarize hint.strategy=shuffle count(), make_set(x, 10) by bin(t, 1h)",
    "T | join kind=leftouter hint.remote=auto (U | where x > 1) on $left.a == $right.b, c",
    "T | lookup kind=inner U on a",
    "union withsource=Src isfuzzy=true A, B*, (C | take 1)",
    "T | mv-expand with_itemindex=i x to typeof(string), y limit 10",
    "T | mv-apply x to typeof(long) on (top 1 by x | project x)",
    "T | parse kind=regex flags=i A with 'x' B:string '(\\\\d+)' *",
    "T | parse-where A with * 'id=' Id:long",
    "T | top 10 by x desc nulls last",
    "T | top-nested 3 of a by count(), top-nested of b with others = 'x' by sum(c) desc",
    "T | sort by a asc nulls first, b",
    "T | sample 10 | sample-distinct 5 of a",
    "T | distinct * | count | as hint.materialized=true X | serialize n = row_number()",
    "T | make-series n = count() default = 0 on t from ago(1d) to now() step 1h by a",
    "T | make-series n = count() on t in range(ago(1d), now(), 1h)",
    "T | render timechart with (title = 'x', ysplit = panels)",
    "T | evaluate bag_unpack(a) : (a: string, b: long)",
    "T | getschema",
    "T | search kind=case_sensitive 'x' and a:'y'",
    "T | invoke FileProfile(SHA1, 1000)",
    "T | partition by a (take 1)",
    "datatable(a: string, b: long) ['x', 1, 'y', 2,]",
    "range x from 1 to 10 step 1",
    "print a = 1, 'b'",
    "externaldata(a: string) [h@'https://x'] with (format='csv')",
    "search in (A, B) 'x'",
]


@pytest.mark.parametrize("text", OPERATORS)
def test_operator_parses(text: str) -> None:
    statement = parse_one(text)
    assert isinstance(statement.expr, s.Pipe)


def test_statements() -> None:
    script, diagnostics = parse_kql(
        "set notruncation;\n"
        "declare query_parameters(n: long = 5, s: string);\n"
        "let a = 1d;\n"
        "let f = (x: string, t: (*), y: long = 2) { let z = x; T | where c == z };\n"
        "let v = view () { T };\n"
        "let m = materialize(T | take n);\n"
        "m",
        "t.kql",
    )
    assert diagnostics == []
    kinds = [type(statement).__name__ for statement in script.statements]
    assert kinds == ["Set", "Declare", "Let", "Let", "Let", "Let", "QueryStatement"]
    function = script.statements[3].value
    assert [(p.name, p.type) for p in function.params] == [
        ("x", "string"),
        ("t", "table"),
        ("y", "long"),
    ]
    assert script.statements[4].value.view is True


ERRORS = [
    ("T | where", "expected an expression, found end of input", 1, 10),
    ("T\n| where a ==", "expected an expression, found end of input", 2, 13),
    ("T | frobnicate", "unknown tabular operator 'frobnicate'", 1, 5),
    ("T | where a in 'x'", "expected '(' after 'in', found a string literal", 1, 16),
    ("T | where a == 'x", "unterminated string literal: expected a closing '", 1, 16),
    ("T | join kind=inner U on", "expected an expression, found end of input", 1, 25),
    ("T | summarize count() by", "expected an expression, found end of input", 1, 25),
    (
        "T | take 5 )",
        "expected ';' or the end of the query (a statement ends here), found ')'",
        1,
        12,
    ),
    ("let x = ;", "expected an expression, found ';'", 1, 9),
    (
        "T | where a between (1, 2)",
        "expected '..' between the bounds of 'between', found ','",
        1,
        23,
    ),
]


@pytest.mark.parametrize(("text", "message", "line", "column"), ERRORS)
def test_error_is_located(text: str, message: str, line: int, column: int) -> None:
    _, diagnostics = parse_kql(text, "t.kql")
    assert diagnostics[0] == ir.Diagnostic("kql.syntax", message, ir.Span("t.kql", line, column))


def test_recovery_reports_an_error_in_each_statement() -> None:
    text = "let a = 1 +;\nlet b = 2;\nT | where x = = 1;\nT | take 1"
    script, diagnostics = parse_kql(text, "t.kql")
    assert [(d.span.line, d.span.column) for d in diagnostics] == [(1, 12), (3, 15)]
    assert [type(st).__name__ for st in script.statements] == ["Let", "QueryStatement"]


def test_two_queries_pasted_without_semicolon_are_rejected() -> None:
    text = "SigninLogs\n| take 1\n\nAuditLogs\n| take 1\n"
    _, diagnostics = parse_kql(text, "t.kql")
    (diagnostic,) = diagnostics
    assert diagnostic.span == ir.Span("t.kql", 4, 1)
    assert diagnostic.message.startswith("expected ';' or the end of the query")
