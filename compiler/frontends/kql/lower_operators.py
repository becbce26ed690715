"""Lower tabular operators into IR stages (some operators become two stages, some none)."""

from __future__ import annotations

from rulec.compiler import ir

from . import syntax as s
from .lower_expr import ExprLowering

JOIN_KINDS = {kind.value: kind for kind in ir.JoinKind}
JOIN_KINDS |= {
    "anti": ir.JoinKind.LEFTANTI, "leftantisemi": ir.JoinKind.LEFTANTI,
    "rightantisemi": ir.JoinKind.RIGHTANTI, "semi": ir.JoinKind.LEFTSEMI,
}  # fmt: skip
AGGREGATE_PREFIX = {
    "count": "count", "countif": "countif", "dcount": "dcount", "dcountif": "dcountif",
    "sum": "sum", "sumif": "sumif", "min": "min", "max": "max", "avg": "avg",
    "make_set": "set", "make_list": "list", "make_bag": "bag", "take_any": "any", "any": "any",
    "stdev": "stdev", "variance": "variance",
}  # fmt: skip
AGGREGATE_NAMES = {"any": "take_any", "makeset": "make_set", "makelist": "make_list"}
ROW_COUNTS = {"count", "countif"}  # their default column is `count_` / `countif_`
NOTE_ONLY = {
    "render": "render is presentation only",
    "project-reorder": "project-reorder changes only the order of columns",
    "as": "as only names the result",
    "serialize": "serialize only marks the row order as fixed",
}


class OperatorLowering(ExprLowering):
    """Turns each `s.Operator` into IR stages; `pipeline` is supplied by the query half."""

    notes: list[ir.Diagnostic]

    def stages(self, op: s.Operator) -> tuple[ir.Stage, ...]:
        span = self.span(op)
        if op.name in NOTE_ONLY and not (op.name == "serialize" and op.args):
            self.note(op, f"{NOTE_ONLY[op.name]}: dropped from the IR")
            return ()
        method = getattr(self, "stage_" + op.name.replace("-", "_"), None)
        if method is None:
            raise self.unsupported(op, f"the '{op.name}' operator")
        result = method(op, span)
        return result if isinstance(result, tuple) else (result,)

    def note(self, node: s.SyntaxNode, message: str) -> None:
        line = node.pos.line
        text = f"{message} (line {line})"
        self.notes.append(ir.Diagnostic("kql.dropped", text, self.span(node), severity="note"))

    def stage_where(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        return ir.Filter(self.expr(op.args[0]), span=span)

    stage_filter = stage_where

    def stage_extend(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        return ir.Extend(self.assignments(op.args), span=span)

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
            assert isinstance(item, s.NamedExpr) and isinstance(item.expr, s.Name)
            if item.expr.wildcard:
                raise self.unsupported(item, "a wildcard in project-rename")
            pairs.append((item.names[0], item.expr.name))
        return ir.Rename(tuple(pairs), span=span)

    def plain_names(self, op: s.Operator) -> tuple[str, ...]:
        for item in op.args:
            if isinstance(item, s.Name) and item.wildcard:
                raise self.unsupported(item, f"the column wildcard '{item.name}' in {op.name}")
        return tuple(item.name for item in op.args if isinstance(item, s.Name))

    def assignments(self, items: tuple[s.Expr, ...]) -> tuple[ir.Assign, ...]:
        result, counter = [], [0]
        for item in items:
            name, expr = self.column_of(item, counter)
            result.append(ir.Assign(name, self.expr(expr), span=self.span(item)))
        return tuple(result)

    def column_of(self, item: s.Expr, counter: list[int]) -> tuple[str, s.Expr]:
        """The output column name KQL gives `item`, and the expression it holds."""
        if isinstance(item, s.NamedExpr):
            if len(item.names) != 1:
                raise self.unsupported(item, "an assignment to several columns")
            return item.names[0], item.expr
        if isinstance(item, s.Name | s.Member | s.Index):
            return self.field_path(item).replace(".", "_"), item
        if isinstance(item, s.Call) and item.name.lower() in ("bin", "floor") and item.args:
            inner_name, _ = self.column_of(item.args[0], counter)
            return inner_name, item
        counter[0] += 1
        return f"Column{counter[0]}", item

    # ----------------------------------------------------------------------- summarize

    def stage_summarize(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        measures = tuple(self.measure(item) for item in op.args)
        return ir.Aggregate(self.assignments(op.by), measures, span=span)

    def measure(self, item: s.Expr) -> ir.Measure:
        name = item.names[0] if isinstance(item, s.NamedExpr) and len(item.names) == 1 else None
        call = item.expr if isinstance(item, s.NamedExpr) else item
        if not isinstance(call, s.Call):
            raise self.unsupported(item, "a summarize measure that is not one aggregation call")
        func = call.name.lower()
        func = AGGREGATE_NAMES.get(func, func)
        if func not in AGGREGATE_PREFIX:
            raise self.unsupported(call, f"the aggregation {call.name}()")
        args = call.args[:1] if func in ("dcount", "dcountif") else call.args
        if func == "dcountif":
            args = call.args[:2]
        if len(args) > 1 or (func == "count" and args):
            raise self.unsupported(call, f"{call.name}() with {len(call.args)} arguments")
        arg = self.expr(args[0]) if args else None
        if name is None:
            name = self.default_measure_name(func, call)
        return ir.Measure(name, ir.AggCall(func, arg, span=self.span(call)), span=self.span(item))

    def default_measure_name(self, func: str, call: s.Call) -> str:
        prefix = AGGREGATE_PREFIX[func]
        if func in ROW_COUNTS or not call.args:
            return prefix + "_"
        column, _ = self.column_of(call.args[0], [0])
        return f"{prefix}_{column}"

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

    def stage_union(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        self.union_options(op)
        return ir.Union(tuple(self.pipeline(item) for item in op.args), span=span)

    def union_options(self, op: s.Operator) -> None:
        for option in op.options:
            value = option.value
            if option.name == "isfuzzy":
                self.note(option, "union isfuzzy only tolerates missing tables")
            elif option.name == "kind" and isinstance(value, s.Name) and value.name == "outer":
                continue
            elif not option.name.startswith("hint."):
                raise self.unsupported(option, f"the union option '{option.name}'")

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
        return value

    def stage_top(self, op: s.Operator, span: ir.Span) -> tuple[ir.Stage, ...]:
        return ir.Sort((self.sort_key(op.keys[0]),), span=span), ir.Limit(self.count(op), span=span)

    def stage_distinct(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        for item in op.args:
            if not isinstance(item, s.Name) or item.wildcard:
                raise self.unsupported(item, "distinct over an expression (only column names)")
        return ir.Distinct(tuple(item.name for item in op.args), span=span)

    def stage_count(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        measure = ir.Measure("Count", ir.AggCall("count", span=span), span=span)
        return ir.Aggregate((), (measure,), span=span)
