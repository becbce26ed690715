"""The tabular-operator half of the KQL parser: one method per operator after `|`."""

from __future__ import annotations

from . import syntax as s
from .expressions import ExpressionParser, ParseError

JOIN_KINDS = {
    "inner", "innerunique", "leftouter", "rightouter", "fullouter", "leftsemi", "rightsemi",
    "leftanti", "rightanti", "anti", "semi", "leftantisemi", "rightantisemi", "outer",
}  # fmt: skip
CLAUSE_WORDS = {"by", "on", "with", "of", "to", "step", "from", "limit", "default", "in"}


class OperatorParser(ExpressionParser):
    """Parses `name [options] arguments` for every tabular operator rulec knows."""

    def parse_operator_name(self) -> str:
        token = self.expect_name("a tabular operator after '|'")
        name = token.text.lower()
        while self.at("-") and self.adjacent(0) and self.adjacent() and self.peek().kind == "name":
            self.advance()
            name += "-" + self.advance().text.lower()
        return name

    def parse_operator(self) -> s.Operator:
        pos = self.pos()
        name = self.parse_operator_name()
        method = getattr(self, "op_" + name.replace("-", "_"), None)
        if method is None:
            raise ParseError(f"unknown tabular operator '{name}'", pos.line, pos.column)
        return method(name, pos)

    def parse_source_operator(self) -> s.Operator:
        return self.parse_operator()

    # ----------------------------------------------------------------------- helpers

    def option_name(self) -> str | None:
        """The (possibly dotted) option name at the cursor if `name=` follows, else None."""
        ahead, parts = 0, []
        while self.peek(ahead).kind == "name":
            parts.append(self.peek(ahead).text)
            if self.peek(ahead + 1).text == "." and self.peek(ahead + 1).kind == "punct":
                ahead += 2
                continue
            following = self.peek(ahead + 1)
            if following.kind == "punct" and following.text == "=":
                return ".".join(parts)
            return None
        return None

    def parse_options(self, allowed: set[str]) -> tuple[s.Option, ...]:
        options = []
        while (name := self.option_name()) and (
            name.lower() in allowed or name.lower().startswith("hint.")
        ):
            pos = self.pos()
            self.index += 2 * name.count(".") + 2
            column = name.lower() == "withsource" and self.tok.text == "["
            value = self.parse_bracketed_name() if column else self.option_value()
            options.append(s.Option(name.lower(), value, pos=pos))
        return tuple(options)

    def option_value(self) -> s.Expr:
        token = self.tok
        if token.kind == "name":
            self.advance()
            if token.text.lower() in ("true", "false"):
                return s.Literal("bool", token.text.lower() == "true", pos=self.pos(token))
            return s.Name(token.text, pos=self.pos(token))
        if token.kind in ("string", "long", "real", "timespan"):
            return self.parse_primary()
        raise self.error("an option value")

    def parse_named(self) -> s.Expr:
        """`expr`, `name = expr` or `(a, b) = expr`."""
        pos = self.pos()
        if self.option_name() and "." not in self.option_name():
            name = self.advance().text
            self.advance()
            return s.NamedExpr((name,), self.parse_expr(), pos=pos)
        if self.tok.kind == "punct" and self.tok.text == "[" and self.peek(3).text == "=":
            name = self.parse_bracketed_name().name
            self.expect("=")
            return s.NamedExpr((name,), self.parse_expr(), pos=pos)
        if self.at("(") and self.tuple_assignment_ahead():
            self.advance()
            names = self.comma_list(lambda: self.expect_name("a column name").text)
            self.expect(")")
            self.expect("=")
            return s.NamedExpr(tuple(names), self.parse_expr(), pos=pos)
        return self.parse_expr()

    def tuple_assignment_ahead(self) -> bool:
        ahead = 1
        while self.peek(ahead).kind == "name" and self.peek(ahead + 1).text == ",":
            ahead += 2
        return self.peek(ahead).kind == "name" and [
            self.peek(ahead + 1).text,
            self.peek(ahead + 2).text,
        ] == [")", "="]

    def named_list(self) -> tuple[s.Expr, ...]:
        return tuple(self.comma_list(self.parse_named))

    def column_name(self) -> s.Name:
        """A column or table name, bracketed or plain, possibly with `*` wildcards."""
        pos = self.pos()
        if self.at("["):
            return self.parse_bracketed_name()
        text = "" if self.at("*") else self.expect_name("a column name").text
        wildcard = False
        while self.at("*") and (not text or self.adjacent(0)):
            self.advance()
            text += "*"
            wildcard = True
            if self.tok.kind == "name" and self.adjacent(0):
                text += self.advance().text
        return s.Name(text, wildcard=wildcard, pos=pos)

    def sort_key(self) -> s.SortKey:
        pos, expr = self.pos(), self.parse_expr()
        descending = nulls_first = None
        if self.at_name("asc", "desc"):
            descending = self.advance().text.lower() == "desc"
        if self.at_name("nulls"):
            self.advance()
            if not self.at_name("first", "last"):
                raise self.error("'first' or 'last' after 'nulls'")
            nulls_first = self.advance().text.lower() == "first"
        return s.SortKey(expr, descending, nulls_first, pos=pos)

    def parenthesised_operators(self) -> s.Pipe:
        """`( op | op ... )`: a sub-query without a source (mv-apply, partition)."""
        pos = self.pos()
        self.expect("(")
        operators = [self.parse_operator()]
        while self.accept("|"):
            operators.append(self.parse_operator())
        self.expect(")", "to close the sub-query")
        return s.Pipe(None, tuple(operators), pos=pos)

    # ----------------------------------------------------------------------- operators

    def op_where(self, name: str, pos: s.Pos) -> s.Operator:
        return s.Operator(name, args=(self.parse_expr(),), pos=pos)

    op_filter = op_where

    def op_extend(self, name: str, pos: s.Pos) -> s.Operator:
        return s.Operator(name, args=self.named_list(), pos=pos)

    op_project = op_extend

    def op_mvexpand(self, name: str, pos: s.Pos) -> s.Operator:
        return self.op_mv_expand("mvexpand", pos)

    def op_mvapply(self, name: str, pos: s.Pos) -> s.Operator:
        return self.op_mv_apply("mv-apply", pos)

    def op_serialize(self, name: str, pos: s.Pos) -> s.Operator:
        at_end = self.tok.kind == "eof" or self.at("|") or self.at(";") or self.at(")")
        return s.Operator(name, args=() if at_end else self.named_list(), pos=pos)

    def op_project_away(self, name: str, pos: s.Pos) -> s.Operator:
        return s.Operator(name, args=tuple(self.comma_list(self.column_name)), pos=pos)

    op_project_keep = op_project_away

    def op_project_reorder(self, name: str, pos: s.Pos) -> s.Operator:
        def item() -> s.Expr:
            column = self.column_name()
            if self.at_name("asc", "desc", "granny-asc", "granny-desc"):
                self.advance()
            return column

        return s.Operator(name, args=tuple(self.comma_list(item)), pos=pos)

    def op_project_rename(self, name: str, pos: s.Pos) -> s.Operator:
        def pair() -> s.Expr:
            new_pos, new = self.pos(), self.column_name()
            if not self.accept("="):
                return new  # Microsoft's parser takes a lone name (its binder then refuses it)
            return s.NamedExpr((new.name,), self.parse_expr(), pos=new_pos)

        return s.Operator(name, args=tuple(self.comma_list(pair)), pos=pos)

    def op_summarize(self, name: str, pos: s.Pos) -> s.Operator:
        options = self.parse_options(set())
        aggregates = () if self.at_name("by") or self.at_end() else self.named_list()
        by = self.named_list() if self.at_name("by") and self.advance() else ()
        return s.Operator(name, options, args=aggregates, by=by, pos=pos)

    def at_end(self) -> bool:
        return self.tok.kind == "eof" or any(self.at(p) for p in ("|", ";", ")"))

    def op_join(self, name: str, pos: s.Pos) -> s.Operator:
        options = self.parse_options({"kind", "withsource"})
        right = self.parse_postfix()
        on: tuple[s.Expr, ...] = ()
        if self.at_name("on") and self.advance():
            on = tuple(self.comma_list(self.parse_expr))
        elif self.at_name("where") and self.advance():
            on = (self.parse_expr(),)
        return s.Operator(name, options, right=right, on=on, pos=pos)

    op_lookup = op_join

    def op_union(self, name: str, pos: s.Pos) -> s.Operator:
        options = self.parse_options({"kind", "withsource", "isfuzzy"})
        return s.Operator(name, options, args=tuple(self.comma_list(self.union_item)), pos=pos)

    def union_item(self) -> s.Expr:
        if self.at("("):
            return self.parse_primary()
        if self.tok.kind == "name" and self.peek().text in ("(", "."):
            return self.parse_postfix()
        return self.column_name()

    def op_invoke(self, name: str, pos: s.Pos) -> s.Operator:
        return s.Operator(name, args=(self.parse_postfix(),), pos=pos)

    def op_evaluate(self, name: str, pos: s.Pos) -> s.Operator:
        options = self.parse_options(set())
        call = self.parse_postfix()
        schema = tuple(self.typed_columns(wildcard=True)) if self.accept(":") else ()
        return s.Operator(name, options, args=(call,), parts=schema, pos=pos)

    def op_mv_expand(self, name: str, pos: s.Pos) -> s.Operator:
        options = self.parse_options({"bagexpansion", "with_itemindex", "kind"})
        items = tuple(self.comma_list(self.expand_item))
        count = self.parse_expr() if self.at_name("limit") and self.advance() else None
        return s.Operator(name, options, args=items, count=count, pos=pos)

    def expand_item(self) -> s.Expr:
        item = self.parse_named()
        if self.at_name("to") and self.advance():
            self.expect_keyword("typeof", "after 'to'")
            self.expect("(")
            type_name = self.expect_name("a type name").text
            self.expect(")")
            return s.Cast(item, type_name, pos=item.pos)
        return item

    def op_mv_apply(self, name: str, pos: s.Pos) -> s.Operator:
        options = self.parse_options({"with_itemindex"})
        items = tuple(self.comma_list(self.expand_item))
        count = self.parse_expr() if self.at_name("limit") and self.advance() else None
        self.expect_keyword("on", "in mv-apply")
        right = self.parenthesised_operators()
        return s.Operator(name, options, args=items, count=count, right=right, pos=pos)

    def op_parse(self, name: str, pos: s.Pos) -> s.Operator:
        options = self.parse_options({"kind", "flags"})
        source = self.parse_expr()
        self.expect_keyword("with", f"after the source expression of {name}")
        parts = []
        while not self.at_end():
            part_pos = self.pos()
            if self.tok.kind == "string":
                parts.append(self.parse_strings())
            elif self.accept("*"):
                parts.append(s.Name("*", pos=part_pos))
            else:
                column = self.column_name()
                if self.accept(":"):
                    type_name = self.expect_name("a type name after ':'").text
                    parts.append(s.Param(column.name, type_name, pos=column.pos))
                else:
                    parts.append(column)
        return s.Operator(name, options, args=(source,), parts=tuple(parts), pos=pos)

    op_parse_where = op_parse

    def op_scan(self, name: str, pos: s.Pos) -> s.Operator:
        options = self.parse_options({"with_match_id"})
        if self.at_name("declare") and self.advance():
            self.typed_columns()
        self.expect_keyword("with", "in scan")
        self.expect("(", "after 'with'")
        steps = []
        while self.at_name("step"):
            self.advance()
            steps.append(self.column_name())
            self.parse_options({"output"})
            self.expect(":", "after the step name")
            steps.append(self.parse_expr())
            if self.accept("=>"):
                steps.extend(self.named_list())
            self.expect(";", "after the scan step")
        self.expect(")", "to close the scan steps")
        return s.Operator(name, options, parts=tuple(steps), pos=pos)

    def op_parse_kv(self, name: str, pos: s.Pos) -> s.Operator:
        source = self.parse_expr()
        self.expect_keyword("as", "in parse-kv")
        columns = self.typed_columns()
        if self.at_name("with") and self.advance():
            self.expect("(")
            self.comma_list(self.parse_named)
            self.expect(")")
        return s.Operator(name, args=(source,), parts=tuple(columns), pos=pos)

    def typed_columns(self, wildcard: bool = False) -> list[s.Param]:
        """`(Name: type, ...)`; with `wildcard`, `(*, Name: type, ...)` too (`*` a column
        named so, without a type: all the input's columns)."""
        self.expect("(", "before the column list")

        def column() -> s.Param:
            if wildcard and not columns and self.at("*"):
                return s.Param("*", "", pos=self.pos(self.advance()))
            item = self.column_name()
            self.expect(":", "and a type after the column name")
            return s.Param(item.name, self.expect_name("a type name").text, pos=item.pos)

        columns = []
        while not self.at(")"):
            columns.append(column())
            if not self.accept(","):
                break
        self.expect(")", "to close the column list")
        return columns

    def op_top(self, name: str, pos: s.Pos) -> s.Operator:
        count = self.parse_expr()
        self.expect_keyword("by", "after the count of top")
        return s.Operator(name, count=count, keys=(self.sort_key(),), pos=pos)

    def op_top_nested(self, name: str, pos: s.Pos) -> s.Operator:
        """Each level's `of` column in `args`, its `by` aggregation in `keys`, its count (or
        `null`) in `parts`; a `with others =` value in `options`."""
        levels, keys, counts, others = [], [], [], []

        def level() -> None:
            counts.append(s.Literal("null", None, pos=self.pos()))
            if not self.at_name("of"):
                counts[-1] = self.parse_expr()
            self.expect_keyword("of", "in top-nested")
            levels.append(self.parse_named())
            if self.at_name("with") and self.advance():
                self.expect_keyword("others")
                value_pos = self.pos(self.expect("="))
                others.append(s.Option("others", self.parse_expr(), pos=value_pos))
            self.expect_keyword("by", "in top-nested")
            keys.append(self.sort_key_named())

        level()
        while self.accept(","):
            if self.parse_operator_name() != "top-nested":
                raise self.error("'top-nested' after ','", self.peek(-1))
            level()
        return s.Operator(
            name, tuple(others), args=tuple(levels), keys=tuple(keys), parts=tuple(counts), pos=pos
        )

    def sort_key_named(self) -> s.SortKey:
        pos, expr = self.pos(), self.parse_named()
        descending = self.advance().text == "desc" if self.at_name("asc", "desc") else None
        return s.SortKey(expr, descending, pos=pos)

    def op_top_hitters(self, name: str, pos: s.Pos) -> s.Operator:
        count = self.parse_expr()
        self.expect_keyword("of", "in top-hitters")
        args = (self.parse_expr(),)
        by = (self.parse_expr(),) if self.at_name("by") and self.advance() else ()
        return s.Operator(name, args=args, by=by, count=count, pos=pos)

    def op_sort(self, name: str, pos: s.Pos) -> s.Operator:
        self.parse_options(set())
        self.expect_keyword("by", f"after '{name}'")
        return s.Operator(name, keys=tuple(self.comma_list(self.sort_key)), pos=pos)

    op_order = op_sort

    def op_take(self, name: str, pos: s.Pos) -> s.Operator:
        return s.Operator(name, count=self.parse_expr(), pos=pos)

    op_limit = op_sample = op_take

    def op_sample_distinct(self, name: str, pos: s.Pos) -> s.Operator:
        count = self.parse_expr()
        self.expect_keyword("of", "in sample-distinct")
        return s.Operator(name, args=(self.parse_expr(),), count=count, pos=pos)

    def op_distinct(self, name: str, pos: s.Pos) -> s.Operator:
        self.parse_options(set())
        if self.accept("*"):
            return s.Operator(name, pos=pos)
        return s.Operator(name, args=self.named_list(), pos=pos)

    def op_count(self, name: str, pos: s.Pos) -> s.Operator:
        """`count [as Name]`."""
        args = (self.column_name(),) if self.at_name("as") and self.advance() else ()
        return s.Operator(name, args=args, pos=pos)

    def op_getschema(self, name: str, pos: s.Pos) -> s.Operator:
        return s.Operator(name, pos=pos)

    op_consume = op_getschema

    def op_as(self, name: str, pos: s.Pos) -> s.Operator:
        options = self.parse_options(set())
        return s.Operator(name, options, args=(self.column_name(),), pos=pos)

    def op_render(self, name: str, pos: s.Pos) -> s.Operator:
        chart = self.expect_name("a chart type after 'render'")
        args: tuple[s.Expr, ...] = (s.Name(chart.text, pos=self.pos(chart)),)
        while self.tok.kind == "name" and self.peek().text == "=":  # legacy `kind=stacked`
            args += (self.parse_named(),)
        if self.at_name("by") and self.advance():
            args += tuple(self.comma_list(self.column_name))
        if self.at_name("with") and self.advance():
            self.expect("(", "after 'with'")
            args += tuple(self.comma_list(self.parse_named))
            self.expect(")", "to close the render properties")
        return s.Operator(name, args=args, pos=pos)

    def op_make_series(self, name: str, pos: s.Pos) -> s.Operator:
        """`make-series aggregates on axis [from a] [to b] step c [by keys]` (or `in range(a, b,
        c)`): each part labelled (`on`, `from`, `to`, `step`, `in`; `default` followed by the
        position of its aggregate)."""
        options = self.parse_options({"kind"})
        parts: list[s.Expr | s.Param] = []

        def aggregate() -> s.Expr:
            item = self.parse_named()
            if self.at_name("default") and self.advance():
                self.expect("=", "after 'default'")
                index = str(len(aggregates))
                parts.append(s.NamedExpr(("default", index), self.parse_expr(), pos=item.pos))
            aggregates.append(item)
            return item

        aggregates: list[s.Expr] = []
        self.comma_list(aggregate)
        self.expect_keyword("on", "in make-series")
        axis = self.parse_additive()
        parts.append(s.NamedExpr(("on",), axis, pos=axis.pos))
        words = ("in",) if self.at_name("in") else ("from", "to", "step")
        for word in words:
            if self.at_name(word) and self.advance():
                value = self.parse_postfix() if word == "in" else self.parse_expr()
                parts.append(s.NamedExpr((word,), value, pos=value.pos))
            elif word == "step":
                self.expect_keyword("step", "in make-series")
        by = self.named_list() if self.at_name("by") and self.advance() else ()
        return s.Operator(name, options, tuple(aggregates), by=by, parts=tuple(parts), pos=pos)

    def op_search(self, name: str, pos: s.Pos) -> s.Operator:
        options = self.parse_options({"kind"})
        tables: tuple[s.Expr, ...] = ()
        if self.at_name("in") and self.peek().text == "(" and self.advance():
            self.expect("(")
            tables = tuple(self.comma_list(self.union_item))
            self.expect(")")
        self.in_search = True
        try:
            predicate = self.parse_expr()
        finally:
            self.in_search = False
        return s.Operator(name, options, args=(predicate,), parts=tables, pos=pos)

    def op_find(self, name: str, pos: s.Pos) -> s.Operator:
        """`find [options] [in (tables) where] predicate [project-smart | project c[: type], ...]`:
        the tables are `parts`, the predicate `args[0]`, the projected columns `by`."""
        options = self.parse_options({"withsource", "kind", "datascope", "database"})
        tables: tuple[s.Expr, ...] = ()
        if self.at_name("in") and self.peek().text == "(" and self.advance():
            self.expect("(")
            tables = tuple(self.comma_list(self.union_item))
            self.expect(")")
            self.expect_keyword("where", "after the tables of 'find'")
        elif self.at_name("where"):
            self.advance()
        self.in_search = True
        try:
            predicate = self.parse_expr()
        finally:
            self.in_search = False
        columns: tuple[s.Expr, ...] = ()
        smart = self.peek().text == "-" and self.adjacent() and self.peek(2).text == "smart"
        if self.at_name("project") and smart:
            self.index += 3
        elif self.at_name("project") and self.peek().text != "-":
            self.advance()
            columns = tuple(self.comma_list(self.find_column))
        return s.Operator(name, options, args=(predicate,), parts=tables, by=columns, pos=pos)

    def find_column(self) -> s.Expr:
        column = self.column_name()
        if self.accept(":"):
            self.expect_name("a column type")
        return column

    def op_reduce(self, name: str, pos: s.Pos) -> s.Operator:
        self.expect_keyword("by", "after 'reduce'")
        args = (self.parse_expr(),)
        if self.at_name("with") and self.advance():
            self.named_list()
        return s.Operator(name, args=args, pos=pos)

    def op_facet(self, name: str, pos: s.Pos) -> s.Operator:
        self.expect_keyword("by", "after 'facet'")
        args = tuple(self.comma_list(self.column_name))
        if self.at_name("with") and self.advance():
            self.parenthesised_operators()
        return s.Operator(name, args=args, pos=pos)

    def op_partition(self, name: str, pos: s.Pos) -> s.Operator:
        options = self.parse_options(set())
        self.expect_keyword("by", "after 'partition'")
        key = self.column_name()
        if self.accept("{"):
            right = self.parse_pipe()
            self.expect("}", "to close the partition sub-query")
        else:
            right = self.parenthesised_operators()
        return s.Operator(name, options, args=(key,), right=right, pos=pos)

    def op_print(self, name: str, pos: s.Pos) -> s.Operator:
        return s.Operator(name, args=self.named_list(), pos=pos)

    def op_range(self, name: str, pos: s.Pos) -> s.Operator:
        column = self.column_name()
        parts = []
        for word in ("from", "to", "step"):
            self.expect_keyword(word, "in range")
            parts.append(self.parse_expr())
        return s.Operator(name, args=(column,), parts=tuple(parts), pos=pos)

    def op_datatable(self, name: str, pos: s.Pos) -> s.Operator:
        columns = self.typed_columns()
        self.expect("[", "before the datatable values")
        values = []
        while not self.at("]"):
            values.append(self.parse_expr())
            if not self.accept(","):
                break
        self.expect("]", "to close the datatable values")
        return s.Operator(name, args=tuple(values), parts=tuple(columns), pos=pos)

    def op_externaldata(self, name: str, pos: s.Pos) -> s.Operator:
        columns = self.typed_columns()
        self.expect("[", "before the external data URLs")
        urls = tuple(self.comma_list(self.parse_expr))
        self.expect("]", "to close the external data URLs")
        if self.at_name("with") and self.advance():
            self.expect("(")
            self.comma_list(self.parse_named)
            self.expect(")")
        return s.Operator(name, args=urls, parts=tuple(columns), pos=pos)
