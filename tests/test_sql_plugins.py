"""KQL plug-ins in SQL, executed: `bag_unpack()` with its output columns declared, and
`ipv4_lookup()`.

Oracles: the values are those of the examples on Microsoft's bag_unpack page (the bag
`{"Name": "John", "Age": 20}`, ... unpacked; with `OutputColumnPrefix` 'Property_';
`columnsConflict='replace_source'` giving the bag's Name, 'keep_source' the input's
'Old_name'), each run with an output schema declared; the columns and their order are those
Kusto.Language (tests/kql_oracle/semantic.js) gives each query: exactly the declared ones.
ipv4_lookup's rows are those of the example on its page (United Kingdom and Russia matched,
192.165.12.17 kept with nulls under `return_unmatched = true`), and of that example with extra
keys (the row whose country_iso_code differs is dropped); its columns again Kusto.Language's.
Each case runs on DuckDB and on PostgreSQL. Cases the page leaves open are diagnostics.
"""

from __future__ import annotations

import ipaddress
import json

import pytest

from conftest import microsoft_result_columns
from rulec.backends.base import Options
from rulec.backends.sql import SqlBackend
from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql
from rulec.compiler.run.engines import DuckDBEngine
from rulec.compiler.run.events import EventTable
from rulec.compiler.run.executor import execute

TYPES = {"Name": "string", "d": "dynamic"}
PEOPLE = (("John", 20), ("Dave", 40), ("Jasmine", 30))
EVENTS = EventTable(
    tuple(TYPES),
    tuple(
        {"Name": "Old_name", "d": json.dumps({"Name": n, "Age": a, "Address": f"A-{a}"})}
        for n, a in PEOPLE
    ),
)
# query -> the rows Microsoft's examples give
CASES = {
    "T | project d | evaluate bag_unpack(d) : (Name: string, Age: long)": [
        {"Name": n, "Age": a} for n, a in PEOPLE
    ],
    "T | project d | evaluate bag_unpack(d, 'Property_')"
    " : (Property_Age: long, Property_Name: string)": [
        {"Property_Age": a, "Property_Name": n} for n, a in PEOPLE
    ],
    "T | evaluate bag_unpack(d, columnsConflict='replace_source') : (Age: long, Name: string)": [
        {"Age": a, "Name": n} for n, a in PEOPLE
    ],
    "T | evaluate bag_unpack(d, columnsConflict='keep_source') : (Age: long, Name: string)": [
        {"Age": a, "Name": "Old_name"} for n, a in PEOPLE
    ],
    "T | evaluate bag_unpack(d, '', 'keep_source', dynamic(['Address']))"
    " : (Name: string, Age: real)": [{"Name": "Old_name", "Age": float(a)} for n, a in PEOPLE],
    # `(*, ...)`: the input's columns but the bag, then the declared ones not among them
    "T | evaluate bag_unpack(d, columnsConflict='keep_source') : (*, Age: long)": [
        {"Name": "Old_name", "Age": a} for n, a in PEOPLE
    ],
    "T | evaluate bag_unpack(d, columnsConflict='replace_source') : (*, Age: long, Name: string)": [
        {"Name": n, "Age": a} for n, a in PEOPLE
    ],
}


@pytest.fixture(scope="module")
def microsoft_columns() -> dict[str, list[str]]:
    return microsoft_result_columns(list(CASES), {"T": TYPES})


def query(text: str) -> ir.Query:
    (parsed,) = load_kql(text, "t.kql")
    assert isinstance(parsed, ir.Query), parsed
    return parsed


def check(text: str, engine, microsoft_columns) -> None:
    rows = execute(query(text), EVENTS, engine=engine)
    assert all(list(row) == microsoft_columns[text] for row in rows)
    key = lambda row: sorted(row.items())  # noqa: E731
    assert sorted(rows, key=key) == sorted(CASES[text], key=key)


@pytest.mark.parametrize("text", CASES)
def test_duckdb_unpacks_the_declared_columns(text, microsoft_columns):
    check(text, DuckDBEngine(), microsoft_columns)


@pytest.mark.parametrize("text", CASES)
def test_postgres_unpacks_the_declared_columns(text, microsoft_columns, postgres_engine):
    check(text, postgres_engine, microsoft_columns)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("T | evaluate bag_unpack(d)", "declare them"),
        ("T | evaluate bag_unpack(d) : (Name: string)", "columnsConflict='error' refuses"),
        ("T | evaluate bag_unpack(d, 'p_') : (Age: long)", "which slot fills Age"),
        (
            "T | evaluate bag_unpack(d, ignoredProperties=dynamic(['Age'])) : (Age: long)",
            "ignored property Age",
        ),
        ("T | evaluate bag_unpack(d, columnsConflict='other') : (Age: long)", "'other'"),
    ],
)
def test_what_the_page_leaves_open_is_a_located_diagnostic(text, message):
    backend = SqlBackend(DuckDBEngine().dialect, Options(schema={"T": tuple(TYPES)}))
    with pytest.raises(ir.RuleError) as raised:
        backend.emit(query(text))
    diagnostic = raised.value.diagnostic
    assert message in diagnostic.message
    assert (diagnostic.span.line, diagnostic.span.column) == (1, 5)


