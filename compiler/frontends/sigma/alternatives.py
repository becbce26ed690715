"""Alternative processing pipelines: each rule goes through the first one that accepts it.

A SIEM reached through several published pipelines (KQL: Defender XDR tables, else Sentinel's)
is named `-p 'microsoft_xdr|azure_monitor'`: a rule goes through `microsoft_xdr` when that
pipeline maps its log source and fields to one of its tables, else through `azure_monitor`, and
so on. A rule none of them accepts gets one diagnostic with each pipeline's reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaTransformationError
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule

from rulec.compiler.frontends.sigma.errors import pysigma_message
from rulec.compiler.frontends.sigma.release import release
from rulec.compiler.frontends.sigma.snapshot import Snapshot

SEPARATOR = "|"
Rule = TypeVar("Rule", SigmaRule, SigmaCorrelationRule)


def split_alternatives(names: Sequence[str]) -> tuple[list[str], list[str], list[str]] | None:
    """`names` as (before, alternatives, after) around the one name holding `|`, else None."""
    marked = [i for i, name in enumerate(names) if SEPARATOR in name]
    if not marked:
        return None
    if len(marked) > 1:
        raise ValueError("only one -p value may list alternatives ('a|b')")
    at = marked[0]
    alternatives = [part.strip() for part in names[at].split(SEPARATOR)]
    if not all(alternatives):
        raise ValueError(f"'{names[at]}' has an empty alternative")
    return list(names[:at]), alternatives, list(names[at + 1 :])


@dataclass
class FirstAccepting:
    """Pipelines tried in order on each rule; the first that accepts it is applied to it.

    Duck-types the part of `ProcessingPipeline` the front end uses: `apply` (whose result the
    front end uses) and `state`.
    """

    names: tuple[str, ...]
    pipelines: tuple[ProcessingPipeline, ...]
    state: dict[str, Any] = field(default_factory=dict)
    chosen: str | None = None

    def apply(self, rule: Rule) -> Rule:
        """`apply_first`: use the rule it returns, which need not be `rule` itself."""
        return self.apply_first(rule)

    def apply_first(
        self,
        rule: Rule,
        snapshot: Snapshot | None = None,
        refuses: Callable[[Rule], str | None] | None = None,
    ) -> Rule:
        """The rule as the first accepting pipeline leaves it.

        The first pipeline works on `rule` itself, which a rejection may leave half-processed;
        each other one on a copy restored from `snapshot` (the rule as it is now, taken here
        unless the caller has it), or on the rule the one before refused when that one changed
        nothing (`_untouched`). The accepted one is returned in place of `rule`. `refuses`
        tells why a rule as a pipeline left it cannot be read (None when it can): that
        pipeline is then passed over too.
        """
        if snapshot is None and len(self.pipelines) > 1:
            snapshot = Snapshot.of(rule)
        source = _logsource(rule)
        reasons = []
        candidate: Rule | None = rule
        for name, pipeline in zip(self.names, self.pipelines, strict=True):
            if candidate is None:
                candidate = snapshot.restore()  # type: ignore[union-attr]
            try:
                pipeline.apply(candidate)
            except SigmaError as error:
                reasons.append(f"{_label(name)}: {_first_sentence(pysigma_message(error))}")
                if _untouched(pipeline):
                    continue
            except Exception as error:  # a pipeline failing inside, on a rule it did not expect
                failure = f"the pipeline fails on this rule ({type(error).__name__})"
                reasons.append(f"{_label(name)}: {failure}")
            else:
                refusal = refuses(candidate) if refuses else None
                if not refusal:
                    self.state, self.chosen = pipeline.state, name
                    return candidate
                reasons.append(f"{_label(name)}: {refusal}")
            if candidate is not rule:  # a rejected copy (`rule` itself is the caller's)
                release(candidate)
            candidate = None
        raise SigmaTransformationError(
            f"no pipeline of {' | '.join(map(_label, self.names))} has a table and fields for "
            f"this rule's log source ({source}): " + "; ".join(reasons)
        )

    def after(self, name: str | None) -> FirstAccepting | None:
        """The alternatives after `name` (the one that read a rule whose query the target
        cannot write), or None when it was the last or is none of them."""
        if name not in self.names or name == self.names[-1]:
            return None
        at = self.names.index(name) + 1
        return FirstAccepting(self.names[at:], self.pipelines[at:])


# Transformations that refuse a rule before changing it (pySigma's own code, read for this):
# a rule refused by one of them with no item applied before it is the rule as it was given.
UNCHANGED_ON_REFUSAL = frozenset(
    {
        "sigma.processing.transformations.failure.RuleFailureTransformation",
        "sigma.pipelines.kusto_common.transformations.SetQueryTableStateTransformation",
    }
)


def _untouched(pipeline: ProcessingPipeline) -> bool:
    """Whether the processing item that refused the rule was the first to do anything to it,
    and refuses before changing it: the rule is then as the pipeline found it."""
    applied, items = getattr(pipeline, "applied", None), getattr(pipeline, "items", ())
    if type(applied) is not list or any(applied) or len(applied) >= len(items):
        return False
    kind = type(items[len(applied)].transformation)
    return f"{kind.__module__}.{kind.__qualname__}" in UNCHANGED_ON_REFUSAL


def _logsource(rule: SigmaRule | SigmaCorrelationRule) -> str:
    source = getattr(rule, "logsource", None)
    keys = ("product", "category", "service")
    named = [f"{key}: {getattr(source, key)}" for key in keys if getattr(source, key, None)]
    return ", ".join(named) or "none"


def _label(name: str) -> str:
    """A pipeline as messages name it: a YAML file by its name without folder and suffix."""
    path = Path(name)
    return path.stem if path.suffix in (".yml", ".yaml") else name


def _first_sentence(text: str) -> str:
    """The gist of a pipeline's error: its first line without the list of valid fields."""
    line = " ".join(text.split("\n")[0].split()).split(", or the following fields")[0]
    if line.endswith(":") and ". " in line:
        line = line.split(". ")[0] + "."
    return line


def first_accepting(
    names: Sequence[str], resolve: Callable[[list[str]], ProcessingPipeline]
) -> FirstAccepting | None:
    """The alternatives named in `names` (see `split_alternatives`), or None if there are none;
    `resolve` combines a list of pipeline names into one pipeline."""
    parts = split_alternatives(names)
    if parts is None:
        return None
    before, alternatives, after = parts
    pipelines = tuple(resolve([*before, name, *after]) for name in alternatives)
    return FirstAccepting(tuple(alternatives), pipelines)
