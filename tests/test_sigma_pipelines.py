"""Published pySigma pipelines through the front end, each target's defaults, and time parts."""

from __future__ import annotations

import pytest

from rulec.backends.pipelines import OWN_DIR, default_pipeline, located, pipeline_sets
from rulec.compiler import ir
from rulec.compiler.frontends.sigma.load import load_sigma, resolve_pipeline
from rulec.compiler.run.engines import DuckDBEngine
from rulec.compiler.run.events import EventTable, flatten
from rulec.compiler.run.executor import execute

K = ir.MatchKind

PROCESS_RULE = """
title: Whoami
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\\\whoami.exe', CommandLine|contains: '/all'}
  condition: sel
"""


def fields(expr: ir.Expr) -> list[str]:
    """Field names a predicate reads, in order."""
    if isinstance(expr, ir.And | ir.Or):
        return [name for operand in expr.operands for name in fields(operand)]
    if isinstance(expr, ir.Not):
        return fields(expr.operand)
    if isinstance(expr, ir.Match) and isinstance(expr.field, ir.FieldRef):
        return [expr.field.name]
    return []


def lowered(text: str, names: list[str]) -> ir.Query:
    (query,) = load_sigma(text, "rule.yml", resolve_pipeline(names))
    assert isinstance(query, ir.Query), query
    return query


# (pipelines, expected source, expected fields read, in order)
MAPPINGS = [
    (
        [],
        ir.LogSource("windows", "process_creation"),
        ["Image", "CommandLine"],
    ),
    (
        ["sysmon", "splunk_windows"],
        ir.LogSource("windows", "process_creation", "sysmon"),
        ["source", "EventCode", "Image", "CommandLine"],
    ),
    (
        ["ecs_windows"],
        ir.LogSource("windows", "process_creation"),
        ["process.executable.caseless", "process.command_line"],
    ),
    (
        ["microsoft_xdr"],
        ir.Table("DeviceProcessEvents"),
        ["FolderPath", "ProcessCommandLine"],
    ),
]


@pytest.mark.parametrize(("names", "source", "read"), MAPPINGS, ids=[str(m[0]) for m in MAPPINGS])
def test_published_pipelines_map_fields_and_tables(names, source, read) -> None:
    query = lowered(PROCESS_RULE, names)
    assert query.pipeline.source == source
    (stage,) = query.pipeline.stages
    assert fields(stage.predicate) == read


def test_pipeline_failure_is_a_located_diagnostic() -> None:
    text = "title: t\nlogsource: {product: aws, service: cloudtrail}\n"
    text += "detection: {sel: {eventName: x}, condition: sel}\n"
    (result,) = load_sigma(text, "rule.yml", resolve_pipeline(["microsoft_xdr"]))
    assert isinstance(result, ir.Diagnostic)
    assert result.span.file == "rule.yml"
    assert result.message.startswith("Unable to determine table name from rule")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("spl", ["sysmon", "splunk_windows"]),
        ("eql", ["ecs_windows"]),
        (
            "kql",
            [
                "microsoft_xdr|defender_xdr|sentinel|sentinel_windows_event"
                "|sentinel_security_event|azure_monitor|sentinel_asim"
            ],
        ),
        ("duckdb", []),
        ("postgres", []),
        ("sql:spark", []),
    ],
)
def test_default_pipelines(target: str, expected: list[str]) -> None:
    assert default_pipeline(target) == expected
    if expected:
        assert resolve_pipeline(located(expected)) is not None


@pytest.mark.parametrize(
    ("chosen", "without", "expected"),
    [
        (
            (),
            False,
            {
                (): ["duckdb", "postgres"],
                ("sysmon", "splunk_windows"): ["spl"],
                located(
                    (
                        "microsoft_xdr|defender_xdr|sentinel|sentinel_windows_event"
                        "|sentinel_security_event|azure_monitor|sentinel_asim",
                    )
                ): ["kql"],
            },
        ),
        (("my.yml",), False, {("my.yml",): ["duckdb", "spl", "postgres", "kql"]}),
        ((), True, {(): ["duckdb", "spl", "postgres", "kql"]}),
    ],
)
def test_targets_grouped_by_pipeline_set(chosen, without, expected) -> None:
    assert pipeline_sets(["duckdb", "spl", "postgres", "kql"], chosen, without) == expected


