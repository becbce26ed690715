"""Relational stages whose output columns depend on their input's: extend, project-away, rename,
join, union and invoke, and the plug-ins whose columns are known without the data
(`bag_unpack()` with its output columns declared, `ipv4_lookup()`).

Where the schema is known (the executor always knows it; `Options.schema` for conversion), each
stage lists its columns explicitly, which every SQL engine runs. Where it is not, DuckDB's star
modifiers (`COLUMNS(lambda)`, `* EXCLUDE`, `* RENAME`, `UNION BY NAME`) express the same thing;
other dialects report that they need the schema.

Joins follow KQL: the output holds the left columns, then the right ones, a right column whose
name is taken getting the suffix `1` (`SHA1` -> `SHA11`); keys compare as KQL strings do, so a
missing value equals the empty string; `innerunique` first keeps one left row per key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from sqlglot import exp

from rulec.backends.sql_dynamic import mv_expand, others_than
from rulec.backends.sql_functions import fill
from rulec.backends.sql_network import IPV4_TEXT, ipv4_text
from rulec.compiler import ir

if TYPE_CHECKING:
    from rulec.backends.sql import QueryBuilder

Columns = tuple[str, ...] | None


class Rel(NamedTuple):
    """A compiled pipeline so far: its SELECT and, where known, its output columns."""

    select: exp.Select
    columns: Columns


RELATIONAL = (
    ir.Extend,
    ir.Serialize,
    ir.ProjectAway,
    ir.Rename,
    ir.Join,
    ir.Union,
    ir.Invoke,
    ir.MvExpand,
    ir.MvApply,
)
OUTER = {
    ir.JoinKind.INNER: "inner",
    ir.JoinKind.INNERUNIQUE: "inner",
    ir.JoinKind.LEFTOUTER: "left",
    ir.JoinKind.RIGHTOUTER: "right",
    ir.JoinKind.FULLOUTER: "full",
}


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def relational_stage(builder: QueryBuilder, rel: Rel, stage: ir.Stage) -> Rel:
    if isinstance(stage, ir.Extend | ir.Serialize):
        # a serialize keeps the rows' order: a sort's, which the builder keeps for both
        assignments = stage.assignments if isinstance(stage, ir.Extend) else stage.columns
        for assignment in assignments:
            rel = _extend(builder, rel, assignment)
        return rel
    if isinstance(stage, ir.ProjectAway):
        return _project_away(builder, rel, stage)
    if isinstance(stage, ir.Rename):
        return _rename(builder, rel, stage)
    if isinstance(stage, ir.Join):
        return _join(builder, rel, stage)
    if isinstance(stage, ir.Union):
        return _union(builder, rel, stage)
    if isinstance(stage, ir.MvExpand):
        return Rel(*mv_expand(builder, rel.select, rel.columns, stage))
    if isinstance(stage, ir.MvApply):
        return _mv_apply(builder, rel, stage)
    return _invoke(builder, rel, stage)


def _duckdb(builder: QueryBuilder) -> bool:
    return builder.dialect.star_columns


def _extend(builder: QueryBuilder, rel: Rel, assignment: ir.Assign) -> Rel:
    value = builder.scalar(assignment.expr)
    return extend_with(builder, rel, [(assignment.name, value)], assignment)


def extend_with(
    builder: QueryBuilder, rel: Rel, values: list[tuple[str, exp.Expression]], node: ir.Node
) -> Rel:
    """The rows with the columns `values` (name, compiled value) set: replaced where the input
    has them, else added after its columns."""
    aliased = {name: exp.alias_(value, name, quoted=True) for name, value in values}
    names = list(aliased)
    source = builder.scope(rel.select)
    if rel.columns is not None:
        out = [aliased.get(c, _col(c)) for c in rel.columns]
        added = [n for n in names if n not in rel.columns]
        columns = (*rel.columns, *added)
        if rel.columns and not any(n in rel.columns for n in names):
            out = [exp.Star()]
        return Rel(exp.select(*out, *[aliased[n] for n in added]).from_(source), columns)
    if not _duckdb(builder):
        raise builder.needs_schema(node, "extend")
    return Rel(exp.select(others_than(names), *aliased.values()).from_(source), None)


def _project_away(builder: QueryBuilder, rel: Rel, stage: ir.ProjectAway) -> Rel:
    source = builder.scope(rel.select)
    if rel.columns is not None:
        kept = tuple(c for c in rel.columns if c not in stage.names)
        return Rel(exp.select(*[_col(c) for c in kept]).from_(source), kept)
    if not _duckdb(builder):
        raise builder.needs_schema(stage, "project-away")
    star = exp.Star(except_=[_col(n) for n in stage.names])
    return Rel(exp.select(star).from_(source), None)


def _rename(builder: QueryBuilder, rel: Rel, stage: ir.Rename) -> Rel:
    source = builder.scope(rel.select)
    new_of = {old: new for new, old in stage.pairs}
    if rel.columns is not None:
        unknown = [old for old in new_of if old not in rel.columns]
        if unknown:
            what = f"project-rename of '{unknown[0]}', which its input does not have"
            raise builder.backend.unsupported(what, stage, _schema_entry(builder, unknown))
        out = [
            exp.alias_(_col(c), new_of[c], quoted=True) if c in new_of else _col(c)
            for c in rel.columns
        ]
        return Rel(exp.select(*out).from_(source), tuple(new_of.get(c, c) for c in rel.columns))
    if not _duckdb(builder):
        raise builder.needs_schema(stage, "project-rename")
    star = exp.Star(rename=[exp.alias_(_col(old), new, quoted=True) for new, old in stage.pairs])
    return Rel(exp.select(star).from_(source), None)


def _schema_entry(builder: QueryBuilder, missing: list[str]) -> str:
    """The `--schema` entry giving the `missing` columns to the stored table the query reads
    that lacks them (columns Microsoft does not document, such as AzureDiagnostics' per-resource
    ones)."""
    read = dict.fromkeys(t.name for t in ir.find_all(builder.query, ir.Table) if not t.wildcard)
    lacking = [(t, c) for t in read if (c := builder.columns_of(t)) and missing[0] not in c]
    if not lacking:
        return "no schema gives it"
    table, columns = lacking[0]
    entry = f"`{table}: [{', '.join(dict.fromkeys((*columns, *missing)))}]`"
    where = f"one of {', '.join(t for t, _ in lacking)}" if len(lacking) > 1 else table
    return f"no schema gives {where} the column; add it in a --schema file: {entry}"


def _mv_apply(builder: QueryBuilder, rel: Rel, stage: ir.MvApply) -> Rel:
    """`mv-apply x = arr on (where ... | extend ...)`: a sub-query of stages that read one row at
    a time is mv-expand followed by them (mv-apply generalises mv-expand). The output holds the
    input's columns but the expanded ones, then the expanded ones, then those the sub-query adds
    (as Kusto.Language orders them). A project in the sub-query keeps the input's other columns
    and the projected ones, which the row-wise stages after it read."""
    if stage.item_index is not None:
        raise builder.backend.unsupported("mv-apply with_itemindex", stage)
    expanded = [a.name for a in stage.columns]
    added: list[str] = []
    inners = stage.apply.stages
    at = next((i for i, s in enumerate(inners) if isinstance(s, ir.Project)), len(inners))
    projected = inners[at] if at < len(inners) else None
    inners, after = inners[:at], inners[at + 1 :]
    new = [c.name for c in projected.columns] if projected is not None else []
    if new and rel.columns is None:
        raise builder.needs_schema(projected, "mv-apply of a sub-query with project")
    for name in (n for n in new if n in (rel.columns or ())):
        what = f"mv-apply of a sub-query that projects {name}, a column of its input"
        detail = "Microsoft's documentation does not say which value the column then holds"
        raise builder.backend.unsupported(what, projected, detail)
    for inner in after:
        if not isinstance(inner, ir.Filter | ir.Extend):
            what = f"mv-apply of a sub-query with the {type(inner).__name__} stage after project"
            raise builder.backend.unsupported(what, inner)
        for assignment in _row_wise_columns(inner):
            if assignment.name in (rel.columns or ()):
                what = "mv-apply of a sub-query that sets a column of its input"
                raise builder.backend.unsupported(what, assignment)
    for inner in inners:
        if not isinstance(inner, ir.Filter | ir.Extend | ir.MvApply):
            what = f"mv-apply of a sub-query with the {type(inner).__name__} stage"
            raise builder.backend.unsupported(what, inner)
        for assignment in _row_wise_columns(inner):
            outer = rel.columns is not None and assignment.name in rel.columns
            if outer and assignment.name not in expanded:
                what = "mv-apply of a sub-query that sets a column of its input"
                raise builder.backend.unsupported(what, assignment)
            if assignment.name not in expanded and assignment.name not in added:
                added.append(assignment.name)
    rel = Rel(*mv_expand(builder, rel.select, rel.columns, ir.MvExpand(stage.columns, stage.limit)))
    builder.order = None  # each row's values are a table of their own: no sort reaches them
    outer = rel.columns
    for inner in inners:
        rel = builder.tracked_stage(rel, inner)
    if rel.columns is None:
        return rel
    kept = [c for c in rel.columns if c not in expanded and c not in added]
    if projected is not None:  # the sub-query's rows are its projection: the input's others
        kept = [c for c in outer or () if c not in expanded]
        out = [_col(c) for c in kept]
        out += [exp.alias_(builder.scalar(c.expr), c.name, quoted=True) for c in projected.columns]
        names = (*kept, *[c.name for c in projected.columns])
        rel = Rel(exp.select(*out).from_(builder.scope(rel.select)), names)
        for inner in after:  # row-wise stages on the projection's rows
            rel = builder.tracked_stage(rel, inner)
        return rel
    ordered = (*kept, *expanded, *added)
    select = exp.select(*[_col(c) for c in ordered]).from_(builder.scope(rel.select))
    return Rel(select, ordered)


def _row_wise_columns(stage: ir.Stage) -> list[ir.Assign]:
    """The columns a row-wise stage of an mv-apply sub-query sets: an extend's, or a nested
    mv-apply's expanded and computed ones (itself row-wise: mv-expand and row-wise stages)."""
    if isinstance(stage, ir.Extend):
        return list(stage.assignments)
    if isinstance(stage, ir.MvApply):
        inner = [a for s in stage.apply.stages for a in _row_wise_columns(s)]
        return [*stage.columns, *inner]
    return []


