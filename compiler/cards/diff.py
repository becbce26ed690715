"""`rulec diff OLD NEW`: what an edit did to rules, in card terms, and to each target's query.

OLD and NEW are rule files, folders (files paired by their path inside the folder) or
`git:REV:PATH` (the file as commit REV has it, read with `git show`). Rules inside a pair of
files are paired by id, then by position. Each pair is compared through its cards
(`passes.card_diff`) and by emitting both versions for every target.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rulec.backends.base import Options
from rulec.backends.pipelines import pipeline_sets
from rulec.backends.registry import emit
from rulec.compiler import ir
from rulec.compiler.cards.attack import AttackData
from rulec.compiler.cards.card_diff import Change, rule_changes
from rulec.compiler.cards.render import ENV
from rulec.compiler.report import diagnostic_json, diagnostic_text
from rulec.compiler.rules import LANGUAGES, discover, prepare_text, read_text, resolve_pipeline

DEFAULT_TARGETS = ("duckdb", "eql", "spl", "kql")
DIFF_VERSION = 1
FORMATS = ("md", "json", "github")
Loaded = list[ir.Query | ir.Diagnostic]


@dataclass(frozen=True)
class Version:
    """One rule file's text: `label` names it for the reader; its suffix picks the front end."""

    label: str
    text: str

    @property
    def language(self) -> str | None:
        return LANGUAGES.get(Path(self.label).suffix.lower())


@dataclass(frozen=True)
class TargetChange:
    """One target: `unchanged`, `changed`, `now fails`, `now converts` or `fails`; for an added
    rule, `added` or `fails`."""

    target: str
    status: str
    old_error: str | None = None
    new_error: str | None = None


@dataclass(frozen=True)
class RuleDiff:
    """One rule: `changed`, `unchanged`, `added` or `removed`, with its changes per aspect."""

    old: str | None
    new: str | None
    id: str | None
    title: str | None
    status: str
    changes: tuple[Change, ...] = ()
    targets: tuple[TargetChange, ...] = ()


@dataclass(frozen=True)
class DiffReport:
    old: str
    new: str
    rules: tuple[RuleDiff, ...]
    errors: tuple[ir.Diagnostic, ...] = ()

    @property
    def changed(self) -> bool:
        return any(r.status != "unchanged" for r in self.rules)


def read_versions(spec: str) -> dict[str, Version]:
    """The rule files OLD or NEW names, by their path inside a folder (`.` for one file)."""
    if spec.startswith("git:"):
        return _git_versions(spec)
    path = Path(spec)
    if not path.exists():
        raise _error("diff.missing", "no such file or folder", spec)
    if not path.is_dir():
        return {".": Version(spec, read_text(path))}
    return {str(f.relative_to(path)): Version(str(f), read_text(f)) for f in discover([path])}


def _git_versions(spec: str) -> dict[str, Version]:
    """`git:REV:PATH`: one file, or every rule file of a folder as commit REV has them (PATH
    from the repository's root, as `git show` reads it)."""
    _, _, rest = spec.partition(":")
    rev, sep, path = rest.partition(":")
    if not sep or not rev or not path:
        raise _error("diff.git", "expected git:REV:PATH, e.g. git:HEAD~1:rules/x.yml", spec)
    if _git(spec, "cat-file", "-t", f"{rev}:{path}").strip() != b"tree":
        return {".": Version(spec, _decode(_git(spec, "show", f"{rev}:{path}"), spec))}
    folder = path.rstrip("/")
    listed = _git(spec, "ls-tree", "-r", "-z", "--name-only", "--full-tree", rev, "--", folder)
    names = [
        name
        for name in listed.decode("utf-8", "replace").split("\0")
        if Path(name).suffix.lower() in LANGUAGES and "\n" not in name
    ]
    batch = "".join(f"{rev}:{name}\n" for name in names).encode()
    blobs = _blobs(_git(spec, "cat-file", "--batch", given=batch))
    return {
        name[len(folder) + 1 :]: Version(f"git:{rev}:{name}", _decode(blob, f"git:{rev}:{name}"))
        for name, blob in zip(names, blobs, strict=True)
    }


