"""SQL function library: each row is a KQL function call in the IR, its input and the value KQL
gives, run on DuckDB and on PostgreSQL. JSON results (dynamic values) compare as parsed JSON,
since the engines space JSON text differently."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from rulec.backends.base import Options
from rulec.backends.sql import SqlBackend
from rulec.compiler import ir
from rulec.compiler.run.engines import DuckDBEngine
from rulec.compiler.run.events import EventTable

F, L, C = ir.FieldRef, ir.Literal, ir.Call
M, K = ir.Match, ir.MatchKind


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def call(name: str, *args: ir.Expr) -> ir.Call:
    return C(name, tuple(args))


def dt(text: str) -> ir.Literal:
    return L(datetime.fromisoformat(text).replace(tzinfo=timezone.utc))


IS_A = M(F("x"), K.EQ, ("a",), True)
WORDS = '["this", "is", "an", "example", "an", "example"]'
GUID = "82b8be2d-dfa7-4bd1-8f63-24ad26d31449"

# (IR expression, the input field x, the value KQL returns)
SCALARS = [
    (call("bin", F("x"), L(timedelta(hours=1))), "2020-01-01T10:59:59Z", utc(2020, 1, 1, 10)),
    (call("bin", F("x"), L(timedelta(days=7))), "2020-01-08T00:00:00Z", utc(2020, 1, 2)),
    (call("bin", F("x"), L(5)), "12", 10),
    (call("startofday", F("x")), "2020-03-04T05:06:07Z", utc(2020, 3, 4)),
    (call("startofweek", F("x")), "2020-03-04T05:06:07Z", utc(2020, 3, 1)),
    (call("startofmonth", F("x")), "2020-03-04T05:06:07Z", utc(2020, 3, 1)),
    (call("startofyear", F("x")), "2020-03-04T05:06:07Z", utc(2020, 1, 1)),
    (call("endofday", F("x")), "2020-03-04T05:06:07Z", utc(2020, 3, 4, 23, 59, 59, 999999)),
    (call("hourofday", F("x")), "2020-03-04T05:06:07Z", 5),
    (call("datetime_diff", L("year"), dt("2017-01-01"), dt("2000-12-31")), None, 17),
    (call("datetime_diff", L("day"), dt("2017-10-30 23:00"), dt("2017-09-30 23:59")), None, 30),
    (call("datetime_diff", L("hour"), dt("2017-10-31 01:00"), dt("2017-10-30 23:59")), None, 2),
    (call("datetime_diff", L("minute"), dt("2017-10-30 23:05:01"), dt("2017-10-30 23:00:59")),
     None, 5),
    (call("datetime_diff", L("month"), dt("2017-01-01"), dt("2015-12-30")), None, 13),
    (call("todatetime", F("x")), "2021-05-06T07:08:09Z", utc(2021, 5, 6, 7, 8, 9)),
    (call("extract", L("([a-z]+)([0-9]+)"), L(2), F("x")), "xx ab12", "12"),
    (call("extract", L("([a-z]+)([0-9]+)"), L(0), F("x")), "xx ab12", "ab12"),
    (call("extract", L("(?i)(A)"), L(1), F("x")), "xa", "a"),
    (call("extract", L("([0-9]+)"), L(1), F("x")), "none", None),
    (call("iff", IS_A, L("yes"), L("no")), "a", "yes"),
    (call("iff", IS_A, L("yes"), L("no")), None, "no"),
    (call("case", IS_A, L("A"), M(F("x"), K.EQ, ("b",), True), L("B"), L("?")), "b", "B"),
    (call("concat", L("<"), F("x"), L(">")), None, "<>"),
    (call("concat", L("<"), F("x"), L(">")), "a", "<a>"),
    (call("substring", F("x"), L(2), L(3)), "abcdef", "cde"),
    (call("substring", F("x"), L(2)), "abcdef", "cdef"),
    (call("replace_string", F("x"), L("o"), L("0")), "foo", "f00"),
    (call("string_size", F("x")), "é", 2),
    (call("round", F("x"), L(2)), "2.567", 2.57),
    (call("abs", F("x")), "-3", 3),
    (call("tobool", F("x")), "True", True),
    (call("ipv4_is_private", F("x")), "172.20.1.1", True),
    (call("ipv4_is_private", F("x")), "8.8.8.8", False),
    (call("split", F("x"), L(",")), "a,b", ["a", "b"]),
    (call("split", F("x"), L(",")), "", [""]),
    (call("split", F("x"), L(","), L(1)), "a,b", ["b"]),
    (call("split", F("x"), L(","), L(5)), "a,b", []),
    (call("parse_json", F("x")), '"quoted"', "quoted"),
    (call("parse_json", F("x")), "not json", "not json"),
    (call("index", call("parse_json", F("x")), L("a")), '{"a": {"b": 1}}', {"b": 1}),
    (call("index", call("index", F("x"), L("a")), L("b")), '{"a": {"b": "v"}}', "v"),
    (call("index", F("x"), L(0)), '["p", "q"]', "p"),
    (call("index", F("x"), L(-1)), '["p", "q"]', "q"),
    (call("index", F("x"), L("a")), "plain text", None),
    (call("index", F("x"), L("a b")), '{"a b": 3}', 3),
    (call("array_length", F("x")), '[1, [2, 3]]', 2),
    (call("array_length", F("x")), '{"a": 1}', None),
    (call("pack_array", L("a"), F("x")), "b", ["a", "b"]),
    (call("bag_pack", L("k"), F("x")), "v", {"k": "v"}),
    (call("binary_xor", call("toint", F("x")), L(3)), "5", 6),
    (call("binary_and", call("toint", F("x")), L(3)), "5", 1),
    (call("binary_or", call("toint", F("x")), L(3)), "5", 7),
    (call("binary_shift_left", call("toint", F("x")), L(2)), "5", 20),
    (call("binary_shift_right", call("toint", F("x")), L(1)), "5", 2),
    # base64_decode_tostring's documentation examples: text, and bytes that are no UTF-8 (null)
    (call("base64_decode_tostring", F("x")), "S3VzdG8=", "Kusto"),
    # base64_encode_tostring's example, and one past PostgreSQL's 76-character lines
    (call("base64_encode_tostring", F("x")), "Kusto", "S3VzdG8="),
    (call("base64_encode_tostring", F("x")), "abc" * 30, "YWJj" * 30),  # RFC 4648
    (call("base64_decode_tostring", F("x")), "U3RyaW5n0KHR0tGA0L7Rh9C60LA=", None),
    (call("base64_decode_tostring", F("x")), "7aCA", None),  # a UTF-16 surrogate
    (call("base64_decode_tostring", F("x")), "8J+YgMOp", "\U0001f600\u00e9"),
    # translate and unicode_codepoints_from_string: the examples of Microsoft's pages
    (call("translate", L("abc"), L("x"), F("x")), "abc", "xxx"),
    (call("translate", L("abc"), L(""), F("x")), "ab", ""),
    (call("translate", L("krasp"), L("otsku"), F("x")), "spark", "kusto"),
    (call("unicode_codepoints_from_string", F("x")), "⒦⒰⒮⒯⒪", [9382, 9392, 9390, 9391, 9386]),
    (call("unicode_codepoints_from_string", F("x")), "קוסטו - Kusto",
     [1511, 1493, 1505, 1496, 1493, 32, 45, 32, 75, 117, 115, 116, 111]),
    (call("unicode_codepoints_from_string", F("x")), "", []),
    # replace_regex: Microsoft's example (Number is 1 -> Number was: 1), \0 the whole match
    (call("replace_regex", F("x"), L(r"is (\d+)"), L(r"was: \1")), "Number is 1",
     "Number was: 1"),
    (call("replace_regex", F("x"), L(r"[a-f0-9]{4}-[a-f0-9]{2}"), L(r"<\0>")), "id ab12-cd",
     "id <ab12-cd>"),
    # jaccard_index: Microsoft's example; duplicates ignored, as its page says
    (call("jaccard_index", L("[1,2,3]"), F("x")), "[1,2,3,4]", 0.75),
    (call("jaccard_index", L("[1,1,2]"), F("x")), "[2,3,3]", 1 / 3),
    (call("jaccard_index", L("[1]"), F("x")), "[]", 0.0),
    (call("jaccard_index", L("[1]"), F("x")), "no array", None),
    # extract_json: Microsoft's example; null where the text is no JSON or lacks the element
    (call("extract_json", L("$.name"), F("x")), '{"name": "John", "age": 30, "city": "New York"}',
     "John"),
    (call("extract_json", L("$.a[1]"), F("x")), '{"a": [1, {"b": 2}]}', {"b": 2}),
    (call("extract_json", L("$.a[1]"), F("x")), '{"a": [1]}', None),
    (call("extract_json", L("$.name"), F("x")), "{name: John}", None),
    # extract_all, from Microsoft's page (examples and their outputs); on PostgreSQL where
    # ARE's matches are RE2's
    (call("extract_all", L(r"(\d+)"), F("x")), "a set of numbers: 123, 567 and 789",
     ["123", "567", "789"]),
    (call("extract_all", L(r"([\da-f]{2})"), F("x")), GUID,
     ["82", "b8", "be", "2d", "df", "a7", "4b", "d1", "8f", "63", "24", "ad", "26", "d3", "14",
      "49"]),
    (call("extract_all", L(r"(([\d]{1,3}\.){3}[\d]{1,3})"), call("pack_array", L(1)), F("x")),
     "from 10.1.2.3 to 1234.5.6.7", ["10.1.2.3", "234.5.6.7"]),
    (call("extract_all", L(r"(\d)([a-z]+)"), F("x")), "1ab 2c", [["1", "ab"], ["2", "c"]]),
    (call("extract_all", L(r"\b([a-z0-9 _-]+\.exe)"), F("x")), "C:\\p\\a b.exe;x.exe",
     ["a b.exe", "x.exe"]),
    # bin_at, datetime_add, array_index_of, set_has_element, strcat_array, array_slice: the
    # examples of Microsoft's pages (input, expected output)
    (call("bin_at", F("x"), L(2.5), L(7)), "6.5", 4.5),
    (call("bin_at", F("x"), L(timedelta(days=1)), dt("1970-01-01 12:00")),
     "2017-05-15T10:20:00Z", utc(2017, 5, 14, 12)),
    (call("bin_at", F("x"), L(timedelta(days=7)), dt("2017-06-04")), "2017-05-17T10:20:00Z",
     utc(2017, 5, 14)),
    (call("bin_at", F("x"), L(timedelta(days=1)), dt("2018-02-24 15:14")),
     "2018-02-23T16:14:00Z", utc(2018, 2, 23, 15, 14)),
    # a fixed point computed by the query (Microsoft's 12h example, as a time 12 hours in)
    (call("bin_at", F("x"), L(timedelta(days=1)), call("datetime_add", L("hour"), L(12),
          dt("1970-01-01"))), "2017-05-15T10:20:00Z", utc(2017, 5, 14, 12)),
    *[(call("datetime_add", L(part), L(1), F("x")), "2017-01-01T00:00:00Z", expected)
      for part, expected in [
          ("year", utc(2018, 1, 1)), ("quarter", utc(2017, 4, 1)), ("month", utc(2017, 2, 1)),
          ("week", utc(2017, 1, 8)), ("day", utc(2017, 1, 2)), ("hour", utc(2017, 1, 1, 1)),
          ("minute", utc(2017, 1, 1, 0, 1)), ("second", utc(2017, 1, 1, 0, 0, 1))]],
    *[(call("array_index_of", F("x"), *map(L, args)), WORDS, expected) for args, expected in [
        (("an",), 2), (("example", 1, 3), 3), (("example", 1, 2), -1), (("is", 2, 4), -1),
        (("example", 2, -1), 3), (("an", 1, -1, 2), 4), (("an", 1, -1, 3), -1),
        (("an", -3), 4), (("is", -4), -1)]],
    (call("set_has_element", F("x"), L("example")), '["this", "is", "an", "example"]', True),
    (call("strcat_array", F("x"), L("->")), "[1, 2, 3]", "1->2->3"),
    (call("array_slice", F("x"), L(1), L(2)), "[1, 2, 3]", [2, 3]),
    (call("array_slice", F("x"), L(2), L(-1)), "[1, 2, 3, 4, 5]", [3, 4, 5]),
    (call("array_slice", F("x"), L(-3), L(-2)), "[1, 2, 3, 4, 5]", [3, 4]),
    # and of text that is no array
    (call("array_slice", F("x"), L(0), L(1)), "no array", None),
    (call("array_index_of", F("x"), L("a")), "no array", None),
    (call("set_has_element", F("x"), L("a")), '{"a": 1}', None),
    (call("strcat_array", F("x"), L(",")), "no, array", None),
    # indexof's examples (those of later occurrences within a length excepted: diagnostics)
    *[(call("indexof", F("x"), *map(L, args)), text, expected) for text, args, expected in [
        ("abcdefg", ("cde",), 2), ("abcdefg", ("cde", 1, 4), 2), ("abcdefg", ("cde", 1, 2), -1),
        ("abcdefg", ("cde", 3, 4), -1), ("abcdefg", ("cde", -5), 2), ("1234567", (5, 1, 4), 4),
        ("abcdefg", ("cde", 2, -1), 2), ("abcdefgabcdefg", ("cde", 1, -1, 1), 2)]],
    # indexof_regex: its page's first example, then its definition (the first match's start)
    (call("indexof_regex", F("x"), L("a.c")), "abcabc", 0),
    (call("indexof_regex", F("x"), L("b.*c")), "abcabc", 1),
    (call("indexof_regex", F("x"), L("a.c")), "xyz", -1),
    (call("indexof_regex", F("x"), L("b.c")), "ab\ncbxc", 4),
    (call("indexof_regex", F("x"), L(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")), "http://10.2.3.4/a", 7),
    # format_datetime's examples, and its table's
    (call("format_datetime", F("x"), L("yy-MM-dd [HH:mm:ss]")), "2017-01-29T09:00:05Z",
     "17-01-29 [09:00:05]"),
    (call("format_datetime", F("x"), L("yyyy-M-dd [H:mm:ss]")), "2017-01-29T09:00:05Z",
     "2017-1-29 [9:00:05]"),
    (call("format_datetime", F("x"), L("yy-MM-dd [hh:mm:ss tt]")), "2017-01-29T09:00:05Z",
     "17-01-29 [09:00:05 AM]"),
    (call("format_datetime", F("x"), L("h hh tt")), "2009-06-15T13:45:30Z", "1 01 PM"),
    (call("format_datetime", F("x"), L("d.y.m.s")), "2009-06-01T01:09:09Z", "1.9.9.9"),
    (call("format_datetime", F("x"), L("fff,ff,f,ffffff")), "2009-06-15T13:45:30.617542Z",
     "617,61,6,617542"),
    (call("format_datetime", F("x"), L("yyyy_yy")), "0900-01-01T00:00:00Z", "0900_00"),
    # format_bytes's examples that round to a whole number
    (call("format_bytes", F("x")), "564", "564 Bytes"),
    (call("format_bytes", F("x")), "20010332", "19 MB"),
    (call("format_bytes", F("x"), L(0), L("KB")), "20010332", "19541 KB"),
    (call("format_bytes", L(1536), L(0), L("KB")), None, "2 KB"),  # 1.5 rounded
]  # fmt: skip
# functions that need RE2 (reported on PostgreSQL); extract_all from Microsoft's page
RE2_SCALARS = [
    (call("extract_all", L("Se(.*?)Privilege"), F("x")), "SeDebugPrivilege SeTcbPrivilege",
     ["Debug", "Tcb"]),
    (call("extract_all", L("[0-9]+"), F("x")), "a1b22", ["1", "22"]),
    (call("extract_all", L("[0-9]+"), F("x")), "none", None),
    (call("extract_all", L(r"(\w)(\w+)(\w)"), F("x")), GUID,
     [["8", "2b8be2", "d"], ["d", "fa", "7"], ["4", "bd", "1"], ["8", "f6", "3"],
      ["2", "4ad26d3144", "9"]]),
    (call("extract_all", L(r"(\w)(\w+)(\w)"), call("pack_array", L(1), L(3)), F("x")), GUID,
     [["8", "d"], ["d", "7"], ["4", "1"], ["8", "3"], ["2", "9"]]),
    (call("extract_all", L(r"(?P<first>\w)(?P<middle>\w+)(?P<last>\w)"),
          call("pack_array", L("first"), L(2), L("last")), F("x")), GUID,
     [["8", "2b8be2", "d"], ["d", "fa", "7"], ["4", "bd", "1"], ["8", "f6", "3"],
      ["2", "4ad26d3144", "9"]]),
    (call("replace_regex", F("x"), L("Se(\\w+?)Privilege"), L("<\\1>")), "SeAPrivilege SeB",
     "<A> SeB"),
]  # fmt: skip


def evaluate(engine, expr: ir.Expr, x: str | None) -> object:
    engine.load("T", EventTable(("x",), ({"x": x},)))
    query = ir.Query(ir.Pipeline(ir.Table("T"), (ir.Project((ir.Assign("out", expr),)),)))
    sql = SqlBackend(engine.dialect, Options(schema={"T": ("x",)})).emit(query).text
    (row,) = engine.run(sql)
    return row["out"]


def same(actual: object, expected: object) -> bool:
    if isinstance(expected, datetime):
        text = str(actual).replace("Z", "+00:00")
        return actual is not None and datetime.fromisoformat(text) == expected
    if isinstance(expected, list | dict) or (isinstance(expected, int) and isinstance(actual, str)):
        return actual is not None and json.loads(actual) == expected
    if isinstance(expected, float) or isinstance(actual, float):
        return actual is not None and abs(float(actual) - expected) < 1e-9
    return actual == expected


IDS = [f"{e.name}-{n}" for n, (e, _, _) in enumerate(SCALARS)]


@pytest.mark.parametrize(("expr", "x", "expected"), SCALARS, ids=IDS)
def test_duckdb(expr, x, expected):
    actual = evaluate(DuckDBEngine(), expr, x)
    assert same(actual, expected), f"{expr.name}({x!r}) gave {actual!r}, expected {expected!r}"


@pytest.mark.parametrize(("expr", "x", "expected"), SCALARS, ids=IDS)
def test_postgres(expr, x, expected, postgres_engine):
    actual = evaluate(postgres_engine, expr, x)
    assert same(actual, expected), f"{expr.name}({x!r}) gave {actual!r}, expected {expected!r}"


@pytest.mark.parametrize(
    ("expr", "x", "expected"), RE2_SCALARS, ids=[e.name for e, _, _ in RE2_SCALARS]
)
def test_re2_functions_duckdb(expr, x, expected):
    actual = evaluate(DuckDBEngine(), expr, x)
    assert same(actual, expected), f"{expr.name}({x!r}) gave {actual!r}, expected {expected!r}"


# ---------------------------------------------------------------------- aggregates

ROWS = ("a", "b", "a", None, "c")
P = M(F("x"), K.EQ, ("a", "b"), True)
# (aggregation, the value KQL returns over ROWS)
AGGREGATES = [
    (ir.AggCall("countif", P), 3),
    (ir.AggCall("dcountif", F("x"), (P,)), 2),
    (ir.AggCall("make_set", F("x")), ["a", "b", "c"]),
    (ir.AggCall("make_set", F("x"), (L(2),)), ["a", "b"]),
    (ir.AggCall("make_list", F("x")), ["a", "a", "b", "c"]),
    (ir.AggCall("make_list_if", F("x"), (P,)), ["a", "a", "b"]),
    (ir.AggCall("make_set_if", F("x"), (M(F("x"), K.EQ, ("z",), True),)), []),
    (ir.AggCall("take_any", F("x")), "a"),
    (ir.AggCall("take_anyif", F("x"), (M(F("x"), K.EQ, ("c",), True),)), "c"),
]


def aggregate(engine, call: ir.AggCall) -> object:
    engine.load("T", EventTable(("x",), tuple({"x": x} for x in ROWS)))
    stage = ir.Aggregate((), (ir.Measure("out", call),))
    query = ir.Query(ir.Pipeline(ir.Table("T"), (stage,)))
    sql = SqlBackend(engine.dialect, Options(schema={"T": ("x",)})).emit(query).text
    (row,) = engine.run(sql)
    return row["out"]


@pytest.mark.parametrize(("call", "expected"), AGGREGATES, ids=[a.func for a, _ in AGGREGATES])
def test_aggregates_duckdb(call, expected):
    assert same(aggregate(DuckDBEngine(), call), expected)


@pytest.mark.parametrize(("call", "expected"), AGGREGATES, ids=[a.func for a, _ in AGGREGATES])
def test_aggregates_postgres(call, expected, postgres_engine):
    assert same(aggregate(postgres_engine, call), expected)


def test_percentile_is_the_nearest_rank_value():
    engine = DuckDBEngine()
    engine.load("T", EventTable(("x",), tuple({"x": str(n)} for n in range(1, 11))))
    stage = ir.Aggregate((), (ir.Measure("p", ir.AggCall("percentile", F("x"), (L(95),))),))
    sql = SqlBackend("duckdb").emit(ir.Query(ir.Pipeline(ir.Table("T"), (stage,)))).text
    assert engine.run(sql) == [{"p": 10.0}]


@pytest.mark.parametrize(
    ("expr", "target", "why"),
    [
        (call("extract", F("y"), L(1), F("x")), "duckdb", "constant regex"),
        (call("bin", F("x"), F("y")), "duckdb", "positive constant"),
        (call("index", F("x"), F("y")), "duckdb", "not constant"),
        (call("datetime_diff", L("fortnight"), F("x"), F("y")), "duckdb", "part"),
        (call("countof", F("x"), L("abab")), "postgres", "overlapping itself"),
        (call("countof", F("x"), F("y")), "duckdb", "not a constant"),
        (call("trim", F("y"), F("x")), "duckdb", "constant regex"),
        (
            call("extract_all", L("(a)"), call("pack_array", L(2)), F("x")),
            "duckdb",
            "constant capture groups",
        ),
        (call("extract_all", L("(a)"), F("y"), F("x")), "duckdb", "constant capture groups"),
        (call("extract_all", L("a(.*?)b"), F("x")), "postgres", "leftmost-longest"),
        (call("extract_all", L("(a|ab)(c|bcd)"), F("x")), "postgres", "leftmost-longest"),
        (call("replace_regex", F("x"), F("y"), L("")), "duckdb", "constant regex"),
        (call("series_decompose_anomalies", F("x")), "postgres", "seasonality detection"),
        (call("parse_url", F("x")), "duckdb", "leading `/`"),
        (call("replace_regex", F("x"), L("a(.*?)b"), L("")), "postgres", "leftmost-longest"),
        (call("bin_at", F("x"), L(1), F("y")), "duckdb", "positive constant size"),
        (call("bin_at", F("x"), L(timedelta(days=1)), F("y")), "duckdb", "not of the row"),
        (call("datetime_add", L("fortnight"), L(1), F("x")), "postgres", "this part"),
        (call("array_index_of", F("x"), L("a"), F("y")), "duckdb", "constant start"),
        (call("array_slice", F("x"), F("y"), L(2)), "postgres", "constant bounds"),
        (call("row_number", L(1), F("y")), "duckdb", "restart"),
        (call("row_number"), "duckdb", "without a sort"),
        (call("indexof", F("x"), L("a"), L(1), L(10), L(2)), "duckdb", "first occurrence"),
        (call("indexof_regex", F("x"), F("y")), "postgres", "constant regex"),
        (call("format_datetime", F("x"), L("yyyy-MMM")), "duckdb", "listed elements"),
        (call("format_datetime", F("x"), L("HH'h'")), "postgres", "listed elements"),
        (call("format_bytes", F("x"), L(2)), "duckdb", "whole number"),
        (call("format_bytes", F("x"), L(0), L("KiB")), "duckdb", "constant units"),
        (call("pack_all", L(True)), "duckdb", "leaving out null"),
        (call("parse_path", F("x")), "postgres", "without an extension"),
    ],
)
def test_what_sql_cannot_compute_exactly_is_a_diagnostic(expr, target, why):
    query = ir.Query(ir.Pipeline(ir.Table("T"), (ir.Project((ir.Assign("o", expr),)),)))
    with pytest.raises(ir.RuleError) as caught:
        SqlBackend(target, Options(schema={"T": ("x", "y")})).emit(query)
    assert why in caught.value.diagnostic.message
    assert caught.value.diagnostic.target == target


def test_a_series_function_of_several_columns_is_reported_at_its_call():
    """`extend (a, b) = series_fit_2lines(x)`: Microsoft's page does not say which splits it
    tries, so rulec does not guess them."""
    fit = call("series_fit_2lines", F("x"))
    stage = ir.ExtendSeveral(("rsquare", "split"), fit, span=ir.Span("t.kql", 3, 7))
    query = ir.Query(ir.Pipeline(ir.Table("T"), (stage,)))
    with pytest.raises(ir.RuleError) as caught:
        SqlBackend("duckdb", Options(schema={"T": ("x",)})).emit(query)
    assert "series_fit_2lines()" in caught.value.diagnostic.message
    assert "split points" in caught.value.diagnostic.message
    assert caught.value.diagnostic.span.line == 3


def test_row_number_counts_rows_in_sort_order(postgres_engine):
    """Microsoft's example: `range a from 1 to 10 step 1 | sort by a desc | extend
    rn = row_number()` numbers a = 10 as 1, a = 1 as 10; `row_number(7)` starts at 7."""
    rows = tuple((n,) for n in range(1, 11))
    sort = ir.Sort((ir.SortKey(F("a"), descending=True),))
    for first, offset in ((None, 0), (7, 6)):
        number = call("row_number", *([L(first)] if first else []))
        stages = (sort, ir.Extend((ir.Assign("rn", number),)))
        query = ir.Query(ir.Pipeline(ir.Datatable((("a", "long"),), rows), stages))
        for engine in (DuckDBEngine(), postgres_engine):
            got = engine.run(SqlBackend(engine.dialect).emit(query).text)
            assert sorted((r["a"], r["rn"]) for r in got) == [
                (a, 11 - a + offset) for a in range(1, 11)
            ]


def test_serialize_numbers_rows_in_the_sort_order_before_it(postgres_engine):
    """`sort by a | serialize rn = row_number()`: row_number()'s page numbers rows from 1 in
    the serialized order, here the sort's; without a sort, SQL rows have no order."""
    rows = tuple((n,) for n in (3, 1, 2))
    numbered = ir.Serialize((ir.Assign("rn", call("row_number")),))
    sort = ir.Sort((ir.SortKey(F("a")),))
    query = ir.Query(ir.Pipeline(ir.Datatable((("a", "long"),), rows), (sort, numbered)))
    for engine in (DuckDBEngine(), postgres_engine):
        got = engine.run(SqlBackend(engine.dialect).emit(query).text)
        assert sorted((r["a"], r["rn"]) for r in got) == [(1, 1), (2, 2), (3, 3)]
    unsorted = ir.Query(ir.Pipeline(ir.Datatable((("a", "long"),), rows), (numbered,)))
    with pytest.raises(ir.RuleError) as caught:
        SqlBackend("duckdb").emit(unsorted)
    assert "without a sort" in caught.value.diagnostic.message


def test_print_is_one_row_of_its_values(postgres_engine):
    """Microsoft's example: `print banner = strcat("Hello", ", ", "World!")`."""
    hello = call("concat", L("Hello"), L(", "), L("World!"))
    stages = (ir.Extend((ir.Assign("banner", hello), ir.Assign("n", L(2)))),)
    query = ir.Query(ir.Pipeline(ir.Datatable((), ((),)), stages))
    for engine in (DuckDBEngine(), postgres_engine):
        got = engine.run(SqlBackend(engine.dialect).emit(query).text)
        assert got == [{"banner": "Hello, World!", "n": 2}]


def test_pack_all_is_a_bag_of_every_column(postgres_engine):
    """Microsoft's example: `extend Packed = pack_all()` over its datatable."""
    columns = (("SourceNumber", "string"), ("TargetNumber", "string"), ("CharsCount", "long"))
    rows = (
        ("555-555-1234", "555-555-1212", 46),
        ("555-555-1234", "555-555-1213", 50),
        ("555-555-1313", "", 42),
        ("", "555-555-3456", 74),
    )
    stages = (ir.Extend((ir.Assign("Packed", call("pack_all")),)),)
    query = ir.Query(ir.Pipeline(ir.Datatable(columns, rows), stages))
    names = [c for c, _ in columns]
    expected = [dict(zip(names, row, strict=True)) for row in rows]
    for engine in (DuckDBEngine(), postgres_engine):
        got = engine.run(SqlBackend(engine.dialect).emit(query).text)
        assert [json.loads(r["Packed"]) for r in got] == expected
        assert [[r[n] for n in names] for r in got] == [list(row) for row in rows]


def test_pack_all_of_rows_whose_columns_are_unknown_asks_for_a_schema():
    stages = (ir.Extend((ir.Assign("Packed", call("pack_all")),)),)
    query = ir.Query(ir.Pipeline(ir.Table("Undocumented_CL"), stages))
    with pytest.raises(ir.RuleError) as caught:
        SqlBackend("duckdb").emit(query)
    assert "--schema" in caught.value.diagnostic.message


def test_make_bag_merges_the_bags_of_a_group(postgres_engine):
    """Microsoft's example: `extend p = bag_pack(prop, value) | summarize dict = make_bag(p)`
    over three rows; values that are no property bag are left out."""
    rows = ('{"prop01": "val_a"}', '{"prop02": "val_b"}', "text", None, '{"prop03": "val_c"}')
    stage = ir.Aggregate((), (ir.Measure("dict", ir.AggCall("make_bag", F("x"))),))
    expected = {"prop01": "val_a", "prop02": "val_b", "prop03": "val_c"}
    for engine, table in ((DuckDBEngine(), rows), (postgres_engine, rows), (DuckDBEngine(), ())):
        engine.load("T", EventTable(("x",), tuple({"x": x} for x in table)))
        query = ir.Query(ir.Pipeline(ir.Table("T"), (stage,)))
        sql = SqlBackend(engine.dialect, Options(schema={"T": ("x",)})).emit(query).text
        (row,) = engine.run(sql)
        assert json.loads(row["dict"]) == (expected if table else {})
