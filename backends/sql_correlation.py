"""Sigma correlations (`ir.Correlation`) in portable SQL, over the let-bound rules they name.

The events of the correlated rules are put together (one row per event and rule, with the
group-by fields, the value field and the event time) and measured with the sliding windows of
`sql_windows`: a window of the correlation's timespan ends at each event, both ends inclusive,
and overlapping windows where the condition holds merge into one alert row (the group key,
`window_start`, `window_end`, `value`).

- event_count: events in the window; value_count: distinct values of the value field;
  value_sum / value_avg: sum / mean of the value field parsed as a number.
- temporal: the number of distinct rules with an event in the window (default condition: all).
- temporal_ordered: all rules occur in the window in the order given, each at a strictly later
  time than the one before; `value` is the number of rules.

value_percentile and value_median, and rules that must be absent, are diagnostics: a sliding
percentile has no portable exact SQL here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from rulec.backends.sql_stages import Rel
from rulec.backends.sql_windows import sliding_aggregate
from rulec.backends.transforms import RULE_COLUMN, all_rules, correlation_aggregate
from rulec.compiler import ir

if TYPE_CHECKING:
    from rulec.backends.sql import QueryBuilder

K = ir.CorrelationKind
RULE = RULE_COLUMN
TIME = "_rulec_time"
START = "_rulec_start"
HITS = "_rulec_hits"
FIELD_MEASURES = frozenset({K.VALUE_COUNT, K.VALUE_SUM, K.VALUE_AVG})  # measure a field
COUNTING = frozenset({K.EVENT_COUNT, *FIELD_MEASURES})  # need a condition


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def correlation_stage(builder: QueryBuilder, stage: ir.Correlation) -> Rel:
    """The alert rows of a correlation (its input rows are the let-bound rules it names)."""
    _check(builder, stage)
    keys = list(dict.fromkeys(stage.group_by))
    window = ir.Window(stage.timespan, span=stage.span)
    event_time = builder.event_time(TIME)
    columns = (*keys, "window_start", "window_end", "value")
    if stage.kind is K.TEMPORAL_ORDERED:
        return Rel(_ordered(builder, stage, keys, window), columns)
    aggregate = correlation_aggregate(stage)
    assert aggregate is not None  # _check refused every other correlation
    measures = [(m.name, m.agg) for m in aggregate.measures]
    rows = _events(builder, stage, keys)
    plan = sliding_aggregate(
        builder, rows, _key_exprs(keys), measures, window, event_time, aggregate.having
    )
    return Rel(plan, columns)


def _check(builder: QueryBuilder, stage: ir.Correlation) -> None:
    if stage.kind in (K.VALUE_PERCENTILE, K.VALUE_MEDIAN):
        raise builder.backend.unsupported(
            f"the {stage.kind.value} correlation",
            stage,
            "a percentile over sliding windows has no exact portable SQL form here",
        )
    if stage.absent:
        raise builder.backend.unsupported("a correlation with rules that must not occur", stage)
    bound = {let.name for let in builder.query.lets if isinstance(let.value, ir.Pipeline)}
    missing = [name for name in stage.rules if name not in bound]
    if missing or not stage.rules:
        raise builder.backend.unsupported(
            "a correlation over rules that are not let-bound pipelines", stage, ", ".join(missing)
        )
    kind = stage.kind.value
    if stage.kind in FIELD_MEASURES and not stage.value_field:
        raise builder.backend.unsupported(f"a {kind} correlation without a field", stage)
    if stage.kind in COUNTING and stage.condition is None:
        raise builder.backend.unsupported(f"a {kind} correlation without a condition", stage)
    if stage.kind is K.TEMPORAL_ORDERED and stage.condition != all_rules(stage):
        raise builder.backend.unsupported(
            "a temporal_ordered correlation whose condition is not 'all rules, in order'", stage
        )


def _key_exprs(keys: list[str]) -> list[tuple[str, exp.Expression]]:
    return [(k, _col(k)) for k in keys]


def _events(builder: QueryBuilder, stage: ir.Correlation, keys: list[str]) -> exp.Select:
    """One row per event of each rule: group-by fields, value field, time, rule number."""
    fields = list(dict.fromkeys([*keys, *([stage.value_field] if stage.value_field else [])]))
    parts = [
        exp.select(
            *[_col(f) for f in fields],
            exp.alias_(_col(builder.backend.time_field), TIME, quoted=True),
            exp.alias_(exp.Literal.number(number), RULE, quoted=True),
        ).from_(exp.table_(name, quoted=True))
        for number, name in enumerate(dict.fromkeys(stage.rules), start=1)
    ]
    union = parts[0]
    for part in parts[1:]:
        union = exp.union(union, part, distinct=False)
    return exp.select(exp.Star()).from_(union.subquery("_rulec_events"))


def _ordered(
    builder: QueryBuilder, stage: ir.Correlation, keys: list[str], window: ir.Window
) -> exp.Select:
    """temporal_ordered: for each event of the last rule, the latest start of a chain of the
    rules in order ending there; a window ending at an event holds a chain when that start lies
    inside it. The windows that do are merged into runs by `sliding_aggregate`."""
    width = builder.dialect.interval(stage.timespan)
    timed = builder.wrap(
        exp.select(exp.Star(), exp.alias_(builder.event_time(TIME), START, quoted=True)).from_(
            _events(builder, stage, keys).subquery("_rulec_all")
        )
    ).where(exp.Not(this=exp.Is(this=_col(START), expression=exp.null())))

    def of_rule(number: int) -> exp.Select:
        rule = exp.EQ(this=_col(RULE), expression=exp.Literal.number(number))
        return (
            exp.select(*[_col(k) for k in keys], _col(START))
            .from_(timed.subquery(f"_rulec_r{number}"))
            .where(rule)
        )

    same_key = [exp.NullSafeEQ(this=_col(k, "p"), expression=_col(k, "r")) for k in keys]
    chain = exp.select(*[_col(k) for k in keys], _col(START), exp.alias_(_col(START), "_rulec_s"))
    chain = chain.from_(of_rule(1).subquery("_rulec_c1"))
    for number in range(2, len(dict.fromkeys(stage.rules)) + 1):
        later = exp.GT(this=_col(START, "r"), expression=_col(START, "p"))
        chain = (
            exp.select(
                *[_col(k, "r") for k in keys],
                _col(START, "r"),
                exp.alias_(exp.Max(this=_col("_rulec_s", "p")), "_rulec_s", quoted=True),
            )
            .from_(of_rule(number).subquery("r"))
            .join(chain.subquery("p"), on=exp.and_(*same_key, later))
            .group_by(*[_col(k, "r") for k in keys], _col(START, "r"))
        )
    anchors = exp.select(*[_col(k) for k in keys], _col(START)).from_(timed.subquery("_rulec_a"))
    anchor_keys = [exp.NullSafeEQ(this=_col(k, "c"), expression=_col(k, "a")) for k in keys]
    inside = exp.Between(
        this=_col(START, "c"),
        low=exp.Sub(this=_col(START, "a"), expression=width.copy()),
        high=_col(START, "a"),
    )
    fits = exp.GTE(
        this=exp.Max(this=_col("_rulec_s", "c")),
        expression=exp.Sub(this=_col(START, "a"), expression=width.copy()),
    )
    hits = (
        exp.select(*[_col(k, "a") for k in keys], _col(START, "a"))
        .from_(anchors.distinct().subquery("a"))
        .join(chain.subquery("c"), on=exp.and_(*anchor_keys, inside))
        .group_by(*[_col(k, "a") for k in keys], _col(START, "a"))
        .having(fits)
    )
    count = ir.AggCall("count", span=stage.span)
    runs = sliding_aggregate(
        builder, hits, _key_exprs(keys), [(HITS, count)], window, _col(START), None
    )
    rules = exp.Literal.number(len(dict.fromkeys(stage.rules)))
    return exp.select(
        *[_col(k) for k in keys],
        _col("window_start"),
        _col("window_end"),
        exp.alias_(rules, "value", quoted=True),
    ).from_(runs.subquery("_rulec_runs"))
