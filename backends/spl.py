"""Splunk SPL: `search` terms where they are exact, `| where` with eval functions elsewhere.

Splunk's search matches `field="value"` case-insensitively and always reads `*` as a wildcard;
it has no single-character wildcard. So a filter's conjuncts go to `search` when every match in
them is case-insensitive and free of literal `*` and of `?` wildcards, and to `| where` (with
`match()`, `cidrmatch()`, `lower()`) otherwise. Search's `NOT` is two-valued (events without
the field match `NOT f="x"`); in `where` a match under `NOT` is guarded with `isnotnull`.

A sliding-window aggregate uses `streamstats time_window=` over events in time order: each event
ends a window over the span before it; windows over the threshold that overlap merge into one
alert (`streamstats` numbers the runs, `stats` reports each run with `window_start`/`window_end`).
Splunk's `dc()` counts distinct values exactly. The streamstats that finds the previous alert
of a group runs with `global=f`, so its one-event window is per group, not over all events.

`stats` and `streamstats` leave out events lacking a `by` field, while the reference keeps them
as one group whose key is null. So each key is encoded first, `g=if(isnull(g), "0", "1".g)`
("0" for a missing key, "1" before any value, so no value meets the "0"), grouped on, and decoded
after, `g=if(g=="0", null(), substr(g, 2))`. A measure that reads a key cannot run on the
encoded text and is reported.

Event fields are text: a boolean rule value is matched as the text "true"/"false", and `sort`
collates fields with `str()` (Splunk would sort numeric-looking text as numbers) and only
computed numbers (measures, arithmetic) as numbers; Splunk's sort puts missing values last, so a
key whose nulls come first is led by a helper key. `bin` and `time_window` read `_time`; a
window over another time field reads it with `strptime` only when the user allows the
approximation (one format, where the reference casts any ISO 8601 text).
"""

from __future__ import annotations

import re
from datetime import timedelta

from rulec.backends.base import DEFAULT_TABLE, Emitted
from rulec.backends.text import (
    Form,
    Prec,
    Quoting,
    Text,
    TextBackend,
    is_sliding,
    pattern_regex,
    smallest_wins,
)
from rulec.backends.transforms import (
    RULE_COLUMN,
    correlation_aggregate,
    default_conditions,
    one_scan,
)
from rulec.backends.values import as_text
from rulec.compiler import ir

SPL_ESCAPES = {"\\": "\\\\", '"': '\\"'}
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
LOOKUP_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
AGGREGATES = {"count": "count", "dcount": "dc", "sum": "sum", "min": "min", "max": "max"}
AGGREGATES |= {"avg": "avg", "make_set": "values", "count_distinct": "dc"}
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%Z"  # ISO 8601 in UTC, as in 2026-03-02T10:00:00Z
TIME_APPROXIMATION = "time-format"  # Options.approximations: strptime a named time field
PATTERN_KINDS = (ir.MatchKind.CONTAINS, ir.MatchKind.STARTSWITH, ir.MatchKind.ENDSWITH)


class NotSearchable(Exception):
    """A construct `search` cannot express exactly; its conjunct goes to `| where`."""


def number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


