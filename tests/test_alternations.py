"""A long OR of text tests on one field, rewritten as one regular expression, keeps the same
rows. Oracle: DuckDB itself, evaluating the original tests (`contains`, `starts_with`,
`suffix`, lowered or not) and the rewritten filter over the same values, including regular
expression characters, letters that change length when lowered, newlines and NULL."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from rulec.compiler.run.multirule.alternations import LONGEST, alternations
from rulec.compiler.run.multirule.runner import _plain_likes

TEXTS = ["a.b", "A(B", "x|y", "[z]", "^q$", "\\d", "İ", "ß", "ǅ", "line\nnext", "", "*+?{1}", "é"]
FUNCTIONS = ("contains", "starts_with", "suffix")


def or_of_tests(texts: list[str], lowered: bool, functions: list[str]) -> exp.Expression:
    field: exp.Expression = exp.column("v", quoted=True)
    field = exp.Lower(this=field) if lowered else field
    tests = []
    for text, function in zip(texts, functions, strict=True):
        literal: exp.Expression = exp.Literal.string(text)
        literal = exp.Lower(this=literal) if lowered else literal
        tests.append(exp.Anonymous(this=function, expressions=[field.copy(), literal]))
    return exp.Paren(this=exp.or_(*tests, copy=False))


def rows(connection, condition: exp.Expression) -> list[int]:
    sql = f"SELECT n FROM t WHERE {condition.sql(dialect='duckdb')} ORDER BY n"
    return [n for (n,) in connection.execute(sql).fetchall()]


@pytest.fixture(scope="module")
def connection():
    connection = duckdb.connect()
    values = [*TEXTS, *(t.upper() for t in TEXTS), "xa.bx", "zzA(B", "nothing", None]
    values += [a + b for a in TEXTS[:6] for b in TEXTS[6:]]
    connection.execute("CREATE TABLE t (n INTEGER, v VARCHAR)")
    connection.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(values)))
    return connection


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(TEXTS), min_size=LONGEST, max_size=3 * LONGEST),
    st.booleans(),
    st.data(),
)
def test_a_long_list_is_one_expression_with_the_same_rows(connection, texts, lowered, data):
    functions = [data.draw(st.sampled_from(FUNCTIONS)) for _ in texts]
    original = or_of_tests(texts, lowered, functions)
    rewritten = alternations(original.copy())
    assert len(list(rewritten.find_all(exp.Anonymous))) == 1  # one regexp_matches
    assert rows(connection, rewritten) == rows(connection, original)


def test_a_short_list_and_other_fields_stay_as_they_are(connection):
    few = or_of_tests((TEXTS * 2)[: LONGEST - 1], False, ["contains"] * (LONGEST - 1))
    assert alternations(few.copy()) == few
    many = or_of_tests([f"v{n}" for n in range(LONGEST)], True, ["contains"] * LONGEST)
    other = exp.EQ(this=exp.column("n"), expression=exp.Literal.number(3))
    mixed = exp.Paren(this=exp.or_(many.this, other, copy=False))
    rewritten = alternations(mixed.copy())
    assert rewritten.find(exp.EQ) is not None
    assert rows(connection, rewritten) == rows(connection, mixed)


def test_the_rewrite_reads_what_the_like_rewrite_writes():
    likes = " OR ".join(f"lower(v) LIKE lower('%t{n}.%') ESCAPE '\\'" for n in range(LONGEST))
    tree = _plain_likes(exp.maybe_parse(likes, dialect="duckdb"))
    found = alternations(tree).find(exp.Anonymous)
    assert found is not None and found.name == "regexp_matches"
