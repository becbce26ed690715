"""Lower `summarize`: aggregation calls, `arg_max`/`arg_min`, and measures computed from them.

A measure such as `round(avg(A), 2)` or `max(T) - min(T)` becomes hidden aggregate columns,
an `Extend` that computes it, and a `Project` that restores KQL's column order.
"""

from __future__ import annotations

import dataclasses

from rulec.compiler import ir

from . import syntax as s
from .deprecated import AGGREGATES as DEPRECATED
from .lower_columns import ColumnLowering
from .lower_expr import ARITH_OPS

HIDDEN = "_rulec_agg"
# name -> (prefix of the default column name, number of arguments kept after the first)
AGGREGATES = {
    "count": ("count", 0), "countif": ("countif", 0),
    "dcount": ("dcount", 0), "dcountif": ("dcountif", 1),
    "count_distinct": ("count_distinct", 0), "count_distinctif": ("count_distinctif", 1),
    "sum": ("sum", 0), "sumif": ("sumif", 1), "min": ("min", 0), "minif": ("minif", 1),
    "max": ("max", 0), "maxif": ("maxif", 1), "avg": ("avg", 0), "avgif": ("avgif", 1),
    "stdev": ("stdev", 0), "stdevif": ("stdevif", 1), "stdevp": ("stdevp", 0),
    "variance": ("variance", 0), "varianceif": ("varianceif", 1), "variancep": ("variancep", 0),
    "make_set": ("set", 1), "make_list": ("list", 1), "make_bag": ("bag", 1),
    "make_set_if": ("set", 2), "make_list_if": ("list", 2), "make_bag_if": ("bag", 2),
    "make_list_with_nulls": ("list", 0), "take_any": ("any", 0), "take_anyif": ("anyif", 1),
    "percentile": ("percentile", -1), "percentiles": ("percentile", -1),
    "arg_max": ("max", -1), "arg_min": ("min", -1),
}  # fmt: skip
# the aggregations make-series takes (its documentation's list)
SERIES_AGGREGATES = frozenset(
    {"avg", "avgif", "count", "countif", "dcount", "dcountif", "max", "maxif", "min", "minif"}
    | {"percentile", "take_any", "stdev", "sum", "sumif", "variance"}
)
NO_DEFAULT_ARG = {"count", "countif"}  # their default column is `count_` / `countif_`
APPROXIMATE = {"dcount", "dcountif"}  # KQL estimates (HyperLogLog); the IR counts exactly


def aggregate_name(node: s.Expr) -> str | None:
    if not isinstance(node, s.Call):
        return None
    name = DEPRECATED.get(node.name.lower(), node.name.lower())
    return name if name in AGGREGATES else None


