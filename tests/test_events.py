"""Event loading: the file formats, Windows event flattening, and located errors."""

from __future__ import annotations

import json

import pytest

from rulec.compiler import ir
from rulec.compiler.run.events import field_name, flatten, load_events, stored_names

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
    assert flat["Gone"] == ""  # an element the event holds with no text is present and empty
    assert "Image=C:\\cmd.exe" in flat["_raw"].split("\n")


@pytest.mark.parametrize(
    "data",
    [
        {"#text": ["C:\\a b\\x.msi", 7, None]},  # the evtx package's form
        ["C:\\a b\\x.msi", 7, None],
        [{"#text": "C:\\a b\\x.msi"}, {"#text": 7}, {}],
    ],
)
def test_unnamed_data_elements_are_one_field_joined_by_newlines(data):
    flat = flatten({"Event": {"System": {"EventID": 1040}, "EventData": {"Data": data}}})
    assert flat["Data"] == "C:\\a b\\x.msi\n7\n"


def test_field_names_lose_their_spaces():
    data = {"Threat Name": "EICAR", "New Value": "1"}
    flat = flatten({"Event": {"System": {"EventID": 5007}, "EventData": data}})
    assert (flat["ThreatName"], flat["NewValue"]) == ("EICAR", "1")
    assert "Threat Name" not in flat


def test_user_data_never_replaces_a_system_field():
    cleared = {"LogFileCleared": {"SubjectUserName": "u", "Channel": "Windows PowerShell"}}
    system = {"EventID": 104, "Channel": "System"}
    flat = flatten({"Event": {"System": system, "UserData": cleared}})
    assert (flat["Channel"], flat["UserData_Channel"]) == ("System", "Windows PowerShell")
    assert flat["SubjectUserName"] == "u"


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


# file name | bytes | diagnostic code | line (None: the format has no lines)
BAD_FILES = [
    ("extra.csv", b"a,b\n1,2\n1,2,3\n", "events.bad-csv", 3),
    ("cut.csv", b'a,b\n1,2\n"x\ny,3\n', "events.bad-csv", 3),
    ("junk.csv", b'a,b\n1,2\n"x"y,3\n', "events.bad-csv", 3),
    ("multi.csv", b'a,b\n"1\n2",2\n1,2,3\n', "events.bad-csv", 4),
    ("late.csv", b"a\nx\n\xff\n", "events.encoding", 3),
    ("empty.csv", b"", "events.empty", None),
    ("empty.ndjson", b"", "events.empty", None),
    ("blank.json", b"  \n\n", "events.empty", None),
    ("null.ndjson", b'{"a": 1}\nnull\n', "events.not-object", 2),
    ("mixed.ndjson", b'{"a": 1}\n[{"a": 2}, 3]\n', "events.not-object", 2),
    (
        "deep.ndjson",
        b'{"a": 1}\n' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000,
        "events.too-deep",
        2,
    ),
    ("deep-array.json", b"\n" + b"[" * 100_000 + b"]" * 100_000, "events.too-deep", 2),
    ("empty.parquet", b"", "events.bad-parquet", None),
    ("broken.evtx", b"ElfFile\x00 but not really", "events.bad-evtx", None),
    ("truncated.ndjson", b'{"a": "1"}\n{"a": "2", "b":', "events.bad-json", 2),
    ("prose.ndjson", b"hello world\n", "events.bad-json", 1),
    ("half.json", b'[{"a": "1"}, {"a": ', "events.bad-json", 1),
    ("numbers.json", b"[1, 2, 3]", "events.not-object", 1),
    ("latin1.ndjson", b'{"a": "caf\xe9"}\n', "events.encoding", 1),
    ("utf16.ndjson", '{"a": "1"}'.encode("utf-16"), "events.encoding", 1),
]


