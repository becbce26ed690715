"""Target names to back ends: duckdb, postgres, spark, sql:<sqlglot dialect>, eql, spl, kql, all."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable

from rulec.backends.base import Backend, Emitted, Options
from rulec.compiler import ir

TEXT_TARGETS = {
    "eql": ("rulec.backends.eql", "EqlBackend"),
    "spl": ("rulec.backends.spl", "SplBackend"),
    "kql": ("rulec.backends.kql", "KqlBackend"),
}
SQL_TARGETS = ("duckdb", "postgres")
ENGINE_TARGETS = ("spark",)  # named after an engine; the same text as sql:<name>; not in `all`


def available() -> list[str]:
    """The targets `all` stands for: every SQL engine and every text back end installed."""
    names = list(SQL_TARGETS)
    for name, (module, _) in TEXT_TARGETS.items():
        if importlib.util.find_spec(module) is not None:
            names.append(name)
    return names


def expand(targets: Iterable[str]) -> list[str]:
    """Target names with `all` expanded, duplicates dropped, order kept."""
    out: dict[str, None] = {}
    for target in targets:
        out.update(dict.fromkeys(available() if target == "all" else [target]))
    return list(out)


def is_sql(target: str) -> bool:
    """Whether `target` names SQL (an engine or a sqlglot dialect)."""
    return target in SQL_TARGETS or target in ENGINE_TARGETS or target.startswith("sql:")


def backend_for(target: str, options: Options | None = None) -> Backend:
    """The back end for a target name; unknown names raise ValueError."""
    from rulec.backends.sql import SqlBackend

    if target in SQL_TARGETS or target in ENGINE_TARGETS:
        return SqlBackend(target, options)
    if is_sql(target):
        try:
            return SqlBackend(target[4:], options)
        except ValueError:
            raise ValueError(f"unknown SQL dialect {target[4:]!r}") from None
    if target in TEXT_TARGETS:
        module, cls = TEXT_TARGETS[target]
        return getattr(importlib.import_module(module), cls)(options)
    known = ", ".join(["all", *available(), *ENGINE_TARGETS, "sql:<dialect>"])
    raise ValueError(f"unknown target {target!r}: expected one of {known}")


def emit(target: str, query: ir.Query, options: Options | None = None) -> Emitted:
    """`query` for a target, or rendered as a deploy format (elastic-eql, sentinel, ...)."""
    from rulec.backends import deploy

    if target in deploy.FORMATS:
        return deploy.emit(target, query, options)
    return backend_for(target, options).emit(query)
