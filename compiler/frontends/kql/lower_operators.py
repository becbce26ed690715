"""Lower tabular operators into IR stages (some operators become two stages, some none)."""

from __future__ import annotations

import dataclasses

from rulec.compiler import ir

from . import syntax as s
from .lower_expand import ExpandLowering
from .lower_sources import SourceLowering
from .lower_summarize import SummarizeLowering, aggregate_name

JOIN_KINDS = {kind.value: kind for kind in ir.JoinKind}
JOIN_KINDS |= {
    "anti": ir.JoinKind.LEFTANTI, "leftantisemi": ir.JoinKind.LEFTANTI,
    "rightantisemi": ir.JoinKind.RIGHTANTI, "semi": ir.JoinKind.LEFTSEMI,
}  # fmt: skip
# plug-ins whose first argument is a table (Kusto.Language's signatures)
TABLE_PLUGINS = {"ipv4_lookup", "ipv6_lookup", "geo_line_lookup", "geo_polygon_lookup"}
MAX_COUNT = 2**63 - 1  # take/limit/top counts are KQL longs
NOTE_ONLY = {
    "render": "render is presentation only",
    "project-reorder": "project-reorder changes only the order of columns",
    "as": "as only names the result",
}


class OperatorLowering(SummarizeLowering, ExpandLowering, SourceLowering):
    """Turns each `s.Operator` into IR stages; `pipeline` is supplied by the query half."""

    def stages(self, op: s.Operator) -> tuple[ir.Stage, ...]:
        span = self.span(op)
        if op.name in NOTE_ONLY:
            self.note(op, f"{NOTE_ONLY[op.name]}: dropped from the IR")
            return ()
        method = getattr(self, "stage_" + op.name.replace("-", "_"), None)
        if method is None:
            raise self.unsupported(op, f"the '{op.name}' operator")
        result = method(op, span)
        return result if isinstance(result, tuple) else (result,)

    def stage_where(self, op: s.Operator, span: ir.Span) -> tuple[ir.Stage, ...]:
        """`where p`; a right-hand side of `has`, `contains`, ... that is an expression of the
        row is computed into a column first, and dropped after."""
        outer, self.row_values = self.row_values, []
        try:
            predicate = ir.Filter(self.expr(op.args[0]), span=span)
            computed = tuple(self.row_values)
        finally:
            self.row_values = outer
        if not computed:
            return (predicate,)
        away = ir.ProjectAway(tuple(a.name for a in computed), span=span)
        return ir.Extend(computed, span=span), predicate, away

    stage_filter = stage_where

    def stage_extend(self, op: s.Operator, span: ir.Span) -> tuple[ir.Stage, ...]:
        """`extend`; an item `(a, b) = f(...)` becomes its own stage, in its place."""
        stages: list[ir.Stage] = []
        single: list[s.Expr] = []
        for item in op.args:
            if isinstance(item, s.NamedExpr) and len(item.names) > 1:
                if single:
                    stages.append(ir.Extend(self.assignments(tuple(single)), span=span))
                    single = []
                expr = self.expr(item.expr)
                stages.append(ir.ExtendSeveral(item.names, expr, span=self.span(item)))
            else:
                single.append(item)
        if single or not stages:
            stages.append(ir.Extend(self.assignments(tuple(single)), span=span))
        return tuple(stages)

    def stage_project(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        return ir.Project(self.assignments(op.args), span=span)

    def stage_project_keep(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        self.note(op, "project-keep keeps the listed columns (as project; column order may differ)")
        columns = tuple(ir.Assign(name, ir.FieldRef(name, span=span), span=span) for name in
                        self.plain_names(op))  # fmt: skip
        return ir.Project(columns, span=span)

    def stage_project_away(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        return ir.ProjectAway(self.plain_names(op), span=span)

    def stage_project_rename(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        pairs = []
        for item in op.args:
            if not isinstance(item, s.NamedExpr) or not isinstance(item.expr, s.Name):
                raise self.unsupported(item, "a project-rename item other than new = old")
            if item.expr.wildcard:
                raise self.unsupported(item, "a wildcard in project-rename")
            pairs.append((item.names[0], item.expr.name))
        return ir.Rename(tuple(pairs), span=span)

    # ----------------------------------------------------------------------- joins, unions

    def stage_join(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        default = "leftouter" if op.name == "lookup" else "innerunique"
        kind_text = default
        for option in op.options:
            if option.name == "kind" and isinstance(option.value, s.Name):
                kind_text = option.value.name.lower()
            elif not option.name.startswith("hint."):
                raise self.unsupported(option, f"the {op.name} option '{option.name}'")
        if kind_text not in JOIN_KINDS or (
            op.name == "lookup" and kind_text not in ("inner", "leftouter")
        ):
            raise self.unsupported(op, f"{op.name} kind={kind_text}")  # fmt: skip
        if op.right is None or not op.on:
            raise self.unsupported(op, f"{op.name} without an 'on' clause")
        keys = tuple(key for item in op.on for key in self.join_keys(item))
        right = self.pipeline(op.right)
        return ir.Join(JOIN_KINDS[kind_text], right, keys, span=span)

    stage_lookup = stage_join

    def join_keys(self, item: s.Expr) -> list[tuple[str, str]]:
        if isinstance(item, s.Name) and not item.wildcard:
            return [(item.name, item.name)]
        if isinstance(item, s.Binary) and item.op == "and":
            return self.join_keys(item.left) + self.join_keys(item.right)
        if isinstance(item, s.Binary) and item.op == "==":
            sides = {self.side(item.left): item.left, self.side(item.right): item.right}
            left, right = sides.get("$left"), sides.get("$right")
            if isinstance(left, s.Member) and isinstance(right, s.Member):
                return [(left.name, right.name)]
        raise self.unsupported(item, "a join key other than a column or $left.a == $right.b")

    @staticmethod
    def side(node: s.Expr) -> str | None:
        if isinstance(node, s.Member) and isinstance(node.target, s.Name):
            return node.target.name.lower()
        return None

    def stage_evaluate(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        """A plug-in kept as it is written: its arguments (scalars, aggregations, the lookup
        table of `ipv4_lookup` and its kin), named arguments and declared output columns."""
        call = op.args[0]
        name = call.name if isinstance(call, s.Call) else "?"
        if not isinstance(call, s.Call) or op.options:
            raise self.unsupported(call, f"the plugin {name}() with options")
        args: list[ir.Expr | ir.AggCall | ir.Pipeline] = []
        options: list[ir.Assign] = []
        for index, arg in enumerate(call.args):
            if isinstance(arg, s.NamedExpr) and len(arg.names) == 1:
                value = self.expr(arg.expr)
                options.append(ir.Assign(arg.names[0], value, span=self.span(arg)))
            elif options:
                raise self.unsupported(arg, f"a positional argument after a named one in {name}()")
            else:
                args.append(self.plugin_argument(name, index, arg))
        schema = tuple((p.name, p.type) for p in op.parts if isinstance(p, s.Param))
        return ir.Evaluate(name, tuple(args), tuple(options), schema, span=span)

    def plugin_argument(
        self, plugin: str, index: int, arg: s.Expr
    ) -> ir.Expr | ir.AggCall | ir.Pipeline:
        if plugin in TABLE_PLUGINS and index == 0:
            return self.pipeline(arg)
        tabular = isinstance(arg, s.Name) and self.is_tabular_name(arg.name)
        if isinstance(arg, s.NamedExpr | s.Pipe) or tabular:
            raise self.unsupported(arg, f"a named or tabular argument of the plugin {plugin}()")
        if aggregate_name(arg) is None:
            return self.expr(arg)
        (measure,) = self.measures(arg, "_")
        if not isinstance(measure.agg, ir.AggCall):
            raise self.unsupported(arg, f"{measure.agg.func}() in the plugin {plugin}()")
        return measure.agg

    def stage_serialize(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        return ir.Serialize(self.assignments(op.args), span=span)

    def stage_invoke(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        call = op.args[0]
        if not isinstance(call, s.Call):
            raise self.unsupported(op, "invoke of something other than a function call")
        args = tuple(self.expr(arg) for arg in call.args)
        return ir.Invoke(call.name, args, span=span)

    # ----------------------------------------------------------------------- order, limits

    def stage_sort(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        return ir.Sort(tuple(self.sort_key(key) for key in op.keys), span=span)

    stage_order = stage_sort

    def sort_key(self, key: s.SortKey) -> ir.SortKey:
        descending = True if key.descending is None else key.descending
        if key.nulls_first is not None and key.nulls_first == descending:
            raise self.unsupported(key, "a nulls first/last order other than the default")
        return ir.SortKey(self.expr(key.expr), descending, span=self.span(key))

    def stage_take(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        return ir.Limit(self.count(op), span=span)

    stage_limit = stage_take

    def count(self, op: s.Operator) -> int:
        value = self.constant(op.count) if op.count is not None else None
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.unsupported(op, f"a {op.name} count that is not a constant integer")
        if not 0 <= value <= MAX_COUNT:
            message = f"the {op.name} count {value} is not between 0 and {MAX_COUNT}"
            raise ir.RuleError(ir.Diagnostic("kql.bad-count", message, self.span(op.count)))
        return value

    def stage_top(self, op: s.Operator, span: ir.Span) -> tuple[ir.Stage, ...]:
        return ir.Sort((self.sort_key(op.keys[0]),), span=span), ir.Limit(self.count(op), span=span)

    def stage_top_nested(self, op: s.Operator, span: ir.Span) -> tuple[ir.Stage, ...]:
        """One level, `top-nested N of a by agg`: `summarize aggregated_a = agg by a`, then the
        N groups with the largest (`asc`: smallest) value."""
        if len(op.args) != 1 or op.options:
            raise self.unsupported(op, "top-nested of several levels or with others")
        ((group,), key) = self.assignments(op.args), op.keys[0]
        value = key.expr.expr if isinstance(key.expr, s.NamedExpr) else key.expr
        name = self.single_name(key.expr) or f"aggregated_{group.name}"
        if aggregate_name(value) is None:
            raise self.unsupported(value, "a top-nested level not ordered by an aggregation")
        measures = tuple(self.measures(value, name))
        descending = key.descending is not False
        order = ir.SortKey(ir.FieldRef(name, span=span), descending, span=self.span(key))
        stages: list[ir.Stage] = [ir.Aggregate((group,), measures, span=span)]
        stages.append(ir.Sort((order,), span=span))
        (count,) = op.parts
        if not (isinstance(count, s.Literal) and count.kind == "null"):
            stages.append(ir.Limit(self.count(dataclasses.replace(op, count=count)), span=span))
        return tuple(stages)

    def stage_distinct(self, op: s.Operator, span: ir.Span) -> tuple[ir.Stage, ...]:
        """`distinct a, b`; `distinct x = f(a), b` is `project x = f(a), b | distinct x, b`."""
        for item in op.args:
            if isinstance(item, s.Name) and item.wildcard:
                raise self.unsupported(item, "distinct over a column wildcard")
        if all(isinstance(item, s.Name) for item in op.args):
            return (ir.Distinct(tuple(item.name for item in op.args), span=span),)
        columns = self.assignments(op.args)
        distinct = ir.Distinct(tuple(column.name for column in columns), span=span)
        return ir.Project(columns, span=span), distinct

    def stage_count(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        name = op.args[0].name if op.args and isinstance(op.args[0], s.Name) else "Count"
        measure = ir.Measure(name, ir.AggCall("count", span=span), span=span)
        return ir.Aggregate((), (measure,), span=span)
