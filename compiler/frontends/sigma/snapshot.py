"""Copies of a parsed Sigma rule, one for each pipeline that is to process it.

A pipeline changes the rule it processes: its detections and log source (in place or replaced)
and the containers of its header (`fields`, `custom_attributes`, the processing items applied).
A `Snapshot` pickles only the detections and log source and keeps the rest of the rule as a
shallow copy with containers of its own, so a copy unpickles a fraction of the rule (its title,
description, references and tags are shared, as nothing changes them). A rule of any other kind
is pickled whole.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

from sigma.rule import SigmaRule

DEEP = ("detection", "logsource")  # what a snapshot pickles; the rest is copied shallowly


@dataclass(frozen=True)
class Snapshot:
    """A rule as it was when taken; each `restore` makes a new copy of it."""

    pickled: bytes
    header: Any = None  # the rest of a SigmaRule, never handed out; None: `pickled` is it all

    @classmethod
    def of(cls, rule: Any) -> Snapshot:
        """Raises what pickling raises for a rule that cannot be pickled."""
        if type(rule) is not SigmaRule:
            return cls(pickle.dumps(rule, pickle.HIGHEST_PROTOCOL))
        deep = tuple(getattr(rule, name) for name in DEEP)
        return cls(pickle.dumps(deep, pickle.HIGHEST_PROTOCOL), _header(rule))

    def restore(self) -> Any:
        if self.header is None:
            return pickle.loads(self.pickled)
        rule = _header(self.header)
        for name, value in zip(DEEP, pickle.loads(self.pickled), strict=True):
            setattr(rule, name, value)
        return rule


def _header(rule: SigmaRule) -> SigmaRule:
    """A shallow copy of `rule` with its own lists, dictionaries and sets, without the parts a
    snapshot pickles."""
    copy = object.__new__(SigmaRule)
    copy.__dict__.update(
        (name, value.copy() if type(value) in (list, dict, set) else value)
        for name, value in vars(rule).items()
    )
    for name in DEEP:
        copy.__dict__[name] = None
    return copy
