"""Finding rule files and reading them through the right front end.

`.yml`/`.yaml` files are Sigma, `.kql` files hold one KQL query each. Every rule in a file comes
back as an `ir.Query` or, if it cannot be read, as an `ir.Diagnostic` in its place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rulec.compiler import ir
from rulec.compiler.frontends.sigma import lowering_order

LANGUAGES = {".yml": "sigma", ".yaml": "sigma", ".kql": "kql"}


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Rule files named directly or found under folders (not in hidden ones such as `.github`),
    sorted, without duplicates."""
    found: dict[Path, None] = {}
    for spec in paths:
        path = Path(spec)
        if path.is_dir():
            inside = (p for p in path.rglob("*") if not _hidden(p.relative_to(path)))
            found.update(dict.fromkeys(sorted(p for p in inside if _is_rule(p))))
        else:
            found[path] = None
    return list(found)


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def empty_folders(paths: Iterable[str | Path]) -> list[ir.Diagnostic]:
    """An error for each folder named in `paths` that holds no rule file."""
    return [
        ir.Diagnostic(
            "input.empty",
            "no rule file (" + ", ".join(LANGUAGES) + ") in this folder",
            ir.Span(str(spec)),
        )
        for spec in paths
        if Path(spec).is_dir() and not any(_is_rule(p) for p in Path(spec).rglob("*"))
    ]


def _is_rule(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in LANGUAGES


def read_text(path: Path) -> str:
    """The file's text; unreadable or non-UTF-8 files raise `ir.RuleError`."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ir.RuleError(
            ir.Diagnostic("io.unreadable", error.strerror or str(error), ir.Span(str(path)))
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        message = f"not UTF-8: byte 0x{data[error.start]:02x} cannot be decoded"
        raise ir.RuleError(
            ir.Diagnostic("io.encoding", message, ir.Span(str(path), line))
        ) from None


def load_rules(
    path: Path,
    pipeline: object | None = None,
    on_warning: Callable[[ir.Diagnostic], None] | None = None,
) -> list[ir.Query | ir.Diagnostic]:
    """Every rule in one file, through the front end its suffix names.

    Error diagnostics stand in the list for the rules that failed; warnings and notes (an ignored
    KQL `set` option, a dropped `render`) go to `on_warning` instead.
    """
    (items,) = load_rules_each(path, [pipeline], on_warning)
    return items


def load_rules_each(
    path: Path,
    pipelines: Sequence[object | None],
    on_warning: Callable[[ir.Diagnostic], None] | None = None,
) -> list[list[ir.Query | ir.Diagnostic]]:
    """`load_rules` through each of `pipelines`, reading and parsing the file once."""
    prepared = prepare(path, pipelines)
    lowered = {i: prepared.lower(i, pipelines[i]) for i in lowering_order(pipelines)}
    items, warnings = split_warnings([lowered[i] for i in range(len(pipelines))])
    if on_warning:
        for warning in warnings:
            on_warning(warning)
    return items


class Prepared(Protocol):
    """A rule file read (and, for Sigma, parsed), ready to be lowered through each pipeline."""

    def lower(self, index: int, pipeline: object | None) -> list[ir.Query | ir.Diagnostic]: ...

    def release(self) -> None:
        """Let go of what was parsed, once every pipeline has lowered the file."""


@dataclass(frozen=True)
class _Fixed:
    """A file whose rules do not depend on the pipeline: KQL, or one that could not be read."""

    items: list[ir.Query | ir.Diagnostic]

    def lower(self, index: int, pipeline: object | None) -> list[ir.Query | ir.Diagnostic]:
        return self.items

    def release(self) -> None:
        pass


def prepare(
    path: Path,
    pipelines: Sequence[object | None],
    copied: Callable[[list[Any]], bool] | None = None,
) -> Prepared:
    """The file read through the front end its suffix names, to be lowered through each of
    `pipelines` (the Sigma front end keeps a copy of the parsed rules for each pipeline, unless
    `copied` says the pipelines after the first will not lower them: `parse_sigma`)."""
    if path.suffix.lower() not in LANGUAGES:
        return prepare_text("", str(path), pipelines)
    try:
        text = read_text(path)
    except ir.RuleError as error:
        return _Fixed([error.diagnostic])
    return prepare_text(text, str(path), pipelines, copied)


def prepare_text(
    text: str,
    label: str,
    pipelines: Sequence[object | None],
    copied: Callable[[list[Any]], bool] | None = None,
) -> Prepared:
    """A rule file's text through the front end its name's suffix names (`prepare` once the
    file is read; `rulec diff` for a version from git)."""
    suffix = Path(label).suffix
    language = LANGUAGES.get(suffix.lower())
    if language is None:
        message = f"unknown rule file type {suffix!r}: expected .yml, .yaml or .kql"
        return _Fixed([ir.Diagnostic("io.unknown-type", message, ir.Span(label))])
    if language == "sigma":
        from rulec.compiler.frontends.sigma.load import parse_sigma, read_sigma

        return parse_sigma(read_sigma(text, label), pipelines, copied)
    from rulec.compiler.frontends.kql import load_kql

    return _Fixed(load_kql(text, label))  # KQL rules take no Sigma pipeline


def split_warnings(
    loaded: list[list[ir.Query | ir.Diagnostic]],
) -> tuple[list[list[ir.Query | ir.Diagnostic]], list[ir.Diagnostic]]:
    """Each pipeline's rules without the warnings and notes among them, and those warnings
    (once each: a file read through two pipelines warns once)."""
    warnings = {
        (item, item.span): item
        for items in loaded
        for item in items
        if isinstance(item, ir.Diagnostic) and item.severity != "error"
    }
    kept = [
        [i for i in items if not isinstance(i, ir.Diagnostic) or i.severity == "error"]
        for items in loaded
    ]
    return kept, list(warnings.values())


def resolve_pipeline(names: Sequence[str]) -> object | None:
    """Sigma processing pipelines by plugin name or YAML path (None when none are named)."""
    if not names:
        return None
    from rulec.compiler.frontends.sigma.load import resolve_pipeline as resolve

    return resolve(names)
