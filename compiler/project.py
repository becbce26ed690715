"""The project file: the conversion a repository of rules runs, so that CI and a developer's
machine run the same one with a bare `rulec convert`.

`rulec.toml`, or the `[tool.rulec]` table of `pyproject.toml`, found in the current folder or
the nearest folder above it (the first that has either; `rulec.toml` first; the search stops at
a repository's root, the folder holding `.git`). Paths in it are relative to its folder.
Command-line options override it, option by option.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rulec.backends.base import DEFAULT_TABLE, TableMap
from rulec.compiler import ir

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

PROJECT_FILE = "rulec.toml"
PYPROJECT = "pyproject.toml"
LOGSOURCE_KEYS = ("product", "category", "service")


@dataclass(frozen=True)
class Project:
    """The settings a project file holds; empty where it says nothing.

    `pipelines` maps a target to its pipelines; the key `*` applies to every target."""

    file: Path | None = None
    paths: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    pipelines: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    without_pipeline: bool = False
    format: str | None = None
    output: str | None = None
    allow: tuple[str, ...] = ()
    schema: str | None = None
    cache: str | None = None
    tables: TableMap = field(default_factory=TableMap)


def find_project(start: Path) -> Path | None:
    """The nearest project file from `start` upward, or None."""
    for folder in (start, *start.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder / PROJECT_FILE
        candidate = folder / PYPROJECT
        if candidate.is_file() and "rulec" in _settings(candidate, "tool"):
            return candidate
        if (folder / ".git").exists():
            return None
    return None


def load_project(start: Path | None = None) -> Project:
    """The project found from `start` (default: the current folder), or an empty one.

    Raises `ir.RuleError` naming the file (and the line, where it can be found) when the file
    is not TOML or a setting is unknown or of the wrong kind."""
    start = start or Path.cwd()
    found = find_project(start.resolve())
    if found is None:
        return Project()
    path = Path(os.path.relpath(found))
    settings = _read(path)
    if path.name == PYPROJECT:
        settings = _settings(path, "tool")["rulec"]
    return _project(path, settings, Path(os.path.relpath(found.parent, start)))


def _settings(path: Path, key: str) -> dict:
    table = _read(path).get(key, {})
    return table if isinstance(table, dict) else {}


def _read(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise _error(path, "project.unreadable", str(error)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        where = re.search(r"\(at line (\d+), column (\d+)\)", str(error))
        message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(error))
        line, column = (int(where[1]), int(where[2])) if where else (None, None)
        if "(at end of document)" in str(error):
            line = max(1, len(text.splitlines()))
        raise _error(path, "project.syntax", message, line, column) from None


SETTINGS = {
    "paths": "a list of rule files or folders",
    "targets": "a list of targets",
    "pipelines": "a list of pipelines, or a table: target -> list of pipelines",
    "without-pipeline": "true or false",
    "format": "a format name",
    "output": "a file, or a folder ending in /",
    "allow": "a list of approximations",
    "schema": "a YAML file of table columns",
    "cache": "a folder",
    "default-table": "a table name",
    "tables": "a list of tables: {product, category, service, table}",
}


def _project(path: Path, settings: Mapping, base: Path) -> Project:
    check = _Checker(path)
    if not isinstance(settings, dict):
        raise check.error("rulec", "a table")
    for key in settings:
        if key not in SETTINGS:
            known = ", ".join(SETTINGS)
            raise check.error(key, f"one of {known}", code="project.unknown-key")
    get = settings.get
    return Project(
        file=path,
        paths=tuple(str(base / p) for p in check.strings(settings, "paths")),
        targets=tuple(check.strings(settings, "targets")),
        pipelines=_pipelines(check, settings, base),
        without_pipeline=check.typed(settings, "without-pipeline", bool, False),
        format=check.typed(settings, "format", str, None),
        output=_path(base, check.typed(settings, "output", str, None)),
        allow=tuple(check.strings(settings, "allow")),
        schema=_path(base, check.typed(settings, "schema", str, None)),
        cache=_path(base, check.typed(settings, "cache", str, None)),
        tables=_tables(check, get("tables", []), check.typed(settings, "default-table", str, None)),
    )


def _path(base: Path, value: str | None) -> str | None:
    """`value` relative to the project's folder (a trailing `/` kept)."""
    if value is None:
        return None
    joined = str(base / value)
    return joined + "/" if value.endswith("/") else joined


def _pipelines(check: _Checker, settings: Mapping, base: Path) -> dict[str, tuple[str, ...]]:
    value = settings.get("pipelines", [])
    per_target = value if isinstance(value, dict) else {"*": value}
    out = {}
    for target, names in per_target.items():
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise check.error("pipelines", SETTINGS["pipelines"])
        out[target] = tuple(_pipeline(base, name) for name in names)
    return out


def _pipeline(base: Path, name: str) -> str:
    """A pipeline name as it is, or a pipeline file relative to the project (each alternative
    of `a|b`)."""
    return "|".join(
        str(base / part) if (base / part).is_file() else part for part in name.split("|")
    )


def _tables(check: _Checker, entries: object, default: str | None) -> TableMap:
    if not isinstance(entries, list):
        raise check.error("tables", SETTINGS["tables"])
    mapped = []
    for entry in entries:
        keys = set(entry) if isinstance(entry, dict) else set()
        if (
            not keys
            or "table" not in keys
            or not keys <= {"table", *LOGSOURCE_KEYS}
            or not all(isinstance(v, str) for v in entry.values())
        ):
            raise check.error("tables", SETTINGS["tables"])
        source = ir.LogSource(**{k: entry.get(k) for k in LOGSOURCE_KEYS})
        mapped.append((source, entry["table"]))
    return TableMap(tuple(mapped), default or DEFAULT_TABLE)


class _Checker:
    """Type checks on settings, with errors located at the setting's line."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            self.lines = []

    def strings(self, settings: Mapping, key: str) -> list[str]:
        value = settings.get(key, [])
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise self.error(key, SETTINGS[key])
        return value

    def typed(self, settings: Mapping, key: str, kind: type, default: object):
        value = settings.get(key, default)
        if value is not default and not isinstance(value, kind):
            raise self.error(key, SETTINGS[key])
        return value

    def error(self, key: str, expected: str, code: str = "project.bad-setting") -> ir.RuleError:
        pattern = re.compile(rf"^\s*(\[+\s*)?(tool\.rulec\.)?[\"']?{re.escape(key)}[\"']?\s*[=\]]")
        line = next((n for n, text in enumerate(self.lines, 1) if pattern.match(text)), None)
        message = (
            f"unknown setting {key!r}: expected {expected}"
            if code == "project.unknown-key"
            else f"{key!r} must be {expected}"
        )
        return _error(self.path, code, message, line)


def _error(
    path: Path, code: str, message: str, line: int | None = None, column: int | None = None
) -> ir.RuleError:
    return ir.RuleError(ir.Diagnostic(code, message, ir.Span(str(path), line, column)))
