"""Lower a parsed KQL script into IR queries: lets, parameters, sources and pipelines."""

from __future__ import annotations

from dataclasses import dataclass

from rulec.compiler import ir

from . import syntax as s
from .lower_operators import OperatorLowering

TABULAR_CALLS = {"materialize", "table", "view"}


@dataclass(frozen=True)
class Binding:
    """A name bound before the query: a let (scalar, tabular or function) or a parameter."""

    index: int
    value: s.Expr | None
    kind: str  # "scalar" | "tabular" | "function"
    type: str | None = None
    node: s.SyntaxNode | None = None


class Lowering(OperatorLowering):
    """Lowers one query statement; lets are lowered when first referenced."""

    def __init__(self, path: str, bindings: dict[str, Binding]):
        self.path = path
        self.bindings = bindings
        self.notes: list[ir.Diagnostic] = []
        self.params: dict[str, ir.Param] = {}
        self.lets: dict[str, ir.Let] = {}
        self.in_progress: set[str] = set()

    def query(self, statement: s.QueryStatement, meta: ir.RuleMeta) -> ir.Query:
        pipeline = self.pipeline(statement.expr)
        order = self.bindings
        return ir.Query(
            pipeline,
            params=tuple(sorted(self.params.values(), key=lambda p: order[p.name].index)),
            lets=tuple(sorted(self.lets.values(), key=lambda let: order[let.name].index)),
            meta=meta,
            span=self.span(statement),
        )

    # ----------------------------------------------------------------------- names

    def binding(self, name: str, kind: str) -> Binding | None:
        bound = self.bindings.get(name)
        return bound if bound is not None and bound.kind == kind else None

    def scalar_let(self, name: str) -> s.Expr | None:
        bound = self.binding(name, "scalar")
        return bound.value if bound is not None else None

    def is_tabular_name(self, name: str) -> bool:
        return (
            self.binding(name, "tabular") is not None or self.binding(name, "function") is not None
        )

    def scalar_ref(self, node: s.Name) -> ir.ScalarRef | None:
        bound = self.binding(node.name, "scalar")
        if bound is None:
            return None
        if node.name not in self.params:
            self.guard(node, node.name)
            default = self.expr(bound.value) if bound.value is not None else None
            self.in_progress.discard(node.name)
            span = self.span(bound.node) if bound.node else self.span(node)
            self.params[node.name] = ir.Param(node.name, bound.type, default, span=span)
        return ir.ScalarRef(node.name, span=self.span(node))

    def guard(self, node: s.SyntaxNode, name: str) -> None:
        if name in self.in_progress:
            raise self.unsupported(node, f"the let '{name}', which refers to itself")
        self.in_progress.add(name)

    def pipeline_ref(self, node: s.Name | s.Call, name: str) -> ir.Pipeline:
        bound = self.bindings[name]
        if is_external(bound.value):
            return self.external_table(node, name, bound.value)
        if name not in self.lets:
            self.guard(node, name)
            value = bound.value
            materialize = isinstance(value, s.Call) and value.name.lower() == "materialize"
            if bound.kind == "function":
                value = self.function_result(value, name)
            assert value is not None
            pipeline = self.pipeline(value)
            self.in_progress.discard(name)
            span = self.span(bound.node) if bound.node else self.span(node)
            self.lets[name] = ir.Let(name, pipeline, materialize, span=span)
        return ir.Pipeline(ir.PipelineRef(name, span=self.span(node)), span=self.span(node))

    def external_table(self, node: s.Name | s.Call, name: str, value: s.Pipe) -> ir.Pipeline:
        """`let T = externaldata(...)[urls]`: the table `T`, supplied with the data."""
        if name not in self.lets and name not in self.in_progress:
            self.in_progress.add(name)
            self.note(value, f"externaldata is read as the table '{name}' supplied with the data")
        span = self.span(node)
        return ir.Pipeline(ir.Table(name, span=span), span=span)

    def function_result(self, value: s.Expr | None, name: str) -> s.Expr:
        assert isinstance(value, s.FunctionBody)
        if value.params or value.statements or value.result is None:
            raise self.unsupported(value, f"the user-defined function '{name}' with parameters")
        return value.result

    # ----------------------------------------------------------------------- pipelines

    def pipeline(self, node: s.Expr) -> ir.Pipeline:
        if isinstance(node, s.Pipe):
            return self.pipe(node)
        if isinstance(node, s.Name):
            return self.named_source(node)
        if isinstance(node, s.Call):
            return self.call_source(node)
        raise self.unsupported(node, f"a {type(node).__name__} used as a table")

    def pipe(self, node: s.Pipe) -> ir.Pipeline:
        operators = list(node.operators)
        if node.source is None:
            base = self.source_operator(operators.pop(0))
        else:
            base = self.pipeline(node.source)
        stages = list(base.stages)
        for op in operators:
            stages.extend(self.stages(op))
        return ir.Pipeline(base.source, tuple(stages), span=base.span)

    def named_source(self, node: s.Name) -> ir.Pipeline:
        span = self.span(node)
        if node.wildcard:
            raise self.unsupported(node, f"the table wildcard '{node.name}'")
        if self.is_tabular_name(node.name):
            return self.pipeline_ref(node, node.name)
        if self.scalar_let(node.name) is not None:
            raise self.unsupported(node, f"the scalar let '{node.name}' used as a table")
        return ir.Pipeline(ir.Table(node.name, span=span), span=span)

    def call_source(self, node: s.Call) -> ir.Pipeline:
        name = node.name.lower()
        span = self.span(node)
        if name == "materialize" and len(node.args) == 1:
            return self.pipeline(node.args[0])
        if name == "table" and len(node.args) == 1 and self.constant(node.args[0]):
            return ir.Pipeline(ir.Table(str(self.constant(node.args[0])), span=span), span=span)
        if self.binding(node.name, "function") is not None and not node.args:
            return self.pipeline_ref(node, node.name)
        raise self.unsupported(node, f"the tabular function {node.name}()")

    def source_operator(self, op: s.Operator) -> ir.Pipeline:
        span = self.span(op)
        if op.name == "union" and op.args:
            self.union_options(op)
            first = self.pipeline(op.args[0])
            rest = tuple(self.pipeline(item) for item in op.args[1:])
            stages = first.stages + ((ir.Union(rest, span=span),) if rest else ())
            return ir.Pipeline(first.source, stages, span=span)
        if op.name == "datatable":
            return ir.Pipeline(self.datatable(op), span=span)
        raise self.unsupported(op, f"the '{op.name}' operator as a source")

    def datatable(self, op: s.Operator) -> ir.Datatable:
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
        return ir.Datatable(columns, rows, span=self.span(op))


def is_external(value: s.Expr | None) -> bool:
    """A let bound to `externaldata(...)[...]` alone."""
    return (
        isinstance(value, s.Pipe)
        and value.source is None
        and len(value.operators) == 1
        and value.operators[0].name == "externaldata"
    )
