"""One model of a deployed rule, from which every deploy format is written.

`deployment(query, emitted)` gathers what a SIEM's rule needs beside the query: identity, level,
schedule (the rule's window), ATT&CK (tactics and techniques named from MITRE's data, the one
source `rulec explain` uses: `compiler/cards/attack.py`), the columns the query outputs (entities
and impacted assets may only name those) and the approximations the user allowed.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePath

from rulec.backends import schemas
from rulec.backends.base import Emitted
from rulec.compiler import ir
from rulec.compiler.cards.attack import AttackData, known, packaged_attack, resolve_tags

DEFAULT_EVERY = timedelta(hours=1)
LEVELS = ("informational", "low", "medium", "high", "critical")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ALLOWED = re.compile(r"\s*\(allowed: ([\w-]+)\)")
WINDOW_COLUMNS = ("window_start", "window_end")


@dataclass(frozen=True)
class Technique:
    """An ATT&CK technique or sub-technique; `parent` names a sub-technique's technique."""

    id: str
    name: str
    parent: str | None = None


@dataclass(frozen=True)
class Tactic:
    """An ATT&CK tactic (`TA0008`, `Lateral Movement`) and the rule's techniques under it."""

    id: str
    name: str
    techniques: tuple[Technique, ...] = ()


@dataclass(frozen=True)
class Approximation:
    """An approximation the user allowed (`bucket`), and what it does to the rule."""

    name: str
    sentence: str

    @property
    def tag(self) -> str:
        return f"approximation:{self.name}"


@dataclass(frozen=True)
class Deployment:
    """Everything a deploy format writes about one rule."""

    id: str
    title: str
    description: str
    author: tuple[str, ...]
    level: str
    window: timedelta | None
    tactics: tuple[Tactic, ...]
    techniques: tuple[Technique, ...]
    tags: tuple[str, ...]
    references: tuple[str, ...]
    falsepositives: tuple[str, ...]
    tables: tuple[str, ...]  # the tables the query reads
    outputs: tuple[str, ...] | None  # columns the query outputs; None: not known
    query: str
    approximations: tuple[Approximation, ...]
    span: ir.Span
    unknown_attack: tuple[str, ...] = ()  # ATT&CK tags the data does not know

    @property
    def every(self) -> timedelta:
        """How often the rule runs and how far back it looks: its window, else an hour."""
        return self.window or DEFAULT_EVERY

    @property
    def full_description(self) -> str:
        """The description, then one sentence per allowed approximation."""
        notes = [f"Approximation ({a.name}): {a.sentence}." for a in self.approximations]
        return "\n\n".join([self.description, *notes]) if notes else self.description

    @property
    def all_tags(self) -> tuple[str, ...]:
        return self.tags + tuple(a.tag for a in self.approximations)

    def refuse(self, format: str, why: str) -> ir.RuleError:
        """The diagnostic for a rule `format` cannot deploy as it is."""
        return ir.RuleError(ir.Diagnostic("deploy.unsupported", f"{format}: {why}", self.span))


def deployment(query: ir.Query, emitted: Emitted, data: AttackData | None = None) -> Deployment:
    """The model of `query` deployed with the query text `emitted`."""
    meta = query.meta
    level = (meta.level or "medium").lower()
    tactics, techniques, unknown = attack(meta.tags, data or packaged_attack())
    tables = tuple(dict.fromkeys(t.name for t in ir.find_all(query, ir.Table)))
    identity = rule_id(meta.id, meta.title or emitted.text)
    title = meta.title or (PurePath(meta.path).stem if meta.path else identity)
    return Deployment(
        id=identity,
        title=title,
        description=(meta.description or title).strip(),
        author=tuple(a.strip() for a in (meta.author or "").split(",") if a.strip()),
        level=level if level in LEVELS else "medium",
        window=window_of(query),
        tactics=tactics,
        techniques=techniques,
        tags=meta.tags,
        references=meta.references,
        falsepositives=meta.falsepositives,
        tables=tables,
        outputs=outputs(query),
        query=emitted.text,
        approximations=approximations(emitted.notes),
        span=query.span,
        unknown_attack=unknown,
    )


