"""Deploy artefacts as files: one per rule and format, named after the rule, each written
atomically (as the products' rule repositories keep them: a Sentinel YAML, an Elastic rule, a
Defender detection or a `savedsearches.conf` stanza per file).

`artefact_files` decides the names and texts without touching the disk; `artefact_plan` hands
them to the folder writer (`compiler/folder_sync.py`: atomic writes, `--check`, `--prune`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from rulec.backends.deploy_targets import SUFFIXES
from rulec.compiler.folder_sync import Plan
from rulec.compiler.outcomes import Outcome

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


def artefact_plan(format: str, outcomes: Iterable[Outcome]) -> Plan:
    """The folder `-o DIR/` holds for `format`: one artefact per converted rule; every file of
    the format's suffix at the top of the folder is the generator's."""
    files = {PurePosixPath(name): text for name, text in artefact_files(format, outcomes).items()}
    return Plan(files, ((PurePosixPath("."), SUFFIXES[format]),))
