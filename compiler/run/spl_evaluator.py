"""An evaluator of the SPL that `backends/spl.py` emits: the engine of `rulec run --engine spl`.

No Splunk runs here, so this module executes the subset of SPL that rulec writes over flat event
dicts (the events every engine sees), following Splunk's documented semantics:

- Search Reference, `search` (help.splunk.com/splunk-enterprise/spl-search-reference/9.4/
  search-commands/search): `field=value` matches the whole field value, case-insensitively, and `*`
  is always a wildcard that no backslash escapes; field names are case-sensitive; in a quoted
  string `\\\\` is one backslash and `\\"` a quote, other backslash sequences stay as written
  (Search Manual, "Backslashes"); OR binds tighter than the implied AND.
- Search Manual, "Difference between != and NOT" (docs.splunk.com/Documentation/Splunk/9.0.2/
  Search/NOTexpressions): `field!=x` never selects an event without the field, `NOT field=x` does.
- `where`/`eval` (Search Reference, "Evaluation functions"): comparisons are case-sensitive;
  `like()` takes `%` and `_`; `match()` and `| regex` are PCRE, unanchored; `cidrmatch()`;
  `lower()`, `isnull()`, `isnotnull()`, `in()`, `if()`, `coalesce()`, `len()`, `tonumber()`,
  `substr()` (1-based), `strptime()` with the variables of "Date and time format variables"
  (help.splunk.com/en/splunk-enterprise/spl-search-reference/9.3/time-format-variables-and-
  modifiers: `%Y %m %d %H %M %S`, `%Z` a time zone abbreviation);
  a field whose text is a number compares as a number; booleans cannot be assigned by `eval`.
- `stats`, `eventstats`, `streamstats` (Search Reference, "streamstats": `window`, `global`
  (default true: one window over all events, not one per `by` group), `current`, `time_window`,
  which needs events in time order); `stats` leaves out events lacking a `by` field; `sort`
  (Search Reference, "sort": by default numbers sort as numbers and other values as text,
  `str()`/`num()` force one; results missing the field count as the largest value ascending and
  the smallest descending, so last either way), `bin`, `fields`, `table`, `rename`, `head`,
  `multisearch`;
  subsearches (Search Manual, "About subsearches"): `[| inputlookup T | ...]` becomes the
  search terms of its results, `(f="a") OR (f="b")`, with `*` still a wildcard.

Where the documentation does not settle a case, the evaluator raises `Undocumented` rather than
guess: text ordered against a number or compared with a boolean, two texts equal as numbers but
written differently, numbers written other than as plain decimals, case-insensitive matching of
non-ASCII letters, dotted quads with leading zeros, a subsearch without results. Four readings
are this module's: null stays null through `NOT` and comparisons in `where` (the stricter
reading, so an unguarded negation shows); `time_window` includes an event exactly one span
earlier; regex classes `\\d`, `\\s`, `\\w` are ASCII (PCRE's default, without UCP); `%Z`
reads ISO 8601's `Z` as UTC, like `UTC` and `GMT` (other zones, and text left after the
format, are undocumented), and text not in the format gives null.
Anything outside the subset raises `SplError`, so a test can never pass on text it did not read.
Events get `_time` (epoch seconds) from their `time_field`, as Splunk's timestamp extraction
would; a generating search returns them newest first, as Splunk does.
"""

from __future__ import annotations

import ipaddress
import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from rulec.compiler.run.event_time import instant

Row = dict[str, object]


class SplError(Exception):
    """The text is outside the SPL subset this evaluator reads."""


class Undocumented(Exception):
    """Splunk's documentation does not say what this input gives."""


# ------------------------------------------------------------------------------------ lexing

EVAL_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<field>'[^']*')
    |(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_]\w*(?:\.\w+)*)
    |(?P<op>==|!=|<=|>=|[=<>()+\-*/%,.]))""",
    re.X | re.S | re.ASCII,
)
SEARCH_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<subsearch>\[(?:[^\[\]"]|"(?:[^"\\]|\\.)*")*\])
    |(?P<op>!=|<=|>=|[=<>(),])|(?P<word>[^\s()=<>!,"\[\]]+))""",
    re.S | re.X,
)


@dataclass(frozen=True)
class Token:
    kind: str  # string | field | number | name | op | word | end
    text: str


