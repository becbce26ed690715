"""The `kql` engine: the KQL rulec emits, read back by rulec's KQL front end and executed.

No Kusto runs here. The emitted text is parsed and lowered by the same front end that reads
`.kql` rules, and the IR it gives runs on the reference executor (DuckDB, or the SQL engine
given). This checks the KQL writer against the KQL reader: a value that changes the structure
of the text, an operator written with another meaning than the one read, a lost stage or
window all show. It cannot catch a misreading the writer and the reader share (both follow
Microsoft's documentation as rulec reads it), nor anything Kusto does that the reader does not
model; Microsoft's own parser (`tests/kql_oracle`) checks that the text is valid KQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from rulec.backends.kql import KqlBackend
from rulec.compiler import ir
from rulec.compiler.run.engines import DuckDBEngine, Engine, EngineLimit, LoadOnce
from rulec.compiler.run.engines_text import TextEngine
from rulec.compiler.run.events import EventTable
from rulec.compiler.run.executor import execute


class KqlEngine(TextEngine):
    """Runs rules as the KQL they compile to, read back and executed on a SQL engine."""

    target = "kql"
    backend = KqlBackend

    def __init__(self, sql: Engine | None = None) -> None:
        self.sql = LoadOnce(sql or DuckDBEngine())

    def reread(self, text: str) -> ir.Query:
        """The emitted text as rulec's KQL front end reads it; anything but one query is an
        error of the writer (or the reader), never a rule the target cannot express."""
        from rulec.compiler.frontends.kql import load_kql

        items = load_kql(text, "<emitted kql>")
        errors = [i for i in items if isinstance(i, ir.Diagnostic) and i.severity == "error"]
        queries = [i for i in items if isinstance(i, ir.Query)]
        if errors or len(queries) != 1:
            detail = "; ".join(e.message for e in errors) or f"{len(queries)} queries"
            raise ValueError(f"the emitted KQL does not read back: {detail}\n{text}")
        return queries[0]

    def run_text(
        self,
        text: str,
        events: EventTable,
        tables: Mapping[str, EventTable],
        now: datetime | None,
        time_field: str | None,
    ) -> list[dict[str, object]]:
        parsed = self.reread(text)
        try:
            return execute(parsed, events, tables, now, time_field, engine=self.sql)
        except ir.RuleError as error:
            message = f"the KQL read back does not run on SQL: {error.diagnostic.message}"
            raise EngineLimit(message) from None
