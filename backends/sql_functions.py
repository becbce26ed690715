"""rulec's scalar and aggregate functions in SQL, as a table from function name to a builder.

Most entries are SQL templates in DuckDB's spelling (PostgreSQL's where it differs): `_1`, `_2`,
... stand for the compiled arguments, each first converted as the entry's `kinds` say
(`t` a time, `n` a number, `i` an integer, `s` text, `-` as it is). Functions whose SQL depends
on constant arguments (`bin`, `extract`, `datetime_diff`) or take any number of arguments are
code. Times are computed in UTC; `bin` rounds down from the Unix epoch.

Dynamic (JSON) values are held as the text the executor gives event fields: a string as itself,
numbers and booleans as JSON, arrays and objects as JSON text, null as NULL (`sql_dynamic`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from rulec.backends.sql_dialects import split_leading_flags
from rulec.backends.sql_network import cidr_match
from rulec.backends.values import regex_flags
from rulec.compiler import ir

if TYPE_CHECKING:
    from rulec.backends.sql import QueryBuilder

Args = list[exp.Expression]
Builder = Callable[["QueryBuilder", Args, ir.Node], exp.Expression]


@dataclass(frozen=True)
class Template:
    """SQL with `_1`.. placeholders; `postgres` where PostgreSQL spells it differently.

    A table key `name/N` holds the form taking N arguments, where the forms differ."""

    duckdb: str
    kinds: str
    postgres: str | None = None


@cache
def _parsed(text: str, dialect: str) -> exp.Expression:
    return sqlglot.parse_one(text, dialect=dialect)


def fill(text: str, dialect: str, args: Args) -> exp.Expression:
    """The template `text` (in `dialect`) with `_N` replaced by `args[N-1]`."""

    def place(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name.startswith("_"):
            position = node.name[1:]
            if position.isdigit() and int(position) <= len(args):
                return args[int(position) - 1].copy()
        return node

    return _parsed(text, dialect).copy().transform(place, copy=False)


def render(builder: QueryBuilder, template: Template, args: Args) -> exp.Expression:
    """A template in the text of the builder's dialect (`SqlDialect.templates`) where it has
    one, else in DuckDB's."""
    text = getattr(template, builder.dialect.templates)
    if text:
        return fill(text, builder.dialect.templates, args)
    return fill(template.duckdb, "duckdb", args)


def convert(builder: QueryBuilder, kind: str, value: exp.Expression) -> exp.Expression:
    """One argument as the template wants it: a time, a number, an integer or text."""
    dialect = builder.dialect
    if kind == "t":
        return value if _is_time(value) else dialect.to_timestamp(value)
    if kind == "n":
        return value if _is_number(value) else dialect.to_number(value)
    if kind == "i":
        return value if _is_int(value) else exp.cast(dialect.to_number(value), "BIGINT")
    if kind == "s":
        return value if value.is_string else dialect.to_text(value)
    return value


def _is_number(value: exp.Expression) -> bool:
    return isinstance(value, exp.Literal) and not value.is_string


def _is_int(value: exp.Expression) -> bool:
    return _is_number(value) and value.is_int


def _is_time(value: exp.Expression) -> bool:
    return isinstance(value, exp.TryCast | exp.Cast) and value.to.is_type("timestamptz")


def _utc(time: str) -> str:
    return f"({time}) AT TIME ZONE 'UTC'"


def _start_of(unit: str) -> str:
    """The start of the UTC day/month/year of `_1` (weeks start on Sunday, as in KQL)."""
    if unit == "week":
        day = f"DATE_TRUNC('day', {_utc('_1')})"
        return f"({day} - CAST(EXTRACT(DOW FROM {_utc('_1')}) AS INT) * INTERVAL '1 day')"
    return f"DATE_TRUNC('{unit}', {_utc('_1')})"


def _end_of(unit: str) -> str:
    length = "7 day" if unit == "week" else f"1 {unit}"
    return f"{_start_of(unit)} + INTERVAL '{length}' - INTERVAL '1 microsecond'"


