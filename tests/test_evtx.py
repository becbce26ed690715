"""EVTX input: records read through the `evtx` package flatten like their JSON form.

A real .evtx file is needed: the tests look in RULEC_EVTX_SAMPLES (a folder), default
tests/data/evtx, for `new-user-security.evtx` (from the evtx crate's samples, MIT licence) and
skip with the reason when it is absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rulec.compiler import ir
from rulec.compiler.run.events import flatten, load_events
from rulec.compiler.run.executor import execute

SAMPLES = Path(os.environ.get("RULEC_EVTX_SAMPLES", Path(__file__).parent / "data" / "evtx"))
SAMPLE = SAMPLES / "new-user-security.evtx"


@pytest.fixture
def sample() -> Path:
    pytest.importorskip("evtx")
    if not SAMPLE.is_file():
        pytest.skip(f"no EVTX sample at {SAMPLE} (set RULEC_EVTX_SAMPLES)")
    return SAMPLE


def test_evtx_rows_equal_the_flattened_json_records(sample):
    from evtx import PyEvtxParser

    records = [json.loads(r["data"]) for r in PyEvtxParser(str(sample)).records_json()]
    table = load_events([str(sample)])
    assert len(table.rows) == len(records) == 4
    for number, (row, record) in enumerate(zip(table.rows, records, strict=True), 1):
        assert row == {**flatten(record), "_row": number}


def test_evtx_fields_are_the_windows_names(sample):
    first = load_events([str(sample)]).rows[0]
    assert first["EventID"] == "4728"
    assert first["Provider_Name"] == "Microsoft-Windows-Security-Auditing"
    assert first["TimeCreated"] == "2013-10-23T16:22:39.973500Z"
    assert first["TargetUserName"] == "None"
    assert first["Computer"] == "IE8Win7"


def test_a_rule_runs_over_evtx(sample):
    match = ir.Match(ir.FieldRef("EventID"), ir.MatchKind.EQ, ("4728",), case_sensitive=True)
    query = ir.Query(ir.Pipeline(ir.Table("events"), (ir.Filter(match),)))
    rows = execute(query, load_events([str(sample)]))
    assert [row["_row"] for row in rows] == [1]


def test_a_file_that_is_not_evtx_is_a_diagnostic(tmp_path):
    pytest.importorskip("evtx")
    bad = tmp_path / "bad.evtx"
    bad.write_bytes(b"not an event log")
    with pytest.raises(ir.RuleError) as caught:
        load_events([str(bad)])
    assert caught.value.diagnostic.code == "events.bad-evtx"
