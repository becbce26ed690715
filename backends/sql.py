"""SQL back end: builds sqlglot expressions from the IR and renders them for any sqlglot dialect.

The DuckDB rendering is the reference semantics (`compiler/run/executor.py` runs it). Event
fields are treated as text, the way SIEMs store them; numbers and times are parsed where a rule
compares them. Dialects differ only in a few hooks (`SqlDialect` and its subclasses); everything
else is one walker over the IR.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from sqlglot import exp

from rulec.backends.base import Backend, Emitted, Options
from rulec.backends.schemas import documented_spelling, known_columns
from rulec.backends.sql_correlation import correlation_stage
from rulec.backends.sql_dialects import SqlDialect, dialect_for
from rulec.backends.sql_functions import build_aggregate, build_function, fill
from rulec.backends.sql_geo import geo_info
from rulec.backends.sql_network import cidr_match
from rulec.backends.sql_parse import parse_stage
from rulec.backends.sql_series import extend_several, make_series
from rulec.backends.sql_stages import (
    RELATIONAL,
    Columns,
    Rel,
    datatable,
    evaluate_stage,
    extreme_aggregate,
    kql_names,
    pipeline_match,
    pipeline_value,
    relational_stage,
)
from rulec.backends.sql_windows import sliding_aggregate
from rulec.backends.transforms import default_conditions, one_scan
from rulec.backends.values import bool_text, number_text
from rulec.compiler import ir

LIKE_ESCAPE = "\\"
INGESTION_TIME = "_ingestion_time"  # the column ingestion_time() reads
NOT_TERM_CHAR = "[^A-Za-z0-9]"
ORDERING = {
    ir.MatchKind.LT: exp.LT,
    ir.MatchKind.LE: exp.LTE,
    ir.MatchKind.GT: exp.GT,
    ir.MatchKind.GE: exp.GTE,
}
SQL_FUNCTIONS = {"lower": exp.Lower, "upper": exp.Upper, "strlen": exp.Length}


def table_ref(name: str) -> exp.Table:
    """A table by (possibly dotted: catalog.db.table) name, every part quoted."""
    *qualifiers, table = name.split(".")
    db = qualifiers[-1] if qualifiers else None
    catalog = ".".join(qualifiers[:-1]) or None
    return exp.table_(table, db=db, catalog=catalog, quoted=True)


def connect(link: type[exp.And] | type[exp.Or], operands: list[exp.Expression]) -> exp.Expression:
    """`exp.and_`/`exp.or_` of built expressions: the same left-deep chain, an operand that is
    itself an and/or in brackets, without their parsing and copying of each operand."""
    first, *rest = (exp.Paren(this=o) if isinstance(o, exp.Connector) else o for o in operands)
    if not rest:
        return operands[0]
    for operand in rest:
        first = link(this=first, expression=operand)
    return first


def like_escape(text: str) -> str:
    """Escape LIKE's own wildcards and the escape character itself."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_pattern(kind: ir.MatchKind, value: str | ir.Pattern) -> str:
    if isinstance(value, ir.Pattern):
        return "".join(
            "%" if p is ir.Wildcard.ANY else "_" if p is ir.Wildcard.ONE else like_escape(p)
            for p in value.parts
        )
    text = like_escape(value)
    if kind is ir.MatchKind.CONTAINS:
        return f"%{text}%"
    if kind is ir.MatchKind.STARTSWITH:
        return f"{text}%"
    if kind is ir.MatchKind.ENDSWITH:
        return f"%{text}"
    raise ValueError(f"no LIKE pattern for a {kind.value} match")


# a text column matched against another: `_1` the field, `_2` the other column
COLUMN_MATCHES = {
    ir.MatchKind.CONTAINS: "STRPOS(_1, _2) > 0",
    ir.MatchKind.STARTSWITH: "LEFT(_1, LENGTH(_2)) = _2",
    ir.MatchKind.ENDSWITH: "RIGHT(_1, LENGTH(_2)) = _2",
}


def has_regex(term: str) -> str:
    """KQL `has`: the needle bounded by non-alphanumerics on its alphanumeric edges."""
    left = f"(^|{NOT_TERM_CHAR})" if _is_term_char(term[:1]) else ""
    right = f"($|{NOT_TERM_CHAR})" if _is_term_char(term[-1:]) else ""
    return f"{left}{re.escape(term)}{right}"


