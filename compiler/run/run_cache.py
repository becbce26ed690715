"""What `rulec run` keeps between runs in a cache folder (`--cache DIR`), keyed by content and
by rulec's version (`corpus.fingerprint`): each rule file's rules as IR, with the warnings that
reading them gave; and, for tables of the same columns, each rule's plan in the shared scan.
A second run over new logs skips reading the rules, and over logs of the same columns,
planning them too. An entry that is missing, unreadable or cannot be written only costs the
work it would have saved. Entries are pickles: the folder is trusted as rulec's own code is.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path

from rulec.compiler import ir
from rulec.compiler.atomic import write_atomic
from rulec.compiler.corpus import fingerprint

Item = ir.Query | ir.Diagnostic
Warn = Callable[[ir.Diagnostic], None]


def content_key(*parts: bytes) -> str:
    """SHA-256 over the parts (each framed by its length) and rulec's fingerprint."""
    digest = hashlib.sha256()
    for part in (fingerprint().encode(), *parts):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def reading_key(pipelines: Sequence[str], windows: bool) -> bytes:
    """How the rules are read: each rule scoped to its Windows logs, or through the named
    pipelines (a pipeline file's text included)."""
    parts = [b"windows" if windows else b"pipelines"]
    for name in pipelines:
        path = Path(name)
        parts += [name.encode(), path.read_bytes() if path.is_file() else b""]
    return b"\0".join(parts)


class RunCache:
    """The cache folder: rule files read before, and the plans of earlier runs."""

    def __init__(self, folder: Path):
        self.folder = folder

    def rules(self, path: Path, reading: bytes, load: Callable[[Warn], list[Item]], warn: Warn):
        """The rules of `path` read by `load(warn)`, or as an earlier run read them (its
        warnings given to `warn` again)."""
        try:
            key = content_key(path.read_bytes(), reading)
        except OSError:
            return load(warn)
        entry = self._entry(key, "rules")
        found = self._read(entry)
        if found is not None:
            items, warnings = found
            for warning in warnings:
                warn(warning)
            return items
        warnings: list[ir.Diagnostic] = []
        items = load(lambda w: (warnings.append(w), warn(w)))
        self._write(entry, (items, warnings))
        return items

    def plans(self, context: bytes) -> Plans:
        """The plans an earlier run made in this context (the tables' columns, the clock...)."""
        entry = self._entry(content_key(context), "plans")
        return Plans(self, entry, self._read(entry) or {})

    def _entry(self, key: str, kind: str) -> Path:
        return self.folder / key[:2] / f"{key}.{kind}.pickle"

    def _read(self, entry: Path):
        with suppress(OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            return pickle.loads(entry.read_bytes())
        return None

    def _write(self, entry: Path, value: object) -> None:
        with suppress(OSError, pickle.PicklingError, TypeError):
            write_atomic(entry, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


class Plans:
    """Plans by rule (`rule_key`): those found, and those made in this run, written together
    (`save`) so that the entry holds the plans of the last run."""

    def __init__(self, cache: RunCache, entry: Path, found: dict[str, object]):
        self.cache, self.entry, self.found = cache, entry, found
        self.used: dict[str, object] = {}

    def get(self, key: str) -> object | None:
        plan = self.found.get(key)
        if plan is not None:
            self.used[key] = plan
        return plan

    def put(self, key: str, plan: object) -> None:
        self.used[key] = plan

    def save(self) -> None:
        if self.used.keys() != self.found.keys():
            self.cache._write(self.entry, self.used)


def rule_key(query: ir.Query) -> str:
    """A rule's key among the plans: the digest of its IR."""
    return hashlib.sha256(pickle.dumps(query, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()
