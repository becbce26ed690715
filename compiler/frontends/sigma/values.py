"""Lowering of pySigma values (SigmaString, SigmaNumber, SigmaRegularExpression, ...) to Matches.

A list of values under one field becomes one `Match` per kind of value (any-of), so
`Image|endswith: [a, b]` is one ENDSWITH match with two values; values that need a
predicate of their own (null, exists, placeholders) become separate operands of an `Or`.

A placeholder no pipeline resolved (`User|expand: '%admins%'`) is matched as a SIEM does: against
a named list the deployment supplies, the one-column table `placeholder_<name>` (column `value`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
    SpecialChars,
)

from rulec.compiler import ir

K = ir.MatchKind
_COMPARE_KINDS = {
    CompareOperators.LT: K.LT,
    CompareOperators.LTE: K.LE,
    CompareOperators.GT: K.GT,
    CompareOperators.GTE: K.GE,
}
_WILDCARDS = {
    SpecialChars.WILDCARD_MULTI: ir.Wildcard.ANY,
    SpecialChars.WILDCARD_SINGLE: ir.Wildcard.ONE,
}


@dataclass(frozen=True)
class Atom:
    """One value's share of a Match; atoms with equal `key` merge into one Match."""

    kind: ir.MatchKind
    value: ir.MatchValue
    case_sensitive: bool
    flags: frozenset[str] = frozenset()

    @functools.cached_property
    def key(self) -> tuple[object, ...]:
        """Plain values only (hashing an enum runs Python code): atoms are grouped by it."""
        return (self.kind.value, self.case_sensitive, self.flags, _value_class(self.value))