def _suffixed(left: tuple[str, ...], right: tuple[str, ...]) -> list[str]:
    """KQL's names for the right side's columns: a taken name gets 1 (then 2, ...)."""
    taken = set(left)
    names = []
    for column in right:
        name, n = column, 0
        while name in taken:
            n += 1
            name = f"{column}{n}"
        taken.add(name)
        names.append(name)
    return names


def _key_equal(left: str, right: str) -> exp.Expression:
    empty = exp.Literal.string("")
    return exp.EQ(
        this=exp.Coalesce(this=_col(left, "l"), expressions=[empty]),
        expression=exp.Coalesce(this=_col(right, "r"), expressions=[empty.copy()]),
    )


def _unique_left(builder: QueryBuilder, rel: Rel, keys: list[str]) -> exp.Select:
    """One row per join key (KQL `innerunique`): the first in the order of all columns."""
    order = [exp.Ordered(this=_col(c)) for c in rel.columns or keys]
    number = exp.Window(
        this=exp.RowNumber(),
        partition_by=[_col(k) for k in keys],
        order=exp.Order(expressions=order),
    )
    ranked = exp.select(exp.Star(), exp.alias_(number, "_rulec_n", quoted=True)).from_(
        builder.scope(rel.select)
    )
    kept = builder.wrap(ranked).where(
        exp.EQ(this=_col("_rulec_n"), expression=exp.Literal.number(1))
    )
    return exp.select(*[_col(c) for c in rel.columns]).from_(builder.scope(kept))


