"""KQL for Microsoft Sentinel and Defender XDR.

String operators carry their case sensitivity in their names (`=~`/`==`, `contains`/
`contains_cs`, `in~`/`in`, ...). KQL strings are never null (a missing value is ""), so string
matches are two-valued as they stand; a numeric comparison under `not` is guarded with
`isnotnull`. Wildcard patterns that no string operator expresses become an anchored RE2
`matches regex` (`(?i)` only for case-insensitive matches, `(?s)` so `*` spans newlines).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from rulec.backends.base import Emitted
from rulec.backends.text import (
    C_ESCAPES,
    Prec,
    Quoting,
    Text,
    TextBackend,
    is_ipv6,
    search_regex,
    simple_kind,
)
from rulec.compiler import ir

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
KEYWORDS = frozenset(
    {
        *("and", "or", "not", "in", "has", "contains", "startswith", "endswith", "between"),
        *("where", "project", "extend", "summarize", "by", "join", "on", "let", "as", "kind"),
        *("true", "false", "null", "datetime", "timespan", "dynamic", "typeof", "print", "with"),
    }
)
STRING_OPERATORS = {
    ir.MatchKind.CONTAINS: "contains",
    ir.MatchKind.STARTSWITH: "startswith",
    ir.MatchKind.ENDSWITH: "endswith",
    ir.MatchKind.HAS: "has",
}
THRESHOLDS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}
AGGREGATES = {"dcount": "count_distinct", "count": "count"}
TIMESPAN_UNITS = (("d", 86400_000_000), ("h", 3600_000_000), ("m", 60_000_000), ("s", 1_000_000))
JOIN_KINDS = {kind: kind.value for kind in ir.JoinKind}


class KqlQuoting(Quoting):
    """Regular `"..."` literals; `@"..."` verbatim ones for values with backslashes."""

    def __call__(self, value: str) -> str:
        if "\\" in value and "\n" not in value and "\r" not in value:
            return '@"' + value.replace('"', '""') + '"'
        return super().__call__(value)


class KqlBackend(TextBackend):
    """KQL: the full pipeline language, except sliding windows and correlations (reported)."""

    name = "kql"
    quoting = KqlQuoting(escapes=C_ESCAPES)
    functions = {
        "lower": "tolower",
        "upper": "toupper",
        "coalesce": "coalesce",
        "tostring": "tostring",
        "toint": "toint",
        "todouble": "todouble",
        "strlen": "strlen",
        "concat": "strcat",
        "substring": "substring",
        "ago": "ago",
        "now": "now",
        "ingestion_time": "ingestion_time",
        "isempty": "isempty",
        "isnotempty": "isnotempty",
    }

    # ------------------------------------------------------------------ query and pipeline

    def emit(self, query: ir.Query) -> Emitted:
        statements = [self.param(p) for p in query.params]
        statements += [self.let(let) for let in query.lets]
        statements.append(self.pipeline(query.pipeline))
        return Emitted(self.name, ";\n".join(statements))

    def param(self, param: ir.Param) -> str:
        if param.default is None:
            return f"declare query_parameters({param.name}:{param.type or 'string'})"
        if param.type is None:
            return f"let {param.name} = {self.expr(param.default)}"
        default = self.expr(param.default)
        return f"declare query_parameters({param.name}:{param.type} = {default})"

    def let(self, let: ir.Let) -> str:
        if isinstance(let.value, ir.Pipeline):
            body = self.pipeline(let.value, indent="    ")
            wrapper = "materialize" if let.materialize else ""
            return f"let {let.name} = {wrapper}(\n    {body}\n)"
        return f"let {let.name} = {self.expr(let.value)}"

    def pipeline(self, pipeline: ir.Pipeline, indent: str = "") -> str:
        lines = [self.source(pipeline.source)]
        lines += [f"| {self.stage(stage)}" for stage in pipeline.stages]
        return f"\n{indent}".join(lines)

    def source(self, source: ir.Source) -> str:
        if isinstance(source, ir.Datatable):
            columns = ", ".join(f"{self.field_name(n)}:{t}" for n, t in source.columns)
            cells = ", ".join(self.literal(v, source) for row in source.rows for v in row)
            return f"datatable({columns}) [{cells}]"
        return self.field_name(self.table_name(source))

    def subpipeline(self, pipeline: ir.Pipeline) -> str:
        return f"({self.pipeline(pipeline)})"

    # ------------------------------------------------------------------ stages

    def stage(self, stage: ir.Stage) -> str:
        writer = getattr(self, f"stage_{type(stage).__name__.lower()}", None)
        if writer is None:
            raise self.unsupported(f"the {type(stage).__name__} stage", stage)
        return writer(stage)

    def stage_filter(self, stage: ir.Filter) -> str:
        return f"where {self.expr(stage.predicate)}"

    def assignments(self, assigns: tuple[ir.Assign, ...]) -> str:
        def one(assign: ir.Assign) -> str:
            name = self.field_name(assign.name)
            if isinstance(assign.expr, ir.FieldRef) and assign.expr.name == assign.name:
                return name
            return f"{name} = {self.expr(assign.expr)}"

        return ", ".join(one(a) for a in assigns)

    def stage_extend(self, stage: ir.Extend) -> str:
        return f"extend {self.assignments(stage.assignments)}"

    def stage_project(self, stage: ir.Project) -> str:
        return f"project {self.assignments(stage.columns)}"

    def stage_projectaway(self, stage: ir.ProjectAway) -> str:
        return f"project-away {', '.join(self.field_name(n) for n in stage.names)}"

    def stage_rename(self, stage: ir.Rename) -> str:
        pairs = (f"{self.field_name(new)} = {self.field_name(old)}" for new, old in stage.pairs)
        return f"project-rename {', '.join(pairs)}"

    def stage_sort(self, stage: ir.Sort) -> str:
        keys = (f"{self.expr(k.expr)} {'desc' if k.descending else 'asc'}" for k in stage.keys)
        return f"sort by {', '.join(keys)}"

    def stage_limit(self, stage: ir.Limit) -> str:
        return f"take {stage.count}"

    def stage_distinct(self, stage: ir.Distinct) -> str:
        return f"distinct {', '.join(self.field_name(c) for c in stage.columns) or '*'}"

    def stage_invoke(self, stage: ir.Invoke) -> str:
        return f"invoke {stage.function}({', '.join(self.expr(a) for a in stage.args)})"

    def stage_union(self, stage: ir.Union) -> str:
        return f"union {', '.join(self.subpipeline(p) for p in stage.pipelines)}"

    def stage_join(self, stage: ir.Join) -> str:
        keys = ", ".join(
            self.field_name(left)
            if left == right
            else f"$left.{self.field_name(left)} == $right.{self.field_name(right)}"
            for left, right in stage.keys
        )
        right = self.subpipeline(stage.right)
        return f"join kind={JOIN_KINDS[stage.kind]} {right} on {keys}"

    def stage_aggregate(self, stage: ir.Aggregate) -> str:
        if stage.window is not None and stage.window.kind is ir.WindowKind.SLIDING:
            detail = "summarize groups by fixed keys; a sliding window has no exact form"
            raise self.unsupported("an aggregate over a sliding window", stage, detail)
        measures = ", ".join(
            f"{self.field_name(m.name)} = {self.agg(m.agg)}" for m in stage.measures
        )
        keys = self.assignments(stage.group_by)
        if stage.window is not None:
            time = self.field_name(stage.window.time_field or self.time_field)
            bucket = f"window_start = bin({time}, {self.timespan(stage.window.size, stage)})"
            keys = ", ".join(k for k in (keys, bucket) if k)
        text = f"summarize {measures}" + (f" by {keys}" if keys else "")
        if stage.having is not None:
            text += f"\n| where {self.expr(stage.having)}"
        return text

    def agg(self, call: ir.AggCall) -> str:
        name = AGGREGATES.get(call.func, call.func)
        return f"{name}({'' if call.arg is None else self.expr(call.arg)})"

    # ------------------------------------------------------------------ scalars

    def field_name(self, name: str) -> str:
        if IDENTIFIER.fullmatch(name) and name not in KEYWORDS:
            return name
        return "['" + name.replace("\\", "\\\\").replace("'", "\\'") + "']"

    def render_not(self, node: ir.Not, guarded: bool) -> Text:
        operand = node.operand
        if isinstance(operand, ir.Match) and operand.kind is ir.MatchKind.EXISTS:
            return Text(f"isempty({self.subject(operand).text})")
        return Text(f"not({self.render(operand, True).text})")

    def render_scalarref(self, node: ir.ScalarRef, guarded: bool) -> Text:
        return Text(self.field_name(node.name))

    def render_inpipeline(self, node: ir.InPipeline, guarded: bool) -> Text:
        op = "in" if node.case_sensitive else "in~"
        column = self.render(node.field).text
        return Text(f"{column} {op} {self.subpipeline(node.pipeline)}", Prec.COMPARE)

    def render_compare(self, node: ir.Compare, guarded: bool) -> Text:
        null_test = {ir.CompareOp.EQ: "isempty", ir.CompareOp.NE: "isnotempty"}.get(node.op)
        if null_test and node.right == ir.Literal(None):
            return Text(f"{null_test}({self.render(node.left).text})")
        test = super().render_compare(node, guarded)
        fields = [s for s in (node.left, node.right) if isinstance(s, ir.FieldRef)]
        if not guarded or not fields:
            return test
        present = [f"isnotnull({self.render(f).text})" for f in fields]
        return Text(" and ".join([*present, test.text]), Prec.AND)

    def timespan(self, value: timedelta, node: ir.Node) -> str:
        micros = value // timedelta(microseconds=1)
        for unit, size in TIMESPAN_UNITS:
            if micros % size == 0:
                return f"{micros // size}{unit}"
        return f"{micros}microsecond"

    def datetime(self, value: datetime, node: ir.Node) -> str:
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return f"datetime({value.isoformat()}Z)"

    # ------------------------------------------------------------------ match kinds

    def binary(self, subject: Text, op: str, value: str) -> Text:
        return Text(f"{subject.text} {op} {value}", Prec.COMPARE)

    def match_eq(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        values = [self.value(v, node) for v in node.values]
        strings = any(isinstance(v, str | ir.FieldRef) for v in node.values)
        insensitive = strings and not node.case_sensitive
        if len(values) == 1:
            return self.binary(subject, "=~" if insensitive else "==", values[0])
        return self.binary(subject, "in~" if insensitive else "in", f"({', '.join(values)})")

    def string_operator(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        op = STRING_OPERATORS[node.kind] + ("_cs" if node.case_sensitive else "")
        return self.any_of([self.binary(subject, op, self.value(v, node)) for v in node.values])

    match_contains = string_operator
    match_startswith = string_operator
    match_endswith = string_operator
    match_has = string_operator

    def match_wildcard(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        parts = []
        for pattern in node.values:
            if not isinstance(pattern, ir.Pattern):
                raise self.unsupported("a wildcard match on a value that is not a pattern", node)
            simple = simple_kind(pattern)
            if simple is None:
                parts.append(self.regex(subject, node, search_regex(pattern), {"s"}))
                continue
            kind, text = simple
            one = ir.Match(node.field, kind, (text,), node.case_sensitive, span=node.span)
            writer = self.match_eq if kind is ir.MatchKind.EQ else self.string_operator
            parts.append(writer(one, subject, guarded))
        return self.any_of(parts)

    def regex(self, subject: Text, node: ir.Match, regex: str, flags: set[str]) -> Text:
        letters = "".join(sorted(flags | (set() if node.case_sensitive else {"i"})))
        prefix = f"(?{letters})" if letters else ""
        return self.binary(subject, "matches regex", self.quoting(prefix + regex))

    def match_regex(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        flags = set(node.flags)
        return self.any_of([self.regex(subject, node, str(v), flags) for v in node.values])

    def match_cidr(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        parts = []
        for network in map(str, node.values):
            function = "ipv6_is_in_range" if is_ipv6(network) else "ipv4_is_in_range"
            parts.append(Text(f"{function}({subject.text}, {self.quoting(network)})"))
        return self.any_of(parts)

    def match_exists(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        return Text(f"isnotempty({subject.text})")

    def threshold(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        op = THRESHOLDS[node.kind.value]
        parts = [self.binary(subject, op, self.value(v, node)) for v in node.values]
        test = self.any_of(parts)
        if not guarded:
            return test
        return Text(f"isnotnull({subject.text}) and {self.wrap(test, Prec.NOT)}", Prec.AND)

    match_lt = threshold
    match_le = threshold
    match_gt = threshold
    match_ge = threshold
