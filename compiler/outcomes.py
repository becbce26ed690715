"""Batch conversion: every rule of every file to every target, each outcome on its own.

A rule that cannot be read or emitted becomes an outcome carrying its diagnostic; the rest of the
batch goes on. Unexpected exceptions become `internal` diagnostics (for the rule being emitted, or
for the whole file while it is read and lowered) unless `debug` is set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

from rulec.backends.base import Options
from rulec.backends.registry import emit
from rulec.compiler import ir
from rulec.compiler.frontends.sigma import lowering_order
from rulec.compiler.rules import Prepared, prepare, split_warnings

T = TypeVar("T")


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
    warnings: tuple[ir.Diagnostic, ...] = ()  # the rule's, from its front end

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
    ((outcomes, warnings),) = convert_files([path], groups, options, debug)
    if on_warning:
        for warning in warnings:
            on_warning(warning)
    return iter(outcomes)


@dataclass
class _File:
    """One file on its way through `convert_files`; `failure` stops it."""

    path: Path
    prepared: Prepared | None = None
    lowered: dict[int, list[ir.Query | ir.Diagnostic]] = field(default_factory=dict)
    warnings: list[ir.Diagnostic] = field(default_factory=list)
    emitted: dict[tuple[int, int, str], Outcome] = field(default_factory=dict)
    failure: ir.Diagnostic | None = None

    def attempt(self, work: Callable[[], T], debug: bool) -> T | None:
        """`work`'s result; an exception it raises becomes this file's failure."""
        if self.failure is not None:
            return None
        try:
            return work()
        except Exception as error:
            if debug:
                raise
            self.failure = internal(error, self.path)
            return None


def convert_files(
    paths: Sequence[Path],
    groups: Sequence[tuple[object | None, Sequence[str]]],
    options: Options | None = None,
    debug: bool = False,
) -> list[tuple[list[Outcome], list[ir.Diagnostic]]]:
    """`convert_groups` for several files: each file's outcomes, in order, and its warnings.

    The work goes phase by phase over all the files (read and parse them all, lower them through
    one pipeline group after another, emit one target after another), so the code of one phase
    stays in the processor's caches (5 to 10% fewer processor cycles than file by file).
    """
    pipelines = [pipeline for pipeline, _ in groups]
    options = options or Options()  # one for every emission, not one per back end made
    files = [_File(path) for path in paths]
    for file in files:
        file.prepared = file.attempt(partial(prepare, file.path, pipelines), debug)
    for index in lowering_order(pipelines):
        for file in files:
            lowered = file.attempt(partial(_lower, file, index, pipelines[index]), debug)
            file.lowered[index] = lowered or []
    for file in files:
        if file.prepared is not None:
            file.prepared.release()
            file.prepared = None
        kept, file.warnings = split_warnings([file.lowered[i] for i in range(len(groups))])
        file.lowered = dict(enumerate(kept))
    converted = [file for file in files if file.failure is None]
    for index, (pipeline, targets) in enumerate(groups):
        for target in targets:
            for file in converted:
                for position, item in enumerate(file.lowered[index]):
                    if isinstance(item, ir.Query):
                        outcome = emit_one(file.path, item, target, options, debug)
                        if not outcome.ok:
                            retry = partial(_emitted_later, file, position, item, pipeline)
                            outcome = retry(target, options, debug) or outcome
                        file.emitted[index, position, target] = outcome
    return [_outcomes(file, groups) for file in files]


def _emitted_later(
    file: _File,
    position: int,
    query: ir.Query,
    pipeline: object | None,
    target: str,
    options: Options,
    debug: bool,
) -> Outcome | None:
    """The rule read through the alternatives after the one that read it (`-p 'a|b'`), when the
    target cannot write the query that one gave: the first query it can write, else None."""
    after = getattr(pipeline, "after", None)  # alternatives (FirstAccepting) have it
    later = after(query.meta.pipeline) if after else None
    while later is not None:
        lowered = file.attempt(partial(_relowered, file.path, later), debug) or []
        item = lowered[position] if position < len(lowered) else None
        if not isinstance(item, ir.Query):
            return None
        outcome = emit_one(file.path, item, target, options, debug)
        if outcome.ok:
            return outcome
        later = later.after(item.meta.pipeline)
    return None


def _relowered(path: Path, pipeline: object) -> list[ir.Query | ir.Diagnostic]:
    """A file's rules read again, through `pipeline` alone, without their warnings."""
    (kept,), _ = split_warnings([prepare(path, [pipeline]).lower(0, pipeline)])
    return kept


def _lower(file: _File, index: int, pipeline: object | None) -> list[ir.Query | ir.Diagnostic]:
    assert file.prepared is not None
    return file.prepared.lower(index, pipeline)


def _outcomes(
    file: _File, groups: Sequence[tuple[object | None, Sequence[str]]]
) -> tuple[list[Outcome], list[ir.Diagnostic]]:
    """One file's outcomes in order (group, rule, target), and its warnings."""
    if file.failure is not None:
        return [Outcome(str(file.path), t, error=file.failure) for _, ts in groups for t in ts], []
    outcomes = [
        Outcome(str(file.path), target, error=_for_target(item, target))
        if isinstance(item, ir.Diagnostic)
        else file.emitted[index, position, target]
        for index, (_, targets) in enumerate(groups)
        for position, item in enumerate(file.lowered[index])
        for target in targets
    ]
    return outcomes, file.warnings


def strict_outcome(outcome: Outcome) -> Outcome:
    """`convert --strict`: a rule with warnings fails, with its first warning as the error."""
    if not outcome.ok or not outcome.warnings:
        return outcome
    first = replace(outcome.warnings[0], severity="error", target=outcome.target)
    return replace(outcome, query=None, notes=(), error=first)


def _for_target(diagnostic: ir.Diagnostic, target: str) -> ir.Diagnostic:
    """A rule's error while it was read for `target` (through that target's pipeline)."""
    return diagnostic if diagnostic.target else replace(diagnostic, target=target)


def emit_one(
    path: Path, query: ir.Query, target: str, options: Options | None, debug: bool
) -> Outcome:
    rule = partial(
        Outcome,
        str(path),
        target,
        id=query.meta.id,
        title=query.meta.title,
        warnings=query.warnings,
    )
    try:
        emitted = emit(target, query, options)
    except ir.RuleError as error:
        diagnostic = error.diagnostic
        if diagnostic.span.file is None:
            diagnostic = ir.Diagnostic(
                diagnostic.code, diagnostic.message, ir.Span(str(path)), diagnostic.severity, target
            )
        return rule(error=diagnostic)
    except Exception as error:
        if debug:
            raise
        return rule(error=internal(error, path))
    return rule(query=emitted.text, notes=emitted.notes)
