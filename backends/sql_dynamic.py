"""`mv-expand` in SQL: one row per element of dynamic (JSON text) arrays and property bags.

Dynamic values are text (see `sql_functions`). Per KQL: an array gives one row per element, a
property bag one row per property (as a one-property bag), an empty array or bag no row, null
or any other value one row holding it. Several columns expand in parallel, the shorter padded
with nulls; `limit` caps the rows made from one input row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from rulec.backends.sql_functions import fill
from rulec.compiler import ir

if TYPE_CHECKING:
    from rulec.backends.sql import QueryBuilder

Columns = tuple[str, ...] | None

POSITION = "_rulec_i"
# (duckdb, postgres) templates over the value _1 and, for elements, the position _2
IS_ARRAY = ("JSON_VALID(_1) AND JSON_TYPE(_1) = 'ARRAY'", "_1 ~ '^\\s*\\['")
IS_BAG = ("JSON_VALID(_1) AND JSON_TYPE(_1) = 'OBJECT'", "_1 ~ '^\\s*\\{'")
ARRAY_LENGTH = ("JSON_ARRAY_LENGTH(_1)", "JSONB_ARRAY_LENGTH(CAST(_1 AS JSONB))")
BAG_SIZE = ("LEN(JSON_KEYS(_1))", "(SELECT COUNT(*) FROM JSON_EACH(CAST(_1 AS JSON)))")
ARRAY_ELEMENT = ("JSON_EXTRACT_STRING(_1, _2)", "CAST(_1 AS JSONB) ->> CAST(_2 AS INT)")
BAG_ELEMENT = (
    "CAST(JSON_OBJECT(JSON_KEYS(_1)[_2 + 1], JSON_EXTRACT(_1, JSON_KEYS(_1)[_2 + 1])) AS VARCHAR)",
    "(SELECT CAST(JSONB_BUILD_OBJECT(e.key, CAST(e.value AS JSONB)) AS TEXT) "
    "FROM JSON_EACH(CAST(_1 AS JSON)) WITH ORDINALITY AS e(key, value, n) WHERE e.n = _2 + 1)",
)


def _sql(builder: QueryBuilder, pair: tuple[str, str], args: list[exp.Expression]) -> str:
    postgres = builder.dialect.postgres_arrays
    return fill(pair[postgres], builder.dialect.templates, args).sql(dialect=builder.dialect.name)


def _count(builder: QueryBuilder, value: exp.Expression) -> exp.Expression:
    """How many rows the value expands to."""
    text = (
        f"CASE WHEN _1 IS NULL THEN 1 WHEN {_sql(builder, IS_ARRAY, [value])} "
        f"THEN {_sql(builder, ARRAY_LENGTH, [value])} WHEN {_sql(builder, IS_BAG, [value])} "
        f"THEN {_sql(builder, BAG_SIZE, [value])} ELSE 1 END"
    )
    return fill(text, builder.dialect.name, [value])


def _element(builder: QueryBuilder, value: exp.Expression) -> exp.Expression:
    """The value's element at the row's position, as dynamic text."""
    position = exp.column(POSITION, quoted=True)
    args = [value, position]
    text = (
        f"CASE WHEN {_sql(builder, IS_ARRAY, args)} THEN {_sql(builder, ARRAY_ELEMENT, args)} "
        f"WHEN {_sql(builder, IS_BAG, args)} THEN {_sql(builder, BAG_ELEMENT, args)} "
        "WHEN _2 = 0 THEN _1 END"
    )
    return fill(text, builder.dialect.name, args)


def others_than(names: list[str]) -> exp.Expression:
    """DuckDB's `COLUMNS(c -> c NOT IN names)`: every column but these."""
    c = exp.to_identifier("c")
    listed = [exp.Literal.string(n) for n in names]
    return exp.Columns(
        this=exp.Lambda(this=exp.Not(this=exp.In(this=c, expressions=listed)), expressions=[c])
    )


def mv_expand(
    builder: QueryBuilder, select: exp.Select, columns: Columns, stage: ir.MvExpand
) -> tuple[exp.Select, Columns]:
    """The rows of `select` (with `columns`, when known) expanded by `stage`."""
    names = [a.name for a in stage.columns]
    hidden = [f"_rulec_mv{n}" for n in range(len(names))]
    values = [builder.scalar(a.expr) for a in stage.columns]
    counts = [_count(builder, exp.column(h, quoted=True)) for h in hidden]
    rows = counts[0] if len(counts) == 1 else exp.Greatest(this=counts[0], expressions=counts[1:])
    if stage.limit is not None:
        rows = exp.Least(this=rows, expressions=[exp.Literal.number(stage.limit)])
    prepared = exp.select(
        exp.Star(), *[exp.alias_(v, h, quoted=True) for v, h in zip(values, hidden, strict=True)]
    ).from_(builder.scope(select))
    expanded = [
        exp.alias_(_element(builder, exp.column(h, quoted=True)), n, quoted=True)
        for h, n in zip(hidden, names, strict=True)
    ]
    if columns is not None:
        new = dict(zip(names, expanded, strict=True))
        out = [new.pop(c) if c in new else exp.column(c, quoted=True) for c in columns]
        out += list(new.values())
        columns = (*columns, *[n for n in names if n not in columns])
    elif builder.dialect.star_columns:
        out = [others_than([*names, *hidden, POSITION]), *expanded]
    else:
        raise builder.needs_schema(stage, "mv-expand")
    return _positioned(builder, prepared, rows, out), columns


def _positioned(
    builder: QueryBuilder, prepared: exp.Select, rows: exp.Expression, out: list[exp.Expression]
) -> exp.Select:
    """`out` over each row of `prepared` repeated `rows` times, numbered by POSITION from 0.

    DuckDB numbers them with UNNEST in the select list: its planner takes time exponential in
    the depth of nested LATERAL joins (four nested `mv-expand`s do not finish)."""
    last = exp.Sub(this=exp.cast(rows, "BIGINT"), expression=exp.Literal.number(1))
    series = exp.func("GENERATE_SERIES", exp.Literal.number(0), last)
    if builder.dialect.unnest_positions:
        name = exp.to_identifier(POSITION, quoted=True)
        each = exp.Alias(this=exp.Unnest(expressions=[series]), alias=name)
        numbered = exp.select(exp.Star(), each).from_(builder.scope(prepared))
        return exp.select(*out).from_(builder.scope(numbered))
    positions = exp.Lateral(
        this=series,
        alias=exp.TableAlias(this=exp.to_identifier("_g"), columns=[exp.to_identifier(POSITION)]),
    )
    return exp.select(*out).from_(builder.scope(prepared)).join(positions, join_type="cross")
