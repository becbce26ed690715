"""`rulec explain` (the rule card), `rulec catalog` (indicators counted across a corpus) and
`rulec diff` (what an edit did to rules, in card terms).

Exit status of explain and catalog: 0 when every rule was read, 1 when some rule could not be
(its diagnostic goes to stderr; the others are still rendered), 2 for bad usage. Exit status of
diff: 0 when the meaning is unchanged, 1 when it changed, 2 on errors.
"""

from __future__ import annotations

from pathlib import Path

import click

from rulec.backends.registry import expand
from rulec.compiler import ir
from rulec.compiler.cards.attack import AttackData, load_attack
from rulec.compiler.cards.card import Card, build_card
from rulec.compiler.cards.catalog import Catalog, index_rules, load_catalog, lookup_of
from rulec.compiler.cards.diff import DEFAULT_TARGETS, render_diff
from rulec.compiler.cards.diff import FORMATS as DIFF_FORMATS
from rulec.compiler.cards.diff import diff as diff_rules
from rulec.compiler.cards.render import FORMATS, render_card, render_catalog
from rulec.compiler.cli.options import pipeline_of
from rulec.compiler.cli.output import emit, warn
from rulec.compiler.rules import load_rules

FORMAT = click.Choice(FORMATS)


def _attack(source: Path | None) -> tuple[AttackData | None, str | None]:
    try:
        return load_attack(source), None
    except ir.RuleError as error:
        return None, error.diagnostic.message


PIPELINE = click.option(
    "-p",
    "--pipeline",
    "pipelines",
    multiple=True,
    help="Sigma processing pipeline (field mapping): plugin name or YAML file (repeatable).",
)
OUTPUT = click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Write to this file (atomically)."
)


@click.command()
@click.argument("rule", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=FORMAT, default="md", show_default=True)
@click.option(
    "--catalog",
    "index",
    type=click.Path(exists=True, path_type=Path),
    help="Catalog index (JSON from `rulec catalog --format json`) or rules to index now.",
)
@click.option(
    "--attack-data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="MITRE ATT&CK enterprise STIX bundle (enterprise-attack.json) for technique names.",
)
@PIPELINE
@OUTPUT
@click.pass_context
def explain(ctx, rule, fmt, index, attack_data, pipelines, output) -> None:
    """Print the rule card of RULE: metadata, stages, exclusions, indicators, outputs."""
    pipeline = pipeline_of(pipelines)
    catalog = _catalog(index, pipeline) if index else None
    attack, note = _attack(attack_data)
    failed = False
    texts = []
    for item in _cards(ctx, rule, pipeline, attack, catalog, note):
        if isinstance(item, ir.Diagnostic):
            warn(item)
            failed = True
        else:
            texts.append(render_card(item, fmt))
    emit("".join(texts), output)
    ctx.exit(1 if failed else 0)


def _cards(ctx, rule, pipeline, attack, catalog, note) -> list[Card | ir.Diagnostic]:
    debug = bool((ctx.find_root().obj or {}).get("debug"))
    try:
        items = load_rules(rule, pipeline, warn)
        return [
            i if isinstance(i, ir.Diagnostic) else build_card(i, attack, lookup_of(catalog), note)
            for i in items
        ]
    except Exception as error:
        if debug:
            raise
        message = f"internal error while explaining the rule: {type(error).__name__}: {error}"
        return [ir.Diagnostic("internal", message, ir.Span(str(rule)))]


def _catalog(index: Path, pipeline: object | None) -> Catalog:
    try:
        return load_catalog(index, pipeline)
    except ir.RuleError as error:
        raise click.BadParameter(error.diagnostic.message, param_hint="--catalog") from None


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=FORMAT, default="md", show_default=True)
@click.option("--top", default=100, show_default=True, help="Indicators listed in md and html.")
@click.option("-q", "--quiet", is_flag=True, help="Do not print the rules that cannot be read.")
@PIPELINE
@OUTPUT
def catalog(paths, fmt, top, quiet, pipelines, output) -> None:
    """Count every indicator of the rules under PATHS, per language."""
    pipeline = pipeline_of(pipelines)
    found = index_rules(paths, pipeline, None if quiet else warn)
    emit(render_catalog(found, fmt, top), output)
    summary = (
        f"{found.rules} rules from {found.files} files ({found.failed} unreadable), "
        f"{len(found.counts)} indicators, {found.seconds:.1f} s"
    )
    click.echo(summary, err=True)


@click.command()
@click.argument("old")
@click.argument("new")
@click.option("--format", "fmt", type=click.Choice(DIFF_FORMATS), default="md", show_default=True)
@click.option(
    "-t",
    "--target",
    "targets",
    multiple=True,
    help=f"Targets whose queries are compared (repeatable; default {', '.join(DEFAULT_TARGETS)}).",
)
@click.option(
    "--attack-data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="MITRE ATT&CK enterprise STIX bundle (enterprise-attack.json) for technique names.",
)
@OUTPUT
@click.pass_context
def diff(ctx, old, new, fmt, targets, attack_data, output) -> None:
    """Report what changed in meaning from OLD to NEW (files, folders or git:REV:PATH)."""
    debug = bool((ctx.find_root().obj or {}).get("debug"))
    attack, _ = _attack(attack_data)
    try:
        report = diff_rules(old, new, expand(targets) or DEFAULT_TARGETS, attack)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--target") from None
    except Exception as error:
        if debug:
            raise
        message = f"internal error while comparing: {type(error).__name__}: {error}"
        warn(ir.Diagnostic("internal", message, ir.Span(old)))
        ctx.exit(2)
    for error in report.errors:
        warn(error)
    emit(render_diff(report, fmt), output)
    ctx.exit(2 if report.errors else 1 if report.changed else 0)
