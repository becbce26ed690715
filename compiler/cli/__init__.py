"""The `rulec` command line: convert, run, verify.

Exit status: 0 when everything converted (or matched golden), 1 when some rule failed (the others
are still converted and written), 2 for bad usage. With `--format json` each result is one JSON
object per line. Diagnostics go to stderr as `file:line:column: error[code]: message`.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path, PurePosixPath

import click

from rulec.backends.base import Options
from rulec.backends.deploy_targets import FORMATS as DEPLOY_FORMATS
from rulec.compiler import ir
from rulec.compiler.cli.list import list_
from rulec.compiler.cli.options import (
    RUN_ENGINE_OPTION,
    SPARK_MASTER_OPTION,
    engine_named,
    parse_now,
    pipeline_groups,
    pipeline_of,
    project_paths,
    project_read,
    schema_read,
    table_paths,
    tables_named,
    targets_named,
)
from rulec.compiler.cli.output import emit, warn
from rulec.compiler.cli.summary import convert_summary, count_run, failures, run_summary
from rulec.compiler.cli.sync import sync_folder
from rulec.compiler.corpus import convert_corpus
from rulec.compiler.folder_sync import Plan
from rulec.compiler.outcomes import Outcome, strict_outcome
from rulec.compiler.query_files import NameClash, plan_queries, rule_names
from rulec.compiler.report import diagnostic_json, diagnostic_text, outcome_json, outcome_text
from rulec.compiler.rules import discover, empty_folders, load_rules
from rulec.compiler.run.collector import kept_from_collector, seldom_collections
from rulec.compiler.run.run_cache import RunCache, reading_key
from rulec.compiler.run.windows_logs import is_windows, load_windows_rules

FORMATS = click.Choice(["text", "json"])
CONVERT_FORMATS = click.Choice(["text", "json", *DEPLOY_FORMATS])


class _Commands(click.Group):
    """The commands; those defined in modules of their own are imported when named (`rulec run`
    needs none of what the cards and `verify` read)."""

    LAZY = {"catalog": "cards", "diff": "cards", "explain": "cards", "verify": "verify"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY and name not in self.commands:
            module = importlib.import_module(f"rulec.compiler.cli.{self.LAZY[name]}")
            self.add_command(getattr(module, name))
        return super().get_command(ctx, name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rulec", prog_name="rulec", message="%(prog)s %(version)s")
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
    help="duckdb, postgres, spark, sql:<dialect>, eql, spl, kql or all (repeatable; "
    "rulec list targets).",
)
@click.option(
    "-p",
    "--pipeline",
    "pipelines",
    multiple=True,
    help="Sigma processing pipeline: plugin name or YAML file (repeatable, in order).",
)
@click.option(
    "--without-pipeline",
    "without",
    is_flag=True,
    help="Keep the rules' own field names: no default pipeline for any target.",
)
@click.option(
    "--format",
    "fmt",
    type=CONVERT_FORMATS,
    help="text (the default), json, or a deploy format: " + ", ".join(DEPLOY_FORMATS) + ".",
)
@click.option(
    "--allow",
    "allowed",
    multiple=True,
    metavar="APPROXIMATION",
    help="Allow a reported approximation (bucket, case, runs, numeric, empty, time-format); "
    "repeatable or comma-separated.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    help="Write to this file (atomically) instead of standard output; DIR/ (ending in /): "
    "one file per rule and target (with a deploy format: one artefact per rule).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 listing the files of -o that would change (without -o: "
    "exit 1 if a rule fails).",
)
@click.option(
    "--prune",
    is_flag=True,
    help="With -o DIR/: remove query files whose rule is gone (without it they are listed).",
)
@click.option(
    "--schema",
    "schema_file",
    type=click.Path(exists=True, path_type=Path),
    help="YAML: table -> its columns (for SQL from KQL extend/join/union).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    help="Worker processes (default: every core once there are enough files).",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Reuse conversions of unchanged rules from this folder (keyed by content).",
)
@click.option(
    "--table-name",
    metavar="NAME",
    help="The table SQL targets read (default: events); dotted for a schema: db.events.",
)
@click.option(
    "--table-map",
    "table_map_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML: Sigma log sources -> the tables SQL targets read (see README).",
)
@click.option("--strict", is_flag=True, help="Warnings (e.g. about a rule's metadata) are errors.")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.pass_context
def convert(
    ctx,
    targets,
    pipelines,
    without,
    fmt,
    allowed,
    output,
    check,
    prune,
    schema_file,
    jobs,
    cache_dir,
    table_name,
    table_map_file,
    strict,
    paths,
) -> None:
    """Convert rules (files or folders) to one or more targets, or to a deploy format.

    Settings not given here come from the project file (rulec.toml or [tool.rulec] in
    pyproject.toml); its output is used only with its own paths."""
    if pipelines and without:
        raise click.BadParameter("give -p or --without-pipeline, not both", param_hint="-p")
    project = project_read()
    if not paths:
        paths, output = project_paths(project), output or project.output
    fmt = fmt or project.format or "text"
    schema_file = schema_file or (project.schema and Path(project.schema))
    cache_dir = cache_dir or (project.cache and Path(project.cache))
    chosen = {"*": pipelines} if pipelines or without else project.pipelines
    without = without or (not pipelines and project.without_pipeline)
    to_folder = _output_mode(output, fmt, check, prune)
    names = targets_named(targets or (() if fmt in DEPLOY_FORMATS else project.targets), fmt)
    options = Options(
        tables=project.tables
        if table_name is None and table_map_file is None
        else tables_named(table_name, table_map_file, names),
        pipelines=() if without else (tuple(pipelines) or None),
        schema=schema_read(schema_file) if schema_file else {},
        approximations=frozenset(
            a for spec in allowed or project.allow for a in spec.split(",") if a
        ),
    )
    groups = pipeline_groups(names, chosen, without)
    empty = _report_empty(paths)
    files = discover(paths)
    with _Progress(len(files), "converting") as progress:
        results = convert_corpus(
            files, groups, options, cache_dir, jobs, progress, ctx.obj["debug"]
        )
    outcomes = [strict_outcome(o) if strict else o for result in results for o in result.outcomes]
    for result in results:
        for warning in result.warnings:
            warn(replace(warning, severity="error") if strict else warning)
    for failure in failures(outcomes):
        click.echo(diagnostic_text(failure), err=True)
    for outcome in outcomes if fmt in DEPLOY_FORMATS else ():
        for note in outcome.notes if outcome.ok else ():
            click.echo(diagnostic_text(note), err=True)
    changed = False
    if to_folder:
        from rulec.compiler.artefacts import artefact_plan

        plan = (
            artefact_plan(fmt, outcomes)
            if fmt in DEPLOY_FORMATS
            else _query_plan(outcomes, files, paths, names)
        )
        changed = sync_folder(Path(output), plan, check, prune)
    elif check and output:
        single = Plan({PurePosixPath(Path(output).name): _render(outcomes, fmt)})
        changed = sync_folder(Path(output).parent, single, check, prune)
    elif not check:
        emit(_render(outcomes, fmt), output and Path(output))
    _summarise(convert_summary(outcomes, len(files)))
    warned = strict and any(result.warnings for result in results)
    ctx.exit(1 if changed or warned or empty or not all(o.ok for o in outcomes) else 0)


def _output_mode(output: str | None, fmt: str, check: bool, prune: bool) -> bool:
    """Whether `-o` names a folder (DIR/: one file per rule and target); bad combinations of
    --check and --prune are usage errors."""
    to_folder = output is not None and output.endswith(("/", os.sep))
    if prune and not to_folder:
        raise click.BadParameter("--prune works on -o DIR/ (ending in /)", param_hint="--prune")
    if to_folder and fmt not in ("text", *DEPLOY_FORMATS):
        raise click.BadParameter(
            "-o DIR/ writes one query file per rule and target (--format text) or one artefact "
            "per rule (a deploy format)",
            param_hint="-o",
        )
    return to_folder


def _query_plan(outcomes, files, paths, targets) -> Plan:
    try:
        return plan_queries(outcomes, rule_names(files, paths), targets)
    except NameClash as error:
        raise click.ClickException(str(error)) from None


@main.command()
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.pass_context
def check(ctx, fmt, paths) -> None:
    """Lint Sigma rules against SigmaHQ's rule schema and conventions (as `sigma check`)."""
    from rulec.compiler.check import check_paths

    findings, files = check_paths(paths)
    for finding in findings:
        if fmt == "json":
            click.echo(json.dumps({**diagnostic_json(finding), "severity": finding.severity}))
        else:
            click.echo(diagnostic_text(finding))
    click.echo(f"{len(findings)} findings in {files} Sigma files", err=True)
    ctx.exit(1 if findings else 0)


