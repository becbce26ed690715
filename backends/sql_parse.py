"""KQL's `parse` and `parse-where` in SQL: one RE2 regex per stage, one capture per column.

Simple and relaxed patterns follow the parse operator's documented translation: the text is
searched from its start; `*` is `.*?`; a string column is `(.*?)`, or `(.*)` to the end of the
text when no literal follows it; a literal is itself, escaped. In simple mode a typed column must
match its type (`long`/`int` an integer, `real`/`double` a decimal number, `datetime` a time):
otherwise every column of the row is null. In relaxed mode a typed column takes `(.*?)` and is
null on its own when it does not convert. `parse-where` keeps only the rows that match.

Needs RE2's lazy quantifiers (DuckDB, Spark): PostgreSQL's regexes decide greediness for the whole
expression, so the stage is reported there. Regex-kind patterns are reported too: their documented
translation and their documented results disagree about greediness.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlglot import exp

from rulec.backends.sql_stages import Rel, extend_with
from rulec.compiler import ir

if TYPE_CHECKING:
    from rulec.backends.sql import QueryBuilder

SKIP = "*"
ANY = ".*?"
INTEGER = r"(-?[0-9]+)"
DECIMAL = r"(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"
TYPES = {
    None: "string", "string": "string",
    "long": "long", "int": "long", "int64": "long",
    "real": "real", "double": "real", "decimal": "real",
    "datetime": "datetime", "date": "datetime",
}  # fmt: skip
STRICT_SHAPES = {"long": INTEGER, "real": DECIMAL}


def _converter(builder: QueryBuilder, kind: str) -> Callable[[exp.Expression], exp.Expression]:
    dialect = builder.dialect
    if kind == "long":
        return lambda value: exp.cast(dialect.to_number(value), exp.DataType.build("BIGINT"))
    if kind == "real":
        return dialect.to_number
    if kind == "datetime":
        return dialect.to_timestamp
    return lambda value: value


def _columns(builder: QueryBuilder, stage: ir.Parse) -> list[tuple[str, str]]:
    """(name, kind) of each capture, `*` included; a type rulec cannot convert is reported."""
    found = []
    for part in stage.parts:
        if isinstance(part, tuple):
            name, type_name = part
            kind = TYPES.get(type_name)
            if kind is None:
                raise builder.backend.unsupported(f"a parse column of type {type_name}", stage)
            found.append((name, kind))
    return found


def pattern(stage: ir.Parse) -> str:
    """The RE2 regex of a simple or relaxed pattern, anchored at the text's start."""
    pieces = ["^"]
    for index, part in enumerate(stage.parts):
        last = index == len(stage.parts) - 1
        if isinstance(part, str):
            pieces.append(re.escape(part))
        elif part[0] == SKIP:
            pieces.append(ANY)
        else:
            kind = TYPES[part[1]]
            if stage.kind == "simple" and kind in STRICT_SHAPES:
                pieces.append(STRICT_SHAPES[kind])
            else:
                pieces.append("(.*)$" if last else "(.*?)")
    return "".join(pieces)


def parse_stage(builder: QueryBuilder, rel: Rel, stage: ir.Parse) -> Rel:
    """The rows with the parsed columns (null where the text does not match), or, for
    parse-where, only the rows that match."""
    if stage.kind == "regex":
        raise builder.backend.unsupported("parse kind=regex", stage, "its greediness")
    if not builder.dialect.lazy_quantifiers:
        raise builder.backend.unsupported("the Parse stage", stage, "needs RE2's lazy quantifiers")
    columns = _columns(builder, stage)
    text = builder.dialect.to_text(builder.scalar(stage.source))
    regex = exp.Literal.string(pattern(stage))
    matched: exp.Expression = exp.RegexpLike(this=text, expression=regex)
    values = []
    captures = [(name, kind) for name, kind in columns if name != SKIP]
    for group, (name, kind) in enumerate(captures, 1):
        captured = exp.RegexpExtract(
            this=text.copy(), expression=regex.copy(), group=exp.Literal.number(group)
        )
        values.append((name, _converter(builder, kind)(captured), kind))
    if stage.kind == "simple":
        times = [v for _, v, kind in values if kind == "datetime"]
        matched = exp.and_(
            matched, *[exp.Not(this=exp.Is(this=t.copy(), expression=exp.null())) for t in times]
        )
    if not stage.keep_unmatched:
        rel = Rel(builder.wrap(rel.select).where(matched.copy(), copy=False), rel.columns)
    extended = [
        (name, exp.Case(ifs=[exp.If(this=matched.copy(), true=value)])) for name, value, _ in values
    ]
    return extend_with(builder, rel, extended, stage)
