"""Deploy artefacts as files: one per rule and format, named after the rule, each written
atomically (as the products' rule repositories keep them: a Sentinel YAML, an Elastic rule, a
Defender detection or a `savedsearches.conf` stanza per file).

`artefact_files` decides the names and texts without touching the disk (so a caller can compare
them with a folder); `write_artefacts` writes them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from rulec.backends.deploy import SUFFIXES
from rulec.compiler.atomic import write_atomic
from rulec.compiler.convert import Outcome

UNSAFE = re.compile(r"[^a-z0-9]+")


def artefact_files(format: str, outcomes: Iterable[Outcome]) -> dict[str, str]:
    """File name -> artefact text for each converted rule: its rule file's name, with the
    rule's title when the file holds several rules; a name taken twice gets `-2`, `-3`, ..."""
    converted = [o for o in outcomes if o.ok and o.query is not None]
    per_file = Counter(o.rule for o in converted)
    files: dict[str, str] = {}
    for outcome in converted:
        stem = slug(Path(outcome.rule).stem) or "rule"
        if per_file[outcome.rule] > 1:
            stem += "_" + (slug(outcome.title or outcome.id or "") or "rule")
        name, number = stem, 1
        while name + SUFFIXES[format] in files:
            number += 1
            name = f"{stem}-{number}"
        files[name + SUFFIXES[format]] = outcome.query  # type: ignore[assignment]
    return files


def slug(text: str) -> str:
    """`text` as a file name: lower case letters and digits joined by `_` (at most 100)."""
    return UNSAFE.sub("_", text.lower()).strip("_")[:100].rstrip("_")


def write_artefacts(folder: Path, files: Mapping[str, str]) -> None:
    """Write each file into `folder` (created if needed), each one atomically."""
    for name, text in files.items():
        write_atomic(folder / name, text)