def _time_templates() -> dict[str, Template]:
    table = {}
    for unit in ("day", "week", "month", "year"):
        table[f"startof{unit}"] = Template(f"{_start_of(unit)} AT TIME ZONE 'UTC'", "t")
        table[f"endof{unit}"] = Template(f"({_end_of(unit)}) AT TIME ZONE 'UTC'", "t")
    parts = {"hourofday": "HOUR", "dayofmonth": "DAY", "monthofyear": "MONTH", "getyear": "YEAR"}
    for name, part in parts.items():
        table[name] = Template(f"CAST(EXTRACT({part} FROM {_utc('_1')}) AS BIGINT)", "t")
    table["getmonth"] = table["monthofyear"]
    table["dayofweek"] = Template(
        f"CAST(EXTRACT(DOW FROM {_utc('_1')}) AS INT) * INTERVAL '1 day'", "t"
    )
    table["dayofyear"] = Template(f"CAST(EXTRACT(DOY FROM {_utc('_1')}) AS BIGINT)", "t")
    return table


TEMPLATES: dict[str, Template] = {
    "substring": Template("SUBSTRING(_1, _2 + 1)", "si"),
    "substring/3": Template("SUBSTRING(_1, _2 + 1, _3)", "sii"),
    "replace_string": Template("REPLACE(_1, _2, _3)", "sss"),
    "indexof": Template("STRPOS(COALESCE(_1, ''), _2) - 1", "ss"),
    "string_size": Template("STRLEN(_1)", "s", "OCTET_LENGTH(_1)"),
    "reverse": Template("REVERSE(_1)", "s"),
    "trim_start": Template("LTRIM(_1)", "s"),
    "trim_end": Template("RTRIM(_1)", "s"),
    "iff": Template("CASE WHEN _1 THEN _2 ELSE _3 END", "---"),
    "todatetime": Template("_1", "t"),
    "tobool": Template(
        "CASE WHEN LOWER(_1) IN ('true', '1') THEN TRUE WHEN LOWER(_1) IN ('false', '0') "
        "THEN FALSE END",
        "s",
    ),
    "abs": Template("ABS(_1)", "n"),
    "round": Template("ROUND(_1)", "n", "CAST(ROUND(CAST(_1 AS NUMERIC)) AS DOUBLE PRECISION)"),
    "round/2": Template(
        "ROUND(_1, _2)", "ni", "CAST(ROUND(CAST(_1 AS NUMERIC), _2) AS DOUBLE PRECISION)"
    ),
    **_time_templates(),
}
TEMPLATES.update(
    parse_json=Template(
        "CASE WHEN JSON_VALID(_1) AND JSON_TYPE(_1) = 'VARCHAR' THEN JSON_EXTRACT_STRING(_1, '$') "
        "ELSE _1 END",
        "s",
        "CASE WHEN _1 ~ '^\\s*\"' THEN CAST(_1 AS JSONB) #>> '{}' ELSE _1 END",
    ),
    array_length=Template(
        "CASE WHEN JSON_VALID(_1) AND JSON_TYPE(_1) = 'ARRAY' THEN JSON_ARRAY_LENGTH(_1) END",
        "s",
        "CASE WHEN _1 ~ '^\\s*\\[' THEN JSONB_ARRAY_LENGTH(CAST(_1 AS JSONB)) END",
    ),
)
BASE64 = "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
# Well-formed UTF-8 (RFC 3629, section 4) written in lower-case hex, one byte a pair of digits:
# what PostgreSQL's CONVERT_FROM takes without an error (no NUL: its text holds none).
NEXT = "[89ab][0-9a-f]"
UTF8_HEX = (
    f"^(0[1-9a-f]|[1-7][0-9a-f]|(c[2-9a-f]|d[0-9a-f]){NEXT}|e0[ab][0-9a-f]{NEXT}"
    f"|(e[1-9a-c]|e[ef]){NEXT}{NEXT}|ed[89][0-9a-f]{NEXT}|f0(9[0-9a-f]|[ab][0-9a-f]){NEXT}{NEXT}"
    f"|f[1-3]{NEXT}{NEXT}{NEXT}|f48[0-9a-f]{NEXT}{NEXT})*$"
)
SPLIT_PG = "CASE WHEN _1 = '' THEN ARRAY[''] ELSE STRING_TO_ARRAY(_1, _2) END"
TEMPLATES.update(
    split=Template(
        "CAST(TO_JSON(STRING_SPLIT(_1, _2)) AS VARCHAR)",
        "ss",
        f"CAST(ARRAY_TO_JSON({SPLIT_PG}) AS TEXT)",
    ),
    **{
        "split/3": Template(
            "CAST(TO_JSON(LIST_SLICE(STRING_SPLIT(_1, _2), _3 + 1, _3 + 1)) AS VARCHAR)",
            "ssi",
            f"CAST(ARRAY_TO_JSON(({SPLIT_PG})[_3 + 1:_3 + 1]) AS TEXT)",
        )
    },
    base64_decode_tostring=Template(
        f"CASE WHEN REGEXP_MATCHES(_1, '{BASE64}') THEN TRY(DECODE(FROM_BASE64(_1))) END",
        "s",
        f"CASE WHEN _1 ~ '{BASE64}' THEN CASE WHEN ENCODE(DECODE(_1, 'base64'), 'hex') "
        f"~ '{UTF8_HEX}' THEN CONVERT_FROM(DECODE(_1, 'base64'), 'UTF8') END END",
    ),
)
TEMPLATES.update(
    binary_xor=Template("XOR(_1, _2)", "ii", "_1 # _2"),
    binary_and=Template("_1 & _2", "ii"),
    binary_or=Template("_1 | _2", "ii"),
    binary_shift_left=Template("_1 << _2", "ii"),
    binary_shift_right=Template("_1 >> _2", "ii"),
)
TEMPLATES["toboolean"] = TEMPLATES["tobool"]
TEMPLATES["make_datetime"] = TEMPLATES["todatetime"]


