"""`rulec diff --format github`: the pull-request report (one row per changed rule: its change in
meaning and, per target, whether the emitted query changed), and `git:REV:FOLDER` as OLD.

Oracle: GitHub's own Markdown renderer (cmark-gfm, through `cmarkgfm`, with raw HTML kept)
turns the report into HTML, whose tables are read back cell by cell; the expected statuses
follow from each edit (an aggregation added changes every query and EQL cannot express it; an
edited value changes every query; a rule whose text is unchanged is not listed), and the JSON
report gives the values a rendered cell must show unchanged.
"""

from __future__ import annotations

import json
import subprocess
from html.parser import HTMLParser

import cmarkgfm
import pytest
from click.testing import CliRunner

from rulec.compiler.cli import main

RULE = """title: {title}
id: {id}
logsource: {{product: windows, category: process_creation}}
detection:
  sel: {{Image|endswith: '{image}'}}
  condition: {condition}
"""
TARGETS = ("-t", "duckdb", "-t", "eql", "-t", "spl", "-t", "kql")


def rule(
    title="Cmd", id="11111111-1111-1111-1111-111111111111", image="\\cmd.exe", condition="sel"
):
    return RULE.format(title=title, id=id, image=image, condition=condition)


class Tables(HTMLParser):
    """Every table row's cell texts, and every element met."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self.tags: set[str] = set()
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "br" and self.cell is not None:
            self.cell.append("\n")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def rendered(markdown: str) -> Tables:
    tables = Tables()
    unsafe = cmarkgfm.cmark.Options.CMARK_OPT_UNSAFE  # raw HTML kept, as GitHub keeps <br>
    tables.feed(cmarkgfm.github_flavored_markdown_to_html(markdown, options=unsafe))
    return tables


def invoke(*args: object):
    return CliRunner().invoke(main, ["diff", *map(str, args)], catch_exceptions=False)


def write(folder, files: dict[str, str]) -> None:
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


@pytest.fixture
def edited(tmp_path):
    """OLD and NEW folders: one rule unchanged, one given an aggregation, one with a value
    edited, one removed, one added."""
    pwsh = rule("Pwsh", "22222222-2222-2222-2222-222222222222", "\\pwsh.exe")
    net = rule("Net", "33333333-3333-3333-3333-333333333333", "\\net.exe")
    old, new = tmp_path / "old", tmp_path / "new"
    write(old, {"cmd.yml": rule(), "pwsh.yml": pwsh, "net.yml": net, "gone.yml": rule("Gone")})
    write(
        new,
        {
            "cmd.yml": rule(),
            "pwsh.yml": pwsh.replace("condition: sel", "condition: sel | count() by DeviceName > 5")
            + "timeframe: 10m\n",
            "net.yml": net.replace("net.exe", "net1.exe"),
            "new.yml": rule("New", "44444444-4444-4444-4444-444444444444"),
        },
    )
    return old, new


def test_one_row_per_changed_rule_and_one_column_per_target(edited):
    old, new = edited
    result = invoke(old, new, "--format", "github", *TARGETS)
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("### rulec: 4 of 5 rules changed\n")
    table = rendered(result.stdout).rows
    assert table[0] == ["rule", "meaning", "duckdb", "eql", "spl", "kql"]
    rows = {row[0].split("\n")[0]: row[1:] for row in table[1 : 1 + 4]}
    assert rows == {
        "Gone": ["rule removed", "", "", "", ""],
        "Net": [
            "indicator changed Image ends_with",
            "changed",
            "changed",
            "changed",
            "changed",
        ],
        "New": ["rule added", "new", "new", "new", "new"],
        "Pwsh": [
            "threshold added; output added DeviceName; output added value",
            "changed",
            "now fails",
            "changed",
            "changed",
        ],
    }
    assert "Cmd" not in rows  # unchanged: not listed
    assert "<details><summary>Pwsh</summary>" in result.stdout
    assert "eql now fails: eql cannot express the Aggregate stage" in result.stdout.replace(
        "\\", ""
    )


def test_no_change_is_one_line(edited):
    old, _ = edited
    result = invoke(old, old, "--format", "github", *TARGETS)
    assert result.exit_code == 0, result.output
    assert result.stdout == "### rulec: no change in meaning\n\n"


def test_a_value_from_a_rule_stays_text_in_the_rendered_comment(tmp_path):
    title = "A | <img src=x onerror=alert(1)> **bold** [link](http://x) `code`\\"
    hostile = f"title: '{title}'\nid: 55555555-5555-5555-5555-555555555555\n" + rule().split(
        "\n", 2
    )[2].replace("\\cmd.exe", "\\x|<b>y</b>*.exe")
    write(tmp_path / "old", {"r.yml": hostile})
    write(tmp_path / "new", {"r.yml": hostile.replace("y</b>", "z</b>")})
    result = invoke(tmp_path / "old", tmp_path / "new", "--format", "github", *TARGETS)
    assert result.exit_code == 1, result.output
    html = rendered(result.stdout)
    assert html.tags <= {
        "h3",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "br",
        "details",
        "summary",
        "ul",
        "li",
        "p",
    }
    assert [len(row) for row in html.rows] == [6, 6, 6, 6]  # a row per rule, a row per change
    assert html.rows[1][0] == f"{title}\n{tmp_path / 'new' / 'r.yml'}"
    as_json = invoke(tmp_path / "old", tmp_path / "new", "--format", "json", *TARGETS)
    [change] = json.loads(as_json.stdout)["rules"][0]["changes"]
    assert html.rows[3][2:5] == [change["subject"], change["old"], change["new"]]
    assert "<b>y</b>" in change["old"]


def test_a_git_folder_as_old_reads_the_rules_as_committed(tmp_path, monkeypatch):
    def git(*args: str) -> None:
        identity = ["-c", "user.name=t", "-c", "user.email=t@example.org"]
        subprocess.run(["git", *identity, *args], cwd=tmp_path, check=True, capture_output=True)

    write(tmp_path / "rules", {"cmd.yml": rule(), "notes.txt": "not a rule"})
    write(
        tmp_path / "rules" / "sub",
        {"net.yml": rule("Net", "3" * 8 + "-3333-3333-3333-" + "3" * 12, "\\net.exe")},
    )
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "rules")
    (tmp_path / "rules" / "sub" / "net.yml").write_text(
        (tmp_path / "rules" / "sub" / "net.yml").read_text().replace("net.exe", "net1.exe")
    )
    monkeypatch.chdir(tmp_path)
    same = invoke("git:HEAD:rules", "rules", "--format", "json", "-t", "duckdb")
    assert same.exit_code == 1, same.output
    result = invoke("git:HEAD:rules/", "rules", "--format", "github", "-t", "duckdb")
    assert result.exit_code == 1, result.output
    rows = rendered(result.stdout).rows
    assert rows[1] == [
        "Net\nrules/sub/net.yml",
        "indicator changed Image ends_with",
        "changed",
    ]
    assert len(rows) == 2 + 2  # one changed rule, then its details table
    mixed = invoke("git:HEAD:rules", "rules/cmd.yml", "-t", "duckdb")
    assert mixed.exit_code == 2
    assert "compare a folder with a folder, a file with a file" in mixed.stderr


def test_a_file_that_cannot_be_read_is_listed_with_its_location(edited):
    old, new = edited
    (new / "net.yml").write_text("title: Net\nlogsource: {product: windows\n")
    result = invoke(old, new, "--format", "github", "-t", "duckdb")
    assert result.exit_code == 2
    (item,) = [line for line in result.stdout.splitlines() if line.startswith("- ")]
    html = cmarkgfm.github_flavored_markdown_to_html(item)
    assert f"{new}/net.yml:3:1: error[sigma.yaml]" in html
