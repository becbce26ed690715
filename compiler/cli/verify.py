"""`rulec verify`: golden cases, and every target's engine against the reference.

    rulec verify [CASE_OR_FOLDER...]                      golden cases (default ./golden)
    rulec verify RULES... --events DATA [-t TARGET ...]   the rules on the user's events

Exit status: 0 when every golden case and every target agree (a rule a target cannot express,
or an engine cannot run, is reported but does not fail), 1 on any disagreement or engine fault,
2 for bad usage.
"""

from __future__ import annotations

import json

import click

from rulec.compiler import ir
from rulec.compiler.cli.options import engine_named, parse_now, pipeline_of, table_paths
from rulec.compiler.cli.output import warn
from rulec.compiler.report import diagnostic_text
from rulec.compiler.run.equivalence import Finding, Inputs, compare_rule, on_engine

TARGETS = ("postgres", "spark", "eql", "kql", "spl")
DEFAULT_TARGETS = ("eql", "kql", "spl", "postgres")  # spark runs when named
STATUS_TEXT = {
    "agree": "agree",
    "disagree": "DISAGREE",
    "cannot-express": "cannot express",
    "cannot-run": "cannot run",
    "error": "ERROR",
}


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option(
    "--events",
    "events",
    multiple=True,
    help="Run the rules PATHS on these events (file, folder or glob; repeatable) instead of "
    "checking golden cases.",
)
@click.option("--table", "tables", multiple=True, metavar="NAME=PATH", help="A further table.")
@click.option("--now", help="Fix the clock (ISO 8601) for now() and ago().")
@click.option("--time-field", help="Event time field for windows (default TimeCreated).")
@click.option("-p", "--pipeline", "pipelines", multiple=True, help="Sigma processing pipeline.")
@click.option(
    "-t",
    "--target",
    "targets",
    multiple=True,
    help="postgres, spark, eql, kql, spl or all (repeatable; default: every target whose engine "
    "is available, Spark only when named).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "junit"]),
    default="text",
    show_default=True,
)
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "postgres", "spark"]),
    default="duckdb",
    show_default=True,
    help="Where the reference executor runs.",
)
@click.option("--spark-master", metavar="URL", help="Spark master (default: a local session).")
@click.pass_context
def verify(
    ctx, paths, events, tables, now, time_field, pipelines, targets, fmt, engine, spark_master
) -> None:
    """Check golden cases, or run RULES on --events, on every target's engine: where do the
    targets disagree with the reference?"""
    reference = engine_named(engine, spark_master)
    engines = _target_engines(targets, spark_master, named=bool(targets))
    if events:
        if not paths:
            raise click.UsageError("name the rules to run on --events")
        inputs = _inputs(events, tables, parse_now(now), time_field, reference)
        loaded_ok, findings = _on_events(paths, pipeline_of(pipelines), inputs, engines, reference)
        golden: list[Finding] = []
    else:
        if tables or now or time_field or pipelines:
            raise click.UsageError("--table, --now, --time-field and -p go with --events")
        loaded_ok = True
        golden, findings = _on_golden(paths or ("golden",), engines, reference)
        if not golden:
            click.echo("no golden cases found (a case is a folder with expected.json)", err=True)
            ctx.exit(1)
    _print(fmt, golden + findings)
    failed = not loaded_ok or any(f.failed for f in golden + findings)
    ctx.exit(1 if failed else 0)


def _target_engines(names: tuple[str, ...], spark_master: str | None, named: bool) -> dict:
    """The engines of the targets named (default: those that start); a named one that cannot
    start is an error, a default one is left out with a note."""
    from rulec.compiler.run.engine_choice import make_engine

    chosen: list[str] = []
    for name in names or DEFAULT_TARGETS:
        if name not in (*TARGETS, "all"):
            expected = ", ".join((*TARGETS, "all"))
            raise click.BadParameter(
                f"unknown target {name!r}: expected {expected}", param_hint="-t"
            )
        chosen += [t for t in (TARGETS if name == "all" else (name,)) if t not in chosen]
    engines = {}
    for name in chosen:
        try:
            engines[name] = make_engine(name, spark_master if name == "spark" else None)
        except Exception as error:
            if named and "all" not in names:
                raise click.ClickException(f"cannot start the {name} engine: {error}") from None
            click.echo(f"verify: {name} left out: its engine cannot start ({error})", err=True)
    return engines


