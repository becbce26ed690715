"""The reference executor: run an IR query over events on DuckDB (or another SQL engine).

The IR means whatever this executor selects: it compiles the query with the SQL back end for the
engine's dialect, loads the events, runs the query and returns the rows in a stable order
(event rows by `_row`; other rows by their values). `_raw` stays out of the output.
Tables bound by name also give the SQL back end their columns, so relational stages (extend,
join, union, invoke) compile to explicit column lists.

The compiled query is then bound to the tables as the engine stores them (`bind`): a field no
table of the query has reads as NULL text, as if every event lacked it, and a field stored under
another name (fields differing only in case: see `events.stored_names`) is renamed, in the query
and back in its rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from functools import lru_cache
from warnings import warn

from sqlglot import exp

from rulec.backends.base import DEFAULT_TABLE, Options
from rulec.backends.sql import INGESTION_TIME, SqlBackend
from rulec.compiler import ir
from rulec.compiler.run.engines import DuckDBEngine, Engine
from rulec.compiler.run.events import RAW, ROW, EventTable, field_name, stored_names
from rulec.compiler.run.scoped_columns import replace_unseen_columns

EVENT_TIME_FIELDS = ("TimeGenerated", "Timestamp", "TimeCreated")  # Sentinel, Defender, Windows
RAW_COLUMN = re.compile(rf"^{RAW}[0-9]*$")  # `_raw`, and `_raw1`... from the right of a join
Stored = Callable[[str], tuple[str, ...] | None]  # a table's stored columns, None if unknown


def main_table(query: ir.Query) -> str:
    """The table the rule's events come from, following let-bound pipelines to their source."""
    lets = {let.name: let.value for let in query.lets if isinstance(let.value, ir.Pipeline)}
    source: ir.Source = query.pipeline.source
    seen: set[str] = set()
    while isinstance(source, ir.PipelineRef) and source.name in lets and source.name not in seen:
        seen.add(source.name)
        source = lets[source.name].source
    return source.name if isinstance(source, ir.Table) else DEFAULT_TABLE


def _sort_key(row: Mapping[str, object]) -> tuple:
    if ROW in row and isinstance(row[ROW], int):
        return (0, row[ROW])
    return (1, sorted((k, str(v)) for k, v in row.items()))


def execute(
    query: ir.Query,
    events: EventTable | None = None,
    tables: Mapping[str, EventTable] | None = None,
    now: datetime | None = None,
    time_field: str | None = None,
    engine: Engine | None = None,
) -> list[dict[str, object]]:
    """Rows that `query` selects. `events` binds to the rule's main table; `tables` by name."""
    engine = engine or DuckDBEngine()
    bound = dict(tables or {})
    if events is not None:
        bound.setdefault(main_table(query), events)
    for name, table in bound.items():
        engine.load(name, table)
    stored = stored_lookup(engine, bound)
    schema = StoredSchema(bound, stored)
    backend = SqlBackend(engine.dialect, Options(now=now, time_field=time_field, schema=schema))
    tree = build(backend, query, stored)
    _require_tables(tree, engine, stored, query.span)
    sql = tree.sql(dialect=backend.dialect.name, pretty=True)
    return sorted((result_row(row) for row in engine.run(sql)), key=_sort_key)


def _require_tables(tree: exp.Query, engine: Engine, stored: Stored, span: ir.Span) -> None:
    """A table the query reads that nobody gave (e.g. `geo_ip`, `FileProfile`) is a diagnostic
    naming it, not the engine's catalog error. Engines that cannot list columns are trusted."""
    if not hasattr(engine, "stored_columns"):
        return
    names = _Names(tree)
    for name in sorted(names.tables - names.ctes):
        if stored(name) is None:
            message = f"the rule reads the table '{name}', which was not given (--table NAME=PATH)"
            raise ir.RuleError(ir.Diagnostic("run.missing-table", message, span))


