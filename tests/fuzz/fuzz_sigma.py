"""Coverage-guided fuzzing of `load_sigma` with atheris (libFuzzer): run by hand, never in CI.

    pip install atheris
    mkdir -p /tmp/fuzz-sigma
    python tests/fuzz/fuzz_sigma.py -max_total_time=300 -timeout=20 -rss_limit_mb=3072 \
        /tmp/fuzz-sigma rules/sigma

The first folder collects the inputs that reach new code; the others seed it. A crash is any
exception out of `load_sigma` or a result that is not a Query or a diagnostic naming the file;
libFuzzer saves the input as `crash-*` (a hang past -timeout as `timeout-*`) and stops.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import yaml  # noqa: F401  (instrumented for coverage)

    from rulec.compiler import ir
    from rulec.compiler.frontends.sigma import load_sigma

PATH = "fuzz.yml"


def test_one_input(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    for item in load_sigma(text, PATH):
        if isinstance(item, ir.Diagnostic):
            assert item.span.file == PATH and item.message, item
        else:
            assert isinstance(item, ir.Query), item


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