def test_own_pipelines_are_named_by_their_files() -> None:
    assert located(("sysmon", "a|sentinel")) == ("sysmon", f"a|{OWN_DIR / 'sentinel.yml'}")


TIME_RULE = """
title: Night logons
logsource: {product: windows, service: security}
detection:
  sel: {EventID: 4624, TimeCreated|hour: [1, 2], TimeCreated|minute: 30}
  condition: sel
"""


def test_time_part_lowers_to_datepart() -> None:
    (stage,) = lowered(TIME_RULE, []).pipeline.stages
    hour = ir.Call("datepart", (ir.Literal("hour"), ir.FieldRef("TimeCreated")))
    minute = ir.Call("datepart", (ir.Literal("minute"), ir.FieldRef("TimeCreated")))
    assert stage.predicate == ir.And(
        (
            ir.Match(ir.FieldRef("EventID"), K.EQ, (4624,), False),
            ir.Or((ir.Match(hour, K.EQ, (1,), False), ir.Match(hour, K.EQ, (2,), False))),
            ir.Match(minute, K.EQ, (30,), False),
        )
    )


def night_events() -> EventTable:
    times = [
        "2026-03-02T01:30:00Z",  # 1: hour 1, minute 30
        "2026-03-02T02:30:59.5Z",  # 2: hour 2, minute 30
        "2026-03-02T03:30:00Z",  # 3: hour 3
        "2026-03-02T02:31:00Z",  # 4: minute 31
        "2026-03-02T04:30:00+02:00",  # 5: 02:30 in UTC
        "not a time",  # 6: no hour at all
    ]
    rows = []
    for number, moment in enumerate(times, 1):
        row = flatten({"EventID": 4624, "TimeCreated": moment})
        row["_row"] = number
        rows.append(row)
    return EventTable(("EventID", "TimeCreated", "_row"), tuple(rows))


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request):
    if request.param == "duckdb":
        return DuckDBEngine()
    return request.getfixturevalue("postgres_engine")


def test_time_parts_select_by_utc_clock(engine) -> None:
    rows = execute(lowered(TIME_RULE, []), night_events(), engine=engine)
    assert [row["_row"] for row in rows] == [1, 2, 5]


@pytest.mark.parametrize(
    ("part", "value", "rows"),
    [("day", 2, [1]), ("week", 10, [1, 2]), ("month", 3, [1, 2]), ("year", 2026, [1, 2])],
)
def test_other_time_parts(part: str, value: int, rows: list[int]) -> None:
    text = "title: t\nlogsource: {product: windows}\n"
    text += f"detection: {{sel: {{TimeCreated|{part}: {value}}}, condition: sel}}\n"
    events = EventTable(
        ("TimeCreated", "_row"),
        (
            {"TimeCreated": "2026-03-02T10:00:00Z", "_row": 1},
            {"TimeCreated": "2026-03-08T23:59:59Z", "_row": 2},
            {"TimeCreated": "2027-04-09T00:00:00Z", "_row": 3},
        ),
    )
    got = execute(lowered(text, []), events, engine=DuckDBEngine())
    assert [row["_row"] for row in got] == rows


KQL_DEFAULT = "microsoft_xdr|azure_monitor|sentinel_asim"


def rule_text(logsource: str, selection: str) -> str:
    return f"title: t\nlogsource: {logsource}\ndetection: {{sel: {selection}, condition: sel}}\n"


