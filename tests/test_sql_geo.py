"""`geo_info_from_ip_address()` reads the user's `geo_ip` table (GeoLite2-City, one row per
network): each row is an address and the bag KQL gives for it with that data, checked by hand,
run on DuckDB and on PostgreSQL."""

from __future__ import annotations

import json

import pytest

from rulec.backends.base import Options
from rulec.backends.sql import SqlBackend
from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql
from rulec.compiler.run.engines import DuckDBEngine
from rulec.compiler.run.events import EventTable
from rulec.compiler.run.executor import execute

GEO_COLUMNS = ("network", "country", "state", "city", "latitude", "longitude")
GEO_ROWS = (
    ("81.2.69.0/24", "United Kingdom", "England", "London", "51.5", "-0.1"),
    ("81.2.0.0/16", "United Kingdom", None, None, "51", "0"),
    ("2a03:2880::/29", "United States", "Florida", "Boca Raton", "26.3594", "-80.0771"),
)
LONDON = {"country": "United Kingdom", "state": "England", "city": "London"}
LONDON |= {"latitude": 51.5, "longitude": -0.1}
BOCA = {"country": "United States", "state": "Florida", "city": "Boca Raton"}
BOCA |= {"latitude": 26.3594, "longitude": -80.0771}

# (address, the bag: the most specific network holding the address, None where none does)
ADDRESSES = [
    ("81.2.69.160", LONDON),
    ("81.2.1.1", {"country": "United Kingdom", "state": None, "city": None} | {
        "latitude": 51, "longitude": 0}),
    ("81.3.0.1", None),
    ("2a03:2880:f12c:83:face:b00c::25de", BOCA),
    ("2A03:2887:FFFF::1", BOCA),
    ("2a03:2888::1", None),
    ("not an address", None),
    (None, None),
]  # fmt: skip

QUERY = """T
| extend Geo = geo_info_from_ip_address(x)
| project x, Geo, Country = tostring(Geo.country)"""


def lookup(engine) -> dict[str | None, tuple[object, object]]:
    engine.load(
        "geo_ip",
        EventTable(GEO_COLUMNS, tuple(dict(zip(GEO_COLUMNS, r, strict=False)) for r in GEO_ROWS)),
    )
    engine.load("T", EventTable(("x",), tuple({"x": a} for a, _ in ADDRESSES)))
    (query,) = load_kql(QUERY, "geo.kql")
    schema = {"T": ("x",), "geo_ip": GEO_COLUMNS}
    sql = SqlBackend(engine.dialect, Options(schema=schema)).emit(query).text
    return {row["x"]: (row["Geo"], row["Country"]) for row in engine.run(sql)}


def check(found: dict[str | None, tuple[object, object]]) -> None:
    for address, bag in ADDRESSES:
        value, country = found[address]
        assert (json.loads(value) if value is not None else None) == bag, address
        assert country == (bag["country"] if bag else None), address


def test_duckdb() -> None:
    check(lookup(DuckDBEngine()))


def test_postgres(postgres_engine) -> None:
    check(lookup(postgres_engine))


def test_the_query_reads_the_geo_table() -> None:
    query = ir.Query(
        ir.Pipeline(
            ir.Table("T"),
            (
                ir.Project(
                    (ir.Assign("g", ir.Call("geo_info_from_ip_address", (ir.FieldRef("x"),))),)
                ),
            ),
        )
    )
    sql = " ".join(SqlBackend("duckdb").emit(query).text.split())
    assert 'FROM "geo_ip"' in sql and 'ORDER BY "_geo_bits" DESC LIMIT 1' in sql


def test_geo_needs_one_address() -> None:
    call = ir.Call("geo_info_from_ip_address", ())
    query = ir.Query(ir.Pipeline(ir.Table("T"), (ir.Project((ir.Assign("g", call),)),)))
    with pytest.raises(ir.RuleError, match="one address"):
        SqlBackend("duckdb").emit(query)


def test_the_reference_executor_binds_the_geo_table() -> None:
    """Through `rulec run`'s executor: the bag is a value column, filtered on like any other."""
    query = load_kql(
        QUERY.replace("| project", "| where Country != 'United States'\n| project").replace(
            "| where", "| extend Country = tostring(Geo.country)\n| where", 1
        ),
        "geo.kql",
    )[0]
    geo = EventTable(GEO_COLUMNS, tuple(dict(zip(GEO_COLUMNS, r, strict=True)) for r in GEO_ROWS))
    events = EventTable(("x",), tuple({"x": a} for a, _ in ADDRESSES))
    rows = execute(query, events, {"geo_ip": geo})
    assert {r["x"]: r["Country"] for r in rows} == {
        a: (bag["country"] if bag else None)
        for a, bag in ADDRESSES
        if not bag or bag["country"] != "United States"
    }
