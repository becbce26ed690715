"""Coverage-guided fuzzing of `load_kql` with atheris (libFuzzer): run by hand, never in CI.

    pip install atheris
    mkdir -p /tmp/fuzz-kql
    python tests/fuzz/fuzz_kql.py -max_total_time=300 -timeout=20 -rss_limit_mb=3072 \
        /tmp/fuzz-kql ../shared/corpus/kql/*/

The first folder collects the inputs that reach new code; the others seed it. A crash is any
exception out of `load_kql` or a result that is not a Query or a diagnostic naming the file;
libFuzzer saves the input as `crash-*` (a hang past -timeout as `timeout-*`) and stops.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from rulec.compiler import ir
    from rulec.compiler.frontends.kql import load_kql

PATH = "fuzz.kql"


def test_one_input(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    for item in load_kql(text, PATH):
        if isinstance(item, ir.Diagnostic):
            assert item.span.file == PATH and item.message, item
        else:
            assert isinstance(item, ir.Query), item


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
