"""The collector's policy during a run (`compiler/run/collector.py`). Oracle: the interpreter's
own count of frozen objects (`gc.get_freeze_count`)."""

from __future__ import annotations

import gc

from rulec.compiler.run.collector import kept_from_collector


def test_an_inner_run_leaves_what_the_outer_one_froze_frozen_until_the_outer_one_ends():
    gc.unfreeze()
    with kept_from_collector():
        outer = gc.get_freeze_count()
        assert outer > 0
        made_since = [[index] for index in range(1000)]
        with kept_from_collector():
            assert gc.get_freeze_count() >= outer + len(made_since)
        assert gc.get_freeze_count() >= outer + len(made_since)
    assert gc.get_freeze_count() == 0
