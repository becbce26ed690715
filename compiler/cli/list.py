"""`rulec list targets|pipelines|formats`: what the other commands accept, one line each."""

from __future__ import annotations

import click

from rulec.backends.deploy_targets import FORMATS as DEPLOY_FORMATS
from rulec.backends.pipelines import DEFAULT_PIPELINES, OWN_DIR, OWN_PIPELINES
from rulec.backends.registry import ENGINE_TARGETS, TEXT_TARGETS, available

TARGETS = {
    "duckdb": "SQL for DuckDB (the reference executor's dialect)",
    "postgres": "SQL for PostgreSQL",
    "spark": "Spark SQL (the same text as sql:spark)",
    "sql:<dialect>": "SQL for any sqlglot dialect (sql:snowflake, sql:bigquery, ...)",
    "eql": "Elastic Event Query Language",
    "spl": "Splunk Search Processing Language",
    "kql": "Kusto Query Language (Microsoft Sentinel, Defender XDR)",
    "all": "every target above except spark and sql:<dialect>",
}
FORMATS = {
    "text": "each query under a header line (convert); matches per rule (run, verify)",
    "json": "one JSON object per rule and target (convert), per rule (run), per case (verify)",
    "elastic-eql": "an Elastic detection rule of type eql, as NDJSON (convert)",
    "elastic-threshold": "an Elastic threshold rule for Sigma aggregations, as NDJSON (convert)",
    "splunk-savedsearch": "a Splunk savedsearches.conf stanza (convert)",
    "sentinel": "a Microsoft Sentinel scheduled analytics rule, YAML (convert)",
    "defender": "a Microsoft Defender XDR custom detection, JSON (convert)",
}


@click.command("list")
@click.argument("what", type=click.Choice(["targets", "pipelines", "formats"]))
def list_(what: str) -> None:
    """List the targets (-t), Sigma pipelines (-p) or output formats (--format)."""
    lines = {"targets": _targets, "pipelines": _pipelines, "formats": _formats}[what]()
    width = max(len(name) for name, _ in lines)
    for name, text in lines:
        click.echo(f"{name:<{width}}  {text}")


def _targets() -> list[tuple[str, str]]:
    names = [*available(), *ENGINE_TARGETS, "sql:<dialect>", "all"]
    missing = set(TEXT_TARGETS) - set(available())
    return [(n, TARGETS[n]) for n in names] + [(n, "not installed") for n in sorted(missing)]


def _pipelines() -> list[tuple[str, str]]:
    from rulec.compiler.frontends.sigma.load import installed_pipelines

    users: dict[str, list[str]] = {}
    for target, chosen in DEFAULT_PIPELINES.items():
        for spec in chosen:
            for name in spec.split("|"):
                if target in TARGETS:
                    users.setdefault(name, []).append(target)
    listed = {**installed_pipelines(), **{name: _own(name) for name in OWN_PIPELINES}}
    return [
        (name, text + (f" (default for {', '.join(users[name])})" if name in users else ""))
        for name, text in sorted(listed.items())
    ]


def _own(name: str) -> str:
    """The description of one of rulec's own pipeline files (its `name`)."""
    import yaml

    loaded = yaml.safe_load((OWN_DIR / f"{name}.yml").read_text(encoding="utf-8"))
    return f"{loaded.get('name', '')}"


def _formats() -> list[tuple[str, str]]:
    return [(name, FORMATS[name]) for name in ["text", "json", *DEPLOY_FORMATS]]
