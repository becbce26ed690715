"""What an edit did to a rule, in card terms: the changes between two versions of one rule.

`rule_changes(old, new)` compares the two rules' cards (metadata, ATT&CK tags, parameters,
thresholds, indicators, exclusions, outputs) and their IR stages (span-blind equality: an edit
that only moves text changes nothing). A filter, aggregation or correlation stage whose change the
indicators, exclusions or thresholds already describe is not listed again as a stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import zip_longest

from rulec.compiler import ir
from rulec.compiler.cards.attack import AttackData, AttackTag
from rulec.compiler.cards.card import Card, build_card
from rulec.compiler.cards.exclusions import Exclusion
from rulec.compiler.cards.indicators import expr_text
from rulec.compiler.cards.stage_text import stage_text
from rulec.compiler.cards.stages import Threshold, op_name, source_name

META_FIELDS = ("title", "status", "level")
SUMMARISED = (ir.Filter, ir.Aggregate, ir.Correlation)
POSITIVE_KINDS = ("eq", "in", "contains", "starts_with", "ends_with", "wildcard", "regex", "has")


@dataclass(frozen=True)
class Change:
    """One difference: `aspect` (what part of the card), `change` (added, removed, changed).

    `added`/`removed` list the values that came or went; `effect` says, where it is certain,
    whether an exclusion now suppresses more (`widened`) or fewer (`narrowed`) events, or a
    threshold now fires more or less often (`fires more`, `fires less`).
    """

    aspect: str
    change: str
    subject: str
    old: str | None = None
    new: str | None = None
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    effect: str | None = None


def rule_changes(
    old: ir.Query, new: ir.Query, attack: AttackData | None = None
) -> tuple[Change, ...]:
    """Every difference in meaning between two versions of one rule, card section by section."""
    before, after = build_card(old, attack), build_card(new, attack)
    specific = [
        *_thresholds(before.thresholds, after.thresholds),
        *_indicators(before, after),
        *_exclusions(before.exclusions, after.exclusions),
    ]
    return (
        *_meta(old.meta, new.meta, before, after),
        *_attack(before.attack, after.attack),
        *_params(old, new),
        *_stages(old, new, bool(specific)),
        *specific,
        *_outputs(before, after),
    )


def _meta(old: ir.RuleMeta, new: ir.RuleMeta, before: Card, after: Card) -> list[Change]:
    """Title, status and level as written (a KQL file's name is no title), and the log source."""
    pairs = [(name, getattr(old, name), getattr(new, name)) for name in META_FIELDS]
    pairs.append(("logsource", before.meta.logsource, after.meta.logsource))
    return [Change("meta", "changed", name, a, b) for name, a, b in pairs if a != b]


def _attack(before: tuple[AttackTag, ...], after: tuple[AttackTag, ...]) -> list[Change]:
    """Tags added or removed; `attack.lateral_movement` and `attack.lateral-movement` are one."""
    old, new = {_tag_key(t): t for t in before}, {_tag_key(t): t for t in after}
    removed = [
        Change("attack", "removed", t.tag, old=_tag_text(t)) for k, t in old.items() if k not in new
    ]
    added = [
        Change("attack", "added", t.tag, new=_tag_text(t)) for k, t in new.items() if k not in old
    ]
    return removed + added


def _tag_key(tag: AttackTag) -> str:
    return tag.tag.lower().replace("_", "-")


def _tag_text(tag: AttackTag) -> str:
    return " ".join(part for part in (tag.kind, tag.id, tag.name) if part)


def _params(old: ir.Query, new: ir.Query) -> list[Change]:
    """Parameters and scalar let-bindings, by name, compared by value."""
    return _keyed("parameter", _scalars(old), _scalars(new))


def _scalars(query: ir.Query) -> dict[str, tuple[object, str]]:
    found = {p.name: (p.default, expr_text(p.default)) for p in query.params}
    for let in query.lets:
        if not isinstance(let.value, ir.Pipeline):
            found[let.name] = (let.value, expr_text(let.value))
    return found


def _keyed(aspect: str, before: dict, after: dict) -> list[Change]:
    """Items keyed by name, each `(value compared, text shown)`."""
    found = []
    for name in dict.fromkeys([*before, *after]):
        if name not in after:
            found.append(Change(aspect, "removed", name, old=before[name][1]))
        elif name not in before:
            found.append(Change(aspect, "added", name, new=after[name][1]))
        elif before[name][0] != after[name][0]:
            found.append(Change(aspect, "changed", name, before[name][1], after[name][1]))
    return found


def _stages(old: ir.Query, new: ir.Query, summarised: bool) -> list[Change]:
    before, after = _top_pipelines(old), _top_pipelines(new)
    found: list[Change] = []
    for name in dict.fromkeys([*before, *after]):
        label = "main" if name is None else f"let {name}"
        if name not in after:
            found.append(Change("stage", "removed", label, old=f"pipeline {name}"))
        elif name not in before:
            found.append(Change("stage", "added", label, new=f"pipeline {name}"))
        else:
            found += _pipeline_changes(label, before[name], after[name], summarised)
    return found


def _top_pipelines(query: ir.Query) -> dict[str | None, ir.Pipeline]:
    lets = {let.name: let.value for let in query.lets if isinstance(let.value, ir.Pipeline)}
    return lets | {None: query.pipeline}


def _pipeline_changes(
    label: str, old: ir.Pipeline, new: ir.Pipeline, summarised: bool
) -> list[Change]:
    found = []
    if old.source != new.source:
        found.append(
            Change("source", "changed", label, source_name(old.source), source_name(new.source))
        )
    for a, b in _aligned(old.stages, new.stages):
        if summarised and isinstance(a or b, SUMMARISED):
            continue
        if a is not None and b is not None:
            subject = f"{label} {op_name(b)}"
            found.append(Change("stage", "changed", subject, stage_text(a), stage_text(b)))
        elif a is None:
            found.append(Change("stage", "added", f"{label} {op_name(b)}", new=stage_text(b)))
        else:
            found.append(Change("stage", "removed", f"{label} {op_name(a)}", old=stage_text(a)))
    return found


def _aligned(old: tuple[ir.Stage, ...], new: tuple[ir.Stage, ...]):
    """Pairs of differing stages (None for one added or removed), in order.

    Stages equal in both versions anchor the alignment; between anchors, stages of the same
    operator pair up as changed.
    """
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        rest = list(new[j1:j2])
        for stage in old[i1:i2]:
            twin = next((s for s in rest if type(s) is type(stage)), None)
            if twin is None:
                yield stage, None
            else:
                rest.remove(twin)
                yield stage, twin
        for stage in rest:
            yield None, stage


def _thresholds(before: tuple[Threshold, ...], after: tuple[Threshold, ...]) -> list[Change]:
    found = []
    for old, new in zip_longest(before, after):
        if old == new:
            continue
        if old is None or new is None:
            change = "added" if old is None else "removed"
            text = _threshold_text(new or old)
            found.append(Change("threshold", change, "threshold", *_pair(old, new, text)))
            continue
        found += _threshold_changes(old, new)
    return found


def _pair(old: object, new: object, text: str) -> tuple[str | None, str | None]:
    return (None, text) if old is None else (text, None)


def _threshold_text(t: Threshold) -> str:
    window = f" within {t.window}" if t.window else ""
    group = f" by {', '.join(t.group_by)}" if t.group_by else ""
    return f"{t.measure} {t.op} {t.value}{window}{group}"


def _threshold_changes(old: Threshold, new: Threshold) -> list[Change]:
    found = []
    if (old.measure, old.op, old.value) != (new.measure, new.op, new.value):
        before, after = f"{old.measure} {old.op} {old.value}", f"{new.measure} {new.op} {new.value}"
        effect = _threshold_effect(old, new)
        found.append(Change("threshold", "changed", "threshold", before, after, effect=effect))
    if old.window != new.window:
        found.append(Change("window", "changed", "window", old.window, new.window))
    if old.group_by != new.group_by:
        before, after = ", ".join(old.group_by) or "-", ", ".join(new.group_by) or "-"
        found.append(Change("group-by", "changed", "group-by", before, after))
    return found


def _threshold_effect(old: Threshold, new: Threshold) -> str | None:
    """`fires more` or `fires less` when only a numeric bound of the same test moved."""
    if (old.measure, old.op) != (new.measure, new.op) or old.op not in (">", ">=", "<", "<="):
        return None
    try:
        delta = float(new.value) - float(old.value)
    except ValueError:
        return None
    if delta == 0:
        return None
    raised = delta > 0
    return "fires less" if raised == (old.op in (">", ">=")) else "fires more"


def _indicator_map(card: Card) -> dict[tuple, tuple[str, set[str]]]:
    found = {}
    for item in card.indicators:
        kind = "eq" if item.kind == "in" else item.kind
        key = (item.field, kind, item.case_sensitive, item.transforms)
        found[key] = (
            _indicator_name(item.field, kind, item.case_sensitive, item.transforms),
            {v.value for v in item.values},
        )
    return found


def _indicator_name(field: str, kind: str, cased: bool, transforms: tuple[str, ...]) -> str:
    extras = ([] if not cased else ["cased"]) + list(transforms)
    return f"{field} {kind}" + (f" [{', '.join(extras)}]" if extras else "")


def _indicators(before: Card, after: Card) -> list[Change]:
    old, new = _indicator_map(before), _indicator_map(after)
    found = []
    for key in old.keys() & new.keys():
        (name, a), (_, b) = old[key], new[key]
        if a != b:
            found.append(_values_change("indicator", name, a, b))
    gone = [k for k in old if k not in new]
    came = [k for k in new if k not in old]
    for key in gone:
        twin = next((k for k in came if k[0].casefold() == key[0].casefold()), None)
        if twin is None:
            found.append(Change("indicator", "removed", old[key][0], old=_values(old[key][1])))
            continue
        came.remove(twin)
        found.append(_kind_change(old[key], new[twin], key[0]))
    for key in came:
        found.append(Change("indicator", "added", new[key][0], new=_values(new[key][1])))
    return sorted(found, key=lambda c: c.subject.casefold())


def _kind_change(old: tuple[str, set[str]], new: tuple[str, set[str]], field: str) -> Change:
    before, after = f"{old[0]} {_values(old[1])}", f"{new[0]} {_values(new[1])}"
    added, removed = _shown(new[1] - old[1]), _shown(old[1] - new[1])
    return Change("indicator", "changed", field, before, after, added, removed)


def _values_change(aspect: str, name: str, old: set[str], new: set[str]) -> Change:
    added, removed = _shown(new - old), _shown(old - new)
    return Change(aspect, "changed", name, _values(old), _values(new), added, removed)


def _values(values: set[str] | tuple[str, ...]) -> str:
    return ", ".join(_show(v) for v in _sorted(values))


def _show(value: str) -> str:
    """A value as written, quoted when spaces at its ends or a comma would hide its bounds."""
    plain = bool(value) and value == value.strip() and "," not in value and "'" not in value
    return value if plain else "'" + value.replace("'", "''") + "'"


def _shown(values: set[str]) -> tuple[str, ...]:
    return tuple(_show(v) for v in _sorted(values))


def _sorted(values) -> tuple[str, ...]:
    return tuple(sorted(values, key=lambda v: (v.casefold(), v)))


def _exclusions(before: tuple[Exclusion, ...], after: tuple[Exclusion, ...]) -> list[Change]:
    """Exclusions added (widened), removed (narrowed), or with values added or removed."""
    old = [e for e in before if not _same(e, after)]
    new = [e for e in after if not _same(e, before)]
    found = []
    for exclusion in old:
        twin = next((e for e in new if _shape(e) == _shape(exclusion)), None)
        if twin is not None:
            new.remove(twin)
            found.append(_exclusion_change(exclusion, twin))
            continue
        twin = next((e for e in new if _overlap(e, exclusion)), None)
        if twin is not None:
            new.remove(twin)
            found.append(_conditions_change(exclusion, twin))
            continue
        subject, text = exclusion_fields(exclusion), exclusion_text(exclusion)
        found.append(Change("exclusion", "removed", subject, old=text, effect="narrowed"))
    for exclusion in new:
        subject, text = exclusion_fields(exclusion), exclusion_text(exclusion)
        found.append(Change("exclusion", "added", subject, new=text, effect="widened"))
    return found


def _same(exclusion: Exclusion, others: tuple[Exclusion, ...]) -> bool:
    return any(_content(e) == _content(exclusion) for e in others)


def _content(exclusion: Exclusion) -> tuple:
    conditions = tuple(
        (c.field, c.kind, frozenset(c.values), c.case_sensitive, c.transforms)
        for c in exclusion.conditions
    )
    return exclusion.pipeline, conditions


def _shape(exclusion: Exclusion) -> tuple:
    kinds = tuple(
        (c.field, "eq" if c.kind == "in" else c.kind, c.case_sensitive, c.transforms)
        for c in exclusion.conditions
    )
    return exclusion.pipeline, kinds


def _conditions(exclusion: Exclusion) -> set[tuple]:
    return set(_content(exclusion)[1])


def _overlap(a: Exclusion, b: Exclusion) -> bool:
    return a.pipeline == b.pipeline and bool(_conditions(a) & _conditions(b))


def _conditions_change(old: Exclusion, new: Exclusion) -> Change:
    """Conditions added to an exclusion narrow it (all must hold); conditions removed widen it."""
    before, after = _conditions(old), _conditions(new)
    texts = {c: _condition_text(c) for c in before | after}
    added = tuple(sorted(texts[c] for c in after - before))
    removed = tuple(sorted(texts[c] for c in before - after))
    effect = None
    if before < after:
        effect = "narrowed"
    elif after < before:
        effect = "widened"
    before, after = exclusion_text(old), exclusion_text(new)
    return Change(
        "exclusion", "changed", exclusion_fields(old), before, after, added, removed, effect
    )


def _condition_text(condition: tuple) -> str:
    field, kind, values, _, _ = condition
    return f"{field} {kind} {_values(values)}".strip()


def _exclusion_change(old: Exclusion, new: Exclusion) -> Change:
    added: list[str] = []
    removed: list[str] = []
    for a, b in zip(old.conditions, new.conditions, strict=True):
        added += [f"{b.field}: {_show(v)}" for v in _sorted(set(b.values) - set(a.values))]
        removed += [f"{a.field}: {_show(v)}" for v in _sorted(set(a.values) - set(b.values))]
    positive = all(c.kind in POSITIVE_KINDS for c in old.conditions)
    effect = None
    if positive and added and not removed:
        effect = "widened"
    elif positive and removed and not added:
        effect = "narrowed"
    before, after, subject = exclusion_text(old), exclusion_text(new), exclusion_fields(old)
    values = (tuple(added), tuple(removed))
    return Change("exclusion", "changed", subject, before, after, *values, effect=effect)


def exclusion_fields(exclusion: Exclusion) -> str:
    """`FolderPath`, `Image, CommandLine`: the fields an exclusion tests (with its let name)."""
    fields = ", ".join(dict.fromkeys(c.field or c.kind for c in exclusion.conditions))
    return f"let {exclusion.pipeline}: {fields}" if exclusion.pipeline else fields


def exclusion_text(exclusion: Exclusion) -> str:
    """`TargetUserName ends_with $ and ...`, prefixed by its let name when it is not main."""
    parts = [f"{c.field} {c.kind} {_values(c.values)}".strip() for c in exclusion.conditions]
    prefix = f"let {exclusion.pipeline}: " if exclusion.pipeline else ""
    return prefix + " and ".join(parts)


def _outputs(before: Card, after: Card) -> list[Change]:
    old = {o.name: ((o.source, o.expr), f"{o.source}: {o.expr}") for o in before.outputs}
    new = {o.name: ((o.source, o.expr), f"{o.source}: {o.expr}") for o in after.outputs}
    return _keyed("output", old, new)
