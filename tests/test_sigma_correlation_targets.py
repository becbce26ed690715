"""Sigma correlation rules reach every target that can express them, kql included.

Oracles: the `microsoft_xdr` pipeline's own mapping (process_creation reads DeviceProcessEvents,
`User` is `AccountName`, `Image` is `FolderPath`), which the correlation's group-by must follow as
its rule's fields do, and Microsoft's KQL parser (tests/kql_oracle), which must accept the
emitted query.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from test_kql_oracle import oracle_accepts

from rulec.backends.kql import KqlBackend
from rulec.compiler import ir
from rulec.compiler.cli import main
from rulec.compiler.frontends.sigma.load import load_sigma, resolve_pipeline

RULES = """\
title: base
name: base_proc
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\\\whoami.exe'}
  condition: sel
---
title: many whoami
correlation:
  type: event_count
  rules: [base_proc]
  group-by: [User]
  timespan: 10m
  condition: {gte: 3}
"""


def kql_query() -> ir.Query:
    pipeline = resolve_pipeline(["microsoft_xdr|azure_monitor|sentinel_asim"])
    [query] = load_sigma(RULES, "corr.yml", pipeline)
    assert isinstance(query, ir.Query), query
    return query


def test_a_correlation_goes_through_the_pipeline_that_read_its_rule() -> None:
    query = kql_query()
    correlation = query.pipeline.stages[-1]
    assert isinstance(correlation, ir.Correlation)
    assert correlation.group_by == ("AccountName",)
    [let] = query.lets
    assert let.value.source == ir.Table("DeviceProcessEvents")


def test_the_emitted_kql_parses_in_microsofts_parser(tmp_path: Path) -> None:
    path = tmp_path / "corr.kql"
    path.write_text(KqlBackend().emit(kql_query()).text)
    assert oracle_accepts([path]) == {str(path): True}


def test_convert_to_kql_names_no_internal_error(tmp_path: Path) -> None:
    path = tmp_path / "corr.yml"
    path.write_text(RULES)
    result = CliRunner().invoke(main, ["convert", "-t", "kql", str(path)])
    assert result.exit_code == 0, result.output
    assert "attribute" not in result.output and "DeviceProcessEvents" in result.stdout