def tokens(text: str, pattern: re.Pattern[str]) -> list[Token]:
    found, index = [], 0
    while text[index:].strip():
        match = pattern.match(text, index)
        if match is None or match.end() == index:
            raise SplError(f"cannot read {text[index : index + 20]!r}")
        found.append(Token(match.lastgroup or "", match.group(match.lastgroup or 0)))
        index = match.end()
    return [*found, Token("end", "")]


def unquote(literal: str) -> str:
    """A quoted SPL string's value: `\\\\` and `\\"` are escapes, other sequences stay."""
    return re.sub(r'\\([\\"])', r"\1", literal[1:-1])


class Cursor:
    def __init__(self, items: list[Token]):
        self.items, self.index = items, 0

    @property
    def peek(self) -> Token:
        return self.items[self.index]

    def take(self) -> Token:
        token = self.items[self.index]
        self.index += 1
        return token

    def accept(self, text: str) -> bool:
        if self.peek.kind in ("op", "name", "word") and self.peek.text == text:
            self.index += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.accept(text):
            raise SplError(f"expected {text!r}, found {self.peek.text!r}")

    def done(self) -> None:
        if self.peek.kind != "end":
            raise SplError(f"unexpected {self.peek.text!r}")


# ------------------------------------------------------------------------------------ values

PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
LOOSE_NUMBER = re.compile(r"\s*[+-]*(?:inf|infinity|nan|[0-9_.]+(?:e[-+]?[0-9_]+)?|0x\w+)\s*", re.I)


def as_number(value: object) -> float | None:
    """A value as Splunk's eval reads a number, None for text; Undocumented when unclear."""
    if isinstance(value, bool):
        raise Undocumented("a boolean used as a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if PLAIN_NUMBER.fullmatch(value):
            return float(value)
        if LOOSE_NUMBER.fullmatch(value) and any(c.isdigit() or c in "nN" for c in value):
            raise Undocumented(f"whether {value!r} is a number")
    return None


def text_of(value: object) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def fold(text: str) -> str:
    """Case-insensitive matching; Splunk documents no Unicode case folding."""
    if any(ord(c) > 127 and (c.lower() != c or c.upper() != c) for c in text):
        raise Undocumented(f"case-insensitive matching of the non-ASCII letters in {text!r}")
    return text.lower()


def wildcard(pattern: str, text: str) -> bool:
    """Search-time matching: the whole value, case-insensitive, `*` any run of characters."""
    body = ".*".join(re.escape(part) for part in fold(pattern).split("*"))
    return re.fullmatch(body, fold(text), re.S) is not None


def pcre(pattern: str) -> re.Pattern[str]:
    """A PCRE pattern as Python's `re`: `\\z` is Python's `\\Z`, PCRE's `\\Z` has no twin;
    `\\d`, `\\s`, `\\w` are ASCII classes, as in PCRE without UCP."""
    if re.search(r"(?<!\\)(?:\\\\)*\\Z", pattern):
        raise SplError(f"PCRE \\Z in {pattern!r}")
    if re.search(r"\(\?[a-z]*i", pattern):
        fold(re.sub(r"\\.", "", pattern))
    try:
        return re.compile(re.sub(r"(?<!\\)((?:\\\\)*)\\z", r"\1\\Z", pattern), re.ASCII)
    except re.error as error:
        raise SplError(f"the regex {pattern!r} does not read as PCRE here: {error}") from None


def regex_search(pattern: str, text: str) -> bool:
    compiled = pcre(pattern)
    if compiled.flags & re.I:
        fold(text)
    return compiled.search(text) is not None


def order(left: object, right: object) -> tuple[object, object]:
    """Two values made comparable: numbers as numbers, text as text."""
    numbers = as_number(left), as_number(right)
    if None not in numbers:
        return numbers
    if isinstance(left, str) and isinstance(right, str):
        return left, right
    raise Undocumented(f"ordering {left!r} against {right!r}")


def equal(left: object, right: object) -> bool:
    """Text equals text as written; a number equals text that reads as the same number."""
    numbers = as_number(left), as_number(right)
    if isinstance(left, str) and isinstance(right, str):
        if left != right and None not in numbers and numbers[0] == numbers[1]:
            raise Undocumented(f"whether {left!r} equals {right!r} as numbers")
        return left == right
    return None not in numbers and numbers[0] == numbers[1]


def compare(op: str, left: object, right: object) -> bool | None:
    if left is None or right is None:
        return None
    if isinstance(left, bool) or isinstance(right, bool):
        raise Undocumented(f"comparing {left!r} with {right!r}")
    if op in ("==", "=", "!="):
        same = equal(left, right)
        return same if op != "!=" else not same
    a, b = order(left, right)
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]  # type: ignore[operator]


