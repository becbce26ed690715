"""Columns a scope of a query cannot see, found scope by scope.

A field that one table of a query holds and another lacks (a join, a union, a let-bound table) is
missing only where that other table is read: each SELECT's sources are followed down to the
stored tables, and a column that none of its sources (nor an enclosing scope, nor its own select
list) gives is handed to `replace`. A scope whose sources' columns cannot all be listed (a star
with DuckDB's modifiers, a table not stored) is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

Stored = Callable[[str], tuple[str, ...] | None]
Names = frozenset[str] | None  # a scope's output columns; None when they cannot be listed
ALIASED = ("where", "having", "qualify", "order")  # clauses where DuckDB reads a select alias


def replace_unseen_columns(
    tree: exp.Expression, stored: Stored, replace: Callable[[exp.Column], exp.Expression]
) -> None:
    """Replace (in place) each column reference no source of its scope holds."""
    outputs: dict[int, Names] = {}
    unseen: list[exp.Column] = []
    for scope in traverse_scope(tree):
        sources = {
            name: _columns(source, stored, outputs)
            for name, (_, source) in scope.selected_sources.items()
        }
        outputs[id(scope.expression)] = _outputs(scope, sources, outputs)
        if not isinstance(scope.expression, exp.Select):
            continue
        unseen += [c for c in scope.columns if _unseen(c, scope, sources, stored, outputs)]
    for column in unseen:
        column.replace(replace(column))


def _columns(source: object, stored: Stored, outputs: dict[int, Names]) -> Names:
    if isinstance(source, exp.Table):
        found = stored(".".join(part.name for part in source.parts))
        return None if found is None else frozenset(found)
    if isinstance(source, Scope):
        return outputs.get(id(source.expression))
    return None


def _outputs(scope: Scope, sources: dict[str, Names], outputs: dict[int, Names]) -> Names:
    """The names a scope's rows have."""
    query = scope.expression
    if isinstance(query, exp.SetOperation):
        return outputs.get(id(query.left))
    if not isinstance(query, exp.Select):
        return None
    names: set[str] = set()
    for projection in query.expressions:
        star = projection if isinstance(projection, exp.Star) else None
        if isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
            star, read = projection.this, [sources.get(projection.table)]
        else:
            read = list(sources.values())
        if star is None:
            names.add(projection.alias_or_name)
        elif any(star.args.get(k) for k in ("except", "replace", "rename")) or None in read:
            return None
        else:
            names.update(*read)
    return frozenset(names)


def _unseen(
    column: exp.Column,
    scope: Scope,
    sources: dict[str, Names],
    stored: Stored,
    outputs: dict[int, Names],
) -> bool:
    if isinstance(column.this, exp.Star):
        return False
    if column.find_ancestor(exp.Select) is not scope.expression:
        return False  # a column of a nested query, judged in its own scope
    if column.table:
        seen = sources.get(column.table)
        return seen is not None and column.name not in seen
    if None in sources.values():
        return False
    if column.name in scope.expression.named_selects and _clause(column, scope) in ALIASED:
        return False  # an alias of the select list, read where the engine resolves one
    if any(column.name in seen for seen in sources.values() if seen):
        return False
    outer = scope.parent if scope.is_subquery else None
    while outer is not None:  # a correlated reference to an enclosing scope's source
        found = [_columns(s, stored, outputs) for _, s in outer.selected_sources.values()]
        if None in found or any(column.name in seen for seen in found if seen):
            return False
        outer = outer.parent
    return True


def _clause(column: exp.Column, scope: Scope) -> str | None:
    """The clause of its scope's SELECT that `column` lies in (`expressions`, `where`, ...)."""
    node: exp.Expression = column
    while node.parent is not None and node.parent is not scope.expression:
        node = node.parent
    return node.arg_key
