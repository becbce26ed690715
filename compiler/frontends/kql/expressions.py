"""Token cursor and the scalar-expression half of the recursive-descent KQL parser.

Precedence, loosest first (as in the KQL reference): `or`; `and`; equality and the string
operators (`==`, `=~`, `has`, `in`, `between`, ...); `<` `<=` `>` `>=`; `+` `-`; `*` `/` `%`;
unary `-` `+`; postfix `.name`, `[index]`.
"""

from __future__ import annotations

from . import syntax as s
from .lexer import Token

MAX_DEPTH = 48

STRING_OPERATORS = {
    f"{base}{suffix}"
    for base in ("contains", "startswith", "endswith", "has", "hasprefix", "hassuffix")
    for suffix in ("", "_cs")
} | {"like", "like_cs"}
# the older spellings Kusto.Language still accepts (never after `!`), as the current operator
LEGACY_OPERATORS = {
    "containscs": "contains_cs", "notcontains": "!contains", "notcontainscs": "!contains_cs",
    "likecs": "like_cs", "notlike": "!like", "notlikecs": "!like_cs",
}  # fmt: skip
LIST_OPERATORS = {"in", "has_any", "has_all", "has_any_cs", "has_all_cs"}
EQUALITY = {"==", "!=", "=~", "!~", "<>", "="}
RELATIONAL = {"<", "<=", ">", ">="}
SOURCE_OPERATORS = {"union", "print", "range", "datatable", "externaldata", "search", "find"}
SOURCE_OPERATORS |= {"evaluate"}
TYPED_LITERALS = {"long", "int", "real", "double", "bool", "boolean", "timespan", "time"}
TYPED_LITERALS |= {"decimal", "string", "int64", "int32"}


class ParseError(Exception):
    def __init__(self, message: str, line: int, column: int):
        super().__init__(message)
        self.line = line
        self.column = column


def describe(token: Token) -> str:
    if token.kind == "eof":
        return "end of input"
    if token.kind == "string":
        return "a string literal"
    return repr(token.text)


class TokenCursor:
    """Position over the token list, with the checks every parse method uses."""

    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.index = 0
        self.depth = 0
        self.in_search = False  # `column:value` is allowed inside a search predicate

    @property
    def tok(self) -> Token:
        return self.tokens[self.index]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def pos(self, token: Token | None = None) -> s.Pos:
        token = token or self.tok
        return s.Pos(token.line, token.column)

    def advance(self) -> Token:
        token = self.tok
        if token.kind == "error":
            raise ParseError(token.text, token.line, token.column)
        if token.kind != "eof":
            self.index += 1
        return token

    def error(self, expected: str, token: Token | None = None) -> ParseError:
        token = token or self.tok
        if token.kind == "error":
            return ParseError(token.text, token.line, token.column)
        return ParseError(f"expected {expected}, found {describe(token)}", token.line, token.column)

    def at(self, text: str) -> bool:
        return self.tok.kind == "punct" and self.tok.text == text

    def at_name(self, *names: str) -> bool:
        return self.tok.kind == "name" and self.tok.text.lower() in names

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.advance()
            return True
        return False

    def expect(self, text: str, context: str = "") -> Token:
        if not self.at(text):
            raise self.error(f"'{text}'" + (f" {context}" if context else ""))
        return self.advance()

    def expect_name(self, what: str = "a name") -> Token:
        if self.tok.kind != "name":
            raise self.error(what)
        return self.advance()

    def expect_keyword(self, word: str, context: str = "") -> Token:
        if not self.at_name(word):
            raise self.error(f"'{word}'" + (f" {context}" if context else ""))
        return self.advance()

    def adjacent(self, ahead: int = 1) -> bool:
        return not self.peek(ahead).space_before

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"at most {MAX_DEPTH} levels of nesting")

    def leave(self) -> None:
        self.depth -= 1


