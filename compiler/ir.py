"""The rulec intermediate representation.

A rule is a `Query`: parameters and let-bindings, then one `Pipeline`. A pipeline is a source
followed by stages; a stage is a plain relational operator; expressions are a small typed tree
whose one string-matching node, `Match`, states its case sensitivity explicitly.

Every node is a frozen dataclass and carries a `Span` (keyword-only, defaulting to "unknown").
Diagnostics carry spans too, so front ends, passes and back ends report in one shape.
The meaning of the IR is fixed by the DuckDB reference executor (`compiler/run/executor.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import field, fields, is_dataclass
from datetime import datetime, timedelta
from enum import Enum

from rulec.compiler.frozen import frozen

# --------------------------------------------------------------------------- spans, diagnostics


@frozen
class Span:
    """Where a node came from: file, 1-based line and column (None when unknown)."""

    file: str | None = None
    line: int | None = None
    column: int | None = None


NOWHERE = Span()


@frozen(kw_only=True)
class Node:
    """Base of every IR node."""

    span: Span = field(default=NOWHERE, compare=False, repr=False)


@frozen
class Diagnostic:
    """A located message: `code` is stable (e.g. `sigma.unknown-modifier`), `message` is prose."""

    code: str
    message: str
    span: Span = NOWHERE
    severity: str = "error"  # "error" | "warning" | "note"
    target: str | None = None


class RuleError(Exception):
    """Raised by front ends, passes and back ends; carries one `Diagnostic`."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


# --------------------------------------------------------------------------- expressions


class Kind(Enum):
    """Base of the IR's enumerations: members are hashed by identity (each is unique, and
    `Enum`'s own hash runs Python code on every dict and set lookup)."""

    __hash__ = object.__hash__


class Wildcard(Kind):
    """Wildcard tokens inside a `Pattern`."""

    ANY = "*"  # any run of characters, possibly empty
    ONE = "?"  # exactly one character


@frozen
class Pattern:
    """A wildcard pattern: literal text parts and `Wildcard` tokens, in order."""

    parts: tuple[str | Wildcard, ...]


LiteralValue = str | int | float | bool | None | timedelta | datetime


@frozen
class Literal(Node):
    """A constant. `None` is null; timedelta is a timespan; datetime a point in time (UTC)."""

    value: LiteralValue


@frozen
class FieldRef(Node):
    """A column of the current row (event field)."""

    name: str


@frozen
class RawText(Node):
    """The whole event as text: keyword searches match here. Each target names the column."""


@frozen
class ScalarRef(Node):
    """A reference to a query parameter or scalar let-binding by name."""

    name: str


@frozen
class And(Node):
    operands: tuple[Expr, ...]


@frozen
class Or(Node):
    operands: tuple[Expr, ...]


@frozen
class Not(Node):
    """Logical negation. A missing field never makes `Not(...)` unknown: it is plain two-valued."""

    operand: Expr


class CompareOp(Kind):
    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


@frozen
class Compare(Node):
    """A typed comparison of two scalar expressions (case-sensitive for strings)."""

    op: CompareOp
    left: Expr
    right: Expr


class ArithOp(Kind):
    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"
    MOD = "%"


@frozen
class Arith(Node):
    op: ArithOp
    left: Expr
    right: Expr


@frozen
class Call(Node):
    """A scalar function call by rulec's normalised name: lower, upper, coalesce, strlen,
    tostring, toint, todouble, concat, substring, ago, now, ingestion_time, bin,
    datepart (args: Literal part name among minute/hour/day/week/month/year, then the value),
    index (args: value, key: element access), ..."""

    name: str
    args: tuple[Expr, ...] = ()


class MatchKind(Kind):
    EQ = "eq"
    CONTAINS = "contains"
    STARTSWITH = "startswith"
    ENDSWITH = "endswith"
    WILDCARD = "wildcard"
    REGEX = "regex"
    HAS = "has"
    CIDR = "cidr"
    EXISTS = "exists"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"


@frozen
class Transform:
    """A function applied to the matched field before matching: `coalesce` (args: default),
    `lower`, `upper`, `tostring`."""

    name: str
    args: tuple[Expr, ...] = ()


MatchValue = str | int | float | bool | Pattern | FieldRef


