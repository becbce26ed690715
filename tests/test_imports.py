"""Every module imports on its own, as the first module of a process would.

Oracle: Python's import system. An import cycle shows only when a module of the cycle is the
first one imported (`rulec diff`'s module once reached the command line's package through a
module the command line also imports); the suite's own import order hides it, so each module is
imported, in a separate interpreter, with no rulec module loaded before it.
"""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO

MODULES = sorted(
    "rulec." + ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
    for folder in ("compiler", "backends")
    for path in (REPO / folder).rglob("*.py")
)

FIRST_IMPORTS = """
import importlib, sys, traceback
failed = []
for module in sys.argv[1:]:
    for name in [n for n in sys.modules if n.startswith("rulec.")]:
        del sys.modules[name]
    try:
        importlib.import_module(module)
    except Exception:
        failed.append(module + ": " + traceback.format_exc().splitlines()[-1])
print("\\n".join(failed))
"""


def test_every_module_imports_first() -> None:
    run = subprocess.run(
        [sys.executable, "-c", FIRST_IMPORTS, *MODULES], capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == "", run.stdout
