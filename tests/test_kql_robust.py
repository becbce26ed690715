"""KQL queries never fail on the shape of their data, and convert to the same text every time.

Oracles: the golden result of seed 003 (golden/winrm_plugin_lateral_movement, checked by hand
against the rule's meaning), and the README's own `rulec run` example for it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import subprocess
import sys
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from kql_data import events_for

from conftest import REPO, SHARED
from rulec.backends.schemas import known_columns
from rulec.compiler import ir
from rulec.compiler.cli import main
from rulec.compiler.frontends.kql import load_kql
from rulec.compiler.run.engines import DuckDBEngine
from rulec.compiler.run.events import EventTable, load_events
from rulec.compiler.run.executor import RunWarning, execute
from rulec.compiler.run.multirule.runner import run_rules

SEED = REPO / "rules" / "kql" / "winrm_plugin_lateral_movement.kql"
CASE = REPO / "golden" / "winrm_plugin_lateral_movement"
NOW = datetime(2026, 3, 10, 12, tzinfo=timezone.utc)
# the columns seed 003 reads, per table (its filters, its join keys, invoke's key)
READ = {
    "DeviceImageLoadEvents": {"_ingestion_time", "InitiatingProcessFileName", "FolderPath"},
    "DeviceFileEvents": {"Timestamp", "ActionType", "FolderPath"},
    "FileProfile": {"ProfileAvailability", "GlobalPrevalence"},
}
KEYS = {"SHA1", "DeviceId", "_row"}


def seed_query() -> ir.Query:
    (query,) = load_kql(SEED.read_text(encoding="utf-8"), str(SEED))
    assert isinstance(query, ir.Query)
    return query


def golden_tables() -> dict[str, EventTable]:
    expected = json.loads((CASE / "expected.json").read_text(encoding="utf-8"))
    files = {"DeviceImageLoadEvents": expected["events"], **expected["tables"]}
    return {name: load_events([str(CASE / file)]) for name, file in files.items()}


def without(table: EventTable, dropped: set[str]) -> EventTable:
    columns = tuple(c for c in table.columns if c not in dropped)
    rows = tuple({k: v for k, v in row.items() if k not in dropped} for row in table.rows)
    return EventTable(columns, rows)


def signature(rows: list[dict]) -> list[tuple]:
    """Which events each row joins (left and right `_row`), and the values it reads."""
    return sorted((row["_row"], row["_row1"], row["SHA1"], row["FolderPath"]) for row in rows)


def run_seed(tables: dict[str, EventTable]) -> list[dict]:
    tables = dict(tables)
    events = tables.pop("DeviceImageLoadEvents")
    (result,) = run_rules([seed_query()], events, tables, NOW)
    assert result.ok, result.error
    return result.rows


def test_the_readme_run_example_for_the_seed_matches_its_golden_rows():
    result = CliRunner().invoke(
        main,
        [
            "run", str(SEED), "--now", "2026-03-10T12:00:00Z", "--format", "json",
            "--events", str(CASE / "DeviceImageLoadEvents.ndjson"),
            "--table", f"DeviceFileEvents={CASE / 'DeviceFileEvents.ndjson'}",
            "--table", f"FileProfile={CASE / 'FileProfile.ndjson'}",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    expected = json.loads((CASE / "expected.json").read_text(encoding="utf-8"))["rows"]
    assert out["ok"] and sorted((r["_row"], r["_row1"]) for r in out["rows"]) == sorted(
        (r["_row"], r["_row1"]) for r in expected
    )


@pytest.mark.parametrize("seed", range(6))
def test_the_seed_finds_its_rows_whatever_unread_columns_the_events_lack(seed):
    """Every golden column the seed does not read is dropped at random, per table: the same
    events still join, and nothing fails inside the engine."""
    chooser = random.Random(seed)
    tables = golden_tables()
    expected = signature(run_seed(tables))
    golden = json.loads((CASE / "expected.json").read_text(encoding="utf-8"))["rows"]
    assert [row[:2] for row in expected] == sorted((r["_row"], r["_row1"]) for r in golden)
    thinned = {}
    for name, table in tables.items():
        unread = sorted(set(table.columns) - READ[name] - KEYS)
        thinned[name] = without(table, {c for c in unread if chooser.random() < 0.5})
    assert signature(run_seed(thinned)) == expected


def test_ingestion_time_reads_the_event_time_when_the_events_have_none():
    tables = golden_tables()
    loads = tables["DeviceImageLoadEvents"]
    timed = EventTable(
        loads.columns, tuple({**row, "Timestamp": row["_ingestion_time"]} for row in loads.rows)
    )
    tables["DeviceImageLoadEvents"] = without(timed, {"_ingestion_time"})
    with pytest.warns(RunWarning) as caught:
        rows = run_seed(tables)
    assert signature(rows) == signature(run_seed(golden_tables()))
    diagnostic = caught[0].message.diagnostic
    assert diagnostic.code == "run.ingestion-time" and diagnostic.severity == "warning"
    assert "'Timestamp'" in diagnostic.message and diagnostic.span.line == 6


def test_run_prints_the_ingestion_time_warning_once(tmp_path):
    events = tmp_path / "loads.ndjson"
    lines = (CASE / "DeviceImageLoadEvents.ndjson").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    for row in rows:
        row["Timestamp"] = row.pop("_ingestion_time")
    events.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = CliRunner().invoke(
        main,
        [
            "run", str(SEED), "--now", "2026-03-10T12:00:00Z", "--events", str(events),
            "--table", f"DeviceFileEvents={CASE / 'DeviceFileEvents.ndjson'}",
            "--table", f"FileProfile={CASE / 'FileProfile.ndjson'}",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr.count("warning[run.ingestion-time]") == 1
    assert f"{SEED}:6:11:" in result.stderr and "5 matches" in result.stdout


DETERMINISM = """
import json, sys
from rulec.backends.registry import emit
from rulec.compiler.frontends.kql import load_kql
for text in json.loads(sys.argv[1]):
    for target in ("kql", "duckdb", "postgres", "spark"):
        try:
            print(emit(target, load_kql(text, "t.kql")[0]).text)
        except Exception as error:
            print(type(error).__name__, error)
