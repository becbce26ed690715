"""The deploy formats: each with the target its query is written in, and its files' suffix."""

from __future__ import annotations

from rulec.backends.pipelines import DEFAULT_PIPELINES

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


def pipeline_target(format: str) -> str:
    """The name whose default pipelines `format` reads: its own, else its target's."""
    return format if format in DEFAULT_PIPELINES else FORMATS[format]