def _summarise(text: str) -> None:
    """The closing summary on stderr, after everything on stdout."""
    sys.stdout.flush()
    click.echo(text, err=True)


def _report_empty(paths: tuple[str, ...]) -> bool:
    """Report each folder given that holds no rule file; True when there was one."""
    found = empty_folders(paths)
    for diagnostic in found:
        click.echo(diagnostic_text(diagnostic), err=True)
    return bool(found)


def _render(outcomes: list[Outcome], fmt: str) -> str:
    if fmt in DEPLOY_FORMATS:
        from rulec.backends import deploy

        return deploy.stream(fmt, [o.query for o in outcomes if o.ok])
    render = outcome_json if fmt == "json" else outcome_text
    return "".join(render(o) + "\n" for o in outcomes if fmt == "json" or o.ok)


@main.command()
@click.argument("rules", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--events",
    "events",
    multiple=True,
    required=True,
    help="Event file, folder or glob (NDJSON, JSON, CSV, Parquet, EVTX); repeatable.",
)
@click.option(
    "--table",
    "tables",
    multiple=True,
    metavar="NAME=PATH",
    help="Bind a further table (for joins, invoked functions).",
)
@click.option("--now", help="Fix the clock (ISO 8601) for now() and ago().")
@click.option(
    "--time-field",
    help="Event time field for windows (default: the first the events have of TimeCreated, "
    "@timestamp, Timestamp, TimeGenerated, _time, UtcTime).",
)
@click.option(
    "-p",
    "--pipeline",
    "pipelines",
    multiple=True,
    help="Sigma processing pipeline (default on Windows events: each rule's Windows logs).",
)
@click.option(
    "--without-pipeline",
    "without",
    is_flag=True,
    help="Keep the rules' own field names and run them on every event.",
)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--all", "show_all", is_flag=True, help="Print every rule, matched or not.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Write the results to this file (atomically) instead of standard output.",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the rules as read, and their plans, in this folder for the next runs.",
)
@RUN_ENGINE_OPTION
@SPARK_MASTER_OPTION
@click.pass_context
def run(
    ctx,
    rules,
    events,
    tables,
    now,
    time_field,
    pipelines,
    without,
    fmt,
    show_all,
    output,
    cache_dir,
    engine,
    spark_master,
) -> None:
    """Run rules over events (on DuckDB unless --engine says otherwise); print the rules that
    match (every rule with --all) and their rows, then a summary on standard error."""
    from rulec.compiler.run.engine_choice import load_on, run_each
    from rulec.compiler.run.engines import EngineLimit
    from rulec.compiler.run.multirule.runner import run_rules

    started = time.monotonic()
    ctx.with_resource(seldom_collections())
    debug = ctx.obj["debug"]
    chosen = engine_named(engine, spark_master)
    moment = parse_now(now)
    bound = table_paths(tables)
    try:
        data = load_on(chosen, events)
        extra = {name: load_on(chosen, [path]) for name, path in bound.items()}
    except ir.RuleError as error:
        click.echo(diagnostic_text(error.diagnostic), err=True)
        ctx.exit(1)
    if pipelines and without:
        raise click.BadParameter("give -p or --without-pipeline, not both", param_hint="-p")
    pipeline = pipeline_of(pipelines)
    failed = _report_empty(rules)
    printed = _RunPrinter(fmt, show_all, output is None)
    scoped = not pipelines and not without and is_windows(data.columns)
    cache = RunCache(cache_dir) if cache_dir else None
    reading = reading_key(pipelines, scoped)
    loaded: list[tuple[Path, ir.Query]] = []
    for path in discover(rules):
        for item in _load(path, pipeline, debug, scoped, cache and (cache, reading)):
            if isinstance(item, ir.Diagnostic):
                failed = True
                printed(path, None, item)
            else:
                loaded.append((path, item))
    queries = [q for _, q in loaded]
    ctx.with_resource(kept_from_collector(collected=True))  # the rules and events, loaded
    time_field = _time_field(time_field, data, queries)
    with _run_warnings():
        with _Progress(len(loaded), "running") as progress:
            if engine == "duckdb":
                runs = run_rules(
                    queries,
                    data,
                    extra,
                    moment,
                    time_field,
                    engine=chosen,
                    progress=progress,
                    cache=cache,
                )
            else:
                runs = run_each(queries, chosen, data, extra, moment, time_field, progress)
        pending = deque(runs)  # each rule's rows let go once printed
        del runs
        for path, query in loaded:
            result = pending.popleft()
            if result.ok:
                chunks = ([_located(row, data) for row in rows] for rows in result.chunks())
                printed(path, query, None, result.matches, chunks)
                continue
            failed = True
            if isinstance(result.error, ir.RuleError):
                printed(path, query, result.error.diagnostic)
            elif isinstance(result.error, EngineLimit):
                limit = ir.Diagnostic("run.engine-limit", str(result.error), ir.Span(str(path)))
                printed(path, query, limit)
            elif debug:
                raise result.error
            else:
                printed(path, query, _internal(result.error, path))
    if output is not None:
        emit("".join(printed.lines), output)
    count = count_run(printed.results, time.monotonic() - started)
    _summarise(run_summary(count, printed.errors))
    ctx.exit(1 if failed else 0)


