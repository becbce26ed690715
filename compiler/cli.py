"""The `rulec` command line: convert, run, verify.

Exit status: 0 when everything converted (or matched golden), 1 when some rule failed (the others
are still converted and written), 2 for bad usage. With `--format json` each result is one JSON
object per line. Diagnostics go to stderr as `file:line:column: error[code]: message`.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click

from rulec.backends.base import Options
from rulec.backends.registry import backend_for, expand
from rulec.compiler import ir
from rulec.compiler.atomic import write_atomic
from rulec.compiler.convert import Outcome, convert_file
from rulec.compiler.report import diagnostic_json, diagnostic_text, outcome_json, outcome_text
from rulec.compiler.rules import discover, load_rules, resolve_pipeline

FORMATS = click.Choice(["text", "json"])


def _progress(items: list, label: str):
    """A progress bar on a terminal for long runs; nothing in pipes."""
    if len(items) > 20 and sys.stderr.isatty():
        return click.progressbar(items, label=label, file=sys.stderr)
    return _Quiet(items)


class _Quiet:
    def __init__(self, items: list):
        self.items = items

    def __enter__(self):
        return self.items

    def __exit__(self, *exc: object) -> None:
        return None


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint="--now") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show Python tracebacks for internal errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """rulec compiles Sigma and KQL detection rules to SQL, EQL, SPL and KQL."""
    ctx.obj = {"debug": debug}


@main.command()
@click.option(
    "-t",
    "--target",
    "targets",
    multiple=True,
    required=True,
    help="duckdb, postgres, sql:<dialect>, eql, spl, kql or all (repeatable).",
)
@click.option(
    "-p",
    "--pipeline",
    "pipelines",
    multiple=True,
    help="Sigma processing pipeline: plugin name or YAML file (repeatable, in order).",
)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Write to this file (atomically) instead of standard output.",
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.pass_context
def convert(ctx, targets, pipelines, fmt, output, paths) -> None:
    """Convert rules (files or folders) to one or more targets."""
    debug = ctx.obj["debug"]
    names = expand(targets)
    for name in names:
        try:
            backend_for(name)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--target") from None
    pipeline = _pipeline(pipelines)
    outcomes: list[Outcome] = []
    files = discover(paths)
    with _progress(files, "converting") as bar:
        for path in bar:
            outcomes.extend(convert_file(path, names, pipeline, Options(), debug, _warn))
    for outcome in outcomes:
        if not outcome.ok:
            click.echo(diagnostic_text(outcome.error), err=True)
    render = outcome_json if fmt == "json" else outcome_text
    text = "".join(render(o) + "\n" for o in outcomes if fmt == "json" or o.ok)
    _emit(text, output)
    ctx.exit(0 if all(o.ok for o in outcomes) else 1)


def _warn(diagnostic: ir.Diagnostic) -> None:
    click.echo(diagnostic_text(diagnostic), err=True)


def _pipeline(names: tuple[str, ...]) -> object | None:
    try:
        return resolve_pipeline(names)
    except ir.RuleError as error:
        raise click.BadParameter(error.diagnostic.message, param_hint="--pipeline") from None


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
    else:
        write_atomic(output, text)


@main.command()
@click.argument("rules", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--events",
    "events",
    multiple=True,
    required=True,
    help="Event file, folder or glob (NDJSON, JSON, CSV, Parquet); repeatable.",
)
@click.option(
    "--table",
    "tables",
    multiple=True,
    metavar="NAME=PATH",
    help="Bind a further table (for joins, invoked functions).",
)
@click.option("--now", help="Fix the clock (ISO 8601) for now() and ago().")
@click.option("--time-field", help="Event time field for windows (default TimeCreated).")
@click.option("-p", "--pipeline", "pipelines", multiple=True, help="Sigma processing pipeline.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.pass_context
def run(ctx, rules, events, tables, now, time_field, pipelines, fmt) -> None:
    """Run rules over events on DuckDB and print what they match."""
    from rulec.compiler.events import load_events
    from rulec.compiler.executor import execute

    debug = ctx.obj["debug"]
    moment = _parse_now(now)
    bound = {}
    for spec in tables:
        name, sep, path = spec.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=PATH, got {spec!r}", param_hint="--table")
        bound[name] = path
    try:
        data = load_events(events)
        extra = {name: load_events([path]) for name, path in bound.items()}
    except ir.RuleError as error:
        click.echo(diagnostic_text(error.diagnostic), err=True)
        ctx.exit(1)
    pipeline = _pipeline(pipelines)
    failed = False
    for path in discover(rules):
        for item in _load(path, pipeline, debug):
            if isinstance(item, ir.Diagnostic):
                failed = True
                _print_run(fmt, path, None, item, [])
                continue
            try:
                rows = execute(item, data, extra, moment, time_field)
            except ir.RuleError as error:
                failed = True
                _print_run(fmt, path, item, error.diagnostic, [])
                continue
            except Exception as error:
                if debug:
                    raise
                failed = True
                _print_run(fmt, path, item, _internal(error, path), [])
                continue
            _print_run(fmt, path, item, None, rows)
    ctx.exit(1 if failed else 0)


def _load(path: Path, pipeline: object | None, debug: bool) -> list[ir.Query | ir.Diagnostic]:
    try:
        return load_rules(path, pipeline, _warn)
    except Exception as error:
        if debug:
            raise
        return [_internal(error, path)]


def _internal(error: Exception, path: Path) -> ir.Diagnostic:
    from rulec.compiler.convert import internal

    return internal(error, path)


def _print_run(fmt, path, query, error, rows) -> None:
    meta = query.meta if query is not None else None
    if fmt == "json":
        out: dict[str, object] = {"rule": str(path)}
        if meta and meta.id:
            out["id"] = meta.id
        out["ok"] = error is None
        if error is None:
            out["matches"] = len(rows)
            out["rows"] = rows
        else:
            out["error"] = diagnostic_json(error)
        click.echo(json.dumps(out, ensure_ascii=False, default=str))
        return
    if error is not None:
        click.echo(diagnostic_text(error), err=True)
        return
    title = f" {meta.title}" if meta and meta.title else ""
    click.echo(f"== {path}{title}: {len(rows)} match{'es' if len(rows) != 1 else ''}")
    for row in rows:
        click.echo("   " + json.dumps(row, ensure_ascii=False, default=str))


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.pass_context
def verify(ctx, paths, fmt) -> None:
    """Run every golden case (default: ./golden) and compare with its expected result."""
    from rulec.compiler.verify import verify as run_cases

    verdicts = list(run_cases(paths or ["golden"]))
    if not verdicts:
        click.echo("no golden cases found (a case is a folder with expected.json)", err=True)
        ctx.exit(1)
    for verdict in verdicts:
        if fmt == "json":
            line = {"case": str(verdict.case), "ok": verdict.ok, "detail": verdict.detail}
            click.echo(json.dumps(line, ensure_ascii=False))
        else:
            click.echo(f"{'ok  ' if verdict.ok else 'FAIL'} {verdict.case}: {verdict.detail}")
    passed = sum(v.ok for v in verdicts)
    if fmt == "text":
        click.echo(f"{passed}/{len(verdicts)} golden cases agree")
    ctx.exit(0 if passed == len(verdicts) else 1)


def entry() -> None:
    """Console entry point: no traceback reaches the user unless `--debug` is given."""
    try:
        main()
    except Exception as error:
        if "--debug" in sys.argv[1:]:
            raise
        click.echo(
            f"rulec: internal error ({type(error).__name__}: {error}); rerun with --debug", err=True
        )
        sys.exit(1)
