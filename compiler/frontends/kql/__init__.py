"""The KQL front end: lexer, parser and lowering of KQL scripts into the rulec IR."""

from .load import load_kql
from .parser import parse_kql

__all__ = ["load_kql", "parse_kql"]
