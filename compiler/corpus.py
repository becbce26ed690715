"""Converting a corpus: every file parsed once, every target emitted from the same IR, on all
cores in chunks of files converted phase by phase, with an optional cache keyed by content so
that an unchanged rule is not compiled again.

Targets come in groups that share their Sigma pipelines (`Groups`: pipeline names -> targets).
A file's cache key is the SHA-256 of its text, the groups (pipeline names, the text of pipeline
files, targets), the options, and rulec itself (version and the fingerprint of its source files);
its entry holds the outcomes and warnings as JSON. The entries are rows of one SQLite database in
the cache folder, written a few hundred to a transaction: a file per entry cost the system a file
creation and a rename per rule.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

from rulec.backends.base import Options
from rulec.compiler import ir
from rulec.compiler.outcomes import Outcome, convert_files
from rulec.compiler.rules import resolve_pipeline

Progress = Callable[[int, int], None]
Groups = Mapping[tuple[str, ...], Sequence[str]]
PARALLEL_FROM = 32  # fewer files than this convert in this process: a pool costs a second


@dataclass(frozen=True)
class FileResult:
    """One rule file: its outcomes (per rule and target) and the warnings it raised."""

    path: Path
    outcomes: tuple[Outcome, ...]
    warnings: tuple[ir.Diagnostic, ...] = ()
    cached: bool = False


@cache
def fingerprint() -> str:
    """rulec's version and the size and modification time of each of its source files, so that
    an edited (editable) install never reads entries a different compiler wrote."""
    try:
        version = metadata.version("rulec")
    except metadata.PackageNotFoundError:
        version = "unknown"
    root = Path(__file__).resolve().parents[1]
    parts = [version]
    for folder in ("compiler", "backends"):
        for path in sorted((root / folder).rglob("*")):
            if path.suffix in {".py", ".yml", ".j2", ".json"} and path.is_file():
                stat = path.stat()
                parts.append(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def cache_key(text: bytes, groups: Groups, options: Options | None = None) -> str:
    """SHA-256 over the rule text, pipelines (file contents too), targets, options and rulec."""
    digest = hashlib.sha256()
    parts = [text, repr(options).encode(), fingerprint().encode()]
    for pipelines, targets in groups.items():
        parts += [_pipeline_bytes(p) for p in pipelines] + [b"|", *map(str.encode, targets), b";"]
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def _pipeline_bytes(name: str) -> bytes:
    path = Path(name)
    return name.encode() + (path.read_bytes() if path.is_file() else b"")


def convert_corpus(
    files: Sequence[Path],
    groups: Groups,
    options: Options | None = None,
    cache_dir: Path | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    debug: bool = False,
) -> list[FileResult]:
    """Every file to every target, in the order of `files`; cached files are not recompiled."""
    groups = {tuple(p): tuple(t) for p, t in groups.items()}
    results: dict[int, FileResult] = {}
    keys = {}
    with _Cache.opened(cache_dir) as cache:
        for index, path in enumerate(files):
            if cache:
                keys[index] = cache_key(_read(path), groups, options)
                hit = _cached(cache.get(keys[index]), path)
                if hit is not None:
                    results[index] = hit
        todo = [i for i in range(len(files)) if i not in results]
        report = progress or (lambda done, total: None)
        report(len(results), len(files))
        job = _Job(groups, options, debug)
        for index, result in _convert([files[i] for i in todo], todo, job, workers):
            results[index] = result
            if cache:
                cache.put(keys[index], _entry(result))
            report(len(results), len(files))
    return [results[i] for i in range(len(files))]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


@dataclass(frozen=True)
class _Job:
    groups: Mapping[tuple[str, ...], tuple[str, ...]]
    options: Options | None
    debug: bool


def _convert(paths, indexes, job: _Job, workers: int | None):
    """(index, result) pairs, converted in worker processes when there are enough files; each
    task is a chunk of CHUNK files, converted phase by phase (`convert_files`)."""
    if not paths:
        return  # all from the cache: no pipeline to resolve
    count = workers or os.cpu_count() or 1
    chunks = [paths[i : i + CHUNK] for i in range(0, len(paths), CHUNK)]
    if count == 1 or len(paths) < (2 if workers else PARALLEL_FROM):
        _start(job)
        with _fewer_collections():
            results = (result for chunk in chunks for result in _convert_chunk(chunk))
            yield from zip(indexes, results, strict=True)
        return
    if len(chunks) < count * 4:  # few files: smaller chunks keep every worker busy
        size = max(1, -(-len(paths) // (count * 4)))
        chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
    _start(job)  # workers forked from this process find the pipelines resolved
    _load_backends(job)  # and the back ends imported, each once instead of once per worker
    with ProcessPoolExecutor(count, initializer=_start_worker, initargs=(job,)) as pool:
        results = (result for done in pool.map(_convert_chunk, chunks) for result in done)
        yield from zip(indexes, results, strict=True)


_WORKER: dict[str, object] = {}

# Files per task. Converting allocates many short-lived objects linked in cycles (pySigma's back
# references), so Python's collector would run often over objects that die soon anyway: workers
# collect once per chunk instead, which saves a good part of the time and holds little garbage.
CHUNK = 32


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Automatic garbage collection off (`_convert_chunk` collects after each chunk)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _start(job: _Job) -> None:
    """Set-up: resolve each group's pipelines once per process."""
    _WORKER["job"] = job
    _WORKER["pipelines"] = {names: resolve_pipeline(names) for names in job.groups}