@contextmanager
def _run_warnings() -> Iterator[None]:
    """Warnings about the events raised while rules run, printed once each as diagnostics."""
    from rulec.compiler.run.executor import RunWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RunWarning)
        yield
    shown = set()
    for item in caught:
        if isinstance(item.message, RunWarning) and item.message.diagnostic not in shown:
            shown.add(item.message.diagnostic)
            warn(item.message.diagnostic)


def _located(row: dict, events) -> dict:
    """An event row with the file it came from and its record there (`_file`, `_record`)."""
    where = getattr(events, "origin", None)  # tables Spark reads itself have none
    origin = where(row["_row"]) if where and isinstance(row.get("_row"), int) else None
    if origin is None:
        return row
    first = {"_row": row["_row"], "_file": origin[0], "_record": origin[1]}
    return first | {key: value for key, value in row.items() if key != "_row"}


class _Progress:
    """A progress callback drawing a bar on a terminal for long runs; silent in pipes."""

    def __init__(self, total: int, label: str):
        self.bar = None
        if total > 20 and sys.stderr.isatty():
            self.bar = click.progressbar(length=total, label=label, file=sys.stderr)

    def __enter__(self):
        if self.bar is None:
            return None
        self.bar.__enter__()
        return lambda done, total: self.bar.update(done - self.bar.pos)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _load(
    path: Path,
    pipeline: object | None,
    debug: bool,
    windows: bool = False,
    cached: tuple[RunCache, bytes] | None = None,
) -> list[ir.Query | ir.Diagnostic]:
    """The file's rules through `pipeline`, or (`windows`) each scoped to its Windows logs;
    read from `cached` (the cache and how the rules are read) when an earlier run kept them."""

    def load(on_warning):
        if windows:
            return load_windows_rules(path, on_warning)
        return load_rules(path, pipeline, on_warning)

    try:
        return cached[0].rules(path, cached[1], load, warn) if cached else load(warn)
    except Exception as error:
        if debug:
            raise
        return [_internal(error, path)]


