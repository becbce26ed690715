"""Elasticsearch EQL: `any where <condition>` for single-event rules.

`:` matches case-insensitively with `*`/`?` wildcards, `==`/`in`/`like` are case-sensitive and
`in~`/`like~`/`regex~` are their case-insensitive forms. A value holding `*` or `?` cannot be
written after `:` or `like` (EQL has no wildcard escape), so such matches use `in~` or the
string functions. Fields hold text, as in the reference: a number or bool in an equality is
compared as its text, two fields are never compared (Elasticsearch EQL rejects it), and a
threshold is emitted only under the `numeric` approximation (the field is mapped as a number in
Elasticsearch; on text an EQL comparison with a number is null). A missing field makes an EQL
comparison null, and `not null` is null: under a negation every match is guarded with
`field != null` so that `Not` stays two-valued.
EQL regexes are Lucene regexes, anchored at both ends; RE2 patterns are translated.

EQL has no aggregation. A temporal_ordered correlation is a `sequence by ... with maxspan=...`;
an event_count correlation over one rule with a `>=`/`>` threshold becomes `with runs=N` only
when the user allows the `runs` approximation (a sequence consumes its events, so alerts are
not the merged windows of the reference); everything else is a diagnostic.
"""

from __future__ import annotations

import re
from datetime import timedelta

from rulec.backends.base import Emitted
from rulec.backends.text import (
    C_ESCAPES,
    Form,
    Prec,
    Quoting,
    Text,
    TextBackend,
    as_pattern,
    pattern_regex,
)
from rulec.backends.transforms import all_rules, at_least, default_conditions, one_scan
from rulec.backends.values import DAY, HOUR, MINUTE, SECOND, as_text, number_text
from rulec.compiler import ir

EQL_WILDCARDS = frozenset("*?")
LUCENE_SPECIALS = frozenset('\\.?+*|{}[]()"#@&<>~^$')
IDENTIFIER = re.compile(r"[A-Za-z_@][A-Za-z0-9_]*(\.[A-Za-z_@][A-Za-z0-9_]*)*")
CLASS_ESCAPES = {"d": "0-9", "w": "0-9A-Za-z_", "s": " \t\n\r\f\v"}
LITERAL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}
MAX_RUNS = 100
NUMERIC_APPROXIMATION = "numeric"  # Options.approximations: thresholds on numeric fields
EQL_UNITS = (
    ("d", DAY),
    ("h", HOUR),
    ("m", MINUTE),
    ("s", SECOND),
    ("ms", timedelta(milliseconds=1)),
)
LIKE = Form("{subject} like {value}", "{subject} like ({values})")  # case-sensitive `:`
IN_INSENSITIVE = Form("{subject} in~ ({value})", "{subject} in~ ({values})")
FUNCTION_KINDS = {
    ir.MatchKind.CONTAINS: "stringContains",
    ir.MatchKind.STARTSWITH: "startsWith",
    ir.MatchKind.ENDSWITH: "endsWith",
}


def eql_escapes() -> dict[str, str]:
    controls = {chr(c): f"\\u{{{c:02X}}}" for c in (*range(0x20), 0x7F)}
    return {**controls, **C_ESCAPES}


def lucene_escape(text: str) -> str:
    return "".join(f"\\{char}" if char in LUCENE_SPECIALS else char for char in text)


def literal_text(pattern: ir.Pattern) -> str:
    return "".join(part for part in pattern.parts if isinstance(part, str))


class RegexNotTranslatable(ValueError):
    """An RE2 construct with no exact Lucene counterpart."""


