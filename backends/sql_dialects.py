"""What differs between SQL engines: parsing text as numbers and times, and regex flags.

`SqlDialect` is the default (DuckDB semantics; any sqlglot dialect with TRY_CAST and RE2/Java-like
inline flags). `PostgresDialect` and `SparkDialect` override the hooks that their engines spell
differently.
"""

from __future__ import annotations

import functools
import re
from datetime import timedelta

import sqlglot
from sqlglot import exp

from rulec.backends.sql_are_regex import are_regex
from rulec.backends.sql_java_regex import NotPortable, java_regex
from rulec.backends.values import regex_flags
from rulec.compiler import ir

# The texts DuckDB's TRY_CAST(... AS DOUBLE) reads as a number (the reference): digits grouped
# by `_`, `inf`, `infinity` and `nan` in any case, and a sign written `+-`.
DIGITS = r"[0-9]+(_[0-9]+)*"
NUMBER_TEXT = (
    rf"(?i)^\s*\+?-?(inf|infinity|nan|({DIGITS}(\.({DIGITS})?)?|\.{DIGITS})(e[-+]?{DIGITS})?)\s*$"
)
TIMESTAMP_TEXT = r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}"
LEADING_FLAGS = re.compile(r"^\(\?([imsU]+)\)")


def split_leading_flags(pattern: str) -> tuple[set[str], str]:
    """`(?i)abc` -> ({"i"}, "abc"): inline flags at the very start of a regex."""
    flags: set[str] = set()
    while match := LEADING_FLAGS.match(pattern):
        flags.update(match.group(1))
        pattern = pattern[match.end() :]
    return flags, pattern


