"""DuckDB's threads follow the data: one while the tables are a few rows held in memory (a row
group is scanned on one thread anyway, and each further thread holds buffers of its own), the
engine's default once a table comes from files. Oracle: DuckDB's own `current_setting`."""

from __future__ import annotations

import json

from rulec.compiler.run.engines import DuckDBEngine
from rulec.compiler.run.events import ROW, EventTable, load_events


def threads(engine: DuckDBEngine) -> int:
    return engine.connection.execute("SELECT current_setting('threads')").fetchone()[0]


def test_rows_in_memory_take_one_thread_and_files_the_default(tmp_path):
    engine = DuckDBEngine()
    default = threads(engine)
    rows = EventTable((ROW, "Image"), ({ROW: 1, "Image": "a.exe"}, {ROW: 2, "Image": "b.exe"}))
    engine.load("events", rows)
    assert threads(engine) == 1
    assert engine.connection.execute('SELECT count(*) FROM "events"').fetchone() == (2,)
    path = tmp_path / "more.ndjson"
    path.write_text("".join(json.dumps({"Image": f"{n}.exe"}) + "\n" for n in range(3)))
    files = load_events([str(path)])
    assert files.files is not None
    engine.load("more", files)
    assert threads(engine) == default
    engine.drop("more")
    engine.load("events", rows)
    assert threads(engine) == 1


def test_an_engine_without_tables_keeps_the_default():
    engine = DuckDBEngine()
    default = threads(engine)
    engine._threads()
    assert threads(engine) == default
