"""Bringing an output folder up to date from the command line (`convert -o DIR/ --check`,
`--prune`): what would change, or what changed, on standard error."""

from __future__ import annotations

from pathlib import Path

import click

from rulec.compiler.folder_sync import Plan, apply, compare


def sync_folder(folder: Path, plan: Plan, check: bool, prune: bool) -> bool:
    """Compare `folder` with `plan`; unless `check`, write it (and remove stale files with
    `prune`). True when `check` found a difference this command would make."""
    changes = compare(folder, plan)
    for relative in () if prune else changes.stale:
        click.echo(f"{folder / relative}: no rule writes it (--prune removes it)", err=True)
    if check:
        for relative in changes.write:
            click.echo(f"would write {folder / relative}", err=True)
        removed = changes.stale if prune else ()
        for relative in removed:
            click.echo(f"would remove {folder / relative}", err=True)
        count = len(changes.write) + len(removed)
        click.echo(f"{folder}: {count or 'no'} file{'s' * (count != 1)} would change", err=True)
        return count > 0
    try:
        apply(folder, plan, changes, prune)
    except OSError as error:
        raise click.ClickException(f"cannot write {error.filename}: {error.strerror}") from None
    for relative in changes.stale if prune else ():
        click.echo(f"removed {folder / relative}", err=True)
    removed = f", {len(changes.stale)} removed" if prune and changes.stale else ""
    summary = f"{folder}: {len(changes.write)} written, {changes.unchanged} unchanged{removed}"
    click.echo(summary, err=True)
    return False
