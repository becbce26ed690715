"""What the commands print: diagnostics on standard error, results on standard output or to a
file written atomically."""

from __future__ import annotations

from pathlib import Path

import click

from rulec.compiler import ir
from rulec.compiler.atomic import write_atomic
from rulec.compiler.report import diagnostic_text


def warn(diagnostic: ir.Diagnostic) -> None:
    click.echo(diagnostic_text(diagnostic), err=True)


def emit(text: str, output: Path | None) -> None:
    """`text` to standard output, or written atomically to `output` (a clear error if it cannot
    be written: a folder, a missing parent, no permission)."""
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        write_atomic(output, text)
    except OSError as error:
        raise click.ClickException(f"cannot write {output}: {error.strerror or error}") from None
