"""Each rule's exact filter over its candidate events, many rules to a statement.

The candidate pairs (RULE, EVENT) come from `candidates.fill`. One statement checks
a batch of rules: `CASE rule WHEN 1 THEN filter 1 ...` evaluates each filter on its own rule's
candidates only, over the events joined with the batch's pairs in one pass that reads only the
columns the batch's filters read (the pairs are the small side of the join, so memory follows
them, not the events); planning one statement for many rules costs far less than one statement
per rule. The candidate events of the rules of fewest candidates (up to a row group of pairs
in all, or every rule when all the candidate events are that few) are first copied with the
columns their filters read, so that their batches read that copy rather than the whole table
(a batch over the table costs a scan of it, however few its pairs). A batch that fails is
split until the rules whose filter fails stand alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import product
from typing import Protocol

from rulec.compiler.run.engines import ROW_GROUP, quote
from rulec.compiler.run.events import RAW, ROW
from rulec.compiler.run.multirule.candidates import EVENT, RULE

RULES_PER_CHECK = 32  # filters per statement
SLICE = 20_000_000  # events per statement: their pairs of the batch are the join's small side
FEW_EVENTS = ROW_GROUP  # candidate events copied once for all batches
COPIED = "_rulec_candidate_events"


class Computing(Protocol):
    """What reads columns computed from the table's (a check, a rule's plan)."""

    @property
    def computed(self) -> Sequence[tuple[str, str]]: ...


class Check:
    """A rule's filter as DuckDB SQL, the columns of the table it reads and the columns it
    reads computed from them (name, expression)."""

    __slots__ = ("columns", "computed", "rule", "text")

    def __init__(
        self,
        rule: int,
        text: str,
        columns: Sequence[str],
        computed: Sequence[tuple[str, str]] = (),
    ):
        self.rule, self.text, self.columns, self.computed = rule, text, columns, computed


def check_all(
    connection, table: str, checks: list[Check], candidates: str
) -> tuple[dict[int, list[int]], set[int]]:
    """The `_row`s each rule's filter keeps among its candidates, and the rules whose filter
    fails (their partial results dropped)."""
    kept: dict[int, list[int]] = {check.rule: [] for check in checks}
    failed: set[int] = set()
    if not checks:
        return {}, failed
    (last, events) = connection.execute(
        f"SELECT max({EVENT}), count(DISTINCT {EVENT}) FROM {candidates}"
    ).fetchone()
    few = _fewest(connection, checks, candidates, events)
    if few:
        copied = _copied(connection, table, few, candidates)
        _check_slices(connection, copied, few, candidates, last, True, kept, failed)
    copied_rules = {check.rule for check in few}
    rest = [check for check in checks if check.rule not in copied_rules]
    _check_slices(connection, table, rest, candidates, last, False, kept, failed)
    connection.execute(f"DROP TABLE IF EXISTS {COPIED}")
    return {rule: sorted(rows) for rule, rows in kept.items() if rule not in failed}, failed


def _fewest(connection, checks: list[Check], candidates: str, events: int) -> list[Check]:
    """The checks whose candidate events are copied: all of them when they are FEW_EVENTS
    at most, else those of fewest candidate pairs, FEW_EVENTS pairs in all, that do not read
    `_raw` (which, written from every field, costs more to copy than to read where needed)."""
    if not events:
        return []
    if events <= FEW_EVENTS:
        return checks
    pairs = dict(
        connection.execute(f"SELECT {RULE}, count(*) FROM {candidates} GROUP BY {RULE}").fetchall()
    )
    few, total = [], 0
    plain = [check for check in checks if RAW not in check.columns]
    for check in sorted(plain, key=lambda check: pairs.get(check.rule, 0)):
        total += pairs.get(check.rule, 0)
        if total > FEW_EVENTS:
            break
        few.append(check)
    return few


def _check_slices(
    connection,
    table: str,
    checks: list[Check],
    candidates: str,
    last: int | None,
    copied: bool,
    kept: Mapping[int, list[int]],
    failed: set[int],
) -> None:
    """The checks over their candidate events in `table`, SLICE events of pairs at a time; the
    checks that read `_raw` batched apart, so that it is written only for their own pairs."""
    for start in range(0, last or 0, SLICE):
        pairs = f"{candidates} WHERE {EVENT} BETWEEN {start + 1} AND {start + SLICE}"
        live = [check for check in checks if check.rule not in failed]
        for computing, raw in product((False, True), repeat=2):
            part = [
                check
                for check in live
                if bool(check.computed) == computing and (RAW in check.columns) == raw
            ]
            with _pushdown(connection, copied or not computing):
                for first in range(0, len(part), RULES_PER_CHECK):
                    batch = part[first : first + RULES_PER_CHECK]
                    _check(connection, table, batch, pairs, copied, kept, failed)


@contextmanager
def _pushdown(connection, on: bool) -> Iterator[None]:
    """DuckDB's filter pushdown on, or off for a statement of filters that read columns it
    computes: the pushdown writes each column's expression (the parsing of a network address)
    into every test that reads it, which takes DuckDB seconds to plan for a rule testing a
    hundred networks; without it, each column is computed once per event."""
    if on:
        yield
        return
    connection.execute("SET disabled_optimizers = 'filter_pushdown'")
    try:
        yield
    finally:
        connection.execute("RESET disabled_optimizers")


def _copied(connection, table: str, checks: list[Check], candidates: str) -> str:
    """A temporary table of the checks' candidate events, with the columns the checks read and
    those they compute: a few events are copied once (each batch scanning the whole table, or
    planning the computed columns again, costs more than the copy)."""
    columns = sorted({ROW, *(column for check in checks for column in check.columns)})
    selected = [*map(quote, columns), *computed_columns(checks)]
    rules = ", ".join(str(check.rule) for check in checks)
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE {COPIED} AS SELECT {', '.join(selected)} "
        f"FROM {quote(table)} WHERE {quote(ROW)} IN "
        f"(SELECT {EVENT} FROM {candidates} WHERE {RULE} IN ({rules}))"
    )
    return COPIED


def computed_columns(checks: Sequence[Computing]) -> list[str]:
    """`expression AS name` of each column the checks (or plans) compute, once."""
    named = {name: text for check in checks for name, text in check.computed}
    return [f"{text} AS {quote(name)}" for name, text in named.items()]


def _check(
    connection,
    table: str,
    batch: list[Check],
    pairs: str,
    copied: bool,
    kept: Mapping[int, list[int]],
    failed: set[int],
) -> None:
    """Add to `kept` what the batch's filters keep among the candidate `pairs` (`table WHERE
    ...`; `copied`: a table that holds the computed columns too); a failing filter's rule to
    `failed`."""
    try:
        found = connection.execute(_batch_sql(table, batch, pairs, copied)).fetchall()
    except Exception:
        if len(batch) == 1:
            failed.add(batch[0].rule)
            return
        middle = len(batch) // 2
        _check(connection, table, batch[:middle], pairs, copied, kept, failed)
        _check(connection, table, batch[middle:], pairs, copied, kept, failed)
        return
    for rule, event in found:
        kept[rule].append(event)


def _batch_sql(table: str, batch: list[Check], pairs: str, copied: bool) -> str:
    """(RULE, EVENT) of the pairs whose rule's filter keeps the event."""
    row = quote(ROW)
    columns = {ROW, *(column for check in batch for column in check.columns)}
    computed = [] if copied else computed_columns(batch)
    if copied:
        columns.update(name for check in batch for name, _ in check.computed)
    selected = ", ".join([*(f"e.{quote(column)}" for column in sorted(columns)), *computed])
    rules = ", ".join(str(check.rule) for check in batch)
    cases = " ".join(f"WHEN {check.rule} THEN ({check.text})" for check in batch)
    events = (
        f"SELECT c.{RULE}, c.{EVENT}, {selected} FROM {quote(table)} AS e "
        f"JOIN (SELECT {RULE}, {EVENT} FROM {pairs} AND {RULE} IN ({rules})) AS c "
        f"ON e.{row} = c.{EVENT}"
    )
    return f"SELECT {RULE}, {EVENT} FROM ({events}) WHERE CASE {RULE} {cases} ELSE FALSE END"