def result_row(row: Mapping[str, object]) -> dict[str, object]:
    """A row of the engine as the executor returns it: fields by their names, without `_raw`."""
    named = ((field_name(k), v) for k, v in row.items())
    return {k: v for k, v in named if not RAW_COLUMN.match(k)}


def stored_lookup(engine: Engine, tables: Mapping[str, EventTable] | None = None) -> Stored:
    """A table's columns as stored: from `tables` where they bind it, else asked of the engine
    (once per name; engines without `stored_columns` know none)."""
    known = {name: tuple(stored_names(t.columns).values()) for name, t in (tables or {}).items()}
    ask = getattr(engine, "stored_columns", None)

    def lookup(name: str) -> tuple[str, ...] | None:
        if name not in known:
            known[name] = ask(name) if ask else None
        return known[name]

    return lookup


class StoredSchema(Mapping[str, tuple[str, ...]]):
    """Each table's columns as the events hold them (not as documented): a bound table's, else
    the engine's stored table's, asked when the back end first needs them."""

    def __init__(self, bound: Mapping[str, EventTable], stored: Stored):
        self.bound = bound
        self.stored = stored

    def __getitem__(self, name: str) -> tuple[str, ...]:
        if name in self.bound:
            return self.bound[name].columns
        found = self.stored(name)
        if found is None:
            raise KeyError(name)
        return tuple(field_name(column) for column in found)

    def __iter__(self) -> Iterator[str]:
        return iter(self.bound)

    def __len__(self) -> int:
        return len(self.bound)


def build(backend: SqlBackend, query: ir.Query, stored: Stored) -> exp.Query:
    """The back end's query for `query`, bound to the tables as stored."""
    time_field = backend.options.time_field
    return bind(
        backend.build(query), stored, lambda fields: ingestion_field(fields, time_field, query)
    )


def bind(
    tree: exp.Query, stored: Stored, ingestion: Callable[[set[str]], str | None] = lambda _: None
) -> exp.Query:
    """The query over the tables as stored (`stored`: a table's stored columns, or None),
    rewritten in place (`build` hands it a tree of its own).

    A field that no table of the query has becomes NULL text, and so does, scope by scope, a field
    that the tables one SELECT reads lack (`scoped_columns`); a field stored under another name
    is renamed wherever the query names it. Unchanged when a table's columns are unknown.
    `ingestion_time()` reads the field `ingestion` names when no table has `_ingestion_time`.
    """
    names = _Names(tree)
    columns = [stored(name) for name in sorted(names.tables - names.ctes)]
    if any(found is None for found in columns):
        return tree
    if len(columns) == 1:
        fields = stored_fields(tuple(columns[0] or ()))  # shared: replaced below, never changed
    else:
        fields = {}
        for found in columns:
            fields.update(stored_fields(tuple(found or ())))
    if INGESTION_TIME in names.referenced and INGESTION_TIME not in fields:
        fallback = ingestion(set(fields))
        if fallback is not None:
            fields = {**fields, INGESTION_TIME: fields[fallback]}
    named = (names.referenced | names.defined) & fields.keys()
    renamed = {f: fields[f] for f in named if fields[f] != f}
    absent = names.referenced - names.defined - fields.keys() - names.ctes
    # scopes may see different columns: tables joined or unioned, or a name the query both
    # defines and reads that no table stores (defined in one scope, read in another)
    several = len(columns) > 1 or bool((names.referenced & names.defined) - fields.keys())
    if not renamed and not absent and not several:
        return tree
    for identifier in list(tree.find_all(exp.Identifier)) if renamed else ():
        if identifier.name in renamed and _names_a_column(identifier):
            identifier.set("this", renamed[identifier.name])
    if absent:
        _nulls_for(tree, absent)
    if several:
        tree = tree.copy()  # each node in one place, as a scope-by-scope replacement needs
        replace_unseen_columns(tree, stored, lambda c: _null_text(c, c.parent, c.arg_key))
    return tree


@lru_cache(maxsize=64)
def stored_fields(stored: tuple[str, ...]) -> dict[str, str]:
    """Field name -> stored column of a table's stored columns (read, never changed: the same
    table is bound for every rule of a run)."""
    return {field_name(column): column for column in stored}


