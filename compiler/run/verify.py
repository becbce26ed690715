"""Golden cases: a rule, its events, and the rows or alerts it must produce.

A case is a folder holding `expected.json`:

    {"rule": "../../rules/sigma/x.yml",      rule file, relative to the case folder
     "events": "events.ndjson",              events bound to the rule's main table
     "tables": {"FileProfile": "fp.ndjson"}, optional further tables by name
     "now": "2026-01-01T00:00:00Z",          optional fixed clock
     "rows": [1, 3],                         `_row` numbers that must match (event rules), or
     "rows": [{"_row": 1, "_row1": 4}],      rows given by some of their columns (joins), or
     "alerts": [{"window_start": ..., "window_end": ..., "value": 31}]   (aggregating rules)
     "why": {"1": "..."}}                    optional: what each event tests

Each case checks that the rule selects exactly those rows or alerts on the reference executor,
and (`check_targets`) that each target's engine selects what the reference selects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rulec.compiler import ir
from rulec.compiler.rules import load_rules
from rulec.compiler.run.engines import Engine
from rulec.compiler.run.equivalence import Finding, Inputs, Reference, compare_rule
from rulec.compiler.run.events import ROW, load_events
from rulec.compiler.run.executor import execute

EXPECTED = "expected.json"


@dataclass(frozen=True)
class Case:
    folder: Path
    rule: Path
    events: Path
    tables: dict[str, Path]
    now: datetime | None
    rows: list[int] | list[dict[str, object]] | None
    alerts: list[dict[str, object]] | None


@dataclass(frozen=True)
class Verdict:
    case: Path
    ok: bool
    detail: str


def find_cases(paths: Iterable[str | Path]) -> list[Path]:
    """Case folders named directly or found under the given folders."""
    found: list[Path] = []
    for spec in paths:
        path = Path(spec)
        if (path / EXPECTED).is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(p.parent for p in path.rglob(EXPECTED)))
    return found


def read_case(folder: Path) -> Case:
    spec = json.loads((folder / EXPECTED).read_text(encoding="utf-8"))
    now = spec.get("now")
    return Case(
        folder=folder,
        rule=(folder / spec["rule"]).resolve(),
        events=folder / spec.get("events", "events.ndjson"),
        tables={name: folder / file for name, file in spec.get("tables", {}).items()},
        now=datetime.fromisoformat(now.replace("Z", "+00:00")) if now else None,
        rows=spec.get("rows"),
        alerts=spec.get("alerts"),
    )


def check(case: Case, engine: Engine | None = None) -> Verdict:
    """Run the case's rule on its events and compare with what the case expects."""
    loaded = load_rules(case.rule)
    if len(loaded) != 1:
        return Verdict(case.folder, False, f"expected one rule in {case.rule}, found {len(loaded)}")
    query = loaded[0]
    if isinstance(query, ir.Diagnostic):
        return Verdict(case.folder, False, f"rule does not load: {query.message}")
    tables = {name: load_events([str(path)]) for name, path in case.tables.items()}
    try:
        rows = execute(query, load_events([str(case.events)]), tables, case.now, engine=engine)
    except ir.RuleError as error:
        return Verdict(case.folder, False, f"rule does not run: {error.diagnostic.message}")
    except Exception as error:  # an engine's own error: the compiled query is wrong
        return Verdict(case.folder, False, f"the engine rejected the query: {error}")
    if case.alerts is not None:
        got = [{k: row.get(k) for k in _alert_keys(case.alerts, row)} for row in rows]
        ok = _canonical(got) == _canonical(case.alerts)
        return Verdict(
            case.folder, ok, f"{len(rows)} alerts" if ok else f"alerts {got} != {case.alerts}"
        )
    expected = case.rows or []
    if expected and isinstance(expected[0], dict):
        got = [{k: row.get(k) for k in expected[0]} for row in rows]
        ok = _canonical(got) == _canonical(expected)
        return Verdict(case.folder, ok, f"{len(rows)} rows" if ok else f"rows {got} != {expected}")
    got_rows = sorted(int(row[ROW]) for row in rows)
    ok = got_rows == sorted(expected)
    detail = f"{len(got_rows)} rows" if ok else f"rows {got_rows} != {expected}"
    return Verdict(case.folder, ok, detail)


def _alert_keys(expected: list[dict[str, object]], row: dict[str, object]) -> list[str]:
    return list(expected[0]) if expected else list(row)


def _canonical(rows: list[dict[str, object]]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)


def verify(paths: Iterable[str | Path], engine_factory=None) -> Iterator[Verdict]:
    """Verdicts for every case under `paths`; `engine_factory()` gives a fresh engine per case."""
    for folder in find_cases(paths):
        try:
            case = read_case(folder)
        except (OSError, KeyError, ValueError) as error:
            yield Verdict(folder, False, f"unreadable {EXPECTED}: {error}")
            continue
        yield check(case, engine_factory() if engine_factory else None)


def check_targets(case: Case, engines: dict[str, object], reference: Reference) -> list[Finding]:
    """The case's rule on each target's engine against the reference, over the case's events
    (nothing when the rule does not load: `check` reports that)."""
    loaded = load_rules(case.rule)
    if len(loaded) != 1 or isinstance(loaded[0], ir.Diagnostic):
        return []
    tables = {name: load_events([str(path)]) for name, path in case.tables.items()}
    inputs = Inputs(load_events([str(case.events)]), tables, case.now)
    return compare_rule(str(case.folder), loaded[0], inputs, engines, reference)
