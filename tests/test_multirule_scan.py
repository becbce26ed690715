"""The prefilter's candidate events over flat files: keyword (`_raw`) rules, sampled counts and
the batched automaton never lose or add a match.

Oracle: `executor.execute` run on each rule alone over the same events (`one_by_one`), and, for
the automaton, Python's `in` on each value.
"""

from __future__ import annotations

import json

import duckdb
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from test_multirule import one_by_one, together

from rulec.compiler import ir
from rulec.compiler.run.events import load_events
from rulec.compiler.run.multirule import candidates, prefilter, regex_texts
from rulec.compiler.run.multirule import runner as multirule


def keyword(*texts: str) -> ir.Query:
    """A rule matching events whose `_raw` holds any of the texts (any case)."""
    found = ir.Match(ir.RawText(), ir.MatchKind.CONTAINS, texts, case_sensitive=False)
    return ir.Query(ir.Pipeline(ir.Table("events"), (ir.Filter(found),)))


EVENTS = [
    {"Image": "C:\\W\\Mimikatz.exe", "CommandLine": "a=b\nsekurlsa::logonpasswords"},
    {"Image": "C:\\w\\cmd.exe", "User": "eve"},
    {"CommandLine": "x", "Gone": None},
    {"User": "İstanbul"},
]
# Texts in a value, in a set field's name, in an unset field's name only, across `name=value`,
# across two lines, in a value's own second line, with a non-ASCII lowering, with characters
# special to regular expressions.
KEYWORDS = [
    ("mimikatz",),
    ("MAGE",),
    ("gone",),
    ("image=c:",),
    ("exe\nuser",),
    ("sekurlsa",),
    ("i̇stanbul", "nothing"),
    ("ser",),
    ("\\w\\cmd.", "(x)|"),  # characters a regular expression reads otherwise
]
SPREAD = {0, 1, 2, 5, 6, 7, 8}  # the rules whose texts contain neither `=` nor a line break


@pytest.fixture(params=["ndjson", "parquet"])
def flat(request, tmp_path):
    path = tmp_path / "e.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    if request.param == "parquet":
        parquet = tmp_path / "e.parquet"
        duckdb.connect().execute(
            f"COPY (SELECT * FROM read_json('{path}')) TO '{parquet}' (FORMAT PARQUET)"
        )
        path = parquet
    return load_events([str(path)])


@pytest.fixture
def scanned(monkeypatch) -> list[int]:
    """The rules that get a full scan (`_scan_each`), recorded as the run goes."""
    found: list[int] = []
    scan_each = multirule._scan_each

    def recorded(engine, table, columns, group):
        found.extend(plan.index for plan in group)
        return scan_each(engine, table, columns, group)

    monkeypatch.setattr(multirule, "_scan_each", recorded)
    return found


@pytest.mark.parametrize("few_texts", [0, 64])  # texts searched by an automaton / by DuckDB
@pytest.mark.parametrize("sample", [1, 10_000])  # counts from one event / from all of them
def test_keyword_rules_over_flat_files_find_what_execute_finds(
    flat, few_texts, sample, scanned, monkeypatch
):
    monkeypatch.setattr(candidates, "FEW_TEXTS", few_texts)
    monkeypatch.setattr(candidates, "SAMPLE", sample)
    queries = [keyword(*texts) for texts in KEYWORDS]
    got = together(queries, flat)
    assert got == one_by_one(queries, flat)
    assert any(result[1] for result in got)
    assert not SPREAD & set(scanned)  # found from the fields, not by a full scan
    assert set(scanned) == set(range(len(KEYWORDS))) - SPREAD


