"""RE2 regexes on PostgreSQL (`sql_are_regex`): each pattern, under each flag set, matches on
PostgreSQL exactly the texts it matches under RE2. The oracle is RE2 itself, as DuckDB embeds it
(REGEXP_MATCHES), run on the same texts."""

from __future__ import annotations

import duckdb
import pytest
from sqlglot import exp

from rulec.backends.sql_dialects import dialect_for
from rulec.compiler import ir

PATTERNS = [
    r"\bfoo\b", r"\Bfoo", r"o\B", r"\d+", r"^\D+$", r"^\w+$", r"\W", r"a\sb", r"a\Sb",
    r"^a.b$", r"^a[^x]b$", "^a$", r"\x41\x{e9}", r"\Qa.b\E", r"(?P<x>ab)c",
    r"[[:alpha:]]+[[:digit:]]", r"^[[:space:]]$", r"[[.]", r"[]a]", r"a{", r"a{2}", r"x}",
    r"[\d\s]", r"[\w-]+@", r"a\.b", r"^\d{3}$", r"a\z", r"\Aab", r"(?:ab)+?c", r"[a^]",
    "(^|[^A-Za-z0-9])whoami($|[^A-Za-z0-9])",  # KQL `has`, as rulec writes it
    r"\W*((?i)Admin(?-i))\W*", r"a(?i:bk)c", r"x(?i)y", r"(?i:s)(?-i:s)",
]  # fmt: skip
TEXTS = [
    "foo", "a foo b", "food", "xfoo", "é", "٣", "123", "abc", "a b", "a\nb", "a\tb", "a\x08b",
    "A\u00e9", "a.b", "axb", "abc", "ababc", "x9", "xé9", " ", "\n", "\u00a0", "[", ".", "]",
    "a{", "aa", "x}", "a-b@", "é@", "a\n", "ab", "^", "", "ä1",
    "x\nwhoami", "whoami\n", " ADMIN ", "aDmIn", "xY", "XY", "aBKc", "ab\u212ac", "\u017fs", "Ss",
]  # fmt: skip
FLAGS = [frozenset(), frozenset("i"), frozenset("s"), frozenset("m"), frozenset("ms")]


def re2_matches(pattern: str, flags: frozenset[str]) -> list[bool]:
    inline = "".join(sorted(flags))
    full = (f"(?{inline})" if inline else "") + pattern
    db = duckdb.connect()
    return [db.execute("SELECT REGEXP_MATCHES(?, ?)", [t, full]).fetchone()[0] for t in TEXTS]


@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: "".join(sorted(f)) or "none")
def test_postgres_matches_like_re2(flags, postgres_engine):
    dialect = dialect_for("postgres")
    cursor = postgres_engine.connection
    reported = []
    for pattern in PATTERNS:
        try:
            regex = dialect.regex(exp.Literal.string(""), pattern, True, flags).expression.name
        except ir.RuleError:
            reported.append(pattern)
            continue
        found = [cursor.execute("SELECT %s ~ %s", [t, regex]).fetchone()[0] for t in TEXTS]
        assert found == re2_matches(pattern, flags), (pattern, regex)
    # a mode change inside a pattern that folds case as a whole is reported, never guessed
    assert reported == (
        [r"\W*((?i)Admin(?-i))\W*", r"a(?i:bk)c", r"x(?i)y", r"(?i:s)(?-i:s)"]
        if "i" in flags
        else []
    )


@pytest.mark.parametrize(
    "pattern", [r"\pL", r"a(?s)b", r"(?=a)", r"a++", r"[\D]", r"(?i:[é])", r"(?i:é)"]
)
def test_what_ARE_cannot_say_is_reported(pattern):
    with pytest.raises(ir.RuleError, match="RE2's meaning"):
        dialect_for("postgres").regex(exp.Literal.string(""), pattern, True, frozenset())
