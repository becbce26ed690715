"""What every back end shares: its options, its result, and the contract it keeps.

A back end is one module exposing a `Backend` subclass. `emit` turns an `ir.Query` into query
text for its target, or raises `ir.RuleError` with a diagnostic naming the construct, its span
and the target when the target cannot express the IR exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from rulec.backends import transforms
from rulec.compiler import ir

DEFAULT_TABLE = "events"


@dataclass(frozen=True)
class TableMap:
    """Which table a Sigma logsource reads: the first entry whose keys all agree wins."""

    entries: tuple[tuple[ir.LogSource, str], ...] = ()
    default: str = DEFAULT_TABLE

    def table_for(self, source: ir.LogSource) -> str:
        for pattern, table in self.entries:
            if all(
                want is None or want == got
                for want, got in (
                    (pattern.product, source.product),
                    (pattern.category, source.category),
                    (pattern.service, source.service),
                )
            ):
                return table
        return self.default


@dataclass(frozen=True)
class Options:
    """Settings a user can change per run (CLI flags or config)."""

    tables: TableMap = field(default_factory=TableMap)
    raw_field: str | None = None  # where keyword searches look; None: the target's default
    time_field: str | None = None  # event time for windows; None: the target's default
    approximations: frozenset[str] = frozenset()  # approximations the user explicitly allows
    now: datetime | None = None  # the value of now()/ago(); None: the engine's clock
    schema: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # table -> its columns
    pipelines: tuple[str, ...] | None = None  # Sigma pipelines named by the user; None: defaults


@dataclass(frozen=True)
class Emitted:
    """A query for one target, and notes (e.g. approximations the user asked for)."""

    target: str
    text: str
    notes: tuple[ir.Diagnostic, ...] = ()


class Backend:
    """Base of every back end. Subclasses set `name` and implement `emit`."""

    name: str = ""
    default_raw_field: str = "_raw"
    default_time_field: str = "TimeCreated"
    # the IR-to-IR rewrites (backends/transforms.py) the target opts into, applied in order
    preprocess: tuple[transforms.Rewrite, ...] = (transforms.one_scan,)

    def __init__(self, options: Options | None = None):
        self.options = options or Options()

    @property
    def raw_field(self) -> str:
        return self.options.raw_field or self.default_raw_field

    @property
    def time_field(self) -> str:
        return self.options.time_field or self.default_time_field

    def emit(self, query: ir.Query) -> Emitted:
        raise NotImplementedError

    def prepared(self, query: ir.Query) -> ir.Query:
        """`query` through the target's `preprocess` rewrites."""
        return transforms.preprocess(self, query, self.preprocess)

    def source_table(self, source: ir.Source) -> str:
        """The table a log source (mapped) or a named table reads."""
        if isinstance(source, ir.LogSource):
            return self.options.tables.table_for(source)
        return source.name if isinstance(source, ir.Table) else ""

    def unsupported(self, construct: str, node: ir.Node | None, detail: str = "") -> ir.RuleError:
        """The error to raise when `construct` cannot be expressed exactly in this target."""
        message = f"{self.name} cannot express {construct}"
        if detail:
            message += f": {detail}"
        span = node.span if node is not None else ir.NOWHERE
        return ir.RuleError(
            ir.Diagnostic(code="unsupported", message=message, span=span, target=self.name)
        )