TEXT = st.text(alphabet="ab\x01\x02é€\U0001d11e", max_size=6)


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(TEXT, max_size=12, unique=True),
    texts=st.lists(st.text(alphabet="ab\x00\x01é€\U0001d11e", min_size=1, max_size=3), min_size=1),
)
def test_the_automaton_finds_each_text_in_the_values_that_hold_it(values, texts):
    """Oracle: Python's `in`, on values holding the character that joins them (the first one
    no text holds) and characters of two to four UTF-8 bytes."""
    numbers = {text: number for number, text in enumerate(dict.fromkeys(texts))}
    connection = duckdb.connect()
    connection.execute("CREATE TABLE t AS SELECT unnest(?::VARCHAR[]) AS v", [values])
    distinct = "SELECT v, v AS low, 1 AS events FROM t"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(candidates, "FETCH", 3)  # several batches of values
        found = candidates._found_by_automaton(connection, distinct, numbers)
        got = {value: hit for value, hit, _ in found}
    expected = {value: sorted(n for t, n in numbers.items() if t in value) for value in values}
    assert got == {value: tuple(hit) for value, hit in expected.items() if hit}


# pattern                                                 texts needed (one of each list)
NEEDED = [
    (r"ipconfig\s+/all", [["ipconfig"]]),
    (r"cmd.{0,5}(?:/c|/r).+powershell.+(?:input|noexit)", [["powershell"], ["input", "noexit"]]),
    (r"\$PSHome\[\s*\d", [["$PSHome["]]),
    ("abc|xyz", [["abc", "xyz"]]),
    ("(abcd|ef)", []),  # a branch too short to look for
    ("(?i)echo.*mask", [["echo"]]),  # RE2 folds `s` and `k` with characters `lower` keeps
    ("[[:alpha:]]abc", []),  # read otherwise by Python's parser
    (r"\Qa.b\E", []),
    ("a(", []),  # not a pattern
]


@pytest.mark.parametrize(("pattern", "expected"), NEEDED)
def test_texts_a_regular_expression_needs(pattern, expected):
    assert regex_texts.texts_needed(pattern) == expected


def regex(field: str, pattern: str) -> ir.Query:
    found = ir.Match(ir.FieldRef(field), ir.MatchKind.REGEX, (pattern,), case_sensitive=True)
    return ir.Query(ir.Pipeline(ir.Table("events"), (ir.Filter(found),)))


def equals(field: str, value: str) -> ir.Query:
    found = ir.Match(ir.FieldRef(field), ir.MatchKind.EQ, (value,), case_sensitive=False)
    return ir.Query(ir.Pipeline(ir.Table("events"), (ir.Filter(found),)))


def either(*queries: ir.Query) -> ir.Query:
    tests = tuple(q.pipeline.stages[0].predicate for q in queries)
    return ir.Query(ir.Pipeline(ir.Table("events"), (ir.Filter(ir.Or(tests)),)))


REGEX_EVENTS = [
    {"CommandLine": "cmd /c powershell -noexit x"},
    {"CommandLine": "ECHO hi | MA\u017fK", "Image": "a"},
    {"CommandLine": "echo hi | MASK"},
    {"CommandLine": "ipconfig   /all"},
    {"CommandLine": "ipconfig"},
]
REGEX_RULES = [
    (regex("CommandLine", r"cmd.{0,5}(?:/c|/r).+powershell.+(?:input|noexit)"), [1]),
    (regex("CommandLine", "(?i)echo.*mask"), [2, 3]),
    (regex("CommandLine", r"ipconfig\s+/all"), [4]),
    (regex("Image", "(unclosed"), "error"),
    (either(regex("CommandLine", r"ipconfig\s+/all"), equals("Image", "A")), [2, 4]),
]


def test_rules_of_regular_expressions_find_their_candidates_by_text(tmp_path, scanned):
    path = tmp_path / "e.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in REGEX_EVENTS))
    events = load_events([str(path)])
    queries = [query for query, _ in REGEX_RULES]
    got = together(queries, events)
    assert got == one_by_one(queries, events)
    for (_, want), result in zip(REGEX_RULES, got, strict=True):
        assert (result[0] if want == "error" else [r["_row"] for r in result[1]]) == want
    assert not scanned