def rule_id(given: str | None, seed: str) -> str:
    """The rule's id where it is a UUID; otherwise a UUID derived from it (or from `seed`)."""
    if given and UUID.fullmatch(given.lower()):
        return given.lower()
    return str(uuid.uuid5(uuid.NAMESPACE_URL, given or seed))


def window_of(query: ir.Query) -> timedelta | None:
    for stage in query.pipeline.stages:
        if isinstance(stage, ir.Aggregate) and stage.window is not None:
            return stage.window.size
        if isinstance(stage, ir.Correlation):
            return stage.timespan
    return None


def approximations(notes: tuple[ir.Diagnostic, ...]) -> tuple[Approximation, ...]:
    found = []
    for note in notes:
        if note.code == "approximation":
            allowed = ALLOWED.search(note.message)
            name = allowed.group(1) if allowed else note.target or "approximation"
            found.append(Approximation(name, ALLOWED.sub("", note.message)))
    return tuple(dict.fromkeys(found))


# --------------------------------------------------------------------------- ATT&CK


def attack(
    tags: tuple[str, ...], data: AttackData
) -> tuple[tuple[Tactic, ...], tuple[Technique, ...], tuple[str, ...]]:
    """The tactics of a rule (those tagged, then those of tagged techniques that fit none of
    them), each with its techniques; every technique tagged; and the tactic and technique tags
    `data` does not know. Each tag is named by the newest release of `data` that knows it."""
    resolved = resolve_tags(tags, data)
    unknown = tuple(
        t.tag for t in resolved if t.kind in ("tactic", "technique", "other") and not known(t)
    )
    index = data.tactic_index()
    names = {t.id: t.name for t in resolved if t.kind == "tactic" and known(t) and t.id}
    tagged = list(names)
    techniques: list[tuple[Technique, tuple[str, ...]]] = []
    for tag in resolved:
        if tag.kind == "technique" and tag.id and known(tag):
            parent = tag.parent if "." in tag.id else None
            homes = [index[s] for s in tag.tactics if s in index]
            for tid, name in homes:
                names.setdefault(tid, name)
            techniques.append((Technique(tag.id, tag.name, parent), tuple(t for t, _ in homes)))
    under: dict[str, list[Technique]] = {tid: [] for tid in tagged}
    for technique, homes in techniques:
        chosen = [tid for tid in homes if tid in tagged] or list(homes)
        for tid in chosen:
            under.setdefault(tid, [])
            if technique not in under[tid]:
                under[tid].append(technique)
    tactics = tuple(Tactic(tid, names[tid], tuple(found)) for tid, found in under.items())
    return tactics, tuple(dict.fromkeys(t for t, _ in techniques)), unknown


# --------------------------------------------------------------------------- output columns


def outputs(query: ir.Query) -> tuple[str, ...] | None:
    """The columns the query outputs: group keys and measures after an aggregation, group keys
    of a correlation, the table's documented columns (or the rule's own fields) for events; for
    any other query, the columns the SQL back end tracks through its stages (None: not known)."""
    pipeline = query.pipeline
    last = pipeline.stages[-1] if pipeline.stages else None
    if isinstance(last, ir.Aggregate):
        keys = tuple(g.name for g in last.group_by) + tuple(m.name for m in last.measures)
        return keys + (WINDOW_COLUMNS if last.window is not None else ())
    if isinstance(last, ir.Correlation):
        return last.group_by
    if isinstance(pipeline.source, ir.Table | ir.LogSource) and all(
        isinstance(stage, ir.Filter) for stage in pipeline.stages
    ):
        table = pipeline.source.name if isinstance(pipeline.source, ir.Table) else None
        documented = schemas.known_columns(table) if table else None
        return documented or tuple(
            dict.fromkeys(f.name for f in ir.find_all(pipeline.stages, ir.FieldRef))
        )
    return tracked_columns(query)


def tracked_columns(query: ir.Query) -> tuple[str, ...] | None:
    """The output columns the SQL back end knows for `query` (from the documented tables)."""
    from rulec.backends.sql import QueryBuilder, SqlBackend

    backend = SqlBackend("duckdb")
    builder = QueryBuilder(backend, backend.prepared(query))
    try:
        builder.build()  # the let-bound pipelines' columns
        return builder.relation(builder.query.pipeline).columns
    except ir.RuleError:
        return None