def _inputs(events, tables, now, time_field, reference) -> Inputs:
    from rulec.compiler.run.engine_choice import load_on

    bound = table_paths(tables)
    try:
        data = load_on(reference, events)
        extra = {name: load_on(reference, [path]) for name, path in bound.items()}
    except ir.RuleError as error:
        raise click.ClickException(diagnostic_text(error.diagnostic)) from None
    return Inputs(data, extra, now, time_field)


def _on_events(paths, pipeline, inputs, engines, reference) -> tuple[bool, list[Finding]]:
    from rulec.compiler.rules import discover, load_rules

    findings: list[Finding] = []
    loaded_ok = True
    for path in discover(paths):
        for item in load_rules(path, pipeline, warn):
            if isinstance(item, ir.Diagnostic):
                click.echo(diagnostic_text(item), err=True)
                loaded_ok = False
                continue
            findings += compare_rule(str(path), item, inputs, engines, on_engine(reference))
    return loaded_ok, findings


def _on_golden(paths, engines, reference) -> tuple[list[Finding], list[Finding]]:
    """Each case against its golden result (target `golden`), then each target's engine."""
    from rulec.compiler.run.verify import check, check_targets, find_cases, read_case

    golden: list[Finding] = []
    findings: list[Finding] = []
    for folder in find_cases(paths):
        try:
            case = read_case(folder)
        except (OSError, KeyError, ValueError) as error:
            golden.append(Finding(str(folder), "golden", "error", f"unreadable case: {error}"))
            continue
        verdict = check(case, reference)
        status = "agree" if verdict.ok else "disagree"
        golden.append(Finding(str(folder), "golden", status, verdict.detail))
        findings += check_targets(case, engines, on_engine(reference))
    return golden, findings


def _print(fmt: str, findings: list[Finding]) -> None:
    if fmt == "junit":
        from rulec.compiler.cli.junit import render

        click.echo(render(findings), nl=False)
        return
    for finding in findings:
        if fmt == "json":
            click.echo(json.dumps(_json(finding), ensure_ascii=False, default=str))
        else:
            click.echo(_text(finding))
    if fmt == "text":
        counts = {s: sum(f.status == s for f in findings) for s in STATUS_TEXT}
        summary = ", ".join(f"{n} {STATUS_TEXT[s].lower()}" for s, n in counts.items() if n)
        click.echo(f"{len(findings)} checks: {summary}")


def _json(finding: Finding) -> dict[str, object]:
    out: dict[str, object] = {
        "rule": finding.rule,
        "target": finding.target,
        "status": finding.status,
        "ok": not finding.failed,
        "detail": finding.detail,
    }
    if finding.title:
        out["title"] = finding.title
    if finding.status == "disagree":
        out["reference_only"] = list(finding.reference_only)
        out["target_only"] = list(finding.target_only)
    if finding.query is not None:
        out["query"] = finding.query
    return out


def _text(finding: Finding) -> str:
    line = f"{STATUS_TEXT[finding.status]:<14} {finding.target:<8} {finding.rule}: {finding.detail}"
    rows = [f"    only on the reference: {_row(r)}" for r in finding.reference_only]
    rows += [f"    only on {finding.target}: {_row(r)}" for r in finding.target_only]
    return "\n".join([line, *rows])


def _row(row: dict[str, object]) -> str:
    return json.dumps(
        {k: v for k, v in row.items() if v is not None}, ensure_ascii=False, default=str
    )