def _load_backends(job: _Job) -> None:
    """Import the back ends of the job's targets and read the table schemas they consult,
    which each process would otherwise do on its first rule."""
    from rulec.backends import deploy, schemas
    from rulec.backends.registry import backend_for

    for targets in job.groups.values():
        for target in targets:
            make = deploy.backend if target in deploy.FORMATS else backend_for
            make(target)
    for product in schemas.PRODUCTS:
        schemas.product_tables(product)


def _start_worker(job: _Job) -> None:
    """A worker process's set-up (a forked worker finds it done: the pipelines the starting
    process resolved); what it has loaded so far is never garbage, so later collections skip it
    (`gc.freeze`)."""
    if _WORKER.get("job") is not job:
        _start(job)
    gc.freeze()
    gc.disable()


def _convert_chunk(paths: list[Path]) -> list[FileResult]:
    job: _Job = _WORKER["job"]
    groups = [(_WORKER["pipelines"][names], targets) for names, targets in job.groups.items()]
    converted = convert_files(paths, groups, job.options, job.debug)
    gc.collect(1)  # what this chunk left behind; older objects (results kept) are not read
    return [
        FileResult(path, tuple(outcomes), tuple(warnings))
        for path, (outcomes, warnings) in zip(paths, converted, strict=True)
    ]


# --------------------------------------------------------------------------- cache entries


CACHE_FILE = "entries.sqlite"  # the database in the cache folder
STORE_EVERY = 256  # entries written per transaction


class _Cache:
    """The cache folder's entries (key -> JSON text). A cache that cannot be read is empty, and
    one that cannot be written (disk full) only costs a recompilation next time."""

    def __init__(self, connection: sqlite3.Connection | None):
        self.connection = connection
        self.pending: list[tuple[str, str]] = []

    @classmethod
    @contextmanager
    def opened(cls, folder: Path | None) -> Iterator[_Cache | None]:
        """The cache in `folder` (None without a folder), its last entries written on leaving."""
        if folder is None:
            yield None
            return
        connection = None
        with suppress(OSError, sqlite3.Error):
            folder.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(folder / CACHE_FILE, timeout=60)
            connection.execute(
                "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, entry TEXT NOT NULL)"
            )
        cache = cls(connection)
        try:
            yield cache
        finally:
            cache.write()
            if cache.connection is not None:
                cache.connection.close()

    def get(self, key: str) -> str | None:
        if self.connection is None:
            return None
        try:
            row = self.connection.execute(
                "SELECT entry FROM entries WHERE key = ?", (key,)
            ).fetchone()
        except sqlite3.Error:
            return None
        return row[0] if row else None

    def put(self, key: str, entry: str) -> None:
        self.pending.append((key, entry))
        if len(self.pending) >= STORE_EVERY:
            self.write()

    def write(self) -> None:
        """The pending entries, in one transaction."""
        if self.connection is not None and self.pending:
            with suppress(sqlite3.Error), self.connection:
                self.connection.executemany(
                    "INSERT OR REPLACE INTO entries VALUES (?, ?)", self.pending
                )
        self.pending = []


def _entry(result: FileResult) -> str:
    """A file's outcomes and warnings as a cache entry."""
    data = {
        "outcomes": [
            {
                **vars(o),
                "error": _plain(o.error),
                "notes": [_plain(n) for n in o.notes],
                "warnings": [_plain(w) for w in o.warnings],
            }
            for o in result.outcomes
        ],
        "warnings": [_plain(w) for w in result.warnings],
    }
    return json.dumps(data, ensure_ascii=False, default=str)


def _plain(diagnostic: ir.Diagnostic | None) -> dict | None:
    """A diagnostic as JSON data (`dataclasses.asdict` without its deep copies)."""
    if diagnostic is None:
        return None
    return {**vars(diagnostic), "span": vars(diagnostic.span)}


def _cached(entry: str | None, path: Path) -> FileResult | None:
    if entry is None:
        return None
    try:
        data = json.loads(entry)
        outcomes = tuple(_outcome(o, path) for o in data["outcomes"])
        warnings = tuple(_diagnostic(w) for w in data["warnings"])
    except (ValueError, KeyError, TypeError):
        return None
    return FileResult(path, outcomes, warnings, cached=True)


def _diagnostic(data: dict) -> ir.Diagnostic:
    return ir.Diagnostic(**{**data, "span": ir.Span(**data["span"])})


def _outcome(data: dict, path: Path) -> Outcome:
    error = _diagnostic(data["error"]) if data["error"] else None
    notes = tuple(_diagnostic(n) for n in data["notes"])
    warnings = tuple(_diagnostic(w) for w in data["warnings"])
    plain = {**data, "rule": str(path), "error": error, "notes": notes, "warnings": warnings}
    return Outcome(**plain)
