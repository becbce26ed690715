"""Apache Spark as an engine: the `spark` SQL gives the rows the DuckDB reference executor gives.

Oracle: DuckDB (the reference executor) on the same rule and events. Every golden case and every
SigmaHQ regression case runs on both engines; the rows must be equal. (test_regression.py runs
both forms of a case's events, nested and flattened, on DuckDB; both reach Spark as rows that
rulec flattened, so Spark runs the flattened form only.)
The Spark cases run in one local session per test run, batched into a few Spark jobs (each case's
tables under names of their own, its query rewritten to read them). RE2-to-Java regex rewriting
is checked as text (no Spark needed) and by running both engines over the same strings.

Without pyspark the Spark tests skip with the reason, unless `RULEC_REQUIRE_SPARK=1` (set in CI).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pytest
import sqlglot
from sqlglot import exp

from conftest import REPO, SHARED
from rulec.backends.sql_java_regex import NotPortable, java_regex
from rulec.compiler import ir
from rulec.compiler.rules import load_rules
from rulec.compiler.run.events import load_events
from rulec.compiler.run.executor import execute, result_row
from rulec.compiler.run.verify import find_cases, read_case

BATCH = 40  # queries per Spark job

# RE2 pattern, flags -> the Java pattern with the same meaning.
JAVA_REGEX = [
    ("abc", "", "abc"),
    ("a.c", "", "a[^\\n]c"),
    ("a.c", "s", "a(?s:.)c"),
    ("^a$", "", "^a\\z"),
    ("^a$", "m", "(?<![^\\n])a(?![^\\n])"),
    ("\\s+\\S", "", "[\\t\\n\\f\\r ]+[^\\t\\n\\f\\r ]"),
    ("[\\s,]", "", "[\\t\\n\\f\\r ,]"),
    ("x\\b", "", "x(?:(?<=\\w)(?!\\w)|(?<!\\w)(?=\\w))"),
    ("[[:alpha:]_]+", "", "[\\p{Alpha}_]+"),
    ("[^[:^digit:]]", "", "[^\\P{Digit}]"),
    ("[[]", "", "[\\[]"),
    ("[]a]", "", "[\\]a]"),
    ("[a&&b]", "", "[a\\&\\&b]"),
    ("a{,3}", "", "a\\{,3\\}"),
    ("a{2,3}?", "", "a{2,3}?"),
    ("\\Qa.b*\\E+", "", "a\\.b\\*+"),
    ("(?P<x>a)(?i:b)", "", "(?:a)(?iu:b)"),
    ("\\p{Greek}\\pL\\PN", "", "\\p{IsGreek}\\p{L}\\P{N}"),
    ("\\x41\\x{263a}", "i", "(?iu)\\x41\\x{263a}"),
    ("a\\vb\\a", "", "a\\x0Bb\\x07"),
    ("}", "", "\\}"),
]

# RE2 patterns with no Java text of the same meaning here, and what the report names.
NOT_PORTABLE = [
    ("a*+", "possessive quantifier"),
    ("a(?=b)", "look-arounds"),
    ("(?<=a)b", "look-arounds"),
    ("(?>a)", "atomic groups"),
    ("(a)\\1", "escape \\1"),
    ("(?s:a.)", "mode change"),
    ("a\\Z", "escape \\Z"),
    ("[\\S]", "in a character class"),
]

# Strings each regex runs over, on DuckDB (RE2) and on Spark (the rewritten Java pattern).
SUBJECTS = ["abc", "a\nc", "a\rc", "ab\n", "x\x0by", "word end", "élan", "ÉLAN", "[x]", "a{,3}"]
PATTERNS = [
    ("a.c", ""),
    ("a.c", "s"),
    ("b$", ""),
    ("b$", "m"),
    ("^c", "m"),
    ("x\\sy", ""),
    ("d\\b", ""),
    ("élan", "i"),
    ("[[]", ""),
    ("a{,3}", ""),
    ("[[:punct:]]x", ""),
]


@pytest.mark.parametrize(("pattern", "flags", "java"), JAVA_REGEX)
def test_java_regex_text(pattern, flags, java):
    assert java_regex(pattern, set(flags)) == java


@pytest.mark.parametrize(("pattern", "named"), NOT_PORTABLE)
def test_patterns_java_reads_differently_are_reported(pattern, named):
    with pytest.raises(NotPortable, match=named.replace("\\", "\\\\")):
        java_regex(pattern, set())


SPARK_RULE = r"""title: t
logsource: {product: windows, category: process_creation}
detection:
  sel:
    CommandLine|contains: '50%_off'
    Image|re: '^C:\\Win.*\.exe$'
    EventID|gt: 4
  condition: sel