def test_a_regular_expression_beside_other_texts_adds_the_text_it_needs():
    """Beside a clause that a pattern fills with "the field is set" (which most events are), one
    that names the pattern's literal text (`regex_texts.texts_needed`, tested above): the
    counts then choose the rarer."""
    tree = sqlglot.parse_one(
        "LOWER(Image) = 'a' OR REGEXP_MATCHES(CommandLine, 'ipconfig\\s+/all')", dialect="duckdb"
    )
    assert prefilter.clauses(tree) == [frozenset({("Image", "a"), ("CommandLine", "")})]
    found = multirule._clauses(tree, patterns=True)
    assert frozenset({("Image", "a"), ("CommandLine", "ipconfig")}) in found  # the rarer one
    assert set(found) <= {
        frozenset({("Image", "a"), ("CommandLine", "ipconfig")}),
        frozenset({("Image", "a"), ("CommandLine", "")}),
    }


@pytest.mark.parametrize("few", [False, True])
def test_a_field_of_few_values_is_grouped_before_its_texts_are_searched(few):
    """The regular expression of a field's texts filters each event, or, in a field of few
    distinct values, each distinct value: the same values either way. Oracle: Python's `in` on
    each value, lowered (the values are ASCII)."""
    values = ["C:\\Windows\\cmd.exe", "c:\\tools\\PSEXEC.exe", "notepad", None, "cmd"] * 3
    words = {f"text{n}": n for n in range(candidates.FEW_TEXTS)} | {"cmd.": 100, "psexec": 101}
    connection = duckdb.connect()
    connection.execute("CREATE TABLE t AS SELECT unnest(?::VARCHAR[]) AS f", [values])
    found = candidates._search(connection, "t", [("f", words)], {"f"} if few else set())
    expected = {
        v: tuple(sorted(n for t, n in words.items() if t in v.lower()))
        for v in set(values) - {None}
        if any(t in v.lower() for t in words)
    }
    assert dict(found["f"]) == expected


def test_the_texts_of_a_field_of_few_values_are_tested_after_the_grouping():
    """DuckDB moves a HAVING on the grouped column below the grouping, where it would test each
    event; the distinct values are materialised so that it tests each value once. Oracle:
    DuckDB's own plan (no operator under the grouping runs the regular expression)."""
    connection = duckdb.connect()
    connection.execute("CREATE TABLE t AS SELECT unnest(['cmd.exe', 'x', NULL]) AS f")
    having = candidates._holding("v", {"cmd.": 1, "psexec": 2})
    distinct = candidates._distinct("t", "f", "TRUE", having)
    (plan,) = connection.execute(f"EXPLAIN (FORMAT JSON) {distinct}").fetchall()[0][1:]

    def below_grouping(node: dict, grouped: bool) -> list[str]:
        grouped = grouped or "GROUP_BY" in node["name"]
        found = [str(node["extra_info"])] if grouped else []
        return found + [t for child in node["children"] for t in below_grouping(child, grouped)]

    nodes = json.loads(plan)
    assert any("GROUP_BY" in str(node) for node in nodes)
    assert not any("regexp" in text for node in nodes for text in below_grouping(node, False))


def test_a_clause_a_tenth_of_the_events_hold_is_checked_on_a_small_table_not_a_large_one(
    monkeypatch,
):
    """On a table of more than a row group the rules left for a full scan are scanned beside
    the search of the texts, so a rule goes there at a lower share of events holding its
    clause (BROAD_SHARE_ALONGSIDE) than on a small table (BROAD_SHARE)."""
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE t AS SELECT i AS _row, "
        "CASE WHEN i % 10 = 0 THEN 'C:\\cmd.exe' ELSE 'C:\\other.exe' END AS Image "
        "FROM range(1, 20001) AS r(i)"
    )
    needs = {0: [frozenset({("Image", "cmd")})]}
    small = candidates.choose(connection, "t", needs)
    assert (small.alongside, small.broad, list(small.chosen)) == (False, [], [0])
    monkeypatch.setattr(candidates, "ROW_GROUP", 10_000)
    large = candidates.choose(connection, "t", needs)
    assert (large.alongside, large.broad, list(large.chosen)) == (True, [0], [])