def _join(builder: QueryBuilder, rel: Rel, stage: ir.Join) -> Rel:
    right = builder.relation(stage.right)
    if rel.columns is None or right.columns is None:
        raise builder.needs_schema(stage, f"join kind={stage.kind.value}")
    on = exp.and_(*[_key_equal(lk, rk) for lk, rk in stage.keys])
    left_select = rel.select
    if stage.kind is ir.JoinKind.INNERUNIQUE:
        left_select = _unique_left(builder, rel, [lk for lk, _ in stage.keys])
    if stage.kind in OUTER:
        names = _suffixed(rel.columns, right.columns)
        out = [_col(c, "l") for c in rel.columns]
        out += [
            exp.alias_(_col(c, "r"), n, quoted=True)
            for c, n in zip(right.columns, names, strict=True)
        ]
        joined = (
            exp.select(*out)
            .from_(left_select.subquery("l"))
            .join(right.select.subquery("r"), on=on, join_type=OUTER[stage.kind])
        )
        return Rel(builder.wrap(joined), (*rel.columns, *names))
    keep_left = stage.kind in (ir.JoinKind.LEFTSEMI, ir.JoinKind.LEFTANTI)
    kept, other = (left_select, right.select) if keep_left else (right.select, left_select)
    kept_alias, other_alias = ("l", "r") if keep_left else ("r", "l")
    probe = exp.select(exp.Literal.number(1)).from_(other.subquery(other_alias)).where(on)
    exists: exp.Expression = exp.Exists(this=probe)
    if stage.kind in (ir.JoinKind.LEFTANTI, ir.JoinKind.RIGHTANTI):
        exists = exp.Not(this=exists)
    filtered = exp.select(exp.Star()).from_(kept.subquery(kept_alias)).where(exists)
    return Rel(builder.wrap(filtered), rel.columns if keep_left else right.columns)


def _union(builder: QueryBuilder, rel: Rel, stage: ir.Union) -> Rel:
    parts = [rel, *(builder.relation(p) for p in stage.pipelines)]
    if stage.source_column is not None:
        parts = _tagged(builder, stage, parts)
    if all(p.columns is not None for p in parts):
        names: dict[str, None] = {}
        for part in parts:
            names.update(dict.fromkeys(part.columns))
        selects = [
            exp.select(
                *[
                    _col(n) if n in part.columns else exp.alias_(exp.null(), n, quoted=True)
                    for n in names
                ]
            ).from_(builder.scope(part.select))
            for part in parts
        ]
        combined = selects[0]
        for select in selects[1:]:
            combined = exp.union(combined, select, distinct=False)
        return Rel(builder.wrap(combined), tuple(names))
    if not _duckdb(builder):
        raise builder.needs_schema(stage, "union")
    combined = parts[0].select
    for part in parts[1:]:
        combined = exp.Union(this=combined, expression=part.select, distinct=False, by_name=True)
    return Rel(builder.wrap(combined), None)


def _tagged(builder: QueryBuilder, stage: ir.Union, parts: list[Rel]) -> list[Rel]:
    """`union withsource=c A, B`: each part's rows with its table's name in `c`, the first
    column; each part must be a table as stored (the name of anything else is not documented)."""
    column = stage.source_column
    names = [_bare_table(builder, parts[0].select)]
    names += [_stored_table(p) for p in stage.pipelines]
    if None in names or any(p.columns is not None and column in p.columns for p in parts):
        what = "union withsource= of anything but tables that do not have the column"
        raise builder.backend.unsupported(what, stage)
    tagged = []
    for name, part in zip(names, parts, strict=True):
        label = exp.alias_(exp.Literal.string(name), column, quoted=True)
        select = exp.select(label, exp.Star()).from_(builder.scope(part.select))
        tagged.append(Rel(select, None if part.columns is None else (column, *part.columns)))
    return tagged


