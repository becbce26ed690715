"""The events each rule may match, found for all rules at once from their clauses (`prefilter`).

Each field is read once as its distinct values with their counts, and every clause text each
distinct value holds (lowered by DuckDB, as the filters lower it) is found: by DuckDB's
`contains` when the field has a few texts, else by one Aho-Corasick automaton per field. A
"not NULL" requirement is counted by `count(field)`, not value by value; clauses on `_raw` are
dropped (every event's `_raw` is distinct, so grouping it would copy the whole data). Each rule
then takes its clause that the fewest events satisfy, and one hash join per field of the events
with the (value, rule) pairs of those clauses lists the candidate (rule, `_row`) pairs. A rule
with no clause, or whose best clause most events satisfy, is left for a full scan.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from operator import itemgetter

import ahocorasick

from rulec.compiler.run.engines import quote
from rulec.compiler.run.events import RAW, ROW
from rulec.compiler.run.multirule.prefilter import Clause

RULE = "_rulec_rule"
EVENT = "_rulec_event"
BROAD_SHARE = 0.25  # a rule whose best clause holds in more events than this scans them all
FETCH = 100_000
FEW_TEXTS = 64  # a field with at most this many texts is searched by DuckDB, not an automaton

Text = tuple[str, str]  # (field, lowered text); "" means "the field is not NULL"


class Texts:
    """Every clause text, lowered by DuckDB, numbered, and counted in the events."""

    def __init__(self, connection, needs: Mapping[int, list[Clause]]):
        atoms = sorted({atom for found in needs.values() for clause in found for atom in clause})
        lowered = _lowered(connection, [text for _, text in atoms])
        self.of_atom = {a: (a[0], low) for a, low in zip(atoms, lowered, strict=True)}
        self.number = {t: n for n, t in enumerate(sorted(set(self.of_atom.values())))}
        self.count = [0] * len(self.number)
        self.values: dict[str, list[tuple[str, list[int]]]] = {}

    def scan(self, connection, table: str) -> None:
        """Count, for each text, the events that hold it; keep each value's texts."""
        by_field: dict[str, dict[str, int]] = defaultdict(dict)
        for (field, low), number in self.number.items():
            by_field[field][low] = number
        for field, numbers in sorted(by_field.items()):
            column = quote(field)
            if "" in numbers:
                (present,) = connection.execute(
                    f"SELECT count({column}) FROM {quote(table)}"
                ).fetchone()
                self.count[numbers[""]] = present
            words = {low: n for low, n in numbers.items() if low}
            if words:
                self.values[field] = self._scan_field(connection, table, field, words)

    def _scan_field(
        self, connection, table: str, field: str, numbers: dict[str, int]
    ) -> list[tuple[str, list[int]]]:
        """The field's distinct values that hold some of the texts `numbers`, with them:
        found by DuckDB for a few texts, else by an automaton over every distinct value."""
        distinct = (
            f"SELECT v, lower(v) AS low, count(*) AS events FROM "
            f"(SELECT {quote(field)} AS v FROM {quote(table)}) WHERE v IS NOT NULL GROUP BY v"
        )
        few = len(numbers) <= FEW_TEXTS
        pairs = (_found_by_duckdb if few else _found_by_automaton)(connection, distinct, numbers)
        hits: list[tuple[str, list[int]]] = []
        count = self.count
        for value, found, events in pairs:
            for number in found:
                count[number] += events
            hits.append((value, found))
        return hits

    def cost(self, clause: Clause) -> int:
        """How many events (at most) hold some text of the clause."""
        return sum(self.count[self.number[self.of_atom[atom]]] for atom in clause)


def find_candidates(
    connection, table: str, needs: Mapping[int, list[Clause]], into: str
) -> list[int]:
    """Fill the temporary table `into` (RULE, EVENT) with each rule's candidate events;
    return the rules left for a full scan."""
    (events,) = connection.execute(f"SELECT count(*) FROM {quote(table)}").fetchone()
    needs = {rule: [c for c in found if not _ungrouped(c)] for rule, found in needs.items()}
    texts = Texts(connection, needs)
    texts.scan(connection, table)
    broad, chosen = [], {}
    for rule, found in needs.items():
        pick = min(found, key=texts.cost) if found else None
        if pick is None or texts.cost(pick) > max(BROAD_SHARE * events, 1000):
            broad.append(rule)
        else:
            chosen[rule] = pick
    _join(connection, table, texts, chosen, into)
    return broad