# (log source, selection, expected table, expected fields read): Defender XDR where it has a
# table, else Sentinel's SecurityEvent (azure_monitor), else an ASIM parser (sentinel_asim)
KQL_TABLES = [
    (
        "{product: windows, category: process_creation}",
        "{Image|endswith: '\\\\x.exe'}",
        "DeviceProcessEvents",
        ["FolderPath"],
    ),
    (
        "{product: windows, service: security}",
        "{EventID: 4624, TargetUserName: admin}",
        "SecurityEvent",
        ["EventID", "TargetUserName"],
    ),
    (
        "{category: proxy}",
        "{c-uri|contains: '/evil'}",
        "imWebSession",
        ["Url"],
    ),
]


@pytest.mark.parametrize(("logsource", "selection", "table", "read"), KQL_TABLES)
def test_kql_default_takes_the_first_pipeline_with_a_table(logsource, selection, table, read):
    query = lowered(rule_text(logsource, selection), [KQL_DEFAULT])
    assert query.pipeline.source == ir.Table(table)
    (stage,) = query.pipeline.stages
    assert fields(stage.predicate) == read


def test_no_alternative_accepting_is_one_diagnostic_with_every_reason() -> None:
    text = rule_text("{product: aws, service: cloudtrail}", "{eventName: x}")
    (result,) = load_sigma(text, "rule.yml", resolve_pipeline([KQL_DEFAULT]))
    assert isinstance(result, ir.Diagnostic)
    assert result.span.file == "rule.yml"
    assert result.message.startswith("no pipeline of microsoft_xdr | azure_monitor | sentinel_asim")
    assert "log source (product: aws, service: cloudtrail)" in result.message
    for name in ("microsoft_xdr: Unable", "azure_monitor: Unable", "sentinel_asim: Unable"):
        assert name in result.message


def test_a_correlation_goes_through_the_first_accepting_alternative(tmp_path) -> None:
    """The correlation's group-by is renamed by the alternative that accepts it (the first one
    refuses every rule); the pySigma Kusto pipelines, which choose a table by log source, read
    the log source of the correlation's rule."""
    (tmp_path / "reject.yml").write_text(
        "name: reject\npriority: 5\ntransformations:\n"
        "  - type: rule_failure\n    message: not here\n"
    )
    (tmp_path / "rename.yml").write_text(
        "name: rename\npriority: 5\ntransformations:\n"
        "  - type: field_name_mapping\n    mapping: {User: AccountName}\n"
    )
    text = (
        "name: base\n"
        + rule_text("{product: windows, category: process_creation}", "{Image: x}")
        + "---\ntitle: many\ncorrelation:\n  type: event_count\n  rules: [base]\n"
        "  group-by: [User]\n  timespan: 1h\n  condition:\n    gte: 5\n"
    )
    alternatives = f"{tmp_path / 'reject.yml'}|{tmp_path / 'rename.yml'}"
    (query,) = load_sigma(text, "c.yml", resolve_pipeline([alternatives]))
    assert isinstance(query, ir.Query)
    assert query.pipeline.stages[-1].group_by == ("AccountName",)
    (kusto,) = load_sigma(text, "c.yml", resolve_pipeline([KQL_DEFAULT]))
    assert isinstance(kusto, ir.Query), kusto
    assert kusto.pipeline.stages[-1].group_by == ("AccountName",)


def test_alternatives_combine_with_the_pipelines_around_them(tmp_path) -> None:
    renames = tmp_path / "renames.yml"
    renames.write_text(
        "name: r\npriority: 5\ntransformations:\n"
        "  - type: field_name_mapping\n    mapping: {Account: TargetUserName}\n"
    )
    text = rule_text("{product: windows, service: security}", "{EventID: 4624, Account: a}")
    query = lowered(text, [str(renames), "microsoft_xdr|azure_monitor"])
    assert query.pipeline.source == ir.Table("SecurityEvent")
    assert fields(query.pipeline.stages[0].predicate) == ["EventID", "TargetUserName"]


