"""The literal text a regular expression needs: what the prefilter can look for in a rule that
matches only regular expressions.

A pattern is read with Python's own regular-expression parser, which agrees with RE2 (DuckDB's
engine) on literals, groups and alternations; a pattern it reads differently or not at all
(POSIX classes, `\\Q...\\E`, `\\pN`...) needs nothing. Each sequence needs its longest run of
literal characters, each group what it needs itself, and an alternation one of its branches'
texts. When the pattern ignores case, runs stop at `s` and `k` (RE2 folds them with the long s
and the Kelvin sign, which `lower` keeps apart) and at any character beyond ASCII.
"""

from __future__ import annotations

import re

from sqlglot import exp

try:  # Python 3.11 names it `re._parser`; older versions `sre_parse`
    from re import _parser as parser
except ImportError:  # pragma: no cover
    import sre_parse as parser  # type: ignore[no-redef]

SHORTEST = 3  # shorter literal runs are too common to narrow anything
FOLDED = frozenset("sSkK")
IGNORE_CASE = re.compile(r"\(\?[a-zA-Z]*i")

Needs = list[list[str]]  # every inner list holds a text that a match contains


def texts_needed(pattern: str, ignore_case: bool = False) -> Needs:
    """Lists of texts, each holding one that every match of the pattern contains."""
    if "[:" in pattern or "\\Q" in pattern:
        return []
    ignore_case = ignore_case or bool(IGNORE_CASE.search(pattern))
    try:
        parsed = parser.parse(pattern)
    except Exception:
        return []
    return _sequence(list(parsed), ignore_case)


def with_texts(predicate: exp.Expression) -> exp.Expression:
    """The predicate with each regular expression `r` over a column written `r AND (contains
    (column, text) OR ...)` for the texts it needs: the same rows, and clauses that name them."""

    def add(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.RegexpLike) or not isinstance(node.this, exp.Column):
            return node
        pattern, flag = node.expression, node.args.get("flag")
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            return node
        if flag is not None and not (isinstance(flag, exp.Literal) and flag.is_string):
            return node
        needs = texts_needed(pattern.this, flag is not None and "i" in flag.this)
        if not needs:
            return node
        parts = [
            exp.or_(
                *(
                    exp.Anonymous(
                        this="contains", expressions=[node.this.copy(), exp.Literal.string(t)]
                    )
                    for t in texts
                )
            )
            for texts in needs
        ]
        return exp.paren(exp.and_(node.copy(), *parts))

    return predicate.transform(add)


def _sequence(items: list, ignore_case: bool) -> Needs:
    """What a sequence of parsed items needs: its longest literal run, and its groups' needs."""
    needs: Needs = []
    runs, current = [], []
    for op, value in items:
        if op is parser.LITERAL and _plain(value, ignore_case):
            current.append(chr(value))
            continue
        runs.append("".join(current))
        current = []
        if op is parser.SUBPATTERN:
            needs += _sequence(list(value[-1]), ignore_case)
        elif op is parser.BRANCH:
            needs += _branches(value[1], ignore_case)
    runs.append("".join(current))
    longest = max(runs, key=len)
    if len(longest) >= SHORTEST:
        needs.insert(0, [longest])
    return needs


def _branches(branches: list, ignore_case: bool) -> Needs:
    """One text of each branch, when every branch needs one."""
    texts = []
    for branch in branches:
        found = _sequence(list(branch), ignore_case)
        if not found:
            return []
        texts += found[0]
    return [sorted(set(texts))]


def _plain(code: int, ignore_case: bool) -> bool:
    """Whether the literal character stands for itself in `lower(value)`."""
    char = chr(code)
    return not ignore_case or (char.isascii() and char not in FOLDED)
