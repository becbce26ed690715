"""Coverage-guided fuzzing of a front end with atheris (libFuzzer): run by hand, never in CI.

    pip install atheris
    mkdir -p /tmp/fuzz-sigma /tmp/fuzz-kql
    python tests/fuzz/fuzz_frontend.py sigma -max_total_time=300 -timeout=20 \
        -rss_limit_mb=3072 /tmp/fuzz-sigma rules/sigma
    python tests/fuzz/fuzz_frontend.py kql -max_total_time=300 -timeout=20 \
        -rss_limit_mb=3072 /tmp/fuzz-kql ../shared/corpus/kql/*/

The first argument names the front end (`load_sigma` or `load_kql`); the first folder collects the
inputs that reach new code, the others seed it. A crash is any exception out of the loader or a
result that is not a Query or a diagnostic naming the file; libFuzzer saves the input as `crash-*`
(a hang past -timeout as `timeout-*`) and stops.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import yaml  # noqa: F401  (instrumented for coverage)

    from rulec.compiler import ir
    from rulec.compiler.frontends.kql import load_kql
    from rulec.compiler.frontends.sigma.load import load_sigma

FRONT_ENDS = {"sigma": (load_sigma, "fuzz.yml"), "kql": (load_kql, "fuzz.kql")}


def checker(name: str):
    """The libFuzzer entry point for one front end."""
    load, path = FRONT_ENDS[name]

    def test_one_input(data: bytes) -> None:
        text = data.decode("utf-8", errors="replace")
        for item in load(text, path):
            if isinstance(item, ir.Diagnostic):
                assert item.span.file == path and item.message, item
            else:
                assert isinstance(item, ir.Query), item

    return test_one_input


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in FRONT_ENDS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(FRONT_ENDS)}}} [libFuzzer options] FOLDER...")
    front_end = sys.argv.pop(1)
    atheris.Setup(sys.argv, checker(front_end))
    atheris.Fuzz()
