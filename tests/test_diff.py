"""`rulec diff`: real rule edits and the report each must give, in card terms.

Each case takes a current rule (SigmaHQ's, from ../shared/corpus/sigma, or the bundled seed 003
KQL query) as NEW and writes OLD by undoing one realistic edit: the text NEW has and the text OLD
had in its place. The expected changes are stated as
(aspect, change, subject, before, after, values added, values removed, effect), followed
by whether the emitted DuckDB query changed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from rulec.compiler import ir
from rulec.compiler.cards.attack import load_attack
from rulec.compiler.cards.diff import diff, pair_rules, render_diff
from rulec.compiler.cli.cards import diff as diff_command

REPO = Path(__file__).resolve().parents[1]
SIGMA = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "sigma"
SEED_003 = REPO / "rules" / "kql" / "winrm_plugin_lateral_movement.kql"
PROC = "rules/windows/process_creation/"
KAVREMOVER = PROC + "proc_creation_win_kavremover_uncommon_execution.yml"
WINRSHOST = PROC + "proc_creation_win_winrshost_command_execution.yml"
SNDVOL = PROC + "proc_creation_win_sndvol_susp_child_processes.yml"
CMD_HTTP = PROC + "proc_creation_win_cmd_http_appdata.yml"
DNS_RATE = "unsupported/network/net_dns_high_requests_rate.yml"

SIGMA_EDITS = [
    pytest.param(
        KAVREMOVER,
        "            - '\\cleanapi.exe' # When launched from KES installer\n",
        "",
        [
            (
                "exclusion",
                "changed",
                "ParentImage",
                "ParentImage ends_with \\kavremover.exe",
                "ParentImage ends_with \\cleanapi.exe, \\kavremover.exe",
                ("ParentImage: \\cleanapi.exe",),
                (),
                "widened",
            )
        ],
        "changed",
        id="filter-value-list-extended",
    ),
    pytest.param(
        WINRSHOST,
        "    filter_main_conhost:\n        Image: 'C:\\Windows\\System32\\conhost.exe'\n"
        "    condition: selection and not 1 of filter_main_*",
        "    condition: selection",
        [
            (
                "exclusion",
                "added",
                "Image",
                None,
                "Image eq C:\\Windows\\System32\\conhost.exe",
                (),
                (),
                "widened",
            )
        ],
        "changed",
        id="filter-added-for-false-positive",
    ),
    pytest.param(
        SNDVOL,
        "ParentImage|endswith: '\\SndVol.exe'",
        "ParentImage|contains: '\\SndVol.exe'",
        [
            (
                "indicator",
                "changed",
                "ParentImage",
                "ParentImage contains \\SndVol.exe",
                "ParentImage ends_with \\SndVol.exe",
                (),
                (),
                None,
            )
        ],
        "changed",
        id="contains-to-endswith",
    ),
    pytest.param(
        SNDVOL,
        "        CommandLine|contains: ' shell32.dll,Control_RunDLL '\n",
        "",
        [
            (
                "exclusion",
                "changed",
                "Image",
                "Image ends_with \\rundll32.exe",
                "Image ends_with \\rundll32.exe"
                " and CommandLine contains ' shell32.dll,Control_RunDLL '",
                ("CommandLine contains ' shell32.dll,Control_RunDLL '",),
                (),
                "narrowed",
            )
        ],
        "changed",
        id="filter-condition-added",
    ),
    pytest.param(
        DNS_RATE,
        "count() by src_ip > 1000",
        "count() by src_ip > 500",
        [
            (
                "threshold",
                "changed",
                "threshold",
                "count() > 500",
                "count() > 1000",
                (),
                (),
                "fires less",
            )
        ],
        "changed",
        id="threshold-raised",
    ),
    pytest.param(
        DNS_RATE,
        "timeframe: 1m\n    condition: selection | count() by src_ip > 1000",
        "timeframe: 5m\n    condition: selection | count() > 1000",
        [
            ("window", "changed", "window", "5m", "1m", (), (), None),
            ("group-by", "changed", "group-by", "-", "src_ip", (), (), None),
            ("output", "added", "src_ip", None, "summarize: src_ip", (), (), None),
        ],
        "changed",
        id="window-and-group-by",
    ),
    pytest.param(
        CMD_HTTP,
        "    - attack.t1059.003\n    - attack.t1059.001\n",
        "    - attack.t1059.003\n    - attack.t1086\n",
        [
            ("attack", "removed", "attack.t1086", "technique T1086 PowerShell", None, (), (), None),
            (
                "attack",
                "added",
                "attack.t1059.001",
                None,
                "technique T1059.001 PowerShell",
                (),
                (),
                None,
            ),
        ],
        "unchanged",
        id="attack-tag-migrated",
    ),
    pytest.param(
        WINRSHOST,
        "    - attack.lateral-movement\n",
        "    - attack.lateral_movement\n",
        [],
        "unchanged",
        id="tag-spelling-only",
    ),
    pytest.param(
        WINRSHOST,
        "status: experimental\n",
        "status: test\n",
        [("meta", "changed", "status", "test", "experimental", (), (), None)],
        "unchanged",
        id="status",
    ),
]

KQL_EDITS = [
    pytest.param(
        '  | where FolderPath !startswith @"C:\\windows\\assembly\\nativeimages_" // Excluding'
        " .NET GAC as these are irrelevant for WinRM plugins and generate false positives.\n",
        "",
        [
            (
                "exclusion",
                "added",
                "let PotentialPlugins: FolderPath",
                None,
                "let PotentialPlugins: FolderPath starts_with C:\\windows\\assembly\\nativeimages_",
                (),
                (),
                "widened",
            )
        ],
        id="kql-gac-exclusion-added",
    ),
    pytest.param(
        "let lookback = 30d;",
        "let lookback = 14d;",
        [("parameter", "changed", "lookback", "14d", "30d", (), (), None)],
        id="kql-lookback-extended",
    ),
    pytest.param(
        "default_global_prevalence) < 100",
        "default_global_prevalence) < 50",
        [
            (
                "indicator",
                "changed",
                "GlobalPrevalence lt [cased, coalesce_default:0]",
                "50",
                "100",
                ("100",),
                ("50",),
                None,
            )
        ],
        id="kql-prevalence-raised",
    ),
    pytest.param(
        '| where DeviceName !in~ ("lab-01", "lab-02")\n// End',
        "// End",
        [
            (
                "exclusion",
                "added",
                "DeviceName",
                None,
                "DeviceName in lab-01, lab-02",
                (),
                (),
                "widened",
            )
        ],
        id="kql-environment-filter-added",
    ),
]


def _rows(report) -> list[tuple]:
    [rule] = report.rules
    return [
        (c.aspect, c.change, c.subject, c.old, c.new, c.added, c.removed, c.effect)
        for c in rule.changes
    ]


def _write_pair(tmp_path: Path, text: str, now: str, before: str, suffix: str) -> tuple[str, str]:
    assert now in text, "the rule no longer has the text this edit is about"
    old, new = tmp_path / f"old{suffix}", tmp_path / f"new{suffix}"
    old.write_text(text.replace(now, before, 1))
    new.write_text(text)
    return str(old), str(new)


@pytest.fixture(scope="module")
def attack():
    return load_attack()


def _sigma(rule: str) -> str:
    path = SIGMA / rule
    if not path.is_file():
        pytest.skip(f"the SigmaHQ corpus is absent: {path}")
    return path.read_text()


@pytest.mark.parametrize(("rule", "now", "before", "expected", "query"), SIGMA_EDITS)
def test_sigma_edit(tmp_path, attack, rule, now, before, expected, query):
    old, new = _write_pair(tmp_path, _sigma(rule), now, before, ".yml")
    report = diff(old, new, ("duckdb",), attack)
    assert _rows(report) == expected
    [target] = report.rules[0].targets
    assert (target.target, target.status) == ("duckdb", query)
    assert report.changed is bool(expected)


@pytest.mark.parametrize(("now", "before", "expected"), KQL_EDITS)
def test_kql_edit_of_seed_003(tmp_path, attack, now, before, expected):
    """The seed is NEW when it has the edited text, else OLD (an analyst's tuning edit)."""
    text = SEED_003.read_text()
    if now not in text:
        text = text.replace(before, now, 1)
    old, new = _write_pair(tmp_path, text, now, before, ".kql")
    report = diff(old, new, ("duckdb",), attack)
    assert _rows(report) == expected
    assert report.changed


def _invoke(*args: str):
    return CliRunner().invoke(diff_command, list(args))


def test_aggregation_added_changes_every_target_and_eql_now_fails(tmp_path):
    text = _sigma(WINRSHOST)
    condition = "    condition: selection and not 1 of filter_main_*"
    counted = condition + " | count() by DeviceName > 5\n    timeframe: 10m"
    old, new = _write_pair(tmp_path, text.replace(condition, counted), counted, condition, ".yml")
    result = _invoke(old, new, "--format", "json")
    assert result.exit_code == 1, result.output
    [rule] = json.loads(result.stdout)["rules"]
    changes = [(c["aspect"], c["change"], c["new"]) for c in rule["changes"]]
    assert ("threshold", "added", "count() > 5 within 10m by DeviceName") in changes
    targets = {t["target"]: t["status"] for t in rule["targets"]}
    assert targets == {"duckdb": "changed", "eql": "now fails", "spl": "changed", "kql": "changed"}


def test_exit_status_and_markdown(tmp_path):
    old, new = _write_pair(tmp_path, SEED_003.read_text(), "< 100", "< 50", ".kql")
    changed = _invoke(old, new, "-t", "duckdb")
    assert changed.exit_code == 1, changed.output
    assert "| parameter |" not in changed.stdout
    assert (
        "| indicator | changed | `GlobalPrevalence lt [cased, coalesce_default:0]` | `50` | `100` "
        "| `+100; -50` |  |" in changed.stdout
    )
    assert "Targets: duckdb changed" in changed.stdout
    same = _invoke(new, new, "-t", "duckdb")
    assert same.exit_code == 0, same.output
    assert "no change in meaning" in same.stdout


def test_reformatting_and_comments_change_nothing(tmp_path):
    text = SEED_003.read_text()
    moved = text.replace("| where ", "|where  ").replace("// Begin", "// Review yearly.\n// Begin")
    old, new = tmp_path / "old.kql", tmp_path / "new.kql"
    old.write_text(text)
    new.write_text(moved)
    report = diff(str(old), str(new), ("duckdb", "kql"))
    assert [r.status for r in report.rules] == ["unchanged"]
    assert not report.changed


def test_errors_exit_2_with_a_located_diagnostic(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("title: x\ndetection: [unclosed\n")
    result = _invoke(str(SEED_003), str(broken))
    assert result.exit_code == 2
    assert "broken.yml" in result.stderr and "error[" in result.stderr
    missing = _invoke(str(SEED_003), str(tmp_path / "absent.kql"))
    assert missing.exit_code == 2
    assert "diff.missing" in missing.stderr
    mixed = _invoke(str(SEED_003), str(tmp_path))
    assert mixed.exit_code == 2
    assert "a folder with a folder" in mixed.stderr


def test_folders_pair_files_by_path(tmp_path):
    text = SEED_003.read_text()
    for side, threshold in (("old", "< 100"), ("new", "< 250")):
        (tmp_path / side / "kql").mkdir(parents=True)
        (tmp_path / side / "kql" / "plugins.kql").write_text(text.replace("< 100", threshold))
    (tmp_path / "new" / "kql" / "added.kql").write_text("DeviceEvents | where ActionType == 'x'")
    report = diff(str(tmp_path / "old"), str(tmp_path / "new"), ("duckdb",))
    statuses = [(Path(r.new or r.old).name, r.status) for r in report.rules]
    assert statuses == [("added.kql", "added"), ("plugins.kql", "changed")]
    markdown = render_diff(report, "md")
    assert "2 of 2 rules changed" in markdown


def test_git_revision_as_old(tmp_path, monkeypatch):
    def git(*args: str) -> None:
        identity = ["-c", "user.name=t", "-c", "user.email=t@example.org"]
        subprocess.run(["git", *identity, *args], cwd=tmp_path, check=True, capture_output=True)

    rule = tmp_path / "rule.kql"
    rule.write_text(SEED_003.read_text())
    git("init", "-q")
    git("add", "rule.kql")
    git("commit", "-q", "-m", "seed")
    rule.write_text(SEED_003.read_text().replace("let lookback = 30d;", "let lookback = 7d;"))
    monkeypatch.chdir(tmp_path)
    report = diff("git:HEAD:rule.kql", "rule.kql", ("duckdb",))
    assert _rows(report) == [("parameter", "changed", "lookback", "30d", "7d", (), (), None)]
    bad = diff("git:HEAD:absent.kql", "rule.kql", ("duckdb",))
    assert [e.code for e in bad.errors] == ["diff.git"]


def test_correlation_threshold_and_window(tmp_path):
    """A file holding a rule and a correlation over it reads as one rule: the correlation."""
    text = (REPO / "rules" / "sigma" / "corr_event_count_local_user_creation_burst.yml").read_text()
    edit = "    timespan: 10m\n    condition:\n        gte: 3"
    before = "    timespan: 5m\n    condition:\n        gte: 2"
    old, new = _write_pair(tmp_path, text, edit, before, ".yml")
    report = diff(old, new, ("duckdb",))
    assert [(r.title, r.status) for r in report.rules] == [
        ("Burst of Local User Creation", "changed")
    ]
    changes = report.rules[0].changes
    assert [(c.aspect, c.old, c.new, c.effect) for c in changes] == [
        ("threshold", "event_count >= 2", "event_count >= 3", "fires less"),
        ("window", "5m", "10m", None),
    ]


def test_rules_pair_by_id_then_by_position():
    def rule(rule_id: str | None) -> ir.Query:
        meta = ir.RuleMeta(language="sigma", id=rule_id)
        return ir.Query(ir.Pipeline(ir.Table("events")), meta=meta)

    old = [rule("a"), rule("b"), rule(None)]
    new = [rule("b"), rule(None), rule("a"), rule(None)]
    assert pair_rules(old, new) == [(0, 2), (1, 0), (2, 1), (None, 3)]