def cidr(network: object, address: object) -> bool | None:
    if address is None:
        return None
    text = text_of(address)
    if re.fullmatch(r"[0-9.]+", text) and re.search(r"(?:^|\.)0\d", text):
        raise Undocumented(f"cidrmatch on the dotted quad {text!r} with leading zeros")
    try:
        return ipaddress.ip_address(text) in ipaddress.ip_network(str(network), strict=False)
    except ValueError:
        return False


def like(text: object, pattern: object) -> bool | None:
    if text is None:
        return None
    body = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in str(pattern))
    return re.fullmatch(body, text_of(text), re.S) is not None


# ------------------------------------------------------------------------------- eval syntax

Expr = Callable[[Row], object]


def both(a: object, b: object, op: str) -> bool | None:
    """Three-valued AND / OR."""
    if op == "AND":
        if a is False or b is False:
            return False
        return None if a is None or b is None else True
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
ARITH["%"] = math.fmod


def arith(op: str, a: object, b: object) -> object:
    if a is None or b is None:
        return None
    if op == ".":
        return text_of(a) + text_of(b)
    x, y = as_number(a), as_number(b)
    if x is None or y is None:
        raise Undocumented(f"arithmetic on {a!r} and {b!r}")
    if op in "/%" and y == 0:
        return None
    return ARITH[op](x, y)


def null_safe(function: Callable[..., object]) -> Callable[..., object]:
    return lambda value, *rest: None if value is None else function(value, *rest)


STRPTIME = {"%Y": r"(?P<Y>\d{4})", "%m": r"(?P<m>\d{1,2})", "%d": r"(?P<d>\d{1,2})"}
STRPTIME |= {"%H": r"(?P<H>\d{1,2})", "%M": r"(?P<M>\d{1,2})", "%S": r"(?P<S>\d{1,2})"}
STRPTIME |= {"%Z": r"(?P<Z>[A-Za-z]+)"}


def strptime(text: object, layout: object) -> float | None:
    """Epoch seconds of `text` read by `layout` (the subset of Splunk's "Date and time format
    variables" rulec writes), null when it does not match."""
    if text is None:
        return None
    parts = re.split(r"(%.)", str(layout))
    if any(p.startswith("%") and p not in STRPTIME for p in parts):
        raise SplError(f"the strptime format {layout!r} is outside the subset")
    pattern = re.compile("".join(STRPTIME.get(p) or re.escape(p) for p in parts), re.ASCII)
    found = pattern.match(text_of(text))
    if found is None:
        return None
    if found.end() != len(text_of(text)):
        raise Undocumented(f"whether strptime reads {text!r} with text after {layout!r}")
    if found.groupdict().get("Z", "Z") not in ("Z", "UTC", "GMT"):
        raise Undocumented(f"the time zone {found['Z']!r}")
    fields = {k: int(v) for k, v in found.groupdict().items() if k != "Z"}
    try:
        moment = datetime(
            fields["Y"],
            fields["m"],
            fields["d"],
            fields.get("H", 0),
            fields.get("M", 0),
            fields.get("S", 0),
            tzinfo=timezone.utc,
        )
    except (KeyError, ValueError):
        return None
    return moment.timestamp()


def substr(text: object, start: object, length: object = None) -> str | None:
    """`substr(X, Y, Z)`: Z characters of X from the 1-based index Y (all the rest without Z)."""
    if text is None:
        return None
    first = as_number(start)
    if first is None or first < 1 or not first.is_integer():
        raise SplError(f"substr from {start!r} is outside the subset")
    rest = text_of(text)[int(first) - 1 :]
    return rest if length is None else rest[: int(as_number(length) or 0)]


