"""Inline user-defined functions (`let f = (a: string, T: (*)) { ... }`) at their call sites.

Arguments and the function's inner lets are bound as "inline" names: each use lowers the
argument's expression in the caller's scope, so a function called twice with different
arguments gives two different pipelines, and nothing of the function leaks into `Query.lets`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from rulec.compiler import ir

from . import syntax as s
from .bindings import Binding
from .lower_operators import OperatorLowering

T = TypeVar("T")
PIPED = "_rulec_invoke_input"


class FunctionLowering(OperatorLowering):
    """Function calls as tabular sources, as scalars, and through `invoke`."""

    bindings: dict[str, Binding]
    in_progress: set[str]

    def in_scope(self, scope: dict[str, Binding], lower: Callable[[], T]) -> T:
        saved = self.bindings
        self.bindings = scope
        try:
            return lower()
        finally:
            self.bindings = saved

    def function_scope(
        self, call: s.Call, piped: ir.Pipeline | None = None
    ) -> tuple[dict[str, Binding], s.Expr]:
        """The names visible in the body of the function `call` names, and its result."""
        body = self.bindings[call.name].value
        assert isinstance(body, s.FunctionBody)
        if body.result is None:
            raise self.unsupported(body, f"the function '{call.name}', which returns nothing")
        args: list[Binding] = []
        if piped is not None:
            args.append(Binding(-1, None, "piped", "table", call, pipeline=piped))
        for arg, param in zip(call.args, body.params[len(args) :], strict=False):
            if isinstance(arg, s.NamedExpr):
                raise self.unsupported(arg, f"a named argument of {call.name}()")
            args.append(Binding(-1, arg, "inline", param.type, arg, scope=self.bindings))
        if len(call.args) + (piped is not None) > len(body.params):
            raise self.unsupported(call, f"{call.name}() with more arguments than parameters")
        scope = dict(self.bindings)
        for param, bound in zip(body.params, args, strict=False):
            scope[param.name] = bound
        for param in body.params[len(args) :]:
            if param.default is None:
                raise self.unsupported(call, f"{call.name}() without its '{param.name}' argument")
            default = Binding(-1, param.default, "inline", param.type, param, self.bindings)
            scope[param.name] = default
        for statement in body.statements:
            scope[self.inner_name(statement)] = self.inner_binding(statement, scope)
        return scope, body.result

    def inner_name(self, statement: s.Statement) -> str:
        if not isinstance(statement, s.Let):
            raise self.unsupported(statement, "a statement other than let in a function body")
        return statement.name

    def inner_binding(self, let: s.Let, scope: dict[str, Binding]) -> Binding:
        if isinstance(let.value, s.FunctionBody):
            return Binding(-1, let.value, "function", node=let)
        tabular = self.in_scope(scope, lambda: self.is_tabular_expr(let.value))
        kind = "table" if tabular else None
        return Binding(-1, let.value, "inline", kind, let, scope=dict(scope))

    def is_tabular_expr(self, value: s.Expr) -> bool:
        if isinstance(value, s.Pipe):
            return True
        if isinstance(value, s.Name):
            bound = self.bindings.get(value.name)
            return bound is None or bound.tabular
        if isinstance(value, s.Call):
            bound = self.bindings.get(value.name)
            name = value.name.lower()
            return name in ("materialize", "table", "view") or (
                bound is not None and bound.kind == "function" and self.returns_table(bound)
            )
        return False

    def returns_table(self, bound: Binding) -> bool:
        body = bound.value
        return isinstance(body, s.FunctionBody) and isinstance(body.result, s.Pipe | s.Name)

    # ----------------------------------------------------------------------- call sites

    def call_pipeline(self, call: s.Call) -> ir.Pipeline:
        self.guard(call, call.name)
        try:
            scope, result = self.function_scope(call)
            return self.in_scope(scope, lambda: self.pipeline(result))
        finally:
            self.in_progress.discard(call.name)

    def user_function_call(self, node: s.Call) -> ir.Expr | None:
        bound = self.bindings.get(node.name)
        if bound is None or bound.kind != "function":
            return None
        self.guard(node, node.name)
        try:
            scope, result = self.function_scope(node)
            return self.in_scope(scope, lambda: self.expr(result))
        finally:
            self.in_progress.discard(node.name)

    def invoke_function(self, call: s.Call, span: ir.Span) -> tuple[ir.Stage, ...]:
        """`T | invoke f(x)`: f's stages applied to T, when f's body starts from its input."""
        marker = ir.Pipeline(ir.PipelineRef(PIPED, span=span), span=span)
        self.guard(call, call.name)
        try:
            scope, result = self.function_scope(call, marker)
            pipeline = self.in_scope(scope, lambda: self.pipeline(result))
        finally:
            self.in_progress.discard(call.name)
        if pipeline.source != marker.source or PIPED in repr(pipeline.stages):
            what = f"invoke {call.name}(), whose body does not start from its input table"
            raise self.unsupported(call, what)
        return pipeline.stages

    def stage_invoke(self, op: s.Operator, span: ir.Span) -> tuple[ir.Stage, ...]:
        call = op.args[0]
        bound = self.bindings.get(call.name) if isinstance(call, s.Call) else None
        if isinstance(call, s.Call) and bound is not None and bound.kind == "function":
            return self.invoke_function(call, span)
        return (super().stage_invoke(op, span),)
