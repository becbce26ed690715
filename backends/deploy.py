"""Deployable formats: a converted rule rendered as what a SIEM imports (jinja2 templates).

`FORMATS` names each format and the target whose query it carries; `backend(format, options)`
gives the back end to convert with and `render(format, query, emitted, options)` the text.
Values from the rule are escaped for each format: JSON encoding, `.conf` line continuation,
YAML double-quoted scalars and literal blocks.

An Elastic threshold rule filters with a Kibana (kuery) query and counts in fixed windows of
its schedule: the window is an approximation (`bucket`), and so is kuery's case-sensitive
matching of keyword fields for a case-insensitive rule (`case`); both must be allowed and are
reported in the notes. Its threshold is `>= n`, so `> n` becomes `n + 1`.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import jinja2

from rulec.backends.base import Backend, Emitted, Options
from rulec.backends.text import Prec, Text, TextBackend, as_pattern, is_sliding
from rulec.compiler import ir

FORMATS: dict[str, str] = {
    "elastic-eql": "eql",
    "elastic-threshold": "kuery",
    "splunk-savedsearch": "spl",
    "sentinel": "kql",
    "defender": "kql",
}
TEMPLATES = {
    "elastic-eql": "elastic_rule.json.j2",
    "elastic-threshold": "elastic_rule.json.j2",
    "splunk-savedsearch": "savedsearches.conf.j2",
    "sentinel": "sentinel_rule.yaml.j2",
    "defender": "defender_detection.json.j2",
}
DEFAULT_WINDOW = timedelta(hours=1)
SEVERITIES = {"informational": 21, "low": 21, "medium": 47, "high": 73, "critical": 99}
SPLUNK_SEVERITY = {"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
TACTICS = {
    "reconnaissance": ("TA0043", "Reconnaissance"),
    "resource_development": ("TA0042", "ResourceDevelopment"),
    "initial_access": ("TA0001", "InitialAccess"),
    "execution": ("TA0002", "Execution"),
    "persistence": ("TA0003", "Persistence"),
    "privilege_escalation": ("TA0004", "PrivilegeEscalation"),
    "defense_evasion": ("TA0005", "DefenseEvasion"),
    "credential_access": ("TA0006", "CredentialAccess"),
    "discovery": ("TA0007", "Discovery"),
    "lateral_movement": ("TA0008", "LateralMovement"),
    "collection": ("TA0009", "Collection"),
    "command_and_control": ("TA0011", "CommandAndControl"),
    "exfiltration": ("TA0010", "Exfiltration"),
    "impact": ("TA0040", "Impact"),
}
ENTITIES = {
    "Computer": ("Host", "HostName"),
    "DeviceName": ("Host", "HostName"),
    "TargetUserName": ("Account", "Name"),
    "AccountName": ("Account", "Name"),
    "IpAddress": ("IP", "Address"),
    "RemoteIP": ("IP", "Address"),
}
KUERY_SPECIALS = frozenset('\\():<>"*{} \t\r\n')


class UnrenderableValue(ValueError):
    """A value a format cannot hold without changing its structure."""


# --------------------------------------------------------------------------- escaping


def conf_value(text: str) -> str:
    """A `.conf` value: newlines become backslash line continuations."""
    lines = text.split("\n")
    if any(line.endswith("\\") for line in lines[:-1]):
        raise UnrenderableValue("a line ending in a backslash would read as a continuation")
    return " \\\n".join(lines)


def conf_stanza(text: str) -> str:
    """A stanza name: one line without `[`/`]`."""
    return " ".join(text.replace("[", "(").replace("]", ")").split())


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(conf=conf_value, stanza=conf_stanza)
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": False}
    return env


# --------------------------------------------------------------------------- kuery


class KueryBackend(TextBackend):
    """Kibana query language filters, for Elastic threshold rules (events only)."""

    name = "kuery"

    def __init__(self, options: Options | None = None):
        super().__init__(options)
        self.notes: list[ir.Diagnostic] = []

    def emit(self, query: ir.Query) -> Emitted:
        """The filter; a final aggregate is checked here and written by the threshold."""
        self.notes = []
        query = self.one_scan(query)
        *filters, last = query.pipeline.stages or (None,)
        if isinstance(last, ir.Aggregate):
            threshold(last, self)
        elif last is not None:
            filters.append(last)
        for stage in filters:
            if not isinstance(stage, ir.Filter):
                raise self.unsupported(f"the {type(stage).__name__} stage", stage)
        predicates = tuple(s.predicate for s in filters)  # type: ignore[union-attr]
        text = self.expr(ir.And(predicates)) if predicates else "*"
        return Emitted(self.name, text, tuple(self.notes))

    def render_not(self, node: ir.Not, guarded: bool) -> Text:
        return Text(f"not {self.wrap(self.render(node.operand, True), Prec.NOT)}", Prec.NOT)

    def render_match(self, node: ir.Match, guarded: bool) -> Text:
        if node.transforms or not isinstance(node.field, ir.FieldRef):
            raise self.unsupported("a match on a computed value", node)
        if not node.case_sensitive and node.kind is not ir.MatchKind.EXISTS:
            self.allow("case", node, "kuery matches keyword fields case-sensitively")
        return super().render_match(node, guarded)

    def allow(self, approximation: str, node: ir.Node, why: str) -> None:
        if approximation not in self.options.approximations:
            raise self.unsupported("this rule", node, f"{why}; allow '{approximation}'")
        message = f"{why} (allowed: {approximation})"
        if all(note.message != message for note in self.notes):
            self.notes.append(
                ir.Diagnostic("approximation", message, node.span, "warning", "kuery")
            )

    def term(self, value: ir.MatchValue | ir.Pattern, node: ir.Match) -> str:
        if isinstance(value, int | float):  # bools too: true, false
            return str(value).lower()
        if isinstance(value, str):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(value, ir.Pattern) and ir.Wildcard.ONE not in value.parts:
            parts: list[str | ir.Wildcard] = []
            for part in value.parts:  # `*` around empty text is one `*`
                if part != "" and not (part is ir.Wildcard.ANY and parts[-1:] == [part]):
                    parts.append(part)
            return "".join(
                "*"
                if p is ir.Wildcard.ANY
                else "".join(f"\\{c}" if c in KUERY_SPECIALS else c for c in p)
                for p in parts
            )
        raise self.unsupported("a value kuery cannot match exactly", node)

    def match_values(self, node: ir.Match, values: list) -> Text:
        field = self.render(node.field).text
        terms = [self.term(v, node) for v in values]
        inner = terms[0] if len(terms) == 1 else f"({' or '.join(terms)})"
        return Text(f"{field}:{inner}", Prec.COMPARE)

    def match_eq(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        return self.match_values(node, list(node.values))

    def substring(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        if not all(isinstance(v, str) for v in node.values):
            raise self.unsupported("a substring match on a non-string", node)
        return self.match_values(node, [as_pattern(node.kind, str(v)) for v in node.values])

    match_contains = substring
    match_startswith = substring
    match_endswith = substring

    def match_wildcard(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        return self.match_values(node, list(node.values))

    def match_exists(self, node: ir.Match, subject: Text, guarded: bool) -> Text:
        return Text(f"{subject.text}:*", Prec.COMPARE)


def threshold(stage: ir.Aggregate, kuery: KueryBackend) -> tuple[dict, timedelta]:
    """Elastic's `threshold` object for an aggregate, and the window its schedule uses."""
    if len(stage.measures) != 1 or len(stage.group_by) > 3:
        raise kuery.unsupported("this aggregate", stage, "one measure, at most 3 group fields")
    agg = stage.measures[0].agg
    having = stage.having
    bounds = {ir.CompareOp.GE: 0, ir.CompareOp.GT: 1}
    if not (
        isinstance(agg, ir.AggCall)
        and isinstance(having, ir.Compare)
        and having.op in bounds
        and isinstance(having.right, ir.Literal)
        and isinstance(having.right.value, int)
    ):
        raise kuery.unsupported("this aggregate", stage, "a count or distinct count >= n or > n")
    value = having.right.value + bounds[having.op]
    fields = [g.name for g in stage.group_by if g.expr == ir.FieldRef(g.name)]
    if len(fields) != len(stage.group_by):
        raise kuery.unsupported("a computed group key", stage)
    spec: dict = {"field": fields, "value": value}
    if agg.func in ("dcount", "count_distinct") and isinstance(agg.arg, ir.FieldRef):
        spec = {
            "field": fields,
            "value": 1,
            "cardinality": [{"field": agg.arg.name, "value": value}],
        }
    elif agg.func != "count" or agg.arg is not None:
        raise kuery.unsupported(f"the aggregation {agg.func}() in a threshold rule", stage)
    window = stage.window.size if stage.window is not None else DEFAULT_WINDOW
    if stage.window is not None and is_sliding(stage):
        kuery.allow("bucket", stage, f"the sliding {duration(window)} window becomes fixed windows")
    return spec, window


