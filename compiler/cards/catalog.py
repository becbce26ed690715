"""The indicator catalog: for every indicator of a corpus, how many rules use it, per language.

An indicator is counted once per rule under its catalog key (field, kind, normalised value; see
`passes.indicators`). Sigma rules are read through the same processing pipeline (field mapping)
for the whole corpus. The JSON form is the index that `rulec explain --catalog` reads.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rulec.compiler import ir
from rulec.compiler.cards.card import LANGUAGE_LABELS, Counts, Lookup
from rulec.compiler.cards.indicators import IndicatorKey, indicator_keys, indicators
from rulec.compiler.rules import discover, load_rules

CATALOG_VERSION = 1


@dataclass
class Catalog:
    """Indicator counts over a corpus; `shown` keeps the first spelling seen of each key."""

    files: int = 0
    rules: int = 0
    failed: int = 0
    languages: Counter = field(default_factory=Counter)
    counts: dict[IndicatorKey, Counter] = field(default_factory=dict)
    shown: dict[IndicatorKey, tuple[str, str, str]] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, query: ir.Query) -> None:
        """Count one rule's indicators (each key once per rule)."""
        language = LANGUAGE_LABELS.get(query.meta.language, query.meta.language)
        self.rules += 1
        self.languages[language] += 1
        seen: set[IndicatorKey] = set()
        for predicate in indicators(query):
            for value, key in zip(predicate.values, indicator_keys(predicate), strict=True):
                self.shown.setdefault(key, (predicate.field, predicate.kind, value))
                seen.add(key)
        for key in seen:
            self.counts.setdefault(key, Counter())[language] += 1

    def lookup(self, key: IndicatorKey) -> Counts | None:
        found = self.counts.get(key)
        if not found:
            return None
        return Counts(sum(found.values()), dict(sorted(found.items())))

    def ranked(self) -> list[tuple[IndicatorKey, Counter]]:
        """Indicators by number of rules, most used first."""
        return sorted(self.counts.items(), key=lambda item: (-sum(item[1].values()), item[0]))


def index_rules(
    paths: Iterable[str | Path],
    pipeline: object | None = None,
    on_error: Callable[[ir.Diagnostic], None] | None = None,
) -> Catalog:
    """Read every rule under `paths` once and count its indicators."""
    start = time.perf_counter()
    catalog = Catalog()
    for path in discover(paths):
        catalog.files += 1
        for item in _load(path, pipeline):
            if isinstance(item, ir.Diagnostic):
                catalog.failed += 1
                if on_error:
                    on_error(item)
            else:
                catalog.add(item)
    catalog.seconds = time.perf_counter() - start
    return catalog


def _load(path: Path, pipeline: object | None) -> list[ir.Query | ir.Diagnostic]:
    try:
        return load_rules(path, pipeline)
    except Exception as error:  # a front end's internal error: count the file as failed
        message = f"internal error while reading the rule: {type(error).__name__}: {error}"
        return [ir.Diagnostic("internal", message, ir.Span(str(path)))]


def catalog_json(catalog: Catalog) -> dict:
    """The stable JSON form (the index `rulec explain --catalog` reads)."""
    return {
        "catalog_version": CATALOG_VERSION,
        "files": catalog.files,
        "rules": catalog.rules,
        "failed": catalog.failed,
        "seconds": round(catalog.seconds, 2),
        "languages": dict(sorted(catalog.languages.items())),
        "indicators": [
            {
                "field": catalog.shown[key][0],
                "kind": catalog.shown[key][1],
                "value": catalog.shown[key][2],
                "key": list(key),
                "rules": sum(counts.values()),
                "by_language": dict(sorted(counts.items())),
            }
            for key, counts in catalog.ranked()
        ],
    }


def catalog_from_json(data: dict, origin: str = "index") -> Catalog:
    """A catalog read back from its JSON form; a malformed index raises `ir.RuleError`."""
    try:
        if data.get("catalog_version") != CATALOG_VERSION:
            raise ValueError(f"catalog_version {data.get('catalog_version')!r}")
        catalog = Catalog(data["files"], data["rules"], data["failed"])
        catalog.languages = Counter(data["languages"])
        for row in data["indicators"]:
            key = tuple(row["key"])
            catalog.counts[key] = Counter(row["by_language"])
            catalog.shown[key] = (row["field"], row["kind"], row["value"])
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        message = (
            f"not a rulec catalog index ({error}); expected the JSON that "
            f"`rulec catalog --format json` writes, with catalog_version {CATALOG_VERSION}"
        )
        raise ir.RuleError(ir.Diagnostic("catalog.bad-index", message, ir.Span(origin))) from None
    return catalog


def load_catalog(path: Path, pipeline: object | None = None) -> Catalog:
    """A catalog from an index file (`.json`), or indexed now from rule files or folders."""
    if path.suffix.lower() != ".json":
        return index_rules([path], pipeline)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        message = f"cannot read the catalog index: {error}"
        diagnostic = ir.Diagnostic("catalog.bad-index", message, ir.Span(str(path)))
        raise ir.RuleError(diagnostic) from None
    return catalog_from_json(data, str(path))


def lookup_of(catalog: Catalog | None) -> Lookup | None:
    return catalog.lookup if catalog else None