# ipv4_lookup: the example of Microsoft's ipv4_lookup page (its lookup table and addresses), and
# its variant matching the extra keys continent_name and country_iso_code.
IP_DATA = """let IP_Data = datatable(network: string, continent_code: string,
    continent_name: string, country_iso_code: string, country_name: string)[
  "111.68.128.0/17", "AS", "Asia", "JP", "Japan",
  "5.8.0.0/19", "EU", "Europe", "RU", "Russia",
  "223.255.254.0/24", "AS", "Asia", "SG", "Singapore",
  "46.36.200.51/32", "OC", "Oceania", "CK", "Cook Islands",
  "2.20.183.0/24", "EU", "Europe", "GB", "United Kingdom"];
"""
IPS = """let IPs = datatable(ip: string)['2.20.183.12', '5.8.1.2', '192.165.12.17'];
"""
KEYED_IPS = """let IPs = datatable(ip: string, continent_name: string, country_iso_code: string)[
  '2.20.183.12', 'Europe', 'GB', '5.8.1.2', 'Europe', 'RU', '192.165.12.17', 'Europe', ''];
"""
UK = {"network": "2.20.183.0/24", "continent_code": "EU", "continent_name": "Europe"}
UK |= {"country_iso_code": "GB", "country_name": "United Kingdom"}
RU = {"network": "5.8.0.0/19", "continent_code": "EU", "continent_name": "Europe"}
RU |= {"country_iso_code": "RU", "country_name": "Russia"}
NONE = dict.fromkeys(UK)
LOOKUPS = {
    IP_DATA + IPS + "IPs | evaluate ipv4_lookup(IP_Data, ip, network)": [
        {"ip": "2.20.183.12", **UK},
        {"ip": "5.8.1.2", **RU},
    ],
    IP_DATA + IPS + "IPs | evaluate ipv4_lookup(IP_Data, ip, network, return_unmatched = true)": [
        {"ip": "2.20.183.12", **UK},
        {"ip": "5.8.1.2", **RU},
        {"ip": "192.165.12.17", **NONE},
    ],
    IP_DATA
    + KEYED_IPS
    + "IPs | evaluate ipv4_lookup(IP_Data, ip, network, continent_name, country_iso_code)": [
        {"ip": "2.20.183.12", "continent_name": "Europe", "country_iso_code": "GB"}
        | {k: v for k, v in UK.items() if k not in ("continent_name", "country_iso_code")},
        {"ip": "5.8.1.2", "continent_name": "Europe", "country_iso_code": "RU"}
        | {k: v for k, v in RU.items() if k not in ("continent_name", "country_iso_code")},
    ],
}


@pytest.fixture(scope="module")
def lookup_columns() -> dict[str, list[str]]:
    return microsoft_result_columns(list(LOOKUPS), {})


def check_lookup(text: str, engine, lookup_columns) -> None:
    rows = execute(query(text), engine=engine)
    assert all(list(row) == lookup_columns[text] for row in rows)
    key = lambda row: sorted((k, str(v)) for k, v in row.items())  # noqa: E731
    assert sorted(rows, key=key) == sorted(LOOKUPS[text], key=key)


@pytest.mark.parametrize("text", LOOKUPS)
def test_duckdb_looks_up_addresses_in_networks(text, lookup_columns):
    check_lookup(text, DuckDBEngine(), lookup_columns)


@pytest.mark.parametrize("text", LOOKUPS)
def test_postgres_looks_up_addresses_in_networks(text, lookup_columns, postgres_engine):
    check_lookup(text, postgres_engine, lookup_columns)


# Oracle: Python's ipaddress (an address, masked by its own prefix if it has one, lies in the
# network); text that is not IPv4 in IP-prefix notation matches nothing.
ADDRESSES = ["10.1.2.3", "10.1.2.3/8", "10.255.255.255", "11.0.0.0", "0.0.0.0", "1.2.3", ""]
ADDRESSES += ["300.1.1.1", "46.36.200.51", "46.36.200.52", "192.168.1.1/33", "10.1.2.3/16"]
NETWORKS = ["10.0.0.0/8", "10.1.0.0/16", "0.0.0.0/0", "46.36.200.51/32", "46.36.200.51"]
NETWORKS += ["10.1.2.0/24", "10.0.0.0/33", "x"]


def python_matches() -> list[dict]:
    def network(text: str) -> ipaddress.IPv4Network | None:
        try:
            return ipaddress.IPv4Network(text, strict=False)
        except ValueError:
            return None

    return [
        {"ip": a, "network": n}
        for a in ADDRESSES
        for n in NETWORKS
        if network(a) and network(n) and network(a).network_address in network(n)
    ]


def network_lookup() -> str:
    quote = lambda values: ", ".join(f"'{v}'" for v in values)  # noqa: E731
    return (
        f"let Networks = datatable(network: string)[{quote(NETWORKS)}];\n"
        f"datatable(ip: string)[{quote(ADDRESSES)}] | evaluate ipv4_lookup(Networks, ip, network)"
    )


def test_duckdb_matches_networks_as_python_does():
    rows = execute(query(network_lookup()), engine=DuckDBEngine())
    key = lambda row: (row["ip"], row["network"])  # noqa: E731
    assert sorted(rows, key=key) == sorted(python_matches(), key=key)


def test_postgres_matches_networks_as_python_does(postgres_engine):
    rows = execute(query(network_lookup()), engine=postgres_engine)
    key = lambda row: (row["ip"], row["network"])  # noqa: E731
    assert sorted(rows, key=key) == sorted(python_matches(), key=key)
