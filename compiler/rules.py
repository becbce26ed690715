"""Finding rule files and reading them through the right front end.

`.yml`/`.yaml` files are Sigma, `.kql` files hold one KQL query each. Every rule in a file comes
back as an `ir.Query` or, if it cannot be read, as an `ir.Diagnostic` in its place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from rulec.compiler import ir

LANGUAGES = {".yml": "sigma", ".yaml": "sigma", ".kql": "kql"}


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Rule files named directly or found under folders, sorted, without duplicates."""
    found: dict[Path, None] = {}
    for spec in paths:
        path = Path(spec)
        if path.is_dir():
            found.update(dict.fromkeys(sorted(p for p in path.rglob("*") if _is_rule(p))))
        else:
            found[path] = None
    return list(found)


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
    loaded = _load(path, pipelines)
    warnings = {  # a file read through two pipelines warns once
        (item, item.span): item
        for items in loaded
        for item in items
        if isinstance(item, ir.Diagnostic) and item.severity != "error"
    }
    if on_warning:
        for warning in warnings.values():
            on_warning(warning)
    return [
        [i for i in items if not isinstance(i, ir.Diagnostic) or i.severity == "error"]
        for items in loaded
    ]


def _load(path: Path, pipelines: Sequence[object | None]) -> list[list[ir.Query | ir.Diagnostic]]:
    language = LANGUAGES.get(path.suffix.lower())
    if language is None:
        message = f"unknown rule file type {path.suffix!r}: expected .yml, .yaml or .kql"
        return [[ir.Diagnostic("io.unknown-type", message, ir.Span(str(path)))]] * len(pipelines)
    try:
        text = read_text(path)
    except ir.RuleError as error:
        return [[error.diagnostic]] * len(pipelines)
    if language == "sigma":
        from rulec.compiler.frontends.sigma import lower_sigma_each, read_sigma

        return lower_sigma_each(read_sigma(text, str(path)), pipelines)
    from rulec.compiler.frontends.kql import load_kql

    return [load_kql(text, str(path))] * len(pipelines)  # KQL rules take no Sigma pipeline


def resolve_pipeline(names: Sequence[str]) -> object | None:
    """Sigma processing pipelines by plugin name or YAML path (None when none are named)."""
    if not names:
        return None
    from rulec.compiler.frontends.sigma import resolve_pipeline as resolve

    return resolve(names)
