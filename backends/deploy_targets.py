"""The deploy formats: each with the target its query is written in, and its files' suffix."""

from __future__ import annotations

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
