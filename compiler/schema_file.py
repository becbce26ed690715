"""User-supplied table schemas (`--schema FILE`): which columns each table has.

The file is YAML (or JSON): a mapping from table name to its columns, either a list of names or a
mapping of name to type. SQL targets need the columns to compile stages whose output depends on
their input's columns (extend, project-away, join, union) for engines without star modifiers.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from rulec.compiler import ir


def read_schema(path: Path) -> dict[str, tuple[str, ...]]:
    """Table name -> column names, in order; a malformed file raises `ir.RuleError`."""
    span = ir.Span(str(path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ir.RuleError(ir.Diagnostic("schema.unreadable", str(error), span)) from None
    if not isinstance(data, dict):
        message = "expected a mapping of table name to its columns"
        raise ir.RuleError(ir.Diagnostic("schema.shape", message, span))
    schema = {}
    for table, columns in data.items():
        if isinstance(columns, dict):
            columns = list(columns)
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            message = f"table {table!r}: expected a list of column names or a name: type mapping"
            raise ir.RuleError(ir.Diagnostic("schema.shape", message, span))
        schema[str(table)] = tuple(columns)
    return schema
