"""Seed 003 (WinRM plugin lateral movement): the KQL rule body lowers to this IR in full."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql, parse_kql

SHARED = Path(__file__).resolve().parents[2] / "shared"
SEED = SHARED / "seeds" / "003_1c460c4c04386f8e.txt"

F = ir.FieldRef
L = ir.Literal
M = ir.Match
K = ir.MatchKind
LOWER_FOLDER = ir.Extend((ir.Assign("FolderPath", ir.Call("lower", (F("FolderPath"),))),))

POTENTIAL_PLUGINS = ir.Pipeline(
    ir.Table("DeviceImageLoadEvents"),
    (
        ir.Filter(
            ir.Compare(
                ir.CompareOp.GE,
                ir.Call("ingestion_time"),
                ir.Call("ago", (ir.ScalarRef("timeframe"),)),
            )
        ),
        ir.Filter(M(F("InitiatingProcessFileName"), K.EQ, ("wsmprovhost.exe",), False)),
        ir.Filter(
            ir.Not(
                M(F("FolderPath"), K.STARTSWITH, ("C:\\windows\\assembly\\nativeimages_",), False)
            )
        ),
        ir.Invoke("FileProfile", (F("SHA1"), L(1000))),
        ir.Filter(ir.Not(M(F("ProfileAvailability"), K.EQ, ("Error",), False))),
        ir.Filter(
            M(
                F("GlobalPrevalence"),
                K.LT,
                (100,),
                True,
                (ir.Transform("coalesce", (ir.ScalarRef("default_global_prevalence"),)),),
            )
        ),
        LOWER_FOLDER,
    ),
)
POTENTIAL_WRITES = ir.Pipeline(
    ir.Table("DeviceFileEvents"),
    (
        ir.Filter(
            ir.Compare(ir.CompareOp.GE, F("Timestamp"), ir.Call("ago", (ir.ScalarRef("lookback"),)))
        ),
        ir.Filter(M(F("ActionType"), K.EQ, ("FileCreated", "FileRenamed", "FileModified"), False)),
        ir.Filter(
            ir.InPipeline(
                F("SHA1"),
                ir.Pipeline(
                    ir.PipelineRef("PotentialPlugins"),
                    (ir.Project((ir.Assign("SHA1", F("SHA1")),)),),
                ),
                case_sensitive=False,
            )
        ),
        LOWER_FOLDER,
    ),
)
EXPECTED = ir.Query(
    pipeline=ir.Pipeline(
        ir.PipelineRef("PotentialPlugins"),
        (
            ir.Join(
                ir.JoinKind.INNER,
                ir.Pipeline(ir.PipelineRef("PotentialWrites")),
                (("SHA1", "SHA1"), ("DeviceId", "DeviceId"), ("FolderPath", "FolderPath")),
            ),
        ),
    ),
    params=(
        ir.Param("timeframe", default=ir.Arith(ir.ArithOp.MUL, L(2), L(timedelta(days=1)))),
        ir.Param("default_global_prevalence", default=L(0)),
        ir.Param("lookback", default=L(timedelta(days=30))),
    ),
    lets=(
        ir.Let("PotentialPlugins", POTENTIAL_PLUGINS, materialize=True),
        ir.Let("PotentialWrites", POTENTIAL_WRITES),
    ),
)


@pytest.fixture(scope="module")
def seed_text() -> str:
    if not SEED.exists():
        pytest.skip(f"seed card not found at {SEED} (../shared beside the repository)")
    card = SEED.read_text(encoding="utf-8")
    return card.split("Rule body kusto\n\n", 1)[1].split("\nStages and Predicates", 1)[0]


def test_seed_parses_without_diagnostics(seed_text: str) -> None:
    script, diagnostics = parse_kql(seed_text, "003.kql")
    assert diagnostics == []
    assert len(script.statements) == 6


def test_seed_lowers_to_the_expected_ir(seed_text: str) -> None:
    (query,) = load_kql(seed_text, "003.kql")
    assert query.pipeline == EXPECTED.pipeline
    assert query.params == EXPECTED.params
    assert query.lets == EXPECTED.lets
    assert query.meta == ir.RuleMeta(language="kql", path="003.kql", text=seed_text)


def test_seed_spans_point_into_the_source(seed_text: str) -> None:
    (query,) = load_kql(seed_text, "003.kql")
    plugins = query.lets[0].value
    assert query.lets[0].span == ir.Span("003.kql", 4, 1)
    assert plugins.stages[2].span == ir.Span("003.kql", 8, 5)  # | where FolderPath !startswith
    assert query.pipeline.stages[0].span == ir.Span("003.kql", 22, 3)  # | join
