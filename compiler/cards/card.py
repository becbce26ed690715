"""The rule card: what an analyst reviewing a rule needs, derived from its IR.

`build_card(query)` reads the IR (and `RuleMeta.text`, sliced by node spans, for each stage's
source text) into a `Card` of frozen dataclasses: metadata, ATT&CK coverage, event sources, the
rule body, parameters and let-bindings, stages, thresholds, joins, exclusions, indicators (with
corpus counts when a catalog lookup is given) and output fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rulec.compiler import ir
from rulec.compiler.cards.attack import AttackData, AttackTag, resolve_tags
from rulec.compiler.cards.exclusions import Exclusion, exclusions
from rulec.compiler.cards.indicators import (
    IndicatorKey,
    Predicate,
    expr_text,
    indicator_keys,
    indicators,
    pipelines,
)
from rulec.compiler.cards.source_text import span_lines, tidy
from rulec.compiler.cards.stages import (
    Section,
    Threshold,
    kql_sections,
    logsource_text,
    measure_text,
    op_name,
    sigma_sections,
    source_chain,
    source_name,
    statement_ends,
    threshold_of,
)

LANGUAGE_LABELS = {"sigma": "sigma", "kql": "kusto"}
BODY_SYNTAX = {"sigma": "yaml", "kql": "kusto"}


@dataclass(frozen=True)
class Counts:
    """How many rules of a catalog use an indicator, in all and per language."""

    total: int
    by_language: dict[str, int] = field(default_factory=dict)


Lookup = Callable[[IndicatorKey], Counts | None]


@dataclass(frozen=True)
class IndicatorValue:
    value: str
    key: str  # the normalised value the catalog counts
    corpus: Counts | None = None


@dataclass(frozen=True)
class Indicator:
    field: str
    kind: str
    values: tuple[IndicatorValue, ...]
    case_sensitive: bool
    transforms: tuple[str, ...] = ()
    line: int | None = None


@dataclass(frozen=True)
class Param:
    name: str
    type: str | None
    default: str | None
    text: str
    line: int | None


@dataclass(frozen=True)
class LetBinding:
    """A let; `role` is `source` when its stages are listed as the rule's sections."""

    name: str
    kind: str  # pipeline | scalar
    role: str  # source | binding
    materialize: bool
    derived_from: tuple[str, ...]
    text: str
    line: int | None


@dataclass(frozen=True)
class JoinKeys:
    kind: str
    left: str
    right: str
    keys: tuple[tuple[str, str], ...]
    line: int | None


@dataclass(frozen=True)
class OutputField:
    name: str
    source: str  # the stage that makes it: extend, project, summarize, ...
    expr: str
    line: int | None


@dataclass(frozen=True)
class EventSource:
    kind: str  # table | logsource
    name: str


@dataclass(frozen=True)
class Meta:
    title: str
    language: str
    path: str | None
    id: str | None
    status: str | None
    level: str | None
    author: str | None
    description: str | None
    references: tuple[str, ...]
    falsepositives: tuple[str, ...]
    tags: tuple[str, ...]
    logsource: str | None
    origin: str | None  # first line of the nearest SOURCE file above the rule
    time_window: str | None


@dataclass(frozen=True)
class Body:
    syntax: str
    text: str


@dataclass(frozen=True)
class Card:
    meta: Meta
    attack: tuple[AttackTag, ...]
    attack_note: str | None
    events: tuple[EventSource, ...]
    body: Body
    params: tuple[Param, ...]
    lets: tuple[LetBinding, ...]
    sections: tuple[Section, ...]
    thresholds: tuple[Threshold, ...]
    joins: tuple[JoinKeys, ...]
    exclusions: tuple[Exclusion, ...]
    indicators: tuple[Indicator, ...]
    outputs: tuple[OutputField, ...]


def build_card(
    query: ir.Query,
    attack: AttackData | None = None,
    lookup: Lookup | None = None,
    attack_note: str | None = None,
) -> Card:
    """The card of one rule; `lookup` gives corpus counts per indicator key."""
    lines = (query.meta.text or "").splitlines()
    language = query.meta.language
    sigma_like = isinstance(query.pipeline.source, ir.LogSource | ir.AnySource)
    sections = sigma_sections(query, lines) if sigma_like else kql_sections(query, lines)
    thresholds = tuple(t for _, p in pipelines(query) for t in map(threshold_of, p.stages) if t)
    return Card(
        meta=_meta(query.meta, thresholds),
        attack=resolve_tags(query.meta.tags, attack),
        attack_note=attack_note,
        events=_events(query),
        body=Body(BODY_SYNTAX.get(language, language), query.meta.text or ""),
        params=tuple(_param(p, lines) for p in query.params),
        lets=_lets(query, lines),
        sections=sections,
        thresholds=thresholds,
        joins=_joins(query),
        exclusions=exclusions(query),
        indicators=tuple(_indicator(p, lookup) for p in indicators(query)),
        outputs=outputs(query),
    )


