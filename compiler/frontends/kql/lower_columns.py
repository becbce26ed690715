"""Output column names as KQL gives them, and the notes a lowering leaves behind."""

from __future__ import annotations

from rulec.compiler import ir

from . import syntax as s
from .lower_expr import ExprLowering


class ColumnLowering(ExprLowering):
    """Assignments (`name = expr` or a bare expression) and KQL's default column names."""

    notes: list[ir.Diagnostic]

    def note(self, node: s.SyntaxNode, message: str) -> None:
        line = node.pos.line
        text = f"{message} (line {line})"
        self.notes.append(ir.Diagnostic("kql.dropped", text, self.span(node), severity="note"))

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
            try:
                return self.field_path(item).replace(".", "_"), item
            except ir.RuleError:
                pass
        named = item.args[0] if isinstance(item, s.Call) and len(item.args) == 1 else None
        if isinstance(named, s.NamedExpr):  # toint(C = x) is named C
            return self.column_of(named, counter)[0], item
        if isinstance(item, s.Call) and item.name.lower() in ("bin", "floor") and item.args:
            inner_name, _ = self.column_of(item.args[0], counter)
            return inner_name, item
        counter[0] += 1
        return f"Column{counter[0]}", item
