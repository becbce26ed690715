"""The clauses of a filter read from the IR, without compiling it, where that reads the same.

`prefilter.clauses` reads a rule's compiled filter. For a filter made only of `and`, `or`, `not`
and text matches (equal, contains, starts or ends with, wildcards, presence) of fields the table
stores, the clauses are read here from the IR instead, as `prefilter` would read the SQL that the
DuckDB back end writes for it: each value's text (the longest plain run of its LIKE pattern), an
`or` of values or of operands as one choice each (`prefilter.either`), an `and` as the clauses of
each operand in turn, a `not`, a presence test or a field the table lacks (NULL text) as no
requirement. A rule whose filter is anything else (regular expressions, networks, functions,
stages after it) is compiled as before. Most rules have no candidate events: their filter then
is never compiled.
"""

from __future__ import annotations

from collections.abc import Mapping

from rulec.backends.sql import LIKE_ESCAPE, like_pattern
from rulec.backends.values import bool_text, number_text
from rulec.compiler import ir
from rulec.compiler.run.multirule.prefilter import Clause, either, like_text

PLAIN_TEXT = frozenset(
    {ir.MatchKind.EQ, ir.MatchKind.CONTAINS, ir.MatchKind.STARTSWITH, ir.MatchKind.ENDSWITH}
)
TEXT_MATCHES = frozenset(
    {ir.MatchKind.CONTAINS, ir.MatchKind.STARTSWITH, ir.MatchKind.ENDSWITH, ir.MatchKind.WILDCARD}
)


class Unread(Exception):
    """The filter holds what only its compiled SQL tells."""


def ir_clauses(
    filters: ir.Pipeline, columns: Mapping[str, str], raw: str
) -> tuple[list[Clause], set[str]] | None:
    """The clauses of the pipeline's leading filters (as `prefilter.clauses` reads them from the
    compiled, bound filter) and the stored columns they read; None when only the SQL tells.
    `columns`: each field's stored column; `raw`: the field keyword searches read."""
    reader = _Reader(columns, raw)
    predicates = [stage.predicate for stage in filters.stages if isinstance(stage, ir.Filter)]
    try:
        found = [clause for predicate in predicates for clause in reader.clauses(predicate)]
    except Unread:
        return None
    return found, reader.read


class _Reader:
    def __init__(self, columns: Mapping[str, str], raw: str):
        self.columns, self.raw = columns, raw
        self.read: set[str] = set()

    def clauses(self, node: ir.Expr) -> list[Clause]:
        if isinstance(node, ir.And | ir.Or) and not node.operands:
            raise Unread
        if isinstance(node, ir.And):
            return [c for operand in node.operands for c in self.clauses(operand)]
        if isinstance(node, ir.Or):
            sides = [self.clauses(operand) for operand in node.operands]
            return sides[0] if len(sides) == 1 else either(sides)
        if isinstance(node, ir.Not):
            self.clauses(node.operand)  # its columns; `not` requires nothing
            return []
        if isinstance(node, ir.Match):
            return self.match(node)
        raise Unread

    def match(self, node: ir.Match) -> list[Clause]:
        column = self.column(node.field)
        if node.transforms:
            raise Unread
        if node.kind is ir.MatchKind.EXISTS:
            return []
        if not node.values:
            raise Unread
        texts = [self.text(node, value) for value in node.values]
        if column is None:
            return []  # a field the table lacks reads as NULL text: it holds no text
        sides = [[frozenset({(column, text)})] for text in texts]
        return sides[0] if len(sides) == 1 else either(sides)

    def column(self, field: ir.Expr) -> str | None:
        """The stored column of the field (None: the table lacks it)."""
        if isinstance(field, ir.FieldRef):
            name = field.name
        elif isinstance(field, ir.RawText):
            name = self.raw
        else:
            raise Unread
        if name not in self.columns:
            return None
        self.read.add(self.columns[name])
        return self.columns[name]

    @staticmethod
    def text(node: ir.Match, value: ir.MatchValue) -> str:
        """The text an event's field must hold for `value` to match (as `SqlBackend.match_value`
        writes the test)."""
        if isinstance(value, bool):
            value = bool_text(value)
        if isinstance(value, int | float):
            if node.kind is not ir.MatchKind.EQ:
                raise Unread
            return number_text(value)
        if node.kind in PLAIN_TEXT and isinstance(value, str):
            return value  # its LIKE pattern escapes it whole: one run of plain text
        if node.kind in TEXT_MATCHES and isinstance(value, str | ir.Pattern):
            try:
                return like_text(like_pattern(node.kind, value), LIKE_ESCAPE)
            except ValueError:
                raise Unread from None
        raise Unread
