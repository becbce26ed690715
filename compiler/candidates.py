"""The events each rule may match, found for all rules at once from their clauses (`prefilter`).

Each field is read once as its distinct values with their counts; one Aho-Corasick automaton
per field finds, in each distinct value (lowered by DuckDB, as the filters lower it), every
clause text it holds. Each rule then takes its clause that the fewest events satisfy, and one
hash join per field of the events with the (value, rule) pairs of those clauses lists the
candidate (rule, `_row`) pairs. A rule with no clause, or whose best clause most events
satisfy, is left for a full scan.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import ahocorasick

from rulec.compiler.engines import quote
from rulec.compiler.events import ROW
from rulec.compiler.prefilter import Clause

RULE = "_rulec_rule"
EVENT = "_rulec_event"
BROAD_SHARE = 0.25  # a rule whose best clause holds in more events than this scans them all
FETCH = 100_000

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
            self.values[field] = self._scan_field(connection, table, field, numbers)

    def _scan_field(
        self, connection, table: str, field: str, numbers: dict[str, int]
    ) -> list[tuple[str, list[int]]]:
        automaton = ahocorasick.Automaton()
        for low, number in numbers.items():
            if low:
                automaton.add_word(low, number)
        automaton.make_automaton()
        present = numbers.get("")
        searchable = len(automaton) > 0
        column = quote(field)
        cursor = connection.execute(
            f"SELECT v, lower(v), count(*) FROM (SELECT {column} AS v FROM {quote(table)}) "
            "WHERE v IS NOT NULL GROUP BY v"
        )
        hits: list[tuple[str, list[int]]] = []
        while batch := cursor.fetchmany(FETCH):
            for value, low, events in batch:
                found = {n for _, n in automaton.iter(low)} if searchable else set()
                if present is not None:
                    found.add(present)
                for number in found:
                    self.count[number] += events
                if found:
                    hits.append((value, sorted(found)))
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
    """The candidate pairs: each field's (value, rule) pairs joined with the events."""
    rules_of: dict[int, list[int]] = defaultdict(list)
    for rule, clause in chosen.items():
        for atom in clause:
            rules_of[texts.number[texts.of_atom[atom]]].append(rule)
    parts = []
    for index, (field, hits) in enumerate(sorted(texts.values.items())):
        values, rules = [], []
        for value, numbers in hits:
            for rule in sorted({r for n in numbers for r in rules_of.get(n, ())}):
                values.append(value)
                rules.append(rule)
        if not values:
            continue
        pairs = quote(f"_rulec_pairs_{index}")
        connection.execute(
            f"CREATE OR REPLACE TEMP TABLE {pairs} AS "
            "SELECT unnest(?::VARCHAR[]) AS v, unnest(?::INTEGER[]) AS r",
            [values, rules],
        )
        parts.append(
            f"SELECT p.r AS {RULE}, e.{quote(ROW)} AS {EVENT} FROM {quote(table)} AS e "
            f"JOIN {pairs} AS p ON e.{quote(field)} = p.v"
        )
    union = " UNION ALL ".join(parts) or f"SELECT NULL::INTEGER AS {RULE}, NULL::BIGINT AS {EVENT}"
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote(into)} AS SELECT DISTINCT * FROM ({union}) "
        f"WHERE {RULE} IS NOT NULL"
    )
    for index in range(len(texts.values)):
        connection.execute(f"DROP TABLE IF EXISTS {quote(f'_rulec_pairs_{index}')}")


def _lowered(connection, texts: list[str]) -> list[str]:
    """The texts as DuckDB's lower() writes them."""
    if not texts:
        return []
    (lowered,) = connection.execute(
        "SELECT list_transform(?::VARCHAR[], lambda t: lower(t))", [texts]
    ).fetchone()
    return lowered
