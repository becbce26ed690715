"""The events each rule may match, found for all rules at once from their clauses (`prefilter`).

Each clause text (lowered by DuckDB, as the filters lower it) is first counted in a sample of
about SAMPLE events (all of them when there are no more; a "not NULL" requirement is counted
exactly by `count(field)`), and each rule takes its clause that the fewest events satisfy: the
counts only choose, so an estimate does. Then each field is read once as its distinct values,
and the texts of the chosen clauses each value holds are found: by DuckDB's `contains` when the
field has a few texts, else by one Aho-Corasick automaton per field, run over a batch of values
at a time. Every event's `_raw` is distinct, so grouping it would copy the whole data: a clause
on a `_raw` that rulec writes from the fields (`name=value` lines) is read as the same text in
any field (or a field's name, when it is set), and other clauses on `_raw` are dropped. One
hash join per field of the events with the (value, rule) pairs of the chosen clauses lists the
candidate (rule, `_row`) pairs. A rule with no clause, or whose best clause too many events
satisfy (a quarter of them; a twentieth on a table of more than a row group, whose full scan
runs beside the search of the texts), is left for a full scan.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from rulec.compiler.run.engines import ROW_GROUP, quote
from rulec.compiler.run.events import RAW, ROW
from rulec.compiler.run.multirule.prefilter import Clause
from rulec.compiler.run.multirule.text_search import TextSearch

RULE = "_rulec_rule"
EVENT = "_rulec_event"
BROAD_SHARE = 0.25  # a rule whose best clause holds in more events than this scans them all
BROAD_SHARE_ALONGSIDE = 0.05  # the same where that scan runs beside the search of the texts
FETCH = 100_000
FEW_TEXTS = 64  # a field with at most this many texts is searched by DuckDB, not an automaton
FEW_VALUES = 0.2  # distinct values per sampled value below which a field's are grouped first
SAMPLE = 10_000  # events in which the texts are counted
VALUES = "_rulec_values"
SAMPLED = "_rulec_sampled"
REGEX_SIZE = 4_000  # characters of a regular expression of alternatives that RE2 runs fast
REGEX_SPECIAL = frozenset("\\.^$|?*+()[]{}")

Text = tuple[str, str]  # (field, lowered text); "" means "the field is not NULL"


class Texts:
    """Every clause text, lowered by DuckDB, numbered, and counted in the events."""

    def __init__(self, connection, needs: Mapping[int, list[Clause]]):
        atoms = sorted({atom for found in needs.values() for clause in found for atom in clause})
        lowered = _lowered(connection, [text for _, text in atoms])
        self.of_atom = {a: (a[0], low) for a, low in zip(atoms, lowered, strict=True)}
        self.number = {t: n for n, t in enumerate(sorted(set(self.of_atom.values())))}
        self.count = [0] * len(self.number)
        self.values: dict[str, list[tuple[str, Sequence[int]]]] = {}
        self.counted: dict[str, list[tuple[str, Sequence[int]]]] = {}  # every event's, when exact
        self.few_values: set[str] = set()  # fields of few distinct values in the sample
        self.by_field: dict[str, dict[str, int]] = defaultdict(dict)
        for (field, low), number in sorted(self.number.items()):
            self.by_field[field][low] = number

    def scan(self, connection, table: str, events: int) -> None:
        """Count, for each text, the events that hold it: in every `step`-th event (by a hash
        of `_row`) of about SAMPLE, read once, scaled; "not NULL" in every event. A field no
        event sets is not read again."""
        fields = list(self.by_field)
        if not fields:
            return
        counts = ", ".join(f"count({quote(field)})" for field in fields)
        found = connection.execute(f"SELECT {counts} FROM {quote(table)}").fetchone()
        for field, present in zip(fields, found, strict=True):
            if "" in self.by_field[field]:
                self.count[self.by_field[field][""]] = present
            if not present:
                del self.by_field[field]
        searched = [field for field, numbers in self.by_field.items() if set(numbers) - {""}]
        if not searched:
            return
        step = max(1, events // SAMPLE)
        source = table
        if step > 1:
            source = SAMPLED
            columns = ", ".join(map(quote, searched))
            connection.execute(
                f"CREATE OR REPLACE TEMP TABLE {quote(SAMPLED)} AS SELECT {columns} "
                f"FROM {quote(table)} WHERE hash({quote(ROW)}) % {step} = 0"
            )
        rows: list[list[tuple[str, str, int]]] = [[] for _ in searched]
        for index, value, low, held in _all_distinct(connection, source, searched):
            rows[index].append((value, low, held))
        for field, values in zip(searched, rows, strict=True):
            if len(values) <= FEW_VALUES * sum(held for _, _, held in values):
                self.few_values.add(field)
            search = TextSearch({low: n for low, n in self.by_field[field].items() if low})
            counted = self.counted.setdefault(field, []) if step == 1 else None
            for position, found in sorted(search.held([low for _, low, _ in values]).items()):
                value, _, held = values[position]
                for number in found:
                    self.count[number] += held * step
                if counted is not None:
                    counted.append((value, found))
        if step > 1:
            connection.execute(f"DROP TABLE {quote(SAMPLED)}")

    def find(self, connection, table: str, wanted: set[int], other=None) -> None:
        """Keep the distinct values of each field that hold some of the `wanted` texts, with
        them: from the counts when they read every event, else searched again (for many
        texts, only the values that DuckDB finds holding one). With `other` (a second
        connection to the same database), the field of most texts is searched here while the
        others are searched there, by another thread."""
        searched = []
        for field, numbers in self.by_field.items():
            words = {low: n for low, n in numbers.items() if low and n in wanted}
            if not words:
                continue
            if field in self.counted:
                counted = self.counted[field]
                held = ((v, tuple(n for n in found if n in wanted)) for v, found in counted)
                self.values[field] = [(value, found) for value, found in held if found]
            else:
                searched.append((field, words))
        searched.sort(key=lambda item: -len(item[1]))
        few = self.few_values
        if other is None or len(searched) < 2:
            self.values.update(_search(connection, table, searched, few))
            return
        with ThreadPoolExecutor(1) as pool:
            rest = pool.submit(_search, other, table, searched[1:], few)
            self.values.update(_search(connection, table, searched[:1], few))
            self.values.update(rest.result())

    def cost(self, clause: Clause) -> int:
        """How many events (at most) hold some text of the clause."""
        return sum(self.count[self.number[self.of_atom[atom]]] for atom in clause)


def _search(
    connection, table: str, searched: list[tuple[str, dict[str, int]]], few: set[str]
) -> dict[str, list[tuple[str, Sequence[int]]]]:
    """Each field's distinct values that hold some of its texts, with their numbers. For many
    texts, only the values that one regular expression finds holding one are searched: tested
    on each event, or, in a field of `few` distinct values, on each distinct value."""
    found = {}
    for field, words in searched:
        finder = _finder(words)
        where = having = "TRUE"
        if finder is _found_by_automaton:
            if field in few:
                having = _holding("v", words)
            else:
                where = _holding(quote(field), words)
        rows = finder(connection, _distinct(table, field, where, having), words)
        found[field] = [(value, numbers) for value, numbers, _ in rows]
    return found


def _all_distinct(connection, table: str, fields: Sequence[str]) -> list[tuple]:
    """The distinct values of every field (of a sample: a few thousand each at most), in one
    statement: (the field's index, value, lowered, events)."""
    parts = " UNION ALL ".join(
        f"SELECT {index} AS f, {quote(field)} AS v FROM {quote(table)}"
        for index, field in enumerate(fields)
    )
    return connection.execute(
        f"SELECT f, v, lower(v), count(*) FROM ({parts}) WHERE v IS NOT NULL GROUP BY f, v"
    ).fetchall()


def _distinct(table: str, field: str, where: str, having: str = "TRUE") -> str:
    """The field's distinct values among the events `where` holds, those `having` holds of
    (`v`: the value): (v, low, events). `having` is tested on the grouped values, which DuckDB
    is kept from moving before the grouping (where it would test every event) by materialising
    them."""
    grouped = (
        f"SELECT v, lower(v) AS low, count(*) AS events FROM (SELECT {quote(field)} AS v "
        f"FROM {quote(table)} WHERE {where}) WHERE v IS NOT NULL GROUP BY v"
    )
    if having == "TRUE":
        return grouped
    return f"WITH grouped AS MATERIALIZED ({grouped}) SELECT * FROM grouped WHERE {having}"


def _holding(value: str, words: Mapping[str, int]) -> str:
    """SQL: the `value` (an expression), lowered, holds one of the texts, as one regular
    expression of literal alternatives (RE2 runs it as one automaton), when the texts are short
    enough for RE2 to keep that automaton (else TRUE: every value is searched)."""
    texts = [_regex_literal(text) for text in sorted(words)]
    if sum(map(len, texts)) > REGEX_SIZE:
        return "TRUE"
    return f"regexp_matches(lower({value}), {_literal('|'.join(texts))})"


def _regex_literal(text: str) -> str:
    """A regular expression (RE2) matching the text itself."""
    return "".join(
        "\\" + char if char in REGEX_SPECIAL else f"\\x{{{ord(char):x}}}" if char < " " else char
        for char in text
    )


def _finder(words: dict[str, int]):
    """DuckDB for a few texts, else an automaton."""
    return _found_by_duckdb if len(words) <= FEW_TEXTS else _found_by_automaton


@dataclass
class Choice:
    """Each rule's chosen clause, the texts counted, the rules left for a full scan, the
    events of the table, and whether the full scan runs beside the search of the texts (on a
    table of more than a row group: there it uses the processor time that the search, held by
    Python's lock, leaves, so that it costs less than checking many candidates afterwards)."""

    texts: Texts
    chosen: dict[int, Clause]
    broad: list[int]
    events: int
    alongside: bool


def choose(
    connection, table: str, needs: Mapping[int, list[Clause]], raw: Sequence[str] | None = None
) -> Choice:
    """Each rule's rarest clause, from the texts counted in a sample; the rules with none, or
    whose best clause too many events satisfy (a share of them), are left for a full scan."""
    (events,) = connection.execute(f"SELECT count(*) FROM {quote(table)}").fetchone()
    if raw is not None:
        needs = _spread(connection, needs, raw)
    needs = {rule: [c for c in found if not _ungrouped(c)] for rule, found in needs.items()}
    texts = Texts(connection, needs)
    texts.scan(connection, table, events)
    alongside = events > ROW_GROUP
    most = max((BROAD_SHARE_ALONGSIDE if alongside else BROAD_SHARE) * events, 1000)
    broad, chosen = [], {}
    for rule, found in needs.items():
        pick = min(found, key=texts.cost) if found else None
        if pick is None or texts.cost(pick) > most:
            broad.append(rule)
        else:
            chosen[rule] = pick
    return Choice(texts, chosen, broad, events, alongside)


def fill(connection, table: str, choice: Choice, into: str, other=None) -> None:
    """Fill the temporary table `into` (RULE, EVENT) with the candidate events of each rule
    that has a chosen clause (`other`: a second connection that searches some fields)."""
    texts, chosen = choice.texts, choice.chosen
    wanted = {texts.number[texts.of_atom[atom]] for clause in chosen.values() for atom in clause}
    texts.find(connection, table, wanted, other)
    _join(connection, table, texts, chosen, into)


def _join(connection, table: str, texts: Texts, chosen: dict[int, Clause], into: str) -> None:
    """The candidate pairs: each field's (value, rule) pairs joined with the events, and the
    events where a field is not NULL for the rules whose clause asks only that."""
    rules_of: dict[int, list[int]] = defaultdict(list)
    for rule, clause in chosen.items():
        for atom in clause:
            rules_of[texts.number[texts.of_atom[atom]]].append(rule)
    source, row, parts = quote(table), quote(ROW), []
    rules_for: dict[tuple[int, ...], list[int]] = {}  # many values hold the same texts
    for field, hits in sorted(texts.values.items()):
        values, rules = [], []
        for value, numbers in hits:
            key = tuple(numbers)
            found = rules_for.get(key)
            if found is None:
                found = rules_for[key] = sorted({r for n in key for r in rules_of.get(n, ())})
            values += [value] * len(found)
            rules += found
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


Found = Iterator[tuple[str, Sequence[int], int]]  # (value, numbers of its texts, events)


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
    """The same, every distinct value searched by one automaton (`TextSearch`), FETCH values
    at a time; only the values holding some text are read whole."""
    search = TextSearch(numbers)
    values = quote(VALUES)
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE {values} AS "
        f"SELECT row_number() OVER () - 1 AS i, * FROM ({distinct})"
    )
    (count,) = connection.execute(f"SELECT count(*) FROM {values}").fetchone()
    for first in range(0, count, FETCH):
        (lows,) = connection.execute(
            f"SELECT list(low ORDER BY i) FROM {values} WHERE i >= ? AND i < ?",
            [first, first + FETCH],
        ).fetchone()
        found = {first + n: held for n, held in search.held(lows).items()}
        if found:
            rows = connection.execute(
                f"SELECT i, v, events FROM {values} WHERE i IN (SELECT unnest(?::BIGINT[])) "
                "ORDER BY i",
                [list(found)],
            ).fetchall()
            for index, value, events in rows:
                yield value, found[index], events
    connection.execute(f"DROP TABLE {values}")


def _spread(
    connection, needs: Mapping[int, list[Clause]], fields: Sequence[str]
) -> dict[int, list[Clause]]:
    """The clauses with each text required in `_raw` (the `name=value` lines of the `fields`
    that are set) required in any of the fields instead, or in the name of a field that is set:
    a text without a line break or `=` lies within one name or one value. A clause with another
    text on `_raw` is left as it is (then dropped)."""
    if any("=" in name or "\n" in name for name in fields):
        return dict(needs)
    texts = sorted({text for found in needs.values() for c in found for f, text in c if f == RAW})
    lowered = dict(zip(texts, _lowered(connection, texts), strict=True))
    names = list(zip(fields, _lowered(connection, list(fields)), strict=True))

    def spread(clause: Clause) -> Clause:
        atoms: set[tuple[str, str]] = set()
        for field, text in clause:
            low = lowered.get(text) if field == RAW else None
            if low is None:
                atoms.add((field, text))
            elif not low or "\n" in low or "=" in low:
                return clause
            else:
                atoms.update((name, text) for name in fields)
                atoms.update((name, "") for name, lower in names if low in lower)
        return frozenset(atoms)

    return {rule: [spread(clause) for clause in found] for rule, found in needs.items()}


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