def _value_class(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def unsupported(message: str, span: ir.Span) -> ir.RuleError:
    return ir.RuleError(ir.Diagnostic("sigma.unsupported", message, span))


def match_any(
    field: ir.Expr, values: Sequence[SigmaType], span_of: Callable[[object], ir.Span]
) -> ir.Expr:
    """`field` matches any of `values`: one Match per kind of value, combined with Or."""
    keyword = isinstance(field, ir.RawText)
    groups: dict[tuple[object, ...], tuple[Atom, list[ir.MatchValue], ir.Span]] = {}
    operands: list[ir.Expr | tuple[object, ...]] = []
    for value in values:
        span = span_of(value)
        for item in _atoms(value, field, span, keyword):
            if isinstance(item, Atom):
                group = groups.get(item.key)
                if group is None:
                    groups[item.key] = group = (item, [], span)
                    operands.append(item.key)
                group[1].append(item.value)
            else:
                operands.append(item)
    exprs = [_group_match(field, *groups[op]) if isinstance(op, tuple) else op for op in operands]
    return exprs[0] if len(exprs) == 1 else ir.Or(tuple(exprs), span=span_of(values[0]))


def _group_match(
    field: ir.Expr, atom: Atom, values: list[ir.MatchValue], span: ir.Span
) -> ir.Match:
    return ir.Match(
        field,
        atom.kind,
        tuple(dict.fromkeys(values)),
        atom.case_sensitive,
        flags=atom.flags,
        span=span,
    )


def _atoms(value: SigmaType, field: ir.Expr, span: ir.Span, keyword: bool) -> list[Atom | ir.Expr]:
    if type(value) is SigmaString or isinstance(value, SigmaString):  # the first check is quick
        try:
            return [_string_atom_of(isinstance(value, SigmaCasedString), tuple(value.s), keyword)]
        except TypeError:  # a placeholder among the chunks (unhashable), else a bug to report
            if not value.contains_placeholder():
                raise
            return [placeholder_match(value, field, span)]
    if isinstance(value, SigmaExpansion):
        return [atom for inner in value.values for atom in _atoms(inner, field, span, keyword)]
    if isinstance(value, SigmaRegularExpression):
        return [_regex_atom(value, span)]
    if keyword:
        return [_keyword_scalar_atom(value, span)]
    return [_field_scalar(value, field, span)]


@functools.lru_cache(maxsize=16384)
def _string_atom_of(cased: bool, chunks: tuple[str | SpecialChars, ...], keyword: bool) -> Atom:
    """Cached: a rule's values come back once per pipeline, and many rules share values."""
    parts = _pattern_parts(chunks)
    if keyword:
        if parts[:1] != [ir.Wildcard.ANY]:
            parts.insert(0, ir.Wildcard.ANY)
        if parts[-1:] != [ir.Wildcard.ANY]:
            parts.append(ir.Wildcard.ANY)
    kind, text = classify(parts)
    return Atom(kind, text, cased)


PLACEHOLDER_KINDS = {
    (False, False): K.EQ,
    (True, True): K.CONTAINS,
    (False, True): K.STARTSWITH,
    (True, False): K.ENDSWITH,
}


def placeholder_table(name: str) -> str:
    """The lookup table a deployment fills with the values of placeholder `%name%`."""
    return f"placeholder_{name}"


def placeholder_match(value: SigmaString, field: ir.Expr, span: ir.Span) -> ir.InPipeline:
    """`field` against the named list of a placeholder: equal to one of its values, or
    containing / starting / ending with one (`*%name%*`, `%name%*`, `*%name%`)."""
    parts = list(value.s)
    lead = parts[:1] == [SpecialChars.WILDCARD_MULTI]
    trail = len(parts) > 1 and parts[-1] == SpecialChars.WILDCARD_MULTI
    middle = parts[int(lead) : len(parts) - int(trail)]
    if len(middle) != 1 or not isinstance(middle[0], Placeholder):
        raise unsupported(
            f"the value '{value}' mixes a placeholder with other text: a placeholder is matched "
            "against a named list, so it must stand alone (optionally between '*' wildcards)",
            span,
        )
    keyword = isinstance(field, ir.RawText)
    kind = K.CONTAINS if keyword else PLACEHOLDER_KINDS[(lead, trail)]
    column = ir.Assign("value", ir.FieldRef("value", span=span), span=span)
    values = ir.Pipeline(
        ir.Table(placeholder_table(middle[0].name), span=span),
        (ir.Project((column,), span=span),),
        span=span,
    )
    cased = isinstance(value, SigmaCasedString)
    return ir.InPipeline(field, values, cased, kind, span=span)


def _pattern_parts(chunks: Sequence[str | SpecialChars]) -> list[str | ir.Wildcard]:
    """A string's chunks as merged text and wildcard parts; runs of `*` collapse into one."""
    parts: list[str | ir.Wildcard] = []
    for part in chunks:
        item = _WILDCARDS[part] if isinstance(part, SpecialChars) else part
        if isinstance(item, str) and parts and isinstance(parts[-1], str):
            parts[-1] += item
        elif not (item is ir.Wildcard.ANY and parts[-1:] == [ir.Wildcard.ANY]):
            parts.append(item)
    return parts


def classify(parts: list[str | ir.Wildcard]) -> tuple[ir.MatchKind, str | ir.Pattern]:
    """The simplest match kind for a wildcard pattern: eq, contains, startswith, endswith."""
    any_ = ir.Wildcard.ANY
    texts = [p for p in parts if isinstance(p, str)]
    if not any(isinstance(p, ir.Wildcard) for p in parts):
        return K.EQ, "".join(texts)
    if parts == [any_]:
        return K.CONTAINS, ""
    if len(parts) == 3 and parts[0] is any_ and parts[2] is any_ and texts:
        return K.CONTAINS, texts[0]
    if len(parts) == 2 and parts[1] is any_ and texts:
        return K.STARTSWITH, texts[0]
    if len(parts) == 2 and parts[0] is any_ and texts:
        return K.ENDSWITH, texts[0]
    return K.WILDCARD, ir.Pattern(tuple(parts))


LEADING_FLAGS = re.compile(r"\(\?([ims]+)\)")


def _regex_atom(value: SigmaRegularExpression, span: ir.Span) -> Atom:
    """A regex match; a leading global flag group, `(?i)...`, becomes the match's flags (it
    means the same as Sigma's `|re|i` and every target can then write it its own way)."""
    if value.regexp.contains_placeholder():
        raise unsupported("placeholder in a regular expression is not resolved", span)
    pattern = str(value.regexp)
    letters = set()
    while leading := LEADING_FLAGS.match(pattern):
        letters |= set(leading[1])
        pattern = pattern[leading.end() :]
    names = {SigmaRegularExpressionFlag.MULTILINE: "m", SigmaRegularExpressionFlag.DOTALL: "s"}
    flags = frozenset(name for flag, name in names.items() if flag in value.flags)
    cased = SigmaRegularExpressionFlag.IGNORECASE not in value.flags and "i" not in letters
    return Atom(K.REGEX, pattern, cased, flags | (letters & {"m", "s"}))


def _keyword_scalar_atom(value: SigmaType, span: ir.Span) -> Atom:
    if isinstance(value, SigmaNumber) and not isinstance(value, SigmaTimestampPart):
        return Atom(K.CONTAINS, str(value.number), False)
    raise unsupported(f"a keyword (value without a field) of type {_type_name(value)}", span)


def _field_scalar(value: SigmaType, field: ir.Expr, span: ir.Span) -> Atom | ir.Expr:
    if isinstance(value, SigmaTimestampPart):
        return _time_part(value, field, span)
    if isinstance(value, SigmaNumber):
        return Atom(K.EQ, value.number, False)
    if isinstance(value, SigmaBool):
        return Atom(K.EQ, value.boolean, False)
    if isinstance(value, SigmaCIDRExpression):
        return Atom(K.CIDR, value.cidr, False)
    if isinstance(value, SigmaFieldReference):
        return _fieldref_atom(value)
    if isinstance(value, SigmaCompareExpression):
        return _compare(value, field, span)
    if isinstance(value, SigmaNull):
        return ir.Not(_exists(field, span), span=span)
    if isinstance(value, SigmaExists):
        return _exists(field, span) if value.exists else ir.Not(_exists(field, span), span=span)
    raise unsupported(f"a value of type {_type_name(value)}", span)


def _time_part(value: SigmaTimestampPart, field: ir.Expr, span: ir.Span) -> ir.Match:
    """`f|hour: 3`: the hour (minute, day, week, month, year) of the time in `f` equals 3."""
    part = ir.Literal(value.timestamp_part.name.lower(), span=span)
    call = ir.Call("datepart", (part, field), span=span)
    return ir.Match(call, K.EQ, (value.number,), False, span=span)


def _fieldref_atom(value: SigmaFieldReference) -> Atom:
    kinds = {(False, False): K.EQ, (True, False): K.STARTSWITH, (False, True): K.ENDSWITH}
    kind = kinds.get((value.starts_with, value.ends_with), K.CONTAINS)
    return Atom(kind, ir.FieldRef(value.field), False)


def _compare(value: SigmaCompareExpression, field: ir.Expr, span: ir.Span) -> Atom | ir.Expr:
    number = value.number.number
    if value.op is CompareOperators.NEQ:
        return ir.Not(ir.Match(field, K.EQ, (number,), False, span=span), span=span)
    return Atom(_COMPARE_KINDS[value.op], number, False)


def _exists(field: ir.Expr, span: ir.Span) -> ir.Match:
    return ir.Match(field, K.EXISTS, (), False, span=span)


def _type_name(value: SigmaType) -> str:
    return type(value).__name__.removeprefix("Sigma")
