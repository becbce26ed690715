"""A copy of what `pip install .` needs from this checkout, for tests that install rulec as a
user does (into an environment of their own) without building inside the checkout."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import REPO

FILES = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml")
FOLDERS = ("compiler", "backends")


def copy_source(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copy(REPO / name, folder / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in FOLDERS:
        shutil.copytree(REPO / name, folder / name, ignore=ignore)
    return folder
