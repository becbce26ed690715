"""The documented columns of Microsoft Sentinel and Defender XDR tables, read from schemas/*.yml.

Each product file maps a table (or a function's output) to its columns in documented order, one
`name: type` line per column; Sentinel's `connectors` section holds the tables its data
connectors create. Names match case-sensitively, as KQL names do. Where both products
document a table, the Defender XDR page wins (see schemas/NOTICE.md).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
PRODUCTS = ("defender_xdr", "sentinel")
SECTIONS = ("tables", "functions", "connectors")

Columns = dict[str, str]


@cache
def product_tables(product: str) -> dict[str, Columns]:
    """Every table and function output of one product file, parsed once per process."""
    if product not in PRODUCTS:
        raise ValueError(f"unknown schema product {product!r}: expected one of {PRODUCTS}")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with (SCHEMA_DIR / f"{product}.yml").open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=loader)
    tables: dict[str, Columns] = {}
    for section in SECTIONS:
        for name, block in (document.get(section) or {}).items():
            tables[name] = parse_columns(block)
    return tables


def parse_columns(block: str) -> Columns:
    """`Name: type` lines into an ordered mapping of column name to KQL type."""
    columns: Columns = {}
    for line in block.splitlines():
        name, _, kql_type = line.partition(":")
        columns[name.strip()] = kql_type.strip()
    return columns


def searched(product: str | None) -> tuple[str, ...]:
    """The products a lookup reads, in order of preference."""
    return (product,) if product else PRODUCTS


def lookup(table: str, product: str | None = None) -> Columns | None:
    """A table's columns in one product, or in the first of PRODUCTS that documents it."""
    for candidate in searched(product):
        columns = product_tables(candidate).get(table)
        if columns is not None:
            return columns
    return None


def known_columns(table: str, product: str | None = None) -> tuple[str, ...] | None:
    """The documented column names of a table, in order; None when no schema documents it."""
    columns = lookup(table, product)
    return None if columns is None else tuple(columns)


def known_types(table: str, product: str | None = None) -> dict[str, str] | None:
    """The documented KQL type of each column of a table; None when no schema documents it."""
    columns = lookup(table, product)
    return None if columns is None else dict(columns)


def known_tables(product: str | None = None) -> frozenset[str]:
    """The names of every documented table and function output."""
    return frozenset(name for p in searched(product) for name in product_tables(p))


def documented_spelling(table: str) -> str | None:
    """The documented table whose name differs from `table` only in letter case, if any."""
    folded = table.casefold()
    found = [name for name in sorted(known_tables()) if name.casefold() == folded]
    return found[0] if found and found[0] != table else None


@cache
def json_text_columns(table: str) -> frozenset[str]:
    """The string columns of `table` that hold a JSON document (schemas/json_text.yml)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with (SCHEMA_DIR / "json_text.yml").open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=loader) or {}
    return frozenset(document.get(table, ()))
