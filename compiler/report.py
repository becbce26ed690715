"""How results are printed: JSON lines for scripts, short text for people."""

from __future__ import annotations

import json

from rulec.compiler import ir
from rulec.compiler.outcomes import Outcome


def diagnostic_json(diagnostic: ir.Diagnostic) -> dict[str, object]:
    out: dict[str, object] = {"code": diagnostic.code, "message": diagnostic.message}
    span = diagnostic.span
    for key, value in (("file", span.file), ("line", span.line), ("column", span.column)):
        if value is not None:
            out[key] = value
    if diagnostic.target:
        out["target"] = diagnostic.target
    return out


def diagnostic_text(diagnostic: ir.Diagnostic) -> str:
    span = diagnostic.span
    where = ":".join(str(p) for p in (span.file, span.line, span.column) if p is not None)
    target = f" [{diagnostic.target}]" if diagnostic.target else ""
    return f"{where}: {diagnostic.severity}[{diagnostic.code}]{target}: {diagnostic.message}"


def outcome_json(outcome: Outcome) -> str:
    out: dict[str, object] = {"rule": outcome.rule}
    if outcome.id:
        out["id"] = outcome.id
    out["target"] = outcome.target
    out["ok"] = outcome.ok
    if outcome.ok:
        out["query"] = outcome.query
    else:
        out["error"] = diagnostic_json(outcome.error)
    if outcome.notes:
        out["notes"] = [diagnostic_json(n) for n in outcome.notes]
    if outcome.warnings:
        out["warnings"] = [diagnostic_json(w) for w in outcome.warnings]
    return json.dumps(out, ensure_ascii=False)


def outcome_text(outcome: Outcome) -> str:
    """The query under a header line; failures go to stderr through `diagnostic_text`."""
    header = f"== {outcome.rule} [{outcome.target}]"
    if outcome.title:
        header += f" {outcome.title}"
    notes = "".join(f"== note: {n.message}\n" for n in outcome.notes)
    return f"{header}\n{notes}{outcome.query}\n"
