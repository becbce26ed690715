"""The walker that the text back ends (EQL, SPL, KQL, Kuery) share.

A target is mostly data: its boolean tokens, its string quoting, its operator tables, its
presence test, and a `Form` for each match kind it writes the same way as the others (a
threshold, a regex, a network test). The walker renders expressions with precedence-aware
parenthesisation, hands each `Match` to a `match_<kind>` method (written here from those forms,
overridden where a target differs) and each stage, with the pipeline written so far, to the
target's `stage_<kind>` method.
Rendering under a `Not` is flagged (`guarded`) so that a target whose comparisons turn null on a
missing field makes the test two-valued again with its presence test (`guarded`, `guard`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from functools import cached_property

from rulec.backends.base import Backend
from rulec.backends.values import DURATION_UNITS, duration_text, regex_flags
from rulec.compiler import ir


class Prec(IntEnum):
    """Binding strength of a rendered expression: a child weaker than its slot is parenthesised."""

    OR = 1
    AND = 2
    NOT = 3
    COMPARE = 4
    ADD = 5
    MUL = 6
    ATOM = 7


@dataclass(frozen=True)
class Text:
    """A rendered expression and how strongly it binds."""

    text: str
    prec: Prec = Prec.ATOM


@dataclass(frozen=True)
class Quoting:
    """How a target writes a string literal: the quote and each character's escape."""

    quote: str = '"'
    escapes: dict[str, str] = field(default_factory=dict)

    def __call__(self, value: str) -> str:
        return f"{self.quote}{value.translate(self._table)}{self.quote}"

    @cached_property
    def _table(self) -> dict[int, str]:
        return str.maketrans(self.escapes)


CALL = re.compile(r"[A-Za-z_]\w*\(.*\)")


@dataclass(frozen=True)
class Form:
    """How a target writes a match kind: `one` tests one value, `many` (when the target has a
    list form) all of them in one test; without it each value's `one` is or-ed. Templates read
    `{subject}`, `{value}` / `{values}` and `{op}`; a function call binds as an atom, anything
    else as a comparison."""

    one: str
    many: str | None = None


THRESHOLD_OPS = {
    ir.MatchKind.LT: ir.CompareOp.LT,
    ir.MatchKind.LE: ir.CompareOp.LE,
    ir.MatchKind.GT: ir.CompareOp.GT,
    ir.MatchKind.GE: ir.CompareOp.GE,
}
ALL_KINDS = frozenset(ir.MatchKind)

C_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}

REGEX_SPECIALS = frozenset("\\^$.|?*+()[]{}")


def regex_escape(text: str, specials: frozenset[str] = REGEX_SPECIALS) -> str:
    """`text` as a regex matching exactly itself (RE2 and PCRE)."""
    return "".join(f"\\{char}" if char in specials else char for char in text)


def as_pattern(kind: ir.MatchKind, value: str) -> ir.Pattern:
    """The wildcard pattern meaning the same as an eq/contains/startswith/endswith match."""
    before = (ir.Wildcard.ANY,) if kind in (ir.MatchKind.CONTAINS, ir.MatchKind.ENDSWITH) else ()
    after = (ir.Wildcard.ANY,) if kind in (ir.MatchKind.CONTAINS, ir.MatchKind.STARTSWITH) else ()
    return ir.Pattern((*before, value, *after))


def pattern_regex(
    pattern: ir.Pattern,
    escape: Callable[[str], str] = regex_escape,
    one: str = ".",
    any_: str = ".*",
) -> str:
    """The body of a regex matching `pattern` (without anchors or flags)."""
    tokens = {ir.Wildcard.ANY: any_, ir.Wildcard.ONE: one}
    return "".join(tokens[p] if isinstance(p, ir.Wildcard) else escape(p) for p in pattern.parts)


def search_regex(pattern: ir.Pattern, end: str = "$") -> str:
    """An unanchored-search regex for `pattern`: `^`/`end` anchor only the sides without `*`."""
    parts = pattern.parts
    lead = bool(parts) and parts[0] == ir.Wildcard.ANY
    trail = len(parts) > int(lead) and parts[-1] == ir.Wildcard.ANY
    body = pattern_regex(ir.Pattern(parts[int(lead) : len(parts) - int(trail)]))
    return f"{'' if lead else '^'}{body}{'' if trail else end}"


