"""Differential test: rulec's KQL parser accepts what Microsoft's parser accepts, and rejects
what it rejects, over the corpus and over broken variants of it.

Needs Node.js and `cd tests/kql_oracle && npm install` (@kusto/language-service-next).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rulec.compiler.frontends.kql import parse_kql

ORACLE = Path(__file__).resolve().parent / "kql_oracle"
PACKAGE = ORACLE / "node_modules" / "@kusto" / "language-service-next"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "kql"
VARIANTS = (
    ("unclosed call", lambda text: text.rstrip() + "\n| where tolower(x"),
    ("dangling operator", lambda text: text.rstrip() + "\n| where"),
    ("second query pasted", lambda text: text.rstrip() + "\n\nSigninLogs\n| take 1"),
    ("statement separator", lambda text: text.rstrip() + ";\nprint 1"),
)


def oracle_accepts(files: list[Path]) -> dict[str, bool]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the Microsoft parser oracle cannot run")
    if not PACKAGE.is_dir():
        pytest.skip(f"run `npm install` in {ORACLE} to install @kusto/language-service-next")
    command = ["node", str(ORACLE / "oracle.js"), *map(str, files)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in output.splitlines()]
    return {row["file"]: not row["diagnostics"] for row in rows}


def rulec_accepts(path: Path) -> bool:
    _, diagnostics = parse_kql(path.read_text(encoding="utf-8"), str(path))
    return not diagnostics


def agreement(files: list[Path]) -> tuple[float, list[str]]:
    theirs = oracle_accepts(files)
    disagreements = [str(f) for f in files if theirs[str(f)] != rulec_accepts(f)]
    return 1 - len(disagreements) / len(files), disagreements


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"KQL corpus not found at {CORPUS} (../shared beside the repository)")
    return sorted(CORPUS.rglob("*.kql"))


def test_agrees_with_microsoft_on_the_corpus() -> None:
    rate, disagreements = agreement(corpus_files())
    print(f"\nagreement with Microsoft's parser on the corpus: {rate:.2%}", disagreements[:5])
    assert rate >= 0.99


def test_agrees_with_microsoft_on_broken_variants(tmp_path: Path) -> None:
    files = []
    for index, source in enumerate(corpus_files()[::25]):
        text = source.read_text(encoding="utf-8")
        for number, (_, make) in enumerate(VARIANTS):
            variant = tmp_path / f"{index}_{number}.kql"
            variant.write_text(make(text), encoding="utf-8")
            files.append(variant)
    rate, disagreements = agreement(files)
    print(f"\nagreement on {len(files)} variants: {rate:.2%}", disagreements[:5])
    assert rate >= 0.97


FORMS = [
    'T | where A containscs "x"',
    'T | where A notcontains "x"',
    'T | where A notcontainscs "x"',
    'T | where A !containscs "x"',
    'T | where A likecs "x" or A notlike "y" or A notlikecs "z"',
    'T | where A CONTAINS "x"',
    'T | where A == "a\\3b" or A == "\\101" or A == "\\38"',
    'T | where A == "\\8"',
    'find in (T, U) where A == "x" project A, B: string',
    'find withsource=S in (T*) where A has "x" project-smart',
    'find "x"',
    "find A == 1 | take 1",
    'find where * has "x"',
    "find in (T) A == 1",
    "find in (T) where A == 1 project-away B",
    "find project A",
    "T | count as C",
    "T | count as",
    "T | project-rename A",
    'T | project-rename A = strcat(B, "a"), C = D',
    "T | render piechart by x",
    "T | render columnchart title='Incident by Month'",
    'T | render barchart kind=unstacked title="x" with (ytitle="y")',
    'T | render barchart by x, y with (title="a")',
    'T | render barchart with (title="a") by x',
    "T | render barchart foo",
    "T | render barchart kind=",
    "T | make-series n = count() default = 0 on t from ago(1d) to now() step 1h by a",
    "T | make-series n = count() on t in range(ago(1d), now(), 1h)",
    "T | make-series n = count() on t from ago(1d) by a",
    'T | where A hasprefix "x" or A !hassuffix_cs "y"',
    "T | extend x = toreal({Seats}) * {Price}",
    "T | where A == {B",
    "T | summarize count() by bin(TimeGenerated, {TimeRange:grain})",
]


def test_agrees_with_microsoft_on_language_forms(tmp_path: Path) -> None:
    """Forms from the KQL reference (legacy operator spellings, escapes, `find`), and near
    misses Microsoft's parser rejects."""
    files = []
    for number, text in enumerate(FORMS):
        files.append(tmp_path / f"{number}.kql")
        files[-1].write_text(text, encoding="utf-8")
    _, disagreements = agreement(files)
    assert not disagreements, [FORMS[int(Path(d).stem)] for d in disagreements]