"""
QUERIES = [
    "T | summarize arg_max(n, *) by a, b",
    "T | summarize arg_min(n, *), count() by b, a, c",
    "T | summarize arg_max(n, x, y) by a | project-away b, c",
    "T | where A has_any ('x', 'y', 'z') | extend q = pack('b', B, 'a', A)",
    SEED.read_text(encoding="utf-8"),
]


def test_conversion_is_byte_identical_whatever_the_string_hash_seed():
    outputs = set()
    for hash_seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        command = [sys.executable, "-c", DETERMINISM, json.dumps(QUERIES)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        outputs.add(done.stdout)
    assert len(outputs) == 1


CORPUS = sorted((SHARED / "corpus" / "kql").rglob("*.kql")) if SHARED.is_dir() else []


@functools.cache
def corpus_queries(path: Path) -> tuple[ir.Query, ...]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return tuple(q for q in load_kql(text, str(path)) if isinstance(q, ir.Query))


def run_on_generated_events(query: ir.Query, chooser: random.Random) -> None:
    """The query over generated events: rows or a located diagnostic (RuleError), nothing else."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RunWarning)
        with contextlib.suppress(ir.RuleError):
            execute(query, None, events_for(query, chooser), NOW, engine=DuckDBEngine())


@pytest.mark.skipif(not CORPUS, reason=f"the KQL corpus is absent: {SHARED}")
@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(path=st.sampled_from(CORPUS or [Path()]), chooser=st.randoms(use_true_random=False))
def test_corpus_queries_never_fail_inside_the_engine_on_any_subset_of_columns(path, chooser):
    """A corpus query (a fixed sample of 60 per run) runs over generated events holding a
    random subset of its tables' documented columns and of the fields it names: it gives rows
    or a located diagnostic, never an internal error (an engine's binder error is always a
    bug). `--hypothesis-seed` with `derandomize` off samples others."""
    for query in corpus_queries(path):
        run_on_generated_events(query, chooser)


def test_a_field_one_joined_table_lacks_reads_as_null_in_that_table_only():
    """`Extra` is a column of L, not of R: in R's scope it is null, in L's it keeps its value
    (KQL: a column a table lacks is null where that table is read)."""
    (query,) = load_kql(
        "L | join kind=inner (R | where isempty(Extra) | extend Mark = 1) on Key"
        " | project Key, Extra, Mark",
        "join.kql",
    )
    tables = {
        "L": EventTable(("Key", "Extra"), ({"Key": "k", "Extra": "left"},)),
        "R": EventTable(("Key",), ({"Key": "k"},)),
    }
    rows = execute(query, None, tables, NOW, engine=DuckDBEngine())
    assert [(r["Key"], r["Extra"], r["Mark"]) for r in rows] == [("k", "left", 1)]


# Seed 003 on generated events that hold every column it reads (and a random subset of the rest),
# against the rule's meaning written out in Python: plugins are images loaded by wsmprovhost.exe
# (any case) in the last 2 days, outside the .NET native-image cache, whose file profile (left
# joined on SHA1) is not an error and whose global prevalence (0 when unknown) is under 100;
# writes are files created, renamed or modified in the last 30 days whose SHA1 (any case) is a
# plugin's; the rule pairs each plugin with each write of the same SHA1, device and lower-case
# folder path.
SEED_TEXTS = {
    "name": ["wsmprovhost.exe", "wsmprovhost.exe", "WsmProvHost.EXE", "svchost.exe"],
    "folder": [
        "C:\\Windows\\assembly\\NativeImages_v4\\a.dll",
        "C:\\ProgramData\\Plugins\\P.dll",
        "c:\\programdata\\plugins\\p.dll",
    ],
    "sha": ["s1", "s1", "S1", "s2"],
    "device": ["d1", "d1", "d2"],
    "action": ["FileCreated", "filerenamed", "FileModified", "FileDeleted"],
    "availability": ["Available", "ERROR"],
}


