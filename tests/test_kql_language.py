"""KQL functions and operators with the meaning Microsoft documents.

Each case is an example of the function's or operator's documentation page (Microsoft Learn,
"Kusto Query Language" reference): a query over a small table, and the rows the page gives.
Each runs on DuckDB, and on PostgreSQL where rulec writes the construct for it.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from rulec.backends import kql
from rulec.backends.registry import emit
from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql, parse_kql
from rulec.compiler.frontends.kql.lexer import tokenize
from rulec.compiler.run.engines import DuckDBEngine
from rulec.compiler.run.events import EventTable
from rulec.compiler.run.executor import execute

NOW = datetime(2024, 1, 10, 12, 0, tzinfo=timezone.utc)


def table(*rows: dict) -> EventTable:
    numbered = [{**row, "_row": n} for n, row in enumerate(rows, 1)]
    return EventTable(tuple(dict.fromkeys(c for r in numbered for c in r)), tuple(numbered))


def query(text: str) -> ir.Query:
    (result,) = load_kql(text, "t.kql")
    assert isinstance(result, ir.Query), result
    return result


def run(text: str, events: EventTable, engine=None) -> list[dict]:
    rows = execute(query(text), events, now=NOW, engine=engine or DuckDBEngine())
    kept = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    return sorted(kept, key=repr)  # a projection without `_row` has no event order


# the make-series page's table `data`
SERIES_ROWS = [
    {"timestamp": t, "metric": m}
    for t, m in [
        ("2016-12-31T06:00:00Z", 50),
        ("2017-01-01T00:00:00Z", 4),
        ("2017-01-02T00:00:00Z", 3),
        ("2017-01-03T00:00:00Z", 4),
        ("2017-01-03T03:00:00Z", 6),
        ("2017-01-05T00:00:00Z", 8),
        ("2017-01-05T13:40:00Z", 13),
        ("2017-01-06T00:00:00Z", 4),
        ("2017-01-07T00:00:00Z", 3),
        ("2017-01-08T00:00:00Z", 8),
        ("2017-01-08T21:00:00Z", 8),
        ("2017-01-09T00:00:00Z", 2),
        ("2017-01-09T12:00:00Z", 11),
        ("2017-01-10T05:00:00Z", 5),
    ]
]
DAYS = [datetime(2017, 1, day, tzinfo=timezone.utc) for day in range(1, 10)]

# (query over T, T's rows, the rows the documentation gives)
CASES = [
    # replace() (deprecated): replace(regex, rewrite, text) is replace_regex(text, regex, rewrite)
    ('T | extend B = replace(@"a", @"b", A) | project B', [{"A": "xay"}], [{"B": "xby"}]),
    (
        'T | extend B = replace(@"is (\\w*)", @"was: \\1", A) | project B',
        [{"A": "Number is 5"}],
        [{"B": "Number was: 5"}],
    ),
    # containscs / notcontains / notcontainscs: the older spellings of contains_cs, !contains
    (
        'T | where A containscs "Kusto" | project A',
        [{"A": "Kusto"}, {"A": "kusto"}],
        [{"A": "Kusto"}],
    ),
    ('T | where A notcontains "kus" | project A', [{"A": "Kusto"}, {"A": "x"}], [{"A": "x"}]),
    (
        'T | where A notcontainscs "Kus" | project A',
        [{"A": "Kusto"}, {"A": "kusto"}],
        [{"A": "kusto"}],
    ),
    # indexof(): the zero-based index of the first occurrence, -1 where there is none
    (
        'T | extend idx1 = indexof(A, "cde") | project idx1',
        [{"A": "abcdefg"}, {"A": "xyz"}, {}],
        [{"idx1": 2}, {"idx1": -1}, {"idx1": -1}],
    ),
    # string escapes: "\3" is octal, as Kusto.Language decodes it
    ('T | extend B = strlen("a\\3b") | project B', [{"A": "x"}], [{"B": 3}]),
    ('T | where A == "\\101" | project A', [{"A": "A"}, {"A": "B"}], [{"A": "A"}]),
    # distinct over expressions; a summarize measure named column by column
    (
        "T | distinct X = tolower(A), B",
        [{"A": "Ab", "B": "1"}, {"A": "aB", "B": "1"}, {"A": "c", "B": "2"}],
        [{"X": "ab", "B": "1"}, {"X": "c", "B": "2"}],
    ),
    (
        "T | summarize (Latest, Id) = arg_max(N, R) by K",
        [{"K": "a", "N": 1, "R": "x"}, {"K": "a", "N": 5, "R": "y"}, {"K": "b", "N": 2, "R": "z"}],
        [{"K": "a", "Latest": "5", "Id": "y"}, {"K": "b", "Latest": "2", "Id": "z"}],
    ),
    # dynamic literals anywhere in an expression
    ('T | project N = array_length(dynamic(["a", 2, null]))', [{"A": "x"}], [{"N": 3}]),
    ('T | project V = tostring(dynamic({"k": "v", "n": 1})["k"])', [{"A": "x"}], [{"V": "v"}]),
    (
        'T | where A < datetime("2017-01-01 00:00:00") | project A',
        [{"A": "2016-12-31T23:00:00Z"}, {"A": "2017-01-01T01:00:00Z"}],
        [{"A": "2016-12-31T23:00:00Z"}],
    ),
    # toscalar(): the first column of the sub-query's first row
    (
        "let m = toscalar(T | summarize avg(N));\nT | where N > m | project N",
        [{"N": "1"}, {"N": "2"}, {"N": "6"}],
        [{"N": "6"}],
    ),
    (
        "T | extend C = toscalar(T | count) | project N, C",
        [{"N": "1"}, {"N": "2"}],
        [{"N": "1", "C": 2}, {"N": "2", "C": 2}],
    ),
    # extract_json(): the element at a JSONPath, converted with typeof(T)
    (
        'T | project V = extract_json("$.hosts[1].AvailableMB", J, typeof(long))',
        [{"J": '{"hosts":[{"AvailableMB":5},{"AvailableMB":7}]}'}],
        [{"V": 7}],
    ),
    (
        'T | project V = extractjson("$.a", J)',
        [{"J": '{"a":"x"}'}, {"J": "not json"}, {"J": '{"b":1}'}],
        [{"V": "x"}, {"V": None}, {"V": None}],
    ),
    # countof(): occurrences of a string, or matches of a regex
    ('T | project N = countof(A, "at")', [{"A": "The cat sat on the mat"}], [{"N": 3}]),
    ('T | project N = countof(A, "a")', [{"A": "aaa"}], [{"N": 3}]),
    ('T | project N = countof(A, "aa", "regex")', [{"A": "aaaa"}], [{"N": 2}]),
    ('T | project N = countof(A, "a.c", "regex")', [{"A": "abcabc"}], [{"N": 2}]),
    (
        'T | project N = countof(A, @"\\s.at", "regex")',
        [{"A": "The cat sat on the mat"}],
        [{"N": 3}],
    ),
    # trim(): every leading and trailing match of the regex removed
    ('T | project B = trim("--", A)', [{"A": "--https://bing.com--"}], [{"B": "https://bing.com"}]),
    ('T | project B = trim(@"[^\\w]+", A)', [{"A": "- Te st1// $"}], [{"B": "Te st1"}]),
    # base64_decode_tostring(): UTF-8 text, null where the bytes are not UTF-8
    ("T | project B = base64_decode_tostring(A)", [{"A": "S3VzdG8="}], [{"B": "Kusto"}]),
    (
        "T | project B = base64_decode_tostring(A)",
        [{"A": "U3RyaW5n0KHRgtGA0L7Rh9C60LA="}],
        [{"B": "String\u0421\u0442\u0440\u043e\u0447\u043a\u0430"}],
    ),
    (
        "T | project B = base64_decode_tostring(A)",
        [{"A": "U3RyaW5n0KHRgtGA0L7Rh9C60"}],
        [{"B": None}],
    ),
    ("T | project B = base64_decode_tostring(A)", [{"A": "0A=="}], [{"B": None}]),  # not UTF-8
    # hasprefix / hassuffix: a term of the text starts (ends) with the value
    (
        'T | where A hasprefix "la" | project A',
        [{"A": "LAKE MICHIGAN"}, {"A": "ATLANTIC SOUTH"}, {"A": "NEW YORK"}],
        [{"A": "LAKE MICHIGAN"}],
    ),
    (
        'T | where A hassuffix "as" | project A',
        [{"A": "TEXAS"}, {"A": "LAS VEGAS"}, {"A": "ASIA"}],
        [{"A": "TEXAS"}, {"A": "LAS VEGAS"}],
    ),
    ('T | where A hasprefix_cs "La" | project A', [{"A": "x-Lab"}, {"A": "lab"}], [{"A": "x-Lab"}]),
    ('T | where A !hassuffix "ab" | project A', [{"A": "x-Lab"}, {"A": "abc"}], [{"A": "abc"}]),
    # contains / startswith / endswith with another column on the right
    (
        "T | where A contains B | project A",
        [{"A": "Kusto", "B": "ST"}, {"A": "Kusto", "B": "x"}],
        [{"A": "Kusto"}],
    ),
    (
        "T | where A startswith_cs B | project A",
        [{"A": "Kusto", "B": "Ku"}, {"A": "kusto", "B": "Ku"}],
        [{"A": "Kusto"}],
    ),
    (
        "T | where A endswith B | project A",
        [{"A": "Kusto", "B": "TO"}, {"A": "Kusto", "B": "Ku"}],
        [{"A": "Kusto"}],
    ),
    # now(offset) is now() + offset; extract(..., typeof(T)) converts the match to T
    (
        "T | where A > now(-1d) | project A",
        [{"A": "2024-01-10T00:00:00Z"}, {"A": "2024-01-08T00:00:00Z"}],
        [{"A": "2024-01-10T00:00:00Z"}],
    ),
    (
        'T | project B = extract("x=([0-9.]+)", 1, A, typeof(real))',
        [{"A": "hello x=456|wo"}],
        [{"B": 456.0}],
    ),
    # make-series: one bin per day from `from` up to `to` (exclusive); a day without rows gets
    # the default, 0; rows outside the range count nowhere
    (
        "T | make-series avg(metric) on timestamp from datetime(2017-01-01)"
        " to datetime(2017-01-10) step 1d",
        SERIES_ROWS,
        [{"avg_metric": [4.0, 3.0, 5.0, 0.0, 10.5, 4.0, 3.0, 8.0, 6.5], "timestamp": DAYS}],
    ),
    # the same per group (`by`), with `default=`: each group has every bin of the range
    (
        "T | where timestamp < datetime(2017-01-04) | extend g = metric > 3"
        " | make-series n = count() default = -1 on timestamp"
        " in range(datetime(2017-01-01), datetime(2017-01-04), 1d) by g",
        SERIES_ROWS,
        [
            {"g": False, "n": [-1, 1, -1], "timestamp": DAYS[:3]},
            {"g": True, "n": [1, -1, 2], "timestamp": DAYS[:3]},
        ],
    ),
]


@pytest.mark.parametrize(("text", "rows", "expected"), CASES, ids=[c[0] for c in CASES])
def test_duckdb(text, rows, expected):
    assert run(text, table(*rows)) == sorted(expected, key=repr)


@pytest.mark.parametrize(("text", "rows", "expected"), CASES, ids=[c[0] for c in CASES])
def test_postgres(text, rows, expected, postgres_engine):
    try:
        rows = run(text, table(*rows), postgres_engine)
    except ir.RuleError as error:
        pytest.skip(f"reported for PostgreSQL: {error}")
    assert rows == sorted(expected, key=repr)


# deprecated names (Kusto.Language marks them obsolete) and the current name the kql target writes
DEPRECATED = [
    ('T | extend B = replace(@"a", @"b", A)', 'replace_regex(A, "a", "b")'),
    ("T | extend B = parsejson(A)", "parse_json(A)"),
    ('T | extend B = columnifexists("A", "")', 'column_ifexists("A", "")'),
    ("T | extend B = arraylength(A)", "array_length(A)"),
    ("T | extend B = base64_decodestring(A)", "base64_decode_tostring(A)"),
    ('T | extend B = extractall(@"(\\d)", A)', "extract_all("),
    ("T | extend B = pack('a', A)", 'bag_pack("a", A)'),
    ("T | extend B = weekofyear(A)", "week_of_year(A)"),
    ("T | where notempty(A)", "isnotempty(A)"),
    ("T | summarize makeset(A) by B", "make_set(A)"),
    ("T | summarize argmax(A, C) by B", "arg_max(A, C)"),
    ('T | where A containscs "x"', 'A contains_cs "x"'),
    ('T | where A notcontains "x"', 'not(A contains "x")'),
]


@pytest.mark.parametrize(("text", "current"), DEPRECATED, ids=[c[0] for c in DEPRECATED])
def test_deprecated_names_are_written_back_with_the_current_name(text, current):
    written = emit("kql", query(text)).text
    assert current in written
    _, diagnostics = parse_kql(written, "back.kql")
    assert not diagnostics


def test_octal_escapes_decode_as_kusto_language_decodes_them():
    """Values from Kusto.Language's lexer (tests/kql_oracle): a digit 0-7, then up to two digits,
    each counted in base 8 (an 8 or 9 counts as 8 or 9)."""
    decoded = {"\\3": "\x03", "\\101": "A", "\\38": " ", "\\08": "\b", "\\1234": "S4"}
    for escape, value in decoded.items():
        (token, _) = tokenize(f'"{escape}"')
        assert (token.kind, token.text) == ("string", value)


def test_countof_of_a_search_overlapping_itself_is_a_located_diagnostic():
    """`countof("aaaa", "aa")` is 3 (overlaps counted, as documented): no SQL form yet."""
    with pytest.raises(ir.RuleError) as error:
        emit("duckdb", query('T\n| project N = countof(A, "aa")'))
    assert "overlapping" in error.value.diagnostic.message
    assert error.value.diagnostic.span.line == 2


ORACLE = Path(__file__).resolve().parent / "kql_oracle"
BUILTINS = """
const path = require("path");
const base = path.join(process.argv[1], "node_modules", "@kusto", "language-service-next");
global.Bridge = require(path.join(base, "bridge.js"));
require(path.join(base, "Kusto.Language.Bridge.js"));
const all = Kusto.Language.Functions.All.filter(f => !f.IsHidden && !f.IsObsolete && !f.IsTabular);
process.stdout.write(all.map(f => f.Name).sort().join("\\n"));
"""


def test_the_kql_target_writes_every_builtin_function_kusto_language_lists():
    """backends/kql_functions.txt is Kusto.Language's list (the oracle's npm package)."""
    if shutil.which("node") is None or not (ORACLE / "node_modules").is_dir():
        pytest.skip("node and tests/kql_oracle's npm package are needed")
    command = ["node", "-e", BUILTINS, str(ORACLE)]
    listed = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
    assert listed and set(listed) <= kql.NATIVE_FUNCTIONS
    written = emit("kql", query("T | extend X = geo_distance_2points(A, B, C, D)")).text
    assert "geo_distance_2points(A, B, C, D)" in written


# operators the kql target writes back as they mean (SQL: a located diagnostic)
WRITTEN_BACK = [
    (
        "T | make-series n = count() default = 0 on Timestamp in range(ago(1d), now(), 1h) by A",
        "make-series n = count() default = 0 on Timestamp from ago(1d) to now() step 1h by A",
    ),
    ("T | make-series avg(N) on Timestamp step 1d", "make-series avg_N = avg(N) on Timestamp"),
    ("T | where N > toscalar(T | count)", "toscalar(T"),
    ('T | evaluate bag_unpack(J) | where A == "x"', "evaluate bag_unpack(J)\n| where"),
    ("T | evaluate pivot(Action, count(), Device)", "evaluate pivot(Action, count(), Device)"),
    (
        "T | make-series n = avg(N) on t step 1h | extend (a, s, b) = series_fit_line(n)",
        "| extend (a, s, b) = series_fit_line(n)",
    ),
    (
        "T | where isnull(A) and isnotnull(B) and isnotempty(C) and isempty(D)",
        "where isnull(A) and isnotnull(B) and isnotempty(C) and isempty(D)",
    ),
    (
        'T | mv-apply with_itemindex=I x = J limit 5 on (where x startswith "a" | take 1)',
        'mv-apply with_itemindex=I x = J limit 5 on (where x startswith "a" | take 1)',
    ),
]


@pytest.mark.parametrize(("text", "written"), WRITTEN_BACK, ids=[c[0] for c in WRITTEN_BACK])
def test_written_back_by_the_kql_target(text, written):
    back = emit("kql", query(text)).text
    assert written in back
    _, diagnostics = parse_kql(back, "back.kql")
    assert not diagnostics


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("T\n| make-series count() on Timestamp step 1h", "make-series without both"),
        ("T\n| evaluate bag_unpack(J)", "bag_unpack() (its output columns may depend on the data)"),
        ("T\n| mv-apply x = J on (take 1)", "mv-apply of a sub-query with the Limit stage"),
        ("T\n| extend (a, b) = series_fit_line(J)", "extend (a, b) = series_fit_line()"),
    ],
)
def test_sql_reports_what_it_has_no_form_for(text, why):
    with pytest.raises(ir.RuleError) as error:
        emit("duckdb", query(text))
    assert why in error.value.diagnostic.message
    assert error.value.diagnostic.span.line == 2
