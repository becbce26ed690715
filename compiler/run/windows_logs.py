"""Sigma rules on Windows events: each rule reads exactly the logs that carry its log source.

A Sigma rule's log source is part of its meaning: `category: process_creation` is Sysmon's
event 1 and the Security log's event 4688, nothing else. On Windows events (a table with
`Channel` and `EventID`), `rulec run` reads every rule through two sets of published pySigma
pipelines and keeps the events either reading selects (one filter, so each event once):

- `sysmon` + `windows-logsources` (pySigma-pipeline-sysmon, pySigma-pipeline-windows): each
  category as its Sysmon event ID in the Sysmon channel, each service as its channel;
- `windows-audit` + `windows-logsources`, for the categories `windows-audit` maps: process
  creation as Security 4688 (`Image` read as `NewProcessName`, `ParentImage` as
  `ParentProcessName`, ...), registry events as Security 4657.

Windows log sources of Sigma's taxonomy that no published pipeline maps are in
`pipelines/windows-taxonomy.yml`. A Windows rule whose log source none of them knows is an error
naming it (run it with `-p`, or with `--without-pipeline` on every event).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

import yaml

from rulec.compiler import ir
from rulec.compiler.rules import prepare, resolve_pipeline, split_warnings

WINDOWS_FIELDS = ("Channel", "EventID")
TAXONOMY = Path(__file__).parents[1] / "pipelines" / "windows-taxonomy.yml"
SYSMON = ("sysmon", "windows-logsources", str(TAXONOMY))
AUDIT = ("windows-audit", "windows-logsources", str(TAXONOMY))

Item = ir.Query | ir.Diagnostic


def is_windows(columns: Iterable[str]) -> bool:
    """Whether a table holds Windows events (each event names its channel and event ID)."""
    return set(WINDOWS_FIELDS) <= set(columns)


@functools.lru_cache(maxsize=1)
def _readings() -> tuple[object, object]:
    return resolve_pipeline(SYSMON), resolve_pipeline(AUDIT)


@functools.lru_cache(maxsize=1)
def audited() -> frozenset[str]:
    """The categories `windows-audit` reads from the Security log."""
    from sigma.pipelines.windows.windows import generic_logsource_to_windows_audit_event_mapping

    return frozenset(generic_logsource_to_windows_audit_event_mapping)


@functools.lru_cache(maxsize=1)
def known() -> tuple[frozenset[str], frozenset[str]]:
    """The Windows categories and services some pipeline of the two readings maps to a log."""
    from sigma.pipelines.common import windows_logsource_mapping
    from sigma.pipelines.sysmon.sysmon import sysmon_generic_logsource_eventid_mapping
    from sigma.pipelines.windows.windows import windows_generic_category_channel_mapping

    categories = set(sysmon_generic_logsource_eventid_mapping)
    categories |= set(windows_generic_category_channel_mapping) | audited()
    services = set(windows_logsource_mapping)
    for item in yaml.safe_load(TAXONOMY.read_text())["transformations"]:
        for condition in item["rule_conditions"]:
            categories.update(filter(None, [condition.get("category")]))
            services.update(filter(None, [condition.get("service")]))
    return frozenset(categories), frozenset(services)


def load_windows_rules(
    path: Path, on_warning: Callable[[ir.Diagnostic], None] | None = None
) -> list[Item]:
    """Every rule of one file, each scoped to the Windows logs of its log source."""
    readings = _readings()
    prepared = prepare(path, readings, copied=_may_be_audited)
    sysmon = prepared.lower(0, readings[0])
    audit = prepared.lower(1, readings[1]) if any(map(_audited, sysmon)) else sysmon
    prepared.release()
    (sysmon, audit), warnings = split_warnings([sysmon, audit])
    for warning in warnings if on_warning else ():
        on_warning(warning)
    return [_either(a, b) for a, b in zip(sysmon, audit, strict=True)]


def _may_be_audited(rules: list[object]) -> bool:
    """Whether the audit reading may lower some of a file's rules as pySigma parsed them: any
    but Sigma rules of categories it does not read (a correlation reads its rules' log
    sources, a filter changes them)."""
    from sigma.rule import SigmaRule

    return any(
        rule is not None and (type(rule) is not SigmaRule or rule.logsource.category in audited())
        for rule in rules
    )


def _audited(item: Item) -> bool:
    source = item.meta.logsource if isinstance(item, ir.Query) else None
    return source is not None and source.category in audited()


def _either(sysmon: Item, audit: Item) -> Item:
    """One rule reading the events of its Sysmon reading or its Security audit reading."""
    if isinstance(sysmon, ir.Diagnostic):
        return sysmon
    source = sysmon.meta.logsource
    if source is not None and source.product == "windows":
        categories, services = known()
        if (source.category or source.service) and not (
            source.category in categories or source.service in services
        ):
            return _unknown(sysmon, source)
    if not isinstance(audit, ir.Query) or not _audited(sysmon):
        return sysmon
    return _merged(sysmon, audit) or sysmon


def _merged(sysmon: ir.Query, audit: ir.Query) -> ir.Query | None:
    """`sysmon` with its first filter widened to `filter or audit's filter`, when the rest of
    the two readings is the same; else None."""
    first, second = sysmon.pipeline.stages, audit.pipeline.stages
    same_rest = first[1:] == second[1:] and (sysmon.lets, sysmon.params) == (
        audit.lets,
        audit.params,
    )
    if not (first and second and same_rest):
        return None
    if not (isinstance(first[0], ir.Filter) and isinstance(second[0], ir.Filter)):
        return None
    widened = _or(first[0].predicate, second[0].predicate, first[0].span)
    stages = (replace(first[0], predicate=widened), *first[1:])
    return replace(sysmon, pipeline=replace(sysmon.pipeline, stages=stages))


def _or(left: ir.Expr, right: ir.Expr, span: ir.Span) -> ir.Expr:
    """`left or right`, with the conjuncts both share (the rule's body where the two readings
    name the same fields) written once: `shared and (left's others or right's others)`."""
    lefts = left.operands if isinstance(left, ir.And) else (left,)
    rights = right.operands if isinstance(right, ir.And) else (right,)
    shared = tuple(o for o in lefts if o in rights)
    owns = [tuple(o for o in part if o not in shared) for part in (lefts, rights)]
    if not shared or not all(owns):  # nothing shared, or one side is the shared part alone
        return ir.Or((left, right), span=span) if not shared else ir.And(shared, span=span)
    sides = tuple(own[0] if len(own) == 1 else ir.And(own, span=span) for own in owns)
    return ir.And((*shared, ir.Or(sides, span=span)), span=span)


def _unknown(query: ir.Query, source: ir.LogSource) -> ir.Diagnostic:
    named = ", ".join(
        f"{key}: {value}"
        for key, value in (("category", source.category), ("service", source.service))
        if value
    )
    message = (
        f"no Windows log is known for this rule's log source (product: windows, {named}): "
        "name a pipeline that maps it with -p, or run it on every event with --without-pipeline"
    )
    return ir.Diagnostic("run.unknown-logsource", message, query.pipeline.source.span)
