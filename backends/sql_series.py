"""`make-series` over a time axis, as Microsoft documents it: per group, one array per measure
holding its value in each `step`-wide bin from `start` up to (not including) `end`, `default`
(0 unless given) where a bin has no row; the axis column holds the bins' starts.

The rows whose axis falls in the range are grouped by their keys and bin number; each group
present then gets every bin number of the range (GENERATE_SERIES), its measure where the bin has
one, and the arrays are aggregated in bin order.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlglot import exp

from rulec.backends.sql_functions import UNDEFINED, left_open
from rulec.backends.sql_stages import Rel
from rulec.compiler import ir

if TYPE_CHECKING:
    from rulec.backends.sql import QueryBuilder

KEY = "_rulec_series_key"
BIN = "_rulec_series_bin"
BINNED = "_rulec_series_binned"
INDEX = "_rulec_series_index"
ONE = "_rulec_series_one"


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def _seconds(value: exp.Expression) -> exp.Expression:
    return exp.Extract(this=exp.var("EPOCH"), expression=value)


def make_series(builder: QueryBuilder, rel: Rel, stage: ir.MakeSeries) -> Rel:
    """The group keys, then each measure's array, then the axis's array (KQL's order)."""
    if not builder.dialect.series_bins:
        what = "make-series (no GENERATE_SERIES rows or seconds of an interval)"
        raise builder.backend.unsupported(what, stage)
    if stage.start is None or stage.end is None:
        what = "make-series without both `from` and `to` (the axis' range of each series)"
        raise builder.backend.unsupported(what, stage)
    if not _is_span(builder.bound(stage.step)):
        raise builder.backend.unsupported("make-series over an axis other than time", stage)
    for measure in stage.measures:
        if not isinstance(measure.agg, ir.AggCall):
            raise builder.backend.unsupported("make-series of arg_max/arg_min", measure)
    start, end, step = (builder.scalar(e) for e in (stage.start, stage.end, stage.step))
    axis = builder.event_time(stage.axis)
    if builder.is_time(ir.FieldRef(stage.axis)):
        axis = _col(stage.axis)
    keys = [f"{KEY}{n}" for n in range(len(stage.group_by))]
    number = exp.Floor(
        this=exp.Div(
            this=_seconds(exp.Sub(this=axis, expression=start.copy())),
            expression=_seconds(step.copy()),
        )
    )
    keyed = exp.select(
        exp.Star(),
        *[
            exp.alias_(builder.scalar(g.expr), k, quoted=True)
            for g, k in zip(stage.group_by, keys, strict=True)
        ],
        exp.alias_(exp.cast(number, exp.DataType.build("BIGINT")), BIN, quoted=True),
    ).from_(builder.scope(rel.select))
    in_range = exp.and_(
        exp.GTE(this=axis.copy(), expression=start.copy()),
        exp.LT(this=axis.copy(), expression=end.copy()),
    )
    binned = (
        exp.select(
            *[_col(k) for k in (*keys, BIN)],
            *[exp.alias_(builder.agg(m.agg), m.name, quoted=True) for m in stage.measures],
        )
        .from_(builder.scope(keyed.where(in_range, copy=False)))
        .group_by(*[_col(k) for k in (*keys, BIN)])
    )
    grouped = keys or [ONE]  # without keys, one group: there when any row is in the range
    groups = exp.select(
        *[_col(k) for k in keys] or [exp.alias_(exp.Literal.number(1), ONE, quoted=True)]
    )
    groups = groups.from_(exp.table_(BINNED, quoted=True)).distinct()
    bins = exp.Cast(
        this=exp.Ceil(
            this=exp.Div(
                this=_seconds(exp.Sub(this=end, expression=start.copy())),
                expression=_seconds(step.copy()),
            )
        ),
        to=exp.DataType.build("BIGINT"),
    )
    last = exp.Sub(this=bins, expression=exp.Literal.number(1))
    indices = exp.Lateral(
        this=exp.func("GENERATE_SERIES", exp.Literal.number(0), last),
        alias=exp.TableAlias(this=exp.to_identifier("n"), columns=[exp.to_identifier(INDEX)]),
    )
    same = [exp.NullSafeEQ(this=_col(k, "g"), expression=_col(k, "b")) for k in keys]
    same.append(exp.EQ(this=_col(BIN, "b"), expression=_col(INDEX, "n")))
    in_order = [exp.Ordered(this=_col(INDEX, "n"))]

    def array(value: exp.Expression) -> exp.Expression:
        return exp.ArrayAgg(this=exp.Order(this=value, expressions=[o.copy() for o in in_order]))

    out: list[exp.Expression] = [
        exp.alias_(_col(k, "g"), g.name, quoted=True)
        for g, k in zip(stage.group_by, keys, strict=True)
    ]
    for measure, default in zip(stage.measures, stage.defaults, strict=True):
        fill = builder.scalar(default) if default is not None else exp.Literal.number(0)
        value = exp.Coalesce(this=_col(measure.name, "b"), expressions=[fill])
        out.append(exp.alias_(array(value), measure.name, quoted=True))
    offset = exp.Mul(this=step.copy(), expression=_col(INDEX, "n"))
    out.append(
        exp.alias_(array(exp.Add(this=start.copy(), expression=offset)), stage.axis, quoted=True)
    )
    series = (
        exp.select(*out)
        .from_(groups.subquery("g"))
        .join(indices, join_type="cross")
        .join(exp.table_(BINNED, quoted=True, alias="b"), on=exp.and_(*same), join_type="left")
        .with_(exp.to_identifier(BINNED, quoted=True), as_=binned)
    )
    series = series.group_by(*[_col(k, "g") for k in grouped])
    names = (*[g.name for g in stage.group_by], *[m.name for m in stage.measures], stage.axis)
    builder.note_times([(stage.axis, False)])
    return Rel(builder.wrap(series), names)


def _is_span(node: ir.Expr) -> bool:
    return isinstance(node, ir.Literal) and isinstance(node.value, timedelta)


def extend_several(builder: QueryBuilder, rel: Rel, stage: ir.ExtendSeveral) -> Rel:
    """`extend (a, b, ...) = f(...)`: reported (no such function has a SQL form here), with
    what Microsoft's documentation leaves open where it does."""
    name = stage.expr.name if isinstance(stage.expr, ir.Call) else "a function"
    if name in UNDEFINED:
        raise left_open(builder, name, stage)
    names = ", ".join(stage.names)
    raise builder.backend.unsupported(f"extend ({names}) = {name}()", stage)