"""
# LIKE wildcards escaped (and the backslash doubled inside Spark's string literal); RE2's `.` and
# `$` spelled for Java; numbers parsed with TRY_CAST (NULL, not an error, under ANSI mode).
SPARK_SQL = r"""SELECT
  *
FROM `events`
WHERE
  LOWER(`CommandLine`) LIKE LOWER('%50\\%\\_off%') ESCAPE '\\'
  AND `Image` RLIKE '^C:\\\\Win[^\\n]*\\.exe\\z'
  AND TRY_CAST(`EventID` AS DOUBLE) > 4"""


@pytest.mark.parametrize("target", ["spark", "sql:spark"])
def test_spark_sql_text(tmp_path, target):
    from rulec.compiler.outcomes import convert_file

    rule = tmp_path / "r.yml"
    rule.write_text(SPARK_RULE)
    (outcome,) = convert_file(rule, [target], None, None, False)
    assert outcome.query == SPARK_SQL


def test_spark_target_reports_a_regex_instead_of_emitting_it(tmp_path):
    from rulec.compiler.outcomes import convert_file

    rule = tmp_path / "r.yml"
    rule.write_text(
        "title: t\nlogsource: {product: windows, category: process_creation}\n"
        "detection:\n  sel:\n    CommandLine|re: 'a++'\n  condition: sel\n"
    )
    (outcome,) = convert_file(rule, ["spark"], None, None, False)
    assert outcome.error is not None and "possessive quantifier" in outcome.error.message


# ------------------------------------------------------------------ on a Spark session


@pytest.fixture(scope="session")
def spark_engine():
    try:
        import pyspark  # noqa: F401
    except ImportError as error:
        if os.environ.get("RULEC_REQUIRE_SPARK") == "1":
            pytest.fail(f"pyspark is required here (RULEC_REQUIRE_SPARK=1): {error}")
        pytest.skip(f"pyspark is not installed (pip install rulec[spark]): {error}")
    from rulec.compiler.run.engines_spark import SparkEngine

    settings = {
        "spark.sql.shuffle.partitions": "1",
        "spark.default.parallelism": "1",
        "spark.sql.adaptive.enabled": "false",
        # Tiny tables: interpreting plans beats compiling them to Java (Janino) by far.
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.factoryMode": "NO_CODEGEN",
        "spark.driver.memory": "1g",
    }
    return SparkEngine("local[2]", settings)


def test_regex_rewriting_keeps_re2_meaning(spark_engine):
    import duckdb

    pairs = [(p, f, s) for p, f in PATTERNS for s in SUBJECTS]
    re2 = duckdb.connect().execute(
        "SELECT regexp_matches(s, p) FROM unnest(?) WITH ORDINALITY AS t(s, n), "
        "unnest(?) WITH ORDINALITY AS u(p, m) WHERE n = m ORDER BY n",
        [[s for _, _, s in pairs], [(f"(?{f})" if f else "") + p for p, f, _ in pairs]],
    )
    expected = [value for (value,) in re2.fetchall()]
    frame = spark_engine.spark.createDataFrame(
        [(i, s, java_regex(p, set(f))) for i, (p, f, s) in enumerate(pairs)],
        "n INT, s STRING, p STRING",
    )
    got = [row[0] for row in frame.orderBy("n").selectExpr("s RLIKE p").collect()]
    assert got == expected


@dataclass
class Job:
    """One case to run on both engines."""

    name: str
    query: ir.Query
    events: object
    tables: dict
    now: object


class Recorder:
    """A stand-in engine for `execute`: loads the case's tables into Spark under names of its own
    and records the query (rewritten to read them) instead of running it."""

    dialect = "spark"

    def __init__(self, spark_engine, prefix: str):
        self.engine = spark_engine
        self.prefix = prefix
        self.names: dict[str, str] = {}
        self.sql: str | None = None

    def load(self, name, table):
        self.names[name] = f"{self.prefix}{len(self.names)}"
        self.engine.load(self.names[name], table)

    def stored_columns(self, name):
        return self.engine.stored_columns(self.names[name]) if name in self.names else None

    def run(self, sql):
        tree = sqlglot.parse_one(sql, read="spark")
        ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            if table.name in self.names and table.name not in ctes and not table.args.get("db"):
                table.set("this", exp.to_identifier(self.names[table.name], quoted=True))
        self.sql = tree.sql(dialect="spark")
        return []


def canonical(rows):
    return sorted(json.dumps(row, sort_keys=True, default=str) for row in rows)


def agree(spark_engine, jobs: list[Job]) -> list[str]:
    """Each job on DuckDB and, batched, on Spark: the names of the jobs whose rows differ."""
    expected, queries = [], []
    for number, job in enumerate(jobs):
        expected.append(execute(job.query, job.events, job.tables, job.now))
        recorder = Recorder(spark_engine, f"_rulec_case{number}_")
        execute(job.query, job.events, job.tables, job.now, engine=recorder)
        queries.append(recorder.sql)
    got = []
    for start in range(0, len(queries), BATCH):
        batch = spark_engine.run_many(queries[start : start + BATCH])
        got.extend([result_row(row) for row in rows] for rows in batch)
    return [
        f"{job.name}: spark {canonical(rows)} != duckdb {canonical(want)}"
        for job, rows, want in zip(jobs, got, expected, strict=True)
        if canonical(rows) != canonical(want)
    ]


def _query(path) -> ir.Query:
    (query,) = load_rules(path)
    assert not isinstance(query, ir.Diagnostic), query
    return query


def test_golden_cases_agree(spark_engine):
    jobs = []
    for folder in find_cases([REPO / "golden"]):
        case = read_case(folder)
        tables = {name: load_events([str(path)]) for name, path in case.tables.items()}
        events = load_events([str(case.events)])
        jobs.append(Job(folder.name, _query(case.rule), events, tables, case.now))
    assert len(jobs) >= 21
    assert agree(spark_engine, jobs) == []


def test_regression_cases_agree(spark_engine, shared):
    path = SHARED / "regression" / "cases.jsonl"
    cases = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    jobs = [
        Job(case["id"], _query(shared / case["rule"]), flat_events(shared, case), {}, None)
        for case in cases
    ]
    assert len(jobs) == 98
    assert agree(spark_engine, jobs) == []


def flat_events(shared, case):
    return load_events([str(shared / case["flat_path"])])


def test_parquet_files_read_by_spark_itself(spark_engine, tmp_path):
    """Two Parquet files that Spark reads (not rulec): `_row` runs on across the files and `_raw`
    is built as rulec builds it, so a rule selects the same rows as on DuckDB."""
    import duckdb

    case = read_case(REPO / "golden" / "proc_creation_win_bitsadmin_download_direct_ip")
    source = str(case.events)
    halves = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    for half, (low, high) in zip(halves, [(1, 4), (5, 10**9)], strict=True):
        duckdb.connect().execute(
            f"COPY (SELECT * EXCLUDE (n) FROM (SELECT *, row_number() OVER () AS n "
            f"FROM read_json_auto('{source}')) WHERE n BETWEEN {low} AND {high}) "
            f"TO '{half}' (FORMAT PARQUET)"
        )
    events = load_events([str(h) for h in halves])
    assert events.files is not None and events.files.format == "parquet"
    query = _query(case.rule)
    want = execute(query, events)
    assert [r["_row"] for r in want] == case.rows
    assert execute(query, events, engine=spark_engine) == want


def test_cli_run_on_spark_prints_what_duckdb_prints(spark_engine):
    from click.testing import CliRunner

    from rulec.compiler.cli import main

    case = REPO / "golden" / "win_winrm_listening_service_reconnaissance"
    args = ["run", str(read_case(case).rule), "--events", str(case / "events.ndjson")]
    args += ["--format", "json"]
    duck = CliRunner().invoke(main, args)
    spark = CliRunner().invoke(main, [*args, "--engine", "spark"])
    assert duck.exit_code == spark.exit_code == 0
    assert json.loads(spark.stdout)["matches"] == 2
    assert spark.stdout == duck.stdout
