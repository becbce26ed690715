"""Many rules over the same events in one pass.

Rules that read the same table share its scans. By default (`prefilter`), the events each rule
may match are found for all rules at once from the literal text its filter needs
(`candidates`), and each rule's exact filter then runs on its candidates only, many rules to a
statement (`checks`); the other strategies evaluate every filter in one SELECT that
yields, for each event that any rule keeps, the numbers of the rules that keep it. A rule
whose pipeline goes on after its filter (an aggregation, a window) then runs the rest of its
pipeline over the events its filter kept. A rule that does not fit (tabular let-bindings, no
leading filter, a field the table lacks, a filter that fails) runs on its own, so each rule's
result is exactly what `executor.execute` returns for it alone.
"""

from __future__ import annotations

import tempfile
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property, partial

import sqlglot
from sqlglot import exp

from rulec.backends.base import Options
from rulec.backends.sql import QueryBuilder, SqlBackend, connect, table_ref
from rulec.backends.sql_dialects import dialect_for
from rulec.backends.sql_network import (
    IPV4_TEXT,
    IPV6_CHARS,
    NETWORK,
    ipv4_text,
    ipv6_text,
    network_test,
)
from rulec.compiler import ir
from rulec.compiler.run.collector import kept_from_collector
from rulec.compiler.run.engines import DuckDBEngine, quote
from rulec.compiler.run.events import RAW, ROW, EventTable
from rulec.compiler.run.executor import (
    bind,
    build,
    execute,
    ingestion_field,
    main_table,
    stored_fields,
    stored_lookup,
)
from rulec.compiler.run.multirule.alternations import alternations
from rulec.compiler.run.multirule.candidates import RULE, choose, fill
from rulec.compiler.run.multirule.checks import Check, check_all, computed_columns
from rulec.compiler.run.multirule.ir_clauses import ir_clauses
from rulec.compiler.run.multirule.prefilter import Clause, clauses
from rulec.compiler.run.multirule.regex_texts import with_texts
from rulec.compiler.run.multirule.rows import Rows, row_reader
from rulec.compiler.run.run_cache import Plans, RunCache, rule_key

EVENTS = "_rulec_events"
KEPT = "_rulec_kept"
RULES = "_rulec_rules"
STRATEGIES = ("prefilter", "lowered", "or-list", "case-list", "union-all", "per-rule")
LOWERED = "_rulec_lowered"
CANDIDATES = "_rulec_candidates"
SLICE = 500_000  # events per slice of the `lowered` scan, which bounds its memory
RULES_PER_QUERY = 128  # filters per statement over a slice: huge statements plan slowly
CHUNK = 4096
MEMORY_LIMIT = "1GB"  # DuckDB's memory in the shared scan; past it, DuckDB spills to disk
ROWS_PER_READ = 50_000  # matched events read or written to their table per statement
ROWS_IN_PYTHON = 100_000  # matched events fetched at once; more stay in DuckDB until read
ROWS_AT_ONCE = 10_000  # rows of one rule made into dicts at a time, as a caller reads them

DUCKDB = dialect_for("duckdb")

Progress = Callable[[int, int], None]
Kept = dict[int, list[int]]


class RuleRun:
    """One rule's result: its rows (as `execute` returns them) or the error `execute` raises.

    Rows found by a shared scan stay in the scan's compact store (`store`, by `_row`) and are
    read from it each time `rows` is read, or ROWS_AT_ONCE at a time by `chunks`, so that a
    caller going through the rules holds the row dicts of one rule, or of a part of one, only.
    """

    __slots__ = ("_numbers", "_rows", "_store", "error")

    def __init__(
        self,
        rows: list[dict[str, object]] | None = None,
        error: Exception | None = None,
        store: Rows | None = None,
        numbers: Sequence[int] = (),
    ):
        self._rows, self.error, self._store, self._numbers = rows, error, store, numbers

    @property
    def rows(self) -> list[dict[str, object]] | None:
        return self._store.read(self._numbers) if self._store is not None else self._rows

    @property
    def matches(self) -> int:
        """How many rows the rule gives, without reading them."""
        return len(self._numbers) if self._store is not None else len(self._rows or ())

    def chunks(self) -> Iterator[list[dict[str, object]]]:
        """The rows, in order, ROWS_AT_ONCE at a time."""
        if self._store is None:
            yield from [self._rows] if self._rows else []
            return
        for first in range(0, len(self._numbers), ROWS_AT_ONCE):
            yield self._store.read(self._numbers[first : first + ROWS_AT_ONCE])

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Plan:
    """A rule in the shared scan: its table, its filter, and what follows the filter.

    The filter is kept as the scans read it: DuckDB SQL (`check`) or a tree (`parsed`) over the
    table's columns and the columns `computed` from them once per event (name, SQL), with the
    clauses it needs (`prefilter`) and the regular expressions it matches. A plan made in the
    run holds no tree: its filter is compiled again (`build`) only if a scan reads it (most
    rules have no candidate events); a plan read back from the cache has its SQL (`text`)."""

    index: int
    table: str
    rest: tuple[ir.Stage, ...]
    columns: frozenset[str] = frozenset()  # the columns of the table the filter reads
    computed: tuple[tuple[str, str], ...] = ()
    clauses: tuple[Clause, ...] = ()
    patterns: tuple[str, ...] = ()
    build: Callable[[], exp.Expression] | None = field(default=None, compare=False, repr=False)
    text: str | None = None

    @cached_property
    def check(self) -> str:
        """The filter as DuckDB SQL."""
        return self.text if self.text is not None else self.parsed.sql(dialect="duckdb")

    @property
    def parsed(self) -> exp.Expression:
        """The filter as a tree of its own, LIKE written as plain text tests, long lists of
        them as regular expressions."""
        if self.build is None:
            return sqlglot.parse_one(self.check, dialect="duckdb")
        return alternations(_plain_likes(self.build()))

    def kept(self) -> Plan:
        """The plan as the cache keeps it: its SQL, not how to compile it."""
        return replace(self, build=None, text=self.check)


