"""Writing output files atomically: a reader never sees a partial file, and a write that fails
leaves nothing behind (no temporary file, no folder it created)."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write `text` (or bytes) to a temporary file beside `path`, then rename it into place.

    Raises `OSError` naming `path` when it cannot be written (e.g. it is a folder).
    """
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    created = _make_folders(path.parent)
    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        binary = isinstance(text, bytes)
        with os.fdopen(handle, "wb" if binary else "w", encoding=None if binary else "utf-8") as o:
            o.write(text)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        for folder in reversed(created):
            folder.rmdir()
        raise


def write_all_atomic(files: Mapping[Path, str]) -> None:
    """Write several files, each atomically: all are staged as temporary files beside their
    paths before any is renamed into place, so a failure while staging changes nothing.

    Raises `OSError` naming the path that cannot be written.
    """
    staged: list[tuple[str, Path]] = []
    created: list[Path] = []
    try:
        for path, text in files.items():
            if path.is_dir():
                raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
            created += _make_folders(path.parent)
            handle, temporary = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
            )
            staged.append((temporary, path))
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.chmod(temporary, 0o666 & ~_umask())
    except BaseException:
        for temporary, _ in staged:
            Path(temporary).unlink(missing_ok=True)
        for folder in reversed(created):
            folder.rmdir()
        raise
    try:
        for temporary, path in staged:
            os.replace(temporary, path)
    finally:
        for temporary, _ in staged:
            Path(temporary).unlink(missing_ok=True)


def _make_folders(folder: Path) -> list[Path]:
    """Create `folder` and its missing parents; return those created, outermost first."""
    missing = []
    for part in (folder, *folder.parents):
        if part.exists():
            break
        missing.append(part)
    missing.reverse()
    created: list[Path] = []
    try:
        for part in missing:
            part.mkdir()
            created.append(part)
    except BaseException:
        for part in reversed(created):
            part.rmdir()
        raise
    return created


def _umask() -> int:
    """The process's umask (read by setting it, then restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