class SplWhere(TextBackend):
    """Expressions in eval syntax, as `| where` and `| eval` take them."""

    name = "spl"
    and_token = "AND"
    or_token = "OR"
    not_token = "NOT"
    null_token = "null()"
    true_token = "true()"
    false_token = "false()"
    quoting = Quoting(escapes=SPL_ESCAPES)
    guards_field_values = True
    eq_forms = dict.fromkeys((True, False), Form("{subject}=={value}", "in({subject}, {values})"))
    threshold_form = Form("{subject}{op}{value}")
    regex_forms = dict.fromkeys((True, False), Form("match({subject}, {value})"))
    regex_end = "\\z"  # `$` would also match before a final newline
    cidr_form = Form("cidrmatch({value}, {subject})")
    functions = {
        "lower": "lower",
        "upper": "upper",
        "coalesce": "coalesce",
        "tostring": "tostring",
        "toint": "tonumber",
        "todouble": "tonumber",
        "strlen": "len",
        "now": "now",
    }

    def field_name(self, name: str) -> str:
        if IDENTIFIER.fullmatch(name):
            return name
        if "'" in name:
            raise self.unsupported(f"the field name {name!r}", None, "it holds a single quote")
        return f"'{name}'"

    def timespan(self, value: timedelta, node: ir.Node) -> str:
        return repr(value.total_seconds())

    def match_eq(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        """Booleans are the text "true"/"false" (event fields hold text); case-insensitive text
        and fields compare lowered; under `NOT` each field among the values is guarded."""
        values = [as_text(v) for v in node.values]
        insensitive = not node.case_sensitive and any(
            isinstance(v, str | ir.FieldRef) for v in values
        )
        if insensitive:
            subject = Text(f"lower({subject.text})")
        rendered = [self.eq_value(v, node, insensitive) for v in values]
        if guarded and any(isinstance(v, ir.FieldRef) for v in values):
            parts = [
                self.comparison(subject, "==", r, v, guarded)
                for r, v in zip(rendered, values, strict=True)
            ]
            test = self.any_of(parts)
        else:
            test = self.form(self.eq_forms[node.case_sensitive], subject, rendered)
        return self.guard(node, subject, test, guarded)

    def eq_value(self, value: ir.MatchValue, node: ir.Match, insensitive: bool) -> str:
        if insensitive and isinstance(value, str):
            return self.quoting(value.lower())
        if insensitive and isinstance(value, ir.FieldRef):
            return f"lower({self.value(value, node)})"
        return self.value(value, node)

    def render_inpipeline(self, node: ir.InPipeline, guarded: bool) -> Text:
        detail = "only a case-insensitive match of a field in `search` can read a lookup"
        raise self.unsupported("a match against a table (lookup) here", node, detail)


class SplSearch(SplWhere):
    """Expressions in search syntax; raises `NotSearchable` for anything search cannot say."""

    # search matches case-insensitively only, and reads `*` as a wildcard
    eq_forms = {False: Form("{subject}={value}", "{subject} IN ({values})")}
    presence = "{}=*"
    presence_prec = Prec.COMPARE
    two_valued = True  # `NOT f="x"` holds for events without the field

    def render_match(self, node: ir.Match, guarded: bool) -> Text:
        if node.transforms or (node.case_sensitive and node.kind is not ir.MatchKind.EXISTS):
            raise NotSearchable
        if not isinstance(node.field, ir.FieldRef | ir.RawText):
            raise NotSearchable
        return super().render_match(node, guarded)

    def field_name(self, name: str) -> str:
        if not IDENTIFIER.fullmatch(name):
            raise NotSearchable
        return name

    def term(self, value: ir.MatchValue) -> str:
        value = as_text(value)
        if not isinstance(value, str | int | float):
            raise NotSearchable
        if isinstance(value, str) and "*" in value:
            raise NotSearchable
        return self.quoting(value) if isinstance(value, str) else repr(value)

    def match_eq(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        return self.form(self.eq_forms[False], subject, [self.term(v) for v in node.values])

    def wildcards(self, node: ir.Match, subject: Text, patterns: list, guarded: bool) -> Text:
        texts = []
        for pattern in patterns:
            if ir.Wildcard.ONE in pattern.parts:
                raise NotSearchable
            literal = [part for part in pattern.parts if isinstance(part, str)]
            if any("*" in part for part in literal):
                raise NotSearchable
            texts.append(self.quoting(pattern_regex(pattern, str, "?", "*")))
        return self.form(self.eq_forms[False], subject, texts)

    def unsearchable(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        raise NotSearchable

    match_regex = unsearchable
    match_cidr = unsearchable
    match_lt = unsearchable
    match_le = unsearchable
    match_gt = unsearchable
    match_ge = unsearchable

    def render_compare(self, node: ir.Compare, guarded: bool) -> Text:
        raise NotSearchable

    def render_call(self, node: ir.Call, guarded: bool) -> Text:
        raise NotSearchable

    def render_literal(self, node: ir.Literal, guarded: bool) -> Text:
        raise NotSearchable

    def render_inpipeline(self, node: ir.InPipeline, guarded: bool) -> Text:
        """A lookup's values as a subsearch: `[| inputlookup T | fields v | rename v AS f]`
        expands to `f="a" OR f="b"`, matched case-insensitively (`*` marks the affixes)."""
        column = lookup_column(node.pipeline)
        if column is None or node.case_sensitive or not isinstance(node.field, ir.FieldRef):
            raise NotSearchable
        if node.kind not in LOOKUP_AFFIXES:
            raise NotSearchable
        table = node.pipeline.source.name  # type: ignore[union-attr]
        if not LOOKUP_NAME.fullmatch(table):
            raise NotSearchable
        field = self.field_name(node.field.name)
        before, after = LOOKUP_AFFIXES[node.kind]
        parts = [f"| inputlookup {table}"]
        if before or after:
            affixed = [f'"{before}"'] if before else []
            affixed += [column, *([f'"{after}"'] if after else [])]
            parts.append(f"eval {column}={'.'.join(affixed)}")
        parts += [f"fields {column}", f"rename {column} AS {field}"]
        return Text(f"[{' | '.join(parts)}]")


LOOKUP_AFFIXES = {
    ir.MatchKind.EQ: ("", ""),
    ir.MatchKind.CONTAINS: ("*", "*"),
    ir.MatchKind.STARTSWITH: ("", "*"),
    ir.MatchKind.ENDSWITH: ("*", ""),
}


def lookup_column(pipeline: ir.Pipeline) -> str | None:
    """The one column a lookup table gives (`T | project c`), or None for anything else."""
    if not isinstance(pipeline.source, ir.Table):
        return None
    match pipeline.stages:
        case (ir.Project(columns=(ir.Assign(name=name, expr=ir.FieldRef(name=ref)),)),):
            return name if name == ref and IDENTIFIER.fullmatch(name) else None
    return None


def encoded_keys(keys: list[str]) -> str:
    """Each key as "0" when missing and "1" and its value otherwise, so `stats` keeps events
    without it as one group."""
    return "eval " + ", ".join(f'{k}=if(isnull({k}), "0", "1".{k})' for k in keys)


def decoded_keys(keys: list[str]) -> str:
    """Each encoded key back to its value, null for the "0" of a missing one."""
    return "eval " + ", ".join(f'{k}=if({k}=="0", null(), substr({k}, 2))' for k in keys)


def fields_read(node: object) -> set[str]:
    """The names of the fields an IR node (or a tuple of nodes) reads."""
    return {found.name for found in ir.find_all(node, ir.FieldRef)}


NUMERIC_CALLS = frozenset({"strlen", "toint", "todouble", "now"})
NUMERIC_AGGREGATES = frozenset({"count", "dcount", "count_distinct", "sum", "min", "max", "avg"})


def is_number(expr: ir.Expr, numeric: frozenset[str]) -> bool:
    """Whether an expression gives a number (event fields are text)."""
    if isinstance(expr, ir.FieldRef):
        return expr.name in numeric
    if isinstance(expr, ir.Literal):
        return isinstance(expr.value, int | float) and not isinstance(expr.value, bool)
    if isinstance(expr, ir.Call):
        return expr.name in NUMERIC_CALLS
    return isinstance(expr, ir.Arith)


def numbers_after(stage: ir.Stage, numeric: frozenset[str]) -> frozenset[str]:
    """The columns that hold numbers after `stage`, given those that did before it."""
    if isinstance(stage, ir.Aggregate):
        names = {m.name for m in stage.measures if getattr(m.agg, "func", "") in NUMERIC_AGGREGATES}
        names |= {"window_start", "window_end"} if stage.window is not None else set()
        return frozenset(names)
    if isinstance(stage, ir.Extend | ir.Project):
        assigns = stage.assignments if isinstance(stage, ir.Extend) else stage.columns
        kept = numeric if isinstance(stage, ir.Extend) else frozenset()
        made = {a.name for a in assigns if is_number(a.expr, numeric)}
        return (kept - {a.name for a in assigns}) | made
    if isinstance(stage, ir.Rename):
        renamed = {old: new for new, old in stage.pairs}
        targets = set(renamed.values())
        return frozenset(renamed.get(n, n) for n in numeric if n in renamed or n not in targets)
    return numeric


class SplBackend(SplWhere):
    """Splunk SPL: the search, then pipe commands for what search cannot express."""

    default_raw_field = "_raw"
    default_time_field = "_time"
    preprocess = (one_scan, default_conditions)

    def __init__(self, options=None):
        super().__init__(options)
        self.search = SplSearch(self.options)

    def emit(self, query: ir.Query) -> Emitted:
        query = self.prepared(query)
        notes: list[ir.Diagnostic] = []
        correlation = self.lone_correlation(query)
        if correlation is not None:
            return Emitted(self.name, self.correlation(correlation, query, notes), tuple(notes))
        return Emitted(self.name, self.pipeline(query.pipeline, notes), tuple(notes))

    def correlation(self, stage: ir.Correlation, query: ir.Query, notes: list) -> str:
        """The rules' events (tagged with their rule), then the correlation's sliding window."""
        aggregate = correlation_aggregate(stage)
        if aggregate is None:
            detail = "only counting correlations have a sliding-window form here"
            raise self.unsupported(f"a {stage.kind.value} correlation", stage, detail)
        lets = self.correlated_rules(stage, query)
        searches = [
            f"{self.pipeline(lets[rule], notes)} | eval {RULE_COLUMN}={self.quoting(rule)}"
            for rule in stage.rules
        ]
        rows = searches[0]
        if len(searches) > 1:
            rows = "| multisearch " + " ".join(f"[{text}]" for text in searches)
        return f"{rows} | {self.aggregate(aggregate, notes)}"

    def pipeline(self, pipeline: ir.Pipeline, notes: list[ir.Diagnostic]) -> str:
        """`search` with the source and the first filter's terms, then a command per stage."""
        commands = [self.source(pipeline.source)]
        numeric: frozenset[str] = frozenset()
        for stage in pipeline.stages:
            commands = self.stage(stage, commands, notes, numeric)
            numeric = numbers_after(stage, numeric)
        head, *rest = commands
        return " | ".join([f"search {head or '*'}", *rest])

    def source(self, source: ir.Source) -> str:
        table = self.table_name(source)
        if table == DEFAULT_TABLE:
            return ""
        return table if "=" in table else f"sourcetype={self.quoting(table)}"

    def split(self, predicate: ir.Expr) -> tuple[str, str]:
        """The predicate's conjuncts as (search terms, where expression)."""
        terms, rest = [], []
        for conjunct in ir.conjuncts(predicate):
            try:
                terms.append(self.search.render(conjunct))
            except NotSearchable:
                rest.append(self.render(conjunct))
        search = self.search.join(terms, "AND", Prec.AND).text if terms else ""
        where = self.join(rest, "AND", Prec.AND).text if rest else ""
        return search, where

    # Each stage writer takes the commands so far (the first is the `search` terms), the notes
    # and the columns known to hold numbers, and returns the commands after the stage.

    def stage_filter(
        self, stage: ir.Filter, commands: list, notes: list, numeric: frozenset[str]
    ) -> list:
        """Search terms join the `search` command when no command precedes them."""
        terms, where = self.split(stage.predicate)
        if terms and len(commands) == 1:
            commands = [" ".join(t for t in (commands[0], terms) if t)]
        elif terms:
            commands = [*commands, f"search {terms}"]
        return [*commands, f"where {where}"] if where else commands

    def stage_extend(
        self, stage: ir.Extend, commands: list, notes: list, numeric: frozenset[str]
    ) -> list:
        return [*commands, "eval " + self.assignments(stage.assignments)]

    def stage_projectaway(
        self, stage: ir.ProjectAway, commands: list, notes: list, numeric: frozenset[str]
    ) -> list:
        return [*commands, "fields - " + ", ".join(map(self.field_name, stage.names))]

    def stage_rename(
        self, stage: ir.Rename, commands: list, notes: list, numeric: frozenset[str]
    ) -> list:
        pairs = (f"{self.field_name(old)} AS {self.field_name(new)}" for new, old in stage.pairs)
        return [*commands, "rename " + ", ".join(pairs)]

    def stage_limit(
        self, stage: ir.Limit, commands: list, notes: list, numeric: frozenset[str]
    ) -> list:
        return [*commands, f"head {stage.count}"]

    def stage_project(
        self, stage: ir.Project, commands: list, notes: list, numeric: frozenset[str]
    ) -> list:
        return [*commands, self.project(stage)]

    def stage_sort(
        self, stage: ir.Sort, commands: list, notes: list, numeric: frozenset[str]
    ) -> list:
        return [*commands, self.sort(stage, numeric)]

    def stage_aggregate(
        self, stage: ir.Aggregate, commands: list, notes: list, numeric: frozenset[str]
    ) -> list:
        return [*commands, self.aggregate(stage, notes)]

    def sort(self, stage: ir.Sort, numeric: frozenset[str]) -> str:
        """Splunk's sort puts events missing a field last in either direction; a key whose
        nulls come first (by default when ascending, as in the reference) is preceded by a
        helper key, 0 where the field is missing."""
        helpers, keys = [], []
        for index, key in enumerate(stage.keys, 1):
            if not isinstance(key.expr, ir.FieldRef):
                raise self.unsupported("a sort on a computed value", key, "sort takes field names")
            name = self.field_name(key.expr.name)
            if key.nulls_first if key.nulls_first is not None else not key.descending:
                helpers.append((f"_rulec_null{index}", f"if(isnull({name}), 0, 1)"))
                keys.append(f"+_rulec_null{index}")
            keys.append(self.sort_key(key.expr, key.descending, numeric))
        text = "sort 0 " + ", ".join(keys)
        if not helpers:
            return text
        flags = ", ".join(f"{helper}={test}" for helper, test in helpers)
        return f"eval {flags} | {text} | fields - {', '.join(h for h, _ in helpers)}"

    def sort_key(self, field: ir.FieldRef, descending: bool, numeric: frozenset[str]) -> str:
        """Event fields hold text, which the IR sorts as text: `str()` keeps Splunk's sort from
        ordering numeric-looking text as numbers; computed numbers sort as numbers."""
        name = self.field_name(field.name)
        collated = name if field.name in numeric else f"str({name})"
        return f"{'-' if descending else '+'}{collated}"

    def project(self, stage: ir.Project) -> str:
        computed = [a for a in stage.columns if a.expr != ir.FieldRef(a.name)]
        names = ", ".join(self.field_name(a.name) for a in stage.columns)
        if not computed:
            return f"table {names}"
        return f"eval {self.assignments(tuple(computed))} | table {names}"

    def assignments(self, assigns: tuple[ir.Assign, ...]) -> str:
        return ", ".join(f"{self.field_name(a.name)}={self.expr(a.expr)}" for a in assigns)

    def aggregate(self, stage: ir.Aggregate, notes: list[ir.Diagnostic]) -> str:
        """Events lacking a group-by field form one group, as in the reference (see the module
        docstring): keys are encoded before the stats commands and decoded after them."""
        measures = ", ".join(
            f"{self.agg(m.agg, stage)} AS {self.field_name(m.name)}" for m in stage.measures
        )
        keys = [self.group_key(a, stage) for a in stage.group_by]
        window = stage.window
        self.check_keys_unread(stage, is_sliding(stage))
        commands = self.event_time(window, notes) if window is not None else []
        commands += [encoded_keys(keys)] if keys else []
        if window is not None and window.kind is ir.WindowKind.SLIDING:
            commands += self.sliding(stage, window, measures, keys)
            return " | ".join([*commands, *([decoded_keys(keys)] if keys else [])])
        by = list(keys)
        if window is not None:
            commands.append(f"bin _time span={self.duration(window.size)} AS window_start")
            by.append("window_start")
        commands.append(f"stats {measures}" + (f" by {', '.join(by)}" if by else ""))
        commands += [decoded_keys(keys)] if keys else []
        if stage.having is not None:
            commands.append(f"where {self.expr(stage.having)}")
        return " | ".join(commands)

    def check_keys_unread(self, stage: ir.Aggregate, sliding: bool) -> None:
        """The encoded keys must not be read as values: by a measure, or by a sliding window's
        condition (which runs before they are decoded)."""
        read = fields_read(tuple(m.agg for m in stage.measures))
        read |= fields_read(stage.having) if sliding else set()
        for assign in stage.group_by:
            if assign.name in read:
                construct = f"an aggregate that reads its group-by field {assign.name}"
                raise self.unsupported(construct, stage)

    def event_time(self, window: ir.Window, notes: list[ir.Diagnostic]) -> list[str]:
        """Commands that give `_time` (which `bin` and `time_window` read) the window's time: a
        field other than `_time` is read by `strptime` in one ISO 8601 format, while the
        reference casts any ISO 8601 text, so it is an approximation the user must allow."""
        name = window.time_field or self.time_field
        if name == "_time":
            return []
        if TIME_APPROXIMATION not in self.options.approximations:
            detail = (
                f"strptime reads one format ({TIME_FORMAT}), the reference any ISO 8601 time; "
                f"allow the '{TIME_APPROXIMATION}' approximation to read it so"
            )
            raise self.unsupported(f"a window over the time field {name}", window, detail)
        message = f"the time field {name} is read as {TIME_FORMAT} (allowed: {TIME_APPROXIMATION})"
        notes.append(ir.Diagnostic("approximation", message, window.span, "warning", self.name))
        return [f"eval _time=strptime({self.field_name(name)}, {self.quoting(TIME_FORMAT)})"]

    def sliding(
        self, stage: ir.Aggregate, window: ir.Window, measures: str, keys: list
    ) -> list[str]:
        """Alert rows: maximal runs of overlapping windows ending at each event where `having`
        holds, each reported from its first window's start to its last window's end."""
        seconds = number(window.size.total_seconds())
        by = f" by {', '.join(keys)}" if keys else ""
        pick = "min" if smallest_wins(stage.having) else "max"
        picked = ", ".join(
            f"{pick}({self.field_name(m.name)}) AS {self.field_name(m.name)}"
            for m in stage.measures
        )
        return [
            "where isnotnull(_time)",
            "sort 0 + _time",
            f"streamstats time_window={self.duration(window.size)} {measures}{by}",
            *([f"where {self.expr(stage.having)}"] if stage.having is not None else []),
            f"streamstats current=f window=1 global=f last(_time) AS _rulec_prev{by}",
            f"eval _rulec_new=if(isnotnull(_rulec_prev) AND _rulec_prev>=_time-{seconds}, 0, 1)",
            f"streamstats sum(_rulec_new) AS _rulec_run{by}",
            f"stats min(_time) AS _rulec_first, max(_time) AS window_end, {picked}"
            f" by {', '.join([*keys, '_rulec_run'])}",
            f"eval window_start=_rulec_first-{seconds}",
            "fields - _rulec_first, _rulec_run",
        ]

    def group_key(self, assign: ir.Assign, stage: ir.Aggregate) -> str:
        if assign.expr != ir.FieldRef(assign.name):
            raise self.unsupported("a computed group-by key", stage)
        return self.field_name(assign.name)

    def agg(self, call: ir.AggCall, stage: ir.Aggregate) -> str:
        name = AGGREGATES.get(call.func)
        if name is None:
            raise self.unsupported(f"the aggregation {call.func}()", stage)
        return name if call.arg is None else f"{name}({self.expr(call.arg)})"
