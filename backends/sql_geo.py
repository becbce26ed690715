"""`geo_info_from_ip_address()` in SQL: a lookup in a geolocation table supplied with the data.

Kusto answers the function from MaxMind's GeoLite2-City data. SQL has no such data, so rulec reads
the same data from a table the user provides, `geo_ip`, one row per network:

    network    CIDR text, IPv4 ("81.2.69.0/24") or IPv6 ("2a02:ff0::/32")
    country, state, city, latitude, longitude

(GeoLite2-City's blocks joined with its locations: country_name, subdivision_1_name, city_name.)
The value is the property bag of the most specific network holding the address, as JSON text;
null when no network holds it or the text is no address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from rulec.backends.sql_functions import fill
from rulec.backends.sql_network import ipv4_text, ipv6_text
from rulec.compiler import ir

if TYPE_CHECKING:
    from rulec.backends.sql import QueryBuilder

GEO_TABLE = "geo_ip"
GEO_FIELDS = ("country", "state", "city", "latitude", "longitude")
NUMERIC_FIELDS = ("latitude", "longitude")
PREFIX = "_geo_"  # inner column names, so that no event field of the outer query is shadowed
HEX_DIGITS = "0123456789abcdef"


def _column(name: str) -> exp.Column:
    return exp.column(PREFIX + name, quoted=True)


def _when(shape: exp.Expression, inside: exp.Expression) -> exp.Expression:
    """`inside`, evaluated only where the texts have the right shape; false elsewhere."""
    return exp.Case(ifs=[exp.If(this=shape, true=inside)], default=exp.false())


def _same_ipv4_network(builder: QueryBuilder, address: exp.Expression) -> exp.Expression:
    network = fill("SPLIT_PART(_1, '/', 1)", "duckdb", [_column("network")])
    (address_is_v4, address_number), (network_is_v4, network_number) = (
        ipv4_text(builder.dialect, address),
        ipv4_text(builder.dialect, network),
    )
    same = "FLOOR(_1 / POWER(2, 32 - _3)) = FLOOR(_2 / POWER(2, 32 - _3))"
    numbers = [exp.Paren(this=address_number), exp.Paren(this=network_number)]
    inside = fill(same, "duckdb", [*numbers, _column("bits")])
    return _when(exp.and_(address_is_v4, network_is_v4), inside)


def _same_ipv6_network(builder: QueryBuilder, address: exp.Expression) -> exp.Expression:
    network = fill("SPLIT_PART(_1, '/', 1)", "duckdb", [_column("network")])
    (address_is_v6, address_hex), (network_is_v6, network_hex) = (
        ipv6_text(builder.dialect, address),
        ipv6_text(builder.dialect, network),
    )
    whole = "CAST(FLOOR(_3 / 4) AS INT)"
    digit = f"STRPOS('{HEX_DIGITS}', SUBSTRING(_N, {whole} + 1, 1)) - 1"
    top_bits = f"FLOOR(({digit}) / POWER(2, 4 - (_3 - 4 * {whole})))"
    same = (
        f"SUBSTRING(_1, 1, {whole}) = SUBSTRING(_2, 1, {whole}) "
        f"AND {top_bits.replace('_N', '_1')} = {top_bits.replace('_N', '_2')}"
    )
    inside = fill(same, "duckdb", [address_hex, network_hex, _column("bits")])
    return _when(exp.and_(address_is_v6, network_is_v6), inside)


def _bag(builder: QueryBuilder) -> exp.Expression:
    values: list[exp.Expression] = []
    for name in GEO_FIELDS:
        value = _column(name)
        if name in NUMERIC_FIELDS:
            value = builder.dialect.to_number(value)
        values += [exp.Literal.string(name), value]
    function = builder.dialect.json_object
    return builder.dialect.to_text(exp.Anonymous(this=function, expressions=values))


def _networks(builder: QueryBuilder) -> exp.Subquery:
    """The geo table with its columns renamed, and each network's prefix length as `bits`."""
    columns = [
        exp.alias_(exp.column(name, quoted=True), PREFIX + name, quoted=True)
        for name in ("network", *GEO_FIELDS)
    ]
    prefix = fill("SPLIT_PART(_1, '/', 2)", "duckdb", [exp.column("network", quoted=True)])
    columns.append(exp.alias_(builder.dialect.to_number(prefix), PREFIX + "bits", quoted=True))
    return exp.select(*columns).from_(exp.table_(GEO_TABLE, quoted=True)).subquery("_geo")


def geo_info(builder: QueryBuilder, args: list[exp.Expression], node: ir.Node) -> exp.Expression:
    """The property bag for the address `args[0]`, from the most specific network holding it."""
    if len(args) != 1:
        raise builder.backend.unsupported("geo_info_from_ip_address() without one address", node)
    address = builder.dialect.to_text(args[0])
    holds = exp.or_(_same_ipv4_network(builder, address), _same_ipv6_network(builder, address))
    lookup = (
        exp.select(_bag(builder))
        .from_(_networks(builder))
        .where(holds)
        .order_by(exp.Ordered(this=_column("bits"), desc=True))
        .limit(1)
    )
    return exp.Paren(this=exp.Subquery(this=lookup))  # a value: an alias names it, not a table