def _bare_table(builder: QueryBuilder, select: exp.Select) -> str | None:
    """The name of the stored table `select` reads as it is (`SELECT * FROM t`), else None."""
    source = select.args.get("from_")
    table = source.this if source is not None else None
    plain = set(select.args) - {"from_", "expressions"}
    if any(select.args.get(k) for k in plain) or not isinstance(table, exp.Table):
        return None
    if [type(e) for e in select.expressions] != [exp.Star] or table.args.get("db"):
        return None
    return None if table.name in builder.let_columns else table.name


def _stored_table(pipeline: ir.Pipeline) -> str | None:
    source = pipeline.source
    if pipeline.stages or not isinstance(source, ir.Table) or source.wildcard or source.scope:
        return None
    return source.name


def _invoke(builder: QueryBuilder, rel: Rel, stage: ir.Invoke) -> Rel:
    """`invoke F(key, ...)`: the table F (supplied with the data) left-joined on `key`, a column
    or its name as a string (`FileProfile('SHA1', 1000)`)."""
    first = stage.args[0] if stage.args else None
    if isinstance(first, ir.FieldRef):
        key = first.name
    elif isinstance(first, ir.Literal) and isinstance(first.value, str) and first.value:
        key = first.value
    else:
        raise builder.backend.unsupported(f"invoke {stage.function}() without a key field", stage)
    table = builder.columns_of(stage.function)
    on = exp.EQ(this=_col(key, "l"), expression=_col(key, "r"))
    source = exp.table_(stage.function, quoted=True)
    if rel.columns is not None and table is not None:
        added = [c for c in table if c not in rel.columns]
        out = [_col(c, "l") for c in rel.columns] + [_col(c, "r") for c in added]
        columns: Columns = (*rel.columns, *added)
    elif _duckdb(builder):
        out = [
            exp.Column(this=exp.Star(), table=exp.to_identifier("l")),
            exp.Column(this=exp.Star(except_=[_col(key)]), table=exp.to_identifier("r")),
        ]
        columns = None
    else:
        raise builder.needs_schema(stage, f"invoke {stage.function}()")
    joined = (
        exp.select(*out)
        .from_(rel.select.subquery("l"))
        .join(exp.alias_(source, "r", table=True), on=on, join_type="left")
    )
    return Rel(builder.wrap(joined), columns)


# ---------------------------------------------------------------------- arg_max / arg_min

HIDDEN_KEY = "_rulec_key"
RANK = "_rulec_n"
BY = "_rulec_by"


EXTREME = "_rulec_extreme"  # a part's column of the arg_max/arg_min value
MEASURE = "_rulec_measure"  # a part's column of a plain measure (then its position)


class Part(NamedTuple):
    """One input of a summarize with arg_max/arg_min: keyed by the hidden group columns."""

    select: exp.Select
    columns: tuple[tuple[str, str], ...] | None  # (its column, the output's name) after the
    # hidden keys; None: all but those, the value named as the measure


def extreme_aggregate(builder: QueryBuilder, rel: Rel, stage: ir.Aggregate) -> Rel:
    """`summarize arg_max(by, cols), other measures by keys`: the grouped measures joined
    with, per arg_max/arg_min, the group's row where `by` is largest/smallest (rows where it
    is null only when the whole group has nothing else)."""
    if stage.window is not None:
        raise builder.backend.unsupported("arg_max/arg_min over a time window", stage)
    keys = [(g.name, builder.scalar(g.expr)) for g in stage.group_by]
    hidden = [f"{HIDDEN_KEY}{n}" for n in range(len(keys))]
    keyed_columns = [exp.alias_(e, h, quoted=True) for (_, e), h in zip(keys, hidden, strict=True)]
    keyed = exp.select(exp.Star(), *keyed_columns).from_(builder.scope(rel.select))
    plain = [(n, m) for n, m in enumerate(stage.measures) if isinstance(m.agg, ir.AggCall)]
    parts: dict[int, Part] = {}
    if plain or not stage.measures:
        grouped = exp.select(
            *[_col(h) for h in hidden],
            *[exp.alias_(builder.agg(m.agg), f"{MEASURE}{n}", quoted=True) for n, m in plain],
        ).from_(builder.scope(keyed.copy()))
        if hidden:
            grouped = grouped.group_by(*[_col(h) for h in hidden])
        part = Part(grouped, tuple((f"{MEASURE}{n}", m.name) for n, m in plain))
        parts.update((n, part) for n, _ in plain)
    for n, measure in enumerate(stage.measures):
        if isinstance(measure.agg, ir.ArgExtreme):
            parts[n] = _extreme(builder, rel, keyed, hidden, stage.group_by, measure)
    combined = _combine(builder, keys, hidden, stage.measures, parts)
    if stage.having is not None:
        where = builder.predicate(stage.having)
        combined = Rel(builder.wrap(combined.select).where(where, copy=False), combined.columns)
    return combined