def _is_term_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


class SqlBackend(Backend):
    """Emits SQL for one sqlglot dialect (`duckdb`, `postgres`, or any `sql:<dialect>`)."""

    def __init__(self, dialect: str = "duckdb", options: Options | None = None):
        super().__init__(options)
        self.dialect: SqlDialect = dialect_for(dialect)
        self.name = self.dialect.target

    preprocess = (one_scan, default_conditions)

    def emit(self, query: ir.Query) -> Emitted:
        tree = self.build(query)  # built for this call alone: no need to copy it
        text = self.dialect.sqlglot.generate(tree, pretty=True, copy=False)
        for node in tree.walk():  # without links to parents the tree is freed as soon as it
            node.parent = None  # goes, not left to the cycle collector (a batch runs it rarely)
        return Emitted(self.name, text)

    def build(self, query: ir.Query) -> exp.Query:
        """The whole query as one sqlglot expression."""
        return QueryBuilder(self, self.prepared(query)).build()


class QueryBuilder:
    """Compiles one `ir.Query`; holds its scalar bindings and let-bound pipelines."""

    def __init__(self, backend: SqlBackend, query: ir.Query):
        self.backend = backend
        self.dialect = backend.dialect
        self.query = query
        self.scalars: dict[str, ir.Expr] = {p.name: p.default for p in query.params if p.default}
        self.scalars.update({x.name: x.value for x in query.lets if not _is_pipeline(x.value)})
        self.let_columns: dict[str, Columns] = {}
        self.subqueries = 0
        self.order: list[exp.Ordered] | None = None  # the row order a sort just before left
        self.times: set[str] = set()  # columns the query computes as times (not event text)
        self.undocumented: list[str] = []  # tables read whose columns no schema gives
        self.row_columns: Columns = None  # the columns of the rows the stage being built reads

    # ------------------------------------------------------------------ pipelines

    def build(self) -> exp.Query:
        lets = []
        for let in self.query.lets:
            if _is_pipeline(let.value):
                rel = self.relation(let.value)
                self.let_columns[let.name] = rel.columns
                lets.append((let.name, rel.select))
        select = self.pipeline(self.query.pipeline)
        for name, body in lets:
            select = select.with_(exp.to_identifier(name, quoted=True), as_=body)
        return select

    def pipeline(self, pipeline: ir.Pipeline) -> exp.Select:
        return self.relation(pipeline).select

    def relation(self, pipeline: ir.Pipeline) -> Rel:
        """The pipeline's rows, with its columns where the schema makes them known."""
        table, columns = self.source(pipeline.source)
        rel = Rel(exp.select(exp.Star()).from_(table), columns)
        outer, self.order = self.order, None
        for stage in pipeline.stages:
            rel = self.tracked_stage(rel, stage)
        self.order = outer
        return rel

    def tracked_stage(self, rel: Rel, stage: ir.Stage) -> Rel:
        """`stage`, keeping track of the row order that KQL's `prev()` and `row_cumsum()` read
        (set by a sort, kept by an extend, lost by anything else) and of the columns computed
        as times (which `min()` and `max()` keep as times)."""
        order, outer = self.order, self.row_columns
        self.row_columns = rel.columns
        rel = self.stage(rel, stage)
        self.row_columns = outer
        if isinstance(stage, ir.Sort):
            self.order = [self.sort_key(k) for k in stage.keys]
        else:
            self.order = order if isinstance(stage, ir.Extend | ir.Serialize) else None
        if isinstance(stage, ir.Extend):
            self.note_times((a.name, self.is_time(a.expr)) for a in stage.assignments)
        if isinstance(stage, ir.Serialize):
            self.note_times((a.name, self.is_time(a.expr)) for a in stage.columns)
        if isinstance(stage, ir.Aggregate):
            self.note_times((g.name, self.is_time(g.expr)) for g in stage.group_by)
            self.note_times((m.name, self.is_time_extreme(m.agg)) for m in stage.measures)
        return rel

    def note_times(self, columns: Iterable[tuple[str, bool]]) -> None:
        for name, timed in columns:
            (self.times.add if timed else self.times.discard)(name)

    def is_time(self, node: ir.Expr | None) -> bool:
        """Whether `node` is a time the query computes (by its shape, or a column set so)."""
        if isinstance(node, ir.FieldRef):
            return node.name in self.times
        return node is not None and _value_kind(node) == "time"

    def is_time_extreme(self, agg: ir.AggCall | ir.ArgExtreme) -> bool:
        return isinstance(agg, ir.AggCall) and agg.func in ("min", "max") and self.is_time(agg.arg)

    def columns_of(self, table: str) -> Columns:
        """A table's columns: from the given schema, else as Sentinel/Defender XDR document."""
        given = self.backend.options.schema.get(table)
        columns = given if given is not None else known_columns(table)
        if columns is None and table not in self.undocumented:
            self.undocumented.append(table)
        return columns

    def needs_schema(self, node: ir.Node, what: str) -> ir.RuleError:
        """The error for a stage whose output columns depend on input columns nobody gave: it
        names the tables to add to a `--schema` file, and the entry to write."""
        detail = "the columns of its input are not known"
        if self.undocumented:
            tables = ", ".join(self.undocumented)
            entry = f"{self.undocumented[0]}: [Column1, Column2, ...]"
            detail += f": no schema documents {tables}; add `{entry}` to a --schema file"
            alike = [documented_spelling(t) for t in self.undocumented]
            detail += "".join(f" (Microsoft documents {d})" for d in alike if d is not None)
        else:
            detail += ": give the tables' schema"
        return self.backend.unsupported(what, node, detail)

    def source(self, source: ir.Source) -> tuple[exp.Expression, Columns]:
        if isinstance(source, ir.LogSource):
            name = self.backend.options.tables.table_for(source)
            return table_ref(name), self.columns_of(name)
        if isinstance(source, ir.Table) and source.wildcard:
            detail = "which tables it matches is known only to the workspace queried"
            raise self.backend.unsupported(f"the table wildcard '{source.name}'", source, detail)
        if isinstance(source, ir.Table) and source.scope:
            detail = "a SQL database holds only its own tables"
            raise self.backend.unsupported(f"the table {ir.table_text(source)}", source, detail)
        if isinstance(source, ir.Table):
            return table_ref(source.name), self.columns_of(source.name)
        if isinstance(source, ir.PipelineRef):
            return exp.table_(source.name, quoted=True), self.let_columns.get(source.name)
        if isinstance(source, ir.Datatable):
            return datatable(self, source)
        raise self.backend.unsupported(type(source).__name__ + " source", source)

    def scope(self, select: exp.Select) -> exp.Subquery:
        """`(select) AS _sN`: the rows so far, as a source for the next stage. `select` becomes
        part of the result (not copied): a caller that scopes one select twice copies it."""
        self.subqueries += 1
        return select.subquery(f"_s{self.subqueries}", copy=False)

    def wrap(self, select: exp.Select) -> exp.Select:
        """`SELECT * FROM (select) AS _sN`: a fresh scope for the next stage."""
        return exp.select(exp.Star()).from_(self.scope(select))

    def stage(self, rel: Rel, stage: ir.Stage) -> Rel:
        select, columns = rel
        if isinstance(stage, ir.Filter):
            if _computes(select):
                select = self.wrap(select)
            return Rel(select.where(self.predicate(stage.predicate), copy=False), columns)
        if isinstance(stage, ir.Aggregate):
            return self.aggregate(rel, stage)
        if isinstance(stage, ir.Project):
            out = [exp.alias_(self.scalar(c.expr), c.name, quoted=True) for c in stage.columns]
            names = tuple(c.name for c in stage.columns)
            return Rel(exp.select(*out).from_(self.scope(select)), names)
        if isinstance(stage, ir.Sort):
            keys = [self.sort_key(k) for k in stage.keys]
            return Rel(self.wrap(select).order_by(*keys, copy=False), columns)
        if isinstance(stage, ir.Limit):
            limited = self.wrap(select) if select.args.get("limit") else select
            return Rel(limited.limit(stage.count), columns)
        if isinstance(stage, ir.Distinct) and stage.columns:
            out = [exp.column(c, quoted=True) for c in stage.columns]
            return Rel(exp.select(*out).from_(self.scope(select)).distinct(), stage.columns)
        if isinstance(stage, ir.Distinct):
            return Rel(self.wrap(select).distinct(), columns)
        if isinstance(stage, RELATIONAL):
            return relational_stage(self, rel, stage)
        if isinstance(stage, ir.Correlation):
            return correlation_stage(self, stage)
        if isinstance(stage, ir.Parse):
            return parse_stage(self, rel, stage)
        if isinstance(stage, ir.MakeSeries):
            return make_series(self, rel, stage)
        if isinstance(stage, ir.ExtendSeveral):
            return extend_several(self, rel, stage)
        if isinstance(stage, ir.Evaluate):
            return evaluate_stage(self, rel, stage)
        raise self.backend.unsupported(f"the {type(stage).__name__} stage", stage)

    def sort_key(self, key: ir.SortKey) -> exp.Ordered:
        nulls_first = key.nulls_first
        if nulls_first is None:
            nulls_first = not key.descending
        return exp.Ordered(this=self.scalar(key.expr), desc=key.descending, nulls_first=nulls_first)

    def aggregate(self, rel: Rel, stage: ir.Aggregate) -> Rel:
        if any(isinstance(m.agg, ir.ArgExtreme) for m in stage.measures):
            return extreme_aggregate(self, rel, stage)
        select = rel.select
        keys = [(g.name, self.scalar(g.expr)) for g in stage.group_by]
        measures = [(m.name, m.agg) for m in stage.measures]
        if stage.window is not None:
            if stage.window.kind is not ir.WindowKind.SLIDING:
                raise self.backend.unsupported("a tumbling window", stage.window)
            time_field = stage.window.time_field or self.backend.time_field
            windowed = sliding_aggregate(
                self,
                select,
                keys,
                measures,
                stage.window,
                self.event_time(time_field),
                stage.having,
            )
            names = (*[n for n, _ in keys], "window_start", "window_end", *[n for n, _ in measures])
            return Rel(windowed, names)
        values = [e for _, e in keys] + [self.agg(a) for _, a in measures]
        names = kql_names([n for n, _ in (*keys, *measures)])
        columns = [exp.alias_(v, n, quoted=True) for v, n in zip(values, names, strict=True)]
        grouped = exp.select(*columns).from_(self.scope(select))
        if keys:
            grouped = grouped.group_by(*[e for _, e in keys])
        if stage.having is not None:
            grouped = self.wrap(grouped).where(self.predicate(stage.having), copy=False)
        return Rel(grouped, names)

    def agg(self, call: ir.AggCall, arg: exp.Expression | None = None) -> exp.Expression:
        """One aggregate; `arg` overrides the compiled argument (used by window plans)."""
        value = arg if arg is not None else (self.scalar(call.arg) if call.arg else None)
        if call.func == "count" and value is None:
            return exp.Count(this=exp.Star())
        if call.func == "count":
            return exp.Count(this=value)
        if call.func == "dcount":
            return exp.Count(this=exp.Distinct(expressions=[value]))
        numeric = {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}
        if self.is_time_extreme(call) and value is not None:
            return numeric[call.func](this=value)
        if call.func in numeric and value is not None:
            return numeric[call.func](this=self.dialect.to_number(value))
        built = build_aggregate(self, call, value)
        if built is not None:
            return built
        raise self.backend.unsupported(f"the aggregation {call.func}()", call)

    def event_time(self, name: str) -> exp.Expression:
        return self.dialect.to_timestamp(exp.column(name, quoted=True))

    # ------------------------------------------------------------------ expressions

    def predicate(self, node: ir.Expr) -> exp.Expression:
        """A boolean expression; `Not` is two-valued (a missing field never yields unknown)."""
        if isinstance(node, ir.And):
            return connect(exp.And, [self.predicate(o) for o in node.operands])
        if isinstance(node, ir.Or):
            return connect(exp.Or, [self.predicate(o) for o in node.operands])
        if isinstance(node, ir.Not):
            inner = exp.Coalesce(this=self.predicate(node.operand), expressions=[exp.false()])
            return exp.Not(this=inner)
        if isinstance(node, ir.Match):
            return self.match(node)
        if isinstance(node, ir.InPipeline):
            return self.in_pipeline(node)
        return self.scalar(node)

    def scalar(self, node: ir.Expr) -> exp.Expression:
        if isinstance(node, ir.FieldRef):
            return exp.column(node.name, quoted=True)
        if isinstance(node, ir.RawText):
            return exp.column(self.backend.raw_field, quoted=True)
        if isinstance(node, ir.Literal):
            return self.literal(node.value)
        if isinstance(node, ir.ScalarRef):
            if node.name not in self.scalars:
                raise ir.RuleError(
                    ir.Diagnostic("sql.unbound", f"unknown name {node.name}", node.span)
                )
            return self.scalar(self.scalars[node.name])
        if isinstance(node, ir.Compare):
            return self.compare(node)
        if isinstance(node, ir.Arith):
            return self.arith(node)
        if isinstance(node, ir.Call):
            return self.call(node)
        if isinstance(node, ir.ScalarOf):
            return pipeline_value(self, node)
        if isinstance(node, ir.And | ir.Or | ir.Not | ir.Match | ir.InPipeline):
            return self.predicate(node)
        raise self.backend.unsupported(type(node).__name__, node)

    def literal(self, value: ir.LiteralValue) -> exp.Expression:
        if value is None:
            return exp.null()
        if isinstance(value, bool):
            return exp.Boolean(this=value)
        if isinstance(value, int | float):
            return exp.Literal.number(number_text(value))
        if isinstance(value, timedelta):
            return self.dialect.interval(value)
        if isinstance(value, datetime):
            stamp = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
            return self.dialect.to_timestamp(exp.Literal.string(stamp.isoformat()))
        return exp.Literal.string(value)

    def compare(self, node: ir.Compare) -> exp.Expression:
        left, right = self.scalar(node.left), self.scalar(node.right)
        kind = _value_kind(self.bound(node.left)) or _value_kind(self.bound(node.right))
        if kind == "time":
            left, right = (self._as_time(n, e) for n, e in ((node.left, left), (node.right, right)))
        elif kind == "number":
            left, right = (
                self._as_number(n, e) for n, e in ((node.left, left), (node.right, right))
            )
        ops = {
            ir.CompareOp.EQ: exp.EQ,
            ir.CompareOp.NE: exp.NEQ,
            ir.CompareOp.LT: exp.LT,
            ir.CompareOp.LE: exp.LTE,
            ir.CompareOp.GT: exp.GT,
            ir.CompareOp.GE: exp.GTE,
        }
        return ops[node.op](this=left, expression=right)

    def bound(self, node: ir.Expr) -> ir.Expr:
        """The expression a scalar let name stands for (the node itself otherwise)."""
        while isinstance(node, ir.ScalarRef) and node.name in self.scalars:
            node = self.scalars[node.name]
        return node

    def _as_time(self, node: ir.Expr, compiled: exp.Expression) -> exp.Expression:
        return self.dialect.to_timestamp(compiled) if isinstance(node, ir.FieldRef) else compiled

    def _as_number(self, node: ir.Expr, compiled: exp.Expression) -> exp.Expression:
        return self.dialect.to_number(compiled) if isinstance(node, ir.FieldRef) else compiled

    def arith(self, node: ir.Arith) -> exp.Expression:
        ops = {
            ir.ArithOp.ADD: exp.Add,
            ir.ArithOp.SUB: exp.Sub,
            ir.ArithOp.MUL: exp.Mul,
            ir.ArithOp.DIV: exp.Div,
            ir.ArithOp.MOD: exp.Mod,
        }
        left, right = self.scalar(node.left), self.scalar(node.right)
        if _value_kind(node) == "time":
            left, right = self._as_time(node.left, left), self._as_time(node.right, right)
        elif _value_kind(node.left) == "number" or _value_kind(node.right) == "number":
            left, right = self._as_number(node.left, left), self._as_number(node.right, right)
        return exp.Paren(this=ops[node.op](this=left, expression=right))

    def call(self, node: ir.Call) -> exp.Expression:
        return self.function(node.name, [self.scalar(a) for a in node.args], node)

    def function(self, name: str, args: list[exp.Expression], node: ir.Node) -> exp.Expression:
        if name == "geo_info_from_ip_address":
            return geo_info(self, args, node)
        built = build_function(self, name, args, node)
        if built is not None:
            return built
        if name in SQL_FUNCTIONS and len(args) == 1:
            return SQL_FUNCTIONS[name](this=args[0])
        if name == "coalesce" and args:
            return exp.Coalesce(this=args[0], expressions=args[1:])
        if name == "tostring" and len(args) == 1:
            return self.dialect.to_text(args[0])
        if name in ("toint", "todouble", "tolong", "toreal") and len(args) == 1:
            return self.dialect.to_number(args[0])
        if name == "now" and not args:
            return self.now()
        if name == "ingestion_time" and not args:
            return self.dialect.to_timestamp(exp.column(INGESTION_TIME, quoted=True))
        if name == "ago" and len(args) == 1:
            return exp.Sub(this=self.now(), expression=args[0])
        if name == "datepart" and len(args) == 2 and args[0].is_string:
            return self.datepart(args[0].this.lower(), args[1], node)
        raise self.backend.unsupported(f"the function {name}()", node)

    def datepart(self, part: str, value: exp.Expression, node: ir.Node) -> exp.Expression:
        """The UTC minute/hour/day/week (ISO)/month/year of a time, as text like event fields."""
        if part not in ("minute", "hour", "day", "week", "month", "year"):
            raise self.backend.unsupported(f"the date part {part!r}", node)
        utc = exp.AtTimeZone(this=self.dialect.to_timestamp(value), zone=exp.Literal.string("UTC"))
        number = exp.Extract(this=exp.var(part.upper()), expression=utc)
        return self.dialect.to_text(exp.cast(number, exp.DataType.build("BIGINT")))

    def now(self) -> exp.Expression:
        moment = self.backend.options.now
        return self.literal(moment) if moment is not None else exp.CurrentTimestamp()

    def transformed(self, node: ir.Match) -> exp.Expression:
        """The matched field with its transforms; numeric matches parse the field first."""
        field = self.scalar(node.field)
        if node.kind in ORDERING:
            field = self.dialect.to_number(field)
        for transform in node.transforms:
            args = [field, *(self.scalar(a) for a in transform.args)]
            field = self.function(transform.name, args, node)
        return field

    # ------------------------------------------------------------------ matches

    def match(self, node: ir.Match) -> exp.Expression:
        field = self.transformed(node)
        if node.kind is ir.MatchKind.EXISTS:
            return exp.Not(this=exp.Is(this=field, expression=exp.null()))
        parts = [self.match_value(node, field, v) for v in node.values]
        if not parts:
            raise self.backend.unsupported("a match without values", node)
        return parts[0] if len(parts) == 1 else exp.Paren(this=connect(exp.Or, parts))

    def match_value(
        self, node: ir.Match, field: exp.Expression, value: ir.MatchValue
    ) -> exp.Expression:
        kind = node.kind
        if kind in ORDERING:
            return self.ordering(node, field, value)
        if isinstance(value, ir.FieldRef):
            return self.column_valued(node, field, self.scalar(value))
        if isinstance(value, bool):
            value = bool_text(value)
        if isinstance(value, int | float):
            if kind is not ir.MatchKind.EQ:
                return self._bad(node)
            return exp.EQ(this=field, expression=exp.Literal.string(number_text(value)))
        if kind is ir.MatchKind.EQ:
            return self._eq(field, exp.Literal.string(value), node.case_sensitive)
        if kind in (
            ir.MatchKind.CONTAINS,
            ir.MatchKind.STARTSWITH,
            ir.MatchKind.ENDSWITH,
            ir.MatchKind.WILDCARD,
        ):
            return self._like(field, like_pattern(kind, value), node.case_sensitive)
        if kind is ir.MatchKind.REGEX:
            return self.dialect.regex(field, value, node.case_sensitive, node.flags)
        if kind is ir.MatchKind.HAS:
            return self.dialect.regex(field, has_regex(value), node.case_sensitive, frozenset())
        if kind is ir.MatchKind.CIDR:
            return self.cidr(node, field, value)
        return self._bad(node)

    def column_valued(
        self, node: ir.Match, field: exp.Expression, other: exp.Expression
    ) -> exp.Expression:
        """A match whose value is another column of the row (text compared as text)."""
        if node.kind is ir.MatchKind.EQ:
            return self._eq(field, other, node.case_sensitive)
        template = COLUMN_MATCHES.get(node.kind)
        if template is None:
            return self._bad(node)
        texts = [self.dialect.to_text(e) for e in (field, other)]
        if not node.case_sensitive:
            texts = [exp.Lower(this=e) for e in texts]
        return fill(template, "duckdb", texts)

    def _bad(self, node: ir.Match) -> exp.Expression:
        raise self.backend.unsupported(f"a {node.kind.value} match on these values", node)

    @staticmethod
    def _eq(field: exp.Expression, value: exp.Expression, case_sensitive: bool) -> exp.Expression:
        if case_sensitive:
            return exp.EQ(this=field, expression=value)
        return exp.EQ(this=exp.Lower(this=field), expression=exp.Lower(this=value))

    @staticmethod
    def _like(field: exp.Expression, pattern: str, case_sensitive: bool) -> exp.Expression:
        value: exp.Expression = exp.Literal.string(pattern)
        if not case_sensitive:
            field, value = exp.Lower(this=field), exp.Lower(this=value)
        like = exp.Like(this=field, expression=value)
        return exp.Escape(this=like, expression=exp.Literal.string(LIKE_ESCAPE))

    def ordering(
        self, node: ir.Match, field: exp.Expression, value: ir.MatchValue
    ) -> exp.Expression:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.backend.unsupported(
                f"a {node.kind.value} comparison with a non-number", node
            )
        return ORDERING[node.kind](this=field, expression=self.literal(value))

    def cidr(self, node: ir.Match, field: exp.Expression, value: str) -> exp.Expression:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError as error:
            raise ir.RuleError(
                ir.Diagnostic("sql.bad-cidr", f"not a network: {value!r} ({error})", node.span)
            ) from None
        return cidr_match(self.dialect, field, network)

    def in_pipeline(self, node: ir.InPipeline) -> exp.Expression:
        return pipeline_match(self, node)


