"""What a run of `convert` or `run` did, for people: failures once each, and a closing summary.

A rule that cannot be read fails for every target, but it is one failure: `failures` reports each
failing rule's diagnostic once, naming the targets it holds for when it does not hold for all of
them (a pipeline's transformation error for `kql` alone, an `eql` limitation). The summaries go to
standard error, after everything else; the results on standard output are unchanged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from rulec.compiler import ir
from rulec.compiler.outcomes import Outcome


def failures(outcomes: Iterable[Outcome]) -> list[ir.Diagnostic]:
    """Each distinct failure once, in order; `target` names its targets unless it holds for all
    the targets of the run."""
    outcomes = list(outcomes)
    everything = list(dict.fromkeys(o.target for o in outcomes))
    held: dict[tuple[str, ir.Diagnostic], list[str]] = {}
    for outcome in outcomes:
        if outcome.error is not None:
            key = (outcome.rule, replace(outcome.error, target=None))
            held.setdefault(key, []).append(outcome.target)
    return [
        replace(diagnostic, target=None if targets == everything else ", ".join(targets))
        for (_, diagnostic), targets in held.items()
    ]


def convert_summary(outcomes: Sequence[Outcome], files: int) -> str:
    """Per target the rules converted and failed, then the failures counted by reason."""
    targets = list(dict.fromkeys(o.target for o in outcomes))
    width = max((len(t) for t in targets), default=0)
    lines = [f"summary: {files} file{_s(files)}"]
    for target in targets:
        done = [o.ok for o in outcomes if o.target == target]
        lines.append(f"  {target:<{width}}  {sum(done)} converted, {done.count(False)} failed")
    lines += _reasons(failures(outcomes))
    return "\n".join(lines)


@dataclass(frozen=True)
class RunCount:
    """What `rulec run` did: rules run, failed and matched; the events matched (each once, by
    its `_row`) and the alerts (rows of aggregations and correlations, which have no `_row`)."""

    rules: int
    failed: int
    matched: int
    events: int
    alerts: int
    seconds: float


def count_run(results: Iterable[list[object] | None], seconds: float) -> RunCount:
    """Count each rule's rows, given as their `_row`s (None for a rule that failed; a row
    without `_row`, an alert, as None)."""
    rules = failed = matched = alerts = 0
    events: set[object] = set()
    for found in results:
        rules += 1
        if found is None:
            failed += 1
            continue
        matched += bool(found)
        for number in found:
            if number is None:
                alerts += 1
            else:
                events.add(number)
    return RunCount(rules, failed, matched, len(events), alerts, seconds)


def run_summary(count: RunCount, errors: Sequence[ir.Diagnostic]) -> str:
    """The run's counts and time, then the failures counted by reason."""
    found = f"{count.events} event{_s(count.events)}"
    if count.alerts:
        found += f", {count.alerts} alert{_s(count.alerts)}"
    line = (
        f"summary: {count.rules} rule{_s(count.rules)} run, {count.matched} matched ({found}), "
        f"{count.failed} failed, {count.seconds:.1f} s"
    )
    return "\n".join([line, *_reasons(errors)])


def _reasons(errors: Sequence[ir.Diagnostic]) -> list[str]:
    if not errors:
        return []
    counted = Counter(e.code + (f" [{e.target}]" if e.target else "") for e in errors)
    width = len(str(max(counted.values())))
    return ["failures by reason:"] + [
        f"  {n:>{width}}  {reason}" for reason, n in counted.most_common()
    ]


def _s(n: int) -> str:
    return "" if n == 1 else "s"
