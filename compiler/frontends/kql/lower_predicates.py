"""Lower KQL comparisons, string operators, `in` lists and `between` into IR predicates."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rulec.compiler import ir

from . import syntax as s
from .folding import kql_match, term_prefix_regex
from .lower_expr import COMPARE_OPS, FLIPPED, STRING_KINDS, THRESHOLD_KINDS, is_field
from .values import re2_error

if TYPE_CHECKING:
    from .lower_expr import ExprLowering


def lower_predicate(lo: ExprLowering, node: s.Binary | s.InList | s.Between) -> ir.Expr:
    if isinstance(node, s.InList):
        return in_list(lo, node)
    if isinstance(node, s.Between):
        return between(lo, node)
    if node.op in ("and", "or"):
        return logical(lo, node)
    negated = node.op.startswith("!") and node.op not in ("!=", "!~")
    result = positive(lo, node, node.op[1:] if negated else node.op)
    return ir.Not(result, span=lo.span(node)) if negated else result


def logical(lo: ExprLowering, node: s.Binary) -> ir.Expr:
    """A chain of one logical operator, flattened without recursion along the chain."""
    cls = ir.And if node.op == "and" else ir.Or
    sides: list[s.Expr] = []
    chain: s.Expr = node
    while isinstance(chain, s.Binary) and chain.op == node.op:
        sides.append(chain.right)
        chain = chain.left
    sides.append(chain)
    operands: list[ir.Expr] = []
    for side in reversed(sides):
        lowered = lo.expr(side)
        operands.extend(lowered.operands if type(lowered) is cls else (lowered,))
    return cls(tuple(operands), span=lo.span(node))


def positive(lo: ExprLowering, node: s.Binary, op: str) -> ir.Expr:
    span = lo.span(node)
    base = op.removesuffix("_cs")
    if base in STRING_KINDS:
        return lo.match(node, node.left, node.right, STRING_KINDS[base], op.endswith("_cs"))
    if op == ":":
        return lo.match(node, node.left, node.right, ir.MatchKind.HAS, False)
    if base in ("hasprefix", "hassuffix"):
        return term_edge(lo, node, base, op.endswith("_cs"))
    if op in ("=~", "!~"):
        left, right = oriented(lo, node)
        match = lo.match(node, left, right, ir.MatchKind.EQ, False)
        return match if op == "=~" else ir.Not(match, span=span)
    if op == "matches regex":
        check_regex(lo, node.right)
        return lo.match(node, node.left, node.right, ir.MatchKind.REGEX, True)
    if op in ("==", "=", "!=", "<>"):
        return equality(lo, node, op)
    if op in THRESHOLD_KINDS:
        return threshold(lo, node, op)
    raise lo.unsupported(node, f"the operator '{node.op}'")


def term_edge(lo: ExprLowering, node: s.Binary, base: str, case_sensitive: bool) -> ir.Expr:
    """`hasprefix`/`hassuffix`: a term of the text starts/ends with the value (a regex)."""
    value = lo.constant(node.right)
    if not isinstance(value, str):
        what = f"a right-hand side of {base} that is not a constant string"
        raise lo.unsupported(node.right, what)
    pattern = term_prefix_regex(value, base == "hasprefix", case_sensitive)
    field, transforms = lo.subject(node.left)
    return ir.Match(field, ir.MatchKind.REGEX, (pattern,), True, transforms, span=lo.span(node))


def check_regex(lo: ExprLowering, node: s.Expr) -> None:
    """A constant pattern must compile as RE2 (what KQL runs), checked with the RE2 library."""
    pattern = lo.constant(node)
    if not isinstance(pattern, str):
        return
    error = re2_error(pattern)
    if error is not None:
        shown = pattern if len(pattern) <= 60 else pattern[:57] + "..."
        message = f"the regex {shown!r} is not valid RE2: {error}"
        raise ir.RuleError(ir.Diagnostic("kql.bad-regex", message, lo.span(node)))


def oriented(lo: ExprLowering, node: s.Binary) -> tuple[s.Expr, s.Expr]:
    """(subject, value): a constant on the left of a symmetric operator moves right."""
    if lo.constant(node.left) is not None and lo.constant(node.right) is None:
        return node.right, node.left
    return node.left, node.right


def equality(lo: ExprLowering, node: s.Binary, op: str) -> ir.Expr:
    span = lo.span(node)
    left, right = oriented(lo, node)
    if isinstance(lo.constant(right), str):
        match = lo.match(node, left, right, ir.MatchKind.EQ, True)
        return match if op in ("==", "=") else ir.Not(match, span=span)
    compare_op = COMPARE_OPS[op]
    return ir.Compare(compare_op, lo.expr(node.left), lo.expr(node.right), span=span)


def threshold(lo: ExprLowering, node: s.Binary, op: str) -> ir.Expr:
    """`coalesce(f, 0) < 100` keeps its field and transform; other comparisons stay Compare."""
    left, right = node.left, node.right
    if wrapped_field(left) and lo.constant(right) is not None:
        return lo.match(node, left, right, THRESHOLD_KINDS[op], True)
    if wrapped_field(right) and lo.constant(left) is not None:
        return lo.match(node, right, left, THRESHOLD_KINDS[FLIPPED[op]], True)
    compare_op = COMPARE_OPS[op]
    return ir.Compare(compare_op, lo.expr(left), lo.expr(right), span=lo.span(node))


def wrapped_field(node: s.Expr) -> bool:
    return (
        isinstance(node, s.Call)
        and node.name.lower() in ("tolower", "toupper", "tostring", "coalesce")
        and bool(node.args)
        and is_field(node.args[0])
    )


def in_list(lo: ExprLowering, node: s.InList) -> ir.Expr:
    span = lo.span(node)
    negated = node.op.startswith("!")
    base = node.op.lstrip("!")
    if len(node.items) == 1 and lo.tabular_values(node.items[0]) is not None:
        result = in_pipeline(lo, node, base)
    else:
        result = in_values(lo, node, base)
    return ir.Not(result, span=span) if negated else result


def in_pipeline(lo: ExprLowering, node: s.InList, base: str) -> ir.Expr:
    """`f in (T | project x)`, `f has_any (TabularLet)`, `f in (toscalar(...))`."""
    if base.startswith("has_all"):
        raise lo.unsupported(node, f"'{node.op}' over a table")
    pipeline = lo.tabular_values(node.items[0])
    assert pipeline is not None
    kind = ir.MatchKind.EQ if base in ("in", "in~") else ir.MatchKind.HAS
    case_sensitive = base in ("in", "has_any_cs")
    subject = lo.expr(node.left)
    return ir.InPipeline(subject, pipeline, case_sensitive, kind, span=lo.span(node))


def in_values(lo: ExprLowering, node: s.InList, base: str) -> ir.Expr:
    span = lo.span(node)
    values: list = []
    for item in node.items:
        expanded = lo.constants(item)
        if expanded is None:
            return in_expressions(lo, node, base)
        values.extend(expanded)
    if not values and base.startswith("has_all"):
        raise lo.unsupported(node, f"an empty list after '{node.op}'")
    if not values:
        return ir.Literal(False, span=span)
    field, transforms = lo.subject(node.left)
    case_sensitive = base in ("in", "has_any_cs", "has_all_cs")
    kind = ir.MatchKind.EQ if base in ("in", "in~") else ir.MatchKind.HAS
    if base.startswith("has_all"):
        parts = [kql_match(field, kind, (v,), case_sensitive, transforms, span) for v in values]
        return ir.And(tuple(parts), span=span)
    return kql_match(field, kind, tuple(values), case_sensitive, transforms, span)


# built-in functions whose result is a dynamic array or bag (Microsoft's function pages): an
# array among the items of `in` is a list of values, not one value
DYNAMIC_RESULTS = frozenset({
    "array_concat", "array_iff", "array_reverse", "array_rotate_left", "array_rotate_right",
    "array_shift_left", "array_shift_right", "array_slice", "array_sort_asc", "array_sort_desc",
    "array_split", "bag_keys", "bag_merge", "bag_pack", "bag_pack_columns", "bag_remove_keys",
    "bag_set_key", "dynamic", "extract_all", "pack", "pack_all", "pack_array", "pack_dictionary",
    "parse_command_line", "parse_json", "parse_path", "parse_url", "parse_xml", "parsejson",
    "range", "set_difference", "set_intersect", "set_union", "split", "todynamic", "treepath",
    "zip",
})  # fmt: skip


def in_expressions(lo: ExprLowering, node: s.InList, base: str) -> ir.Expr:
    """`f in (a, b)` over scalar expressions: one case-sensitive equality per item."""
    if base != "in":
        bad = next(item for item in node.items if lo.constants(item) is None)
        raise lo.unsupported(bad, f"a non-constant item in the list of '{node.op}'")
    for item in node.items:
        if isinstance(item, s.Call) and item.name.lower() in DYNAMIC_RESULTS:
            raise lo.unsupported(item, f"a dynamic value ({item.name}()) in the list of 'in'")
    span, subject = lo.span(node), lo.expr(node.left)
    parts = [ir.Compare(ir.CompareOp.EQ, subject, lo.expr(item), span=span) for item in node.items]
    return parts[0] if len(parts) == 1 else ir.Or(tuple(parts), span=span)


def between(lo: ExprLowering, node: s.Between) -> ir.Expr:
    span = lo.span(node)
    subject, low, high = lo.expr(node.left), lo.expr(node.low), lo.expr(node.high)
    if is_timespan(high) and not is_timespan(low):
        high = ir.Arith(ir.ArithOp.ADD, low, high, span=high.span)
    if node.negated:
        below = ir.Compare(ir.CompareOp.LT, subject, low, span=span)
        above = ir.Compare(ir.CompareOp.GT, subject, high, span=span)
        return ir.Or((below, above), span=span)
    return ir.And(
        (
            ir.Compare(ir.CompareOp.GE, subject, low, span=span),
            ir.Compare(ir.CompareOp.LE, subject, high, span=span),
        ),
        span=span,
    )


def is_timespan(expr: ir.Expr) -> bool:
    from datetime import timedelta

    return isinstance(expr, ir.Literal) and isinstance(expr.value, timedelta)