class SqlDialect:
    """Hooks for one sqlglot dialect; the defaults are DuckDB's."""

    templates = "duckdb"  # the dialect whose text of a function template it takes
    star_columns = False  # every column but some, or renamed, without a schema (COLUMNS, EXCLUDE)
    series_bins = True  # GENERATE_SERIES rows and EXTRACT(EPOCH FROM interval) (make-series)
    unnest_positions = False  # mv-expand numbers rows by UNNEST in the select list, not LATERAL
    # PostgreSQL's arrays and JSONB (REGEXP_MATCH's array, ARRAY_AGG, `->>`) rather than DuckDB's
    # lists and JSON functions
    postgres_arrays = False
    json_array, json_object = "JSON_ARRAY", "JSON_OBJECT"  # the functions building JSON text
    # REGEXP_EXTRACT_ALL, REGEXP_REPLACE with RE2's rewrite (`\\1`); else ARE's where it is RE2's
    re2_rewrites = True
    json_valid = True  # JSON_VALID guards text that is no JSON (else PG_INPUT_IS_VALID)

    def __init__(self, name: str):
        self.name = name
        self.sqlglot = sqlglot.Dialect.get_or_raise(name)  # the generator of this dialect's SQL

    def to_text(self, value: exp.Expression) -> exp.Expression:
        return exp.cast(value, exp.DataType.build("VARCHAR"))

    def to_number(self, value: exp.Expression) -> exp.Expression:
        return exp.TryCast(this=value, to=exp.DataType.build("DOUBLE"))

    def to_timestamp(self, value: exp.Expression) -> exp.Expression:
        return exp.TryCast(this=value, to=exp.DataType.build("TIMESTAMPTZ"))

    def interval(self, span: timedelta) -> exp.Expression:
        micros = round(span.total_seconds() * 1_000_000)
        amount, unit = (
            (micros // 1_000_000, "SECOND") if micros % 1_000_000 == 0 else (micros, "MICROSECOND")
        )
        return exp.Interval(this=exp.Literal.string(str(amount)), unit=exp.var(unit))

    @property
    def target(self) -> str:
        """The name of the rulec target writing this dialect."""
        return f"sql:{self.name}"

    def inline_flags(self, case_sensitive: bool) -> str:
        """The inline flags of a regex whose text is built at run time (no `m` or `s`)."""
        return "" if case_sensitive else "i"

    def regex(
        self, value: exp.Expression, pattern: str, case_sensitive: bool, flags: frozenset[str]
    ) -> exp.Expression:
        """RE2 semantics: a partial match; flags i, m, s as inline flags."""
        inline, body = split_leading_flags(pattern)
        prefix = regex_flags((inline | set(flags)) - {"U"}, case_sensitive)
        return exp.RegexpLike(this=value, expression=exp.Literal.string(prefix + body))

    def count_matches(self, text: exp.Expression, pattern: exp.Expression) -> exp.Expression:
        """How many non-overlapping matches of `pattern` (as `regex` writes it) `text` holds."""
        found = exp.Anonymous(this="REGEXP_EXTRACT_ALL", expressions=[text, pattern])
        return exp.Anonymous(this="LEN", expressions=[found])

    def sequence_regex(self, pattern: str) -> str:
        """A regex anchored at the text's start, of literals and quantified atoms in sequence
        (`parse`'s), written so that its captures are RE2's: each quantifier lazy or greedy on
        its own, the earlier first."""
        return pattern

    def regex_group(
        self, text: exp.Expression, regex: exp.Expression, group: int
    ) -> exp.Expression:
        """The text of capture `group` of the first match of `regex` (from `sequence_regex`)."""
        return exp.RegexpExtract(this=text, expression=regex, group=exp.Literal.number(group))

    def split_part(
        self, text: exp.Expression, separator: exp.Expression, index: exp.Expression
    ) -> exp.Expression:
        """Part `index` (from 1) of `text` split at `separator`."""
        return exp.SplitPart(this=text, delimiter=separator, part_index=index)


class DuckDBDialect(SqlDialect):
    """DuckDB: the reference's engine, with its star expressions."""

    star_columns = True
    unnest_positions = True
    target = "duckdb"

    def split_part(
        self, text: exp.Expression, separator: exp.Expression, index: exp.Expression
    ) -> exp.Expression:
        # written as sqlglot writes SPLIT_PART for DuckDB, which first copies the whole text
        return exp.Anonymous(this="SPLIT_PART", expressions=[text, separator, index])


class PostgresDialect(SqlDialect):
    """PostgreSQL: no TRY_CAST, and POSIX ARE regexes whose newline options differ from RE2."""

    templates = "postgres"
    target = "postgres"
    postgres_arrays = True
    json_array, json_object = "JSONB_BUILD_ARRAY", "JSONB_BUILD_OBJECT"
    re2_rewrites = False
    json_valid = False

    def to_number(self, value: exp.Expression) -> exp.Expression:
        """Texts read as DuckDB reads them: `+-2` is -2 and `1_000` is 1000 (PostgreSQL's own
        input takes neither)."""
        return self._guarded(value, NUMBER_TEXT, "DOUBLE PRECISION", _plain_number)

    def to_timestamp(self, value: exp.Expression) -> exp.Expression:
        if isinstance(value, exp.Literal):
            return exp.cast(value, exp.DataType.build("TIMESTAMPTZ"))
        return self._guarded(value, TIMESTAMP_TEXT, "TIMESTAMPTZ")

    def _guarded(
        self, value: exp.Expression, shape: str, to: str, clean=lambda text: text
    ) -> exp.Expression:
        text = self.to_text(value)
        fits = exp.RegexpLike(this=text, expression=exp.Literal.string(shape))
        cast = exp.cast(clean(text.copy()), exp.DataType.build(to, dialect="postgres"))
        return exp.Case(ifs=[exp.If(this=fits, true=cast)])

    def regex(
        self, value: exp.Expression, pattern: str, case_sensitive: bool, flags: frozenset[str]
    ) -> exp.Expression:
        """The pattern rewritten with RE2's meaning (`sql_are_regex`), run in ARE's default mode
        (`^`/`$` anchor the text, a negated class takes a newline, as in RE2's) or, with `m`, in
        ARE's `w` (`^`/`$` at lines too); `.` is rewritten by `s`."""
        inline, body = split_leading_flags(pattern)
        wanted = inline | set(flags)
        insensitive = "i" if ("i" in wanted or not case_sensitive) else ""
        try:
            are = are_regex(body, dot_all="s" in wanted, fold=bool(insensitive))
        except NotPortable as error:
            raise _not_portable(self.target, pattern, str(error)) from None
        mode = "w" if "m" in wanted else ""
        options = f"(?{mode}{insensitive})" if mode or insensitive else ""
        return exp.RegexpLike(this=value, expression=exp.Literal.string(options + are))

    def count_matches(self, text: exp.Expression, pattern: exp.Expression) -> exp.Expression:
        matches = exp.Anonymous(
            this="REGEXP_MATCHES", expressions=[text, pattern, exp.Literal.string("g")]
        )
        counted = exp.select(exp.Count(this=exp.Star())).from_(matches)
        return exp.Subquery(this=counted)

    def sequence_regex(self, pattern: str) -> str:
        """ARE gives the whole match the greediness of the regex's first quantifier, then shares
        it out among the parts from the left, each by its own greediness. Made to match up to
        the end of the text, the whole match has one length under either rule, and the parts
        get what RE2 gives them; `p`: `.` takes no newline and `$` is the text's end, as in RE2."""
        tail = "" if pattern.endswith("$") else r"(?:.|\n)*$"
        return f"(?p){pattern}{tail}"

    def regex_group(
        self, text: exp.Expression, regex: exp.Expression, group: int
    ) -> exp.Expression:
        # sqlglot counts array subscripts from 0 and writes PostgreSQL's 1-based ones
        groups = exp.Anonymous(this="REGEXP_MATCH", expressions=[text, regex])
        return exp.Bracket(this=exp.Paren(this=groups), expressions=[exp.Literal.number(group - 1)])


def _plain_number(text: exp.Expression) -> exp.Expression:
    """`text` without digit-group underscores, a leading `+-` written `-`."""
    signed = exp.RegexpReplace(
        this=text, expression=exp.Literal.string(r"^\s*\+-"), replacement=exp.Literal.string("-")
    )
    return exp.func("REPLACE", signed, exp.Literal.string("_"), exp.Literal.string(""))


class SparkDialect(SqlDialect):
    """Spark SQL: STRING and TRY_CAST (errors, not nulls, under ANSI mode otherwise), and RLIKE,
    whose Java regexes are rewritten to keep RE2's meaning (`sql_java_regex`)."""

    series_bins = False

    def to_text(self, value: exp.Expression) -> exp.Expression:
        return exp.cast(value, exp.DataType.build("STRING", dialect="spark"))

    def to_number(self, value: exp.Expression) -> exp.Expression:
        return exp.TryCast(this=value, to=exp.DataType.build("DOUBLE"), safe=True)

    def to_timestamp(self, value: exp.Expression) -> exp.Expression:
        return exp.TryCast(this=value, to=exp.DataType.build("TIMESTAMP"), safe=True)

    def regex(
        self, value: exp.Expression, pattern: str, case_sensitive: bool, flags: frozenset[str]
    ) -> exp.Expression:
        inline, body = split_leading_flags(pattern)
        wanted = inline | set(flags) | (set() if case_sensitive else {"i"})
        try:
            java = java_regex(body, wanted)
        except NotPortable as error:
            raise _not_portable(f"sql:{self.name}", pattern, str(error)) from None
        return exp.RegexpLike(this=value, expression=exp.Literal.string(java))

    def count_matches(self, text: exp.Expression, pattern: exp.Expression) -> exp.Expression:
        return exp.Anonymous(this="REGEXP_COUNT", expressions=[text, pattern])


def _not_portable(target: str, pattern: str, why: str) -> ir.RuleError:
    message = f"{target} cannot express the regex {pattern!r} with RE2's meaning: {why}"
    return ir.RuleError(ir.Diagnostic(code="unsupported", message=message, target=target))


DIALECTS: dict[str, type[SqlDialect]] = {
    "duckdb": DuckDBDialect,
    "postgres": PostgresDialect,
    "spark": SparkDialect,
    "databricks": SparkDialect,  # Spark SQL with the same Java regexes
}


@functools.lru_cache(maxsize=64)
def dialect_for(name: str) -> SqlDialect:
    """The hooks for a sqlglot dialect name (shared: they keep no state); unknown names raise
    ValueError."""
    return DIALECTS.get(name, SqlDialect)(name)
