"""Parse a KQL script: statements separated by `;`, with recovery at the next statement."""

from __future__ import annotations

from rulec.compiler import ir

from . import syntax as s
from .expressions import ParseError
from .lexer import tokenize
from .operators import OperatorParser

SYNTAX = "kql.syntax"


class Parser(OperatorParser):
    """Statements: `let`, `set`, `declare query_parameters`, and query expressions."""

    def __init__(self, text: str, path: str):
        super().__init__(tokenize(text))
        self.path = path
        self.diagnostics: list[ir.Diagnostic] = []

    def parse_script(self) -> s.Script:
        statements = []
        while self.tok.kind != "eof":
            if self.accept(";"):
                continue
            start = self.index
            try:
                statements.append(self.parse_statement())
                if not (self.at(";") or self.tok.kind == "eof"):
                    raise self.error("';' or the end of the query (a statement ends here)")
            except ParseError as error:
                self.report(error)
                self.recover(start)
        return s.Script(tuple(statements), pos=s.Pos(1, 1))

    def report(self, error: ParseError) -> None:
        span = ir.Span(self.path, error.line, error.column)
        self.diagnostics.append(ir.Diagnostic(SYNTAX, str(error), span))

    def recover(self, start: int) -> None:
        """Skip to just after the next `;` outside brackets."""
        self.depth = 0
        self.index = max(self.index, start + 1)
        depth = 0
        while self.tok.kind != "eof":
            token = self.tokens[self.index]
            self.index += 1
            if token.kind != "punct":
                continue
            if token.text in "([{":
                depth += 1
            elif token.text in ")]}":
                depth = max(depth - 1, 0)
            elif token.text == ";" and depth == 0:
                return

    def parse_statement(self) -> s.Statement:
        pos = self.pos()
        if self.at_name("let") and self.peek().kind in ("name", "punct"):
            return self.parse_let()
        if self.at_name("set") and self.peek().kind == "name" and self.peek(2).text in "=;":
            self.advance()
            name = self.dotted_name()
            value = self.parse_expr() if self.accept("=") else None
            return s.Set(name, value, pos=pos)
        if self.at_name("declare") and self.peek().text.lower() == "query_parameters":
            self.advance(), self.advance()
            return s.Declare(self.parse_params(), pos=pos)
        return s.QueryStatement(self.parse_pipe(), pos=pos)

    def dotted_name(self) -> str:
        parts = [self.expect_name("an option name").text]
        while self.accept("."):
            parts.append(self.expect_name("an option name after '.'").text)
        return ".".join(parts)

    def parse_let(self) -> s.Let:
        pos = self.pos()
        self.advance()
        name = self.parse_bracketed_name().name if self.at("[") else self.expect_name().text
        self.expect("=", f"after 'let {name}'")
        if self.at_name("view") and self.peek().text == "(":
            self.advance()
            return s.Let(name, self.parse_function(view=True), pos=pos)
        if self.at("(") and self.function_ahead():
            return s.Let(name, self.parse_function(view=False), pos=pos)
        return s.Let(name, self.parse_pipe(), pos=pos)

    def function_ahead(self) -> bool:
        nxt = self.peek()
        if nxt.text == ")":
            return self.peek(2).text == "{"
        return nxt.kind == "name" and self.peek(2).text == ":"

    def parse_function(self, view: bool) -> s.FunctionBody:
        pos = self.pos()
        params = self.parse_params()
        self.expect("{", "to start the function body")
        statements, result = [], None
        while not self.at("}"):
            if self.accept(";"):
                continue
            statement = self.parse_statement()
            if isinstance(statement, s.QueryStatement):
                result = statement.expr
            else:
                statements.append(statement)
            if not self.at("}"):
                self.expect(";", "or '}' after a statement in the function body")
        self.expect("}", "to close the function body")
        return s.FunctionBody(params, tuple(statements), result, view, pos=pos)

    def parse_params(self) -> tuple[s.Param, ...]:
        self.expect("(", "before the parameter list")
        params = [] if self.at(")") else self.comma_list(self.parse_param)
        self.expect(")", "to close the parameter list")
        return tuple(params)

    def parse_param(self) -> s.Param:
        pos = self.pos()
        name = self.expect_name("a parameter name").text
        self.expect(":", f"and a type after parameter '{name}'")
        if self.accept("("):
            self.comma_list(self.parse_tabular_param_column)
            self.expect(")", "to close the tabular parameter schema")
            type_name = "table"
        else:
            type_name = self.expect_name("a type name").text
        default = self.parse_expr() if self.accept("=") else None
        return s.Param(name, type_name, default, pos=pos)

    def parse_tabular_param_column(self) -> None:
        if self.accept("*"):
            return
        self.column_name()
        self.expect(":")
        self.expect_name("a type name")


def first_comment(text: str) -> str | None:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("//") and stripped.strip("/ \t"):
            return stripped.lstrip("/").strip()
        if stripped and not stripped.startswith("//"):
            return None
    return None


def parse_kql(text: str, path: str) -> tuple[s.Script, list[ir.Diagnostic]]:
    """The parse tree of `text` and every syntax error found (recovering at each `;`)."""
    parser = Parser(text, path)
    script = parser.parse_script()
    return s.Script(script.statements, first_comment(text), pos=script.pos), parser.diagnostics