@pytest.mark.parametrize(("name", "data", "code", "line"), BAD_FILES)
def test_bad_files_are_located_diagnostics(tmp_path, name, data, code, line):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ir.RuleError) as caught:
        load_events([str(path)])
    diagnostic = caught.value.diagnostic
    assert (diagnostic.code, diagnostic.span.file, diagnostic.span.line) == (code, str(path), line)


def test_truncated_parquet_is_a_diagnostic(tmp_path):
    import duckdb

    whole, cut = tmp_path / "whole.parquet", tmp_path / "cut.parquet"
    duckdb.connect().execute(f"COPY (SELECT 'x' AS a FROM range(1000)) TO '{whole}'")
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(ir.RuleError) as caught:
        load_events([str(cut)])
    assert caught.value.diagnostic.code == "events.bad-parquet"


# file name | bytes | the `a` of each event
ACCEPTED = [
    ("bom.csv", b"\xef\xbb\xbfa,b\n1,2\n", ["1"]),
    ("bom.ndjson", b'\xef\xbb\xbf{"a": "1"}\n', ["1"]),
    ("header-only.csv", b"a,b\n", []),
    ("no-events.json", b"[]", []),
    ("quoted.csv", b'a,b\n"x\ny",2\n', ["x\ny"]),
]


@pytest.mark.parametrize(("name", "data", "values"), ACCEPTED)
def test_files_with_few_or_odd_events_load(tmp_path, name, data, values):
    path = tmp_path / name
    path.write_bytes(data)
    assert [row["a"] for row in load_events([str(path)]).rows] == values


def test_a_folder_without_event_files_is_a_diagnostic(tmp_path):
    (tmp_path / "notes.txt").write_text("no events here")
    (tmp_path / "looks.json").mkdir()
    with pytest.raises(ir.RuleError) as caught:
        load_events([str(tmp_path)])
    assert (caught.value.diagnostic.code, caught.value.diagnostic.span.file) == (
        "events.missing",
        str(tmp_path),
    )


def test_a_device_is_not_an_event_file():
    with pytest.raises(ir.RuleError) as caught:
        load_events(["/dev/zero"])
    assert caught.value.diagnostic.code == "events.not-file"


# fields | the columns that store them (unique regardless of case)
STORED = [
    (("_row", "Image", "_raw"), ("_row", "Image", "_raw")),
    (("A", "a"), ("A", "a\x1f1")),
    (("a", "A", "B", "b", "ß"), ("a", "A\x1f1", "B", "b\x1f1", "ß")),
    (("x\x1f1", "x"), ("x\x1f1\x1f1", "x")),
    (("a", "a\x1f1", "A"), ("a", "a\x1f1\x1f1", "A\x1f2")),
    (("_RAW", "_ROW", "_row", "_raw"), ("_RAW\x1f1", "_ROW\x1f1", "_row", "_raw")),
    (("", "b"), ("\x1f1", "b")),
]


@pytest.mark.parametrize(("fields", "columns"), STORED)
def test_stored_names_are_unique_regardless_of_case_and_reversible(fields, columns):
    stored = stored_names(fields)
    assert tuple(stored.values()) == columns
    assert len({c.lower() for c in columns}) == len(columns)
    assert [field_name(c) for c in columns] == list(fields)


@pytest.mark.parametrize("nested", [False, True])
def test_each_event_names_its_file_and_line(tmp_path, nested):
    def event(n: int) -> dict:
        return {"Event": {"System": {"EventID": n}}} if nested else {"n": n}

    first, second = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    first.write_text(json.dumps(event(1)) + "\n\n" + json.dumps(event(2)) + "\n")
    second.write_text("\n" + json.dumps(event(3)) + "\n")
    table = load_events([str(tmp_path)])
    assert (table.files is None) is nested  # flat files are read by DuckDB, nested ones here
    found = [table.origin(row) for row in (1, 2, 3)]
    assert found == [(str(first), 1), (str(first), 3), (str(second), 2)]