# --------------------------------------------------------------------------- rule metadata


def duration(size: timedelta, units=(("d", 86400), ("h", 3600), ("m", 60))) -> str:
    seconds = int(size.total_seconds())
    for unit, length in units:
        if seconds and seconds % length == 0:
            return f"{seconds // length}{unit}"
    return f"{seconds}s"


def iso_duration(size: timedelta) -> str:
    minutes = max(5, int(size.total_seconds() // 60))
    return f"PT{minutes // 60}H" if minutes % 60 == 0 else f"PT{minutes}M"


def window_of(query: ir.Query) -> timedelta | None:
    for stage in query.pipeline.stages:
        if isinstance(stage, ir.Aggregate) and stage.window is not None:
            return stage.window.size
        if isinstance(stage, ir.Correlation):
            return stage.timespan
    return None


def attack(tags: tuple[str, ...]) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(id, Sentinel name, tag) of each ATT&CK tactic, and technique ids, from Sigma tags."""
    tactics, techniques = [], []
    for tag in tags:
        name = tag.lower().removeprefix("attack.")
        if name in TACTICS:
            tactics.append((*TACTICS[name], name))
        elif tag.lower().startswith("attack.t") and name[1:2].isdigit():
            techniques.append(name.upper())
    return tactics, techniques


def elastic_threat(tactics: list, techniques: list[str]) -> list[dict]:
    return [
        {
            "framework": "MITRE ATT&CK",
            "tactic": {
                "id": tid,
                "name": tag.replace("_", " ").title(),
                "reference": f"https://attack.mitre.org/tactics/{tid}/",
            },
            "technique": [
                {
                    "id": t,
                    "name": t,
                    "reference": f"https://attack.mitre.org/techniques/{t.replace('.', '/')}/",
                }
                for t in techniques
            ],
        }
        for tid, _, tag in tactics
    ]


def context(query: ir.Query, emitted: Emitted) -> dict:
    meta = query.meta
    level = (meta.level or "medium").lower()
    window = window_of(query)
    lookback = window or DEFAULT_WINDOW
    tactics, techniques = attack(meta.tags)
    identity = meta.id or str(uuid.uuid5(uuid.NAMESPACE_URL, meta.title or emitted.text))
    columns = [f for f in ENTITIES if f in emitted.text]
    return {
        "rule_id": identity,
        "title": meta.title or identity,
        "description": meta.description or meta.title or "",
        "query": emitted.text,
        "severity": level if level in SEVERITIES else "medium",
        "risk_score": SEVERITIES.get(level, 47),
        "splunk_severity": SPLUNK_SEVERITY.get(level, 3),
        "sentinel_severity": {"critical": "High", "informational": "Informational"}.get(
            level, level.title() if level in SEVERITIES else "Medium"
        ),
        "interval": duration(lookback),
        "lookback": duration(lookback),
        "cron": f"*/{max(1, min(59, int(lookback.total_seconds() // 60)))} * * * *",
        "suppress": duration(lookback) if window else "",
        "frequency": iso_duration(lookback),
        "period": iso_duration(lookback + lookback if window else lookback),
        "defender_period": "1H" if lookback <= timedelta(hours=1) else "24H",
        "tactics": [name for _, name, _ in tactics],
        "techniques": techniques,
        "category": tactics[0][1] if tactics else "SuspiciousActivity",
        "threat": elastic_threat(tactics, techniques),
        "tags": list(meta.tags),
        "entities": [(*ENTITIES[c], c) for c in columns],
        "index": ["logs-*"],
        "type": "eql",
        "language": "eql",
        "threshold": None,
    }


# --------------------------------------------------------------------------- entry points


def backend(format: str, options: Options | None = None) -> Backend:
    """The back end whose output `format` carries."""
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}: expected one of {', '.join(FORMATS)}")
    if FORMATS[format] == "kuery":
        return KueryBackend(options)
    from rulec.backends.registry import backend_for

    return backend_for(FORMATS[format], options)


def render(format: str, query: ir.Query, emitted: Emitted, options: Options | None = None) -> str:
    """`emitted` (the query `backend(format)` wrote for `query`) as `format` deploys it."""
    if format not in TEMPLATES:
        raise ValueError(f"unknown format {format!r}: expected one of {', '.join(FORMATS)}")
    values = context(query, emitted)
    if format == "elastic-threshold":
        values.update(threshold_values(query, options))
    try:
        text = environment().get_template(TEMPLATES[format]).render(values)
    except UnrenderableValue as error:
        message = f"{format} cannot hold this rule: {error}"
        raise ir.RuleError(ir.Diagnostic("deploy.unrenderable", message, query.span)) from None
    if format.startswith("elastic"):
        import json

        text = json.dumps(json.loads(text), ensure_ascii=False) + "\n"  # NDJSON: one line
    return text


def threshold_values(query: ir.Query, options: Options | None) -> dict:
    kuery = KueryBackend(options)
    aggregates = [s for s in query.pipeline.stages if isinstance(s, ir.Aggregate)]
    if len(aggregates) != 1 or query.pipeline.stages[-1] is not aggregates[0]:
        raise kuery.unsupported("a threshold rule for this pipeline", query.pipeline)
    spec, window = threshold(aggregates[0], kuery)
    return {
        "type": "threshold",
        "language": "kuery",
        "threshold": spec,
        "interval": duration(window),
        "lookback": duration(window),
    }
