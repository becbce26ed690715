"""The Sigma front end: YAML documents with their spans, lowered through pySigma into the IR."""

from __future__ import annotations

from collections.abc import Sequence


def lowering_order(pipelines: Sequence[object | None]) -> list[int]:
    """The order in which a prepared file is lowered through `pipelines`: without a pipeline
    first, since that lowering may share the parsed rules which the pipelines change."""
    return sorted(range(len(pipelines)), key=lambda i: pipelines[i] is not None)
