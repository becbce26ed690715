"""Keeping a folder of generated files current, as a code generator does.

A `Plan` says which files (paths relative to the folder) must hold which text, which parts of
the folder the generator owns (a subfolder and a file suffix: a file there that the plan does
not write is stale), and which files to keep whatever they hold (those of rules that failed this
time). `compare` finds what differs without writing; `apply` writes every changed file
atomically (all staged before any is renamed into place) and removes the stale ones if asked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from rulec.compiler.atomic import write_all_atomic


@dataclass(frozen=True)
class Plan:
    """`files`: relative path -> text; `owned`: (subfolder, suffix) pairs where every file is
    the generator's; `keep`: regular expressions (whole relative paths) of files left alone."""

    files: Mapping[PurePosixPath, str]
    owned: tuple[tuple[PurePosixPath, str], ...] = ()
    keep: tuple[str, ...] = ()


@dataclass(frozen=True)
class Changes:
    """`write`: files missing or different; `stale`: owned files the plan no longer writes."""

    write: tuple[PurePosixPath, ...]
    stale: tuple[PurePosixPath, ...]
    unchanged: int


def compare(folder: Path, plan: Plan) -> Changes:
    """What writing `plan` into `folder` would change."""
    write = tuple(
        relative
        for relative, text in sorted(plan.files.items())
        if _read(folder / relative) != text
    )
    keep = [re.compile(pattern) for pattern in plan.keep]
    stale = tuple(
        relative
        for relative in sorted(set(_owned_files(folder, plan.owned)))
        if relative not in plan.files and not any(k.fullmatch(str(relative)) for k in keep)
    )
    return Changes(write, stale, len(plan.files) - len(write))


def apply(folder: Path, plan: Plan, changes: Changes, prune: bool) -> None:
    """Write the changed files and, with `prune`, remove the stale ones (and the folders that
    leaves empty inside an owned subfolder). Raises `OSError` naming a path it cannot write."""
    write_all_atomic({folder / relative: plan.files[relative] for relative in changes.write})
    if prune:
        for relative in changes.stale:
            (folder / relative).unlink()
            _remove_empty_parents(folder, relative, {sub for sub, _ in plan.owned})


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _owned_files(folder: Path, owned: tuple[tuple[PurePosixPath, str], ...]) -> Iterator:
    for subfolder, suffix in owned:
        root = folder / subfolder
        if root.is_dir():
            for path in root.rglob(f"*{suffix}"):
                if path.is_file() and not path.name.startswith("."):
                    yield PurePosixPath(path.relative_to(folder).as_posix())


def _remove_empty_parents(folder: Path, relative: PurePosixPath, roots: set) -> None:
    """Remove the folders that `relative`'s removal left empty, below its owned subfolder."""
    for parent in relative.parents:
        if parent in roots or parent == PurePosixPath("."):
            return
        path = folder / parent
        if any(path.iterdir()):
            return
        path.rmdir()