def _pick(kind: str) -> st.SearchStrategy[str]:
    return st.sampled_from(SEED_TEXTS[kind])


def _days_ago() -> st.SearchStrategy[str]:
    return st.sampled_from([1, 1, 47, 49, 24 * 29, 24 * 31]).map(
        lambda hours: (NOW - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    )


LOADS = st.fixed_dictionaries(
    {
        "_ingestion_time": _days_ago(),
        "InitiatingProcessFileName": _pick("name"),
        "FolderPath": _pick("folder"),
        "SHA1": _pick("sha"),
        "DeviceId": _pick("device"),
    }
)
WRITES = st.fixed_dictionaries(
    {
        "Timestamp": _days_ago(),
        "ActionType": _pick("action"),
        "FolderPath": _pick("folder"),
        "SHA1": _pick("sha"),
        "DeviceId": _pick("device"),
    }
)
PROFILE = st.fixed_dictionaries(
    {
        "ProfileAvailability": _pick("availability"),
        "GlobalPrevalence": st.sampled_from([None, 0, 99, 100]),
    }
)


def seed_meaning(loads: list[dict], writes: list[dict], profiles: dict[str, dict]) -> list[tuple]:
    """(load `_row`, write `_row`) of each row the seed gives, by its meaning."""
    plugins = []
    for load in loads:
        profile = profiles.get(load["SHA1"], {})
        if (
            datetime.fromisoformat(load["_ingestion_time"]) >= NOW - timedelta(days=2)
            and load["InitiatingProcessFileName"].lower() == "wsmprovhost.exe"
            and not load["FolderPath"].lower().startswith("c:\\windows\\assembly\\nativeimages_")
            and (profile.get("ProfileAvailability") or "").lower() != "error"
            and (profile.get("GlobalPrevalence") or 0) < 100
        ):
            plugins.append({**load, "FolderPath": load["FolderPath"].lower()})
    hashes = {p["SHA1"].lower() for p in plugins}
    found = []
    for write in writes:
        if (
            datetime.fromisoformat(write["Timestamp"]) >= NOW - timedelta(days=30)
            and write["ActionType"].lower() in ("filecreated", "filerenamed", "filemodified")
            and write["SHA1"].lower() in hashes
        ):
            folder = write["FolderPath"].lower()
            found += [
                (p["_row"], write["_row"])
                for p in plugins
                if (p["SHA1"], p["DeviceId"], p["FolderPath"])
                == (write["SHA1"], write["DeviceId"], folder)
            ]
    return sorted(found)


def with_unread_columns(table: str, rows: list[dict], chooser: random.Random) -> EventTable:
    """The rows, numbered, with a random subset of the table's other documented columns."""
    read = sorted({c for row in rows for c in row} | {"_row"})
    others = [c for c in known_columns(table) or () if c not in read]
    extra = [c for c in others if chooser.random() < 0.3]
    full = [
        {**{c: f"v{chooser.randrange(3)}" for c in extra}, **row, "_row": n}
        for n, row in enumerate(rows, 1)
    ]
    return EventTable(tuple(read + extra), tuple(full))


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(
    loads=st.lists(LOADS, min_size=3, max_size=8),
    writes=st.lists(WRITES, min_size=3, max_size=8),
    profiles=st.dictionaries(_pick("sha"), PROFILE, max_size=4),
    chooser=st.randoms(use_true_random=False),
)
def test_the_seed_gives_the_rows_its_meaning_gives_on_generated_events(
    loads, writes, profiles, chooser
):
    loads_table = with_unread_columns("DeviceImageLoadEvents", loads, chooser)
    writes_table = with_unread_columns("DeviceFileEvents", writes, chooser)
    profile_rows = tuple({"SHA1": sha, **profile} for sha, profile in sorted(profiles.items()))
    tables = {
        "DeviceImageLoadEvents": loads_table,
        "DeviceFileEvents": writes_table,
        "FileProfile": EventTable(
            ("SHA1", "ProfileAvailability", "GlobalPrevalence"), profile_rows
        ),
    }
    expected = seed_meaning(list(loads_table.rows), list(writes_table.rows), profiles)
    rows = execute(seed_query(), None, tables, NOW, engine=DuckDBEngine())
    assert sorted((row["_row"], row["_row1"]) for row in rows) == expected
