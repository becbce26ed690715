"""Lower the operators that reshape rows from values: `mv-expand` and `parse`/`parse-where`."""

from __future__ import annotations

from rulec.compiler import ir

from . import syntax as s
from .lower_columns import ColumnLowering

LEGACY_EXPAND_LIMIT = 128  # `mvexpand`, the operator's old spelling, stops at 128 rows
CONVERSIONS = {"todynamic", "parse_json", "toobject", "tostring"}
PARSE_KINDS = {"simple", "regex", "relaxed"}
SKIP = "*"  # a `Parse` capture named `*` matches text that no column keeps


class ExpandLowering(ColumnLowering):
    """`mv-expand` -> MvExpand; `parse` and `parse-where` -> Parse."""

    def stage_mv_expand(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        for option in op.options:
            value = option.value.name if isinstance(option.value, s.Name) else None
            if not (option.name in ("kind", "bagexpansion") and value == "bag"):
                raise self.unsupported(option, f"the {op.name} option '{option.name}'")
        columns = tuple(self.expanded_column(item) for item in op.args)
        limit = self.expand_limit(op)
        return ir.MvExpand(columns, limit, span=span)

    def stage_mvexpand(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        stage = self.stage_mv_expand(op, span)
        assert isinstance(stage, ir.MvExpand)
        if op.count is None:
            return ir.MvExpand(stage.columns, LEGACY_EXPAND_LIMIT, span=span)
        return stage

    def stage_mv_apply(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        """`mv-apply [with_itemindex=I] x = arr [limit n] on (ops)`."""
        index = None
        for option in op.options:
            if option.name != "with_itemindex" or not isinstance(option.value, s.Name):
                raise self.unsupported(option, f"the {op.name} option '{option.name}'")
            index = option.value.name
        columns = tuple(self.expanded_column(item) for item in op.args)
        limit = self.expand_limit(op)
        assert isinstance(op.right, s.Pipe)
        stages: list[ir.Stage] = []
        outer = self.computed
        self.computed = outer | {c.name for c in columns} | ({index} if index else set())
        try:
            for inner in op.right.operators:
                stages.extend(self.stages(inner))
        finally:
            self.computed = outer
        rows = ir.Pipeline(ir.PipelineRef(ir.MV_APPLY, span=span), tuple(stages), span=span)
        return ir.MvApply(columns, limit, rows, index, span=span)

    def stages(self, op: s.Operator) -> tuple[ir.Stage, ...]:
        raise NotImplementedError

    def expand_limit(self, op: s.Operator) -> int | None:
        if op.count is None:
            return None
        value = self.constant(op.count)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.unsupported(op.count, f"a {op.name} limit that is not a constant count")
        return value

    def expanded_column(self, item: s.Expr) -> ir.Assign:
        if isinstance(item, s.Cast):
            self.note(item, f"'to typeof({item.type})' only casts the expanded values")
            item = item.expr
        converted = converted_column(item)
        if converted is not None:
            return ir.Assign(converted, self.expr(item), span=self.span(item))
        (assign,) = self.assignments((item,))
        return assign

    # ----------------------------------------------------------------------- parse

    def stage_parse(self, op: s.Operator, span: ir.Span) -> ir.Stage:
        kind = "simple"
        for option in op.options:
            value = option.value.name.lower() if isinstance(option.value, s.Name) else None
            if option.name != "kind" or value not in PARSE_KINDS:
                raise self.unsupported(option, f"the {op.name} option '{option.name}'")
            kind = value
        parts: list[str | tuple[str, str | None]] = []
        for part in op.parts:
            if isinstance(part, s.Literal) and isinstance(part.value, str):
                if parts and isinstance(parts[-1], str):
                    parts[-1] += part.value
                else:
                    parts.append(part.value)
            elif isinstance(part, s.Param):
                parts.append((part.name, part.type.lower()))
            elif isinstance(part, s.Name) and not part.wildcard:
                parts.append((part.name, None))
            else:
                raise self.unsupported(part, f"this part of the {op.name} pattern")
        source = self.expr(op.args[0])
        keep = op.name == "parse"
        return ir.Parse(source, tuple(parts), kind, keep, span=span)

    stage_parse_where = stage_parse


def converted_column(item: s.Expr) -> str | None:
    """`todynamic(Col)` keeps the name `Col` in mv-expand."""
    if isinstance(item, s.Call) and item.name.lower() in CONVERSIONS and len(item.args) == 1:
        arg = item.args[0]
        if isinstance(arg, s.Name) and not arg.wildcard:
            return arg.name
    return None