FUNCTIONS: dict[str, Callable[..., object]] = {
    "lower": null_safe(lambda v: fold(text_of(v))),
    "upper": null_safe(lambda v: fold(text_of(v)).upper()),
    "len": null_safe(lambda v: len(text_of(v))),
    "tostring": null_safe(text_of),
    "tonumber": null_safe(as_number),
    "isnull": lambda v: v is None,
    "isnotnull": lambda v: v is not None,
    "null": lambda: None,
    "true": lambda: True,
    "false": lambda: False,
    "coalesce": lambda *vs: next((v for v in vs if v is not None), None),
    "if": lambda c, a, b: a if c is True else b,
    "in": lambda v, *vs: None if v is None else any(compare("==", v, x) for x in vs),
    "match": lambda v, p: None if v is None else regex_search(str(p), text_of(v)),
    "cidrmatch": cidr,
    "like": like,
    "strptime": strptime,
    "substr": substr,
}


class EvalParser:
    """`where`/`eval` expressions: OR < AND < NOT < comparison < + - < * / % < unary."""

    def __init__(self, text: str):
        self.cursor = Cursor(tokens(text, EVAL_TOKEN))

    def parse(self) -> Expr:
        expr = self.disjunction()
        self.cursor.done()
        return expr

    def disjunction(self) -> Expr:
        expr = self.conjunction()
        while self.cursor.accept("OR"):
            expr = self.logic(expr, self.conjunction(), "OR")
        return expr

    def conjunction(self) -> Expr:
        expr = self.negation()
        while self.cursor.accept("AND"):
            expr = self.logic(expr, self.negation(), "AND")
        return expr

    @staticmethod
    def logic(left: Expr, right: Expr, op: str) -> Expr:
        return lambda row: both(left(row), right(row), op)

    def negation(self) -> Expr:
        if self.cursor.accept("NOT"):
            inner = self.negation()
            return lambda row: None if (v := inner(row)) is None else not v
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.sum()
        op = self.cursor.peek.text
        if self.cursor.peek.kind == "op" and op in ("==", "=", "!=", "<", "<=", ">", ">="):
            self.cursor.take()
            right = self.sum()
            return lambda row: compare(op, left(row), right(row))
        return left

    def sum(self) -> Expr:
        return self.chain(self.product, "+-.")

    def product(self) -> Expr:
        return self.chain(self.unary, "*/%")

    def chain(self, operand: Callable[[], Expr], ops: str) -> Expr:
        expr = operand()
        while self.cursor.peek.kind == "op" and self.cursor.peek.text in ops:
            op, left, right = self.cursor.take().text, expr, operand()
            expr = lambda row, op=op, left=left, right=right: arith(op, left(row), right(row))  # noqa: E731
        return expr

    def unary(self) -> Expr:
        if self.cursor.accept("-"):
            inner = self.unary()
            return lambda row: arith("-", 0, inner(row))
        return self.primary()

    def primary(self) -> Expr:
        token = self.cursor.take()
        if token.kind == "string":
            value = unquote(token.text)
            return lambda row: value
        if token.kind == "number":
            number = float(token.text)
            return lambda row: number
        if token.kind == "field":
            name = token.text[1:-1]
            return lambda row: row.get(name)
        if token.kind == "name" and self.cursor.accept("("):
            return self.call(token.text)
        if token.kind == "name" and token.text not in ("AND", "OR", "NOT"):
            return lambda row: row.get(token.text)
        if token.text == "(":
            inner = self.disjunction()
            self.cursor.expect(")")
            return inner
        raise SplError(f"unexpected {token.text!r} in an eval expression")

    def call(self, name: str) -> Expr:
        function = FUNCTIONS.get(name)
        if function is None:
            raise SplError(f"the eval function {name}() is outside the subset")
        args: list[Expr] = []
        while not self.cursor.accept(")"):
            if args:
                self.cursor.expect(",")
            args.append(self.disjunction())
        return lambda row: function(*(a(row) for a in args))


# ----------------------------------------------------------------------------- search syntax

Predicate = Callable[[Row], bool]