class LuceneRegex:
    """Translates an RE2 search pattern into an anchored Lucene regex of the same meaning."""

    def __init__(self, source: str, flags: frozenset[str]):
        if "m" in flags:
            raise RegexNotTranslatable("the multi-line flag")
        self.source = source
        self.dot_all = "s" in flags
        self.pos = 0

    def translate(self) -> str:
        text = self.source
        start = text.startswith("^")
        end = text.endswith("$") and not text.endswith("\\$")
        self.source = text[int(start) : len(text) - int(end)]
        body = self.sequence()
        if self.pos < len(self.source):
            raise RegexNotTranslatable(f"an unbalanced ')' at offset {self.pos}")
        if self.has_top_level_alternation() and not (start and end):
            body = f"({body})"
        return f"{'' if start else '.*'}{body}{'' if end else '.*'}"

    def has_top_level_alternation(self) -> bool:
        depth, escaped, in_class = 0, False, False
        for char in self.source:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif in_class:
                in_class = char != "]"
            elif char == "[":
                in_class = True
            elif char in "()":
                depth += 1 if char == "(" else -1
            elif char == "|" and depth == 0:
                return True
        return False

    def sequence(self) -> str:
        out: list[str] = []
        while self.pos < len(self.source) and self.source[self.pos] != ")":
            out.append(self.atom())
        return "".join(out)

    def atom(self) -> str:
        char = self.source[self.pos]
        self.pos += 1
        if char == "(":
            return self.group()
        if char == "[":
            return self.char_class()
        if char == "\\":
            return self.escape(in_class=False)
        if char == ".":
            return "." if self.dot_all else "[^\n]"
        if char in "*+?":
            if self.source[self.pos : self.pos + 1] == "?":
                self.pos += 1  # a lazy quantifier matches the same strings
            return char
        if char in "|{}":
            return char
        if char in "^$":
            raise RegexNotTranslatable(f"the anchor '{char}' inside the pattern")
        return lucene_escape(char)

    def group(self) -> str:
        if self.source.startswith("?:", self.pos):
            self.pos += 2
        elif self.source.startswith("?", self.pos):
            raise RegexNotTranslatable("inline flags or named groups")
        inner = self.sequence()
        if self.pos >= len(self.source):
            raise RegexNotTranslatable("an unclosed '('")
        self.pos += 1
        return f"({inner})"

    def char_class(self) -> str:
        out = ["["]
        if self.source.startswith("^", self.pos):
            out.append("^")
            self.pos += 1
        first = True
        while self.pos < len(self.source):
            char = self.source[self.pos]
            self.pos += 1
            if char == "]" and not first:
                return "".join([*out, "]"])
            if char == "[":
                raise RegexNotTranslatable("a POSIX or nested character class")
            out.append(self.escape(in_class=True) if char == "\\" else lucene_escape(char))
            first = False
        raise RegexNotTranslatable("an unclosed '['")

    def escape(self, in_class: bool) -> str:
        if self.pos >= len(self.source):
            raise RegexNotTranslatable("a trailing backslash")
        char = self.source[self.pos]
        self.pos += 1
        if char in LITERAL_ESCAPES:
            return lucene_escape(LITERAL_ESCAPES[char])
        if char.lower() in CLASS_ESCAPES:
            members = lucene_escape(CLASS_ESCAPES[char.lower()])
            if in_class and char.isupper():
                raise RegexNotTranslatable(f"'\\{char}' inside a character class")
            if in_class:
                return members
            return f"[{'^' if char.isupper() else ''}{members}]"
        if char.isalnum():
            raise RegexNotTranslatable(f"the escape '\\{char}'")
        return lucene_escape(char)