def _meta(meta: ir.RuleMeta, thresholds: tuple[Threshold, ...]) -> Meta:
    path = meta.path
    return Meta(
        title=meta.title or (Path(path).stem if path else "untitled rule"),
        language=meta.language,
        path=path,
        id=meta.id,
        status=meta.status,
        level=meta.level,
        author=meta.author,
        description=meta.description,
        references=meta.references,
        falsepositives=meta.falsepositives,
        tags=meta.tags,
        logsource=logsource_text(meta.logsource) if meta.logsource else None,
        origin=_origin(path),
        time_window=next((t.window for t in thresholds if t.window), None),
    )


def _origin(path: str | None) -> str | None:
    if not path:
        return None
    for folder in list(Path(path).resolve().parents)[:6]:
        marker = folder / "SOURCE"
        if marker.is_file():
            text = marker.read_text(encoding="utf-8", errors="replace").strip()
            return text.splitlines()[0] if text else None
    return None


def _events(query: ir.Query) -> tuple[EventSource, ...]:
    found: dict[EventSource, None] = {}
    for _, pipeline in pipelines(query):
        source = pipeline.source
        if isinstance(source, ir.Table):
            found[EventSource("table", source.name)] = None
        elif isinstance(source, ir.LogSource):
            found[EventSource("logsource", logsource_text(source))] = None
    return tuple(found)


def _param(param: ir.Param, lines: list[str]) -> Param:
    text = tidy(span_lines(lines, param.span.line, param.span.line))
    default = expr_text(param.default) if param.default is not None else None
    return Param(param.name, param.type, default, text, param.span.line)


def _lets(query: ir.Query, lines: list[str]) -> tuple[LetBinding, ...]:
    ends = statement_ends(query, lines)
    sources = {let.name for let in source_chain(query)}
    names = {p.name for p in query.params} | {let.name for let in query.lets}
    found = []
    for let in query.lets:
        line = let.span.line
        text = tidy(span_lines(lines, line, ends.get(line or 0)), drop_closers=False)
        derived = tuple(dict.fromkeys(n for n in _references(let.value) if n in names))
        kind = "pipeline" if isinstance(let.value, ir.Pipeline) else "scalar"
        role = "source" if let.name in sources else "binding"
        found.append(LetBinding(let.name, kind, role, let.materialize, derived, text, line))
    return tuple(found)


def _references(node: object) -> Iterator[str]:
    """Names of parameters and let-bindings a node refers to, in the order they appear."""
    return (found.name for found in ir.find_all(node, (ir.ScalarRef, ir.PipelineRef)))


def _joins(query: ir.Query) -> tuple[JoinKeys, ...]:
    found = []
    for _, pipeline in pipelines(query):
        for stage in pipeline.stages:
            if isinstance(stage, ir.Join):
                left, right = source_name(pipeline.source), source_name(stage.right.source)
                found.append(JoinKeys(stage.kind.value, left, right, stage.keys, stage.span.line))
    return tuple(found)


def _indicator(predicate: Predicate, lookup: Lookup | None) -> Indicator:
    values = []
    for value, (_, _, key) in zip(predicate.values, indicator_keys(predicate), strict=True):
        counts = lookup((predicate.field.casefold(), _key_kind(predicate), key)) if lookup else None
        values.append(IndicatorValue(value, key, counts))
    return Indicator(
        predicate.field,
        predicate.kind,
        tuple(values),
        predicate.case_sensitive,
        predicate.transforms,
        predicate.line,
    )


def _key_kind(predicate: Predicate) -> str:
    return "eq" if predicate.kind == "in" else predicate.kind


def outputs(query: ir.Query) -> tuple[OutputField, ...]:
    """The columns the rule adds or keeps explicitly, with the stage that makes each."""
    made: dict[str, OutputField] = {}
    chain = [let.value for let in source_chain(query)] + [query.pipeline]
    for stage in (s for pipeline in chain for s in pipeline.stages):
        made = _apply(stage, made)
    return tuple(made.values())


def _apply(stage: ir.Stage, made: dict[str, OutputField]) -> dict[str, OutputField]:
    op, line = op_name(stage), stage.span.line
    if isinstance(stage, ir.Extend):
        return made | {
            a.name: OutputField(a.name, op, expr_text(a.expr), line) for a in stage.assignments
        }
    if isinstance(stage, ir.Project):
        return {a.name: _kept(a, made, op, line) for a in stage.columns}
    if isinstance(stage, ir.ProjectAway):
        return {k: v for k, v in made.items() if k not in stage.names}
    if isinstance(stage, ir.Rename):
        renamed = {old for _, old in stage.pairs}
        kept = {k: v for k, v in made.items() if k not in renamed}
        return kept | {new: OutputField(new, op, old, line) for new, old in stage.pairs}
    if isinstance(stage, ir.Aggregate):
        keys = {a.name: _kept(a, made, op, line) for a in stage.group_by}
        measures = {m.name: OutputField(m.name, op, measure_text(m), line) for m in stage.measures}
        return keys | measures
    if isinstance(stage, ir.Correlation):
        keys = {g: OutputField(g, op, g, line) for g in stage.group_by}
        return keys | {"value": OutputField("value", op, stage.kind.value, line)}
    return made


def _kept(assign: ir.Assign, made: dict[str, OutputField], op: str, line: int | None):
    if isinstance(assign.expr, ir.FieldRef) and assign.expr.name == assign.name:
        return made.get(assign.name, OutputField(assign.name, op, assign.name, line))
    return OutputField(assign.name, op, expr_text(assign.expr), line)
