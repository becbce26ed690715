"""Lower a parsed KQL script into IR queries: lets, parameters, sources and pipelines."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from rulec.compiler import ir

from . import syntax as s
from .bindings import Binding
from .lower_functions import FunctionLowering

Named = TypeVar("Named", ir.Param, ir.Let)
Lowered = TypeVar("Lowered")
TABULAR_CALLS = {"materialize", "table", "view"}
SET_AGGREGATES = {"make_set", "make_list", "make_set_if", "make_list_if", "make_list_with_nulls"}


class Lowering(FunctionLowering):
    """Lowers one query statement; lets are lowered when first referenced."""

    def __init__(self, path: str, bindings: dict[str, Binding]):
        self.path = path
        self.bindings = bindings
        self.notes: list[ir.Diagnostic] = []
        self.params: dict[str, ir.Param] = {}
        self.lets: dict[str, ir.Let] = {}
        self.in_progress: set[str] = set()
        self.computed: frozenset[str] = frozenset()
        self.external_name: str | None = None  # the let whose externaldata is being lowered
        self.external_tables: set[str] = set()

    def query(self, statement: s.QueryStatement, meta: ir.RuleMeta) -> ir.Query:
        pipeline = self.pipeline(statement.expr)
        return ir.Query(
            pipeline,
            params=self.in_script_order(self.params.values()),
            lets=self.in_script_order(self.lets.values()),
            meta=meta,
            span=self.span(statement),
        )

    def in_script_order(self, named: Iterable[Named]) -> tuple[Named, ...]:
        """In the order the script binds them; with a name bound inside a function body, in
        the order they were lowered (each after the ones it uses)."""
        order, items = self.bindings, list(named)
        if all(item.name in order for item in items):
            items.sort(key=lambda item: order[item.name].index)
        return tuple(items)

    # ----------------------------------------------------------------------- names

    def binding(self, name: str, kind: str) -> Binding | None:
        bound = self.bindings.get(name)
        return bound if bound is not None and bound.kind == kind else None

    def scalar_let(self, name: str) -> s.Expr | None:
        bound = self.bindings.get(name)
        if bound is None or bound.tabular or bound.kind not in ("scalar", "inline"):
            return None
        return bound.value

    def is_tabular_name(self, name: str) -> bool:
        bound = self.bindings.get(name)
        return bound is not None and bound.tabular

    def scalar_ref(self, node: s.Name) -> ir.Expr | None:
        bound = self.bindings.get(node.name)
        if bound is not None and bound.kind == "inline" and not bound.tabular:
            assert bound.value is not None and bound.scope is not None
            value = bound.value
            return self.in_scope(bound.scope, lambda: self.expr(value))
        if bound is None or bound.kind != "scalar":
            return None
        if node.name not in self.params:
            self.guard(node, node.name)
            value = bound.value
            default = None if value is None else self.external(node.name, lambda: self.expr(value))
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
        if bound.kind == "piped":
            assert bound.pipeline is not None
            return bound.pipeline
        if bound.kind == "inline":
            assert bound.value is not None and bound.scope is not None
            value, scope = bound.value, bound.scope
            return self.external(name, lambda: self.in_scope(scope, lambda: self.pipeline(value)))
        if bound.kind == "function" and not is_plain_view(bound.value):
            return self.call_pipeline(
                node if isinstance(node, s.Call) else s.Call(name, pos=node.pos)
            )
        value = bound.value
        if isinstance(value, s.FunctionBody):
            value = value.result
        if reads_external_data(value):
            return self.external(name, lambda: self.pipeline(value))  # type: ignore[arg-type]
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

    def external(self, name: str, lower: Callable[[], Lowered]) -> Lowered:
        """The value of the let `name` lowered with its `externaldata` read as the table `name`
        (inlined where the let is used: as a let it would read itself)."""
        outer, self.external_name = self.external_name, name
        try:
            return lower()
        finally:
            self.external_name = outer

    def function_result(self, value: s.Expr | None, name: str) -> s.Expr:
        assert isinstance(value, s.FunctionBody) and value.result is not None
        return value.result

    # ----------------------------------------------------------------------- pipelines

    def pipeline(self, node: s.Expr) -> ir.Pipeline:
        if isinstance(node, s.Pipe):
            return self.pipe(node)
        if isinstance(node, s.Name):
            return self.named_source(node)
        if isinstance(node, s.Call):
            return self.call_source(node)
        if isinstance(node, s.Member):
            return self.scoped_source(node)
        raise self.unsupported(node, f"a {type(node).__name__} used as a table")

    def pipe(self, node: s.Pipe) -> ir.Pipeline:
        operators = list(node.operators)
        if node.source is None:
            base = self.source_operator(operators.pop(0))
        else:
            base = self.pipeline(node.source)
        return self.continue_pipe(base, operators)

    def continue_pipe(self, base: ir.Pipeline, operators: Sequence[s.Operator]) -> ir.Pipeline:
        """`base` followed by the stages of `operators`."""
        stages = list(base.stages)
        outer, self.computed = self.computed, self.computed_by(base)
        outer_values, self.row_values = self.row_values, None  # an enclosing where's rows
        try:
            for op in operators:
                lowered = self.stages(op)
                stages.extend(lowered)
                self.computed = self.computed | computed_columns(lowered)
        finally:
            self.computed, self.row_values = outer, outer_values
        return ir.Pipeline(base.source, tuple(stages), span=base.span)

    def computed_by(self, pipeline: ir.Pipeline) -> frozenset[str]:
        """Columns the pipeline (or the let it reads) computes rather than reads from events."""
        names = computed_columns(pipeline.stages)
        source = pipeline.source
        if isinstance(source, ir.PipelineRef) and source.name in self.lets:
            let = self.lets[source.name].value
            if isinstance(let, ir.Pipeline):
                names |= self.computed_by(let)
        return names

    def tabular_values(self, node: s.Expr) -> ir.Pipeline | None:
        if isinstance(node, s.Pipe):
            return self.pipeline(node)
        if isinstance(node, s.Name) and self.is_tabular_name(node.name):
            return self.pipeline(node)
        if isinstance(node, s.Name) and is_call(self.scalar_let(node.name), "toscalar"):
            value = self.scalar_let(node.name)
            return self.external(node.name, lambda: self.tabular_values(value))  # type: ignore[arg-type]
        if is_call(node, "materialize", "table"):
            return self.pipeline(node)
        if is_call(node, "toscalar") and len(node.args) == 1:  # type: ignore[union-attr]
            (arg,) = node.args  # type: ignore[union-attr]
            return None if self.is_scalar(arg) else self.scalar_values(node, self.pipeline(arg))
        return None

    def scalar_values(self, node: s.Expr, pipeline: ir.Pipeline) -> ir.Pipeline:
        """`toscalar(T | summarize make_set(x))` as the rows of its set, one value each."""
        last = pipeline.stages[-1] if pipeline.stages else None
        if not (isinstance(last, ir.Aggregate) and not last.group_by and len(last.measures) == 1):
            raise self.unsupported(node, "toscalar() of a pipeline that is not one aggregation")
        measure = last.measures[0]
        if not (isinstance(measure.agg, ir.AggCall) and measure.agg.func in SET_AGGREGATES):
            return pipeline
        column = ir.FieldRef(measure.name, span=measure.span)
        expand = ir.MvExpand((ir.Assign(measure.name, column, span=measure.span),))
        return ir.Pipeline(pipeline.source, (*pipeline.stages, expand), span=pipeline.span)

    def named_source(self, node: s.Name) -> ir.Pipeline:
        span = self.span(node)
        if node.wildcard:
            return ir.Pipeline(ir.Table(node.name, wildcard=True, span=span), span=span)
        if self.is_tabular_name(node.name):
            return self.pipeline_ref(node, node.name)
        if self.scalar_let(node.name) is not None:
            raise self.unsupported(node, f"the scalar let '{node.name}' used as a table")
        return ir.Pipeline(ir.Table(node.name, span=span), span=span)

    def scoped_source(self, node: s.Member) -> ir.Pipeline:
        """`workspace("w").T`, `arg("").Resources`: a table outside the queried workspace."""
        target, span = node.target, self.span(node.target)
        if not (isinstance(target, s.Call) and target.name.lower() in SCOPES):
            raise self.unsupported(target, "a Member used as a table")
        value = self.constant(target.args[0]) if len(target.args) == 1 else None
        if not isinstance(value, str):
            raise self.unsupported(target, f"{target.name}() without one constant string")
        table = ir.Table(node.name, scope=((target.name.lower(), value),), span=span)
        return ir.Pipeline(table, span=span)

    def call_source(self, node: s.Call) -> ir.Pipeline:
        name = node.name.lower()
        span = self.span(node)
        if name == "materialize" and len(node.args) == 1:
            return self.pipeline(node.args[0])
        if name == "table" and len(node.args) == 1 and self.constant(node.args[0]):
            return ir.Pipeline(ir.Table(str(self.constant(node.args[0])), span=span), span=span)
        if self.binding(node.name, "function") is not None:
            return self.pipeline_ref(node, node.name)
        raise self.unsupported(node, f"the tabular function {node.name}()")


SCOPES = frozenset({"workspace", "app", "resource", "arg", "adx", "database"})


def computed_columns(stages: tuple[ir.Stage, ...] | list[ir.Stage]) -> frozenset[str]:
    """Names that `stages` assign a computed value (not an event field read as it is)."""
    names: set[str] = set()
    for stage in stages:
        if isinstance(stage, ir.Extend | ir.Project):
            assigned = stage.assignments if isinstance(stage, ir.Extend) else stage.columns
            names.update(a.name for a in assigned if a.expr != ir.FieldRef(a.name))
        elif isinstance(stage, ir.Aggregate):
            names.update(g.name for g in stage.group_by if g.expr != ir.FieldRef(g.name))
            names.update(m.name for m in stage.measures)
        elif isinstance(stage, ir.MvExpand):
            names.update(a.name for a in stage.columns)
        elif isinstance(stage, ir.Serialize):
            names.update(a.name for a in stage.columns if a.expr != ir.FieldRef(a.name))
        elif isinstance(stage, ir.ExtendSeveral):
            names.update(stage.names)
    return frozenset(names)


def reads_external_data(node: object) -> bool:
    """Whether the syntax tree `node` has an `externaldata` operator."""
    return any(o.name == "externaldata" for o in ir.find_all(node, s.Operator))


def is_call(node: s.Expr | None, *names: str) -> bool:
    return isinstance(node, s.Call) and node.name.lower() in names


def is_plain_view(value: s.Expr | None) -> bool:
    """A function without parameters or inner lets: lowered once, as a named let."""
    return (
        isinstance(value, s.FunctionBody)
        and not value.params
        and not value.statements
        and value.result is not None
    )
