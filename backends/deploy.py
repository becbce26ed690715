"""Deployable formats: a converted rule written as the SIEM imports it.

`FORMATS` names each format and the target whose query it carries. `emit(format, query,
options)` prepares the IR for the format (`deploy_fields`), writes the query with the target's
back end, gathers the rule into one `Deployment` (`deploy_model`) and writes the artefact from it
(`deploy_formats`). `stream(format, texts)` joins several artefacts into one document of the
format (NDJSON, YAML documents, a JSON array, `.conf` stanzas); `SUFFIXES` names the file of one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from rulec.backends import deploy_fields, deploy_formats
from rulec.backends.base import Backend, Emitted, Options
from rulec.backends.deploy_model import Deployment, deployment
from rulec.backends.deploy_targets import FORMATS
from rulec.backends.kuery import KueryBackend
from rulec.backends.splunk_data import SplunkSearchBackend, with_xml_sources
from rulec.compiler import ir
from rulec.compiler.cards.attack import packaged_attack


def backend(format: str, options: Options | None = None) -> Backend:
    """The back end whose output `format` carries."""
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}: expected one of {', '.join(FORMATS)}")
    if FORMATS[format] == "kuery":
        return KueryBackend(options)
    if format == "splunk-savedsearch":
        return SplunkSearchBackend(options)
    from rulec.backends.registry import backend_for

    return backend_for(FORMATS[format], options)


def prepare(format: str, query: ir.Query, options: Options | None = None) -> ir.Query:
    """`query` with what `format` adds before its query is written."""
    if format.startswith("elastic"):
        chosen = options.pipelines if options else None
        return deploy_fields.with_pipeline_fields(query, FORMATS[format], chosen)
    if format == "splunk-savedsearch":
        return with_xml_sources(query)
    if format == "defender":
        chosen = options.pipelines if options else None
        named = deploy_fields.with_pipeline_fields(query, format, chosen)
        return deploy_fields.with_event_rows(named)
    return query


WRITERS = {
    "elastic-eql": lambda rule: deploy_formats.elastic(rule, None),
    "splunk-savedsearch": deploy_formats.splunk,
    "sentinel": deploy_formats.sentinel,
    "defender": deploy_formats.defender,
}


def emit(format: str, query: ir.Query, options: Options | None = None) -> Emitted:
    """`query` as `format` deploys it: the artefact's text, and the back end's notes."""
    query = prepare(format, query, options)
    writer = backend(format, options)
    emitted = writer.emit(query)
    rule = deployment(query, emitted)
    if isinstance(writer, KueryBackend):
        if writer.threshold is None:
            detail = "use elastic-eql for event rules"
            raise writer.unsupported("a rule without an aggregation", query.pipeline, detail)
        text = deploy_formats.elastic(rule, writer.threshold)
    else:
        text = WRITERS[format](rule)
    notes = emitted.notes + attack_warnings(rule, format)
    return replace(emitted, target=format, text=text, notes=notes)


def attack_warnings(rule: Deployment, format: str) -> tuple[ir.Diagnostic, ...]:
    """A warning for each ATT&CK tag the shipped data does not know (it is not written), and
    for each tactic a Microsoft format has no name for (its techniques are still written)."""
    releases = packaged_attack().releases
    unknown = tuple(
        ir.Diagnostic(
            "deploy.attack-unknown",
            f"{tag} is not in MITRE ATT&CK {releases} (the data rulec ships): not written",
            rule.span,
            "warning",
            format,
        )
        for tag in rule.unknown_attack
    )
    if format not in ("sentinel", "defender"):
        return unknown
    return unknown + tuple(
        ir.Diagnostic(
            "deploy.attack-tactic",
            f"{tactic.id} {tactic.name} is no {format} tactic: only its techniques are written",
            rule.span,
            "warning",
            format,
        )
        for tactic in rule.tactics
        if tactic.id not in deploy_formats.MICROSOFT_TACTICS
    )


def stream(format: str, texts: Sequence[str]) -> str:
    """Several artefacts of `format` as one document: NDJSON lines, YAML documents, one JSON
    array (Defender: the Graph API takes one rule per request), `.conf` stanzas (named apart)."""
    if format == "defender":
        return "[\n" + ",\n".join(t.rstrip("\n") for t in texts) + "\n]\n" if texts else "[]\n"
    if format == "sentinel":
        return "---\n".join(texts)
    if format == "splunk-savedsearch":
        return "".join(distinct_stanzas(texts))
    return "".join(texts)


def distinct_stanzas(texts: Sequence[str]) -> list[str]:
    """Stanzas whose names repeat get ` (2)`, ` (3)`, ...: Splunk would merge them into one."""
    seen: Counter[str] = Counter()
    named = []
    for text in texts:
        head, newline, body = text.partition("\n")
        seen[head] += 1
        if seen[head] > 1:
            head = f"{head[:-1]} ({seen[head]})]"
        named.append(head + newline + body)
    return named
