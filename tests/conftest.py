"""Shared fixtures: where ../shared is, and a PostgreSQL server when one is reachable.

PostgreSQL: `RULEC_TEST_POSTGRES` holds a libpq connection string (CI sets it after starting a
server). Without it the tests try the local default; if no server answers they skip with the
reason, unless `RULEC_REQUIRE_POSTGRES=1` (set in CI), where a missing server is a failure.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"the shared data folder is absent: {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    dsn = os.environ.get("RULEC_TEST_POSTGRES", "host=localhost user=postgres dbname=postgres")
    try:
        import psycopg

        with psycopg.connect(dsn, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except Exception as error:
        if os.environ.get("RULEC_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but not reachable at {dsn!r}: {error}")
        pytest.skip(f"no PostgreSQL server reachable at {dsn!r}: {error}")
    return dsn


@pytest.fixture
def postgres_engine(postgres_dsn: str):
    """A PostgresEngine inside a schema of its own, dropped afterwards."""
    from rulec.compiler.engines import PostgresEngine

    engine = PostgresEngine(postgres_dsn)
    schema = f"rulec_test_{uuid.uuid4().hex[:12]}"
    engine.connection.execute(f'CREATE SCHEMA "{schema}"')
    engine.connection.execute(f'SET search_path TO "{schema}"')
    yield engine
    engine.connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
    engine.connection.close()