@frozen
class Match(Node):
    """The string/number predicate: `field` matches any one of `values`.

    - eq/contains/startswith/endswith/has: values are str (or numbers for eq), or FieldRef.
    - wildcard: values are `Pattern`s. regex: values are patterns in RE2 syntax, with
      `flags` among {"m", "s"}; case-insensitivity is `case_sensitive=False`, never a flag.
    - cidr: values are network strings ("10.0.0.0/8", "fe80::/10").
    - exists: no values; true when the field is present and not null.
    - lt/le/gt/ge: numeric (or string) thresholds.
    """

    field: Expr
    kind: MatchKind
    values: tuple[MatchValue, ...]
    case_sensitive: bool
    transforms: tuple[Transform, ...] = ()
    flags: frozenset[str] = frozenset()


@frozen
class InPipeline(Node):
    """`field` matches any value of the pipeline's one column (`in`, `has_any` over a table)."""

    field: Expr
    pipeline: Pipeline
    case_sensitive: bool
    kind: MatchKind = MatchKind.EQ


@frozen
class ScalarOf(Node):
    """`toscalar(T)`: the first column of the pipeline's first row (null when it has none)."""

    pipeline: Pipeline


Expr = (
    Literal
    | FieldRef
    | RawText
    | ScalarRef
    | And
    | Or
    | Not
    | Compare
    | Arith
    | Call
    | Match
    | InPipeline
    | ScalarOf
)

# --------------------------------------------------------------------------- sources


@frozen
class Table(Node):
    """A named table (KQL source, or a mapped Sigma logsource).

    `wildcard`: `name` is a pattern (`*`, `Device*`) standing for every table of the queried
    workspace whose name it matches (KQL `union T*`). `scope`: where the table lives when not in
    the queried workspace, outermost first, as (function, argument) pairs: `arg("").Resources` is
    `(("arg", ""),)`, `workspace("w").T` is `(("workspace", "w"),)`.
    """

    name: str
    wildcard: bool = False
    scope: tuple[tuple[str, str], ...] = ()


def table_text(table: Table) -> str:
    """How KQL names `table` (`Device*`, `workspace("w").T`), for messages."""
    return "".join(f'{name}("{value}").' for name, value in table.scope) + table.name


@frozen
class LogSource(Node):
    """A Sigma logsource; a table mapping (`-m`/config) turns it into a table at emit time."""

    product: str | None = None
    category: str | None = None
    service: str | None = None


@frozen
class PipelineRef(Node):
    """The result of a tabular let-binding, by name."""

    name: str


@frozen
class Datatable(Node):
    columns: tuple[tuple[str, str], ...]  # (name, type)
    rows: tuple[tuple[LiteralValue, ...], ...]


@frozen
class AnySource(Node):
    """Events of any of several log sources (a Sigma log source listing values): each branch is a
    source and the filters its events pass. An event passing several branches is one event, so
    branches reading one table are one scan with the OR of their filters."""

    branches: tuple[Pipeline, ...]


Source = Table | LogSource | PipelineRef | Datatable | AnySource

# --------------------------------------------------------------------------- stages


@frozen
class Assign(Node):
    """`name = expr` (in extend, project, summarize by)."""

    name: str
    expr: Expr


@frozen
class Filter(Node):
    predicate: Expr


@frozen
class Extend(Node):
    assignments: tuple[Assign, ...]


@frozen
class Project(Node):
    columns: tuple[Assign, ...]


@frozen
class ProjectAway(Node):
    names: tuple[str, ...]


@frozen
class Rename(Node):
    pairs: tuple[tuple[str, str], ...]  # (new name, old name)


@frozen
class AggCall(Node):
    """An aggregation: count (arg None = rows), dcount, sum, min, max, avg, make_set, ...

    `args` are the arguments after `arg`: make_set(x, 25), percentile(x, 95), dcountif(x, p).
    """

    func: str
    arg: Expr | None = None
    args: tuple[Expr, ...] = ()


@frozen
class ArgExtreme(Node):
    """`arg_max(by, cols)` / `arg_min(...)`: the row where `by` is largest/smallest per group.

    Its columns are `columns` (empty: every column of the row), not one measure value.
    """

    func: str  # "arg_max" | "arg_min"
    by: Expr
    columns: tuple[str, ...] = ()


@frozen
class Measure(Node):
    name: str
    agg: AggCall | ArgExtreme


class WindowKind(Kind):
    SLIDING = "sliding"  # any span of `size` ending at an event, wherever it starts
    TUMBLING = "tumbling"  # fixed buckets aligned to the epoch


@frozen
class Window(Node):
    size: timedelta
    kind: WindowKind = WindowKind.SLIDING
    time_field: str | None = None  # None: the executor's/target's configured event time


