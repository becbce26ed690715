"""Lower the operators that start a pipeline or add rows: union, search, datatable, print, range."""

from __future__ import annotations

from datetime import datetime, timedelta

from rulec.compiler import ir

from . import syntax as s
from .lower_columns import ColumnLowering

MAX_RANGE_ROWS = 10_000
SEARCH_TABLE_COLUMN = "$table"  # the column `search` adds, naming each row's table


class SourceLowering(ColumnLowering):
    """Sources as pipelines; `pipeline` is supplied by the query half."""

    external_name: str | None
    external_tables: set[str]

    def source_operator(self, op: s.Operator) -> ir.Pipeline:
        span = self.span(op)
        method = getattr(self, "source_" + op.name, None)
        if method is None:
            raise self.unsupported(op, f"the '{op.name}' operator as a source")
        return method(op, span)

    # ----------------------------------------------------------------------- union

    def source_union(self, op: s.Operator, span: ir.Span) -> ir.Pipeline:
        if not op.args:
            raise self.unsupported(op, "union without tables")
        first = self.pipeline(op.args[0])
        union = self.stage_union(op, span, op.args[1:])
        if not union.pipelines and union.source_column is None:  # type: ignore[attr-defined]
            return ir.Pipeline(first.source, first.stages, span=span)
        return ir.Pipeline(first.source, (*first.stages, union), span=span)

    def stage_union(
        self, op: s.Operator, span: ir.Span, items: tuple[s.Expr, ...] | None = None
    ) -> ir.Stage:
        source_column = self.union_options(op)
        pipelines = tuple(self.pipeline(item) for item in (op.args if items is None else items))
        return ir.Union(pipelines, source_column, span=span)

    def union_options(self, op: s.Operator) -> str | None:
        """The `withsource=` column, if any; other options are checked and dropped."""
        source_column = None
        for option in op.options:
            value = option.value
            if option.name == "isfuzzy":
                self.note(option, "union isfuzzy only tolerates missing tables")
            elif option.name == "withsource" and isinstance(value, s.Name):
                source_column = value.name
            elif option.name == "kind" and isinstance(value, s.Name) and value.name == "outer":
                continue
            elif not option.name.startswith("hint."):
                raise self.unsupported(option, f"the union option '{option.name}'")
        return source_column

    # ----------------------------------------------------------------------- externaldata

    def source_externaldata(self, op: s.Operator, span: ir.Span) -> ir.Pipeline:
        """`externaldata(a: t, ...)[urls]` in the let `T`: the table `T`, supplied with the
        data, with exactly the columns the query declares for it."""
        name = self.external_name
        if name is None:
            what = "externaldata outside a let (the let names the table supplied with the data)"
            raise self.unsupported(op, what)
        if name not in self.external_tables:
            self.external_tables.add(name)
            self.note(op, f"externaldata is read as the table '{name}' supplied with the data")
        declared = [p for p in op.parts if isinstance(p, s.Param)]
        columns = tuple(
            ir.Assign(p.name, ir.FieldRef(p.name, span=span), span=span) for p in declared
        )
        stages = (ir.Project(columns, span=span),) if columns else ()
        return ir.Pipeline(ir.Table(name, span=span), stages, span=span)

    # ----------------------------------------------------------------------- search

    def source_search(self, op: s.Operator, span: ir.Span) -> ir.Pipeline:
        """`search in (A, B) predicate`: each table tagged in `$table`, united, then filtered."""
        if not op.parts:
            every = ir.Table("*", wildcard=True, span=span)
            tag = ir.Union((), SEARCH_TABLE_COLUMN, span=span)
            return ir.Pipeline(every, (tag, *self.stage_search(op, span)), span=span)
        tagged = []
        for item in op.parts:
            if not isinstance(item, s.Name) or item.wildcard:
                raise self.unsupported(item, "a search table other than a plain table name")
            name = ir.Literal(item.name, span=self.span(item))
            tag = ir.Extend((ir.Assign(SEARCH_TABLE_COLUMN, name, span=span),), span=span)
            base = self.pipeline(item)
            tagged.append(ir.Pipeline(base.source, (*base.stages, tag), span=base.span))
        stages = list(tagged[0].stages)
        if len(tagged) > 1:
            stages.append(ir.Union(tuple(tagged[1:]), span=span))
        stages.extend(self.stage_search(op, span))
        return ir.Pipeline(tagged[0].source, tuple(stages), span=span)

    def stage_search(self, op: s.Operator, span: ir.Span) -> tuple[ir.Stage, ...]:
        case_sensitive = False
        for option in op.options:
            value = option.value.name if isinstance(option.value, s.Name) else None
            if option.name != "kind" or value not in ("case_sensitive", "case_insensitive"):
                raise self.unsupported(option, f"the search option '{option.name}'")
            case_sensitive = value == "case_sensitive"
        predicate = op.args[0]
        if isinstance(predicate, s.Name) and predicate.name == "*":
            return ()
        return (ir.Filter(self.search_predicate(predicate, case_sensitive), span=span),)

    def search_predicate(self, node: s.Expr, case_sensitive: bool) -> ir.Expr:
        """A bare string is a term anywhere in the row; `and`/`or`/`not` combine them."""
        span = self.span(node)
        if isinstance(node, s.Literal) and node.kind == "string":
            return self.search_term(node, str(node.value), case_sensitive)
        if isinstance(node, s.Binary) and node.op in ("and", "or"):
            left = self.search_predicate(node.left, case_sensitive)
            right = self.search_predicate(node.right, case_sensitive)
            cls = ir.And if node.op == "and" else ir.Or
            return cls((left, right), span=span)
        if isinstance(node, s.Call) and node.name.lower() == "not" and len(node.args) == 1:
            return ir.Not(self.search_predicate(node.args[0], case_sensitive), span=span)
        if case_sensitive:
            raise self.unsupported(node, "a column predicate in a case-sensitive search")
        return self.expr(node)

    def search_term(self, node: s.Literal, term: str, case_sensitive: bool) -> ir.Expr:
        span, raw = self.span(node), ir.RawText(span=self.span(node))
        inner = term[1:-1] if len(term) > 2 and term.startswith("*") and term.endswith("*") else ""
        if inner and "*" not in inner:
            return ir.Match(raw, ir.MatchKind.CONTAINS, (inner,), case_sensitive, span=span)
        if "*" in term:
            raise self.unsupported(node, f"the search term {term!r} (prefix/suffix term search)")
        return ir.Match(raw, ir.MatchKind.HAS, (term,), case_sensitive, span=span)

    # ----------------------------------------------------------------------- constant rows

    def source_datatable(self, op: s.Operator, span: ir.Span) -> ir.Pipeline:
        columns = tuple((p.name, p.type) for p in op.parts if isinstance(p, s.Param))
        values = []
        for item in op.args:
            value = self.expr(item)
            if not isinstance(value, ir.Literal):
                raise self.unsupported(item, "a datatable value that is not a literal")
            values.append(value.value)
        if not columns or len(values) % len(columns):
            raise self.unsupported(op, "a datatable whose values do not fill whole rows")
        width = len(columns)
        rows = tuple(tuple(values[i : i + width]) for i in range(0, len(values), width))
        return ir.Pipeline(ir.Datatable(columns, rows, span=span), span=span)

    def source_print(self, op: s.Operator, span: ir.Span) -> ir.Pipeline:
        """`print a = x, y`: one row with no columns, extended by the printed values."""
        assignments = []
        for index, item in enumerate(op.args):
            if isinstance(item, s.NamedExpr):
                (assign,) = self.assignments((item,))
            else:
                assign = ir.Assign(f"print_{index}", self.expr(item), span=self.span(item))
            assignments.append(assign)
        extend = ir.Extend(tuple(assignments), span=span)
        return ir.Pipeline(ir.Datatable((), ((),), span=span), (extend,), span=span)

    def source_range(self, op: s.Operator, span: ir.Span) -> ir.Pipeline:
        """`range x from a to b step c` over constants: its rows, listed."""
        (column,) = op.args
        assert isinstance(column, s.Name)
        start, stop, step = (self.expr(part) for part in op.parts)
        values = range_values(start, stop, step)
        if values is None:
            raise self.unsupported(op, f"a range that is not {MAX_RANGE_ROWS} constants or fewer")
        kind = {int: "long", float: "real", datetime: "datetime", timedelta: "timespan"}
        columns = ((column.name, kind[type(values[0])] if values else "long"),)
        rows = tuple((value,) for value in values)
        return ir.Pipeline(ir.Datatable(columns, rows, span=span), span=span)


def range_values(start: ir.Expr, stop: ir.Expr, step: ir.Expr) -> list | None:
    """The values from `start` to `stop` (inclusive) by `step`, if all three are constants."""
    if not all(isinstance(e, ir.Literal) for e in (start, stop, step)):
        return None
    low, high, by = start.value, stop.value, step.value  # type: ignore[union-attr]
    zero = timedelta(0) if isinstance(by, timedelta) else 0
    try:
        if by == zero or isinstance(by, bool) or (high - low) / by > MAX_RANGE_ROWS:
            return None
        values, value = [], low
        while (value <= high) if by > zero else (value >= high):
            values.append(value)
            value = value + by
    except TypeError:
        return None
    return values
