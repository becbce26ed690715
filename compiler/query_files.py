"""One query file per rule and target, for `rulec convert -o DIR/`.

`DIR/<target>/<name><suffix>`: the target's folder (`sql:<dialect>` writes to `sql-<dialect>`),
the rule file's path inside the folder named on the command line (or its name, for a file named
directly) without its suffix, and the target's suffix (`.sql`, `.eql`, `.spl`, `.kql`). A file
holding several rules gives `<name>.1`, `<name>.2`, ... in the order of its rules. Names come from
the rule files' paths only, never from a value inside a rule. Everything with the target's suffix
under a target's folder is rulec's: a file there that no rule writes is stale; the files of a
rule that failed this time are kept as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from rulec.compiler.folder_sync import Plan
from rulec.compiler.outcomes import Outcome

SUFFIXES = {"eql": ".eql", "spl": ".spl", "kql": ".kql"}  # the SQL targets write `.sql`


class NameClash(ValueError):
    """Two rules would write the same file."""


def suffix_of(target: str) -> str:
    return SUFFIXES.get(target, ".sql")


def folder_of(target: str) -> PurePosixPath:
    return PurePosixPath(target.replace(":", "-"))


def rule_names(files: Iterable[Path], paths: Sequence[str | Path]) -> dict[str, PurePosixPath]:
    """Each rule file (as its outcomes name it) -> its path inside the first folder of `paths`
    that holds it (a file named directly: its name), without the suffix."""
    folders = [Path(p) for p in paths if Path(p).is_dir()]
    names = {}
    for file in files:
        inside = next((file.relative_to(f) for f in folders if file.is_relative_to(f)), None)
        names[str(file)] = PurePosixPath((inside or Path(file.name)).with_suffix("").as_posix())
    return names


def plan_queries(
    outcomes: Sequence[Outcome], names: dict[str, PurePosixPath], targets: Sequence[str]
) -> Plan:
    """The files `outcomes` give, the folders of `targets` (owned), and the files of failed
    rules (kept). Raises `NameClash` when two rules would write one file."""
    grouped: dict[tuple[str, str], list[Outcome]] = {}
    for outcome in outcomes:
        grouped.setdefault((outcome.rule, outcome.target), []).append(outcome)
    files: dict[PurePosixPath, str] = {}
    writers: dict[PurePosixPath, str] = {}
    keep = []
    for (rule, target), group in grouped.items():
        base = folder_of(target) / names[rule]
        suffix = suffix_of(target)
        if not all(o.ok for o in group):
            keep.append(re.escape(str(base)) + r"(\.[0-9]+)?" + re.escape(suffix))
        for position, outcome in enumerate(group, 1):
            stem = str(base) if len(group) == 1 else f"{base}.{position}"
            path = PurePosixPath(stem + suffix)
            if path in writers and writers[path] != rule:
                raise NameClash(f"{writers[path]} and {rule} would both write {path}")
            writers[path] = rule
            if outcome.ok:
                files[path] = f"{outcome.query}\n"
    owned = tuple((folder_of(t), suffix_of(t)) for t in targets)
    return Plan(files, owned, tuple(keep))
