"""What a name stands for while a query is lowered: lets, parameters and inlined arguments."""

from __future__ import annotations

from dataclasses import dataclass

from rulec.compiler import ir

from . import syntax as s


@dataclass(frozen=True)
class Binding:
    """A bound name.

    kind: "scalar" / "tabular" / "function" (a top-level let or query parameter, lowered once
    and referenced by name); "inline" (a function's argument or inner let: `value` is lowered
    in `scope` wherever the name is used; `type` "table" when it is tabular); "piped" (the
    input table of an invoked function, already lowered into `pipeline`).
    """

    index: int
    value: s.Expr | None
    kind: str
    type: str | None = None
    node: s.SyntaxNode | None = None
    scope: dict[str, Binding] | None = None
    pipeline: ir.Pipeline | None = None

    @property
    def tabular(self) -> bool:
        return self.kind in ("tabular", "function", "piped") or (
            self.kind == "inline" and self.type == "table"
        )
