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
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from rulec.backends.sql_are_regex import same_matches
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
# unicode_codepoints_from_string: one code point per character ([] for the empty string)
CODEPOINTS = (
    "CASE WHEN COALESCE(_1, '') = '' THEN '[]' ELSE CAST(TO_JSON(LIST_TRANSFORM("
    "STRING_SPLIT(_1, ''), c -> UNICODE(c))) AS VARCHAR) END"
)
CODEPOINTS_PG = (
    "CASE WHEN COALESCE(_1, '') = '' THEN '[]' ELSE (SELECT CAST(JSONB_AGG(ASCII(t.c) "
    "ORDER BY t.n) AS TEXT) FROM REGEXP_SPLIT_TO_TABLE(_1, '') WITH ORDINALITY AS t(c, n)) END"
)
# jaccard_index: the size of the intersection over that of the union of the arrays' distinct
# elements (JSON compared); null where either is no array, or both are empty (the formula is
# undefined there)
ELEMENTS = "LIST_DISTINCT(CAST(JSON_EXTRACT(_N, '$[*]') AS VARCHAR[]))"
ARRAYS = "JSON_VALID(_1) AND JSON_TYPE(_1) = 'ARRAY' AND JSON_VALID(_2) AND JSON_TYPE(_2) = 'ARRAY'"
JACCARD = (
    f"CASE WHEN {ARRAYS} THEN LEN(LIST_INTERSECT({ELEMENTS.replace('_N', '_1')}, "
    f"{ELEMENTS.replace('_N', '_2')})) / NULLIF(LEN(LIST_DISTINCT(LIST_CONCAT("
    f"{ELEMENTS.replace('_N', '_1')}, {ELEMENTS.replace('_N', '_2')}))), 0) END"
)
PG_ELEMENTS = "SELECT e FROM JSONB_ARRAY_ELEMENTS(CAST(_N AS JSONB)) AS t(e)"
JACCARD_PG = (
    "CASE WHEN _1 ~ '^\\s*\\[' AND _2 ~ '^\\s*\\[' THEN CAST((SELECT COUNT(*) FROM ("
    f"{PG_ELEMENTS.replace('_N', '_1')} INTERSECT {PG_ELEMENTS.replace('_N', '_2')}) AS i) "
    "AS DOUBLE PRECISION) / NULLIF((SELECT COUNT(*) FROM ("
    f"{PG_ELEMENTS.replace('_N', '_1')} UNION {PG_ELEMENTS.replace('_N', '_2')}) AS u), 0) END"
)
TEMPLATES.update(
    jaccard_index=Template(JACCARD, "ss", JACCARD_PG),
    unicode_codepoints_from_string=Template(CODEPOINTS, "s", CODEPOINTS_PG),
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
TEMPLATES.update(
    set_has_element=Template(
        "CASE WHEN JSON_VALID(_1) AND JSON_TYPE(_1) = 'ARRAY' THEN LIST_CONTAINS("
        "CAST(JSON_EXTRACT_STRING(_1, '$[*]') AS VARCHAR[]), _2) END",
        "ss",
        "CASE WHEN _1 ~ '^\\s*\\[' THEN EXISTS (SELECT 1 FROM JSONB_ARRAY_ELEMENTS_TEXT("
        "CAST(_1 AS JSONB)) AS t(e) WHERE t.e = _2) END",
    ),
    strcat_array=Template(
        "CASE WHEN JSON_VALID(_1) AND JSON_TYPE(_1) = 'ARRAY' THEN ARRAY_TO_STRING("
        "CAST(JSON_EXTRACT_STRING(_1, '$[*]') AS VARCHAR[]), _2) END",
        "ss",
        "CASE WHEN _1 ~ '^\\s*\\[' THEN COALESCE((SELECT STRING_AGG(t.e, _2 ORDER BY t.n) "
        "FROM JSONB_ARRAY_ELEMENTS_TEXT(CAST(_1 AS JSONB)) WITH ORDINALITY AS t(e, n)), '') END",
    ),
)
TEMPLATES["base64_encode_tostring"] = Template(
    "TO_BASE64(ENCODE(_1))",
    "s",
    "TRANSLATE(ENCODE(CONVERT_TO(_1, 'UTF8'), 'base64'), CHR(10), '')",  # no line breaks
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
    """`extract_all(regex, [groups,] text)`: a dynamic array over every match: the text of its
    one capture group (of the one group listed, or the whole match without groups), or an
    array of the groups listed (all without a list) when there are several; null when nothing
    matches."""
    regex = _constant(builder, node, 0)
    groups = _capture_groups(builder, node, regex) if isinstance(regex, str) else None
    if groups is None:
        what = "extract_all() other than of a constant regex and constant capture groups"
        raise builder.backend.unsupported(what, node)
    text = convert(builder, "s", args[-1])
    if not builder.dialect.re2_rewrites:
        return _extract_all_postgres(builder, node, regex, groups, text)
    flags, body = split_leading_flags(regex)
    pattern = exp.Literal.string(regex_flags(flags, True) + body)
    found = [
        fill("REGEXP_EXTRACT_ALL(_1, _2, _3)", "duckdb", [text, pattern, exp.Literal.number(g)])
        for g in groups
    ]
    array = found[0]
    if len(found) > 1:
        each = ", ".join(f"_{n + 1}[i + 1]" for n in range(len(found)))
        array = fill(f"LIST_TRANSFORM(RANGE(LEN(_1)), i -> [{each}])", "duckdb", found)
    template = "CASE WHEN LEN(_1) > 0 THEN CAST(TO_JSON(_2) AS VARCHAR) END"
    return fill(template, "duckdb", [found[0], array])


def _capture_groups(builder: QueryBuilder, node: ir.Node, regex: str) -> list[int] | None:
    """The group numbers `extract_all` reports (0, the whole match, for a regex without
    groups); None when they are not constant or not the regex's."""
    try:
        compiled = re.compile(regex)
    except re.error:
        return None
    if len(node.args) == 2:
        return list(range(1, compiled.groups + 1)) or [0]
    listed = node.args[1]
    items = listed.args if isinstance(listed, ir.Call) and listed.name == "pack_array" else ()
    if len(node.args) != 3 or not items or not all(isinstance(i, ir.Literal) for i in items):
        return None
    groups = [compiled.groupindex.get(i.value, i.value) for i in items]
    valid = all(isinstance(g, int) and 1 <= g <= compiled.groups for g in groups)
    return groups if valid else None


def _extract_all_postgres(
    builder: QueryBuilder, node: ir.Node, regex: str, groups: list[int], text: exp.Expression
) -> exp.Expression:
    """REGEXP_MATCHES' rows, where ARE's matches are RE2's (`same_matches`)."""
    flags, body = split_leading_flags(regex)
    if flags - {"s", "m"} or not same_matches(body):
        what = (
            "extract_all() of this regex: PostgreSQL's leftmost-longest matching may find "
            "other matches than RE2's"
        )
        raise builder.backend.unsupported(what, node)
    pattern = builder.dialect.regex(text, regex, True, frozenset()).expression
    numbers = [max(g, 1) for g in groups]  # without groups, the whole match is REGEXP_MATCHES' 1
    item = f"r.m[{numbers[0]}]"
    if len(numbers) > 1:
        item = "TO_JSONB(ARRAY[" + ", ".join(f"r.m[{g}]" for g in numbers) + "])"
    template = (
        f"(SELECT CAST(JSONB_AGG({item} ORDER BY r.n) AS TEXT) "
        "FROM REGEXP_MATCHES(_1, _2, 'g') WITH ORDINALITY AS r(m, n))"
    )
    return fill(template, "postgres", [text, pattern])


def _translate(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`translate(search, replacement, text)`: each character of `search` in `text` replaced by
    the one at its position in `replacement`, or its last one where that is shorter (removed
    where it is empty), as Microsoft's examples show; SQL's TRANSLATE removes instead, so the
    replacement is padded."""
    search, replacement = _constant(builder, node, 0), _constant(builder, node, 1)
    if not isinstance(search, str) or not isinstance(replacement, str) or len(args) != 3:
        raise builder.backend.unsupported("translate() without constant character lists", node)
    if len(set(search)) != len(search):
        raise builder.backend.unsupported("translate() of a character listed twice", node)
    padded = replacement.ljust(len(search), replacement[-1:] or " ")[: len(search)]
    if not replacement:
        padded = ""
    text = convert(builder, "s", args[2])
    values = [text, exp.Literal.string(search), exp.Literal.string(padded)]
    return fill("TRANSLATE(_1, _2, _3)", "duckdb", values)


def _group_count(regex: str) -> int | None:
    """How many capture groups a regex has (None when Python cannot read it)."""
    try:
        return re.compile(regex).groups
    except re.error:
        return None


def _replace_regex(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`replace_regex(text, regex, rewrite)`: every match replaced; `\\1` names a group."""
    regex = _constant(builder, node, 1)
    if len(args) != 3 or not isinstance(regex, str):
        raise builder.backend.unsupported("replace_regex() without a constant regex", node)
    text, rewrite = convert(builder, "s", args[0]), convert(builder, "s", args[2])
    flags, body = split_leading_flags(regex)
    if not builder.dialect.re2_rewrites:
        return _replace_regex_postgres(builder, node, regex, text)
    pattern = exp.Literal.string(regex_flags(flags, True) + body)
    return fill("REGEXP_REPLACE(_1, _2, _3, 'g')", "duckdb", [text, pattern, rewrite])


def _replace_regex_postgres(
    builder: QueryBuilder, node: ir.Node, regex: str, text: exp.Expression
) -> exp.Expression:
    """REGEXP_REPLACE where ARE's matches are RE2's (`same_matches`), the rewrite's `\\0`
    (the whole match) written `\\&`."""
    flags, body = split_leading_flags(regex)
    rewrite = _constant(builder, node, 2)
    rewritten = _postgres_rewrite(rewrite) if isinstance(rewrite, str) else None
    if flags - {"s", "m"} or not same_matches(body) or rewritten is None:
        what = (
            "replace_regex() of this regex or rewrite: PostgreSQL's leftmost-longest matching "
            "may find other matches than RE2's"
        )
        raise builder.backend.unsupported(what, node)
    pattern = builder.dialect.regex(text, regex, True, frozenset()).expression
    template = "REGEXP_REPLACE(_1, _2, _3, 'g')"
    return fill(template, "postgres", [text, pattern, exp.Literal.string(rewritten)])


def _postgres_rewrite(rewrite: str) -> str | None:
    """RE2's rewrite (`\\1`..`\\9` a group, `\\0` the match, `\\\\` a backslash) in
    PostgreSQL's spelling; None for anything else after a backslash."""
    out, pos = [], 0
    while pos < len(rewrite):
        char = rewrite[pos]
        if char != "\\":
            out.append(char)
            pos += 1
            continue
        following = rewrite[pos + 1 : pos + 2]
        if not (following.isdigit() or following == "\\"):
            return None
        out.append("\\&" if following == "0" else "\\" + following)
        pos += 2
    return "".join(out)


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


def _pack_all(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`pack_all()`: a property bag of every column of the row, as `bag_pack` of each."""
    if args:
        raise builder.backend.unsupported("pack_all() leaving out null and empty columns", node)
    if builder.row_columns is None:
        raise builder.needs_schema(node, "pack_all()")
    pairs = [
        x for c in builder.row_columns for x in (exp.Literal.string(c), exp.column(c, quoted=True))
    ]
    return _pack(builder, pairs, node)


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
    text = convert(builder, "s", args[1])
    if not builder.dialect.json_valid:  # PG_INPUT_IS_VALID: PostgreSQL 16 and later
        template = (
            "CASE WHEN PG_INPUT_IS_VALID(_1, 'jsonb') THEN JSONB_PATH_QUERY_FIRST("
            "CAST(_1 AS JSONB), CAST(_2 AS JSONPATH), '{}', TRUE) #>> '{}' END"
        )
        return fill(template, "postgres", [text, exp.Literal.string(f"strict {path}")])
    template = "CASE WHEN JSON_VALID(_1) THEN JSON_EXTRACT_STRING(_1, _2) END"
    return fill(template, "duckdb", [text, exp.Literal.string(path)])


def _bin_at(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`bin_at(value, size, fixed_point)`: `bin` aligned so that `fixed_point` starts a bin
    (for times, a datetime or an expression of the query's, such as `now()`, not of the row)."""
    size, fixed = _constant(builder, node, 1), _constant(builder, node, 2)
    timed = isinstance(fixed, datetime) or (fixed is None and _row_free(node.args[2]))
    if isinstance(size, timedelta) and timed and size.total_seconds() > 0:
        times = [convert(builder, "t", args[0]), convert(builder, "t", args[2])]
        seconds = repr(size.total_seconds())
        text = f"TO_TIMESTAMP(EPOCH_2 + FLOOR((EPOCH_1 - EPOCH_2) / {seconds}) * {seconds})"
        duckdb, postgres = (
            text.replace("EPOCH_1", epoch.format("_1")).replace("EPOCH_2", epoch.format("_2"))
            for epoch in ("EPOCH({})", "EXTRACT(EPOCH FROM {})")
        )
        return render(builder, Template(duckdb, "tt", postgres), times)
    numbers = all(type(c) in (int, float) for c in (size, fixed))
    if numbers and size > 0 and len(args) == 3:
        value = convert(builder, "n", args[0])
        return fill("_3 + FLOOR((_1 - _3) / _2) * _2", "duckdb", [value, args[1], args[2]])
    what = (
        "bin_at() other than of a number or a datetime, with a positive constant size and a "
        "fixed point not of the row"
    )
    raise builder.backend.unsupported(what, node)


def _row_free(node: ir.Expr) -> bool:
    """Whether an expression reads nothing of the row (a call of constants, `now()`, a let)."""
    return not any(isinstance(inner, ir.FieldRef) for inner in ir.walk(node))


ADD_UNITS = {
    "year": "1 year", "quarter": "3 month", "month": "1 month", "week": "7 day",
    "day": "1 day", "hour": "1 hour", "minute": "1 minute", "second": "1 second",
    "millisecond": "1 millisecond", "microsecond": "1 microsecond",
}  # fmt: skip


def _datetime_add(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`datetime_add(part, amount, time)`: `time` moved by `amount` parts, in UTC."""
    part = _constant(builder, node, 0)
    unit = ADD_UNITS.get(part.lower()) if isinstance(part, str) else None
    if len(args) != 3 or unit is None:
        raise builder.backend.unsupported("datetime_add() of this part", node)
    values = [convert(builder, "i", args[1]), convert(builder, "t", args[2])]
    text = f"({_utc('_2')} + _1 * INTERVAL '{unit}') AT TIME ZONE 'UTC'"
    return fill(text, "duckdb", values)


def _row_number(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`row_number([start])`: the row's position (from `start`, 1 by default) in sort order."""
    first = _constant(builder, node, 0) if args else 1
    if len(args) > 1 or type(first) is not int:
        raise builder.backend.unsupported("row_number() with a restart condition", node)
    number = exp.Window(this=exp.RowNumber(), order=_row_order(builder, node, "row_number"))
    return exp.Add(this=number, expression=exp.Literal.number(first - 1))


# the text of each element of a dynamic array (JSON text for arrays and objects), in order
ELEMENTS_PG = "JSONB_ARRAY_ELEMENTS_TEXT(CAST(_1 AS JSONB)) WITH ORDINALITY AS t(e, n)"
IS_ARRAY = "JSON_VALID(_1) AND JSON_TYPE(_1) = 'ARRAY'"
IS_ARRAY_PG = "_1 ~ '^\\s*\\['"
TEXTS = "CAST(JSON_EXTRACT_STRING(_1, '$[*]') AS VARCHAR[])"


def _array_index_of(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`array_index_of(array, value [, start [, length [, occurrence]]])`: the position of the
    occurrence-th element equal to `value` among `length` elements (-1 for all) from `start`
    (counted from the end when negative); -1 without one; null for no array, and for a start
    before the array's first element, where the documentation gives no result."""
    defaults = [0, -1, 1]
    limits = [_constant(builder, node, n) if len(args) > n else defaults[n - 2] for n in (2, 3, 4)]
    start, length, occurrence = limits
    valid = all(type(c) is int for c in limits) and length >= -1 and occurrence >= 1
    if not 2 <= len(args) <= 5 or not valid:
        what = "array_index_of() other than with constant start, length and occurrence"
        raise builder.backend.unsupported(what, node)
    values = [convert(builder, "s", args[0]), convert(builder, "s", args[1])]
    first = f"(LEN_ + {start})" if start < 0 else str(start)
    end = "LEN_" if length == -1 else f"{first} + {length}"
    if builder.dialect.postgres_arrays:
        size = "JSONB_ARRAY_LENGTH(CAST(_1 AS JSONB))"
        first, end = first.replace("LEN_", size), end.replace("LEN_", size)
        found = (
            f"(SELECT t.n - 1 FROM {ELEMENTS_PG} WHERE t.e = _2 AND t.n - 1 >= {first} "
            f"AND t.n - 1 < {end} ORDER BY t.n OFFSET {occurrence - 1} LIMIT 1)"
        )
        text = f"CASE WHEN {IS_ARRAY_PG} AND {first} >= 0 THEN COALESCE({found}, -1) END"
        return fill(text, "postgres", values)
    first, end = first.replace("LEN_", f"LEN({TEXTS})"), end.replace("LEN_", f"LEN({TEXTS})")
    found = (
        f"LIST_FILTER(RANGE(GREATEST({first}, 0), LEAST({end}, LEN({TEXTS}))), "
        f"i -> {TEXTS}[i + 1] = _2)[{occurrence}]"
    )
    text = f"CASE WHEN {IS_ARRAY} AND {first} >= 0 THEN COALESCE({found}, -1) END"
    return fill(text, "duckdb", values)


def _array_slice(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`array_slice(array, start, end)`: the elements from `start` to `end` (both included,
    negative ones counted from the end); null for no array."""
    start, end = _constant(builder, node, 1), _constant(builder, node, 2)
    if len(args) != 3 or type(start) is not int or type(end) is not int:
        raise builder.backend.unsupported("array_slice() without constant bounds", node)
    array = convert(builder, "s", args[0])
    if builder.dialect.postgres_arrays:
        size = "JSONB_ARRAY_LENGTH(CAST(_1 AS JSONB))"
        first, last = (f"{size} + {b}" if b < 0 else str(b) for b in (start, end))
        elements = "JSONB_ARRAY_ELEMENTS(CAST(_1 AS JSONB)) WITH ORDINALITY AS t(e, n)"
        found = (
            f"(SELECT CAST(COALESCE(JSONB_AGG(t.e ORDER BY t.n), '[]') AS TEXT) FROM {elements}"
            f" WHERE t.n - 1 BETWEEN {first} AND {last})"
        )
        return fill(f"CASE WHEN {IS_ARRAY_PG} THEN {found} END", "postgres", [array])
    # LIST_SLICE counts from 1, and from the end (-1 the last) for negative bounds
    bounds = [b if b < 0 else b + 1 for b in (start, end)]
    sliced = f"LIST_SLICE(CAST(JSON_EXTRACT(_1, '$[*]') AS JSON[]), {bounds[0]}, {bounds[1]})"
    text = f"CASE WHEN {IS_ARRAY} THEN CAST(TO_JSON({sliced}) AS VARCHAR) END"
    return fill(text, "duckdb", [array])


def _indexof(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`indexof(text, match [, start [, length]])`: the position of the first `match` within
    the `length` characters (-1: all) from `start` (counted from the end when negative), -1
    without one, null where the start falls before the text. Microsoft's examples of a later
    occurrence within a length do not follow from its definition, so only the first is found."""
    if len(args) == 2:
        return render(builder, TEMPLATES["indexof"], [convert(builder, "s", a) for a in args])
    start, length = (
        _constant(builder, node, 2),
        _constant(builder, node, 3) if len(args) > 3 else -1,
    )
    occurrence = _constant(builder, node, 4) if len(args) > 4 else 1
    limits = (start, length, occurrence)
    if len(args) > 5 or not all(type(c) is int for c in limits) or length < -1 or occurrence != 1:
        what = "indexof() other than of the first occurrence, with constant start and length"
        raise builder.backend.unsupported(what, node)
    text = fill("COALESCE(_1, '')", "duckdb", [convert(builder, "s", args[0])])
    first = f"(LENGTH(_1) + {start})" if start < 0 else str(start)
    window = f"SUBSTRING(_1, {first} + 1" + (")" if length == -1 else f", {length})")
    found = f"STRPOS({window}, _2)"
    position = f"CASE WHEN {found} > 0 THEN {found} - 1 + {first} ELSE -1 END"
    template = f"CASE WHEN {first} >= 0 THEN {position} END"
    return fill(template, "duckdb", [text, convert(builder, "s", args[1])])


def _indexof_regex(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`indexof_regex(text, regex)`: where the first match starts, -1 without one. Every regex
    engine finds the same leftmost start, so PostgreSQL's ARE gives RE2's."""
    regex = _constant(builder, node, 1)
    if len(args) != 2 or not isinstance(regex, str) or _group_count(regex) is None:
        raise builder.backend.unsupported("indexof_regex() other than (text, constant regex)", node)
    text = fill("COALESCE(_1, '')", "duckdb", [convert(builder, "s", args[0])])
    flags, body = split_leading_flags(regex)
    if builder.dialect.postgres_arrays:
        pattern = builder.dialect.regex(text, regex, True, frozenset()).expression
        return fill("REGEXP_INSTR(_1, _2) - 1", "postgres", [text, pattern])
    # the shortest prefix before a match: RE2 prefers the fewest repetitions of a lazy `.*?`
    prefix = regex_flags(flags, True) + f"^([\\s\\S]*?)(?:{body})"
    matched = builder.dialect.regex(text, prefix, True, frozenset())
    template = "CASE WHEN _3 THEN LENGTH(REGEXP_EXTRACT(_1, _2, 1)) ELSE -1 END"
    return fill(template, "duckdb", [text, matched.expression, matched])


DATETIME_PARTS = {
    "yyyy": "LPAD(CAST(YEAR_ AS TEXT), 4, '0')", "yy": "LPAD(CAST(YEAR_ % 100 AS TEXT), 2, '0')",
    "y": "CAST(YEAR_ % 100 AS TEXT)", "MM": "MONTH_", "M": "MONTH_", "dd": "DAY_", "d": "DAY_",
    "HH": "HOUR_", "H": "HOUR_", "hh": "(HOUR_ + 11) % 12 + 1", "h": "(HOUR_ + 11) % 12 + 1",
    "mm": "MINUTE_", "m": "MINUTE_", "ss": "SECOND_", "s": "SECOND_",
    "tt": "CASE WHEN HOUR_ < 12 THEN 'AM' ELSE 'PM' END",
    **{"f" * n: f"SUBSTRING(LPAD(CAST(MICRO_ AS TEXT), 6, '0'), 1, {n})" for n in range(1, 7)},
}  # fmt: skip
DATETIME_DELIMITERS = " /-:,._[]"
DATETIME_TOKEN = re.compile(r"(.)\1*", re.DOTALL)


def _format_datetime(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`format_datetime(time, format)`: the format's elements (`yyyy`, `MM`, `dd`, `HH`, `hh`,
    `mm`, `ss`, `f`.., `tt`; a single letter without a leading zero) and delimiters, in UTC."""
    form = _constant(builder, node, 1)
    if len(args) != 2 or not isinstance(form, str) or not form:
        raise builder.backend.unsupported("format_datetime() without a constant format", node)
    time = _utc("_1")
    parts = {
        "YEAR_": f"CAST(EXTRACT(YEAR FROM {time}) AS BIGINT)",
        "MICRO_": f"CAST(EXTRACT(MICROSECONDS FROM {time}) AS BIGINT) % 1000000",
        "SECOND_": f"CAST(FLOOR(EXTRACT(SECOND FROM {time})) AS BIGINT)",
        **{
            f"{p}_": f"CAST(EXTRACT({p} FROM {time}) AS BIGINT)"
            for p in ("MONTH", "DAY", "HOUR", "MINUTE")
        },
    }
    pieces = []
    for token in (m.group(0) for m in DATETIME_TOKEN.finditer(form)):
        if token[0] in DATETIME_DELIMITERS:
            pieces.append("'" + token.replace("'", "''") + "'")
            continue
        piece = DATETIME_PARTS.get(token)
        if piece is None:
            detail = "Microsoft's documentation defines only its listed elements and delimiters"
            raise builder.backend.unsupported(f"format_datetime() of {token!r}", node, detail)
        for name, value in parts.items():
            piece = piece.replace(name, value)
        padded = len(token) == 2 and token not in ("yy", "tt")
        pieces.append(
            f"LPAD(CAST({piece} AS TEXT), 2, '0')" if padded else f"CAST({piece} AS TEXT)"
        )
    return fill(" || ".join(pieces), "duckdb", [convert(builder, "t", args[0])])


BYTE_UNITS = ("Bytes", "KB", "MB", "GB", "TB", "PB", "EB")


def _format_bytes(builder: QueryBuilder, args: Args, node: ir.Node) -> exp.Expression:
    """`format_bytes(size [, 0 [, units]])`: the size in `units` of 1024 of the one before (the
    largest not above the size when not given), rounded to a whole number. With digits after
    the point, the documentation does not say whether trailing zeros are written."""
    precision = _constant(builder, node, 1) if len(args) > 1 else 0
    units = _constant(builder, node, 2) if len(args) > 2 else ""
    if (
        len(args) > 3
        or units not in ("", *BYTE_UNITS)
        or precision != 0
        or type(precision) is not int
    ):
        what = "format_bytes() other than rounded to a whole number, in constant units"
        raise builder.backend.unsupported(what, node)
    size = convert(builder, "n", args[0])

    def shown(power: int) -> str:
        value = f"CAST(ROUND(_1 / {1024**power}.0) AS BIGINT)"
        return f"CAST({value} AS TEXT) || ' {BYTE_UNITS[power]}'"

    if units:
        return fill(shown(BYTE_UNITS.index(units)), "duckdb", [size])
    ifs = " ".join(
        f"WHEN ABS(_1) >= {1024**p} THEN {shown(p)}" for p in range(len(BYTE_UNITS) - 1, 0, -1)
    )
    return fill(f"CASE {ifs} ELSE {shown(0)} END", "duckdb", [size])


CODE: dict[str, Builder] = {
    "index": _index,
    "pack_array": _pack_array,
    "pack": _pack,
    "bag_pack": _pack,
    "pack_dictionary": _pack,
    "bin": _bin,
    "extract": _extract,
    "extract_all": _extract_all,
    "translate": _translate,
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
    "row_number": _row_number,
    "bin_at": _bin_at,
    "datetime_add": _datetime_add,
    "array_index_of": _array_index_of,
    "array_slice": _array_slice,
    "indexof": _indexof,
    "indexof_regex": _indexof_regex,
    "format_datetime": _format_datetime,
    "format_bytes": _format_bytes,
    "pack_all": _pack_all,
}


# Functions (series ones above all) whose result Microsoft's documentation leaves open, and what
# it leaves open.
UNDEFINED = {
    "series_decompose": "its seasonality detection and trend fitting",
    "series_decompose_anomalies": "its seasonality detection, trend fitting and score",
    "series_decompose_forecast": "its seasonality detection and trend fitting",
    "series_fit_2lines": "which split points it tries and how it breaks ties",
    "series_fit_2lines_dynamic": "which split points it tries and how it breaks ties",
    "series_outliers": "its outlier score beyond Tukey's fences",
    "series_periods_detect": "its period detection",
    "series_periods_validate": "its period scoring",
    "parse_url": (
        "the parts of URLs other than its one example (whose Path, `this/is/a/path`, lacks the "
        "leading `/` that queries written against the service read)"
    ),
    "parse_user_agent": "the browser, OS and device names it finds",
    "parse_path": (
        "the parts of paths other than its examples' (a path ending in a separator, a file name "
        "without an extension, a long path `\\\\?\\`)"
    ),
}


def left_open(builder: QueryBuilder, name: str, node: ir.Node) -> ir.RuleError:
    """The diagnostic for a function whose result is not documented exactly."""
    left = UNDEFINED[name]
    detail = f"Microsoft's documentation does not define {left} exactly"
    return builder.backend.unsupported(f"the function {name}()", node, detail)


def build_function(
    builder: QueryBuilder, name: str, args: Args, node: ir.Node
) -> exp.Expression | None:
    """The SQL for the function `name`, or None when the table does not have it."""
    if name in CODE:
        return CODE[name](builder, args, node)
    template = TEMPLATES.get(f"{name}/{len(args)}") or TEMPLATES.get(name)
    if template is None and name in UNDEFINED:
        raise left_open(builder, name, node)
    if template is None:
        return None
    if len(args) != len(template.kinds):
        raise builder.backend.unsupported(f"the function {name}() with {len(args)} arguments", node)
    converted = [convert(builder, k, a) for k, a in zip(template.kinds, args, strict=True)]
    return render(builder, template, converted)


# ---------------------------------------------------------------------- aggregates

# make_bag: the keys of every property bag in the group; where bags share a key, Microsoft's
# documentation lets any one of their values be taken (here the last merged)
BAGS = "LIST(_1) FILTER (WHERE CASE WHEN JSON_VALID(_1) THEN JSON_TYPE(_1) = 'OBJECT' END)"
MAKE_BAG = Template(
    f"CAST(TO_JSON(LIST_REDUCE(LIST_TRANSFORM(COALESCE({BAGS}, []), x -> CAST(CAST(x AS JSON) "
    "AS MAP(VARCHAR, JSON))), (a, b) -> MAP_CONCAT(a, b), MAP {})) AS VARCHAR)",
    "-",
    "(SELECT CAST(COALESCE(JSONB_OBJECT_AGG(e.key, e.value), '{}') AS TEXT) FROM "
    "JSONB_ARRAY_ELEMENTS(JSONB_AGG(CAST(_1 AS JSONB)) FILTER (WHERE _1 ~ '^\\s*\\{')) AS b(bag), "
    "JSONB_EACH(b.bag) AS e)",
)
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
    if func == "take_anyif" and value is not None and len(extra) == 1:
        return fill("MIN(CASE WHEN _2 THEN _1 END)", "duckdb", [value, *extra])
    if func == "make_bag" and value is not None and not extra:
        return render(builder, MAKE_BAG, [value])
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
