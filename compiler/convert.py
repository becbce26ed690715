"""Batch conversion: every rule of every file to every target, each outcome on its own.

A rule that cannot be read or emitted becomes an outcome carrying its diagnostic; the rest of the
batch goes on. Unexpected exceptions become `internal` diagnostics unless `debug` is set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rulec.backends.base import Options
from rulec.backends.registry import emit
from rulec.compiler import ir
from rulec.compiler.rules import load_rules_each


@dataclass(frozen=True)
class Outcome:
    """One rule for one target: the query text, or the diagnostic that stopped it."""

    rule: str
    target: str
    id: str | None = None
    title: str | None = None
    query: str | None = None
    error: ir.Diagnostic | None = None
    notes: tuple[ir.Diagnostic, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None


def internal(error: Exception, path: Path) -> ir.Diagnostic:
    message = f"internal error ({type(error).__name__}: {error}); rerun with --debug for details"
    return ir.Diagnostic("internal", message, ir.Span(str(path)))


def convert_file(
    path: Path,
    targets: Sequence[str],
    pipeline: object | None = None,
    options: Options | None = None,
    debug: bool = False,
    on_warning: Callable[[ir.Diagnostic], None] | None = None,
) -> Iterator[Outcome]:
    """Outcomes for every rule in `path` and every target, in order."""
    return convert_groups(path, [(pipeline, targets)], options, debug, on_warning)


def convert_groups(
    path: Path,
    groups: Sequence[tuple[object | None, Sequence[str]]],
    options: Options | None = None,
    debug: bool = False,
    on_warning: Callable[[ir.Diagnostic], None] | None = None,
) -> Iterator[Outcome]:
    """`convert_file` for each (pipeline, targets) group in turn, the file read once."""
    try:
        loaded = load_rules_each(path, [pipeline for pipeline, _ in groups], on_warning)
    except Exception as error:
        if debug:
            raise
        loaded = [[internal(error, path)]] * len(groups)
    for (_, targets), items in zip(groups, loaded, strict=True):
        for item in items:
            for target in targets:
                if isinstance(item, ir.Diagnostic):
                    yield Outcome(str(path), target, error=item)
                else:
                    yield emit_one(path, item, target, options, debug)


def emit_one(
    path: Path, query: ir.Query, target: str, options: Options | None, debug: bool
) -> Outcome:
    meta = query.meta
    base = Outcome(str(path), target, id=meta.id, title=meta.title)
    try:
        emitted = emit(target, query, options)
    except ir.RuleError as error:
        diagnostic = error.diagnostic
        if diagnostic.span.file is None:
            diagnostic = ir.Diagnostic(
                diagnostic.code, diagnostic.message, ir.Span(str(path)), diagnostic.severity, target
            )
        return replace(base, error=diagnostic)
    except Exception as error:
        if debug:
            raise
        return replace(base, error=internal(error, path))
    return replace(base, query=emitted.text, notes=emitted.notes)