@pytest.mark.parametrize("path", sorted(OWN_DIR.glob("*.yml")), ids=lambda p: p.stem)
def test_pipeline_files_are_made_as_pysigma_makes_them(path) -> None:
    # the front end reads pipeline files with libyaml; pySigma's own reading (its resolver,
    # `ProcessingPipeline.from_yaml`) is the oracle: the same pipeline, item for item
    from sigma.processing.resolver import ProcessingPipelineResolver

    made = resolve_pipeline([str(path)])
    expected = ProcessingPipelineResolver().resolve([str(path)])
    assert len(made.items) == len(expected.items) > 0
    assert made == expected


def test_a_broken_pipeline_file_gives_pysigmas_error(tmp_path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("name: b\ntransformations: [\n")
    with pytest.raises(ir.RuleError) as caught:
        resolve_pipeline([str(broken)])
    assert caught.value.diagnostic.code == "sigma.bad-pipeline"
    assert "Error in parsing of a Sigma processing pipeline" in caught.value.diagnostic.message


@pytest.mark.parametrize(
    ("names", "message"),
    [(["a|b", "c|d"], "only one -p value"), (["microsoft_xdr|"], "empty alternative")],
)
def test_bad_alternatives_are_reported(names, message) -> None:
    with pytest.raises(ir.RuleError) as caught:
        resolve_pipeline(names)
    assert caught.value.diagnostic.code == "sigma.bad-pipeline"
    assert message in caught.value.diagnostic.message


COLLECTION = """
action: global
title: Base
logsource: {product: windows, category: process_creation}
detection:
  condition: sel
---
detection:
  sel: {Image|endswith: '\\\\whoami.exe'}
---
action: repeat
title: Repeated
detection:
  sel: {Image|endswith: '\\\\net.exe'}
"""


def test_repeat_changes_only_the_rule_it_makes():
    first, second = load_sigma(COLLECTION, "c.yml")
    assert (first.meta.title, second.meta.title) == ("Base", "Repeated")
    assert first.pipeline != second.pipeline


def test_a_file_read_once_lowers_through_each_pipeline_as_read_alone(tmp_path):
    """load_rules_each parses the YAML once: each pipeline's result equals its own load."""
    from rulec.compiler.rules import load_rules, load_rules_each

    path = tmp_path / "c.yml"
    path.write_text(COLLECTION + "---\n" + PROCESS_RULE, encoding="utf-8")
    pipelines = [None, *(resolve_pipeline(names) for names in pipeline_sets(["eql", "kql"]))]
    together = load_rules_each(path, pipelines)
    alone = [load_rules(path, pipeline) for pipeline in pipelines]
    assert together == alone
    assert len({str(items) for items in together}) == len(pipelines)  # the pipelines differ


FILTERED_AND_CORRELATED = """
title: Failed logon
name: base
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4625, TargetUserName|endswith: '$'}, condition: sel}
---
title: not for service accounts
logsource: {product: windows}
filter:
  rules: [base]
  selection: {TargetUserName|startswith: svc_}
  condition: not selection
---
title: Many failed logons
correlation:
  type: event_count
  rules: base
  generate: true
  group-by: [TargetUserName]
  timespan: 5m
  condition: {gte: 3}
"""


def each_against_alone(path, pipelines) -> None:
    from rulec.compiler.rules import load_rules, load_rules_each

    together = load_rules_each(path, pipelines)
    assert together == [load_rules(path, pipeline) for pipeline in pipelines], path


def default_pipelines() -> list:
    """Every default pipeline group, the one without a pipeline in the middle (it shares the
    parsed rules and runs first whatever its position)."""
    eql, spl, kql = (resolve_pipeline(n) for n in pipeline_sets(["eql", "spl", "kql"]))
    return [eql, spl, None, kql]


def test_filters_and_correlations_lower_through_each_pipeline_as_read_alone(tmp_path):
    """A filter changes the rules it applies to: each pipeline still gets rules of its own."""
    path = tmp_path / "f.yml"
    path.write_text(FILTERED_AND_CORRELATED, encoding="utf-8")
    each_against_alone(path, default_pipelines())


def test_rules_that_do_not_pickle_are_parsed_again(tmp_path, monkeypatch):
    """The front end's snapshots fail to pickle: each pipeline gets a new parse instead."""
    from rulec.compiler.frontends.sigma import load as sigma

    refused = []

    class Refusing:
        @staticmethod
        def of(rule):
            refused.append(rule)
            raise TypeError("cannot pickle")

    monkeypatch.setattr(sigma, "Snapshot", Refusing)  # the KQL alternatives still take theirs
    path = tmp_path / "c.yml"
    path.write_text(COLLECTION + "---\n" + PROCESS_RULE, encoding="utf-8")
    each_against_alone(path, default_pipelines())
    assert refused


def test_corpus_rules_lower_through_each_pipeline_as_read_alone(shared):
    """Every 25th rule of the SigmaHQ folder: reading a file once for all pipelines (copies
    unpickled from one parse) gives what reading it once per pipeline gives."""
    files = sorted((shared / "corpus" / "sigma" / "rules").rglob("*.yml"))[::25]
    assert len(files) > 100
    pipelines = default_pipelines()
    for path in files:
        each_against_alone(path, pipelines)


@pytest.mark.parametrize("names", [["microsoft_xdr"], [KQL_DEFAULT]])
def test_an_invalid_field_error_names_this_rules_field_alone(names):
    """The Kusto pipelines keep every field they rejected in their error message; the
    diagnostic of a later rule names only its own."""
    pipeline = resolve_pipeline(names)
    messages = []
    for field in ("NoSuchFieldOne", "NoSuchFieldTwo"):
        text = PROCESS_RULE.replace("CommandLine|contains", f"{field}|contains")
        (result,) = load_sigma(text, "rule.yml", pipeline)
        assert isinstance(result, ir.Diagnostic), result
        messages.append(result.message)
    assert "NoSuchFieldOne" in messages[0]
    assert "NoSuchFieldTwo" in messages[1] and "NoSuchFieldOne" not in messages[1]


# Each pipeline of PIPELINE_FUNCTIONS by name, as its processing items, printed as JSON by a
# fresh interpreter (pySigma's `@Pipeline` objects depend on what was imported before).
ITEMS = (
    "import json; print(json.dumps({n: [i.identifier for i in r.resolve_pipeline(n).items] "
    "for n in ('sysmon', 'windows-audit', 'windows-logsources')}))"
)


def _fresh(code: str) -> dict:
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_run_pipelines_found_in_their_packages_are_those_pysigma_discovers() -> None:
    """Oracle: pySigma's own plugin discovery, in an interpreter of its own."""
    discover = "from sigma.plugins import InstalledSigmaPlugins as P\n"
    discovered = _fresh(discover + "r = P.autodiscover().get_pipeline_resolver()\n" + ITEMS)
    ours = "from rulec.compiler.frontends.sigma.load import _resolver, PIPELINE_FUNCTIONS as F\n"
    assert all(discovered.values())
    assert _fresh(ours + "r = _resolver(list(F))\n" + ITEMS) == discovered
    # pySigma's test pipeline, decorated after Sysmon's, leaves rulec's resolution as it was
    late = "import sigma.pipelines.test\n"
    assert (
        _fresh(ours + "r = _resolver(list(F))\n" + late + "r = _resolver(list(F))\n" + ITEMS)
        == discovered
    )
    # and the pipelines found in their packages first stay so among every installed plugin
    every = "from rulec.compiler.frontends.sigma.load import plugins\n"
    first = ours + "_resolver(list(F))\n" + every + "r = plugins().get_pipeline_resolver()\n"
    assert _fresh(first + ITEMS) == discovered


def test_windows_readings_leave_other_plugins_unimported() -> None:
    code = (
        "import sys; from rulec.compiler.run.windows_logs import _readings; _readings(); "
        "print('[' + str('sigma.plugins' in sys.modules).lower() + ']')"
    )
    assert _fresh(code) == [False]
