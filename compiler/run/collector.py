"""How Python's cyclic collector runs while rules run, decided here for `rulec run` and
`run_rules`.

A run keeps its rules and events to the end and allocates millions of short-lived objects;
each full collection, set off again and again as the run allocates, traced every rule and
event and found nothing to free among them (12 full passes, 1.8 s, over 1,000,000 Parquet
events). So what is alive when a run starts is frozen out of the collector (`gc.freeze`) until
it ends (`rulec run` collects once first, the rules read); and `rulec run`, which compiles
thousands of short-lived trees while it reads the rules, collects the youngest objects ten
times less often than Python does by default.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_OBJECTS = 7000  # allocations between collections of the youngest objects during a run

_frozen = 0  # `kept_from_collector` blocks entered and not left
_lock = threading.Lock()


@contextmanager
def kept_from_collector(collected: bool = False) -> Iterator[None]:
    """What is alive now out of the collector's full passes until the outermost such block
    ends; an inner block freezes what was made since (`gc.freeze` is cumulative) and leaves
    the unfreezing to the outermost. Cyclic garbage alive now is kept too, unless `collected`
    first (a full collection: worth it after reading the rules, which leaves much of it; not
    before each of many runs)."""
    global _frozen
    with _lock:
        if collected:
            gc.collect()
        gc.freeze()
        _frozen += 1
    try:
        yield
    finally:
        with _lock:
            _frozen -= 1
            if not _frozen:
                gc.unfreeze()


@contextmanager
def seldom_collections() -> Iterator[None]:
    """The youngest objects collected after YOUNG_OBJECTS allocations (at least), until the
    block ends."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], YOUNG_OBJECTS), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