class EqlBackend(TextBackend):
    """Elastic EQL for single-event rules; stages other than filters are reported."""

    name = "eql"
    default_raw_field = "event.original"
    quoting = Quoting(escapes=eql_escapes())
    functions = {"tostring": "string", "strlen": "length", "concat": "concat"}
    presence = "{} != null"
    presence_prec = Prec.COMPARE
    guarded_subjects = (ir.FieldRef, ir.RawText)
    eq_forms = {
        True: Form("{subject} == {value}", "{subject} in ({values})"),
        False: Form("{subject} : {value}", "{subject} : ({values})"),
    }
    duration_units = EQL_UNITS
    threshold_form = Form("{subject} {op} {value}")
    regex_forms = {
        True: Form("{subject} regex {value}", "{subject} regex ({values})"),
        False: Form("{subject} regex~ {value}", "{subject} regex~ ({values})"),
    }
    regex_flag_prefix = False  # Lucene has no inline flags: the translation spells them out
    cidr_form = Form("cidrMatch({subject}, {value})", "cidrMatch({subject}, {values})")
    stage_detail = "EQL selects events; it has no relational stages"
    preprocess = (one_scan, default_conditions)

    def emit(self, query: ir.Query) -> Emitted:
        query = self.prepared(query)
        self.notes: dict[str, ir.Diagnostic] = {}
        correlation = self.lone_correlation(query)
        if correlation is not None:
            return self.correlation(correlation, query)
        text = f"any where {self.condition(query.pipeline)[0]}"
        return Emitted(self.name, text, tuple(self.notes.values()))

    def condition(self, pipeline: ir.Pipeline) -> tuple[str, dict[str, str]]:
        """A single-event pipeline's condition, and the field aliases its `Extend`s define."""
        if not isinstance(pipeline.source, ir.LogSource | ir.Table):
            raise self.unsupported("a source other than a table or logsource", pipeline.source)
        if isinstance(pipeline.source, ir.Table) and (
            pipeline.source.wildcard or pipeline.source.scope
        ):
            raise self.unsupported(f"the table {ir.table_text(pipeline.source)}", pipeline.source)
        aliases: dict[str, str] = {}
        predicates: list[ir.Expr] = self.stages([], pipeline.stages, aliases)
        if not predicates:
            return "true", aliases
        condition = predicates[0] if len(predicates) == 1 else ir.And(tuple(predicates))
        return self.expr(condition), aliases

    # Each stage writer adds to the pipeline's predicates or field aliases.

    def stage_filter(self, stage: ir.Filter, predicates: list, aliases: dict) -> list:
        if aliases:
            raise self.unsupported("the Filter stage", stage, self.stage_detail)
        return [*predicates, stage.predicate]

    def stage_extend(self, stage: ir.Extend, predicates: list, aliases: dict) -> list:
        if not all(isinstance(a.expr, ir.FieldRef) for a in stage.assignments):
            raise self.unsupported("the Extend stage", stage, self.stage_detail)
        aliases.update((a.name, a.expr.name) for a in stage.assignments)  # type: ignore[union-attr]
        return predicates

    # ------------------------------------------------------------------ correlations

    def correlation(self, stage: ir.Correlation, query: ir.Query) -> Emitted:
        lets = self.correlated_rules(stage, query)
        steps = [self.condition(lets[rule]) for rule in stage.rules]
        span = self.duration(stage.timespan)
        if stage.kind is ir.CorrelationKind.TEMPORAL_ORDERED and self.all_rules(stage):
            return Emitted(self.name, self.sequence(stage, steps, span), tuple(self.notes.values()))
        if stage.kind is ir.CorrelationKind.EVENT_COUNT and len(steps) == 1:
            return self.runs(stage, steps[0], span)
        detail = "EQL has no aggregation; only ordered sequences and counted runs exist"
        raise self.unsupported(f"a {stage.kind.value} correlation", stage, detail)

    def all_rules(self, stage: ir.Correlation) -> bool:
        """Whether the condition asks for nothing but every rule, in order (Sigma's default)."""
        return stage.condition == all_rules(stage)

    def sequence(self, stage: ir.Correlation, steps: list, span: str, runs: str = "") -> str:
        keys = [self.field_name(k) for k in stage.group_by]
        uniform = all(not aliases for _, aliases in steps)
        head = f"sequence by {', '.join(keys)}" if keys and uniform else "sequence"
        lines = [f"{head} with maxspan={span}"]
        for condition, aliases in steps:
            by = ""
            if keys and not uniform:
                by = " by " + ", ".join(self.field_name(aliases.get(k, k)) for k in stage.group_by)
            lines.append(f"  [any where {condition}]{by}{runs}")
        return "\n".join(lines)

    def runs(self, stage: ir.Correlation, step: tuple, span: str) -> Emitted:
        """`[...] with runs=N`: N events of the rule within the span (`> n` is n + 1 runs)."""
        count = at_least(stage.condition)
        if count is None:
            raise self.unsupported("an event_count condition other than >= n or > n", stage)
        if not 1 <= count <= MAX_RUNS:
            detail = f"EQL runs range from 1 to {MAX_RUNS}; this needs {count}"
            raise self.unsupported("an event_count threshold", stage, detail)
        if "runs" not in self.options.approximations:
            detail = "a sequence with runs reports each run of events, not the merged windows; "
            detail += "allow the 'runs' approximation to emit it"
            raise self.unsupported("an event_count correlation", stage, detail)
        note = ir.Diagnostic(
            "approximation",
            f"event_count as `with runs={count}`: one alert per completed run (allowed: runs)",
            stage.span,
            "warning",
            self.name,
        )
        text = self.sequence(stage, [step], span, f" with runs={count}")
        return Emitted(self.name, text, (*self.notes.values(), note))

    def field_name(self, name: str) -> str:
        if IDENTIFIER.fullmatch(name):
            return name
        return "`" + name.replace("`", "``") + "`"

    # ------------------------------------------------------------------ match kinds

    def match_eq(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        """Text equality: a bool is its text `true`/`false` (cased as the match is), a number
        is its exact text, `string(f) == "4720"`, as the reference compares them."""
        if any(isinstance(v, ir.FieldRef) for v in node.values):
            detail = "Elasticsearch EQL compares a field only with a literal"
            raise self.unsupported("a comparison of two fields", node, detail)
        strings = [as_text(v) for v in node.values]
        texts = [v for v in strings if isinstance(v, str)]
        numbers = [self.quoting(number_text(v)) for v in strings if not isinstance(v, str)]
        parts = [self.eq_strings(subject, texts, node)] if texts else []
        if numbers:  # string(): a field Elasticsearch maps as a number compares as its text
            parts.append(self.form(self.eq_forms[True], Text(f"string({subject.text})"), numbers))
        return self.guard(node, subject, self.any_of(parts), guarded)

    def eq_strings(self, subject: Text, values: list[str], node: ir.Match) -> Text:
        quoted = [self.quoting(v) for v in values]
        form = self.eq_forms[node.case_sensitive]
        if not node.case_sensitive and any(EQL_WILDCARDS & set(v) for v in values):
            form = IN_INSENSITIVE  # `:` would read the wildcard characters
        return self.form(form, subject, quoted)

    def substring_match(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        plain = [v for v in node.values if isinstance(v, str) and not EQL_WILDCARDS & set(v)]
        other = [v for v in node.values if v not in plain]
        parts = []
        if plain:
            patterns = [as_pattern(node.kind, v) for v in plain]
            parts.append(self.like(subject, patterns, node))
        function = FUNCTION_KINDS[node.kind] + ("" if node.case_sensitive else "~")
        for value in other:
            if not isinstance(value, str):
                raise self.unsupported(f"a {node.kind.value} match on a non-string value", node)
            parts.append(Text(f"{function}({subject.text}, {self.quoting(value)})"))
        return self.guard(node, subject, self.any_of(parts), guarded)

    match_contains = substring_match
    match_startswith = substring_match
    match_endswith = substring_match

    def like(self, subject: Text, patterns: list[ir.Pattern], node: ir.Match) -> Text:
        """`:`/`like` over patterns whose literal parts hold no wildcard characters."""
        texts = [self.quoting(pattern_regex(p, str, "?", "*")) for p in patterns]
        return self.form(LIKE if node.case_sensitive else self.eq_forms[False], subject, texts)

    def match_wildcard(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        patterns: list[ir.Pattern] = list(node.values)  # type: ignore[arg-type]
        plain = [p for p in patterns if not EQL_WILDCARDS & set(literal_text(p))]
        parts = [self.like(subject, plain, node)] if plain else []
        for pattern in (p for p in patterns if p not in plain):
            regex = pattern_regex(pattern, lucene_escape, "[^\n]", ".*")
            parts.append(self.regex_test(subject, node, [regex], set()))
        return self.guard(node, subject, self.any_of(parts), guarded)

    def regex_text(self, value: ir.MatchValue, node: ir.Match) -> str:
        try:
            return LuceneRegex(self.string(value, node), node.flags).translate()
        except RegexNotTranslatable as error:
            raise self.unsupported(f"the regex {value!r}", node, str(error)) from None

    def threshold(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        """`f < n` holds only where Elasticsearch maps `f` as a number: on text EQL's comparison
        is null, and its number() reads text unlike the reference; so it is an approximation."""
        if NUMERIC_APPROXIMATION not in self.options.approximations:
            detail = "EQL compares text with a number as null; "
            detail += f"allow the '{NUMERIC_APPROXIMATION}' approximation if the field is numeric"
            raise self.unsupported(f"a {node.kind.value} threshold", node, detail)
        message = "a threshold compares the field as a number (allowed: numeric)"
        self.notes.setdefault(
            NUMERIC_APPROXIMATION,
            ir.Diagnostic("approximation", message, node.span, "warning", self.name),
        )
        return super().threshold(node, subject, guarded)

    match_lt = threshold
    match_le = threshold
    match_gt = threshold
    match_ge = threshold
