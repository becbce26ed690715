"""Each rule's exact filter over its candidate events, many rules to a statement.

The candidate pairs (RULE, EVENT) come from `candidates.find_candidates`. The events are read
a slice at a time into a temporary table of the columns the filters use, which bounds memory;
over each slice, one statement checks a batch of rules: `CASE rule WHEN 1 THEN filter 1 ...`
evaluates each filter on its own rule's candidates only, and planning one statement for many
rules costs far less than one statement per rule. A batch that fails is split until the rules
whose filter fails stand alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from rulec.compiler.run.engines import quote
from rulec.compiler.run.events import ROW
from rulec.compiler.run.multirule.candidates import EVENT, RULE

SLICE = 500_000  # events per slice
RULES_PER_CHECK = 64  # filters per statement
SLICE_ROWS = "_rulec_slice_rows"

Check = tuple[int, str]  # (rule, its filter as DuckDB SQL over the event columns)


def check_all(
    connection,
    table: str,
    columns: Sequence[str],
    checks: list[Check],
    candidates: str,
    computed: Sequence[str] = (),
) -> tuple[dict[int, list[int]], set[int]]:
    """The `_row`s each rule's filter keeps among its candidates, and the rules whose filter
    fails (their partial results dropped). `computed` (`expression AS name`) are columns the
    filters read, computed with the slice."""
    kept: dict[int, list[int]] = {rule: [] for rule, _ in checks}
    failed: set[int] = set()
    if not checks:
        return {}, failed
    row, selected = quote(ROW), ", ".join([*map(quote, sorted({ROW, *columns})), *computed])
    (last,) = connection.execute(f"SELECT max({EVENT}) FROM {candidates}").fetchone()
    for start in range(0, last or 0, SLICE):
        within = f"BETWEEN {start + 1} AND {start + SLICE}"
        connection.execute(
            f"CREATE OR REPLACE TEMP TABLE {SLICE_ROWS} AS SELECT {selected} FROM "
            f"{quote(table)} WHERE {row} {within} AND {row} IN "
            f"(SELECT {EVENT} FROM {candidates} WHERE {EVENT} {within})"
        )
        live = [check for check in checks if check[0] not in failed]
        for first in range(0, len(live), RULES_PER_CHECK):
            batch = live[first : first + RULES_PER_CHECK]
            _check(connection, batch, f"{candidates} WHERE {EVENT} {within}", kept, failed)
    connection.execute(f"DROP TABLE IF EXISTS {SLICE_ROWS}")
    return {rule: sorted(rows) for rule, rows in kept.items() if rule not in failed}, failed


def _check(
    connection, batch: list[Check], pairs: str, kept: dict[int, list[int]], failed: set[int]
) -> None:
    """Add to `kept` what the batch's filters keep among `pairs` (the candidate pairs of the
    slice: `table WHERE ...`); a failing filter's rule to `failed`."""
    try:
        found = connection.execute(_batch_sql(batch, pairs)).fetchall()
    except Exception:
        if len(batch) == 1:
            failed.add(batch[0][0])
            return
        middle = len(batch) // 2
        _check(connection, batch[:middle], pairs, kept, failed)
        _check(connection, batch[middle:], pairs, kept, failed)
        return
    for rule, event in found:
        kept[rule].append(event)


def _batch_sql(batch: list[Check], pairs: str) -> str:
    """(RULE, EVENT) of the pairs whose rule's filter keeps the event."""
    rules = ", ".join(str(rule) for rule, _ in batch)
    cases = " ".join(f"WHEN {rule} THEN ({text})" for rule, text in batch)
    return (
        f"SELECT c.{RULE}, c.{EVENT} FROM (SELECT * FROM {pairs} AND {RULE} IN ({rules})) AS c "
        f"JOIN {SLICE_ROWS} AS e ON e.{quote(ROW)} = c.{EVENT} "
        f"WHERE CASE c.{RULE} {cases} ELSE FALSE END"
    )