# ---------------------------------------------------------------------- code builders


def _constant(builder: QueryBuilder, node: ir.Node, position: int) -> ir.LiteralValue | None:
    """The constant IR argument at `position` of a call (following scalar lets), else None."""
    if not isinstance(node, ir.Call) or len(node.args) <= position:
        return None
    arg = node.args[position]
    while isinstance(arg, ir.ScalarRef) and arg.name in builder.scalars:
        arg = builder.scalars[arg.name]
    return arg.value if isinstance(arg, ir.Literal) else None


def _bin(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`bin(t, span)` rounds down from the Unix epoch; `bin(x, n)` to a multiple of n."""
    size = _constant(builder, node, 1)
    if isinstance(size, timedelta) and size.total_seconds() > 0:
        seconds = exp.Literal.number(repr(size.total_seconds()))
        template = Template(
            "TO_TIMESTAMP(FLOOR(EPOCH(_1) / _2) * _2)",
            "t-",
            "TO_TIMESTAMP(FLOOR(EXTRACT(EPOCH FROM _1) / _2) * _2)",
        )
        return render(builder, template, [convert(builder, "t", args[0]), seconds])
    if isinstance(size, int | float) and not isinstance(size, bool) and size > 0:
        value = convert(builder, "n", args[0])
        return fill("FLOOR(_1 / _2) * _2", "duckdb", [value, args[1]])
    raise builder.backend.unsupported("bin() with a size that is not a positive constant", node)


def _extract(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`extract(regex, group, text)`: the group's text of the first match, null without one."""
    pattern, group = _constant(builder, node, 0), _constant(builder, node, 1)
    if len(args) != 3 or not isinstance(pattern, str) or not isinstance(group, int):
        raise builder.backend.unsupported("extract() without a constant regex and group", node)
    flags, body = split_leading_flags(pattern)
    wrapped = regex_flags(flags, True) + f"({body})"
    text = convert(builder, "s", args[2])
    matched = builder.dialect.regex(text, wrapped, True, frozenset())
    regex = matched.expression
    if builder.dialect.postgres_arrays:
        # sqlglot counts array subscripts from 0 and writes PostgreSQL's 1-based ones
        groups = fill("REGEXP_MATCH(_1, _2)", "postgres", [text, regex])
        return exp.Bracket(this=exp.Paren(this=groups), expressions=[exp.Literal.number(group)])
    template = "CASE WHEN _3 THEN REGEXP_EXTRACT(_1, _2, _4) END"
    return fill(template, "duckdb", [text, regex, matched, exp.Literal.number(group + 1)])


DIFF_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
DIFF_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def _datetime_diff(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`datetime_diff(part, a, b)`: how many `part` boundaries lie between b and a (a - b)."""
    part = _constant(builder, node, 0)
    part = part.lower().rstrip("s") if isinstance(part, str) else None
    if len(args) != 3 or (part not in DIFF_SECONDS and part not in DIFF_MONTHS):
        raise builder.backend.unsupported("datetime_diff() with this part", node)
    times = [convert(builder, "t", a) for a in args[1:]]
    if part in DIFF_MONTHS:
        months = (
            f"(EXTRACT(YEAR FROM {_utc('_1')}) * 12 + EXTRACT(MONTH FROM {_utc('_1')}) - 1)"
            f" / {DIFF_MONTHS[part]}"
        )
        one = f"FLOOR({months})"
        text = f"CAST({one} - {one.replace('_1', '_2')} AS BIGINT)"
        return fill(text, "duckdb", times)
    unit = "day" if part == "week" else part
    start = _start_of("week") if part == "week" else f"DATE_TRUNC('{unit}', {_utc('_1')})"
    epoch = f"EXTRACT(EPOCH FROM {start})"
    size = DIFF_SECONDS[part]
    text = f"CAST(ROUND(({epoch} - {epoch.replace('_1', '_2')}) / {size}) AS BIGINT)"
    return fill(text, "duckdb", times)


def _concat(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`strcat`: missing values are empty strings."""
    texts = [convert(builder, "s", a) for a in args]
    return exp.Anonymous(this="CONCAT", expressions=texts)


def _case(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`case(p1, v1, p2, v2, ..., else)`."""
    if len(args) < 3 or len(args) % 2 == 0:
        raise builder.backend.unsupported("case() without pairs and an else value", node)
    ifs = [exp.If(this=c, true=v) for c, v in zip(args[:-1:2], args[1:-1:2], strict=True)]
    return exp.Case(ifs=ifs, default=args[-1])


PRIVATE_V4 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


def _ipv4_is_private(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    ranges = [cidr_match(builder.dialect, args[0], ipaddress.ip_network(n)) for n in PRIVATE_V4]
    return exp.Paren(this=exp.or_(*ranges, copy=False))


def _extract_all(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`extract_all(regex, text)`: a dynamic array of every match (of its one capture group,
    if it has one); null when nothing matches. Several groups (arrays of arrays) are reported."""
    regex = _constant(builder, node, 0)
    groups = _group_count(regex) if isinstance(regex, str) and len(args) == 2 else None
    if groups is None or groups > 1 or not builder.dialect.re2_rewrites:
        raise builder.backend.unsupported(
            "extract_all() other than of a constant regex with at most one capture group", node
        )
    text = convert(builder, "s", args[1])
    flags, body = split_leading_flags(regex)
    pattern = exp.Literal.string(regex_flags(flags, True) + body)
    found = "REGEXP_EXTRACT_ALL(_1, _2, _3)"
    template = f"CASE WHEN LEN({found}) > 0 THEN CAST(TO_JSON({found}) AS VARCHAR) END"
    return fill(template, "duckdb", [text, pattern, exp.Literal.number(groups)])


def _group_count(regex: str) -> int | None:
    """How many capture groups a regex has (None when Python cannot read it)."""
    try:
        return re.compile(regex).groups
    except re.error:
        return None


def _replace_regex(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`replace_regex(text, regex, rewrite)`: every match replaced; `\\1` names a group."""
    regex = _constant(builder, node, 1)
    if not builder.dialect.re2_rewrites:
        raise builder.backend.unsupported("replace_regex() (RE2's rewrite of every match)", node)
    if len(args) != 3 or not isinstance(regex, str):
        raise builder.backend.unsupported("replace_regex() without a constant regex", node)
    text, rewrite = convert(builder, "s", args[0]), convert(builder, "s", args[2])
    flags, body = split_leading_flags(regex)
    pattern = exp.Literal.string(regex_flags(flags, True) + body)
    return fill("REGEXP_REPLACE(_1, _2, _3, 'g')", "duckdb", [text, pattern, rewrite])


def json_element(builder: QueryBuilder, value: exp.Expression, key: str | int) -> exp.Expression:
    """The element `key` (property name, or position counted from the end when negative) of
    the dynamic value `value`, as dynamic text; null where `value` is no array or object."""
    if builder.dialect.postgres_arrays:
        template = "CASE WHEN _1 ~ '^\\s*[[{]' THEN CAST(_1 AS JSONB) ->> _2 END"
        path = exp.Literal.string(key) if isinstance(key, str) else exp.Literal.number(key)
        return fill(template, "postgres", [value, path])
    if isinstance(key, str):
        text = '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    else:
        text = f"$[{key}]" if key >= 0 else f"$[#{key}]"
    template = "CASE WHEN JSON_VALID(_1) THEN JSON_EXTRACT_STRING(_1, _2) END"
    return fill(template, "duckdb", [value, exp.Literal.string(text)])


def _index(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    key = _constant(builder, node, 1)
    if len(args) != 2 or isinstance(key, bool) or not isinstance(key, str | int):
        raise builder.backend.unsupported("an element access with a key that is not constant", node)
    return json_element(builder, convert(builder, "s", args[0]), key)


def _pack_array(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    name = builder.dialect.json_array
    return builder.dialect.to_text(exp.Anonymous(this=name, expressions=args))


def _pack(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`bag_pack(key1, value1, ...)`: a property bag."""
    if len(args) % 2:
        raise builder.backend.unsupported("bag_pack() with an odd number of arguments", node)
    name = builder.dialect.json_object
    return builder.dialect.to_text(exp.Anonymous(this=name, expressions=args))


def _row_order(builder: QueryBuilder, node: ir.Node, name: str) -> exp.Order:
    if builder.order is None:
        raise builder.backend.unsupported(f"{name}() without a sort just before it", node)
    return exp.Order(expressions=[key.copy() for key in builder.order])


def _prev(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`prev(x)`, `prev(x, n)`: the value n rows (default 1) before, in the order of the sort
    just before (KQL's serialized rows); null before the first row."""
    offset = _constant(builder, node, 1) if len(args) == 2 else 1
    if len(args) not in (1, 2) or type(offset) is not int or offset < 0:
        raise builder.backend.unsupported("prev() other than prev(x) or prev(x, n)", node)
    lag = exp.Anonymous(this="LAG", expressions=[args[0], exp.Literal.number(offset)])
    return exp.Window(this=lag, order=_row_order(builder, node, "prev"))


def _row_cumsum(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`row_cumsum(x)`: the sum of x over this row and the rows before it, in sort order."""
    if len(args) != 1:
        raise builder.backend.unsupported("row_cumsum() with a restart condition", node)
    frame = exp.WindowSpec(
        kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"
    )
    value = exp.Sum(this=convert(builder, "n", args[0]))
    return exp.Window(this=value, order=_row_order(builder, node, "row_cumsum"), spec=frame)


def _countof(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`countof(text, search)`: how many times `search` occurs, overlapping occurrences counted
    (`countof("aaaa", "aa")` is 3). For a constant search that cannot overlap itself, that is
    the length the text loses without it; `countof(text, regex, "regex")` counts matches."""
    search, kind = _constant(builder, node, 1), _constant(builder, node, 2) or "normal"
    if len(args) not in (2, 3) or not isinstance(search, str) or not search:
        raise builder.backend.unsupported("countof() of a search that is not a constant", node)
    text = fill("COALESCE(_1, '')", "duckdb", [convert(builder, "s", args[0])])
    if kind == "regex":
        if _group_count(search) is None or re.search(search, "") is not None:
            raise builder.backend.unsupported("countof() of a regex matching the empty text", node)
        pattern = builder.dialect.regex(text, search, True, frozenset()).expression
        return builder.dialect.count_matches(text, pattern)
    if kind != "normal" or any(search[:n] == search[-n:] for n in range(1, len(search))):
        raise builder.backend.unsupported("countof() of a search overlapping itself", node)
    template = "CAST((LENGTH(_1) - LENGTH(REPLACE(_1, _2, ''))) / LENGTH(_2) AS BIGINT)"
    return fill(template, "duckdb", [text, exp.Literal.string(search)])


def _trim(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`trim(regex, text)`: every leading and trailing match of `regex` removed."""
    regex = _constant(builder, node, 0)
    if len(args) != 2 or not isinstance(regex, str) or _group_count(regex) is None:
        raise builder.backend.unsupported("trim() without a constant regex", node)
    text = convert(builder, "s", args[1])
    flags, body = split_leading_flags(regex)
    inline = regex_flags(flags, case_sensitive=True)
    leading, trailing = (
        builder.dialect.regex(text, inline + edge, True, frozenset()).expression
        for edge in (f"^(?:{body})+", f"(?:{body})+$")
    )
    template = "REGEXP_REPLACE(REGEXP_REPLACE(_1, _2, ''), _3, '')"
    return fill(template, "duckdb", [text, leading, trailing])


JSON_PATH = re.compile(r"\$(\.[A-Za-z_][A-Za-z0-9_]*|\[[0-9]+\])*")


def _extract_json(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`extract_json(path, json)`: the element at a JSONPath (`$.a.b[0]`) as text, null where
    the text is no JSON or has no such element."""
    path = _constant(builder, node, 0)
    if len(args) != 2 or not isinstance(path, str) or not JSON_PATH.fullmatch(path):
        raise builder.backend.unsupported("extract_json() of a path other than $.a[0].b", node)
    if not builder.dialect.json_valid:
        what = "extract_json() (text that is no JSON has no guard there)"
        raise builder.backend.unsupported(what, node)
    text = convert(builder, "s", args[1])
    template = "CASE WHEN JSON_VALID(_1) THEN JSON_EXTRACT_STRING(_1, _2) END"
    return fill(template, "duckdb", [text, exp.Literal.string(path)])


CODE: dict[str, Builder] = {
    "index": _index,
    "pack_array": _pack_array,
    "pack": _pack,
    "bag_pack": _pack,
    "pack_dictionary": _pack,
    "bin": _bin,
    "extract": _extract,
    "extract_all": _extract_all,
    "replace_regex": _replace_regex,
    "datetime_diff": _datetime_diff,
    "concat": _concat,
    "case": _case,
    "ipv4_is_private": _ipv4_is_private,
    "prev": _prev,
    "countof": _countof,
    "extract_json": _extract_json,
    "extractjson": _extract_json,
    "trim": _trim,
    "row_cumsum": _row_cumsum,
}


def build_function(
    builder: QueryBuilder, name: str, args: Args, node: ir.Node
) -> exp.Expression | None:
    """The SQL for the function `name`, or None when the table does not have it."""
    if name in CODE:
        return CODE[name](builder, args, node)
    template = TEMPLATES.get(f"{name}/{len(args)}") or TEMPLATES.get(name)
    if template is None:
        return None
    if len(args) != len(template.kinds):
        raise builder.backend.unsupported(f"the function {name}() with {len(args)} arguments", node)
    converted = [convert(builder, k, a) for k, a in zip(template.kinds, args, strict=True)]
    return render(builder, template, converted)


# ---------------------------------------------------------------------- aggregates

NUMERIC_IF = {"sumif": "SUM", "avgif": "AVG", "minif": "MIN", "maxif": "MAX"}
STATISTICS = {"stdev": "STDDEV_SAMP", "stdevp": "STDDEV_POP", "variance": "VAR_SAMP"}
STATISTICS["variancep"] = "VAR_POP"
COLLECTIONS = {"make_set": (True, 0), "make_list": (False, 0)}
COLLECTIONS.update(make_set_if=(True, 1), make_list_if=(False, 1))


def build_aggregate(
    builder: QueryBuilder, call: ir.AggCall, value: exp.Expression | None
) -> exp.Expression | None:
    """The SQL for the aggregation `call` over `value` (its compiled `arg`), or None."""
    func, extra = call.func, [builder.scalar(a) for a in call.args]
    if func == "countif" and value is not None:
        return fill("COUNT(CASE WHEN _1 THEN 1 END)", "duckdb", [value])
    if func in ("dcountif", "count_distinctif") and value is not None and len(extra) == 1:
        return fill("COUNT(DISTINCT CASE WHEN _2 THEN _1 END)", "duckdb", [value, *extra])
    if func in NUMERIC_IF and value is not None and len(extra) == 1:
        number = convert(builder, "n", value)
        return fill(f"{NUMERIC_IF[func]}(CASE WHEN _2 THEN _1 END)", "duckdb", [number, *extra])
    if func in STATISTICS and value is not None:
        return fill(f"{STATISTICS[func]}(_1)", "duckdb", [convert(builder, "n", value)])
    if func == "count_distinct" and value is not None:
        return exp.Count(this=exp.Distinct(expressions=[value]))
    if func == "take_any" and value is not None:
        return exp.Min(this=value)
    if func == "percentile" and value is not None:
        return _percentile(builder, call, value)
    if func in COLLECTIONS and value is not None:
        return _collection(builder, call, value, extra)
    return None


def _percentile(builder: QueryBuilder, call: ir.AggCall, value: exp.Expression) -> exp.Expression:
    """KQL estimates percentiles; SQL takes the exact nearest-rank value."""
    point = call.args[0] if call.args else None
    if not isinstance(point, ir.Literal) or not isinstance(point.value, int | float):
        raise builder.backend.unsupported("percentile() of a point that is not a number", call)
    fraction = exp.Literal.number(repr(point.value / 100))
    template = "PERCENTILE_DISC(_2) WITHIN GROUP (ORDER BY _1)"
    return fill(template, "postgres", [convert(builder, "n", value), fraction])


def _collection(
    builder: QueryBuilder, call: ir.AggCall, value: exp.Expression, extra: Args
) -> exp.Expression:
    """`make_set`/`make_list` (`_if`): a JSON array of the non-null values, in value order,
    at most `max_size` of them; `[]` for a group without any."""
    distinct, conditions = COLLECTIONS[call.func]
    keep = "_1 IS NOT NULL" + (" AND _2" if conditions else "")
    limit = extra[conditions] if len(extra) > conditions else None
    unique = "DISTINCT " if distinct else ""
    if builder.dialect.postgres_arrays:
        listed = f"ARRAY_AGG({unique}_1 ORDER BY _1) FILTER (WHERE {keep})"
        sliced = f"({listed})[1:_3]" if limit is not None else listed
        template, dialect = f"COALESCE(CAST(ARRAY_TO_JSON({sliced}) AS TEXT), '[]')", "postgres"
    else:
        listed = f"LIST({unique}_1 ORDER BY _1) FILTER (WHERE {keep})"
        sliced = f"LIST_SLICE({listed}, 1, _3)" if limit is not None else listed
        template, dialect = f"COALESCE(CAST(TO_JSON({sliced}) AS VARCHAR), '[]')", "duckdb"
    condition = extra[0] if conditions else exp.true()
    return fill(template, dialect, [value, condition, limit or exp.null()])