class SearchParser:
    """The `search` language: `NOT` > `OR` > implied or explicit `AND`."""

    def __init__(self, text: str, subsearch: Callable[[str], list[Row]]):
        self.cursor = Cursor(tokens(text, SEARCH_TOKEN))
        self.subsearch = subsearch

    def parse(self) -> Predicate:
        if self.cursor.peek.kind == "end":
            raise SplError("an empty search")
        expr = self.conjunction()
        self.cursor.done()
        return expr

    def conjunction(self) -> Predicate:
        parts = [self.disjunction()]
        while self.cursor.peek.kind != "end" and self.cursor.peek.text != ")":
            self.cursor.accept("AND")
            parts.append(self.disjunction())
        return lambda row: all(p(row) for p in parts)

    def disjunction(self) -> Predicate:
        parts = [self.negation()]
        while self.cursor.accept("OR"):
            parts.append(self.negation())
        return lambda row: any(p(row) for p in parts)

    def negation(self) -> Predicate:
        if self.cursor.accept("NOT"):
            inner = self.negation()
            return lambda row: not inner(row)
        return self.atom()

    def atom(self) -> Predicate:
        if self.cursor.accept("("):
            inner = self.conjunction()
            self.cursor.expect(")")
            return inner
        token = self.cursor.take()
        if token.kind == "word" and token.text == "*":
            return lambda row: True
        if token.kind == "subsearch":
            return self.expanded(self.subsearch(token.text[1:-1]))
        if token.kind != "word" or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", token.text):
            raise SplError(f"a keyword search ({token.text!r}) is outside the subset")
        if self.cursor.accept("IN"):
            return self.listed(token.text)
        op = self.cursor.take()
        if op.kind != "op" or op.text not in ("=", "!=", "<", "<=", ">", ">="):
            raise SplError(f"expected a comparison after {token.text!r}, found {op.text!r}")
        return self.field_test(token.text, op.text, self.value())

    def value(self) -> str:
        token = self.cursor.take()
        if token.kind == "string":
            return unquote(token.text)
        if token.kind == "word" and token.text not in ("AND", "OR", "NOT"):
            return token.text
        raise SplError(f"expected a value, found {token.text!r}")

    def listed(self, name: str) -> Predicate:
        self.cursor.expect("(")
        values = [self.value()]
        while self.cursor.accept(","):
            values.append(self.value())
        self.cursor.expect(")")
        return lambda row: (
            row.get(name) is not None and any(wildcard(v, text_of(row[name])) for v in values)
        )

    def expanded(self, results: list[Row]) -> Predicate:
        """A subsearch's results as search terms (`format`): `(a="x" b="y") OR (...)`."""
        if not results:
            raise Undocumented("the search terms of a subsearch without results")
        terms = [
            [self.field_test(k, "=", text_of(v)) for k, v in row.items() if v is not None]
            for row in results
        ]
        return lambda row: any(all(test(row) for test in group) for group in terms)

    @staticmethod
    def field_test(name: str, op: str, value: str) -> Predicate:
        def test(row: Row) -> bool:
            have = row.get(name)
            if have is None:
                return False
            if op in ("=", "!="):
                return wildcard(value, text_of(have)) == (op == "=")
            return bool(compare(op, have, value))

        return test


# --------------------------------------------------------------------------------- commands


QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'', re.S)


def split_pipes(text: str) -> list[str]:
    """Commands separated by `|` outside quotes and `[...]` subsearches."""
    parts, start, depth, index = [], 0, 0, 0
    while index < len(text):
        char = text[index]
        if char in "\"'":
            match = QUOTED.match(text, index)
            if match is None:
                raise SplError("an unterminated string")
            index = match.end()
            continue
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "|" and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
        index += 1
    return [*parts, text[start:].strip()]


def options_and_rest(args: str, names: Iterable[str]) -> tuple[dict[str, str], str]:
    """Leading `name=value` options of a command, and the text after them."""
    options: dict[str, str] = {}
    pattern = re.compile(rf"\s*({'|'.join(names)})=(\S+)")
    while match := pattern.match(args):
        options[match.group(1)] = match.group(2)
        args = args[match.end() :]
    return options, args.strip()


def boolean(text: str) -> bool:
    if text.lower() in ("t", "true", "1"):
        return True
    if text.lower() in ("f", "false", "0"):
        return False
    raise SplError(f"not a boolean: {text!r}")


SPAN = re.compile(r"(\d+)(s|m|h|d)")
UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(span: str) -> int:
    match = SPAN.fullmatch(span)
    if match is None:
        raise SplError(f"not a time span: {span!r}")
    return int(match.group(1)) * UNIT[match.group(2)]


def names(text: str) -> list[str]:
    found = [n.strip().strip("'") for n in text.split(",")]
    if not all(found):
        raise SplError(f"expected field names, found {text!r}")
    return found


@dataclass(frozen=True)
class Aggregation:
    func: str
    field: str | None
    alias: str


