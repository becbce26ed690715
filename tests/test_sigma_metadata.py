"""Metadata never stops a Sigma rule: each problem is a warning at its key (line and column)
with a stable code, and the rule converts. Oracle: the Sigma specification's header fields
(tags `namespace.name`, `id` a UUID, status and level from their lists, `references` and
`falsepositives` lists, dates YYYY-MM-DD, `description` text) and the positions in the texts below.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from rulec.compiler import ir
from rulec.compiler.cli import main
from rulec.compiler.frontends.sigma.load import load_sigma

BODY = """\
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\\\cmd.exe'}
  condition: sel
"""

# header lines (the rule starts with them) | warning code | line | column
CASES = [
    ("title: t\ntags:\n  - attack.execution\n  - sysmon\n", "sigma.meta.tags", 4, 5),
    ("title: t\ntags: [attack.t1059, RDP, lolbas]\n", "sigma.meta.tags", 2, 22),
    ("title: t\nid: 112\n", "sigma.meta.id", 2, 1),
    ("title: t\nid: rule-112\n", "sigma.meta.id", 2, 1),
    ("title: t\nstatus: production\n", "sigma.meta.status", 2, 1),
    ("title: t\nstatus: experimental|\n", "sigma.meta.status", 2, 1),
    ("title: t\nreferences: https://example.com/a\n", "sigma.meta.references", 2, 1),
    ("title: t\nfalsepositives: Unknown\n", "sigma.meta.falsepositives", 2, 1),
    ("title: t\ndate: 2023-02-30\n", "sigma.meta.date", 2, 1),
    ("title: t\ndate: 15/02/2023\n", "sigma.meta.date", 2, 1),
    ("title: t\nmodified: yesterday\n", "sigma.meta.modified", 2, 1),
    ("title: t\ndescription: [one, two]\n", "sigma.meta.description", 2, 1),
    ("title: t\ndescription: 42\n", "sigma.meta.description", 2, 1),
    ("title: t\ntimeframe: last 2 hours\n", "sigma.meta.timeframe", 2, 1),
    ("title: t\nnotes: see wiki\n", "sigma.meta.unknown-key", 2, 1),
]


@pytest.mark.parametrize(("header", "code", "line", "column"), CASES)
def test_a_metadata_problem_is_a_located_warning_and_the_rule_converts(
    header: str, code: str, line: int, column: int
) -> None:
    *warnings, query = load_sigma(header + BODY, "meta.yml")
    assert isinstance(query, ir.Query), query
    first = next(w for w in warnings if w.code == code)
    assert first.severity == "warning"
    assert (first.span.file, first.span.line, first.span.column) == ("meta.yml", line, column)
    assert first in query.warnings


def test_every_tag_without_a_namespace_is_named_and_the_others_are_kept() -> None:
    *warnings, query = load_sigma(CASES[1][0] + BODY, "meta.yml")
    assert [w.message.split("'")[1] for w in warnings] == ["RDP", "lolbas"]
    assert [w.span.column for w in warnings] == [22, 27]
    assert query.meta.tags == ("attack.t1059", "RDP", "lolbas")  # the rule's own header


def test_a_timeframe_in_the_detection_that_no_aggregation_uses() -> None:
    text = "title: t\n" + BODY.replace("  condition: sel\n", "  timeframe: 1h\n  condition: sel\n")
    warning, query = load_sigma(text, "meta.yml")
    assert (warning.code, warning.span.line, warning.span.column) == ("sigma.meta.timeframe", 5, 3)
    assert isinstance(query, ir.Query) and len(query.pipeline.stages) == 1


def test_a_timeframe_an_aggregation_uses_stays_strict() -> None:
    text = "title: t\ntimeframe: last 2 hours\n" + BODY.replace("sel\n", "sel | count() > 5\n")
    [error] = load_sigma(text, "meta.yml")
    assert error.severity == "error" and error.code == "sigma.bad-timeframe"


def test_an_integer_id_still_names_the_rule_for_a_correlation() -> None:
    rule = "title: base\nid: 7\nname: base\n" + BODY
    correlation = "title: c\ncorrelation: {type: event_count, rules: [7], timespan: 5m, "
    correlation += "group-by: [Computer], condition: {gte: 2}}\n"
    results = load_sigma(rule + "---\n" + correlation, "meta.yml")
    queries = [r for r in results if isinstance(r, ir.Query)]
    assert len(queries) == 1 and isinstance(queries[0].pipeline.stages[-1], ir.Correlation)


def test_detection_problems_stay_errors() -> None:
    text = "title: t\nstatus: production\n" + BODY.replace("sel\n", "nope\n")
    warning, error = load_sigma(text, "meta.yml")
    assert warning.severity == "warning" and error.severity == "error"


def test_convert_reports_warnings_in_json_and_on_stderr(tmp_path) -> None:
    path = tmp_path / "meta.yml"
    path.write_text("title: t\nid: 112\ntags: [sysmon]\n" + BODY)
    result = CliRunner().invoke(main, ["convert", "-t", "duckdb", "--format", "json", str(path)])
    assert result.exit_code == 0, result.output
    [line] = [x for x in result.stdout.splitlines() if x.startswith("{")]
    out = json.loads(line)
    assert out["ok"] and [w["code"] for w in out["warnings"]] == [
        "sigma.meta.id",
        "sigma.meta.tags",
    ]
    assert out["warnings"][1]["line"] == 3 and out["warnings"][1]["column"] == 8
    assert f"{path}:3:8: warning[sigma.meta.tags]" in result.stderr


def test_a_yaml_document_that_is_no_rule_is_skipped_with_a_warning() -> None:
    """A processing pipeline kept beside the rules: not a rule, so not a failed one."""
    pipeline = "name: mapping\npriority: 10\ntransformations: []\n"
    [warning] = load_sigma(pipeline, "sigma-mapping.yaml")
    assert (warning.severity, warning.code, warning.span.line) == ("warning", "sigma.not-a-rule", 1)


def test_hidden_folders_of_a_rule_folder_are_not_searched(tmp_path) -> None:
    from rulec.compiler.rules import discover

    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    (tmp_path / "rule.yml").write_text("title: t\n" + BODY)
    assert discover([tmp_path]) == [tmp_path / "rule.yml"]