def _join(connection, table: str, texts: Texts, chosen: dict[int, Clause], into: str) -> None:
    """The candidate pairs: each field's (value, rule) pairs joined with the events, and the
    events where a field is not NULL for the rules whose clause asks only that."""
    rules_of: dict[int, list[int]] = defaultdict(list)
    for rule, clause in chosen.items():
        for atom in clause:
            rules_of[texts.number[texts.of_atom[atom]]].append(rule)
    source, row, parts = quote(table), quote(ROW), []
    for field, hits in sorted(texts.values.items()):
        values, rules = [], []
        for value, numbers in hits:
            for rule in sorted({r for n in numbers for r in rules_of.get(n, ())}):
                values.append(value)
                rules.append(rule)
        if values:
            pairs = _pairs(connection, len(parts), {"v": values, "r": rules})
            parts.append(
                f"SELECT p.r AS {RULE}, e.{row} AS {EVENT} FROM {source} AS e "
                f"JOIN {pairs} AS p ON e.{quote(field)} = p.v"
            )
    for (field, low), number in sorted(texts.number.items()):
        if low == "" and rules_of.get(number):
            pairs = _pairs(connection, len(parts), {"r": rules_of[number]})
            parts.append(
                f"SELECT p.r AS {RULE}, e.{row} AS {EVENT} FROM {source} AS e, {pairs} AS p "
                f"WHERE e.{quote(field)} IS NOT NULL"
            )
    union = " UNION ALL ".join(parts) or f"SELECT NULL::INTEGER AS {RULE}, NULL::BIGINT AS {EVENT}"
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote(into)} AS SELECT DISTINCT * FROM ({union}) "
        f"WHERE {RULE} IS NOT NULL ORDER BY {RULE}, {EVENT}"
    )
    for index in range(len(parts)):
        connection.execute(f"DROP TABLE {quote(f'_rulec_pairs_{index}')}")


def _pairs(connection, index: int, columns: dict[str, list]) -> str:
    """A temporary table `_rulec_pairs_<index>` with these columns: `v` text, `r` rules."""
    name = quote(f"_rulec_pairs_{index}")
    kinds = {"v": "VARCHAR", "r": "INTEGER"}
    selected = ", ".join(f"unnest(?::{kinds[c]}[]) AS {c}" for c in columns)
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {selected}", list(columns.values())
    )
    return name


Found = Iterator[tuple[str, list[int], int]]  # (value, numbers of its texts, events)


def _found_by_duckdb(connection, distinct: str, numbers: dict[str, int]) -> Found:
    """The values of the `distinct` (v, low, events) rows whose `low` holds some text."""
    listed = ", ".join(
        f"CASE WHEN contains(low, {_literal(t)}) THEN {n} END" for t, n in numbers.items()
    )
    anyone = " OR ".join(f"contains(low, {_literal(t)})" for t in numbers)
    cursor = connection.execute(
        f"SELECT v, list_sort(list_distinct([{listed}])), events FROM ({distinct}) WHERE {anyone}"
    )
    while batch := cursor.fetchmany(FETCH):
        yield from batch


def _found_by_automaton(connection, distinct: str, numbers: dict[str, int]) -> Found:
    """The same, every distinct value searched by one Aho-Corasick automaton."""
    automaton = ahocorasick.Automaton()
    for low, number in numbers.items():
        automaton.add_word(low, number)
    automaton.make_automaton()
    cursor = connection.execute(distinct)
    search, second = automaton.iter, itemgetter(1)
    while batch := cursor.fetchmany(FETCH):
        for value, low, events in batch:
            found = set(map(second, search(low)))
            if found:
                yield value, sorted(found), events


def _ungrouped(clause: Clause) -> bool:
    """Whether the clause names `_raw`: each event's `_raw` is its own, so its distinct values
    are the whole data; such a clause is dropped (a rule needs no more than its other clauses)."""
    return any(field == RAW for field, _ in clause)


def _literal(text: str) -> str:
    """A DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def _lowered(connection, texts: list[str]) -> list[str]:
    """The texts as DuckDB's lower() writes them."""
    if not texts:
        return []
    (lowered,) = connection.execute(
        "SELECT list_transform(?::VARCHAR[], lambda t: lower(t))", [texts]
    ).fetchone()
    return lowered
