"""The command line for a first-time user: versions, listings, summaries, empty input, engines."""

from __future__ import annotations

import sys

from click.testing import CliRunner

from conftest import REPO
from rulec.compiler.cli import main

SEED = REPO / "rules" / "sigma" / "win_winrm_listening_service_reconnaissance.yml"
SEED_EVENTS = REPO / "golden" / "win_winrm_listening_service_reconnaissance" / "events.ndjson"


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_postgres_engine_without_psycopg_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` now raises ImportError
    result = invoke("run", SEED, "--events", SEED_EVENTS, "--engine", "postgres")
    assert result.exit_code == 1
    assert "pip install rulec[postgres]" in result.stderr