def _internal(error: Exception, path: Path) -> ir.Diagnostic:
    from rulec.compiler.outcomes import internal

    return internal(error, path)


def _time_field(given: str | None, data, queries: list[ir.Query]) -> str | None:
    """The events' time field for window rules (see `event_time`); warnings on stderr."""
    from rulec.compiler.run.event_time import choose_time_field

    chosen, warnings = choose_time_field(given, data.columns, queries)
    for warning in warnings:
        warn(warning)
    return chosen


class _RunPrinter:
    """Each rule's result of `rulec run` as a line (JSON) or a block (text), written to standard
    output at once (`streamed`) or kept in `lines` for a file: failures always, rules without
    rows only when `show_all`. A rule's rows come in chunks and are written chunk by chunk.
    Text diagnostics go to standard error at once; `results` (the `_row` of each row) and
    `errors` feed the summary."""

    def __init__(self, fmt: str, show_all: bool, streamed: bool = False) -> None:
        self.fmt, self.show_all = fmt, show_all
        self.lines: list[str] = []
        self.keep = self.lines.append
        if streamed:
            self.keep = partial(click.echo, nl=False)
        self.results: list[list[object] | None] = []
        self.errors: list[ir.Diagnostic] = []

    def __call__(self, path, query, error, count: int = 0, chunks: Iterable[list] = ()) -> None:
        found: list[object] | None = None if error is not None else []
        self.results.append(found)
        if error is not None:
            self.errors.append(error)
        elif not count and not self.show_all:
            return
        meta = query.meta if query is not None else None
        if self.fmt == "json":
            out: dict[str, object] = {"rule": str(path)}
            if meta and meta.id:
                out["id"] = meta.id
            out["ok"] = error is None
            if error is not None:
                out["error"] = diagnostic_json(error)
                self.keep(_json(out) + "\n")
                return
            out["matches"] = count
            self.keep(_json(out)[:-1] + ', "rows": [')
            separator = ""
            for rows in chunks:
                found.extend(row.get("_row") for row in rows)
                if rows:
                    self.keep(separator + ", ".join(map(_json, rows)))
                    separator = ", "
            self.keep("]}\n")
            return
        if error is not None:
            click.echo(diagnostic_text(error), err=True)
            return
        title = f" {meta.title}" if meta and meta.title else ""
        self.keep(f"== {path}{title}: {count} match{'es' if count != 1 else ''}\n")
        for rows in chunks:
            found.extend(row.get("_row") for row in rows)
            for row in rows:
                present = {k: v for k, v in row.items() if v is not None}
                self.keep("   " + _json(present) + "\n")


def _json(value: object) -> str:
    """A value as `rulec run` writes it in JSON."""
    return json.dumps(value, ensure_ascii=False, default=str)


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


main.add_command(list_)