def _blobs(output: bytes) -> list[bytes]:
    """The contents `git cat-file --batch` printed, in order (`<id> blob <size>`, the bytes)."""
    found, at = [], 0
    while at < len(output):
        header_end = output.index(b"\n", at)
        size = int(output[at:header_end].split()[2])
        found.append(output[header_end + 1 : header_end + 1 + size])
        at = header_end + 1 + size + 1
    return found


def _git(spec: str, *args: str, given: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args], input=given, capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise _error("diff.git", f"git could not be run ({error})", spec) from None
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise _error("diff.git", reason[-1] if reason else f"git {args[0]} failed", spec)
    return done.stdout


def _decode(data: bytes, label: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _error("io.encoding", "not UTF-8", label) from None


def _error(code: str, message: str, file: str) -> ir.RuleError:
    return ir.RuleError(ir.Diagnostic(code, message, ir.Span(file)))


def load_version(version: Version, pipeline: object | None) -> Loaded:
    """Every rule of one version; error diagnostics stand in for rules that fail."""
    items = prepare_text(version.text, version.label, [pipeline]).lower(0, pipeline)
    return [i for i in items if not isinstance(i, ir.Diagnostic) or i.severity == "error"]


def pair_rules(old: Loaded, new: Loaded) -> list[tuple[int | None, int | None]]:
    """Indexes of paired rules: same id first, then the rest in order; None where one lacks it."""
    ids = {_id(q): i for i, q in enumerate(old) if _id(q)}
    pairs: dict[int, int | None] = {}
    for j, query in enumerate(new):
        if _id(query) in ids and ids[_id(query)] not in pairs:
            pairs[ids[_id(query)]] = j
    taken = set(pairs.values())
    rest_old = [i for i in range(len(old)) if i not in pairs]
    rest_new = [j for j in range(len(new)) if j not in taken]
    found: list[tuple[int | None, int | None]] = sorted(pairs.items())
    for k in range(max(len(rest_old), len(rest_new))):
        i = rest_old[k] if k < len(rest_old) else None
        j = rest_new[k] if k < len(rest_new) else None
        found.append((i, j))
    return found


def _id(item: ir.Query | ir.Diagnostic) -> str | None:
    return item.meta.id if isinstance(item, ir.Query) else None


def diff(
    old_spec: str,
    new_spec: str,
    targets: Sequence[str] = DEFAULT_TARGETS,
    attack: AttackData | None = None,
    options: Options | None = None,
) -> DiffReport:
    """Compare OLD with NEW: every rule's card changes and each target's query."""
    try:
        old, new = read_versions(old_spec), read_versions(new_spec)
        if ("." in old) != ("." in new):
            message = "compare a folder with a folder, a file with a file"
            raise _error("diff.usage", message, new_spec)
    except ir.RuleError as error:
        return DiffReport(old_spec, new_spec, (), (error.diagnostic,))
    rules: list[RuleDiff] = []
    errors: list[ir.Diagnostic] = []
    for name in sorted(old.keys() | new.keys()):
        found, failed = _file_diff(old.get(name), new.get(name), targets, attack, options)
        rules += found
        errors += failed
    return DiffReport(old_spec, new_spec, tuple(rules), tuple(errors))


def _file_diff(
    old: Version | None,
    new: Version | None,
    targets: Sequence[str],
    attack: AttackData | None,
    options: Options | None,
) -> tuple[list[RuleDiff], list[ir.Diagnostic]]:
    plain = (_load(old, None), _load(new, None))
    errors = [i for side in plain for i in side if isinstance(i, ir.Diagnostic)]
    if errors:
        return [], errors
    emitted = _emitted((old, new), plain, targets, options)
    found = []
    for i, j in pair_rules(*plain):
        a = plain[0][i] if i is not None else None
        b = plain[1][j] if j is not None else None
        outcomes = [(t, _at(side[0], i), _at(side[1], j)) for t, side in emitted.items()]
        found.append(_rule_diff(a, b, attack, outcomes))
    return found, []


def _at(items: list, index: int | None) -> tuple[str | None, str | None]:
    if index is None or index >= len(items):
        return None, "the rule is missing when read with this target's pipeline"
    return items[index]


def _load(version: Version | None, pipeline: object | None) -> Loaded:
    return load_version(version, pipeline) if version else []


Emitted = tuple[list, list]  # per side, per rule: (query text or None, error message or None)


def _emitted(
    versions: tuple[Version | None, Version | None],
    plain: tuple[Loaded, Loaded],
    targets: Sequence[str],
    options: Options | None,
) -> dict[str, Emitted]:
    """Each target's output for every rule of both versions, read with its Sigma pipelines
    (`plain`, the rules read without one, serve SQL targets and KQL files)."""
    sigma = any(v is not None and v.language == "sigma" for v in versions)
    found: dict[str, Emitted] = {}
    for names, group in pipeline_sets(targets).items():
        sides = plain
        if names and sigma:
            pipeline = resolve_pipeline(names)
            sides = (_load(versions[0], pipeline), _load(versions[1], pipeline))
        for target in group:
            found[target] = tuple([_emit_one(target, i, options) for i in side] for side in sides)
    return {t: found[t] for t in targets}


def _emit_one(target: str, item: ir.Query | ir.Diagnostic, options: Options | None):
    if isinstance(item, ir.Diagnostic):
        return None, item.message
    try:
        return emit(target, item, options).text, None
    except ir.RuleError as error:
        return None, error.diagnostic.message


def _rule_diff(
    old: ir.Query | None, new: ir.Query | None, attack: AttackData | None, outcomes: list
) -> RuleDiff:
    some = new or old
    where = (old.meta.path if old else None, new.meta.path if new else None)
    if new is None:
        return RuleDiff(*where, some.meta.id, some.meta.title, "removed")
    if old is None:
        targets = tuple(
            TargetChange(t, "fails" if error else "added", new_error=error)
            for t, _, (_, error) in outcomes
        )
        return RuleDiff(*where, new.meta.id, new.meta.title, "added", targets=targets)
    targets = tuple(_target_change(t, a, b) for t, a, b in outcomes)
    changes = rule_changes(old, new, attack)
    moved = any(t.status != "unchanged" and t.status != "fails" for t in targets)
    status = "changed" if changes or moved else "unchanged"
    return RuleDiff(*where, new.meta.id, new.meta.title, status, changes, targets)


def _target_change(target: str, old: tuple, new: tuple) -> TargetChange:
    (a, a_error), (b, b_error) = old, new
    if a_error and b_error:
        status = "fails"
    elif a_error:
        status = "now converts"
    elif b_error:
        status = "now fails"
    else:
        status = "unchanged" if a == b else "changed"
    return TargetChange(target, status, a_error, b_error)


def report_json(report: DiffReport) -> dict:
    """The report's JSON form: every rule's changes and targets, and the errors."""
    return {
        "diff_version": DIFF_VERSION,
        "old": report.old,
        "new": report.new,
        "changed": report.changed,
        "rules": [dataclasses.asdict(rule) for rule in report.rules],
        "errors": [diagnostic_json(error) for error in report.errors],
    }


def render_diff(report: DiffReport, fmt: str) -> str:
    """The report as `json` (one line), `md`, or `github` (a pull-request comment: a table of
    the changed rules, their change in meaning and each target's query, details folded)."""
    if fmt == "json":
        return json.dumps(report_json(report), ensure_ascii=False) + "\n"
    if fmt == "github":
        return ENV.get_template("diff.github.j2").render(
            report=report,
            summary=summary(report),
            changed=[rule for rule in report.rules if rule.status != "unchanged"],
            targets=list(dict.fromkeys(t.target for rule in report.rules for t in rule.targets)),
            statuses=lambda rule: {t.target: t.status for t in rule.targets},
            failures=lambda rule: [t for t in rule.targets if t.new_error],
            errors=[diagnostic_text(error) for error in report.errors],
        )
    template = ENV.get_template("diff.md.j2")
    return template.render(report=report, summary=summary(report))


def summary(report: DiffReport) -> str:
    """`2 of 3 rules changed`, or what stopped the comparison."""
    if report.errors:
        return f"{len(report.errors)} error(s); nothing compared for those files"
    changed = sum(1 for rule in report.rules if rule.status != "unchanged")
    if not changed:
        return "no change in meaning"
    return f"{changed} of {len(report.rules)} rules changed"
