"""`load_kql`: parse a KQL file and lower each of its queries, never raising for bad input."""

from __future__ import annotations

from rulec.compiler import ir

from . import syntax as s
from .bindings import Binding
from .lower import SCOPES, TABULAR_CALLS, Lowering
from .parser import parse_kql


def load_kql(text: str, path: str) -> list[ir.Query | ir.Diagnostic]:
    """One `ir.Query` per query statement (normally one per file), or diagnostics.

    Parse errors are all returned (and nothing is lowered); a lowering error replaces its query.
    Warnings and notes (ignored `set` options, dropped `render`) accompany the queries; a file
    failed if any returned diagnostic has severity "error".
    """
    try:
        script, diagnostics = parse_kql(text, path)
    except RecursionError:
        return [too_deep(path)]
    if diagnostics:
        return list(diagnostics)
    meta = ir.RuleMeta(language="kql", path=path, title=script.title, text=text)
    try:
        results = lower_script(script, path, meta)
    except RecursionError:
        return [too_deep(path)]
    if not any(isinstance(item, ir.Query) for item in results) and not any(
        isinstance(item, ir.Diagnostic) and item.severity == "error" for item in results
    ):
        results.append(no_query(script, path))
    return results


def no_query(script: s.Script, path: str) -> ir.Diagnostic:
    """A file without a query: empty, or definitions that no query uses (nothing returns rows,
    which every target's query and rule must)."""
    lets = [statement for statement in script.statements if isinstance(statement, s.Let)]
    if not lets:
        return ir.Diagnostic("kql.no-query", "the file holds no query", ir.Span(path, 1, 1))
    names = ", ".join(let.name for let in lets)
    message = f"the file only defines {names}: no query (a table expression after the lets)"
    last = lets[-1].pos
    return ir.Diagnostic("kql.no-query", message, ir.Span(path, last.line, last.column))


def lower_script(script: s.Script, path: str, meta: ir.RuleMeta) -> list[ir.Query | ir.Diagnostic]:
    results: list[ir.Query | ir.Diagnostic] = []
    bindings: dict[str, Binding] = {}
    for index, statement in enumerate(script.statements):
        span = ir.Span(path, statement.pos.line, statement.pos.column)
        if isinstance(statement, s.Set):
            message = f"the option 'set {statement.name}' is ignored (line {span.line})"
            results.append(ir.Diagnostic("kql.ignored-option", message, span, "warning"))
        elif isinstance(statement, s.Declare):
            for param in statement.params:
                bindings[param.name] = Binding(index, param.default, "scalar", param.type, param)
        elif isinstance(statement, s.Let):
            bindings[statement.name] = binding_of(statement, index, bindings)
        else:
            results.extend(lower_query(statement, path, dict(bindings), meta))
    return results


def lower_query(
    statement: s.QueryStatement, path: str, bindings: dict[str, Binding], meta: ir.RuleMeta
) -> list[ir.Query | ir.Diagnostic]:
    lowering = Lowering(path, bindings)
    try:
        query: ir.Query | ir.Diagnostic = lowering.query(statement, meta)
    except ir.RuleError as error:
        query = error.diagnostic
    return [query, *lowering.notes]


def binding_of(let: s.Let, index: int, bindings: dict[str, Binding]) -> Binding:
    value = let.value
    if isinstance(value, s.FunctionBody):
        kind = "function"
    elif is_tabular(value, bindings):
        kind = "tabular"
    else:
        kind = "scalar"
    return Binding(index, value, kind, node=let)


def is_tabular(value: s.Expr, bindings: dict[str, Binding]) -> bool:
    """Whether a let's value is a table: a pipe, a table or tabular-let name, materialize(),
    a table of another workspace."""
    if isinstance(value, s.Pipe):
        return True
    if isinstance(value, s.Member):  # workspace("w").T
        target = value.target
        return isinstance(target, s.Call) and target.name.lower() in SCOPES
    if isinstance(value, s.Name):
        bound = bindings.get(value.name)
        return bound is None or bound.kind != "scalar"
    if isinstance(value, s.Call):
        bound = bindings.get(value.name)
        return value.name.lower() in TABULAR_CALLS or (bound is not None and bound.kind != "scalar")
    return False


def too_deep(path: str) -> ir.Diagnostic:
    message = "the query is nested too deeply to compile"
    return ir.Diagnostic("kql.too-deep", message, ir.Span(path, 1, 1))