def run_rules(
    queries: Sequence[ir.Query],
    events: EventTable | None = None,
    tables: Mapping[str, EventTable] | None = None,
    now: datetime | None = None,
    time_field: str | None = None,
    engine: DuckDBEngine | None = None,
    progress: Progress | None = None,
    strategy: str = "prefilter",
    cache: RunCache | None = None,
) -> list[RuleRun]:
    """Each query's result over the same events, with one scan per table for all filters.

    `events` binds to each rule's main table and `tables` by name, as in `execute`.
    `progress(done, total)` is called as rules finish. With a `cache`, the plans of an earlier
    run over tables of the same columns are reused.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}: expected one of {STRATEGIES}")
    with kept_from_collector():
        runner = Runner(engine or DuckDBEngine(), events, dict(tables or {}), now, time_field)
        runner.load({main_table(q) for q in queries})
        results: dict[int, RuleRun] = {}
        plans: list[Plan] = []
        report = progress or (lambda done, total: None)
        known = cache.plans(runner.context()) if cache is not None else None
        for index, query in enumerate(queries):
            planned = _planned(runner, index, query, known)
            if isinstance(planned, Plan):
                plans.append(planned)
            else:
                results[index] = planned
                report(len(results), len(queries))
        if known is not None:
            known.save()
        for table in sorted({runner.source(p.table) for p in plans}):
            group = [p for p in plans if runner.source(p.table) == table]
            for start in range(0, len(group), CHUNK):
                chunk = group[start : start + CHUNK]
                results.update(runner.run_group(table, chunk, queries, strategy))
                report(len(results), len(queries))
        return [results[i] for i in range(len(queries))]


@contextmanager
def _bounded_memory(connection) -> Iterator[None]:
    """DuckDB's memory bounded by MEMORY_LIMIT while the scans run (loading a table allocates
    more at once), spilling to a temporary folder that lives as long as the connection (the
    matched events' tables are read after the run)."""
    (limit, folder) = connection.execute(
        "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
    ).fetchone()
    if not folder.startswith(tempfile.gettempdir()):
        spill = tempfile.TemporaryDirectory(prefix="rulec-duckdb-")
        weakref.finalize(connection, spill.cleanup)
        connection.execute(f"SET temp_directory = '{spill.name}'")
    connection.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    try:
        yield
    finally:
        connection.execute(f"SET memory_limit = '{limit}'")


def _planned(runner: Runner, index: int, query: ir.Query, known: Plans | None) -> Plan | RuleRun:
    """The rule's plan: as an earlier run made it (`known`), else made now (and kept there
    unless planning it warned: a plan read back would not warn again)."""
    if known is None:
        return runner.plan(index, query)
    key = rule_key(query)
    found = known.get(key)
    if isinstance(found, Plan):
        return replace(found, index=index)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        planned = runner.plan(index, query, written=True)
    for item in caught:
        warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    if isinstance(planned, Plan) and not caught:
        known.put(key, planned.kept())
    return planned


class Runner:
    """One engine with every table loaded once; plans, scans and finishes the rules."""

    def __init__(
        self,
        engine: DuckDBEngine,
        events: EventTable | None,
        tables: dict[str, EventTable],
        now: datetime | None,
        time_field: str | None,
    ):
        self.engine = engine
        self.events = events
        self.tables = tables
        self.now = now
        self.time_field = time_field
        self.columns: dict[str, set[str]] = {}
        self.stored = stored_lookup(engine)
        self.aliases: dict[str, str] = {}

    def load(self, mains: set[str]) -> None:
        """Each table once; the events under every main table name that `tables` leaves free.
        Events held in memory are let go once stored: the rare rule run alone on tables of its
        own reads them back."""
        for name, table in self.tables.items():
            self.engine.load(name, table)
        if self.events is not None:
            self.engine.load(EVENTS, self.events)
            columns = self.events.columns
            self.events.hand_over(lambda: self.engine.stored_rows(EVENTS, columns))
            for name in sorted(mains - set(self.tables)):
                self.engine.alias(name, EVENTS)
                self.aliases[name] = EVENTS

    def source(self, table: str) -> str:
        """The table the scans of `table` read: the events themselves for a name that is a
        view of them (DuckDB binds a view anew in each statement: milliseconds for each reference
        to a view of hundreds of columns)."""
        return self.aliases.get(table, table)

    def context(self) -> bytes:
        """What a plan depends on besides its rule: the engine, the columns of the tables, the
        clock and the time field."""
        tables = sorted((name, table.columns) for name, table in self.tables.items())
        events = self.events.columns if self.events is not None else None
        return repr((self.engine.dialect, events, tables, self.now, self.time_field)).encode()

    def backend_for(self, query: ir.Query) -> SqlBackend:
        """The SQL back end with the options `execute` gives it for this rule alone."""
        schema = {name: table.columns for name, table in self.tables.items()}
        if self.events is not None:
            schema.setdefault(main_table(query), self.events.columns)
        options = Options(now=self.now, time_field=self.time_field, schema=schema)
        return SqlBackend(self.engine.dialect, options)

    def bound_for(self, query: ir.Query) -> set[str]:
        """The tables `execute` would load for this rule alone."""
        names = set(self.tables)
        if self.events is not None:
            names.add(main_table(query))
        return names

    def plan(self, index: int, query: ir.Query, written: bool = False) -> Plan | RuleRun:
        """The rule's part in the shared scan, or its result when it must run alone; its filter
        `written` as SQL at once (for the cache) or compiled again when a scan reads it.

        The IR is split first: the leading filters are compiled once, as one condition bound
        to the table as stored; the whole rule is compiled only when stages follow them."""
        try:
            backend = self.backend_for(query)
            query = backend.prepared(query)
            split = _split(query)
            table = main_table(query)
            if split is None or table not in self.bound_for(query):
                return self.apart(backend, query)
            filters, rest = split
            if not rest and not written:
                planned = self.plan_from_ir(index, backend, query, filters, table)
                if planned is not None:
                    return planned
            if rest:
                whole = build(backend, query, self.stored)
                if not Reads(whole).tables <= self.bound_for(query):
                    return self.alone(query, fresh=True)
            bound = self.bound_filter(backend, query, filters, table)
        except Exception as error:
            return RuleRun(error=error)
        reads = Reads(bound)
        if reads.selects > 1:
            return self.apart(backend, query)
        predicate = _where_of(bound, table)
        if predicate is None or not reads.columns <= self.table_columns(table):
            return self.alone(query)
        addresses = _tests_addresses(reads.patterns)
        again = partial(self.filter_tree, backend, query, filters, table, addresses)
        plan, tree = _plan(index, table, predicate, rest, reads, addresses)
        if written:
            return replace(plan, text=alternations(_plain_likes(tree)).sql(dialect="duckdb"))
        return replace(plan, build=again)

    def plan_from_ir(
        self, index: int, backend: SqlBackend, query: ir.Query, filters: ir.Pipeline, table: str
    ) -> Plan | None:
        """The plan of a rule whose filter's clauses the IR tells (`ir_clauses`), its filter
        not compiled until a scan reads it; None for any other rule."""
        stored = self.stored(table)
        if stored is None:
            return None
        read = ir_clauses(filters, stored_fields(tuple(stored)), backend.raw_field)
        if read is None or not read[1] <= self.table_columns(table):
            return None
        needs, columns = read
        again = partial(self.filter_tree, backend, query, filters, table, False)
        return Plan(index, table, (), frozenset(columns), (), tuple(needs), (), build=again)

    def bound_filter(
        self, backend: SqlBackend, query: ir.Query, filters: ir.Pipeline, table: str
    ) -> exp.Select:
        """`SELECT * FROM table WHERE <the leading filters>`, bound to the table as stored."""
        condition = _condition(backend, query, filters)
        where = exp.select(exp.Star()).from_(table_ref(table)).where(condition, copy=False)
        return bind(where, self.stored, self.ingestion(backend, query))

    def filter_tree(
        self,
        backend: SqlBackend,
        query: ir.Query,
        filters: ir.Pipeline,
        table: str,
        addresses: bool,
    ) -> exp.Expression:
        """The filter of a plan, compiled again as planning compiled it (its warnings were
        given then)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bound = self.bound_filter(backend, query, filters, table)
        predicate = _where_of(bound, table)
        assert predicate is not None
        return _shared_addresses(predicate, {}) if addresses else predicate

    def ingestion(self, backend: SqlBackend, query: ir.Query) -> Callable[[set[str]], str | None]:
        """The field `ingestion_time()` reads when the events lack it, as `build` chooses it."""
        time_field = backend.options.time_field
        return lambda fields: ingestion_field(fields, time_field, query)

    def apart(self, backend: SqlBackend, query: ir.Query) -> RuleRun:
        """A rule that does not fit the shared scan, run alone: on the shared engine when it
        reads only the tables `execute` would give it, else with its own tables only."""
        try:
            whole = build(backend, query, self.stored)
        except Exception as error:
            return RuleRun(error=error)
        return self.alone(query, fresh=not Reads(whole).tables <= self.bound_for(query))

    def table_columns(self, table: str) -> set[str]:
        if table not in self.columns:
            self.columns[table] = set(self.engine.columns(table))
        return self.columns[table]

    def alone(self, query: ir.Query, fresh: bool = False) -> RuleRun:
        """The rule through `execute`: on the shared engine, or with its own tables only."""
        try:
            if fresh:
                rows = execute(query, self.events, self.tables, self.now, self.time_field)
            else:
                rows = execute(query, None, None, self.now, self.time_field, self.engine)
        except Exception as error:
            return RuleRun(error=error)
        return RuleRun(rows=rows)

    def run_group(
        self, table: str, group: list[Plan], queries: Sequence[ir.Query], strategy: str
    ) -> Iterator[tuple[int, RuleRun]]:
        """Results of one scan of `table` for every rule of `group`."""
        kept, rows, failed = self.kept(table, group, strategy)
        for plan in failed:
            yield plan.index, self.alone(queries[plan.index])
        apart = {plan.index for plan in failed}
        finishing = [p for p in group if p.rest and p.index not in apart]
        if finishing:
            self.store_kept([(p.index, n) for p in finishing for n in kept.get(p.index, ())])
        for plan in group:
            if plan.index in apart:
                continue
            if plan.rest:
                yield plan.index, self.finish(queries[plan.index], plan)
            else:
                numbers = sorted(kept.get(plan.index, ()))
                yield plan.index, RuleRun(store=rows, numbers=numbers)

    def kept(self, table: str, group: list[Plan], strategy: str) -> tuple[Kept, Rows, list[Plan]]:
        """What each filter keeps and those events' rows; rules whose filter fails come apart."""
        try:
            columns = self.table_columns(table)
            if strategy not in ("lowered", "prefilter"):
                return (*_scan(self.engine, table, columns, group, strategy), [])
            if strategy == "prefilter":
                raw = self.raw_fields(table)
                with _bounded_memory(self.engine.connection):
                    return _scan_prefiltered(self.engine, table, columns, group, raw)
            return (*_scan_lowered(self.engine, table, columns, group), [])
        except Exception:
            if len(group) == 1:
                return {}, Rows(), group
        middle = len(group) // 2
        left, left_rows, left_failed = self.kept(table, group[:middle], strategy)
        right, right_rows, right_failed = self.kept(table, group[middle:], strategy)
        left_rows.update(right_rows)
        return {**left, **right}, left_rows, left_failed + right_failed

    def raw_fields(self, table: str) -> tuple[str, ...] | None:
        """The fields the `_raw` of `table` is written from (`name=value` lines), when the
        engine writes it from the files' fields (`raw_text`), else None."""
        source = self.tables.get(table, self.events)
        files = source.files if source is not None else None
        if files is None or RAW in files.fields:
            return None
        return files.fields

    def store_kept(self, pairs: list[tuple[int, int]]) -> None:
        """(rule, `_row`) pairs in the table KEPT, for the stages after the filters."""
        self.engine.connection.execute(
            f"CREATE OR REPLACE TEMP TABLE {quote(KEPT)} (rule INTEGER, {quote(ROW)} BIGINT)"
        )
        if pairs:
            self.engine.connection.executemany(f"INSERT INTO {quote(KEPT)} VALUES (?, ?)", pairs)

    def finish(self, query: ir.Query, plan: Plan) -> RuleRun:
        """The stages after the filter, over the events the filter kept."""
        view = quote(f"_rulec_kept_{plan.index}")
        self.engine.connection.execute(
            f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {quote(plan.table)} "
            f"WHERE {quote(ROW)} IN (SELECT {quote(ROW)} FROM {quote(KEPT)} "
            f"WHERE rule = {plan.index})"
        )
        rest = ir.Pipeline(ir.Table(f"_rulec_kept_{plan.index}"), plan.rest)
        result = self.alone(replace(query, pipeline=rest))
        self.engine.connection.execute(f"DROP VIEW {view}")
        return result


def _plan(
    index: int,
    table: str,
    predicate: exp.Expression,
    rest: tuple[ir.Stage, ...],
    reads: Reads,
    addresses: bool,
) -> tuple[Plan, exp.Expression]:
    """The plan of a rule whose bound filter is `predicate` (a tree of its own, that `reads`),
    without its filter, and the filter rewritten in place where it tests `addresses` (those
    read from computed columns)."""
    patterns = tuple(p for p in reads.patterns if p is not None)
    needs = tuple(_clauses(predicate, bool(patterns)))
    shared: dict[str, exp.Expression] = {}
    tree = _shared_addresses(predicate, shared) if addresses else predicate
    computed = tuple((name, e.sql(dialect="duckdb")) for name, e in shared.items())
    columns = frozenset(reads.columns)
    return Plan(index, table, rest, columns, computed, needs, patterns), tree


def _clauses(predicate: exp.Expression, patterns: bool) -> list[Clause]:
    """The filter's clauses; where a regular expression fills one with "the field is set"
    (which most events satisfy), those of the filter with the literal texts its patterns
    need."""
    found = clauses(predicate)
    if patterns and any(not text for clause in found for _, text in clause):
        return clauses(with_texts(predicate))
    return found


def _check_of(plan: Plan) -> Check:
    """The plan's filter as the checks read it."""
    return Check(plan.index, plan.check, sorted(plan.columns), plan.computed)


def _scan(
    engine: DuckDBEngine, table: str, columns: set[str], group: list[Plan], strategy: str
) -> tuple[Kept, Rows]:
    """One pass over `table`: the `_row`s each rule's filter keeps, and those events' rows."""
    kept: Kept = {}
    rows = Rows()
    for sql in scan_sql(table, columns, group, strategy):
        cursor = engine.connection.execute(sql)
        read = row_reader(cursor.description)
        for values in cursor.fetchall():
            row = read(values)
            for rule in row.pop(RULES):
                kept.setdefault(rule, []).append(row[ROW])
            rows.add(row[ROW], dict, row)
    return kept, rows


def _scan_lowered(
    engine: DuckDBEngine, table: str, columns: set[str], group: list[Plan], rows: bool = True
) -> tuple[Kept, Rows]:
    """The `lowered` scan: every `LOWER(field)` the filters use is computed once per event into
    a temporary table (one slice of events at a time), and the filters run over that table.
    The kept events' rows are read too, unless not `rows`."""
    if not group:
        return {}, Rows()
    predicates, lowered = _shared_lowers([p.parsed for p in group])
    computed = {name for p in group for name, _ in p.computed}
    used = {c.name for p in predicates for c in p.find_all(exp.Column)}
    used -= set(lowered.values()) | computed
    used |= set().union(*(p.columns for p in group if p.computed))  # what computed ones read
    kept_columns = [quote(c) for c in sorted(used | {ROW})]
    kept_columns += [f"LOWER({quote(f)}) AS {quote(alias)}" for f, alias in lowered.items()]
    kept_columns += computed_columns(group)
    texts = [
        (p.sql(dialect="duckdb"), plan.index) for p, plan in zip(predicates, group, strict=True)
    ]
    (last,) = engine.connection.execute(f"SELECT max({quote(ROW)}) FROM {quote(table)}").fetchone()
    kept: Kept = {}
    for start in range(0, last or 0, SLICE):
        within = f"{quote(ROW)} > {start} AND {quote(ROW)} <= {start + SLICE}"
        engine.connection.execute(
            f"CREATE OR REPLACE TEMP TABLE {LOWERED} AS SELECT {', '.join(kept_columns)} "
            f"FROM {quote(table)} WHERE {within}"
        )
        for first in range(0, len(texts), RULES_PER_QUERY):
            for row, rules in engine.connection.execute(
                _listing_sql(LOWERED, texts[first : first + RULES_PER_QUERY])
            ).fetchall():
                for rule in rules:
                    kept.setdefault(rule, []).append(row)
    engine.connection.execute(f"DROP TABLE IF EXISTS {LOWERED}")
    if not rows:
        return kept, Rows()
    return kept, _rows_of(engine, table, sorted({r for rows in kept.values() for r in rows}))


def _scan_prefiltered(
    engine: DuckDBEngine,
    table: str,
    columns: set[str],
    group: list[Plan],
    raw: Sequence[str] | None = None,
) -> tuple[Kept, Rows, list[Plan]]:
    """The `prefilter` scan: each rule's exact filter runs only on the events that hold the
    text its filter needs (`candidates`; `raw`: the fields `_raw` is written from, if it is),
    and not at all when none does (planning a filter costs more than matching it); rules that
    need no rare text get the `lowered` scan. Also returns the rules whose filter fails, for
    them to run alone."""
    if not group:
        return {}, Rows(), []
    by_index = {p.index: p for p in group}
    connection = engine.connection
    needs = {p.index: list(p.clauses) for p in group}
    choice = choose(connection, table, needs, raw)
    broad = [by_index[i] for i in choice.broad]
    if not choice.alongside:
        fill(connection, table, choice, CANDIDATES)
        kept, failed = _scan_each(engine, table, columns, broad)
    else:  # DuckDB scans the events for the broad rules while Python searches the texts
        with ThreadPoolExecutor(1) as pool:
            scanned = pool.submit(_scan_each, engine.alongside(), table, columns, broad, True)
            fill(connection, table, choice, CANDIDATES, engine.alongside().connection)
            kept, failed = scanned.result()
    found = connection.execute(f"SELECT DISTINCT {RULE} FROM {CANDIDATES}").fetchall()
    checked = {rule for (rule,) in found}
    checks = [_check_of(by_index[rule]) for rule in sorted(checked)]
    found_kept, found_failed = check_all(connection, table, checks, CANDIDATES)
    kept.update(found_kept)
    failed += [by_index[rule] for rule in sorted(found_failed)]
    scanned = checked.union(choice.broad)
    unchecked = [plan for index, plan in by_index.items() if index not in scanned]
    failed += _invalid_patterns(engine, unchecked)
    connection.execute(f"DROP TABLE {CANDIDATES}")
    numbers = sorted({r for rows in kept.values() for r in rows})
    return kept, _rows_of(engine, table, numbers), failed


def _scan_each(
    engine: DuckDBEngine, table: str, columns: set[str], group: list[Plan], direct: bool = False
) -> tuple[Kept, list[Plan]]:
    """The rules of `group` over every event (rows not read), rule by rule if that fails as a
    whole: by the `lowered` scan, or, `direct`ly, their filters on the events as they are, a
    statement for up to RULES_PER_QUERY rules. On a large table the direct scan costs less
    (DuckDB evaluates each test only on the events the tests before it leave, rather than
    copying every column the filters read with its lowered text); on a small one the copy is
    cheap and shares each lowered text among many rules. Rules that read computed columns
    always take the `lowered` scan, which computes those once per event."""
    try:
        lowered: list[Plan] = []
        plain: list[tuple[str, int]] = []
        for plan in group:
            if direct and not plan.computed:
                plain.append((plan.check, plan.index))
            else:
                lowered.append(plan)
        found = _scan_lowered(engine, table, columns, lowered, rows=False)[0]
        for first in range(0, len(plain), RULES_PER_QUERY):
            listing = _listing_sql(quote(table), plain[first : first + RULES_PER_QUERY])
            for row, rules in engine.connection.execute(listing).fetchall():
                for rule in rules:
                    found.setdefault(rule, []).append(row)
        return found, []
    except Exception:
        if len(group) == 1:
            return {}, list(group)
    kept: Kept = {}
    failed: list[Plan] = []
    for plan in group:
        more, more_failed = _scan_each(engine, table, columns, [plan], direct)
        kept.update(more)
        failed += more_failed
    return kept, failed


def _invalid_patterns(engine: DuckDBEngine, group: list[Plan]) -> list[Plan]:
    """The rules of `group` with a regular expression DuckDB refuses (the one error a filter
    can raise before reading an event), found without planning their whole filter: all the
    patterns in one statement, split in halves while it fails."""
    refused = _refused(engine, {plan.index: list(plan.patterns) for plan in group})
    return [plan for plan in group if plan.index in refused]


def _refused(engine: DuckDBEngine, patterns: dict[int, list[str]]) -> set[int]:
    """The rules (of rule -> patterns) with a pattern DuckDB refuses."""
    texts = [text for found in patterns.values() for text in found]
    if not texts:
        return set()
    try:
        engine.connection.execute(
            "SELECT list_transform(?::VARCHAR[], lambda p: regexp_matches('', p))", [texts]
        ).fetchall()
        return set()
    except Exception:
        if len(patterns) == 1:
            return set(patterns)
    rules = sorted(patterns)
    middle = len(rules) // 2
    halves = [{rule: patterns[rule] for rule in part} for part in (rules[:middle], rules[middle:])]
    return _refused(engine, halves[0]) | _refused(engine, halves[1])


def _listing_sql(table: str, texts: list[tuple[str, int]]) -> str:
    """`_row` and the rules (of `texts`: condition, rule number) that keep it, kept rows only."""
    cases = ", ".join(f"CASE WHEN {text} THEN {index} END" for text, index in texts)
    anyone = " OR ".join(f"({text})" for text, _ in texts)
    return f"SELECT {quote(ROW)}, list_distinct([{cases}]) FROM {table} WHERE {anyone}"


def _rows_of(engine: DuckDBEngine, table: str, numbers: list[int]) -> Rows:
    """The events with these `_row`s, as `execute` returns rows (without `_raw`): up to
    ROWS_IN_PYTHON of them fetched at once as value tuples (one statement per rule costs more
    on a table of many columns), more kept in a DuckDB table until a rule's rows are read, so
    that memory follows the matches in compressed columns, not Python tuples of every column.
    Only the columns that hold a value in some event are read (a wide table of many kinds of
    events leaves most columns empty); the others are None in every row."""
    rows = Rows()
    if not numbers:
        return rows
    order = [column for column in engine.columns(table) if column != RAW]
    counts = ", ".join(f"count({quote(column)})" for column in order)
    held = engine.connection.execute(f"SELECT {counts} FROM {quote(table)}").fetchone()
    read = ", ".join(quote(c) for c, n in zip(order, held, strict=True) if n or c == ROW)
    select = f"SELECT {read} FROM {quote(table)} WHERE {quote(ROW)} IN (SELECT UNNEST(?))"
    chunks = [[numbers[i : i + ROWS_PER_READ]] for i in range(0, len(numbers), ROWS_PER_READ)]
    if len(numbers) > ROWS_IN_PYTHON:
        rows.keep(engine.connection, select, chunks, order)
        return rows
    for chunk in chunks:
        cursor = engine.connection.execute(select, chunk)
        reader = row_reader(cursor.description, order)
        number = [d[0] for d in cursor.description].index(ROW)
        for values in cursor.fetchall():
            rows.add(values[number], reader, values)
    return rows


def _shared_lowers(
    predicates: list[exp.Expression],
) -> tuple[list[exp.Expression], dict[str, str]]:
    """The predicates with each `LOWER(field)` replaced by a column computed once, and the
    field -> column names."""
    lowered: dict[str, str] = {}

    def swap(node: exp.Expression) -> exp.Expression:
        if (
            isinstance(node, exp.Lower)
            and isinstance(node.this, exp.Column)
            and not node.this.table
        ):
            alias = lowered.setdefault(node.this.name, f"_rulec_lower_{len(lowered)}")
            return exp.column(alias, quoted=True)
        return node

    return [p.transform(swap) for p in predicates], lowered


def scan_sql(table: str, columns: set[str], group: list[Plan], strategy: str) -> list[str]:
    """The shared scan: each kept event with the list of rules that keep it (RULES).

    `or-list` filters on the OR of all filters, then lists the rules of the rows kept;
    `case-list` lists the rules of every row, then keeps rows with a non-empty list;
    `union-all` is one SELECT per rule in one statement; `per-rule` one statement per rule.
    """
    rules, computed = quote(RULES), computed_columns(group)
    source = f"(SELECT *, {', '.join(computed)} FROM {quote(table)})" if computed else quote(table)
    hidden = [RAW] if RAW in columns else []
    hidden += list(dict.fromkeys(name for p in group for name, _ in p.computed))
    star = f"* EXCLUDE ({', '.join(map(quote, hidden))})" if hidden else "*"
    conditions = [f"({p.check})" for p in group]
    pairs = list(zip(group, conditions, strict=True))
    if strategy in ("per-rule", "union-all"):
        parts = [f"SELECT {star}, [{p.index}] AS {rules} FROM {source} WHERE {c}" for p, c in pairs]
        return parts if strategy == "per-rule" else ["\nUNION ALL\n".join(parts)]
    cases = ", ".join(f"CASE WHEN {c} THEN {p.index} END" for p, c in pairs)
    listed = f"list_distinct([{cases}]) AS {rules}"  # list_distinct drops the NULLs
    if strategy == "case-list":
        inner = f"SELECT {star}, {listed} FROM {source}"
        return [f"SELECT * FROM ({inner}) WHERE len({rules}) > 0"]
    return [f"SELECT {star}, {listed} FROM {source} WHERE " + "\n OR ".join(conditions)]


def _shared_addresses(predicate: exp.Expression, shared: dict[str, exp.Expression]):
    """The predicate with each network test of a column (`CASE WHEN <the column is an
    address> THEN <its number or digits lie in the network> ELSE FALSE END`, marked by
    `sql_network` with its network) reading the column's address from two columns computed
    once per event (added to `shared`): whether it is an address, and its number or digits
    where it is (NULL elsewhere). Rewritten in place. The same rows: a rule with a hundred
    networks no longer repeats the parsing a hundred times, which DuckDB takes seconds to
    plan."""

    def swap(node: exp.Expression) -> exp.Expression:
        network = node.meta.get(NETWORK) if isinstance(node, exp.Case) else None
        if network is None:
            return node
        names = {(c.table, c.name) for c in node.args["ifs"][0].this.find_all(exp.Column)}
        if len(names) != 1 or next(iter(names))[0]:  # a column bound as NULL text: no address
            return node
        ((_, name),) = names
        label = f"_rulec_ip{network.version}_{name}"
        is_address, address = f"{label}_shape", f"{label}_value"
        if address not in shared:
            read = ipv4_text if network.version == 4 else ipv6_text
            column = exp.column(name, quoted=True)
            shared[is_address] = read(DUCKDB, column)[0]
            shape, value = read(DUCKDB, column)
            shared[address] = exp.Case(ifs=[exp.If(this=shape, true=value)])
        named = exp.column(is_address, quoted=True)
        return network_test(named, lambda: exp.column(address, quoted=True), network)

    return predicate.transform(swap, copy=False)


def _tests_addresses(patterns: Sequence[str | None]) -> bool:
    """Whether a filter matching these regular expressions tests network addresses (as
    `sql_network` writes the tests)."""
    return any(pattern in (IPV4_TEXT, IPV6_CHARS) for pattern in patterns)


def _pattern_of(node: exp.RegexpLike) -> str | None:
    pattern = node.expression
    return pattern.this if isinstance(pattern, exp.Literal) and pattern.is_string else None


def _plain_likes(predicate: exp.Expression) -> exp.Expression:
    """`x LIKE '%text%' ESCAPE '\\'` as `contains(x, 'text')` (and prefix/suffix/equality)
    wherever the pattern has wildcards only at its ends: the same rows, several times faster.
    Rewritten in place."""
    for node in list(predicate.find_all(exp.Escape)):
        plain = _plain_like(node)
        if plain is node:
            continue
        if node is predicate:
            return plain
        node.replace(plain)
    return predicate


def _plain_like(node: exp.Escape) -> exp.Expression:
    """The LIKE test `node` as a plain text test, or `node` itself."""
    escape = node.expression
    if not isinstance(node.this, exp.Like) or escape.name != "\\":
        return node
    field, pattern = node.this.this, node.this.expression
    lowered = isinstance(pattern, exp.Lower)
    literal = pattern.this if lowered else pattern
    if not isinstance(literal, exp.Literal) or not literal.is_string:
        return node
    split = _like_ends(literal.this)
    if split is None:
        return node
    text: exp.Expression = exp.Literal.string(split[1])
    text = exp.Lower(this=text) if lowered else text
    function = {(True, True): "contains", (False, True): "starts_with", (True, False): "suffix"}
    if split[0] == split[2] == "":
        return exp.EQ(this=field, expression=text)
    name = function[(split[0] == "%", split[2] == "%")]
    return exp.Anonymous(this=name, expressions=[field, text])


def _like_ends(pattern: str) -> tuple[str, str, str] | None:
    """(leading %, literal text, trailing %) of a LIKE pattern escaped with `\\`, or None when
    a wildcard stands anywhere else (or the pattern is only wildcards)."""
    text, index, marks = [], 0, []
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            if index + 1 == len(pattern):
                return None
            text.append(pattern[index + 1])
            index += 2
            continue
        if char == "_":
            return None
        if char == "%":
            marks.append(len(text))
        else:
            text.append(char)
        index += 1
    literal = "".join(text)
    if not literal or any(0 < m < len(literal) for m in marks) or len(marks) > 2:
        return None
    lead = "%" if 0 in marks else ""
    trail = "%" if len(literal) in marks else ""
    if len(marks) != len(lead) + len(trail):
        return None
    return lead, literal, trail


def _split(query: ir.Query) -> tuple[ir.Pipeline, tuple[ir.Stage, ...]] | None:
    """The rule's leading filters (as a pipeline) and the stages after them."""
    if any(isinstance(let.value, ir.Pipeline) for let in query.lets):
        return None
    pipeline = query.pipeline
    if not isinstance(pipeline.source, ir.Table | ir.LogSource):
        return None
    count = 0
    while count < len(pipeline.stages) and isinstance(pipeline.stages[count], ir.Filter):
        count += 1
    if count == 0:
        return None
    return replace(pipeline, stages=pipeline.stages[:count]), pipeline.stages[count:]


def _condition(backend: SqlBackend, query: ir.Query, filters: ir.Pipeline) -> exp.Expression:
    """The leading filters of the rule as one condition, as the back end compiles them."""
    builder = QueryBuilder(backend, query)
    stages = [stage for stage in filters.stages if isinstance(stage, ir.Filter)]
    return connect(exp.And, [builder.predicate(stage.predicate) for stage in stages])


def _arg(select: exp.Expression, name: str) -> exp.Expression | None:
    """An argument of a sqlglot node (`from`/`with` are `from_`/`with_` in newer sqlglot)."""
    return select.args.get(name) or select.args.get(f"{name}_")


def _where_of(select: exp.Expression, table: str) -> exp.Expression | None:
    """The WHERE condition of `SELECT * FROM table WHERE ...`, or None for any other shape."""
    if not isinstance(select, exp.Select) or _arg(select, "with"):
        return None
    source, where = _arg(select, "from"), _arg(select, "where")
    plain = not any(_arg(select, k) for k in ("joins", "group", "having", "limit", "distinct"))
    star = len(select.expressions) == 1 and isinstance(select.expressions[0], exp.Star)
    if not (plain and star and where is not None and source is not None):
        return None
    named = source.this
    if not isinstance(named, exp.Table) or _table_name(named) != table:
        return None
    return where.this


def _table_name(table: exp.Table) -> str:
    return ".".join(part.name for part in table.parts)


class Reads:
    """What a compiled query reads, in one walk: its tables (less its own CTE names), the
    columns it names, how many SELECTs it holds and the patterns of its regular expressions
    (None: not a literal)."""

    def __init__(self, tree: exp.Expression):
        tables: set[str] = set()
        ctes: set[str] = set()
        self.columns: set[str] = set()
        self.selects = 0
        self.patterns: list[str | None] = []
        for node in tree.find_all(exp.Column, exp.Table, exp.CTE, exp.Select, exp.RegexpLike):
            if isinstance(node, exp.Column):
                self.columns.add(node.name)
            elif isinstance(node, exp.Table):
                tables.add(_table_name(node))
            elif isinstance(node, exp.CTE):
                ctes.add(node.alias_or_name)
            elif isinstance(node, exp.Select):
                self.selects += 1
            elif isinstance(node, exp.RegexpLike):
                self.patterns.append(_pattern_of(node))
        self.tables = tables - ctes