def _extreme(
    builder: QueryBuilder,
    rel: Rel,
    keyed: exp.Select,
    hidden: list[str],
    group_by: tuple[ir.Assign, ...],
    measure: ir.Measure,
) -> Part:
    """The group's row where `by` is largest/smallest. `*` stands for the input's columns but
    those a key or `by` reads as they are, as Kusto.Language expands it."""
    agg = measure.agg
    assert isinstance(agg, ir.ArgExtreme)
    by = builder.scalar(agg.by)
    order = _extreme_order(builder, agg, by) + [
        exp.Ordered(this=_col(c), nulls_first=False) for c in rel.columns or ()
    ]
    number = exp.Window(
        this=exp.RowNumber(),
        partition_by=[_col(h) for h in hidden],
        order=exp.Order(expressions=order),
    )
    ranked = exp.select(
        exp.Star(), exp.alias_(by, BY, quoted=True), exp.alias_(number, RANK, quoted=True)
    ).from_(builder.scope(keyed.copy()))
    picked = builder.wrap(ranked).where(exp.EQ(this=_col(RANK), expression=exp.Literal.number(1)))
    plain = [g.expr for g in group_by] + [agg.by]
    left_out = dict.fromkeys(e.name for e in plain if isinstance(e, ir.FieldRef))  # in order
    source = builder.scope(picked)
    if agg.columns or rel.columns is not None:
        named = agg.columns or tuple(c for c in rel.columns or () if c not in left_out)
        kept = tuple(dict.fromkeys(named))
        value = exp.alias_(_col(BY), EXTREME, quoted=True)
        out = [*[_col(h) for h in hidden], value, *[_col(c) for c in kept]]
        columns = ((EXTREME, measure.name), *[(c, c) for c in kept])
        return Part(exp.select(*out).from_(source), columns)
    if not _duckdb(builder) or not all(g.name in left_out for g in group_by):
        raise builder.needs_schema(measure, f"{agg.func}(..., *)")
    value = exp.alias_(_col(BY), measure.name, quoted=True)
    others = others_than([*left_out, measure.name, *hidden, BY, RANK])
    return Part(exp.select(*[_col(h) for h in hidden], value, others).from_(source), None)


def _extreme_order(builder: QueryBuilder, agg: ir.ArgExtreme, by: exp.Expression) -> list:
    """Largest (arg_max) or smallest first, nulls last; a field's text orders as a number,
    else as a time, else as text."""
    descending = agg.func == "arg_max"
    values = [by]
    if isinstance(agg.by, ir.FieldRef):
        values = [builder.dialect.to_number(by), builder.dialect.to_timestamp(by), by]
    return [exp.Ordered(this=v.copy(), desc=descending, nulls_first=False) for v in values]


def unique_name(name: str, taken: set[str]) -> str:
    """KQL's name for a new column: `name`, else with the first free number appended."""
    found, number = name, 0
    while found in taken:
        number += 1
        found = f"{name}{number}"
    return found


def kql_names(names: list[str]) -> tuple[str, ...]:
    """The names of new columns, in order, each taken one numbered (`Timestamp`, `Timestamp1`)."""
    out: list[str] = []
    for name in names:
        out.append(unique_name(name, set(out)))
    return tuple(out)


def _combine(
    builder: QueryBuilder,
    keys: list[tuple[str, exp.Expression]],
    hidden: list[str],
    measures: tuple[ir.Measure, ...],
    parts: dict[int, Part],
) -> Rel:
    """Join the parts on the hidden keys; output the keys, then each measure's columns, a name
    already taken getting a number (`Timestamp1`)."""
    aliases: dict[int, str] = {}
    select: exp.Select | None = None
    for part in parts.values():
        if id(part) in aliases:
            continue
        alias = f"p{len(aliases)}"
        aliases[id(part)] = alias
        source = part.select.subquery(alias)
        if select is None:
            select = exp.select().from_(source)
            continue
        same = [exp.NullSafeEQ(this=_col(h, "p0"), expression=_col(h, alias)) for h in hidden] or [
            exp.true()
        ]
        select = select.join(source, on=exp.and_(*same), join_type="inner")
    assert select is not None
    taken: set[str] = set()
    names: list[str] | None = []
    out: list[exp.Expression] = []

    def add(column: exp.Expression, name: str) -> None:
        final = unique_name(name, taken)
        taken.add(final)
        out.append(exp.alias_(column, final, quoted=True))
        if names is not None:
            names.append(final)

    for (name, _), h in zip(keys, hidden, strict=True):
        add(_col(h, "p0"), name)
    for n, measure in enumerate(measures):
        part = parts[n]
        alias = aliases[id(part)]
        if part.columns is None:
            if unique_name(measure.name, taken) != measure.name:
                raise builder.needs_schema(measure, "summarize columns that share a name")
            star = exp.Star(except_=[_col(h) for h in hidden]) if hidden else exp.Star()
            out.append(exp.Column(this=star, table=exp.to_identifier(alias)))
            names = None
            continue
        mine = part.columns if isinstance(measure.agg, ir.ArgExtreme) else None
        for column, name in mine or [c for c in part.columns if c[0] == f"{MEASURE}{n}"]:
            add(_col(column, alias), name)
    return Rel(builder.wrap(select.select(*out, copy=False)), tuple(names) if names else None)


