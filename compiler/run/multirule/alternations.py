"""Long lists of text tests on one field as one regular expression.

A rule listing thousands of values for one field (hashes of vulnerable drivers, names of
tools) compiles to `contains(f, 'a') OR contains(f, 'b') OR ...`: DuckDB binds and evaluates
each call on its own, which takes it seconds and a hundred megabytes for one rule. The same
tests as `regexp_matches(f, 'a|b|...')` run as one automaton over each value. The rows are the
same: each text is written literally (its regular expression characters escaped), a prefix
test anchored at the start, a suffix test at the end; lowered texts are lowered together
(`LOWER` maps each character on its own); NULL stays NULL.
"""

from __future__ import annotations

from sqlglot import exp

LONGEST = 16  # tests on one field from which they become one regular expression
SPECIAL = frozenset("\\.+*?()|[]{}^$")  # what RE2 reads as other than itself
ANCHORS = {"CONTAINS": ("", ""), "STARTS_WITH": ("^", ""), "SUFFIX": ("", "$")}


def alternations(predicate: exp.Expression) -> exp.Expression:
    """The predicate with every OR of at least LONGEST literal text tests on one field written
    as one regular expression match. Rewritten in place."""
    for node in list(predicate.find_all(exp.Or)):
        if isinstance(node.parent, exp.Or):
            continue  # read with the OR it belongs to
        merged = _merged(list(node.flatten()))
        if merged is None:
            continue
        if node is predicate:
            return merged
        node.replace(merged)
    return predicate


def _merged(operands: list[exp.Expression]) -> exp.Expression | None:
    """The OR of `operands`, each field's long list of tests as one match; None if none is."""
    groups: dict[tuple[exp.Expression, bool], list[tuple[exp.Expression, exp.Expression, str]]] = {}
    others: list[exp.Expression] = []
    for operand in operands:
        test = _test(operand)
        if test is None:
            others.append(operand)
        else:
            field, lowered, pattern = test
            # sqlglot compares and hashes expressions by their structure
            groups.setdefault((field, lowered), []).append((operand, field, pattern))
    merged = []
    for (_, lowered), tests in groups.items():
        if len(tests) < LONGEST:
            others.extend(operand for operand, _, _ in tests)
            continue
        text: exp.Expression = exp.Literal.string("|".join(p for _, _, p in tests))
        text = exp.Lower(this=text) if lowered else text
        merged.append(exp.Anonymous(this="regexp_matches", expressions=[tests[0][1], text]))
    if not merged:
        return None
    parts = [*merged, *others]
    return exp.Paren(this=exp.or_(*parts, copy=False)) if len(parts) > 1 else parts[0]


def _test(node: exp.Expression) -> tuple[exp.Expression, bool, str] | None:
    """(field, whether the text is lowered, the test as a regular expression) of
    `contains|starts_with|suffix(field, 'text')` (the text lowered or not)."""
    if not isinstance(node, exp.Anonymous) or len(node.expressions) != 2:
        return None
    anchors = ANCHORS.get(node.name.upper())
    field, text = node.expressions
    lowered = isinstance(text, exp.Lower)
    literal = text.this if lowered else text
    if anchors is None or not isinstance(literal, exp.Literal) or not literal.is_string:
        return None
    escaped = "".join("\\" + c if c in SPECIAL else c for c in literal.this)
    return field, lowered, anchors[0] + escaped + anchors[1]