def simple_kind(pattern: ir.Pattern) -> tuple[ir.MatchKind, str] | None:
    """A pattern `*x*`, `x*`, `*x` or `x` as (kind, x) when x holds no wildcard, else None."""
    parts = pattern.parts
    star = ir.Wildcard.ANY
    lead = bool(parts) and parts[0] == star
    trail = len(parts) > int(lead) and parts[-1] == star
    middle = parts[int(lead) : len(parts) - int(trail)]
    if len(middle) > 1 or any(isinstance(p, ir.Wildcard) for p in middle):
        return None
    text = middle[0] if middle else ""
    kinds = {
        (True, True): ir.MatchKind.CONTAINS,
        (False, True): ir.MatchKind.STARTSWITH,
        (True, False): ir.MatchKind.ENDSWITH,
        (False, False): ir.MatchKind.EQ,
    }
    return kinds[(lead, trail)], text  # type: ignore[return-value]


def is_ipv6(network: str) -> bool:
    return ":" in network


def smallest_wins(having: ir.Expr | None) -> bool:
    """Whether an alert run reports its smallest measure (`<`/`<=` conditions) or its largest."""
    return isinstance(having, ir.Compare) and having.op in (ir.CompareOp.LT, ir.CompareOp.LE)


def is_sliding(stage: ir.Stage) -> bool:
    window = stage.window if isinstance(stage, ir.Aggregate) else None
    return window is not None and window.kind is ir.WindowKind.SLIDING


