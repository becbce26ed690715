"""The card renders as Markdown and as one self-contained HTML page (looked at in Chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from rulec.compiler.cli.cards import explain

REPO = Path(__file__).resolve().parents[1]
SEED_000 = REPO / "rules" / "sigma" / "win_winrm_listening_service_reconnaissance.yml"


def _explain(fmt: str) -> str:
    result = CliRunner().invoke(explain, [str(SEED_000), "--format", fmt])
    assert result.exit_code == 0, result.output
    return result.output


def test_markdown_card_shows_the_seed_facts():
    text = _explain("md")
    assert "### Stage 0: condition" in text
    assert "Threshold: dcount(Computer) > 30 within 15m" in text
    assert "| TargetUserName | ends_with | `$` |" in text
    assert "| NewProcessName | ends_with | `\\wsmprovhost.exe` |" in text


def test_html_card_is_self_contained_and_escaped():
    page = _explain("html")
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page
    assert not re.search(r"<(link|script|img|iframe)\b", page)
    assert not re.search(r"url\(", page)
    assert "<h3>Stage 2: not filter</h3>" in page
    assert "TargetUserName|endswith: &#39;$&#39;" in page


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed")
def test_html_card_renders_in_headless_chromium(tmp_path):
    page = tmp_path / "card.html"
    page.write_text(_explain("html"))
    shot = tmp_path / "card.png"
    command = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1100,1600",
        f"--screenshot={shot}",
        page.as_uri(),
    ]
    subprocess.run(command, capture_output=True, timeout=120, check=True)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000