def _nulls_for(tree: exp.Expression, absent: set[str]) -> None:
    """Each reference to a column of `absent` replaced by NULL text, slot by slot: the back end
    may put one node in several places of its tree."""
    for node in list(tree.walk()):
        if isinstance(node, exp.Star):
            continue
        for key, value in node.args.items():
            if isinstance(value, list):
                if any(_is_absent(item, absent) for item in value):
                    kept = [_null_text(i, node, key) if _is_absent(i, absent) else i for i in value]
                    node.set(key, kept)
            elif _is_absent(value, absent):
                node.set(key, _null_text(value, node, key))


def _is_absent(value: object, absent: set[str]) -> bool:
    return isinstance(value, exp.Column) and value.name in absent


class RunWarning(UserWarning):
    """A warning about how a rule reads its events (a located diagnostic, severity warning)."""

    def __init__(self, diagnostic: ir.Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def ingestion_field(fields: set[str], time_field: str | None, query: ir.Query) -> str | None:
    """The event-time field `ingestion_time()` reads when the events have no `_ingestion_time`
    (events exported from Defender XDR or Sentinel have none), with a warning; None if none."""
    for name in (time_field, *EVENT_TIME_FIELDS):
        if name in fields:
            message = (
                f"the events have no '{INGESTION_TIME}' field: ingestion_time() reads the event "
                f"time '{name}' instead"
            )
            span = _call_span(query, "ingestion_time") or query.span
            diagnostic = ir.Diagnostic("run.ingestion-time", message, span, "warning")
            warn(RunWarning(diagnostic), stacklevel=2)
            return name
    return None


def _call_span(node: object, name: str) -> ir.Span | None:
    """Where the query first calls the function `name`, if it does."""
    return next((call.span for call in ir.find_all(node, ir.Call) if call.name == name), None)


class _Names:
    """What a query names, in one walk: the tables it reads (not table functions), its CTEs,
    the columns it reads, and the names it defines itself (aliases but `x AS x`, table alias
    columns, lambda parameters)."""

    def __init__(self, tree: exp.Expression):
        self.tables: set[str] = set()
        self.ctes: set[str] = set()
        self.referenced: set[str] = set()
        self.defined: set[str] = set()
        for node in tree.find_all(*NAMING):
            if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
                self.tables.add(".".join(part.name for part in node.parts))
            elif isinstance(node, exp.CTE):
                self.ctes.add(node.alias_or_name)
            elif isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
                self.referenced.add(node.name)
            elif isinstance(node, exp.Alias) and not _self_alias(node):
                self.defined.add(node.alias)
            elif isinstance(node, exp.TableAlias):
                self.defined.update(c.name for c in node.columns)
            elif isinstance(node, exp.Lambda):
                self.defined.update(p.name for p in node.expressions)


NAMING = (exp.Table, exp.CTE, exp.Column, exp.Alias, exp.TableAlias, exp.Lambda)


def _self_alias(alias: exp.Alias) -> bool:
    return isinstance(alias.this, exp.Column) and alias.this.name == alias.alias


def _names_a_column(identifier: exp.Identifier) -> bool:
    """Whether the identifier is a column's name (not a table's): in a column reference, an
    alias of a selected value, or a table alias's column list."""
    parent, key = identifier.parent, identifier.arg_key
    return (
        (isinstance(parent, exp.Column) and key == "this")
        or (isinstance(parent, exp.Alias) and key == "alias")
        or (isinstance(parent, exp.TableAlias) and key == "columns")
    )


def _null_text(column: exp.Column, parent: exp.Expression, key: str) -> exp.Expression:
    """NULL text in place of `column` (named as it, where the column is a selected value)."""
    null = exp.Cast(this=exp.null(), to=exp.DataType(this=exp.DataType.Type.VARCHAR, nested=False))
    if isinstance(parent, exp.Select) and key == "expressions":
        return exp.alias_(null, column.name, quoted=True)
    return null