class TextBackend(Backend):
    """Shared walker; subclasses set the token tables and write the target-specific pieces."""

    and_token = "and"
    or_token = "or"
    not_token = "not"
    null_token = "null"
    true_token = "true"
    false_token = "false"
    quoting = Quoting(escapes=C_ESCAPES)
    compare_tokens: dict[ir.CompareOp, str] = {op: op.value for op in ir.CompareOp}
    arith_tokens: dict[ir.ArithOp, str] = {op: op.value for op in ir.ArithOp}
    functions: dict[str, str] = {}
    presence = "isnotnull({})"  # the test that a value is present (not null)
    presence_prec = Prec.ATOM
    two_valued = False  # whether a test on a missing field is false rather than null
    guarded_subjects: tuple[type, ...] = (object,)  # the matched fields `guard` tests
    guarded_kinds = ALL_KINDS  # the match kinds whose test is null on a missing field
    guards_subject = False  # whether `guard` tests the transformed value rather than the field
    guards_field_values = False  # whether a comparison is also guarded by a field value
    duration_units = DURATION_UNITS  # (suffix, length), largest first, for `duration`
    eq_forms: dict[bool, Form] = {}  # equality (and list membership) by case sensitivity
    # contains/startswith/endswith/has by case sensitivity, where the target has an operator;
    # without one a substring is a wildcard pattern and a term (`has`) is not expressed
    substring_forms: dict[ir.MatchKind, dict[bool, Form]] = {}
    threshold_form: Form | None = None  # `{subject} {op} {value}`; None: no thresholds
    regex_forms: dict[bool, Form] = {}  # by case sensitivity; empty: no regexes
    regex_flag_prefix = True  # whether a regex carries its flags inline, `(?i)`
    regex_end = "$"  # a search regex's end-of-text anchor
    cidr_form: Form | None = None  # a network test; None: no network tests
    cidr6_form: Form | None = None  # an IPv6 network's, when it differs

    # ------------------------------------------------------------------ entry points

    def expr(self, node: ir.Expr) -> str:
        return self.render(node).text

    def render(self, node: ir.Expr, guarded: bool = False) -> Text:
        writer = getattr(self, f"render_{type(node).__name__.lower()}", None)
        if writer is None:
            raise self.unsupported(type(node).__name__, node)
        return writer(node, guarded)

    def wrap(self, child: Text, prec: Prec) -> str:
        return child.text if child.prec >= prec else f"({child.text})"

    def join(self, parts: list[Text], token: str, prec: Prec) -> Text:
        if len(parts) == 1:
            return parts[0]
        # Every nested and/or is parenthesised: SPL's search ranks OR above AND, and a reader
        # of `a or (b and c)` needs no precedence table.
        return Text(f" {token} ".join(self.wrap(p, Prec.NOT) for p in parts), prec)

    # ------------------------------------------------------------------ boolean structure

    def render_and(self, node: ir.And, guarded: bool) -> Text:
        return self.join([self.render(o, guarded) for o in node.operands], self.and_token, Prec.AND)

    def render_or(self, node: ir.Or, guarded: bool) -> Text:
        return self.join([self.render(o, guarded) for o in node.operands], self.or_token, Prec.OR)

    def render_not(self, node: ir.Not, guarded: bool) -> Text:
        inner = self.render(node.operand, True)
        return Text(f"{self.not_token} {self.wrap(inner, Prec.NOT)}", Prec.NOT)

    # ------------------------------------------------------------------ scalars

    def render_literal(self, node: ir.Literal, guarded: bool) -> Text:
        return Text(self.literal(node.value, node))

    def literal(self, value: ir.LiteralValue | ir.Pattern, node: ir.Node) -> str:
        if value is None:
            return self.null_token
        if isinstance(value, bool):
            return self.true_token if value else self.false_token
        if isinstance(value, int | float):
            return repr(value)
        if isinstance(value, str):
            return self.quoting(value)
        if isinstance(value, timedelta):
            return self.timespan(value, node)
        if isinstance(value, datetime):
            return self.datetime(value, node)
        raise self.unsupported(f"the literal {value!r}", node)

    def duration(self, size: timedelta) -> str:
        """A window's or span's length in the target's units (`15m`, `2h`)."""
        return duration_text(size, self.duration_units)

    def timespan(self, value: timedelta, node: ir.Node) -> str:
        raise self.unsupported("a timespan literal", node)

    def datetime(self, value: datetime, node: ir.Node) -> str:
        raise self.unsupported("a datetime literal", node)

    def render_fieldref(self, node: ir.FieldRef, guarded: bool) -> Text:
        return Text(self.field_name(node.name))

    def field_name(self, name: str) -> str:
        return name

    def render_rawtext(self, node: ir.RawText, guarded: bool) -> Text:
        return Text(self.field_name(self.raw_field))

    def render_compare(self, node: ir.Compare, guarded: bool) -> Text:
        """`left op right`, guarded under a `Not` by the fields it compares."""
        left = self.wrap(self.render(node.left), Prec.ADD)
        right = self.wrap(self.render(node.right), Prec.ADD)
        test = Text(f"{left} {self.compare_tokens[node.op]} {right}", Prec.COMPARE)
        if not guarded:
            return test
        fields = [side for side in (node.left, node.right) if isinstance(side, ir.FieldRef)]
        return self.guarded([self.render(f).text for f in fields], test)

    def render_arith(self, node: ir.Arith, guarded: bool) -> Text:
        prec = Prec.ADD if node.op in (ir.ArithOp.ADD, ir.ArithOp.SUB) else Prec.MUL
        left = self.wrap(self.render(node.left), prec)
        right = self.wrap(self.render(node.right), Prec(prec + 1))
        return Text(f"{left} {self.arith_tokens[node.op]} {right}", prec)

    def render_call(self, node: ir.Call, guarded: bool) -> Text:
        name = self.functions.get(node.name)
        if name is None:
            raise self.unsupported(f"the function {node.name}()", node)
        return Text(f"{name}({', '.join(self.expr(a) for a in node.args)})")

    # ------------------------------------------------------------------ matches

    def render_match(self, node: ir.Match, guarded: bool) -> Text:
        writer = getattr(self, f"match_{node.kind.value}", None)
        if writer is None:
            raise self.unsupported(f"the match kind '{node.kind.value}'", node)
        subject = self.subject(node)
        return writer(node, subject, guarded)

    def subject(self, node: ir.Match) -> Text:
        """The matched field with the match's transforms applied."""
        subject = self.render(node.field)
        for transform in node.transforms:
            subject = self.transform(transform, subject, node)
        return subject

    def transform(self, transform: ir.Transform, subject: Text, node: ir.Match) -> Text:
        name = self.functions.get(transform.name)
        if name is None:
            raise self.unsupported(f"the transform {transform.name}", node)
        args = [subject.text, *(self.expr(a) for a in transform.args)]
        return Text(f"{name}({', '.join(args)})")

    def value(self, value: ir.MatchValue, node: ir.Node) -> str:
        if isinstance(value, ir.FieldRef):
            return self.render_fieldref(value, False).text
        return self.literal(value, node)

    def guarded(self, tested: list[str], test: Text) -> Text:
        """`test` made two-valued under a `Not`: false rather than null when one of the `tested`
        values is missing (a comparison with a missing value is null in the text targets)."""
        if not tested or self.two_valued:
            return test
        present = [self.presence.format(value) for value in tested]
        return Text(f" {self.and_token} ".join([*present, self.wrap(test, Prec.NOT)]), Prec.AND)

    def match_exists(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        return Text(self.presence.format(subject.text), self.presence_prec)

    def guard(self, node: ir.Match, subject: Text, test: Text, guarded: bool) -> Text:
        """A match's `test` guarded by its field when a `Not` is above it."""
        if not guarded or node.kind not in self.guarded_kinds:
            return test
        if not isinstance(node.field, self.guarded_subjects):
            return test
        tested = subject.text if self.guards_subject else self.render(node.field).text
        return self.guarded([tested], test)

    def formed(self, template: str, **parts: str) -> Text:
        """A form's template filled in."""
        prec = Prec.ATOM if CALL.fullmatch(template) else Prec.COMPARE
        return Text(template.format(**parts), prec)

    def form(self, form: Form, subject: Text, values: list[str]) -> Text:
        """`values` (rendered) tested by `form`: in its list form when it has one."""
        if len(values) > 1 and form.many is not None:
            return self.formed(form.many, subject=subject.text, values=", ".join(values))
        return self.any_of([self.formed(form.one, subject=subject.text, value=v) for v in values])

    def no_kind(self, node: ir.Match) -> ir.RuleError:
        return self.unsupported(f"the match kind '{node.kind.value}'", node)

    def threshold(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        """`subject op value` for each value (thresholds compare as the target's `<` does)."""
        if self.threshold_form is None:
            raise self.no_kind(node)
        op = self.compare_tokens[THRESHOLD_OPS[node.kind]]
        values = [(self.value(v, node), v) for v in node.values]
        parts = [self.comparison(subject, op, text, v, guarded) for text, v in values]
        return self.guard(node, subject, self.any_of(parts), guarded)

    match_lt = threshold
    match_le = threshold
    match_gt = threshold
    match_ge = threshold

    def substring(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        """contains/startswith/endswith/has by the target's operator for it; else a substring
        as the wildcard pattern `*v*`, `v*`, `*v` it means."""
        forms = self.substring_forms.get(node.kind)
        if forms is not None:
            values = [self.value(v, node) for v in node.values]
            test = self.form(forms[node.case_sensitive], subject, values)
            return self.guard(node, subject, test, guarded)
        if node.kind is ir.MatchKind.HAS:
            raise self.no_kind(node)
        patterns = [as_pattern(node.kind, self.string(v, node)) for v in node.values]
        return self.wildcards(node, subject, patterns, guarded)

    match_contains = substring
    match_startswith = substring
    match_endswith = substring
    match_has = substring

    def match_wildcard(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        return self.wildcards(node, subject, list(node.values), guarded)  # type: ignore[arg-type]

    def wildcards(
        self, node: ir.Match, subject: Text, patterns: list[ir.Pattern], guarded: bool
    ) -> Text:
        """`subject` matching any of the wildcard `patterns`: a search regex each (`*` spans
        newlines), where the target has no wildcard operator of the same meaning."""
        if not self.regex_forms:
            raise self.no_kind(node)
        regexes = [search_regex(p, self.regex_end) for p in patterns]
        return self.guard(node, subject, self.regex_test(subject, node, regexes, {"s"}), guarded)

    def string(self, value: ir.MatchValue, node: ir.Match) -> str:
        """A match's value that must be a text."""
        if not isinstance(value, str):
            raise self.unsupported(f"a {node.kind.value} match on the value {value!r}", node)
        return value

    def match_regex(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        if not self.regex_forms:
            raise self.no_kind(node)
        regexes = [self.regex_text(v, node) for v in node.values]
        test = self.regex_test(subject, node, regexes, set(node.flags))
        return self.guard(node, subject, test, guarded)

    def regex_text(self, value: ir.MatchValue, node: ir.Match) -> str:
        """A regex match's value as the target's regex (RE2 as it stands)."""
        return self.string(value, node)

    def regex_test(
        self, subject: Text, node: ir.Match, regexes: list[str], flags: set[str]
    ) -> Text:
        """`subject` searched with any of `regexes`, with `flags` and the match's case."""
        prefix = regex_flags(flags, node.case_sensitive) if self.regex_flag_prefix else ""
        quoted = [self.quoting(prefix + regex) for regex in regexes]
        return self.form(self.regex_forms[node.case_sensitive], subject, quoted)

    def match_cidr(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        """`subject` in any of the networks (with the IPv6 form where the target has one)."""
        if self.cidr_form is None:
            raise self.no_kind(node)
        networks = [str(v) for v in node.values]
        if self.cidr6_form is None:
            test = self.form(self.cidr_form, subject, [self.quoting(n) for n in networks])
        else:
            forms = [self.cidr6_form if is_ipv6(n) else self.cidr_form for n in networks]
            parts = zip(forms, networks, strict=True)
            test = self.any_of([self.form(f, subject, [self.quoting(n)]) for f, n in parts])
        return self.guard(node, subject, test, guarded)

    def comparison(
        self, subject: Text, op: str, rendered: str, value: ir.MatchValue, guarded: bool
    ) -> Text:
        """`subject op value` (`value` written as `rendered`); under `NOT`, where the target
        guards field values, false rather than null when `value` is a missing field."""
        assert self.threshold_form is not None
        test = self.formed(self.threshold_form.one, subject=subject.text, op=op, value=rendered)
        if guarded and self.guards_field_values and isinstance(value, ir.FieldRef):
            return self.guarded([self.render(value).text], test)
        return test

    def any_of(self, parts: list[Text]) -> Text:
        return self.join(parts, self.or_token, Prec.OR)

    # ------------------------------------------------------------------ stages

    stage_detail = ""  # why a stage without a writer cannot be expressed

    def stage(self, stage: ir.Stage, written: list, *context) -> list:
        """The pipeline as written after `stage`, given it as `written` before (the target's
        lines, or what else it collects), through the target's `stage_<kind>` writer (the IR
        class name, lower-cased) with the `context` the target's pipeline writer keeps. Most
        writers add a command; some rewrite what came before (a filter joining the search
        command, a window plan reading the rows so far)."""
        writer = getattr(self, f"stage_{type(stage).__name__.lower()}", None)
        if writer is None:
            raise self.unsupported(f"the {type(stage).__name__} stage", stage, self.stage_detail)
        return writer(stage, written, *context)

    def stage_serialize(self, stage: ir.Serialize, written: list, *context) -> list:
        """A serialize that computes nothing: the rows' order is already the one the pipeline
        gives (a target with window functions writes it back)."""
        if stage.columns:
            raise self.unsupported("serialize with columns", stage, self.stage_detail)
        return written

    def stages(self, written: list, stages: tuple[ir.Stage, ...], *context) -> list:
        """The pipeline as written after each of `stages` in turn (see `stage`)."""
        for stage in stages:
            written = self.stage(stage, written, *context)
        return written

    # ------------------------------------------------------------------ targets without lets

    def lone_correlation(self, query: ir.Query) -> ir.Correlation | None:
        """The correlation that is the query's one stage, else None once the query is known
        to bind nothing (for a target without parameters and let-bindings)."""
        stages = query.pipeline.stages
        if len(stages) == 1 and isinstance(stages[0], ir.Correlation):
            return stages[0]
        if query.params or query.lets:
            node = (query.params or query.lets)[0]
            raise self.unsupported("parameters and let-bindings", node)
        return None

    def correlated_rules(self, stage: ir.Correlation, query: ir.Query) -> dict[str, ir.Pipeline]:
        """The let-bound pipelines of the rules a correlation reads, by name (each written
        where it is read, by a target without let-bindings)."""
        lets = {let.name: let.value for let in query.lets if isinstance(let.value, ir.Pipeline)}
        if len(lets) != len(query.lets) or query.params:
            raise self.unsupported("a correlation over rules that use let-bindings", stage)
        return lets

    # ------------------------------------------------------------------ sources

    def table_name(self, source: ir.Source) -> str:
        """The table a source reads: a named table, a let-bound pipeline, or a mapped logsource."""
        if isinstance(source, ir.LogSource):
            return self.options.tables.table_for(source)
        if isinstance(source, ir.Table) and (source.wildcard or source.scope):
            raise self.unsupported(f"the table {ir.table_text(source)}", source)
        if isinstance(source, ir.Table | ir.PipelineRef):
            return source.name
        raise self.unsupported("a datatable source", source)
