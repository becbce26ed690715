"""Converting a corpus: every file parsed once, every target emitted from the same IR, on all
cores, with a cache keyed by content so that an unchanged rule is not compiled again.

A file's cache key is the SHA-256 of its text, the pipeline (names, and the text of pipeline
files), the targets and the rulec version; its entry holds the outcomes and warnings as JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from rulec.compiler import ir
from rulec.compiler.atomic import write_atomic
from rulec.compiler.convert import Outcome, convert_file
from rulec.compiler.rules import resolve_pipeline

DEFAULT_CACHE = Path("~/.cache/rulec").expanduser()
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class FileResult:
    """One rule file: its outcomes (per rule and target) and the warnings it raised."""

    path: Path
    outcomes: tuple[Outcome, ...]
    warnings: tuple[ir.Diagnostic, ...] = ()
    cached: bool = False


def version() -> str:
    try:
        return metadata.version("rulec")
    except metadata.PackageNotFoundError:
        return "unknown"


def cache_key(text: bytes, pipelines: Sequence[str], targets: Sequence[str]) -> str:
    """SHA-256 over the rule text, the pipelines (file contents too), targets and version."""
    digest = hashlib.sha256()
    for part in (text, *(_pipeline_bytes(p) for p in pipelines), *map(str.encode, targets)):
        digest.update(len(part).to_bytes(8, "big") + part)
    digest.update(version().encode())
    return digest.hexdigest()


def _pipeline_bytes(name: str) -> bytes:
    path = Path(name)
    return name.encode() + (path.read_bytes() if path.is_file() else b"")


def convert_corpus(
    files: Sequence[Path],
    targets: Sequence[str],
    pipelines: Sequence[str] = (),
    cache_dir: Path | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[FileResult]:
    """Every file to every target, in the order of `files`; cached files are not recompiled."""
    results: dict[int, FileResult] = {}
    keys = {}
    for index, path in enumerate(files):
        keys[index] = cache_key(_read(path), pipelines, targets)
        hit = _cached(cache_dir, keys[index], path) if cache_dir else None
        if hit is not None:
            results[index] = hit
    todo = [i for i in range(len(files)) if i not in results]
    report = progress or (lambda done, total: None)
    report(len(results), len(files))
    for index, result in _convert(
        [files[i] for i in todo], todo, targets, tuple(pipelines), workers
    ):
        results[index] = result
        if cache_dir:
            _store(cache_dir, keys[index], result)
        report(len(results), len(files))
    return [results[i] for i in range(len(files))]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _convert(paths, indexes, targets, pipelines, workers):
    """(index, result) pairs, converted in worker processes when there is more than one file."""
    count = workers or os.cpu_count() or 1
    if count == 1 or len(paths) < 2:
        _start(pipelines)
        for index, path in zip(indexes, paths, strict=True):
            yield index, _convert_one(path, targets)
        return
    chunk = max(1, min(32, len(paths) // (count * 4)))
    with ProcessPoolExecutor(count, initializer=_start, initargs=(pipelines,)) as pool:
        converted = pool.map(_convert_one, paths, [targets] * len(paths), chunksize=chunk)
        yield from zip(indexes, converted, strict=True)


_PIPELINE: list[object] = []


def _start(pipelines: tuple[str, ...]) -> None:
    """Worker set-up: resolve the pipeline once per process."""
    _PIPELINE[:] = [resolve_pipeline(pipelines)]


def _convert_one(path: Path, targets: Sequence[str]) -> FileResult:
    warnings: list[ir.Diagnostic] = []
    outcomes = tuple(convert_file(path, targets, _PIPELINE[0], None, False, warnings.append))
    return FileResult(path, outcomes, tuple(warnings))


# --------------------------------------------------------------------------- cache entries


def _entry(cache_dir: Path, key: str) -> Path:
    return cache_dir / key[:2] / f"{key}.json"


def _store(cache_dir: Path, key: str, result: FileResult) -> None:
    data = {
        "outcomes": [asdict(o) for o in result.outcomes],
        "warnings": [asdict(w) for w in result.warnings],
    }
    path = _entry(cache_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, ensure_ascii=False, default=str))


def _cached(cache_dir: Path, key: str, path: Path) -> FileResult | None:
    try:
        data = json.loads(_entry(cache_dir, key).read_text(encoding="utf-8"))
        outcomes = tuple(_outcome(o, path) for o in data["outcomes"])
        warnings = tuple(_diagnostic(w) for w in data["warnings"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return FileResult(path, outcomes, warnings, cached=True)


def _diagnostic(data: dict) -> ir.Diagnostic:
    return ir.Diagnostic(**{**data, "span": ir.Span(**data["span"])})


def _outcome(data: dict, path: Path) -> Outcome:
    error = _diagnostic(data["error"]) if data["error"] else None
    notes = tuple(_diagnostic(n) for n in data["notes"])
    return Outcome(**{**data, "rule": str(path), "error": error, "notes": notes})
