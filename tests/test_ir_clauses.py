"""Clauses read from the IR (`ir_clauses`) against clauses read from the compiled filter.

Oracle: `prefilter.clauses` over the SQL the DuckDB back end writes for the same rule, bound to
the same table (`Runner.plan(..., written=True)`, which always compiles): for every SigmaHQ
Windows rule (each read through both Windows readings) and every regression rule, the plan made
from the IR must hold the same clauses and read the same columns.
"""

from __future__ import annotations

from conftest import regression_cases
from rulec.compiler import ir
from rulec.compiler.rules import discover, load_rules
from rulec.compiler.run.engines import DuckDBEngine
from rulec.compiler.run.events import RAW, ROW, EventTable
from rulec.compiler.run.multirule import runner as multirule
from rulec.compiler.run.windows_logs import load_windows_rules


def _queries(shared) -> list[ir.Query]:
    windows = [
        item
        for path in discover([shared / "corpus" / "sigma" / "rules" / "windows"])
        for item in load_windows_rules(path)
    ]
    regression = [q for case in regression_cases() for q in load_rules(shared / case["rule"])]
    return [q for q in windows + regression if isinstance(q, ir.Query)]


def _table(queries: list[ir.Query]) -> EventTable:
    """One event with every field the rules name (but one, that no event has)."""
    fields = sorted({f.name for q in queries for f in ir.find_all(q, ir.FieldRef)} - {"Hashes"})
    columns = (ROW, RAW, *fields)
    return EventTable(columns, ({ROW: 1, RAW: "x", **dict.fromkeys(fields, "x")},))


def test_clauses_read_from_the_ir_are_those_of_the_compiled_filter(shared, monkeypatch):
    queries = _queries(shared)
    runner = multirule.Runner(DuckDBEngine(), _table(queries), {}, None, None)
    runner.load({multirule.main_table(q) for q in queries})
    from_ir = []
    plan_from_ir = runner.plan_from_ir

    def spied(index, *args):
        planned = plan_from_ir(index, *args)
        from_ir.append(planned is not None)
        return planned

    monkeypatch.setattr(runner, "plan_from_ir", spied)
    compared = 0
    for index, query in enumerate(queries):
        fast = runner.plan(index, query)
        if not (from_ir and from_ir.pop()):
            continue
        slow = runner.plan(index, query, written=True)
        assert isinstance(fast, multirule.Plan) and isinstance(slow, multirule.Plan), query.meta
        assert (fast.clauses, fast.columns) == (slow.clauses, slow.columns), query.meta.title
        assert fast.check == slow.check  # compiled on demand, the same filter
        compared += 1
    assert compared > len(queries) // 2, f"{compared} of {len(queries)} rules planned from the IR"
