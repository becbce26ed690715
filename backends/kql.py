"""KQL for Microsoft Sentinel and Defender XDR.

String operators carry their case sensitivity in their names (`=~`/`==`, `contains`/
`contains_cs`, `in~`/`in`, ...), but fold ASCII letters only: a case-insensitive value with a
non-ASCII letter is matched as `tolower(f) contains_cs "é"` (a `has` term as an RE2 `(?i)`
search). A bool is compared as its text. KQL strings are never null (a missing value is ""), so
string matches are two-valued as they stand, and `exists` on a string column is `isnotempty()`
only under the `empty` approximation (on a column Microsoft documents as another type, or a path
into a dynamic one, a missing value is null: `isnotnull()` is exact); a numeric comparison
under `not` is guarded with `isnotnull`. Control, line
separator and bidi characters in a value are written as `\\uXXXX` escapes. Wildcard patterns
that no string operator expresses become an anchored RE2 `matches regex` (`(?i)` only for
case-insensitive matches, `(?s)` so `*` spans newlines).

A sliding-window aggregate is written exactly (see `sliding_plan`): the rows before it are bound
by a `let`, every event time of a group anchors a window `[t - W, t]` joined back to the rows,
and overlapping windows over the threshold merge into one alert with `prev()`/`row_cumsum()`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rulec.backends import schemas
from rulec.backends.base import Emitted
from rulec.backends.text import (
    C_ESCAPES,
    THRESHOLD_OPS,
    Form,
    Prec,
    Quoting,
    Text,
    TextBackend,
    is_sliding,
    search_regex,
    simple_kind,
    smallest_wins,
)
from rulec.backends.transforms import (
    RULE_COLUMN,
    correlation_aggregate,
    default_conditions,
    one_scan,
)
from rulec.backends.values import (
    DAY,
    HOUR,
    MINUTE,
    SECOND,
    as_text,
    number_text,
)
from rulec.compiler import ir

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TABLE_PATTERN = re.compile(r"[A-Za-z0-9_*]+")
TERM_CHAR = re.compile(r"[A-Za-z0-9]")
KEYWORDS = frozenset(
    {
        *("and", "or", "not", "in", "has", "contains", "startswith", "endswith", "between"),
        *("where", "project", "extend", "summarize", "by", "join", "on", "let", "as", "kind"),
        *("true", "false", "null", "datetime", "timespan", "dynamic", "typeof", "print", "with"),
        *("asc", "desc", "nulls", "first", "last", "to", "step", "from", "of", "limit", "take"),
        *("declare", "set", "alias", "restrict", "access", "title", "xtitle", "ytitle", "legend"),
        *("series", "accumulate", "ysplit", "xcolumn", "ycolumns", "anomalycolumns", "panel"),
        *("bool", "int", "long", "real", "decimal", "string", "guid", "default", "range"),
    }
)
TYPE_NAMES = frozenset({"bool", "boolean", "int", "long", "real", "double", "decimal", "string"})
NUMERIC_TYPES = frozenset({"int", "long", "real", "decimal"})
TYPE_NAMES |= {"guid", "datetime", "date", "timespan", "time", "dynamic"}
STRING_OPERATORS = {
    ir.MatchKind.CONTAINS: "contains",
    ir.MatchKind.STARTSWITH: "startswith",
    ir.MatchKind.ENDSWITH: "endswith",
    ir.MatchKind.HAS: "has",
}
# by case sensitivity: the operator, `_cs` when case-sensitive; `has_any` tests several terms
SUBSTRING_FORMS = {
    kind: {
        sensitive: Form(f"{{subject}} {op}{'_cs' * sensitive} {{value}}")
        for sensitive in (True, False)
    }
    for kind, op in STRING_OPERATORS.items()
}
SUBSTRING_FORMS[ir.MatchKind.HAS][False] = Form(
    "{subject} has {value}", "{subject} has_any ({values})"
)
# InPipeline kind -> operator by case sensitivity
IN_PIPELINE = {
    ir.MatchKind.EQ: {False: "in~", True: "in"},
    ir.MatchKind.HAS: {False: "has_any", True: "has_any_cs"},
}
MICROSECOND = timedelta(microseconds=1)
TIMESPAN_UNITS = (
    ("d", DAY),
    ("h", HOUR),
    ("m", MINUTE),
    ("s", SECOND),
    ("microsecond", MICROSECOND),
)
JOIN_KINDS = {kind: kind.value for kind in ir.JoinKind}
TIME, NEW_RUN, RUN, ALL = "_rulec_t", "_rulec_new", "_rulec_run", "_rulec_all"
CORRELATION_COLUMNS = ("value", "window_start", "window_end")  # what a correlation adds
# rulec's normalised function names whose KQL spelling differs
RENAMED_FUNCTIONS = {
    "lower": "tolower",
    "upper": "toupper",
    "concat": "strcat",
    "datepart": "datetime_part",
}
# KQL's scalar functions that keep their own name in the IR: every built-in (a data file read
# from Kusto.Language) and the few obsolete names a rule's IR may still hold
BUILTIN_FUNCTIONS = Path(__file__).with_name("kql_functions.txt").read_text(encoding="utf-8")
NATIVE_FUNCTIONS = frozenset(
    {
        *(line for line in BUILTIN_FUNCTIONS.splitlines() if line and not line.startswith("#")),
        *("array_sum", "pack", "pack_dictionary", "typeof"),
    }
)
# aggregation functions: the IR names them as KQL does (`dcount` is exact in the IR: see `agg`)
AGGREGATES = frozenset(
    {
        *("count", "countif", "dcount", "dcountif", "count_distinct", "count_distinctif"),
        *("sum", "sumif", "min", "minif", "max", "maxif", "avg", "avgif", "stdev", "stdevif"),
        *("stdevp", "variance", "varianceif", "variancep", "make_set", "make_list", "make_bag"),
        *("make_set_if", "make_list_if", "make_bag_if", "make_list_with_nulls", "take_any"),
        *("take_anyif", "percentile", "hll", "hll_merge", "binary_all_or", "binary_all_and"),
    }
)
ESTIMATED = {"dcount": "count_distinct", "dcountif": "count_distinctif"}
DCOUNT_APPROXIMATION = "dcount"  # Options.approximations: write dcount(), KQL's estimate
EMPTY_APPROXIMATION = "empty"  # Options.approximations: exists as isnotempty()
SKIP = "*"  # a Parse capture that keeps no column
EMPTY = ("", None)  # KQL's empty values: isempty() holds for both
# documented tables whose one column holds the event's text: where keyword searches look there
RAW_TEXT_COLUMNS = {"Syslog": "SyslogMessage"}


# characters a query file never holds raw: controls, line separators, bidi overrides, BOM
HIDDEN = frozenset(
    [chr(c) for c in (*range(0x20), 0x7F, 0x85, 0x2028, 0x2029, 0xFEFF)]
    + [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
)
KQL_ESCAPES = {**{c: f"\\u{ord(c):04x}" for c in HIDDEN}, **C_ESCAPES}


class KqlQuoting(Quoting):
    """Regular `"..."` literals, with `\\uXXXX` for hidden characters; `@"..."` verbatim ones
    for values with backslashes and nothing hidden."""

    def __call__(self, value: str) -> str:
        if "\\" in value and HIDDEN.isdisjoint(value):
            return '@"' + value.replace('"', '""') + '"'
        return super().__call__(value)


class KqlBackend(TextBackend):
    """KQL: the full pipeline language, sliding windows included."""

    name = "kql"
    default_time_field = "TimeGenerated"
    quoting = KqlQuoting(escapes=KQL_ESCAPES)
    null_token = "dynamic(null)"
    guarded_kinds = frozenset(THRESHOLD_OPS)  # a string is never null in KQL
    guards_subject = True
    eq_forms = {
        True: Form("{subject} == {value}", "{subject} in ({values})"),
        False: Form("{subject} =~ {value}", "{subject} in~ ({values})"),
    }
    duration_units = TIMESPAN_UNITS
    threshold_form = Form("{subject} {op} {value}")
    substring_forms = SUBSTRING_FORMS
    regex_forms = dict.fromkeys((True, False), Form("{subject} matches regex {value}"))
    cidr_form = Form("ipv4_is_in_range({subject}, {value})")
    cidr6_form = Form("ipv6_is_in_range({subject}, {value})")
    functions = {**{name: name for name in NATIVE_FUNCTIONS}, **RENAMED_FUNCTIONS}
    preprocess = (one_scan, default_conditions)

    # ------------------------------------------------------------------ query and pipeline

    def emit(self, query: ir.Query) -> Emitted:
        query = self.prepared(query)
        self.hoisted: list[str] = []
        self.notes: dict[str, ir.Diagnostic] = {}
        body = (query.params, query.lets, query.pipeline)  # not the rule's metadata
        nodes = list(ir.find_all(body, (*SOURCES, *NAMING, ir.Correlation)))  # one walk
        tables = {self.table_name(node) for node in nodes if isinstance(node, SOURCES)}
        # a Sigma rule's values and fields are typed and named here, a KQL query's by its author
        self.sigma = query.meta.language == "sigma"
        self.kql_source = query.meta.language == "kql"  # its isnull()/isnotnull() as written
        self.event_time = event_time_column(tables) if self.sigma else self.default_time_field
        self.columns_read = documented_columns(tables, nodes) if self.sigma else None
        correlations = [node for node in nodes if isinstance(node, ir.Correlation)]
        for key in nodes if self.columns_read else ():
            if isinstance(key, ir.Assign) and is_key(key):
                self.render_fieldref(key.expr, False)  # a group-by key is a column too
        for stage in correlations if self.columns_read else ():
            for name in (*stage.group_by, stage.value_field):  # and a correlation's fields
                if name:
                    self.render_fieldref(ir.FieldRef(name, span=stage.span), False)
        for stage in correlations if self.sigma else ():
            self.correlated_columns(stage, query.lets)
        statements = [self.param(p) for p in query.params]
        for let in query.lets:
            statements += self.with_hoisted(self.let(let))
        statements += self.with_hoisted(self.pipeline(query.pipeline))
        return Emitted(self.name, ";\n".join(statements), tuple(self.notes.values()))

    def correlated_columns(self, stage: ir.Correlation, lets: tuple[ir.Let, ...]) -> None:
        """Each field a Sigma correlation groups or counts by is a column of every rule it
        names (Microsoft's documentation), and its rules keep the event time in one column."""
        bound = {let.name: let for let in lets}
        times = set()
        for rule in (bound[name] for name in stage.rules if name in bound):
            tables = {self.table_name(source) for source in sources(rule.value)}
            times.add(event_time_column(tables))
            columns = documented_columns(tables, list(ir.find_all(rule.value, NAMING)))
            for name in (*stage.group_by, stage.value_field) if columns is not None else ():
                if name and name.split(".")[0] not in columns:
                    detail = f"rule '{rule.name}' reads {', '.join(sorted(tables))}, which has no"
                    detail += " such column (Microsoft's documentation)"
                    raise self.unsupported(f"the field {name}", stage, detail)
        if len(times) > 1 and not self.options.time_field:
            what = "a correlation of rules whose tables keep the event time in different columns"
            raise self.unsupported(what, stage, " and ".join(sorted(times)))

    def with_hoisted(self, statement: str) -> list[str]:
        """`statement`, after the lets its rendering hoisted (rows a window plan reads twice)."""
        hoisted, self.hoisted = self.hoisted, []
        return [*hoisted, statement]

    def param(self, param: ir.Param) -> str:
        name = self.column_name(param.name)
        if param.default is None:
            return f"declare query_parameters({name}:{param.type or 'string'})"
        if param.type is None:
            return f"let {name} = {self.expr(param.default)}"
        default = self.expr(param.default)
        return f"declare query_parameters({name}:{param.type} = {default})"

    def let(self, let: ir.Let) -> str:
        name = self.column_name(let.name)
        if isinstance(let.value, ir.Pipeline):
            body = self.pipeline(let.value, indent="    ")
            wrapper = "materialize" if let.materialize else ""
            return f"let {name} = {wrapper}(\n    {body}\n)"
        return f"let {name} = {self.expr(let.value)}"

    def pipeline(self, pipeline: ir.Pipeline, indent: str = "") -> str:
        outer, self.reading = getattr(self, "reading", None), pipeline.source
        try:
            return self.pipeline_lines(pipeline, indent)
        finally:
            self.reading = outer

    def pipeline_lines(self, pipeline: ir.Pipeline, indent: str) -> str:
        lines = self.printed(pipeline)
        stages = pipeline.stages[1:] if lines else pipeline.stages
        united = None if lines else self.united(pipeline)
        if united is not None:
            lines, stages = united
        lines = self.stages(lines or [self.source(pipeline.source)], stages)
        return f"\n{indent}".join(lines)

    def source(self, source: ir.Source) -> str:
        if isinstance(source, ir.Datatable):
            if not source.columns:
                raise self.unsupported("a datatable without columns", source)
            columns = ", ".join(f"{self.column_name(n)}:{t}" for n, t in source.columns)
            cells = ", ".join(self.literal(v, source) for row in source.rows for v in row)
            return f"datatable({columns}) [{cells}]"
        if isinstance(source, ir.Table) and source.scope:
            scope = "".join(f"{name}({self.quoting(value)})." for name, value in source.scope)
            return scope + self.column_name(source.name)
        return self.column_name(self.table_name(source))

    def united(self, pipeline: ir.Pipeline) -> tuple[list[str], tuple[ir.Stage, ...]] | None:
        """`union T*` (a table wildcard, which only `union` reads) or `union withsource=c T`,
        taking in the union stage after the table, and the stages left; None for other sources."""
        source, stages = pipeline.source, pipeline.stages
        union = stages[0] if stages and isinstance(stages[0], ir.Union) else None
        if not isinstance(source, ir.Table) or source.scope:
            return None
        if union is None and source.wildcard:
            return [self.union(ir.Union(()), first=source)], stages
        if union is None:
            return None
        if source.wildcard or not union.pipelines:
            return [self.union(union, first=source)], stages[1:]
        return None

    def table_pattern(self, source: ir.Table) -> str:
        """A table or a table wildcard, as a `union` lists it."""
        if not source.wildcard:
            return self.column_name(source.name)
        if not TABLE_PATTERN.fullmatch(source.name):
            raise self.unsupported(f"the table wildcard {source.name!r}", source)
        return source.name

    def printed(self, pipeline: ir.Pipeline) -> list[str] | None:
        """`print a = x, ...`: one row without columns, extended (what KQL's `print` is)."""
        source, stages = pipeline.source, pipeline.stages
        if not (isinstance(source, ir.Datatable) and source.columns == () and source.rows == ((),)):
            return None
        if not stages or not isinstance(stages[0], ir.Extend):
            raise self.unsupported("a one-row datatable without columns", source)
        return [f"print {self.assignments(stages[0].assignments)}"]

    def subpipeline(self, pipeline: ir.Pipeline) -> str:
        return f"({self.pipeline(pipeline)})"

    # ------------------------------------------------------------------ stages

    def stage_filter(self, stage: ir.Filter, lines: list) -> list:
        if self.options.raw_field is None and mentions_raw_text(stage.predicate):
            search = self.search(stage.predicate)
            if search is not None:
                return [*lines, "| " + search]
            table = self.without_raw_text()
            if table is not None:
                detail = f"`search` cannot say these terms and the documented table {table} has no "
                detail += f"column {self.raw_field} holding the whole event"
                raise self.unsupported("a keyword search", stage, detail)
        return [*lines, f"| where {self.expr(stage.predicate)}"]

    @property
    def time_field(self) -> str:
        """The user's event-time field, else the one the tables read are documented with."""
        return self.options.time_field or getattr(self, "event_time", self.default_time_field)

    @property
    def raw_field(self) -> str:
        """The user's raw-text field, else the text column of the table read, else `_raw`."""
        table = None if self.options.raw_field else self.documented_table()
        return RAW_TEXT_COLUMNS.get(table or "") or super().raw_field

    def without_raw_text(self) -> str | None:
        """The table being read when Microsoft documents it without the raw-text column."""
        table = self.documented_table()
        columns = None if table is None else schemas.known_columns(table)
        return table if columns is not None and self.raw_field not in columns else None

    def table_name(self, source: ir.Source) -> str:
        """A table by its name: KQL writes wildcards and other workspaces' tables itself."""
        return source.name if isinstance(source, ir.Table) else super().table_name(source)

    def documented_table(self) -> str | None:
        """The named table (or mapped log source) the current pipeline reads, if any."""
        source = getattr(self, "reading", None)
        return self.table_name(source) if isinstance(source, ir.LogSource | ir.Table) else None

    def documented_type(self, node: ir.Expr) -> str | None:
        """The type Microsoft documents for the column a Sigma rule's `node` reads (`dynamic` for
        a path into a dynamic column), None when it documents none."""
        table = self.documented_table() if getattr(self, "sigma", False) else None
        types = None if table is None else schemas.known_types(table)
        if types is None or not isinstance(node, ir.FieldRef):
            return None
        head, dot, _ = node.name.partition(".")
        kql_type = types.get(head) if dot else types.get(node.name)
        if dot and table is not None and head in schemas.json_text_columns(table):
            return "dynamic"  # a path into the JSON document the column holds
        return kql_type if not dot or kql_type == "dynamic" else None

    def typed(self, node: ir.Expr) -> bool:
        """Whether `node` reads a column Microsoft documents as not a string (or a path into a
        dynamic one): there a missing value is null, and `isnull()` / `isnotnull()` are exact."""
        return self.documented_type(node) not in (None, "string")

    def search(self, predicate: ir.Expr) -> str | None:
        """`search "term" and ...`: KQL's search over every column of the row, which is what
        `RawText` (the whole event as text) means; None when a term has no search form."""
        matches = raw_matches(predicate)
        senses = {m.case_sensitive for m in matches}
        if len(senses) != 1 or not all(self.search_term(m) for m in matches):
            return None
        if True in senses:
            if not isinstance(predicate, ir.Match):
                return None  # a case-sensitive search takes terms only
            return f"search kind=case_sensitive {self.search_term(predicate)}"
        self.searching = True
        try:
            return f"search {self.expr(predicate)}"
        finally:
            self.searching = False

    def search_term(self, node: ir.Match) -> str | None:
        """The search string for a term (`has`) or a substring (`*x*`) match, else None."""
        if len(node.values) != 1 or node.transforms or not isinstance(node.values[0], str):
            return None
        value = node.values[0]
        if "*" in value or not value:
            return None
        if node.kind is ir.MatchKind.HAS:
            return self.quoting(value)
        if node.kind is ir.MatchKind.CONTAINS:
            return self.quoting(f"*{value}*")
        return None

    def render_match(self, node: ir.Match, guarded: bool) -> Text:
        if getattr(self, "searching", False) and isinstance(node.field, ir.RawText):
            term = self.search_term(node)
            assert term is not None
            return Text(term)
        return super().render_match(node, guarded)

    def assignments(self, assigns: tuple[ir.Assign, ...]) -> str:
        return ", ".join(self.named(a) for a in assigns)

    def named(self, assign: ir.Assign, always: bool = False) -> str:
        """`name = expr`, or the bare column when it keeps its own name."""
        name = self.column_name(assign.name)
        if isinstance(assign.expr, ir.FieldRef) and assign.expr.name == assign.name:
            return name
        return f"{name} = {self.expr(assign.expr)}"

    def stage_extend(self, stage: ir.Extend, lines: list) -> list:
        return [*lines, f"| extend {self.assignments(stage.assignments)}"]

    def stage_project(self, stage: ir.Project, lines: list) -> list:
        return [*lines, f"| project {self.assignments(stage.columns)}"]

    def stage_projectaway(self, stage: ir.ProjectAway, lines: list) -> list:
        return [*lines, f"| project-away {', '.join(self.column_name(n) for n in stage.names)}"]

    def stage_rename(self, stage: ir.Rename, lines: list) -> list:
        pairs = (f"{self.column_name(new)} = {self.column_name(old)}" for new, old in stage.pairs)
        return [*lines, f"| project-rename {', '.join(pairs)}"]

    def stage_sort(self, stage: ir.Sort, lines: list) -> list:
        keys = (f"{self.expr(k.expr)} {'desc' if k.descending else 'asc'}" for k in stage.keys)
        return [*lines, f"| sort by {', '.join(keys)}"]

    def stage_limit(self, stage: ir.Limit, lines: list) -> list:
        return [*lines, f"| take {stage.count}"]

    def stage_distinct(self, stage: ir.Distinct, lines: list) -> list:
        columns = ", ".join(self.column_name(c) for c in stage.columns) or "*"
        return [*lines, f"| distinct {columns}"]

    def stage_invoke(self, stage: ir.Invoke, lines: list) -> list:
        args = ", ".join(self.expr(a) for a in stage.args)
        return [*lines, f"| invoke {stage.function}({args})"]

    def stage_union(self, stage: ir.Union, lines: list) -> list:
        return [*lines, f"| {self.union(stage)}"]

    def union(self, stage: ir.Union, first: ir.Table | None = None) -> str:
        source = stage.source_column
        option = "" if source is None else f"withsource={self.column_name(source)} "
        items = [self.table_pattern(first)] if first is not None else []
        for pipeline in stage.pipelines:
            wildcard = isinstance(pipeline.source, ir.Table) and pipeline.source.wildcard
            if wildcard and not pipeline.stages:
                items.append(self.table_pattern(pipeline.source))  # type: ignore[arg-type]
            else:
                items.append(self.subpipeline(pipeline))
        return f"union {option}{', '.join(items)}"

    def stage_mvexpand(self, stage: ir.MvExpand, lines: list) -> list:
        columns = ", ".join(self.named(a, always=True) for a in stage.columns)
        limit = "" if stage.limit is None else f" limit {stage.limit}"
        return [*lines, f"| mv-expand {columns}{limit}"]

    def stage_parse(self, stage: ir.Parse, lines: list) -> list:
        operator = "parse" if stage.keep_unmatched else "parse-where"
        kind = "" if stage.kind == "simple" else f"kind={stage.kind} "
        source = self.wrap(self.render(stage.source), Prec.COMPARE)
        parts = []
        for part in stage.parts:
            if isinstance(part, str):
                parts.append(self.quoting(part))
            elif part[0] == SKIP:
                parts.append(SKIP)
            else:
                name, type_name = part
                typed = "" if type_name is None else f":{type_name}"
                parts.append(self.column_name(name) + typed)
        return [*lines, f"| {operator} {kind}{source} with {' '.join(parts)}"]

    def stage_join(self, stage: ir.Join, lines: list) -> list:
        keys = ", ".join(
            self.column_name(left)
            if left == right
            else f"$left.{self.column_name(left)} == $right.{self.column_name(right)}"
            for left, right in stage.keys
        )
        right = self.subpipeline(stage.right)
        return [*lines, f"| join kind={JOIN_KINDS[stage.kind]} {right} on {keys}"]

    def stage_aggregate(self, stage: ir.Aggregate, lines: list) -> list:
        if is_sliding(stage) and lines:
            return self.sliding_plan(lines, stage)
        if is_sliding(stage):  # in an mv-apply sub-query, which has no rows to plan over
            detail = "summarize groups by fixed keys; a sliding window has no exact form"
            raise self.unsupported("an aggregate over a sliding window", stage, detail)
        self.no_path_keys(stage, "an aggregate grouped by a path")
        measures = ", ".join(self.measure(m) for m in stage.measures)
        keys = self.assignments(stage.group_by)
        if stage.window is not None:
            time = self.field_name(stage.window.time_field or self.time_field)
            bucket = f"window_start = bin({time}, {self.timespan(stage.window.size, stage)})"
            keys = ", ".join(k for k in (keys, bucket) if k)
        text = "summarize" + (f" {measures}" if measures else "") + (f" by {keys}" if keys else "")
        if stage.having is not None:
            text += f"\n| where {self.expr(stage.having)}"
        return [*lines, "| " + text]

    def stage_extendseveral(self, stage: ir.ExtendSeveral, lines: list) -> list:
        names = ", ".join(self.column_name(name) for name in stage.names)
        return [*lines, f"| extend ({names}) = {self.expr(stage.expr)}"]

    def stage_mvapply(self, stage: ir.MvApply, lines: list) -> list:
        if stage.apply.source != ir.PipelineRef(ir.MV_APPLY) or not stage.apply.stages:
            raise self.unsupported("an mv-apply sub-query that does not read its rows", stage)
        index = "" if stage.item_index is None else f"with_itemindex={stage.item_index} "
        columns = ", ".join(self.named(a, always=True) for a in stage.columns)
        limit = "" if stage.limit is None else f" limit {stage.limit}"
        rows = " ".join(self.stages([], stage.apply.stages)).removeprefix("| ")
        return [*lines, f"| mv-apply {index}{columns}{limit} on ({rows})"]

    def stage_evaluate(self, stage: ir.Evaluate, lines: list) -> list:
        args = [self.plugin_argument(a) for a in stage.args]
        args += [f"{self.column_name(o.name)}={self.expr(o.expr)}" for o in stage.options]
        text = f"evaluate {stage.plugin}({', '.join(args)})"
        if stage.schema:
            schema = ["*" if n == "*" else f"{self.column_name(n)}:{t}" for n, t in stage.schema]
            text += f" : ({', '.join(schema)})"
        return [*lines, f"| {text}"]

    def plugin_argument(self, arg: ir.Expr | ir.AggCall | ir.Pipeline) -> str:
        if isinstance(arg, ir.Pipeline):
            return self.subpipeline(arg)
        return self.agg(arg) if isinstance(arg, ir.AggCall) else self.expr(arg)

    def stage_serialize(self, stage: ir.Serialize, lines: list) -> list:
        return [*lines, "| " + " ".join(("serialize", self.assignments(stage.columns))).rstrip()]

    def stage_makeseries(self, stage: ir.MakeSeries, lines: list) -> list:
        measures = []
        for measure, default in zip(stage.measures, stage.defaults, strict=True):
            text = self.measure(measure)
            func = getattr(measure.agg, "func", "")
            if func in ESTIMATED and DCOUNT_APPROXIMATION not in self.options.approximations:
                detail = "make-series has dcount(), KQL's estimate, and no count_distinct()"
                raise self.unsupported("an exact distinct count in make-series", measure, detail)
            measures.append(text if default is None else f"{text} default = {self.expr(default)}")
        text = f"make-series {', '.join(measures)} on {self.column_name(stage.axis)}"
        for word, bound in (("from", stage.start), ("to", stage.end), ("step", stage.step)):
            text += "" if bound is None else f" {word} {self.expr(bound)}"
        keys = self.assignments(stage.group_by)
        return [*lines, "| " + text + (f" by {keys}" if keys else "")]

    def no_path_keys(self, stage: ir.Aggregate, construct: str) -> None:
        """Group-by keys are columns: a path into a dynamic value is no key (KQL wants it cast
        to text, where a missing field and an empty one become one group)."""
        paths = [a.name for a in stage.group_by if is_key(a) and "." in a.name]
        if paths:
            detail = f"the group-by field {paths[0]} is a path into a dynamic column"
            raise self.unsupported(construct, stage, detail)

    def stage_correlation(self, stage: ir.Correlation, lines: list) -> list:
        """The sliding window over the rows of the rules it names (not the rows so far)."""
        return self.sliding_plan(self.correlated(stage), self.correlation(stage))

    def correlation(self, stage: ir.Correlation) -> ir.Aggregate:
        aggregate = correlation_aggregate(stage)
        if aggregate is None:
            detail = "only counting correlations have a sliding-window form here"
            raise self.unsupported(f"a {stage.kind.value} correlation", stage, detail)
        if stage.value_field and "." in stage.value_field:
            detail = f"the field {stage.value_field} is a path into a dynamic column"
            raise self.unsupported("a correlation measuring a path", stage, detail)
        return aggregate

    def correlated(self, stage: ir.Correlation) -> list[str]:
        """The rows of every rule a correlation names, each tagged with its rule."""
        tagged = [
            f"{self.column_name(rule)} | extend {RULE_COLUMN} = {self.quoting(rule)}"
            for rule in stage.rules
        ]
        if len(tagged) == 1:
            return tagged
        return [f"union {', '.join(f'({t})' for t in tagged)}"]

    def sliding_plan(self, lines: list[str], stage: ir.Aggregate) -> list[str]:
        """Alert rows of a sliding-window aggregate over the rows `lines` produce.

        Windows `[t - W, t]` end at each event time t of a group (both ends inclusive, as
        `between` is); windows where `having` holds and that overlap merge into one alert with
        the group key, `window_start`, `window_end` and the run's largest (for `<`/`<=`
        conditions smallest) measure. Fixed `bin()` buckets would miss bursts across an edge.
        """
        window = stage.window
        assert window is not None
        time = self.field_name(window.time_field or self.time_field)
        width = self.timespan(window.size, stage)
        self.no_path_keys(stage, "a sliding window grouped by a path")
        keys = [self.column_name(a.name) for a in stage.group_by] or [ALL]
        computed = [a for a in stage.group_by if a.expr != ir.FieldRef(a.name)]
        rows = f"_rulec_rows{len(self.hoisted) + 1}"
        prepare = [f"| extend {self.assignments(tuple(computed))}"] if computed else []
        prepare += [f"| extend {ALL} = 1"] if keys == [ALL] else []
        prepare += [f"| extend {TIME} = todatetime({time})", f"| where isnotnull({TIME})"]
        self.hoisted.append(f"let {rows} = " + "\n".join([*lines, *prepare]))
        measures = ", ".join(self.measure(m) for m in stage.measures)
        pick = "min" if smallest_wins(stage.having) else "max"
        names = [self.column_name(m.name) for m in stage.measures]
        picked = ", ".join(f"{name} = {pick}({name})" for name in names)
        same_group = " and ".join(f"prev({k}) == {k}" for k in keys)
        out_keys = ", ".join(keys)
        return [
            rows,
            f"| summarize by {out_keys}, window_end = {TIME}",
            f"| join kind=inner ({rows}) on {out_keys}",
            f"| where {TIME} between ((window_end - {width}) .. window_end)",
            f"| summarize {measures} by {out_keys}, window_end",
            *([f"| where {self.expr(stage.having)}"] if stage.having is not None else []),
            f"| sort by {', '.join(f'{k} asc' for k in keys)}, window_end asc",
            f"| extend {NEW_RUN} = iff({same_group} and prev(window_end) >= window_end - {width},"
            " 0, 1)",
            f"| extend {RUN} = row_cumsum({NEW_RUN})",
            f"| summarize window_start = min(window_end) - {width}, window_end = max(window_end),"
            f" {picked} by {out_keys}, {RUN}",
            f"| project-away {RUN}" + (f", {ALL}" if keys == [ALL] else ""),
        ]

    def measure(self, measure: ir.Measure) -> str:
        agg = measure.agg
        if isinstance(agg, ir.ArgExtreme):
            columns = ", ".join(self.column_name(c) for c in agg.columns) or "*"
            text = f"{agg.func}({self.expr(agg.by)}, {columns})"
            if agg.by == ir.FieldRef(measure.name):
                return text
        else:
            text = self.agg(agg)
        return f"{self.column_name(measure.name)} = {text}"

    def agg(self, call: ir.AggCall) -> str:
        if call.func not in AGGREGATES:
            raise self.unsupported(f"the aggregation {call.func}()", call)
        name = call.func
        if name in ESTIMATED:
            if call.arg is not None and self.documented_type(call.arg) == "dynamic":
                detail = "KQL counts no distinct values of a dynamic column's path"
                raise self.unsupported(f"{name}() of a path into a dynamic column", call, detail)
            name = self.distinct_count(call)
        args = ([] if call.arg is None else [call.arg]) + list(call.args)
        return f"{name}({', '.join(self.expr(a) for a in args)})"

    def distinct_count(self, call: ir.AggCall) -> str:
        """`count_distinct` counts exactly, as the IR does; `dcount` (KQL's HyperLogLog
        estimate, cheaper and what most KQL is written with) only when the user allows it."""
        if DCOUNT_APPROXIMATION not in self.options.approximations:
            return ESTIMATED[call.func]
        message = f"{call.func}() estimates the number of distinct values (error about 1%)"
        note = ir.Diagnostic("approximation", message, call.span, "note", self.name)
        self.notes.setdefault(call.func, note)
        return call.func

    # ------------------------------------------------------------------ scalars

    def column_name(self, name: str) -> str:
        """A name that a column is given (never a path into a dynamic value)."""
        if IDENTIFIER.fullmatch(name) and name not in KEYWORDS:
            return name
        return "['" + name.replace("\\", "\\\\").replace("'", "\\'") + "']"

    def render_fieldref(self, node: ir.FieldRef, guarded: bool) -> Text:
        """A field; in a Sigma rule over documented tables, one of their columns."""
        columns = getattr(self, "columns_read", None)
        head = node.name.split(".")[0]
        if columns is not None and head not in columns and not head.startswith("_rulec"):
            detail = "no table the rule reads has this column (Microsoft's documentation)"
            raise self.unsupported(f"the field {node.name}", node, detail)
        return super().render_fieldref(node, guarded)

    def field_name(self, name: str) -> str:
        """A column, or the path `a.b.c` into a dynamic column (how nested events read), or
        into the JSON document a string column holds (`parse_json(a).b.c`)."""
        segments = name.split(".")
        if "" in segments:
            return self.column_name(name)
        head, *rest = segments
        path = [self.column_name(head)]
        table = self.documented_table() if rest and getattr(self, "sigma", False) else None
        if table is not None and head in schemas.json_text_columns(table):
            path = [f"parse_json({path[0]})"]
        for segment in rest:
            quoted = self.column_name(segment)
            path.append(f"[{quoted[1:-1]}]" if quoted.startswith("[") else f".{quoted}")
        return "".join(path)

    def render_not(self, node: ir.Not, guarded: bool) -> Text:
        operand = node.operand
        if isinstance(operand, ir.Match) and operand.kind is ir.MatchKind.EXISTS:
            if self.typed(operand.field) or self.kql_source:
                return Text(f"isnull({self.subject(operand).text})")
            self.allow_empty(operand)
            return Text(f"isempty({self.subject(operand).text})")
        subject = not_empty_subject(operand)
        if subject is not None:
            return Text(f"isempty({self.expr(subject)})")
        if (
            getattr(self, "searching", False)
            and isinstance(operand, ir.Match)
            and isinstance(operand.field, ir.RawText)
        ):
            # a negated term is a predicate over every column: `not("x")` takes no string
            op = "has" if operand.kind is ir.MatchKind.HAS else "contains"
            return Text(f"not(* {op} {self.quoting(operand.values[0])})")
        return Text(f"not({self.render(operand, True).text})")

    def render_and(self, node: ir.And, guarded: bool) -> Text:
        """`isnotempty(x)` for each adjacent pair (x present, x != ""), the rest as they are."""
        parts: list[Text] = []
        operands = list(node.operands)
        while operands:
            pair = ir.And(tuple(operands[:2]))
            subject = not_empty_subject(pair)
            if subject is not None:
                parts.append(Text(f"isnotempty({self.expr(subject)})"))
                del operands[:2]
            else:
                parts.append(self.render(operands.pop(0), guarded))
        return self.join(parts, self.and_token, Prec.AND)

    def render_call(self, node: ir.Call, guarded: bool) -> Text:
        if node.name == "typeof" and [type(a) for a in node.args] == [ir.FieldRef]:
            type_name = node.args[0].name  # type: ignore[union-attr]
            if type_name in TYPE_NAMES:
                return Text(f"typeof({type_name})")
        if node.name == "index" and len(node.args) == 2:
            value, key = node.args
            return Text(f"{self.wrap(self.render(value), Prec.ATOM)}[{self.expr(key)}]")
        return super().render_call(node, guarded)

    def render_scalarof(self, node: ir.ScalarOf, guarded: bool) -> Text:
        return Text(f"toscalar({self.pipeline(node.pipeline)})")

    def render_scalarref(self, node: ir.ScalarRef, guarded: bool) -> Text:
        return Text(self.column_name(node.name))

    def render_inpipeline(self, node: ir.InPipeline, guarded: bool) -> Text:
        if node.kind not in IN_PIPELINE:
            raise self.unsupported(f"a '{node.kind.value}' match against a table", node)
        op = IN_PIPELINE[node.kind][node.case_sensitive]
        column = self.render(node.field).text
        values = node.pipeline
        if isinstance(values.source, ir.Table) and not values.stages:
            # `f in (T)` would compare with a column T: `table()` names the table
            return Text(f"{column} {op} (table({self.quoting(values.source.name)}))", Prec.COMPARE)
        return Text(f"{column} {op} {self.subpipeline(values)}", Prec.COMPARE)

    def render_compare(self, node: ir.Compare, guarded: bool) -> Text:
        null_test = {ir.CompareOp.EQ: "isempty", ir.CompareOp.NE: "isnotempty"}.get(node.op)
        if null_test and node.right == ir.Literal(None):
            if self.typed(node.left):
                null_test = null_test.replace("empty", "null")
            return Text(f"{null_test}({self.render(node.left).text})")
        return super().render_compare(node, guarded)

    def timespan(self, value: timedelta, node: ir.Node) -> str:
        return self.duration(value)

    def datetime(self, value: datetime, node: ir.Node) -> str:
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return f"datetime({value.isoformat()}Z)"

    # ------------------------------------------------------------------ match kinds

    def binary(self, subject: Text, op: str, value: str) -> Text:
        return Text(f"{subject.text} {op} {value}", Prec.COMPARE)

    def match_eq(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        """A bool is compared as its text `true`/`false`, as the reference compares it, and so
        is a number on a column Microsoft documents as a string; a text on a numeric column is
        the number it writes (`0x3e7`), and `true` / `false` on a bool column its bool."""
        texts = tuple(as_text(v) for v in node.values)
        kql_type = self.documented_type(node.field)
        if kql_type == "string":  # a number compared as its text
            texts = tuple(number_text(v) if isinstance(v, int | float) else v for v in texts)
        elif kql_type in NUMERIC_TYPES:  # a text compared as the number it writes
            texts = tuple(self.as_number(v, node) if isinstance(v, str) else v for v in texts)
        elif kql_type == "bool":  # `true` / `false` compared as the bool it writes
            texts = tuple(self.as_bool(v, node) if isinstance(v, str) else v for v in texts)
        if texts != node.values:
            node = ir.Match(node.field, node.kind, texts, node.case_sensitive, span=node.span)
        if not node.case_sensitive and needs_full_fold(node.values):
            return self.lowered(node, subject, self.eq_forms[True])
        values = [self.value(v, node) for v in node.values]
        strings = any(isinstance(v, str | ir.FieldRef) for v in node.values)
        insensitive = strings and not node.case_sensitive
        form = self.eq_forms[not insensitive]
        if len(values) == 1 and node.case_sensitive and not strings:  # `f in (4)`
            assert form.many is not None
            return self.formed(form.many, subject=subject.text, values=values[0])
        return self.form(form, subject, values)

    def as_number(self, text: str, node: ir.Match) -> int:
        """A decimal or `0x` hexadecimal text as its number, for a numeric column."""
        try:
            return int(text, 0)
        except ValueError:
            detail = "Microsoft documents the column as a number"
            error = self.unsupported("a text that is no number on a numeric column", node, detail)
            raise error from None

    def as_bool(self, text: str, node: ir.Match) -> bool:
        """The text `true` or `false` (any letter case) as its bool, for a bool column."""
        if text.lower() not in ("true", "false"):
            detail = "Microsoft documents the column as a bool"
            raise self.unsupported("a text that is no bool on a bool column", node, detail)
        return text.lower() == "true"

    def lowered(self, node: ir.Match, subject: Text, form: Form) -> Text:
        """`tolower(f) op "v"`: the IR's fold of every letter, where KQL's `=~`, `contains`,
        ... fold ASCII letters only (values are lowered here as the reference lowers them)."""
        lowered = Text(f"tolower({subject.text})")
        values = [self.quoting(fold_lower(v)) for v in node.values if isinstance(v, str)]
        if len(values) != len(node.values):
            raise self.unsupported(f"a case-insensitive {node.kind.value} on these values", node)
        return self.form(form, lowered, values)

    def substring(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        """A case-insensitive value with a non-ASCII letter: the case-sensitive operator on
        both lowered (a `has` term as a regex search); otherwise the operator's form."""
        if node.case_sensitive or not needs_full_fold(node.values):
            return super().substring(node, subject, guarded)
        if node.kind is not ir.MatchKind.HAS:
            return self.lowered(node, subject, self.substring_forms[node.kind][True])
        terms = [v for v in node.values if isinstance(v, str) and v]
        if len(terms) != len(node.values):
            raise self.unsupported("a has match on these values", node)
        return self.regex_test(subject, node, [term_regex(t) for t in terms], set())

    match_contains = substring
    match_startswith = substring
    match_endswith = substring
    match_has = substring

    def match_wildcard(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        parts = []
        for pattern in node.values:
            if not isinstance(pattern, ir.Pattern):
                raise self.unsupported("a wildcard match on a value that is not a pattern", node)
            simple = simple_kind(pattern)
            if simple is None and not node.case_sensitive and needs_full_fold(pattern.parts):
                lowered = ir.Pattern(tuple(fold_lower(p) if isinstance(p, str) else p
                                           for p in pattern.parts))  # fmt: skip
                regex = self.quoting("(?s)" + search_regex(lowered))
                parts.append(self.binary(Text(f"tolower({subject.text})"), "matches regex", regex))
                continue
            if simple is None:
                parts.append(self.wildcards(node, subject, [pattern], guarded))
                continue
            kind, text = simple
            one = ir.Match(node.field, kind, (text,), node.case_sensitive, span=node.span)
            writer = self.match_eq if kind is ir.MatchKind.EQ else self.substring
            parts.append(writer(one, subject, guarded))
        return self.any_of(parts)

    def match_exists(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        """A KQL query's own `isnotnull(x)` is written back as it is (its `isnotempty(x)` is an
        exists and a non-empty test, written by `render_and`)."""
        if self.kql_source:
            return Text(f"isnotnull({subject.text})")
        if self.typed(node.field):
            return super().match_exists(node, subject, guarded)
        self.allow_empty(node)
        return Text(f"isnotempty({subject.text})")

    def allow_empty(self, node: ir.Match) -> None:
        """A missing string is "" in KQL, so `exists` is `isnotempty()` (and its negation
        `isempty()`), which take a present "" for missing: written only when the user allows
        the `empty` approximation."""
        if EMPTY_APPROXIMATION not in self.options.approximations:
            detail = 'a missing string is "" in KQL, so isempty() and isnotempty() take a '
            detail += f"present \"\" for missing; allow the '{EMPTY_APPROXIMATION}' approximation"
            raise self.unsupported("a test whether a field exists", node, detail)
        message = 'exists is written isnotempty(): a present "" counts as missing (allowed: empty)'
        note = ir.Diagnostic("approximation", message, node.span, "warning", self.name)
        self.notes.setdefault(EMPTY_APPROXIMATION, note)


SOURCES = (ir.LogSource, ir.Table)  # the nodes naming what a query reads
NAMING = (ir.Measure, ir.Assign)  # the nodes naming the columns a query computes


def sources(node: object) -> Iterator[ir.LogSource | ir.Table]:
    """Every named table and log source in an IR node."""
    return ir.find_all(node, SOURCES)


def event_time_column(tables: set[str]) -> str:
    """`Timestamp` when Microsoft documents every table read with it and without
    `TimeGenerated` (Defender XDR's tables), else `TimeGenerated`."""
    documented = [schemas.known_columns(table) or () for table in tables]
    defender = all("Timestamp" in c and "TimeGenerated" not in c for c in documented)
    return "Timestamp" if tables and defender else KqlBackend.default_time_field


def documented_columns(tables: set[str], nodes: list[object]) -> frozenset[str] | None:
    """The columns a query over `tables` may read when Microsoft documents every one of them:
    theirs, and those the query itself names (its measures and assignments among `nodes`, the
    query's nodes); None when a table is not documented."""
    documented = [schemas.known_columns(table) for table in tables]
    if not tables or any(columns is None for columns in documented):
        return None
    named = {node.name for node in nodes if isinstance(node, ir.Measure)}
    named |= {n.name for n in nodes if isinstance(n, ir.Assign) and not is_key(n)}
    return frozenset().union(*documented, named, CORRELATION_COLUMNS)


def is_key(assign: ir.Assign) -> bool:
    """Whether `assign` keeps a column under its own name (a group-by key)."""
    return isinstance(assign.expr, ir.FieldRef) and assign.expr.name == assign.name


def needs_full_fold(values: tuple[object, ...]) -> bool:
    """Whether a text among `values` has a non-ASCII letter with a case, which KQL's
    case-insensitive operators do not fold."""
    return any(
        isinstance(v, str)
        and not v.isascii()
        and any(not c.isascii() and c.lower() != c.upper() for c in v)
        for v in values
    )


def fold_lower(text: str) -> str:
    """The reference's lower case: each character's simple lower-case mapping (İ gives i)."""
    return "".join(c.lower()[0] for c in text)


def term_regex(term: str) -> str:
    """KQL `has` as an RE2 search: the term bounded on its ASCII-alphanumeric ends."""
    left = "(^|[^A-Za-z0-9])" if TERM_CHAR.fullmatch(term[0]) else ""
    right = "($|[^A-Za-z0-9])" if TERM_CHAR.fullmatch(term[-1]) else ""
    return f"{left}{re.escape(term)}{right}"


def not_empty_subject(node: ir.Expr) -> ir.Expr | None:
    """`x` when `node` is `x` present and not "" (what `isnotempty(x)` means), else None."""
    if not (isinstance(node, ir.And) and len(node.operands) == 2):
        return None
    exists, negated = node.operands
    if not (isinstance(exists, ir.Match) and exists.kind is ir.MatchKind.EXISTS):
        return None
    blank = ir.Match(exists.field, ir.MatchKind.EQ, ("",), True)
    return exists.field if negated == ir.Not(blank) and not exists.transforms else None


def raw_matches(node: ir.Expr) -> list[ir.Match]:
    """The matches against the whole event (`RawText`) in `node`'s and/or/not structure."""
    if isinstance(node, ir.And | ir.Or):
        return [m for operand in node.operands for m in raw_matches(operand)]
    if isinstance(node, ir.Not):
        return raw_matches(node.operand)
    if isinstance(node, ir.Match) and isinstance(node.field, ir.RawText):
        return [node]
    return []


def mentions_raw_text(node: object) -> bool:
    if isinstance(node, ir.RawText):
        return True
    if isinstance(node, tuple):
        return any(mentions_raw_text(item) for item in node)
    if isinstance(node, ir.Node):
        return any(mentions_raw_text(getattr(node, f)) for f in node.__dataclass_fields__)
    return False
