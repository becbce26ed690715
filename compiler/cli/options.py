"""Reading the command line's options: targets, tables, pipelines, the project file, schemas,
`--now` and the engine to run on; each bad value a usage error naming its option."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import click

from rulec.backends.base import TableMap
from rulec.backends.deploy_targets import FORMATS as DEPLOY_FORMATS
from rulec.backends.deploy_targets import pipeline_target
from rulec.backends.pipelines import pipelines_for
from rulec.backends.registry import backend_for, expand
from rulec.compiler import ir
from rulec.compiler.project import Project, load_project
from rulec.compiler.report import diagnostic_text
from rulec.compiler.rules import resolve_pipeline
from rulec.compiler.schema_file import read_schema


def parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint="--now") from None


def targets_named(targets: tuple[str, ...], fmt: str) -> list[str]:
    """The targets to emit: those named, or the one a deploy format carries."""
    if fmt in DEPLOY_FORMATS:
        if targets:
            raise click.BadParameter(
                f"--format {fmt} sets the target itself", param_hint="--target"
            )
        return [fmt]
    if not targets:
        raise click.BadParameter("name at least one target", param_hint="--target")
    names = expand(targets)
    for name in names:
        try:
            backend_for(name)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--target") from None
    return names


def tables_named(name: str | None, path: Path | None, targets: list[str]) -> TableMap:
    """The tables SQL targets read (`table_map`); naming them for other targets is refused."""
    from rulec.backends.registry import is_sql
    from rulec.compiler.table_map import table_map

    if name is None and path is None:
        return TableMap()
    others = [t for t in targets if not is_sql(t)]
    if others:
        raise click.BadParameter(
            f"tables are named for SQL targets only, not {', '.join(others)}",
            param_hint="--table-name/--table-map",
        )
    try:
        return table_map(name, path)
    except ir.RuleError as error:
        raise click.BadParameter(
            diagnostic_text(error.diagnostic), param_hint="--table-map"
        ) from None


def pipeline_groups(
    names: list[str], chosen: Mapping[str, tuple[str, ...]], without: bool
) -> dict[tuple[str, ...], list[str]]:
    """Targets grouped by the Sigma pipelines they need (`chosen`: target or `*` -> pipelines,
    else each target's default); each group's pipelines are resolved here first so that a bad
    name is a usage error."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in names:
        target = pipeline_target(name) if name in DEPLOY_FORMATS else name
        mine = next((chosen[key] for key in (name, target, "*") if key in chosen), ())
        key = pipelines_for(target, mine, without)
        groups.setdefault(key, []).append(name)
    for key in groups:
        pipeline_of(key)
    return groups


class BadProject(click.ClickException):
    exit_code = 2


def project_read() -> Project:
    try:
        return load_project()
    except ir.RuleError as error:
        raise BadProject(diagnostic_text(error.diagnostic)) from None


def project_paths(project: Project) -> tuple[str, ...]:
    """The project's rule paths, each of which must exist; none at all is a usage error."""
    if not project.paths:
        where = f" (or `paths` in {project.file})" if project.file else " (or a rulec.toml)"
        raise click.BadParameter(f"name rule files or folders{where}", param_hint="PATH")
    for path in project.paths:
        if not Path(path).exists():
            raise BadProject(f"{project.file}: error[project.missing-path]: {path} does not exist")
    return project.paths


def schema_read(path: Path) -> dict[str, tuple[str, ...]]:
    try:
        return read_schema(path)
    except ir.RuleError as error:
        raise click.BadParameter(diagnostic_text(error.diagnostic), param_hint="--schema") from None


def pipeline_of(names: tuple[str, ...]) -> object | None:
    try:
        return resolve_pipeline(names)
    except ir.RuleError as error:
        raise click.BadParameter(error.diagnostic.message, param_hint="--pipeline") from None


RUN_ENGINE_OPTION = click.option(
    "--engine",
    type=click.Choice(["duckdb", "postgres", "spark", "eql", "kql", "spl"]),
    default="duckdb",
    show_default=True,
    help="Where the rules run: compiled SQL on duckdb, postgres (the libpq environment, "
    "PGHOST...) or spark; or each target's text: eql (Elastic's eql engine), kql (read back "
    "and executed), spl (the evaluator of Splunk's documented SPL).",
)


SPARK_MASTER_OPTION = click.option(
    "--spark-master", metavar="URL", help="Spark master (default: a local session)."
)


def engine_named(name: str, spark_master: str | None):
    """The engine to run on (None: DuckDB, as each command makes it); one that cannot start is
    an error naming why."""
    from rulec.compiler.run.engine_choice import make_engine

    if spark_master and name != "spark":
        raise click.UsageError("--spark-master needs --engine spark")
    if name == "duckdb":
        return None
    try:
        return make_engine(name, spark_master)
    except Exception as error:
        raise click.ClickException(f"cannot start the {name} engine: {error}") from None


def table_paths(specs) -> dict[str, str]:
    """`--table NAME=PATH` options as name -> path (a bad one is a usage error)."""
    bound = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=PATH, got {spec!r}", param_hint="--table")
        bound[name] = path
    return bound
