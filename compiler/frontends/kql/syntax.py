"""The KQL parse tree: frozen dataclasses, each with the position where it starts.

Scalar and tabular expressions share one tree, as in KQL itself: a `Pipe` is an expression
whose source is any expression (a table name, `materialize(...)`, a parenthesised pipe).
Operators the lowering does not need to look inside keep their parts in `Operator`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pos:
    line: int
    column: int


@dataclass(frozen=True, kw_only=True)
class SyntaxNode:
    pos: Pos = field(compare=False, repr=False)


# --------------------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Name(SyntaxNode):
    """An identifier, a bracketed name (`['a b']`), `$left`/`$right`, or `*`."""

    name: str
    wildcard: bool = False  # `Foo*` in column or table lists
    braced: bool = False  # `{Name}`: a client's parameter, filled in before the query runs


@dataclass(frozen=True)
class Literal(SyntaxNode):
    """kind: string, long, real, bool, null, timespan, datetime, guid, dynamic, typed."""

    kind: str
    value: object
    type_name: str | None = None  # `long(null)`, `int(5)`, `timespan(1d)`


@dataclass(frozen=True)
class Unary(SyntaxNode):
    op: str  # "-" | "+"
    operand: Expr


@dataclass(frozen=True)
class Binary(SyntaxNode):
    """`op` as written, negations with `!`: or, and, ==, =~, !contains_cs, has_any, ..."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class InList(SyntaxNode):
    op: str  # in, in~, !in, !in~, has_any, has_all, has_any_cs, has_all_cs
    left: Expr
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Between(SyntaxNode):
    negated: bool
    left: Expr
    low: Expr
    high: Expr


@dataclass(frozen=True)
class Call(SyntaxNode):
    name: str
    args: tuple[Expr, ...] = ()


@dataclass(frozen=True)
class Member(SyntaxNode):
    """`target.name`."""

    target: Expr
    name: str


@dataclass(frozen=True)
class Index(SyntaxNode):
    """`target[index]`."""

    target: Expr
    index: Expr


@dataclass(frozen=True)
class NamedExpr(SyntaxNode):
    """`name = expr` (or `(a, b) = expr`) in extend, project, summarize, call arguments."""

    names: tuple[str, ...]
    expr: Expr


@dataclass(frozen=True)
class Cast(SyntaxNode):
    """`expr to typeof(type)` in mv-expand and mv-apply."""

    expr: Expr
    type: str


@dataclass(frozen=True)
class Pipe(SyntaxNode):
    """`source | op | op ...`; `source` is None for sources that are operators (union, ...)."""

    source: Expr | None
    operators: tuple[Operator, ...]


@dataclass(frozen=True)
class FunctionBody(SyntaxNode):
    """`(params) { lets; expr }` or `view (params) { ... }`."""

    params: tuple[Param, ...]
    statements: tuple[Statement, ...]
    result: Expr | None
    view: bool = False


Expr = (
    Name | Literal | Unary | Binary | InList | Between | Call | Member | Index | NamedExpr | Cast
    | Pipe | FunctionBody
)  # fmt: skip

# --------------------------------------------------------------------------- operators


@dataclass(frozen=True)
class Option(SyntaxNode):
    """`name=value` before an operator's arguments (kind=inner, hint.strategy=..., ...)."""

    name: str
    value: Expr


@dataclass(frozen=True)
class SortKey(SyntaxNode):
    expr: Expr
    descending: bool | None = None  # None: the operator's default
    nulls_first: bool | None = None


@dataclass(frozen=True)
class Operator(SyntaxNode):
    """One tabular operator. Which parts are filled depends on `name`:

    where: args=(predicate,); extend/project/summarize (args, by); join/lookup (right,
    on); union (args = tables); sort/top (keys, count); mv-expand, parse, ... (args, parts).
    """

    name: str
    options: tuple[Option, ...] = ()
    args: tuple[Expr, ...] = ()
    by: tuple[Expr, ...] = ()
    keys: tuple[SortKey, ...] = ()
    right: Expr | None = None
    on: tuple[Expr, ...] = ()
    count: Expr | None = None
    parts: tuple[Expr | Param, ...] = ()  # patterns, typed columns, make-series ranges


# --------------------------------------------------------------------------- statements


@dataclass(frozen=True)
class Param(SyntaxNode):
    name: str
    type: str
    default: Expr | None = None


@dataclass(frozen=True)
class Let(SyntaxNode):
    name: str
    value: Expr


@dataclass(frozen=True)
class Set(SyntaxNode):
    name: str
    value: Expr | None


@dataclass(frozen=True)
class Declare(SyntaxNode):
    params: tuple[Param, ...]


@dataclass(frozen=True)
class QueryStatement(SyntaxNode):
    expr: Expr


Statement = Let | Set | Declare | QueryStatement


@dataclass(frozen=True)
class Script(SyntaxNode):
    statements: tuple[Statement, ...]
    title: str | None = None  # the first comment line, if any