@frozen
class Aggregate(Node):
    """Group rows, compute measures, keep groups where `having` holds.

    With a sliding `window`, each output row is one alert: the group key, `window_start`,
    `window_end` and the measures, over maximal runs of overlapping windows where `having` holds.
    """

    group_by: tuple[Assign, ...]
    measures: tuple[Measure, ...]
    window: Window | None = None
    having: Expr | None = None


class JoinKind(Kind):
    INNER = "inner"
    INNERUNIQUE = "innerunique"
    LEFTOUTER = "leftouter"
    RIGHTOUTER = "rightouter"
    FULLOUTER = "fullouter"
    LEFTSEMI = "leftsemi"
    RIGHTSEMI = "rightsemi"
    LEFTANTI = "leftanti"
    RIGHTANTI = "rightanti"


@frozen
class Join(Node):
    kind: JoinKind
    right: Pipeline
    keys: tuple[tuple[str, str], ...]  # (left column, right column)


@frozen
class Union(Node):
    """Rows of the current pipeline followed by the rows of each of `pipelines`.

    `source_column` (KQL `withsource=`) names a column holding each row's source table; with it,
    `pipelines` may be empty (`union withsource=c T*` tags the rows of the tables `T*` matches).
    """

    pipelines: tuple[Pipeline, ...]
    source_column: str | None = None


@frozen
class Invoke(Node):
    """A function that exists only in the SIEM (e.g. `FileProfile`), bound by the executor."""

    function: str
    args: tuple[Expr, ...] = ()


@frozen
class SortKey(Node):
    expr: Expr
    descending: bool = False
    nulls_first: bool | None = None  # None: the source language's default


@frozen
class Sort(Node):
    keys: tuple[SortKey, ...]


@frozen
class Limit(Node):
    count: int


@frozen
class Distinct(Node):
    columns: tuple[str, ...]  # empty: all columns


@frozen
class MvExpand(Node):
    """One row per element of each dynamic array column (`mv-expand`), at most `limit` each."""

    columns: tuple[Assign, ...]
    limit: int | None = None


@frozen
class Parse(Node):
    """Extract columns from text (`parse`, `parse-where`).

    `parts` alternate literal text (str) and (column, type or None) captures.
    """

    source: Expr
    parts: tuple[str | tuple[str, str | None], ...]
    kind: str = "simple"  # simple | regex | relaxed
    keep_unmatched: bool = True  # False for parse-where


class CorrelationKind(Kind):
    EVENT_COUNT = "event_count"
    VALUE_COUNT = "value_count"
    TEMPORAL = "temporal"
    TEMPORAL_ORDERED = "temporal_ordered"
    VALUE_SUM = "value_sum"
    VALUE_AVG = "value_avg"
    VALUE_PERCENTILE = "value_percentile"
    VALUE_MEDIAN = "value_median"


@frozen
class Correlation(Node):
    """A Sigma correlation over the let-bound pipelines named in `rules`."""

    kind: CorrelationKind
    rules: tuple[str, ...]
    group_by: tuple[str, ...]
    timespan: timedelta
    condition: Expr | None = None  # over the measure column `value`, e.g. value >= 10
    value_field: str | None = None
    percentile: int | None = None  # value_percentile: which percentile `value` is
    absent: tuple[str, ...] = ()  # rules that must NOT occur in the window (`near ... and not`)


@frozen
class ExtendSeveral(Node):
    """`extend (a, b, c) = f(...)`: the columns a function of several results gives, named in
    order (`series_decompose_anomalies`, `series_fit_line`, ...)."""

    names: tuple[str, ...]
    expr: Expr


@frozen
class MvApply(Node):
    """`mv-apply x = arr on (ops)`: per row, `apply` (whose source is `PipelineRef(MV_APPLY)`:
    the row's expanded values, one row each) runs, and its rows replace the row, joined to
    the row's other columns. `item_index` names the column of each value's position."""

    columns: tuple[Assign, ...]
    limit: int | None
    apply: Pipeline
    item_index: str | None = None


MV_APPLY = "_rulec_mv_apply_rows"  # the source of an MvApply's sub-query


@frozen
class Evaluate(Node):
    """`evaluate plugin(args)`: one of KQL's plug-ins, whose output columns may depend on the
    data (`bag_unpack`, `pivot`); an argument may be an aggregation (`pivot(A, count())`) or a
    table (`ipv4_lookup(T, ...)`). `options` are its named arguments (`columnsConflict=...`),
    `schema` the output columns and types the query declares (`: (a: string, ...)`; first
    `("*", "")` for `: (*, a: string, ...)`, the input's columns too)."""

    plugin: str
    args: tuple[Expr | AggCall | Pipeline, ...] = ()
    options: tuple[Assign, ...] = ()
    schema: tuple[tuple[str, str], ...] = ()


