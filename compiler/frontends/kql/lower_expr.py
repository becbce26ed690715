"""Lower KQL scalar expressions and predicates into IR expressions."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

from rulec.compiler import ir

from . import deprecated
from . import syntax as s
from .folding import kql_match
from .values import parse_datetime, parse_number, parse_timespan

UNSUPPORTED = "kql.unsupported"

STRING_KINDS = {
    "contains": ir.MatchKind.CONTAINS,
    "startswith": ir.MatchKind.STARTSWITH,
    "endswith": ir.MatchKind.ENDSWITH,
    "has": ir.MatchKind.HAS,
}
COMPARE_OPS = {
    "==": ir.CompareOp.EQ, "=": ir.CompareOp.EQ, "!=": ir.CompareOp.NE, "<>": ir.CompareOp.NE,
    "<": ir.CompareOp.LT, "<=": ir.CompareOp.LE, ">": ir.CompareOp.GT, ">=": ir.CompareOp.GE,
}  # fmt: skip
THRESHOLD_KINDS = {
    "<": ir.MatchKind.LT, "<=": ir.MatchKind.LE, ">": ir.MatchKind.GT, ">=": ir.MatchKind.GE,
}  # fmt: skip
FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
ARITH_OPS = {"+": ir.ArithOp.ADD, "-": ir.ArithOp.SUB, "*": ir.ArithOp.MUL, "/": ir.ArithOp.DIV}
ARITH_OPS["%"] = ir.ArithOp.MOD
FUNCTION_NAMES = {
    "tolower": "lower", "toupper": "upper", "strcat": "concat", "toreal": "todouble",
    "floor": "bin", "iif": "iff", "todynamic": "parse_json", "toint": "toint",
    "datetime_part": "datepart",
}  # fmt: skip
# match kinds whose value may be another column of the row
COLUMN_VALUED = frozenset({ir.MatchKind.EQ, ir.MatchKind.CONTAINS, ir.MatchKind.STARTSWITH})
COLUMN_VALUED |= {ir.MatchKind.ENDSWITH, ir.MatchKind.HAS}
ROW_VALUE = "_rulec_rhs"  # a computed right-hand side, a column only inside its `where`
TRANSFORM_FUNCTIONS = {"tolower": "lower", "toupper": "upper", "tostring": "tostring"}
# typeof(T) -> the function converting to T
CONVERSIONS = {"string": "tostring", "long": "tolong", "int": "toint", "real": "todouble"}
CONVERSIONS |= {"double": "todouble", "datetime": "todatetime", "bool": "tobool"}
TYPED_LITERALS = {"long", "int", "real", "double", "bool", "boolean", "decimal", "int64"}
EMPTY_CHECKS = {"isnotempty", "isempty", "isnotnull", "isnull"}

Constant = str | int | float | bool


class ExprLowering:
    """Scalar lowering; `scalar_let` resolves let-bound names (supplied by the pipeline half)."""

    path: str
    computed: frozenset[str] = frozenset()  # columns the pipeline so far computed
    # in a `where`: right-hand sides computed per row before it (see `match`), else None
    row_values: list[ir.Assign] | None = None

    def span(self, node: s.SyntaxNode) -> ir.Span:
        return ir.Span(self.path, node.pos.line, node.pos.column)

    def unsupported(self, node: s.SyntaxNode, what: str) -> ir.RuleError:
        line = node.pos.line
        message = f"cannot lower {what} (line {line}) into the IR yet"
        return ir.RuleError(ir.Diagnostic(UNSUPPORTED, message, self.span(node)))

    def scalar_let(self, name: str) -> s.Expr | None:
        """The value bound to a scalar let or parameter `name` (None if unbound or no value)."""
        raise NotImplementedError

    def scalar_ref(self, node: s.Name) -> ir.Expr | None:
        """The scalar let or parameter `node` names (a reference, or an inlined value)."""
        raise NotImplementedError

    def is_tabular_name(self, name: str) -> bool:
        raise NotImplementedError

    def pipeline(self, node: s.Expr) -> ir.Pipeline:
        raise NotImplementedError

    def tabular_values(self, node: s.Expr) -> ir.Pipeline | None:
        """The rows a list item of `in`/`has_any` stands for when it is tabular, else None."""
        raise NotImplementedError

    # ----------------------------------------------------------------------- scalars

    def expr(self, node: s.Expr) -> ir.Expr:
        span = self.span(node)
        if isinstance(node, s.Literal) and isinstance(node.value, list | dict):
            return self.dynamic_value(node)
        if isinstance(node, s.Literal):
            return ir.Literal(self.literal_value(node), span=span)
        if isinstance(node, s.Name):
            return self.name(node)
        if isinstance(node, s.Member | s.Index):
            return self.element(node)
        if isinstance(node, s.Unary):
            return self.unary(node)
        if isinstance(node, s.Binary) and node.op in ARITH_OPS:
            op = ARITH_OPS[node.op]
            return ir.Arith(op, self.expr(node.left), self.expr(node.right), span=span)
        if isinstance(node, s.Binary | s.InList | s.Between):
            return self.predicate(node)
        if isinstance(node, s.Call):
            return self.call(node)
        if isinstance(node, s.Pipe):
            raise self.unsupported(node, "a tabular sub-query used as a scalar")
        raise self.unsupported(node, f"the expression {type(node).__name__}")

    def literal_value(self, node: s.Literal) -> ir.LiteralValue:
        kind, value = node.kind, node.value
        if kind == "long" or kind == "real":
            try:
                return parse_number(kind, str(value))
            except ValueError as error:
                diagnostic = ir.Diagnostic("kql.bad-literal", str(error), self.span(node))
                raise ir.RuleError(diagnostic) from None
        if kind == "timespan":
            span = parse_timespan(str(value))
            if span is None:
                message = f"the timespan {value!r} is malformed or beyond 999,999,999 days"
                raise ir.RuleError(ir.Diagnostic("kql.bad-literal", message, self.span(node)))
            return span
        if kind == "datetime" and value == "null":
            return None
        if kind == "datetime":
            text = str(value)
            quoted = len(text) > 1 and text[0] == text[-1] and text[0] in "'\""
            moment = parse_datetime(text[1:-1] if quoted else text)
            if moment is None:
                raise self.unsupported(node, f"the datetime literal {value!r}")
            return moment
        if kind == "dynamic" and not isinstance(value, list | dict):
            return value  # type: ignore[return-value]
        if kind in ("string", "bool", "guid"):
            return value  # type: ignore[return-value]
        raise self.unsupported(node, f"a {kind} literal outside a list of values")

    def dynamic_value(self, node: s.Literal) -> ir.Expr:
        """`dynamic([1, "a"])` as `pack_array(1, "a")`, `dynamic({"k": 1})` as `bag_pack("k", 1)`:
        the same JSON value, for arrays and bags of plain values; an empty or nested one as
        `parse_json()` of its JSON text, which is the same value too."""
        span, value = self.span(node), node.value
        items = [*value.items()] if isinstance(value, dict) else [(None, v) for v in value]
        plain = str | int | float | bool | type(None)
        if not items or not all(isinstance(v, plain) for _, v in items):
            if not is_json(value):
                raise self.unsupported(node, "a dynamic literal of values other than JSON's")
            text = ir.Literal(json.dumps(value, separators=(",", ":")), span=span)
            return ir.Call("parse_json", (text,), span=span)
        args: list[ir.Expr] = []
        for key, item in items:
            if key is not None:
                args.append(ir.Literal(key, span=span))
            args.append(ir.Literal(item, span=span))
        name = "bag_pack" if isinstance(value, dict) else "pack_array"
        return ir.Call(name, tuple(args), span=span)

    def name(self, node: s.Name) -> ir.Expr:
        span = self.span(node)
        if node.name == "*" and not node.wildcard:  # `where * has "x"`: any column, as search
            return ir.RawText(span=span)
        if node.wildcard:
            raise self.unsupported(node, f"the column wildcard '{node.name}'")
        if node.braced:
            what = f"the client parameter {{{node.name}}}, which a workbook or tool fills in"
            raise self.unsupported(node, what)
        ref = self.scalar_ref(node)
        if ref is not None:
            return ref
        # a name that a tabular let or a function binds is, as a scalar, the row's column of
        # that name (Microsoft's analysis types it so)
        return ir.FieldRef(node.name, span=span)

    def element(self, node: s.Member | s.Index) -> ir.Expr:
        """`a.b["c"]` is the field `a.b.c`; `x[0]`, `f(x).a` and `c.a` (where the pipeline
        computed the column `c`) are `Call("index", (x, key))`."""
        try:
            path = self.field_path(node)
            if path.split(".", 1)[0] not in self.computed:
                return ir.FieldRef(path, span=self.span(node))
        except ir.RuleError:
            pass
        key = ir.Literal(node.name) if isinstance(node, s.Member) else self.expr(node.index)
        return ir.Call("index", (self.expr(node.target), key), span=self.span(node))

    def field_path(self, node: s.Expr) -> str:
        """`a.b["c"]` as the dotted field name `a.b.c`."""
        if isinstance(node, s.Name) and not node.wildcard and node.name != "*":
            return node.name
        if isinstance(node, s.Member):
            return f"{self.field_path(node.target)}.{node.name}"
        index = node.index if isinstance(node, s.Index) else None
        if isinstance(index, s.Literal) and index.kind == "string":
            return f"{self.field_path(node.target)}.{node.index.value}"
        raise self.unsupported(node, "an index into a dynamic value other than a property name")

    def unary(self, node: s.Unary) -> ir.Expr:
        operand = self.expr(node.operand)
        if node.op == "+":
            return operand
        if isinstance(operand, ir.Literal) and isinstance(operand.value, int | float | timedelta):
            return ir.Literal(-operand.value, span=self.span(node))
        zero = ir.Literal(0, span=self.span(node))
        return ir.Arith(ir.ArithOp.SUB, zero, operand, span=self.span(node))

    def user_function_call(self, node: s.Call) -> ir.Expr | None:
        """The inlined body of a user-defined function call, or None for a built-in."""
        return None

    def call(self, node: s.Call) -> ir.Expr:
        span = self.span(node)
        inlined = self.user_function_call(node)
        if inlined is not None:
            return inlined
        node = dataclasses.replace(node, args=tuple(map(positional, node.args)))
        name, reordered = deprecated.current(node.name.lower(), node.args)
        node = dataclasses.replace(node, args=reordered)
        if name == "not" and len(node.args) == 1:
            return ir.Not(self.expr(node.args[0]), span=span)
        if name in EMPTY_CHECKS and len(node.args) == 1:
            return self.empty_check(name, node)
        ranged = len(node.args) == 2 and self.constant(node.args[1]) is not None
        if name == "ipv4_is_in_range" and ranged:  # a constant range: a CIDR match
            return self.match(node, node.args[0], node.args[1], ir.MatchKind.CIDR, False)
        if name in TYPED_LITERALS and len(node.args) == 1:
            return self.typed_literal(node)
        if name == "toscalar" and len(node.args) == 1 and self.is_scalar(node.args[0]):
            return self.expr(node.args[0])  # toscalar(3 * n): the value itself
        if name == "toscalar" and len(node.args) == 1:
            return ir.ScalarOf(self.pipeline(node.args[0]), span=span)
        for arg in node.args:
            if isinstance(arg, s.NamedExpr | s.Pipe):
                raise self.unsupported(arg, f"a named or tabular argument of {node.name}()")
        args = tuple(self.expr(arg) for arg in node.args)
        if name == "now" and len(args) == 1:  # now(offset)
            return ir.Arith(ir.ArithOp.ADD, ir.Call("now", (), span=span), args[0], span=span)
        if name == "extract" and len(args) == 4:  # extract(regex, group, text, typeof(T))
            return self.converted(ir.Call("extract", args[:3], span=span), node.args[3])
        if name in ("extract_json", "extractjson") and len(args) == 3:  # (path, json, typeof(T))
            return self.converted(ir.Call(name, args[:2], span=span), node.args[2])
        return ir.Call(FUNCTION_NAMES.get(name, name), args, span=span)

    def is_scalar(self, node: s.Expr) -> bool:
        """Whether `node` is a scalar expression rather than a table (a name is a table unless
        a scalar let binds it)."""
        if isinstance(node, s.Name):
            return self.scalar_let(node.name) is not None
        if isinstance(node, s.Call):
            name = node.name.lower()
            return name not in ("materialize", "table", "view") and not self.is_tabular_name(
                node.name
            )
        return isinstance(node, s.Literal | s.Unary | s.Binary | s.InList | s.Between)

    def converted(self, value: ir.Expr, type_of: s.Expr) -> ir.Expr:
        """`value` converted to the type `typeof(T)` names."""
        named = type_of.args[0] if isinstance(type_of, s.Call) and type_of.args else None
        if not isinstance(type_of, s.Call) or type_of.name != "typeof" or named is None:
            raise self.unsupported(type_of, "a type argument other than typeof(T)")
        type_name = named.name if isinstance(named, s.Name) else ""
        function = CONVERSIONS.get(type_name)
        if function is None:
            raise self.unsupported(type_of, f"a conversion to typeof({type_name})")
        return ir.Call(function, (value,), span=value.span) if function != "tostring" else value

    def typed_literal(self, node: s.Call) -> ir.Expr:
        arg = node.args[0]
        if isinstance(arg, s.Name) and arg.name == "null":
            return ir.Literal(None, span=self.span(node))
        value = self.expr(arg)
        if not isinstance(value, ir.Literal):
            raise self.unsupported(node, f"{node.name}() of a non-literal")
        return value

    def empty_check(self, name: str, node: s.Call) -> ir.Expr:
        span = self.span(node)
        subject = self.expr(node.args[0])
        exists = ir.Match(subject, ir.MatchKind.EXISTS, (), True, span=span)
        present: ir.Expr = exists
        if name.endswith("empty"):
            blank = ir.Match(subject, ir.MatchKind.EQ, ("",), True, span=span)
            present = ir.And((exists, ir.Not(blank, span=span)), span=span)
        return present if name.startswith("isnot") else ir.Not(present, span=span)

    # ----------------------------------------------------------------------- constants

    def constant(self, node: s.Expr) -> Constant | None:
        """The value of a literal (or of a let bound to one), else None."""
        if isinstance(node, s.Name):
            bound = self.scalar_let(node.name)
            return None if bound is None else self.constant(bound)
        if isinstance(node, s.Unary) and node.op == "-":
            value = self.constant(node.operand)
            return (
                -value if isinstance(value, int | float) and not isinstance(value, bool) else None
            )
        if isinstance(node, s.Literal) and node.kind in ("string", "long", "real", "bool", "guid"):
            return self.literal_value(node)  # type: ignore[return-value]
        return None

    def constants(self, node: s.Expr) -> list[Constant] | None:
        """The values a list item stands for: one literal, or a dynamic array of them."""
        if isinstance(node, s.Name) and self.scalar_let(node.name) is not None:
            return self.constants(self.scalar_let(node.name))  # type: ignore[arg-type]
        if isinstance(node, s.Literal) and node.kind == "dynamic" and isinstance(node.value, list):
            if all(isinstance(v, str | int | float | bool) for v in node.value):
                return list(node.value)
            return None
        if isinstance(node, s.Call) and node.name.lower() == "toscalar" and len(node.args) == 1:
            return self.constants(node.args[0]) if self.is_scalar(node.args[0]) else None
        if isinstance(node, s.Call) and node.name.lower() in ("pack_array", "dynamic"):
            values = [self.constant(arg) for arg in node.args]
            return None if None in values else values  # type: ignore[return-value]
        value = self.constant(node)
        return None if value is None else [value]

    # ----------------------------------------------------------------------- predicates

    def predicate(self, node: s.Binary | s.InList | s.Between) -> ir.Expr:
        from .lower_predicates import lower_predicate

        return lower_predicate(self, node)

    def match(
        self,
        node: s.SyntaxNode,
        left: s.Expr,
        right: s.Expr,
        kind: ir.MatchKind,
        case_sensitive: bool,
    ) -> ir.Expr:
        """`left` matches the constant (or column) `right`, unwrapping tolower/coalesce."""
        value = self.constant(right)
        value_ref = self.column_value(right) if value is None and kind in COLUMN_VALUED else None
        if value_ref is not None:
            field = self.expr(left)
            return ir.Match(field, kind, (value_ref,), case_sensitive, span=self.span(node))
        if value is None:
            raise self.unsupported(right, f"a non-constant right-hand side of {kind.value}")
        field, transforms = self.subject(left)
        return kql_match(field, kind, (value,), case_sensitive, transforms, self.span(node))

    def column_value(self, right: s.Expr) -> ir.FieldRef | None:
        """A right-hand side that is a column, or in a `where` an expression of the row
        (computed into a column before it, see `stage_where`); else None."""
        if isinstance(right, s.Name | s.Member):
            value_ref = self.expr(right)
            if isinstance(value_ref, ir.FieldRef):
                return value_ref
        if self.row_values is None:
            return None
        name = f"{ROW_VALUE}{len(self.row_values) + 1}"
        self.row_values.append(ir.Assign(name, self.expr(right), span=self.span(right)))
        return ir.FieldRef(name, span=self.span(right))

    def subject(self, node: s.Expr) -> tuple[ir.Expr, tuple[ir.Transform, ...]]:
        """The matched field and the transforms wrapped around it."""
        if isinstance(node, s.Call) and node.args and is_field(node.args[0]):
            name = node.name.lower()
            if name in TRANSFORM_FUNCTIONS and len(node.args) == 1:
                return self.expr(node.args[0]), (ir.Transform(TRANSFORM_FUNCTIONS[name]),)
            if name == "coalesce" and len(node.args) == 2:
                default = node.args[1]
                if self.constant(default) is not None:
                    return self.expr(node.args[0]), (
                        ir.Transform("coalesce", (self.expr(default),)),
                    )
        return self.expr(node), ()


def is_json(value: object) -> bool:
    """Whether `value` is made of JSON's values only (what `parse_json` can give back)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(is_json(v) for v in value)
    return isinstance(value, str | int | float | bool | type(None))


def positional(arg: s.Expr) -> s.Expr:
    """A built-in function's argument by position: `f(name = x)` passes `x`, as Kusto does
    (the name only names the result column, see `ColumnLowering.column_of`)."""
    return arg.expr if isinstance(arg, s.NamedExpr) and len(arg.names) == 1 else arg


def is_field(node: s.Expr) -> bool:
    return isinstance(node, s.Name | s.Member) and not getattr(node, "wildcard", False)
