"""Round trip through the KQL back end: KQL -> IR -> KQL -> IR gives the same IR.

Over every query of ../shared/corpus/kql that the front end lowers, the emitted KQL must parse and
lower again into the same IR (spans excluded: they are not compared). Over every golden case, the
rule's IR written as KQL and read back must select the golden rows on DuckDB.

The round trip allows `dcount` (KQL's estimate, what the corpus is written with): without that
option the back end writes the exact `count_distinct`. Run with `-s` to see the rate and the
reasons for the rest.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from rulec.backends.base import Options
from rulec.backends.kql import KqlBackend
from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql
from rulec.compiler.rules import load_rules
from rulec.compiler.run.verify import check, find_cases, read_case

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "kql"
AS_WRITTEN = Options(approximations=frozenset({"dcount"}))
MIN_SAME_IR = 0.99


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"KQL corpus not found at {CORPUS} (../shared beside the repository)")
    return sorted(CORPUS.rglob("*.kql"))


def lowered(text: str, path: str) -> list[ir.Query]:
    return [item for item in load_kql(text, path) if isinstance(item, ir.Query)]


def body(query: ir.Query) -> tuple[object, ...]:
    """What a round trip must keep: the pipeline, parameters and lets (not the rule's text)."""
    return query.pipeline, query.params, query.lets


def round_trip(query: ir.Query) -> tuple[str, str]:
    """('same' | a reason, the emitted text) for one query."""
    try:
        text = KqlBackend(AS_WRITTEN).emit(query).text
    except ir.RuleError as error:
        return f"not emitted: {error.diagnostic.message}", ""
    results = load_kql(text, "emitted.kql")
    errors = [r for r in results if isinstance(r, ir.Diagnostic) and r.severity == "error"]
    if errors:
        return f"emitted KQL does not load: {errors[0].message}", text
    (back,) = [r for r in results if isinstance(r, ir.Query)]
    return ("same" if body(back) == body(query) else "different IR"), text


def test_corpus_round_trips_to_the_same_ir() -> None:
    outcomes: Counter[str] = Counter()
    different: list[str] = []
    for path in corpus_files():
        for query in lowered(path.read_text(encoding="utf-8", errors="replace"), str(path)):
            outcome, _ = round_trip(query)
            outcomes[outcome] += 1
            if outcome != "same":
                different.append(f"{path.name}: {outcome}")
    total = sum(outcomes.values())
    rate = outcomes["same"] / total
    print(f"\nKQL -> IR -> KQL -> IR: {outcomes['same']}/{total} the same IR ({rate:.1%})")
    for outcome, count in outcomes.most_common():
        print(f"  {count:5d}  {outcome}")
    assert total > 1000
    assert rate >= MIN_SAME_IR, different
    assert not [d for d in different if "does not load" in d or "not emitted" in d], different


# A KQL query | how the back end writes it (which must lower to the same IR as the query)
IDENTITIES = [
    ("T | summarize arg_max(TimeGenerated, *) by User", None),
    ("T | summarize arg_min(t, a, b) by k", None),
    ("T | summarize Last = arg_max(t, a) by k", None),
    ("T | extend x = parse_json(A)[0].b", 'T\n| extend x = parse_json(A)[0]["b"]'),
    ("T | extend x = split(A, '/')[-1]", 'T\n| extend x = split(A, "/")[-1]'),
    ("T | where A.b.c == 1", None),
    ("T | mv-expand E = parse_json(Entities) limit 10", None),
    ("T | mvexpand x", "T\n| mv-expand x limit 128"),
    (
        'T | parse Url with * "://" Host:string "/" Path',
        'T\n| parse Url with * "://" Host:string "/" Path',
    ),
    ('T | parse-where kind=regex A with "k=" V:long', None),
    (
        "union withsource=Src A, (B | where x > 1)",
        "A\n| union withsource=Src (B\n| where x > 1)",
    ),
    ("print n = 1, s = strcat('a', 'b')", 'print n = 1, s = strcat("a", "b")'),
    ('search in (T) "evil" and A has "x"', None),
    ("T | where isnotempty(A) and B == 1", None),
    ("T | where isempty(A)", None),
    ('T | where A has_any ("x", "y")', None),
    ('T | where A in (table("X"))', None),  # `in (X)` alone compares with a column X
    ("T | where A !in (1, 2)", None),
    ("T | extend d = bin(TimeGenerated, 1h), g = geo_info_from_ip_address(IP).country", None),
    ("T | extend e = extract(@'(\\d+)', 1, A), n = array_length(split(A, ','))", None),
    ("T | extend c = iff(A > 1, 'big', 'small'), k = case(A == 1, 'one', 'other')", None),
    (
        "T | extend s = strcat(tolower(A), toupper(B)), t = extractjson('$.a', A, typeof(string))",
        None,
    ),
    ("T | summarize dcount(A), make_set(B, 10), percentile(C, 95) by D", None),
    ("T | summarize c = count() by bin(TimeGenerated, 1d) | sort by c desc | take 5", None),
    ("T | extend v = dynamic(null)", None),
    ("T | where A == @'C:\\Windows' or B !contains 'x'", None),
    ("T | serialize | extend r = row_number()", "T\n| serialize\n| extend r = row_number()"),
    (
        "T | summarize n = count() by A | sort by n | serialize r = row_number(), A",
        "T\n| summarize n = count() by A\n| sort by n desc\n| serialize r = row_number(), A",
    ),
    (
        "T | evaluate ipv4_lookup(Geo, IP, network, return_unmatched = true)",
        "T\n| evaluate ipv4_lookup((Geo), IP, network, return_unmatched=true)",
    ),
    (
        "T | evaluate bag_unpack(AF, columnsConflict='keep_source') : (A: string, N: long)",
        'T\n| evaluate bag_unpack(AF, columnsConflict="keep_source") : (A:string, N:long)',
    ),
    (
        "T | evaluate bag_unpack(AF) : (*, A: string)",
        "T\n| evaluate bag_unpack(AF) : (*, A:string)",
    ),
]


@pytest.mark.parametrize(("source", "expected"), IDENTITIES)
def test_each_construct_round_trips(source: str, expected: str | None) -> None:
    (query,) = lowered(source, "q.kql")
    outcome, text = round_trip(query)
    if expected is not None:
        assert text == expected
    assert outcome == "same", text


def test_dcount_is_exact_unless_the_estimate_is_allowed() -> None:
    (query,) = lowered("T | summarize n = dcount(A)", "q.kql")
    exact = KqlBackend().emit(query)
    estimate = KqlBackend(AS_WRITTEN).emit(query)
    assert (exact.text, exact.notes) == ("T\n| summarize n = count_distinct(A)", ())
    assert estimate.text == "T\n| summarize n = dcount(A)"
    assert [note.code for note in estimate.notes] == ["approximation"]


# ------------------------------------------------------------------------------------- golden


def golden_cases() -> list[Path]:
    return find_cases([REPO / "golden"])


@pytest.mark.parametrize("folder", golden_cases(), ids=lambda folder: folder.name)
def test_golden_rows_survive_the_round_trip(folder: Path, tmp_path: Path) -> None:
    case = read_case(folder)
    (query,) = load_rules(case.rule)
    assert isinstance(query, ir.Query), query
    try:
        text = KqlBackend(Options(time_field="TimeCreated")).emit(query).text
    except ir.RuleError as error:
        pytest.skip(f"kql cannot express this rule: {error.diagnostic.message}")
    emitted = tmp_path / "emitted.kql"
    emitted.write_text(text, encoding="utf-8")
    verdict = check(dataclasses.replace(case, rule=emitted))
    if "does not run" in verdict.detail and "prev()" in verdict.detail:
        pytest.skip(f"the sliding-window plan does not run on DuckDB: {verdict.detail}")
    assert verdict.ok, (verdict.detail, text)
    if query.meta.language == "kql":
        (back,) = lowered(text, str(emitted))
        assert body(back) == body(query), text


def test_every_emitted_corpus_query_parses_in_microsofts_parser(tmp_path: Path) -> None:
    oracle = REPO / "tests" / "kql_oracle"
    if shutil.which("node") is None:
        pytest.skip("node is not installed: Microsoft's KQL parser cannot run")
    if not (oracle / "node_modules" / "@kusto" / "language-service-next").is_dir():
        pytest.skip(f"run `npm install` in {oracle} for @kusto/language-service-next")
    files = []
    for path in corpus_files():
        for query in lowered(path.read_text(encoding="utf-8", errors="replace"), str(path)):
            emitted = tmp_path / f"{len(files):04d}.kql"
            emitted.write_text(KqlBackend().emit(query).text, encoding="utf-8")
            files.append(emitted)
    command = ["node", str(oracle / "oracle.js"), *map(str, files)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rejected = [row for row in map(json.loads, output.splitlines()) if row["diagnostics"]]
    assert len(files) > 1000
    assert rejected == []