@frozen
class Serialize(Node):
    """`serialize`: the rows keep the order they have, the order that the window functions
    (`row_number()`, `prev()`, `row_cumsum()`) read; `columns` are computed as `Extend` does."""

    columns: tuple[Assign, ...] = ()


@frozen
class MakeSeries(Node):
    """`make-series`: per group, one array per measure holding its value in each `step`-wide bin
    of `axis` from `start` to `end` (`default` where a bin has no row; `None`: KQL's own start,
    end and default); the column `axis` then holds the bins' starts."""

    measures: tuple[Measure, ...]
    defaults: tuple[Expr | None, ...]
    axis: str
    start: Expr | None
    end: Expr | None
    step: Expr
    group_by: tuple[Assign, ...] = ()


Stage = (
    Filter
    | Extend
    | Project
    | ProjectAway
    | Rename
    | Aggregate
    | Join
    | Union
    | Invoke
    | Sort
    | Limit
    | Distinct
    | MvExpand
    | Parse
    | Correlation
    | MakeSeries
    | Evaluate
    | Serialize
    | MvApply
    | ExtendSeveral
)

# --------------------------------------------------------------------------- query


@frozen
class Pipeline(Node):
    source: Source
    stages: tuple[Stage, ...] = ()


@frozen
class Param(Node):
    """A query parameter (`declare query_parameters`) or scalar let with a default value."""

    name: str
    type: str | None = None
    default: Expr | None = None


@frozen
class Let(Node):
    """A let-binding of a scalar expression or of a pipeline."""

    name: str
    value: Expr | Pipeline
    materialize: bool = False


@frozen
class RuleMeta:
    """What a rule says about itself (from Sigma's header or a KQL file's comments)."""

    language: str  # "sigma" | "kql"
    path: str | None = None
    id: str | None = None
    title: str | None = None
    description: str | None = None
    status: str | None = None
    level: str | None = None
    author: str | None = None
    tags: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    falsepositives: tuple[str, ...] = ()
    logsource: LogSource | None = None
    text: str | None = None  # the rule body as written
    pipeline: str | None = None  # the alternative (`-p 'a|b'`) that read the rule


@frozen
class Query(Node):
    pipeline: Pipeline
    params: tuple[Param, ...] = ()
    lets: tuple[Let, ...] = ()
    meta: RuleMeta = field(default_factory=lambda: RuleMeta(language="unknown"))
    # what the front end noticed without refusing the rule (e.g. metadata Sigma does not allow)
    warnings: tuple[Diagnostic, ...] = field(default=(), compare=False)


def walk(node: object) -> Iterator:
    """`node` and everything inside it (tuples and their items, nodes and their fields, spans
    left out), depth first in field order."""
    yield node
    if isinstance(node, tuple | list):
        children: Iterable = node
    elif is_dataclass(node) and not isinstance(node, type):
        children = (getattr(node, f.name) for f in fields(node) if f.name != "span")
    else:
        return
    for child in children:
        yield from walk(child)


def find_all(node: object, kinds: type | tuple[type, ...]) -> Iterator:
    """Every node of the given kinds inside `node` (itself included; spans left out), in
    order: depth first, fields and items in order."""
    found: list = []
    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, kinds):
            found.append(node)
        inside = _INSIDE.get(type(node))
        if inside is None:
            inside = _INSIDE[type(node)] = _inside(type(node))
        if inside is _SEQUENCE:
            stack.extend(reversed(node))  # type: ignore[call-overload]
        elif inside:
            stack.extend([getattr(node, name) for name in inside])
    return iter(found)


_SEQUENCE = ("<sequence>",)
_INSIDE: dict[type, tuple[str, ...]] = {}  # what `find_all` walks into, by type


def _inside(kind: type) -> tuple[str, ...]:
    """The items of a tuple or list, the fields of a dataclass instance (its span left out,
    last field first, as `find_all` stacks them), else nothing."""
    if issubclass(kind, tuple | list):
        return _SEQUENCE
    if not is_dataclass(kind):
        return ()
    return tuple(f.name for f in reversed(fields(kind)) if f.name != "span")


def conjuncts(expr: Expr) -> tuple[Expr, ...]:
    """The top-level AND operands of an expression (itself when it is not an AND)."""
    if isinstance(expr, And):
        return tuple(c for operand in expr.operands for c in conjuncts(operand))
    return (expr,)
