"""Event loading: the file formats, Windows event flattening, and located errors."""

from __future__ import annotations

import json

import pytest

from rulec.compiler import ir
from rulec.compiler.events import flatten, load_events

WINDOWS_EVENT = {
    "Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "{5770}"}},
            "EventID": 1,
            "TimeCreated": {"#attributes": {"SystemTime": "2025-10-25T13:21:33.116889Z"}},
            "Computer": "dc1",
        },
        "EventData": {"Image": "C:\\cmd.exe", "ProcessId": 7876, "Flag": True, "Gone": None},
    }
}


def test_windows_event_flattens_to_system_and_event_data_fields():
    flat = flatten(WINDOWS_EVENT)
    assert flat["Provider_Name"] == "Microsoft-Windows-Sysmon"
    assert flat["EventID"] == "1"
    assert flat["TimeCreated"] == "2025-10-25T13:21:33.116889Z"
    assert flat["Image"] == "C:\\cmd.exe"
    assert flat["ProcessId"] == "7876"
    assert flat["Flag"] == "true"
    assert flat["Gone"] is None
    assert "Image=C:\\cmd.exe" in flat["_raw"].split("\n")


def test_evtx_style_data_list():
    record = {
        "Event": {
            "System": {"EventID": {"#text": 4688, "#attributes": {"Qualifiers": 0}}},
            "EventData": {
                "Data": [{"#attributes": {"Name": "NewProcessName"}, "#text": "C:\\x.exe"}]
            },
        }
    }
    flat = flatten(record)
    assert flat["EventID"] == "4688"
    assert flat["NewProcessName"] == "C:\\x.exe"


def test_nested_objects_become_dotted_names():
    flat = flatten({"process": {"name": "cmd.exe", "pid": 4}, "tags": ["a", "b"]})
    assert flat["process.name"] == "cmd.exe"
    assert flat["process.pid"] == "4"
    assert flat["tags"] == '["a", "b"]'


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}\n{"a": 2}\n',
        '[{"a": 1}, {"a": 2}]',
        '{\n  "a": 1\n}\n{\n  "a": 2\n}',
    ],
    ids=["ndjson", "array", "concatenated"],
)
def test_json_forms(tmp_path, text):
    path = tmp_path / "e.json"
    path.write_text(text)
    table = load_events([str(path)])
    assert [row["a"] for row in table.rows] == ["1", "2"]
    assert [row["_row"] for row in table.rows] == [1, 2]


def test_csv_and_folder_and_glob(tmp_path):
    (tmp_path / "a.csv").write_text("Image,User\ncmd.exe,bob\n")
    (tmp_path / "b.ndjson").write_text(json.dumps({"Image": "x.exe"}) + "\n")
    assert len(load_events([str(tmp_path)]).rows) == 2
    assert len(load_events([str(tmp_path / "*.csv")]).rows) == 1


def test_bad_json_names_file_and_line(tmp_path):
    path = tmp_path / "bad.ndjson"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": \n')
    with pytest.raises(ir.RuleError) as caught:
        load_events([str(path)])
    assert caught.value.diagnostic.span.file == str(path)
    assert caught.value.diagnostic.span.line == 3


def test_missing_events_is_a_diagnostic(tmp_path):
    with pytest.raises(ir.RuleError) as caught:
        load_events([str(tmp_path / "nothing-*.json")])
    assert caught.value.diagnostic.code == "events.missing"
