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
from rulec.backends.deploy_model import deployment
from rulec.backends.kuery import KueryBackend
from rulec.backends.pipelines import DEFAULT_PIPELINES
from rulec.compiler import ir
from rulec.compiler.passes.attack import packaged_attack

FORMATS: dict[str, str] = {
    "elastic-eql": "eql",
    "elastic-threshold": "kuery",
    "splunk-savedsearch": "spl",
    "sentinel": "kql",
    "defender": "kql",
}
SUFFIXES = {
    "elastic-eql": ".ndjson",
    "elastic-threshold": ".ndjson",
    "splunk-savedsearch": ".conf",
    "sentinel": ".yaml",
    "defender": ".json",
}


def backend(format: str, options: Options | None = None) -> Backend:
    """The back end whose output `format` carries."""
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}: expected one of {', '.join(FORMATS)}")
    if FORMATS[format] == "kuery":
        return KueryBackend(options)
    from rulec.backends.registry import backend_for

    return backend_for(FORMATS[format], options)


def pipeline_target(format: str) -> str:
    """The name whose default pipelines `format` reads: its own, else its target's."""
    return format if format in DEFAULT_PIPELINES else FORMATS[format]


def prepare(format: str, query: ir.Query, options: Options | None = None) -> ir.Query:
    """`query` with what `format` adds before its query is written."""
    if format.startswith("elastic"):
        chosen = options.pipelines if options else None
        return deploy_fields.with_pipeline_fields(query, FORMATS[format], chosen)
    if format == "splunk-savedsearch":
        return deploy_fields.with_sourcetype(query)
    return query


def emit(format: str, query: ir.Query, options: Options | None = None) -> Emitted:
    """`query` as `format` deploys it: the artefact's text, and the back end's notes."""
    query = prepare(format, query, options)
    writer = backend(format, options)
    emitted = writer.emit(query)
    rule = deployment(query, emitted)
    if format == "elastic-threshold":
        threshold = writer.threshold  # type: ignore[attr-defined]
        if threshold is None:
            raise writer.unsupported(
                "a rule without an aggregation", query.pipeline, "use elastic-eql for event rules"
            )
        text = deploy_formats.elastic(rule, threshold)
    elif format == "elastic-eql":
        text = deploy_formats.elastic(rule, None)
    elif format == "splunk-savedsearch":
        text = deploy_formats.splunk(rule)
    elif format == "sentinel":
        text = deploy_formats.sentinel(rule)
    else:
        text = deploy_formats.defender(rule)
    version = packaged_attack().version
    unknown = tuple(
        ir.Diagnostic(
            "deploy.attack-unknown",
            f"{tag} is not in MITRE ATT&CK {version} (the data rulec ships): not written",
            query.span,
            "warning",
            format,
        )
        for tag in rule.unknown_attack
    )
    return replace(emitted, target=format, text=text, notes=emitted.notes + unknown)


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