# ---------------------------------------------------------------------- in / has_any over a table

VALUE = "_rulec_value"
TERM_EDGE = "(^|[^A-Za-z0-9])", "($|[^A-Za-z0-9])"
PUNCTUATION = r"([!-/:-@\[-`{-~])"


def pipeline_match(builder: QueryBuilder, node: ir.InPipeline) -> exp.Expression:
    """`f in (T)`, `f has_any (T)`: the values are T's first column (as in KQL)."""
    rel = builder.relation(node.pipeline)
    first = _first_column(rel)
    if first is None:
        raise builder.needs_schema(node, "`in` over a table")
    value: exp.Expression = _col(first)
    field = builder.scalar(node.field)
    if not node.case_sensitive and node.kind is not ir.MatchKind.HAS:
        field, value = exp.Lower(this=field), exp.Lower(this=value)
    values = exp.select(exp.alias_(value, VALUE, quoted=True)).from_(builder.scope(rel.select))
    if node.kind is ir.MatchKind.EQ:
        return exp.In(this=field, query=exp.Subquery(this=values))
    if node.kind is ir.MatchKind.HAS:
        pattern = _term_pattern(builder, _col(VALUE), node.case_sensitive)
        matched: exp.Expression = exp.RegexpLike(this=field, expression=exp.Paren(this=pattern))
    elif node.kind in AFFIXES:
        matched = _affix(node.kind, field, _col(VALUE))
    else:
        raise builder.backend.unsupported(f"a {node.kind.value} match over a table", node)
    probe = builder.wrap(values).where(matched)
    return exp.Exists(this=probe.select(exp.Literal.number(1), append=False))


def pipeline_value(builder: QueryBuilder, node: ir.ScalarOf) -> exp.Expression:
    """`toscalar(T)`: T's first column in its first row, null when T has no row."""
    rel = builder.relation(node.pipeline)
    first = _first_column(rel)
    if first is None:
        raise builder.needs_schema(node, "toscalar()")
    value = exp.select(_col(first)).from_(builder.scope(rel.select)).limit(1)
    return exp.Paren(this=value)  # not a Subquery, whose alias would name a table


AFFIXES = frozenset({ir.MatchKind.CONTAINS, ir.MatchKind.STARTSWITH, ir.MatchKind.ENDSWITH})


def _affix(kind: ir.MatchKind, field: exp.Expression, value: exp.Expression) -> exp.Expression:
    """`field` contains / starts with / ends with a value known only at run time: by position
    and length, so that no character of the value is a pattern."""
    if kind is ir.MatchKind.CONTAINS:
        found = exp.StrPosition(this=field, substr=value)
        return exp.GT(this=found, expression=exp.Literal.number(0))
    edge = exp.Left if kind is ir.MatchKind.STARTSWITH else exp.Right
    return exp.EQ(this=edge(this=field, expression=exp.Length(this=value)), expression=value)


def _first_column(rel: Rel) -> str | None:
    if rel.columns:
        return rel.columns[0]
    projected = rel.select.expressions
    if projected and not isinstance(projected[0], exp.Star) and projected[0].alias_or_name:
        return projected[0].alias_or_name
    return None


def _term_pattern(
    builder: QueryBuilder, value: exp.Expression, case_sensitive: bool
) -> exp.Expression:
    """KQL `has` with a needle known only at run time: the needle, its ASCII punctuation
    escaped, bounded by non-alphanumerics on its alphanumeric edges."""
    flags = builder.dialect.inline_flags(case_sensitive)
    left, right = TERM_EDGE
    text = (
        f"'{f'(?{flags})' if flags else ''}'"
        f" || CASE WHEN REGEXP_MATCHES(_1, '^[A-Za-z0-9]') THEN '{left}' ELSE '' END"
        f" || REGEXP_REPLACE(_1, '{PUNCTUATION}', '\\\\\\1', 'g')"
        f" || CASE WHEN REGEXP_MATCHES(_1, '[A-Za-z0-9]$') THEN '{right}' ELSE '' END"
    )
    return fill(text, "duckdb", [value])


# ---------------------------------------------------------------------- datatable

DATATABLE_TYPES = {
    "string": "VARCHAR", "guid": "VARCHAR", "dynamic": "VARCHAR",
    "long": "BIGINT", "int": "BIGINT", "int64": "BIGINT",
    "real": "DOUBLE", "double": "DOUBLE", "decimal": "DOUBLE",
    "bool": "BOOLEAN", "boolean": "BOOLEAN",
}  # fmt: skip


def datatable(builder: QueryBuilder, source: ir.Datatable) -> tuple[exp.Expression, Columns]:
    """`datatable(a:string, ...)[...]` (and `range`) as a VALUES list, each value of its type."""
    if not source.columns and source.rows == ((),):
        # `print`: one row of no columns; SQL needs a column, which no stage lists
        return exp.select(exp.alias_(exp.null(), "_print", quoted=True)).subquery("_dt"), ()
    if not source.columns:
        raise builder.backend.unsupported("a table without columns", source)
    rows = [
        exp.Tuple(
            expressions=[
                _typed(builder, v, t) for v, (_, t) in zip(row, source.columns, strict=True)
            ]
        )
        for row in source.rows
    ]
    names = tuple(name for name, _ in source.columns)
    alias = exp.TableAlias(
        this=exp.to_identifier("_dt"), columns=[exp.to_identifier(n, quoted=True) for n in names]
    )
    if not rows:
        empty = [exp.alias_(_typed(builder, None, t), n, quoted=True) for n, t in source.columns]
        return exp.select(*empty).where(exp.false()).subquery("_dt"), names
    return exp.Values(expressions=rows, alias=alias), names