AGGREGATES = ("count", "dc", "values", "last", "sum", "min", "max", "avg")
AGG = re.compile(r"\s*(\w+)(?:\(('[^']*'|[\w.]+)\))?(?:\s+AS\s+('[^']*'|[\w.]+))?\s*(?:,|$)")


def aggregations(text: str) -> tuple[list[Aggregation], list[str]]:
    """`func(field) AS name, ...` and the `by` fields."""
    by: list[str] = []
    head, found, by_text = text, [], ""
    split = re.split(r"\s+by\s+", text, maxsplit=1)
    if len(split) == 2:
        head, by_text = split
        by = names(by_text)
    index = 0
    while index < len(head):
        match = AGG.match(head, index)
        if match is None or match.end() == index:
            raise SplError(f"cannot read the aggregations {head!r}")
        func, field, alias = match.groups()
        if func not in AGGREGATES:
            raise SplError(f"the aggregation {func}() is outside the subset")
        field = field.strip("'") if field else None
        default = f"{func}({field})" if field else func
        found.append(Aggregation(func, field, (alias or default).strip("'")))
        index = match.end()
    return found, by


def numeric(values: list[object]) -> list[float]:
    numbers = [as_number(v) for v in values]
    if any(n is None for n in numbers):
        raise Undocumented(f"a numeric aggregate over the text in {values!r}")
    return numbers  # type: ignore[return-value]


def aggregate(agg: Aggregation, rows: list[Row]) -> object:
    if agg.func == "count" and agg.field is None:
        return len(rows)
    if agg.field is None:
        raise SplError(f"{agg.func} needs a field")
    values = [r[agg.field] for r in rows if r.get(agg.field) is not None]
    if agg.func == "count":
        return len(values)
    if agg.func == "dc":
        return len({text_of(v) for v in values})
    if agg.func == "values":
        return sorted({text_of(v) for v in values}) or None
    if agg.func == "last":
        return values[-1] if values else None
    if not values:
        return None
    reducers = {"sum": sum, "min": min, "max": max, "avg": lambda n: sum(n) / len(n)}
    return reducers[agg.func](numeric(values))


def group_key(row: Row, by: list[str]) -> tuple[str, ...] | None:
    """The row's `by` values, or None when one is missing (stats leaves such rows out)."""
    values = [row.get(name) for name in by]
    return None if any(v is None for v in values) else tuple(map(text_of, values))


def grouped(rows: list[Row], by: list[str]) -> dict[tuple[str, ...], list[Row]]:
    """The rows by their `by` values, rows missing one left out."""
    groups: dict[tuple[str, ...], list[Row]] = {}
    for row in rows:
        key = group_key(row, by)
        if key is not None:
            groups.setdefault(key, []).append(row)
    return groups


