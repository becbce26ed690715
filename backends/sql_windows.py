"""Sliding-window aggregation in portable SQL.

A window of size W slides: for every event time t of a group, the window [t - W, t] (inclusive)
is measured; windows where the condition holds are alerts, and overlapping alert windows of one
group merge into one alert row: the group key, `window_start`, `window_end` and the measure
(the largest, or for `<`/`<=` conditions the smallest, value seen in the run). Fixed buckets would
miss a burst that straddles a bucket edge; this plan does not.

The plan uses only joins, GROUP BY and the LAG/SUM window functions, so it runs unchanged on
DuckDB, PostgreSQL and Spark.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from rulec.compiler import ir

if TYPE_CHECKING:
    from rulec.backends.sql import QueryBuilder

TIME = "_rulec_t"
NEW_RUN = "_rulec_new"
RUN = "_rulec_run"


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def _smallest_wins(having: ir.Expr | None) -> bool:
    return isinstance(having, ir.Compare) and having.op in (ir.CompareOp.LT, ir.CompareOp.LE)


def sliding_aggregate(
    builder: QueryBuilder,
    select: exp.Select,
    keys: list[tuple[str, exp.Expression]],
    measures: list[tuple[str, ir.AggCall]],
    window: ir.Window,
    event_time: exp.Expression,
    having: ir.Expr | None,
) -> exp.Select:
    """Alert rows for `select` grouped by `keys`, measured over sliding windows."""
    width = builder.dialect.interval(window.size)
    key_names = [name for name, _ in keys]
    args = [(f"_rulec_a{i}", agg.arg) for i, (_, agg) in enumerate(measures)]

    rows = exp.select(
        *[exp.alias_(e, n, quoted=True) for n, e in keys],
        *[exp.alias_(builder.scalar(a), n, quoted=True) for n, a in args if a is not None],
        exp.alias_(event_time, TIME, quoted=True),
    ).from_(select.subquery("_rulec_src"))
    rows = builder.wrap(rows).where(exp.Not(this=exp.Is(this=_col(TIME), expression=exp.null())))

    anchors = exp.select(*[_col(k) for k in key_names], _col(TIME)).from_(rows.subquery("_rulec_k"))
    on = [exp.NullSafeEQ(this=_col(k, "b"), expression=_col(k, "a")) for k in key_names]
    on.append(
        exp.Between(
            this=_col(TIME, "b"),
            low=exp.Sub(this=_col(TIME, "a"), expression=width.copy()),
            high=_col(TIME, "a"),
        )
    )
    measured = [
        exp.alias_(
            builder.agg(agg, _col(arg, "b") if agg.arg is not None else None), name, quoted=True
        )
        for (name, agg), (arg, _) in zip(measures, args, strict=True)
    ]
    per_anchor = (
        exp.select(
            *[_col(k, "a") for k in key_names],
            exp.alias_(_col(TIME, "a"), "window_end", quoted=True),
            *measured,
        )
        .from_(anchors.distinct().subquery("a"))
        .join(rows.subquery("b"), on=exp.and_(*on))
        .group_by(*[_col(k, "a") for k in key_names], _col(TIME, "a"))
    )
    hits = builder.wrap(per_anchor)
    if having is not None:
        hits = hits.where(builder.predicate(having))

    partition = [_col(k) for k in key_names]
    previous_end = exp.Window(
        this=exp.Anonymous(this="LAG", expressions=[_col("window_end")]),
        partition_by=partition,
        order=exp.Order(expressions=[exp.Ordered(this=_col("window_end"))]),
    )
    overlaps = exp.GTE(
        this=previous_end, expression=exp.Sub(this=_col("window_end"), expression=width.copy())
    )
    flagged = exp.select(
        exp.Star(),
        exp.alias_(
            exp.Case(
                ifs=[exp.If(this=overlaps, true=exp.Literal.number(0))],
                default=exp.Literal.number(1),
            ),
            NEW_RUN,
            quoted=True,
        ),
    ).from_(hits.subquery("_rulec_hits"))
    run_number = exp.Window(
        this=exp.Sum(this=_col(NEW_RUN)),
        partition_by=[p.copy() for p in partition],
        order=exp.Order(expressions=[exp.Ordered(this=_col("window_end"))]),
        spec=exp.WindowSpec(
            kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"
        ),
    )
    runs = exp.select(exp.Star(), exp.alias_(run_number, RUN, quoted=True)).from_(
        flagged.subquery("_rulec_flagged")
    )

    pick = exp.Min if _smallest_wins(having) else exp.Max
    return (
        exp.select(
            *[_col(k) for k in key_names],
            exp.alias_(
                exp.Sub(this=exp.Min(this=_col("window_end")), expression=width.copy()),
                "window_start",
                quoted=True,
            ),
            exp.alias_(exp.Max(this=_col("window_end")), "window_end", quoted=True),
            *[exp.alias_(pick(this=_col(name)), name, quoted=True) for name, _ in measures],
        )
        .from_(runs.subquery("_rulec_runs"))
        .group_by(*[_col(k) for k in key_names], _col(RUN))
    )