def _typed(builder: QueryBuilder, value: ir.LiteralValue, type_name: str) -> exp.Expression:
    kind = type_name.lower()
    literal = builder.literal(value)
    if kind in ("datetime", "date", "timespan", "time"):
        if value is None:
            target = "TIMESTAMPTZ" if kind in ("datetime", "date") else "INTERVAL"
            return exp.cast(literal, exp.DataType.build(target))
        return literal
    if kind not in DATATABLE_TYPES:
        raise builder.backend.unsupported(f"a datatable column of type {type_name}", None)
    return exp.cast(literal, exp.DataType.build(DATATABLE_TYPES[kind]))


# A declared column's type, as the conversion that reads a bag's slot as that type.
UNPACK_TYPES = {
    "string": "tostring", "guid": "tostring",
    "long": "tolong", "int": "toint", "real": "todouble", "double": "todouble",
    "bool": "tobool", "boolean": "tobool", "datetime": "todatetime", "date": "todatetime",
}  # fmt: skip
UNPACK_PARAMETERS = ("OutputColumnPrefix", "columnsConflict", "ignoredProperties")


def evaluate_stage(builder: QueryBuilder, rel: Rel, stage: ir.Evaluate) -> Rel:
    """`evaluate plugin(...)` where its output columns are known without the data."""
    if stage.plugin == "bag_unpack" and stage.schema:
        return builder.stage(rel, _bag_unpack(builder, rel, stage))
    if stage.plugin == "ipv4_lookup":
        return _ipv4_lookup(builder, rel, stage)
    what = f"the plugin {stage.plugin}() (its output columns may depend on the data)"
    detail = "declare them: `: (Name: type, ...)`" if stage.plugin == "bag_unpack" else ""
    raise builder.backend.unsupported(what, stage, detail)


def _bag_unpack(builder: QueryBuilder, rel: Rel, stage: ir.Evaluate) -> ir.Project:
    """`bag_unpack(Column, ...) : (Name: type, ...)` as the projection of the declared columns,
    in their order: each the slot `Name` less `OutputColumnPrefix` of the bag, read as its
    type (null where the slot is absent), or the input's column of that name where
    `columnsConflict='keep_source'`. `(*, ...)` puts the input's other columns (but the bag)
    first (as Kusto.Language orders them)."""
    unsupported = builder.backend.unsupported
    bag, *positional = stage.args
    if not isinstance(bag, ir.FieldRef):
        raise unsupported("bag_unpack() of anything but a column", bag)
    given = dict(zip(UNPACK_PARAMETERS, positional, strict=False))
    given.update((o.name, o.expr) for o in stage.options)
    prefix = _plugin_text(builder, given.get("OutputColumnPrefix", ir.Literal("")), stage)
    conflict = _plugin_text(builder, given.get("columnsConflict", ir.Literal("error")), stage)
    ignored = given.get("ignoredProperties", ir.Call("pack_array", ()))
    if conflict not in ("error", "replace_source", "keep_source"):
        raise unsupported(f"bag_unpack() with columnsConflict='{conflict}'", stage)
    if not isinstance(ignored, ir.Call) or ignored.name != "pack_array":
        raise unsupported("bag_unpack() with ignoredProperties other than dynamic([...])", stage)
    skipped = {_plugin_text(builder, p, stage) for p in ignored.args}
    inputs = [c for c in rel.columns or () if c != bag.name]
    if conflict == "keep_source" and rel.columns is None:
        raise builder.needs_schema(stage, "bag_unpack() with columnsConflict='keep_source'")
    star = stage.schema[0] == ("*", "")
    if star and rel.columns is None:
        raise builder.needs_schema(stage, "bag_unpack() : (*, ...)")
    declared = stage.schema[1:] if star else stage.schema
    others = [c for c in inputs if star and c not in dict(declared)]
    columns = {c: ir.Assign(c, ir.FieldRef(c), span=stage.span) for c in others}
    for name, type_name in declared:
        if name in inputs and conflict == "keep_source":
            columns[name] = ir.Assign(name, ir.FieldRef(name), span=stage.span)
            continue
        if name in inputs and conflict == "error":
            detail = f"its input has the column {name} too, which columnsConflict='error' refuses"
            raise unsupported(f"bag_unpack() declaring the column {name}", stage, detail)
        slot = name[len(prefix) :]
        if not name.startswith(prefix):
            detail = f"Microsoft's documentation does not say which slot fills {name}"
            raise unsupported(f"bag_unpack() declaring the column {name}", stage, detail)
        if type_name.lower() != "dynamic" and type_name.lower() not in UNPACK_TYPES:
            raise unsupported(f"bag_unpack() declaring a column of type {type_name}", stage)
        if slot in skipped:
            detail = f"Microsoft's documentation does not say what fills {name}"
            raise unsupported(f"bag_unpack() declaring the ignored property {slot}", stage, detail)
        value = ir.Call("index", (bag, ir.Literal(slot)))
        if type_name.lower() in UNPACK_TYPES:
            value = ir.Call(UNPACK_TYPES[type_name.lower()], (value,))
        columns[name] = ir.Assign(name, value, span=stage.span)
    return ir.Project(tuple(columns.values()), span=stage.span)