class Engine:
    """Runs one SPL text over events (and lookup tables, by name, for `inputlookup`)."""

    def __init__(
        self,
        events: list[Row],
        time_field: str | None = "TimeCreated",
        lookups: dict[str, list[Row]] | None = None,
    ):
        self.events = [with_time(event, time_field) for event in events]
        self.lookups = lookups or {}

    def run(self, text: str) -> list[Row]:
        commands = split_pipes(text.strip())
        if commands[0] == "":
            commands = commands[1:]
            if not commands or commands[0].split(" ")[0] not in ("multisearch", "inputlookup"):
                raise SplError("only multisearch and inputlookup may start with a pipe")
        rows: list[Row] | None = None
        for command in commands:
            rows = self.command(command, rows)
        return rows or []

    def command(self, command: str, rows: list[Row] | None) -> list[Row]:
        name, _, args = command.partition(" ")
        if rows is None:
            if name == "multisearch":
                return self.multisearch(args)
            if name == "inputlookup":
                return self.inputlookup(args)
            if name != "search":
                raise SplError(f"a search must start with search, not {name!r}")
            return newest_first(self.events, SearchParser(args, self.run).parse())
        handler = getattr(self, f"do_{name}", None)
        if handler is None:
            raise SplError(f"the command {name!r} is outside the subset")
        return handler(args, rows)

    def multisearch(self, args: str) -> list[Row]:
        subsearches = re.findall(r"\[((?:[^\[\]\"]|\"(?:[^\"\\]|\\.)*\")*)\]", args)
        if len(subsearches) < 2 or re.sub(r"\[.*?\]", "", args, flags=re.S).strip():
            raise SplError(f"cannot read the multisearch {args[:40]!r}")
        merged = [row for sub in subsearches for row in self.run(sub)]
        return sorted(merged, key=lambda r: -r["_time"] if "_time" in r else 0)

    def inputlookup(self, args: str) -> list[Row]:
        if args.strip() not in self.lookups:
            raise SplError(f"no lookup table named {args.strip()!r}")
        return [dict(row) for row in self.lookups[args.strip()]]

    def do_search(self, args: str, rows: list[Row]) -> list[Row]:
        test = SearchParser(args, self.run).parse()
        return [row for row in rows if test(row)]

    def do_where(self, args: str, rows: list[Row]) -> list[Row]:
        test = EvalParser(args).parse()
        return [row for row in rows if test(row) is True]

    def do_eval(self, args: str, rows: list[Row]) -> list[Row]:
        assignments = []
        for part in split_top_level(args):
            name, equals, expr = part.partition("=")
            if not equals or not re.fullmatch(r"\s*('[^']*'|[\w.]+)\s*", name):
                raise SplError(f"cannot read the eval assignment {part!r}")
            assignments.append((name.strip().strip("'"), EvalParser(expr).parse()))
        out = []
        for row in rows:
            row = dict(row)
            for name, expr in assignments:
                value = expr(row)
                if isinstance(value, bool):
                    raise SplError(f"eval cannot assign a boolean to {name}")
                row[name] = value
            out.append(row)
        return out

    def do_regex(self, args: str, rows: list[Row]) -> list[Row]:
        match = re.fullmatch(r'\s*(?:([\w.]+)(!?=))?\s*("(?:[^"\\]|\\.)*")\s*', args, re.S)
        if match is None:
            raise SplError(f"cannot read the regex command {args!r}")
        field, op, pattern = match.group(1) or "_raw", match.group(2) or "=", unquote(match[3])
        out = []
        for row in rows:
            value = row.get(field)
            if value is not None and regex_search(pattern, text_of(value)) == (op == "="):
                out.append(row)
        return out

    def do_sort(self, args: str, rows: list[Row]) -> list[Row]:
        limit, _, keys = args.strip().partition(" ")
        if not limit.isdigit():
            limit, keys = "0", args
        ordered = list(rows)
        for key in reversed([k.strip() for k in keys.split(",")]):
            match = SORT_KEY.fullmatch(key)
            if match is None:
                raise SplError(f"cannot read the sort key {key!r}")
            sign, collation, name = match[1], match[2] or "auto", match[3] or match[4]
            present = [r for r in ordered if r.get(name) is not None]
            absent = [r for r in ordered if r.get(name) is None]
            present.sort(key=lambda r: sort_key(r[name], collation), reverse=sign == "-")
            ordered = present + absent
        return ordered[: int(limit)] if int(limit) else ordered

    def do_head(self, args: str, rows: list[Row]) -> list[Row]:
        if not args.strip().isdigit():
            raise SplError(f"head takes a count, not {args!r}")
        return rows[: int(args)]

    def do_fields(self, args: str, rows: list[Row]) -> list[Row]:
        if args.startswith("- "):
            dropped = set(names(args[2:]))
            return [{k: v for k, v in r.items() if k not in dropped} for r in rows]
        kept = names(args.removeprefix("+ "))
        return [{k: r[k] for k in kept if k in r} for r in rows]

    def do_table(self, args: str, rows: list[Row]) -> list[Row]:
        kept = names(args)
        return [{k: r.get(k) for k in kept} for r in rows]

    def do_rename(self, args: str, rows: list[Row]) -> list[Row]:
        pairs = [re.fullmatch(r"\s*(\S+)\s+AS\s+(\S+)\s*", p) for p in args.split(",")]
        if not all(pairs):
            raise SplError(f"cannot read the rename {args!r}")
        out = []
        for row in rows:
            row = dict(row)
            for pair in pairs:
                old, new = pair[1].strip("'"), pair[2].strip("'")  # type: ignore[index]
                if old in row:
                    row[new] = row.pop(old)
            out.append(row)
        return out

    def do_bin(self, args: str, rows: list[Row]) -> list[Row]:
        match = re.fullmatch(r"\s*([\w.]+)\s+span=(\S+)(?:\s+AS\s+([\w.]+))?\s*", args)
        if match is None:
            raise SplError(f"cannot read the bin {args!r}")
        field, size = match[1], seconds(match[2])
        out = []
        for row in rows:
            value = as_number(row.get(field)) if row.get(field) is not None else None
            out.append({**row, match[3] or field: None if value is None else value // size * size})
        return out

    def do_stats(self, args: str, rows: list[Row]) -> list[Row]:
        aggs, by = aggregations(args)
        groups = grouped(rows, by) if by else {(): rows}
        return [
            {**dict(zip(by, key, strict=True)), **{a.alias: aggregate(a, members) for a in aggs}}
            for key, members in sorted(groups.items())
        ]

    def do_eventstats(self, args: str, rows: list[Row]) -> list[Row]:
        aggs, by = aggregations(args)
        groups = grouped(rows, by)
        out = []
        for row in rows:
            key = group_key(row, by)
            members = groups.get(key) if key is not None else None
            extra = {a.alias: aggregate(a, members) for a in aggs} if members else {}
            out.append({**row, **extra})
        return out

    def do_streamstats(self, args: str, rows: list[Row]) -> list[Row]:
        options, rest = options_and_rest(args, ("current", "window", "global", "time_window"))
        aggs, by = aggregations(rest)
        current = boolean(options.get("current", "t"))
        size = int(options.get("window", "0"))
        shared = boolean(options.get("global", "t"))
        span = seconds(options["time_window"]) if "time_window" in options else None
        if span is not None:
            check_time_order(rows)
        out = []
        for index, row in enumerate(rows):
            key = group_key(row, by)
            if key is None:
                out.append(dict(row))
                continue
            seen = rows[: index + 1] if current else rows[:index]
            if size and shared:
                seen = seen[-size:]
            seen = [r for r in seen if group_key(r, by) == key]
            if size and not shared:
                seen = seen[-size:]
            if span is not None:
                seen = [r for r in seen if abs(r["_time"] - row["_time"]) <= span]  # type: ignore[operator]
            values = {a.alias: aggregate(a, seen) for a in aggs}
            out.append({**row, **{k: v for k, v in values.items() if v is not None}})
        return out


def split_top_level(text: str) -> list[str]:
    """`a=f(x, y), b=c` split at the commas outside parentheses and quotes."""
    parts, depth, start = [], 0, 0
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|[(),]', text, re.S):
        token = match.group()
        depth += {"(": 1, ")": -1}.get(token, 0)
        if token == "," and depth == 0:
            parts.append(text[start : match.start()])
            start = match.end()
    return [*parts, text[start:]]


SORT_KEY = re.compile(r"([+-]?)\s*(?:(auto|str|num)\(([\w.]+)\)|([\w.]+))")


def sort_key(value: object, collation: str) -> tuple[int, object]:
    """`auto` (the default) sorts numbers as numbers, `str` as text, `num` numbers only."""
    number = as_number(value) if collation != "str" else None
    if collation == "num" and number is None:
        raise Undocumented(f"num() sorting the text {value!r}")
    return (0, number) if number is not None else (1, text_of(value))


def check_time_order(rows: list[Row]) -> None:
    times = [r.get("_time") for r in rows]
    if None in times:
        raise SplError("time_window needs _time on every event")
    if times != sorted(times) and times != sorted(times, reverse=True):  # type: ignore[type-var]
        raise SplError("time_window needs events in time order")


def with_time(event: Row, time_field: str | None) -> Row:
    """The event with `_time` in epoch seconds, taken from `time_field` when it has one."""
    if "_time" in event or not time_field or not event.get(time_field):
        return dict(event)
    seconds = instant(str(event[time_field]))
    return dict(event) if seconds is None else {**event, "_time": seconds}


def newest_first(events: list[Row], test: Predicate) -> list[Row]:
    """A generating search's results: matching events, newest first (stable for ties)."""
    hits = [event for event in events if test(event)]
    if all("_time" in e for e in hits):
        hits.sort(key=lambda e: -e["_time"])  # type: ignore[operator]
    return hits


def run(
    text: str,
    events: list[Row],
    time_field: str | None = "TimeCreated",
    lookups: dict[str, list[Row]] | None = None,
) -> list[Row]:
    """The results of the SPL `text` over `events` (flat dicts of text fields)."""
    return Engine(events, time_field, lookups).run(text)