class ExpressionParser(TokenCursor):
    """Scalar expressions; a parenthesised or argument expression may be a whole pipe."""

    def parse_operator(self) -> s.Operator:
        raise NotImplementedError

    def parse_source_operator(self) -> s.Operator:
        raise NotImplementedError

    def at_source_operator(self) -> bool:
        if not self.at_name(*SOURCE_OPERATORS):
            return False
        nxt = self.peek()
        if self.tok.text.lower() in ("datatable", "externaldata"):
            return nxt.text in ("(", "with")
        return nxt.kind != "punct" or nxt.text in ("(", "*")

    def parse_pipe(self) -> s.Expr:
        """An expression, then any `| operator`s applied to it."""
        self.enter()
        pos = self.pos()
        if self.at_source_operator():
            source, operators = None, [self.parse_source_operator()]
        else:
            source, operators = self.parse_expr(), []
        while self.accept("|"):
            operators.append(self.parse_operator())
        self.leave()
        return s.Pipe(source, tuple(operators), pos=pos) if operators else source

    def parse_expr(self) -> s.Expr:
        left = self.parse_and()
        while self.at_name("or"):
            pos = self.pos()
            self.advance()
            left = s.Binary("or", left, self.parse_and(), pos=pos)
        return left

    def parse_and(self) -> s.Expr:
        left = self.parse_equality()
        while self.at_name("and"):
            pos = self.pos()
            self.advance()
            left = s.Binary("and", left, self.parse_equality(), pos=pos)
        return left

    def equality_operator(self) -> str | None:
        """The operator at the cursor (consumed), or None."""
        negated = self.at("!") and self.adjacent() and self.peek().kind == "name"
        token = self.peek() if negated else self.tok
        if token.kind == "punct" and (
            token.text in EQUALITY or (self.in_search and token.text == ":")
        ):
            self.advance()
            return token.text
        word = token.text if token.kind == "name" else ""
        if word == "matches" and not negated and self.peek().text == "regex":
            self.advance(), self.advance()
            return "matches regex"
        if word in LEGACY_OPERATORS and not negated:
            self.advance()
            return LEGACY_OPERATORS[word]
        if word not in STRING_OPERATORS | LIST_OPERATORS | {"between"}:
            return None
        self.index += 1 + negated
        if word == "in" and self.at("~") and self.adjacent(0):
            self.advance()
            word = "in~"
        return ("!" if negated else "") + word

    def parse_equality(self) -> s.Expr:
        left = self.parse_relational()
        while True:
            pos = self.pos()
            op = self.equality_operator()
            if op is None:
                return left
            if op.lstrip("!") in ("in", "in~") or op in LIST_OPERATORS:
                left = s.InList(op, left, self.parse_list(op), pos=pos)
            elif op.endswith("between"):
                left = self.parse_between(op, left, pos)
            else:
                left = s.Binary(op, left, self.parse_relational(), pos=pos)

    def parse_list(self, op: str) -> tuple[s.Expr, ...]:
        self.expect("(", f"after '{op}'")
        items = [] if self.at(")") else self.comma_list(self.parse_pipe)
        self.expect(")", f"to close the list after '{op}'")
        return tuple(items)

    def parse_between(self, op: str, left: s.Expr, pos: s.Pos) -> s.Expr:
        self.expect("(", f"after '{op}'")
        low = self.parse_expr()
        self.expect("..", "between the bounds of 'between'")
        high = self.parse_expr()
        self.expect(")", "to close 'between'")
        return s.Between(op.startswith("!"), left, low, high, pos=pos)

    def parse_relational(self) -> s.Expr:
        left = self.parse_additive()
        while self.tok.kind == "punct" and self.tok.text in RELATIONAL:
            pos, op = self.pos(), self.advance().text
            left = s.Binary(op, left, self.parse_additive(), pos=pos)
        return left

    def parse_additive(self) -> s.Expr:
        left = self.parse_multiplicative()
        while self.at("+") or self.at("-"):
            pos, op = self.pos(), self.advance().text
            left = s.Binary(op, left, self.parse_multiplicative(), pos=pos)
        return left

    def parse_multiplicative(self) -> s.Expr:
        left = self.parse_unary()
        while self.at("*") or self.at("/") or self.at("%"):
            pos, op = self.pos(), self.advance().text
            left = s.Binary(op, left, self.parse_unary(), pos=pos)
        return left

    def parse_unary(self) -> s.Expr:
        if self.at("-") or self.at("+"):
            pos, op = self.pos(), self.advance().text
            self.enter()
            operand = self.parse_unary()
            self.leave()
            return s.Unary(op, operand, pos=pos)
        return self.parse_postfix()

    def parse_postfix(self) -> s.Expr:
        expr = self.parse_primary()
        while True:
            pos = self.pos()
            if self.accept("."):
                if self.at("[") and self.peek().kind == "string":
                    expr = s.Member(expr, self.parse_bracketed_name().name, pos=pos)
                elif self.accept("["):
                    expr = s.Index(expr, self.parse_expr(), pos=pos)
                    self.expect("]", "to close the index")
                else:
                    expr = s.Member(
                        expr, self.expect_name("a property name after '.'").text, pos=pos
                    )
            elif self.accept("["):
                index = self.parse_expr()
                self.expect("]", "to close the index")
                expr = s.Index(expr, index, pos=pos)
            else:
                return expr

    def comma_list(self, item) -> list:
        items = [item()]
        while self.accept(","):
            items.append(item())
        return items

    # ----------------------------------------------------------------------- primaries

    def parse_primary(self) -> s.Expr:
        token, pos = self.tok, self.pos()
        if token.kind == "string":
            return self.parse_strings()
        if token.kind in ("long", "real", "timespan", "datetime", "guid"):
            self.advance()
            return s.Literal(token.kind, token.text, pos=pos)
        if token.kind == "name":
            return self.parse_name_expr()
        if self.at("["):
            return self.parse_bracketed_name()
        if self.at("("):
            self.advance()
            inner = self.parse_pipe()
            self.expect(")", "to close '('")
            return inner
        if self.accept("*"):
            return s.Name("*", pos=pos)
        if self.at("{") and self.peek().kind == "name" and self.peek(2).text == "}":
            self.advance()
            name = self.advance().text
            self.advance()
            return s.Name(name, braced=True, pos=pos)
        raise self.error("an expression")

    def parse_strings(self) -> s.Literal:
        """Adjacent string literals concatenate."""
        pos, parts = self.pos(), []
        while self.tok.kind == "string":
            parts.append(self.advance().text)
        return s.Literal("string", "".join(parts), pos=pos)

    def parse_bracketed_name(self) -> s.Name:
        pos = self.pos()
        self.expect("[")
        if self.tok.kind != "string":
            raise self.error("a quoted name inside '[...]'")
        name = self.advance().text
        self.expect("]", "after the quoted name")
        return s.Name(name, pos=pos)

    def parse_name_expr(self) -> s.Expr:
        pos = self.pos()
        token = self.advance()
        word = token.text.lower()
        if word in ("true", "false") and not self.at("("):
            return s.Literal("bool", word == "true", pos=pos)
        if not self.at("("):
            return s.Name(token.text, pos=pos)
        if word == "dynamic":
            self.advance()
            value = self.parse_dynamic_value() if not self.at(")") else None
            self.expect(")", "to close 'dynamic('")
            return s.Literal("dynamic", value, pos=pos)
        self.advance()
        args = [] if self.at(")") else self.comma_list(self.parse_argument)
        self.expect(")", f"to close the arguments of '{token.text}'")
        return s.Call(token.text, tuple(args), pos=pos)

    def parse_argument(self) -> s.Expr:
        if self.tok.kind == "name" and self.peek().text == "=" and self.peek().kind == "punct":
            pos, name = self.pos(), self.advance().text
            self.advance()
            return s.NamedExpr((name,), self.parse_pipe(), pos=pos)
        return self.parse_pipe()

    def parse_dynamic_value(self) -> object:
        """A JSON-like value inside `dynamic(...)`."""
        self.enter()
        token = self.tok
        if self.accept("["):
            items = [] if self.at("]") else self.comma_list(self.parse_dynamic_value)
            self.expect("]", "to close the dynamic array")
            value: object = items
        elif self.accept("{"):
            value = dict([] if self.at("}") else self.comma_list(self.parse_dynamic_pair))
            self.expect("}", "to close the dynamic property bag")
        else:
            value = self.parse_dynamic_scalar(token)
        self.leave()
        return value

    def parse_dynamic_pair(self) -> tuple[str, object]:
        if self.tok.kind not in ("string", "name"):
            raise self.error("a property name in the dynamic property bag")
        key = self.advance().text
        self.expect(":", "after the property name")
        return key, self.parse_dynamic_value()

    def parse_dynamic_scalar(self, token: Token) -> object:
        sign = -1 if self.accept("-") else 1
        token = self.tok
        if token.kind == "long" and "x" not in token.text.lower():
            return sign * int(self.advance().text)
        if token.kind == "long":
            return sign * int(self.advance().text, 16)
        if token.kind == "real":
            return sign * float(self.advance().text)
        if sign == 1 and token.kind == "string":
            return self.parse_strings().value
        if sign == 1 and token.kind in ("datetime", "timespan", "guid"):
            return s.Literal(token.kind, self.advance().text, pos=self.pos(token))
        if sign == 1 and self.at_name("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[self.advance().text.lower()]
        raise self.error("a dynamic value (number, string, bool, null, array or property bag)")