def _plugin_text(builder: QueryBuilder, value: ir.Expr | ir.AggCall | ir.Pipeline, stage) -> str:
    if isinstance(value, ir.Literal) and isinstance(value.value, str):
        return value.value
    raise builder.backend.unsupported(f"{stage.plugin}() with an argument not a string", value)


def _ipv4_lookup(builder: QueryBuilder, rel: Rel, stage: ir.Evaluate) -> Rel:
    """`ipv4_lookup(Table, Address, Network, Key..., return_unmatched)` as a join: each row
    with every lookup row whose network (IP-prefix notation) holds its address and whose extra
    keys are equal (as `join` compares them); unmatched rows kept, with nulls, where asked. The
    columns are the input's, then the lookup table's less the extra keys, a taken name getting
    the suffix `1` (as `lookup` names them)."""
    unsupported = builder.backend.unsupported
    table, *keys = stage.args
    unmatched: object = False
    if keys and isinstance(keys[-1], ir.Literal) and isinstance(keys[-1].value, bool):
        unmatched = keys.pop().value
    for option in stage.options:
        if option.name != "return_unmatched" or not isinstance(option.expr, ir.Literal):
            raise unsupported(f"ipv4_lookup() with the option {option.name}", option)
        unmatched = option.expr.value
    if not isinstance(table, ir.Pipeline) or len(keys) < 2 or not isinstance(unmatched, bool):
        raise unsupported("ipv4_lookup() without a table, two key columns and a bool", stage)
    if not all(isinstance(k, ir.FieldRef) for k in keys):
        raise unsupported("ipv4_lookup() with a key that is not a column", stage)
    address, network, *extra = (k.name for k in keys if isinstance(k, ir.FieldRef))
    right = builder.relation(table)
    if rel.columns is None or right.columns is None:
        raise builder.needs_schema(stage, "ipv4_lookup()")
    for name, side, columns in [
        (address, "input", rel.columns),
        (network, "lookup", right.columns),
    ]:
        if name not in columns:
            raise unsupported(f"ipv4_lookup() on {name}", stage, f"the {side} has no such column")
    for name in extra:
        if name not in rel.columns or name not in right.columns:
            raise unsupported(f"ipv4_lookup() on {name}", stage, "both tables need the column")
    looked_up = tuple(c for c in right.columns if c not in extra)
    names = _suffixed(rel.columns, looked_up)
    out = [_col(c, "l") for c in rel.columns]
    out += [exp.alias_(_col(c, "r"), n, quoted=True) for c, n in zip(looked_up, names, strict=True)]
    on = exp.and_(
        _in_network(builder, _col(address, "l"), _col(network, "r")),
        *[_key_equal(k, k) for k in extra],
    )
    joined = (
        exp.select(*out)
        .from_(rel.select.subquery("l"))
        .join(right.select.subquery("r"), on=on, join_type="left" if unmatched else "inner")
    )
    return Rel(builder.wrap(joined), (*rel.columns, *names))


IPV4_PREFIXED = IPV4_TEXT.removesuffix("$") + "(/(3[0-2]|[12]?[0-9]))?$"


def _in_network(builder: QueryBuilder, address: exp.Expression, network: exp.Expression):
    """Whether the IPv4 `address` (its prefix, if any, masking it) lies in `network`, both
    text in IP-prefix notation; false where either is not."""

    def parts(text: exp.Expression) -> tuple[exp.Expression, exp.Expression, exp.Expression]:
        valid = builder.dialect.regex(text.copy(), IPV4_PREFIXED, True, frozenset())
        base = exp.SplitPart(
            this=text.copy(), delimiter=exp.Literal.string("/"), part_index=exp.Literal.number(1)
        )
        bits = exp.SplitPart(
            this=text.copy(), delimiter=exp.Literal.string("/"), part_index=exp.Literal.number(2)
        )
        given = exp.Nullif(this=bits, expression=exp.Literal.string(""))
        prefix = exp.cast(exp.Coalesce(this=given, expressions=[exp.Literal.string("32")]), "INT")
        host = exp.Sub(this=exp.Literal.number(32), expression=prefix)
        return valid, ipv4_text(builder.dialect, base)[1], host

    valid, number, host = parts(address)
    network_valid, network_number, network_host = parts(network)
    masked = exp.BitwiseLeftShift(
        this=exp.BitwiseRightShift(this=number, expression=host), expression=host.copy()
    )
    same = exp.EQ(
        this=exp.BitwiseRightShift(this=exp.Paren(this=masked), expression=network_host),
        expression=exp.BitwiseRightShift(this=network_number, expression=network_host.copy()),
    )
    both = exp.and_(valid, network_valid)
    return exp.Case(ifs=[exp.If(this=both, true=same)], default=exp.false())
