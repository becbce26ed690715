"""Necessary conditions of rule filters: the literal text an event must hold to possibly match.

A rule's filter (a SQL condition) is read into clauses: each clause is a set of (field, text)
atoms, and whenever the filter is TRUE for an event, every clause has an atom whose text occurs,
case-insensitively, in that field of the event (an empty text: that the field is not NULL, as a
regular expression needs). Reading is conservative: whatever is not understood (NOT, CASE,
functions) requires nothing, so an empty list of clauses means "any event may match". The
clauses never decide a match: they only choose which events a rule's exact filter must still
be run on.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from functools import lru_cache, partial

from sqlglot import exp

Atom = tuple[str, str]  # (field, text that must occur in it, before lowering; "": not NULL)
Clause = frozenset[Atom]

CHOICES = 1024  # clauses an OR may give, one per choice of a clause of each side
SUBSTRING_FUNCTIONS = {"contains", "starts_with", "suffix", "ends_with", "prefix"}


def clauses(predicate: exp.Expression) -> list[Clause]:
    """Clauses that hold whenever `predicate` is TRUE (empty: no requirement)."""
    if isinstance(predicate, exp.Paren):
        return clauses(predicate.this)
    if isinstance(predicate, exp.And):
        return [c for part in predicate.flatten() for c in clauses(part)]
    if isinstance(predicate, exp.Or):
        return either([clauses(part) for part in predicate.flatten()])
    if isinstance(predicate, exp.Coalesce) and _is_false(predicate.expressions):
        return clauses(predicate.this)
    if isinstance(predicate, exp.In) and not predicate.args.get("query"):
        atoms = [_pair(predicate.this, item) for item in predicate.expressions]
        return [frozenset(atoms)] if atoms and all(atoms) else []
    atom = _atom(predicate)
    return [frozenset({atom})] if atom else []


def best(found: list[Clause]) -> Clause:
    """The clause most likely to be rare: the longest shortest text, then the fewest atoms."""
    return max(found, key=lambda c: (min(len(text) for _, text in c), -len(c)))


def either(sides: list[list[Clause]]) -> list[Clause]:
    """The requirements of `a OR b OR ...`: for each choice of one clause per side, an atom of
    one of them (the events then choose the rarest); past `CHOICES` choices, one atom of the
    best clause of any side."""
    if not all(sides):
        return []
    if math.prod(len(side) for side in sides) > CHOICES:
        return [frozenset().union(*(best(side) for side in sides))]
    return list(dict.fromkeys(frozenset().union(*choice) for choice in itertools.product(*sides)))


def _is_false(rest: list[exp.Expression]) -> bool:
    return len(rest) == 1 and isinstance(rest[0], exp.Boolean) and not rest[0].this


def _atom(node: exp.Expression) -> Atom | None:
    """(field, text) when `node` is TRUE only if the text occurs in the field (any case)."""
    if isinstance(node, exp.Escape) and isinstance(node.this, exp.Like | exp.ILike):
        return _like_atom(node.this, _string(node.expression))
    if isinstance(node, exp.Like | exp.ILike):
        return _like_atom(node, None)
    if isinstance(node, exp.Anonymous) and node.name.lower() in SUBSTRING_FUNCTIONS:
        pair = node.expressions
        return _pair(pair[0], pair[1]) if len(pair) == 2 else None
    if isinstance(node, exp.StartsWith | exp.Contains | exp.EndsWith):
        return _pair(node.this, node.expression)
    if isinstance(node, exp.RegexpLike):
        name = _column(node.this)
        return (name, "") if name else None
    if isinstance(node, exp.EQ):
        return _pair(node.this, node.expression) or _pair(node.expression, node.this)
    return None


def _pair(field: exp.Expression, text: exp.Expression) -> Atom | None:
    """(field, text) for `[LOWER](column)` against `[LOWER]('text')`."""
    name, literal = _column(field), _string(_unlowered(text))
    return (name, literal) if name and literal is not None else None


def _like_atom(like: exp.Expression, escape: str | None) -> Atom | None:
    """(field, longest run of plain text) of `field LIKE 'pattern'`."""
    name, pattern = _column(like.this), _string(_unlowered(like.expression))
    if not name or pattern is None or (escape is not None and len(escape) != 1):
        return None
    return name, like_text(pattern, escape)


def like_text(pattern: str, escape: str | None) -> str:
    """The longest run of plain text of a LIKE pattern ("" when it has none)."""
    runs, unescape = _like_runs(escape)
    return max((unescape(run) for run in runs.findall(pattern)), key=len, default="")


@lru_cache(maxsize=8)
def _like_runs(escape: str | None) -> tuple[re.Pattern[str], Callable[[str], str]]:
    """The runs of plain text of a LIKE pattern with this escape character (an escaped
    character is plain text; a lone escape at the end stands for itself, unless it is a
    wildcard), and how to read a run's text."""
    if escape is None:
        return re.compile(r"[^%_]+", re.DOTALL), str
    mark = re.escape(escape)
    last = "" if escape in "%_" else rf"|{mark}$"  # a wildcard is one even there
    runs = re.compile(rf"(?:{mark}.{last}|[^%_{mark}])+", re.DOTALL)
    escaped = re.compile(rf"{mark}(.)", re.DOTALL)
    return runs, partial(escaped.sub, r"\1")


def _unlowered(node: exp.Expression) -> exp.Expression:
    return node.this if isinstance(node, exp.Lower) else node


def _column(node: exp.Expression) -> str | None:
    node = _unlowered(node)
    return node.name if isinstance(node, exp.Column) and not node.table else None


def _string(node: exp.Expression | None) -> str | None:
    if isinstance(node, exp.Literal) and node.is_string:
        return node.this
    return None