def _computes(select: exp.Select) -> bool:
    """Whether a filter on `select` has to read its output from outside: it groups, limits,
    de-duplicates or computes columns (whose names would otherwise read the input's)."""
    if select.args.get("group") or select.args.get("limit") or select.args.get("distinct"):
        return True
    return not all(
        isinstance(e, exp.Column) or (isinstance(e, exp.Star) and not e.args)
        for e in select.expressions
    )


def _is_pipeline(value: object) -> bool:
    return isinstance(value, ir.Pipeline)


TIME_FUNCTIONS = frozenset(
    {"ago", "now", "ingestion_time", "datetime", "todatetime", "bin"}
    | {f"{edge}of{unit}" for edge in ("start", "end") for unit in ("day", "week", "month", "year")}
)


# aggregations whose value is a number whatever they count or add up
NUMERIC_AGGREGATES = frozenset(
    {"count", "countif", "dcount", "dcountif", "count_distinct", "count_distinctif", "sum"}
    | {"sumif", "avg", "avgif", "stdev", "stdevp", "variance", "variancep", "percentile"}
)


def _value_kind(node: ir.Expr) -> str | None:
    """'time' or 'number' when an expression's type is evident from its shape."""
    if isinstance(node, ir.ScalarOf):
        last = node.pipeline.stages[-1] if node.pipeline.stages else None
        measures = last.measures if isinstance(last, ir.Aggregate) and not last.group_by else ()
        agg = measures[0].agg if measures else None
        numeric = isinstance(agg, ir.AggCall) and agg.func in NUMERIC_AGGREGATES
        return "number" if numeric else None
    if isinstance(node, ir.Call) and node.name == "bin":
        timed = _value_kind(node.args[0]) == "time" if node.args else False
        return "time" if timed or any(_is_span(a) for a in node.args[1:]) else None
    if isinstance(node, ir.Call) and node.name in TIME_FUNCTIONS:
        return "time"
    if isinstance(node, ir.Arith) and node.op in (ir.ArithOp.ADD, ir.ArithOp.SUB):
        left, right = node.left, node.right
        if "time" in (_value_kind(left), _value_kind(right)):
            return "time"
        fielded = isinstance(left, ir.FieldRef) or isinstance(right, ir.FieldRef)
        return "time" if fielded and (_is_span(left) or _is_span(right)) else None
    if isinstance(node, ir.Literal):
        if isinstance(node.value, datetime):
            return "time"
        if isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return "number"
    return None


def _is_span(node: ir.Expr) -> bool:
    return isinstance(node, ir.Literal) and isinstance(node.value, timedelta)
