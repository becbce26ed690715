"""Where `rulec convert` spends its processor time, phase by phase, in one process.

Converts a rule folder as one worker of `rulec convert` does (32 files at a time, each chunk
phase by phase, garbage collected once per chunk), to the five targets through their default
pipelines, and prints the processor seconds of each phase: reading and parsing the files (with
the copies each pipeline group gets), lowering them through each pipeline group (named by its
targets), emitting each target, and collecting garbage. Start-up (imports, resolving the
pipelines) is printed apart.

    python benchmarks/convert_phases.py
    python benchmarks/convert_phases.py --rules ../shared/corpus/sigma/rules/windows
"""

from __future__ import annotations

import argparse
import gc
import time
from collections import defaultdict
from pathlib import Path

STARTED = time.process_time()

from rulec.backends.base import Options  # noqa: E402  (imports are timed)
from rulec.backends.pipelines import default_pipeline, located  # noqa: E402
from rulec.compiler import ir  # noqa: E402
from rulec.compiler.corpus import CHUNK  # noqa: E402
from rulec.compiler.frontends.sigma import lowering_order  # noqa: E402
from rulec.compiler.outcomes import emit_one  # noqa: E402
from rulec.compiler.rules import prepare, resolve_pipeline  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
TARGETS = ["duckdb", "postgres", "eql", "spl", "kql"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, default=SHARED / "corpus" / "sigma" / "rules")
    args = parser.parse_args()
    imported = time.process_time()
    groups: dict[tuple[str, ...], list[str]] = {}
    for target in TARGETS:
        groups.setdefault(tuple(located(default_pipeline(target))), []).append(target)
    pipelines = [resolve_pipeline(names) for names in groups]
    resolved = time.process_time() - imported
    print(f"imports {imported - STARTED:.2f} s, resolving the pipelines {resolved:.2f} s")
    names = list(groups.values())
    files = sorted(args.rules.rglob("*.yml"))
    seconds: dict[str, float] = defaultdict(float)
    options = Options()
    gc.freeze()
    gc.disable()
    for start in range(0, len(files), CHUNK):
        clock = time.process_time()
        prepared = [prepare(path, pipelines) for path in files[start : start + CHUNK]]
        seconds["read and parse"] += time.process_time() - clock
        lowered: dict[int, list] = {}
        for index in lowering_order(pipelines):
            clock = time.process_time()
            lowered[index] = [p.lower(index, pipelines[index]) for p in prepared]
            seconds[f"lower for {', '.join(names[index])}"] += time.process_time() - clock
        for p in prepared:
            p.release()
        for index, targets in enumerate(groups.values()):
            queries = [q for items in lowered[index] for q in items if isinstance(q, ir.Query)]
            for target in targets:
                clock = time.process_time()
                for query in queries:
                    emit_one(Path("rule.yml"), query, target, options, False)
                seconds[f"emit {target}"] += time.process_time() - clock
        del prepared, lowered
        clock = time.process_time()
        gc.collect(1)
        seconds["collect garbage"] += time.process_time() - clock
    total = sum(seconds.values())
    for phase, spent in sorted(seconds.items(), key=lambda item: -item[1]):
        print(f"{phase:28s} {spent:6.2f} s  {spent / total:6.1%}")
    print(f"{len(files)} files, {total:.2f} s of processor time in the phases")


if __name__ == "__main__":
    main()
