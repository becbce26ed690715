"""CIDR matching in portable SQL, on addresses stored as text.

IPv4: the text must be a dotted quad (each octet 0-255); its number must lie in the network's
range. IPv6: the text (lower-cased, zone id dropped) is expanded to 32 hex digits ("::" filled
with zero groups, each group padded to four digits); the network's leading bits are then a prefix
of that string, the last partial hex digit checked against the digits it allows. IPv4-mapped text
forms (`::ffff:1.2.3.4`) are not expanded and do not match an IPv6 network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlglot import exp

if TYPE_CHECKING:
    from rulec.backends.sql_dialects import SqlDialect

NETWORK = "rulec_network"  # meta of a column's network test: the network (`network_test`)

OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_TEXT = rf"^{OCTET}\.{OCTET}\.{OCTET}\.{OCTET}$"
IPV6_CHARS = r"^[0-9a-f:]{2,39}$"
IPV6_FULL = r"^([0-9a-f]{1,4}:){7}[0-9a-f]{1,4}$"


def _text(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def _number(value: int) -> exp.Literal:
    return exp.Literal.number(value)


def _part(dialect: SqlDialect, value: exp.Expression, separator: str, index: int) -> exp.Expression:
    return dialect.split_part(value, _text(separator), _number(index))


def cidr_match(dialect: SqlDialect, field: exp.Expression, network: ipaddress._BaseNetwork):
    """True when `field` holds an address inside `network`; false for anything else. The test
    of a column carries its network in its meta (NETWORK), for a reader that holds the column's
    address forms elsewhere to write the same test over them (`network_test`)."""
    read = ipv4_text if network.version == 4 else ipv6_text
    shape, value = read(dialect, field)
    made = [value]

    def address() -> exp.Expression:  # built again for a second use: cheaper than a copy
        return made.pop() if made else read(dialect, field)[1]

    test = network_test(shape, address, network)
    if isinstance(field, exp.Column):
        test.meta[NETWORK] = network
    return test


def network_test(
    shape: exp.Expression,
    address: Callable[[], exp.Expression],
    network: ipaddress._BaseNetwork,
) -> exp.Case:
    """`CASE WHEN <shape> THEN <the address lies in network> ELSE FALSE END`: `shape` tells
    whether the field is an address of the network's version, and `address()` gives its
    number (IPv4) or its 32 hex digits (IPv6), a tree of its own at each call."""
    inside = _in_ipv4(address, network) if network.version == 4 else _in_ipv6(address, network)
    return exp.Case(ifs=[exp.If(this=shape, true=inside)], default=exp.false())


def ipv4_text(dialect: SqlDialect, field: exp.Expression) -> tuple[exp.Expression, exp.Expression]:
    """Whether `field` is a dotted quad, and its number (meaningful only where it is)."""
    number: exp.Expression | None = None
    for index, weight in enumerate((16777216, 65536, 256, 1), 1):
        octet = exp.Mul(
            this=exp.cast(
                _part(dialect, field.copy(), ".", index), exp.DataType.Type.BIGINT, copy=False
            ),
            expression=_number(weight),
        )
        number = octet if number is None else exp.Add(this=number, expression=octet)
    assert number is not None
    return dialect.regex(field.copy(), IPV4_TEXT, True, frozenset()), number


def _in_ipv4(number: Callable[[], exp.Expression], network: ipaddress.IPv4Network):
    return exp.Between(
        this=number(),
        low=_number(int(network.network_address)),
        high=_number(int(network.broadcast_address)),
    )


def _colons(value: exp.Expression) -> exp.Expression:
    without = exp.Replace(this=value.copy(), expression=_text(":"), replacement=_text(""))
    return exp.Sub(this=exp.Length(this=value.copy()), expression=exp.Length(this=without))


def _groups(side: exp.Expression) -> exp.Expression:
    """How many hex groups one side of `::` holds."""
    empty = exp.EQ(this=side.copy(), expression=_text(""))
    counted = exp.Add(this=_colons(side), expression=_number(1))
    return exp.Case(ifs=[exp.If(this=empty, true=_number(0))], default=counted)


def _expanded(dialect: SqlDialect, address: exp.Expression) -> exp.Expression:
    """The address with `::` replaced by the zero groups it stands for."""
    left, right = _part(dialect, address, "::", 1), _part(dialect, address, "::", 2)
    missing = exp.Sub(
        this=exp.Sub(this=_number(8), expression=_groups(left)), expression=_groups(right)
    )
    filled = exp.Concat(
        expressions=[left, _text(":"), exp.Repeat(this=_text("0:"), times=missing), right]
    )
    trimmed = exp.Trim(this=filled, expression=_text(":"), position="BOTH")
    compressed = exp.GT(
        this=exp.StrPosition(this=address.copy(), substr=_text("::")), expression=_number(0)
    )
    return exp.Case(ifs=[exp.If(this=compressed, true=trimmed)], default=address.copy())


def _hex(dialect: SqlDialect, full: exp.Expression) -> exp.Expression:
    """Eight groups, each padded to four hex digits, as one 32-digit string."""
    padded = [
        exp.Pad(
            this=_part(dialect, full, ":", i),
            expression=_number(4),
            fill_pattern=_text("0"),
            is_left=True,
        )
        for i in range(1, 9)
    ]
    return exp.Concat(expressions=padded)


def _allowed_digits(digit: int, bits: int) -> list[str]:
    """Hex digits whose top `bits` bits equal those of `digit`."""
    shift = 4 - bits
    return [f"{d:x}" for d in range(16) if d >> shift == digit >> shift]


def ipv6_text(dialect: SqlDialect, field: exp.Expression) -> tuple[exp.Expression, exp.Expression]:
    """Whether `field` is IPv6 text, and its 32 hex digits (meaningful only where it is)."""

    def address() -> exp.Expression:  # built again for each use: cheaper than a copy
        return exp.Lower(this=_part(dialect, field.copy(), "%", 1))

    shape = exp.and_(
        dialect.regex(address(), IPV6_CHARS, True, frozenset()),
        dialect.regex(_expanded(dialect, address()), IPV6_FULL, True, frozenset()),
        exp.EQ(this=_part(dialect, address(), "::", 3), expression=_text("")),
        copy=False,
    )
    return shape, _hex(dialect, _expanded(dialect, address()))


def _in_ipv6(hex_text: Callable[[], exp.Expression], network: ipaddress.IPv6Network):
    digits = network.network_address.exploded.replace(":", "")
    whole, bits = divmod(network.prefixlen, 4)
    checks: list[exp.Expression] = []
    if whole:
        head = exp.Substring(this=hex_text(), start=_number(1), length=_number(whole))
        checks.append(exp.EQ(this=head, expression=_text(digits[:whole])))
    if bits:
        next_digit = exp.Substring(this=hex_text(), start=_number(whole + 1), length=_number(1))
        allowed = _allowed_digits(int(digits[whole], 16), bits)
        checks.append(exp.In(this=next_digit, expressions=[_text(d) for d in allowed]))
    return exp.and_(*checks, copy=False) if checks else exp.true()