class SummarizeLowering(ColumnLowering):
    """`summarize measures by keys` -> Aggregate (plus Extend and Project for computed ones)."""

    def stage_summarize(self, op: s.Operator, span: ir.Span) -> tuple[ir.Stage, ...]:
        group_by = self.assignments(op.by)
        measures: list[ir.Measure] = []
        computed: list[ir.Assign] = []
        order: list[str] | None = [g.name for g in group_by]
        counter = [0]
        renames: list[tuple[str, str]] = []
        for item in op.args:
            value = item.expr if isinstance(item, s.NamedExpr) else item
            if isinstance(item, s.NamedExpr) and len(item.names) > 1:
                produced = self.named_measures(item, renames)
                measures.extend(produced)
                order = None
                continue
            name = self.single_name(item)
            if aggregate_name(value) is not None:
                produced = self.measures(value, name)
                measures.extend(produced)
                for measure in produced:
                    order = self.extend_order(order, measure)
                continue
            if name is None:
                name, _ = self.column_of(value, counter)
            expr = self.hoist_aggregates(value, measures)
            computed.append(ir.Assign(name, expr, span=self.span(item)))
            order = None if order is None else [*order, name]
        aggregate = ir.Aggregate(group_by, tuple(measures), span=span)
        if renames and computed:
            raise self.unsupported(op, "a summarize with both renamed and computed measures")
        if renames:
            return aggregate, ir.Rename(tuple(renames), span=span)
        if not computed:
            return (aggregate,)
        hidden = tuple(m.name for m in measures if m.name.startswith(HIDDEN))
        return aggregate, ir.Extend(tuple(computed), span=span), reorder(order, hidden, span)

    def stage_make_series(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        """`make-series`: its aggregations, each with its default, over the bins of its axis."""
        labelled = {p.names: p.expr for p in op.parts if isinstance(p, s.NamedExpr)}
        axis = labelled[("on",)]
        if not isinstance(axis, s.Name) or axis.wildcard:
            raise self.unsupported(axis, "a make-series axis other than a column")
        start, end, step = (labelled.get((word,)) for word in ("from", "to", "step"))
        if ("in",) in labelled:
            bounds = labelled[("in",)]
            ranged = isinstance(bounds, s.Call) and bounds.name == "range"
            if not ranged or len(bounds.args) != 3:
                raise self.unsupported(bounds, "a make-series range other than range(a, b, step)")
            start, end, step = bounds.args
        assert step is not None  # the parser requires it
        measures: list[ir.Measure] = []
        for item in op.args:
            value = item.expr if isinstance(item, s.NamedExpr) else item
            if aggregate_name(value) not in SERIES_AGGREGATES:
                what = "a make-series measure other than one of its aggregations"
                raise self.unsupported(item, what)
            measures.extend(self.measures(value, self.single_name(item)))
        defaults = tuple(
            self.expr(labelled[("default", str(i))]) if ("default", str(i)) in labelled else None
            for i in range(len(op.args))
        )
        return ir.MakeSeries(
            tuple(measures),
            defaults,
            axis.name,
            None if start is None else self.expr(start),
            None if end is None else self.expr(end),
            self.expr(step),
            self.assignments(op.by),
            span=span,
        )

    def single_name(self, item: s.Expr) -> str | None:
        if not isinstance(item, s.NamedExpr):
            return None
        if len(item.names) != 1:
            raise self.unsupported(item, "a summarize measure assigned to several columns")
        return item.names[0]

    def named_measures(self, item: s.NamedExpr, renames: list[tuple[str, str]]) -> list[ir.Measure]:
        """`(a, b, ...) = f(...)`: the columns `f` gives, named in order (arg_max and arg_min
        name the value, then the listed columns; percentiles, each percentile)."""
        names, value = item.names, item.expr
        func = aggregate_name(value)
        if func in ("arg_max", "arg_min"):
            (measure,) = self.measures(value, names[0])
            columns = measure.agg.columns if isinstance(measure.agg, ir.ArgExtreme) else ()
            if len(names) - 1 > len(columns):
                raise self.unsupported(item, f"more names than {func}() gives columns")
            pairs = zip(names[1:], columns, strict=False)
            renames.extend((new, old) for new, old in pairs if new != old)
            return [measure]
        if func == "percentiles":
            produced = self.measures(value, None)
            if len(produced) != len(names):
                raise self.unsupported(item, "names that are not one per percentile")
            return [dataclasses.replace(m, name=n) for m, n in zip(produced, names, strict=True)]
        raise self.unsupported(item, "a summarize measure assigned to several columns")

    @staticmethod
    def extend_order(order: list[str] | None, measure: ir.Measure) -> list[str] | None:
        if order is None or (isinstance(measure.agg, ir.ArgExtreme) and not measure.agg.columns):
            return None
        extra = measure.agg.columns if isinstance(measure.agg, ir.ArgExtreme) else ()
        return [*order, measure.name, *extra]

    def hoist_aggregates(self, value: s.Expr, measures: list[ir.Measure]) -> ir.Expr:
        """`value` with each aggregation call replaced by a hidden measure column."""
        found = False

        def replace(node: s.Expr) -> s.Expr:
            nonlocal found
            if aggregate_name(node) is None:
                return node
            found = True
            hidden = f"{HIDDEN}{len(measures) + 1}"
            (measure,) = self.measures(node, hidden)
            measures.append(measure)
            return s.Name(hidden, pos=node.pos)

        rewritten = map_calls(value, replace)
        if not found:
            raise self.unsupported(value, "a summarize measure without an aggregation function")
        return self.expr(rewritten)

    # ----------------------------------------------------------------------- one call

    def measures(self, call: s.Expr, name: str | None) -> list[ir.Measure]:
        assert isinstance(call, s.Call)
        func = aggregate_name(call)
        assert func is not None
        span = self.span(call)
        if func in ("arg_max", "arg_min"):
            return [self.arg_extreme(call, func, name)]
        if func in ("percentile", "percentiles"):
            return self.percentiles(call, name)
        prefix, extra = AGGREGATES[func]
        if func == "count" and call.args:  # count(predicate): KQL's obsolete name of countif
            if len(call.args) != 1 or not is_predicate(call.args[0]):
                what = "count() of a value other than a predicate (use countif or dcount)"
                raise self.unsupported(call, what)
            counted = s.Call("countif", call.args, pos=call.pos)
            return self.measures(counted, "count_" if name is None else name)
        if len(call.args) > 1 + extra and func not in APPROXIMATE:
            raise self.unsupported(call, f"{call.name}() with {len(call.args)} arguments")
        arg = self.expr(call.args[0]) if call.args else None
        args = tuple(self.expr(a) for a in call.args[1 : 1 + extra])
        if name is None:
            name = self.default_name(prefix, func, call)
        if func in APPROXIMATE:
            self.note(call, f"{func}() estimates in KQL; the IR counts distinct values exactly")
        return [ir.Measure(name, ir.AggCall(func, arg, args, span=span), span=span)]

    def default_name(self, prefix: str, func: str, call: s.Call) -> str:
        if func in NO_DEFAULT_ARG or not call.args:
            return prefix + "_"
        column, _ = self.column_of(call.args[0], [0])
        return f"{prefix}_{column}"

    def percentiles(self, call: s.Call, name: str | None) -> list[ir.Measure]:
        if len(call.args) < 2 or (name is not None and len(call.args) > 2):
            raise self.unsupported(call, f"{call.name}() with these arguments")
        arg, span = self.expr(call.args[0]), self.span(call)
        column, _ = self.column_of(call.args[0], [0])
        measures = []
        for point in call.args[1:]:
            value = self.constant(point)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise self.unsupported(point, "a percentile that is not a constant number")
            label = name or f"percentile_{column}_{str(value).replace('.', '_')}"
            agg = ir.AggCall("percentile", arg, (ir.Literal(value, span=span),), span=span)
            measures.append(ir.Measure(label, agg, span=span))
        return measures

    def arg_extreme(self, call: s.Call, func: str, name: str | None) -> ir.Measure:
        if len(call.args) < 2:
            raise self.unsupported(call, f"{func}() without the columns to return")
        columns: list[str] = []
        star = False
        for item in call.args[1:]:
            if isinstance(item, s.Name) and item.name == "*":
                star = True
            elif isinstance(item, s.Name) and not item.wildcard:
                columns.append(item.name)
            else:
                raise self.unsupported(item, f"a {func}() column other than a column name or *")
        if name is None:
            name, _ = self.column_of(call.args[0], [0])
        by = self.expr(call.args[0])
        span = self.span(call)
        agg = ir.ArgExtreme(func, by, () if star else tuple(columns), span=span)
        return ir.Measure(name, agg, span=span)


def reorder(order: list[str] | None, hidden: tuple[str, ...], span: ir.Span) -> ir.Stage:
    """Drop the hidden columns, in KQL's column order where every output column is known."""
    if order is None:
        return ir.ProjectAway(hidden, span=span)
    columns = tuple(ir.Assign(n, ir.FieldRef(n, span=span), span=span) for n in order)
    return ir.Project(columns, span=span)


def is_predicate(node: s.Expr) -> bool:
    """Whether `node` is written as a condition (a comparison, a test, `and`/`or`/`not`)."""
    if isinstance(node, s.Binary):
        return node.op not in ARITH_OPS
    if isinstance(node, s.Call):
        return node.name.lower() in ("not", "isempty", "isnotempty", "isnull", "isnotnull")
    return isinstance(node, s.InList | s.Between)


def map_calls(node: s.Expr, replace) -> s.Expr:
    """A copy of the expression tree `node` with `replace` applied to every node, outside in."""
    replaced = replace(node)
    if replaced is not node:
        return replaced
    changes = {}
    for field in dataclasses.fields(node):
        value = getattr(node, field.name)
        if isinstance(value, s.SyntaxNode) and not isinstance(value, s.Pipe):
            changes[field.name] = map_calls(value, replace)
        elif isinstance(value, tuple) and all(isinstance(v, s.SyntaxNode) for v in value):
            changes[field.name] = tuple(map_calls(v, replace) for v in value)
    return dataclasses.replace(node, **changes) if changes else node
