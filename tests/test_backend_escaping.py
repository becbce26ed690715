"""Hostile values never change the structure of an emitted query.

For each target, each hostile value and each match kind: the emitted text holds exactly one
string literal, un-escaping it gives back what the target must match (the value, the value
between the target's wildcards, or a regex matching exactly the value), and removing that
literal leaves the same text as for a harmless value taking the same path.
EQL is also run through Elastic's `eql` engine (the oracle): the query selects the event whose
field holds the value and not one whose field holds the value with a character changed.
"""

from __future__ import annotations

import re

import pytest

from rulec.backends.eql import EqlBackend
from rulec.backends.kql import KqlBackend
from rulec.backends.spl import SplBackend
from rulec.compiler import ir
from rulec.compiler.run.engines_eql import run_eql
from rulec.compiler.run.events import ROW, EventTable

M, F = ir.MatchKind, ir.FieldRef

HOSTILE = [
    'say "hi"',
    "it's",
    "back`tick",
    "ends with \\",
    "two\nlines\r\tx",
    "star*",
    "what?",
    "100%_done",
    "a|b",
    "]",
    '"',
    '\\"',
    "ünïcødé ☃",
    '") or true or ("',
    "a\\*",
]

C_UNESCAPE = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}
DOUBLE_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)


def c_unescape(body: str) -> str:
    body = re.sub(r"\\u\{([0-9A-Fa-f]+)\}", lambda m: chr(int(m.group(1), 16)), body)
    return re.sub(r"\\(.)", lambda m: C_UNESCAPE.get(m.group(1), m.group(1)), body, flags=re.S)


def literals(target: str, text: str) -> list[tuple[str, str]]:
    """(literal as written, its value) for every string literal in `text`."""
    if target == "kql":
        pattern = re.compile(r'@"((?:[^"]|"")*)"|"((?:[^"\\]|\\.)*)"', re.S)
        return [
            (
                m.group(0),
                m.group(1).replace('""', '"') if m.group(1) is not None else c_unescape(m.group(2)),
            )
            for m in pattern.finditer(text)
        ]
    return [(m.group(0), c_unescape(m.group(1))) for m in DOUBLE_QUOTED.finditer(text)]


def emit(target: str, predicate: ir.Expr) -> str:
    backend = {"eql": EqlBackend, "spl": SplBackend, "kql": KqlBackend}[target]()
    return backend.emit(ir.Query(ir.Pipeline(ir.Table("T"), (ir.Filter(predicate),)))).text


def denotes(literal: str, value: str) -> bool:
    """Whether a literal stands for `value`: itself, between wildcards, or as a regex."""
    candidates = {value, f"*{value}*", f"{value}*", f"*{value}"}
    if literal.lower() in {c.lower() for c in candidates}:
        return True
    regex = literal.replace("\\z", "\\Z")
    try:
        changed = value[:-1] + "~"
        return re.search(regex, value) is not None and re.search(regex, changed) is None
    except re.error:
        return False


KINDS = [M.EQ, M.CONTAINS, M.ENDSWITH]


@pytest.mark.parametrize("target", ["eql", "spl", "kql"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", HOSTILE)
def test_value_is_one_literal_that_unescapes_to_it(target, kind, value):
    predicate = ir.Match(F("f"), kind, (value,), kind is M.EQ)
    text = emit(target, predicate)
    found = literals(target, text.replace('sourcetype="T"', ""))
    assert len(found) == 1, text
    written, meaning = found[0]
    if kind is M.EQ:
        assert meaning == value
    else:
        assert value in meaning or denotes(meaning, value), (text, meaning)
    assert "\n" not in written or target == "spl"


@pytest.mark.parametrize("target", ["eql", "spl", "kql"])
@pytest.mark.parametrize("value", HOSTILE)
def test_structure_is_that_of_a_harmless_value(target, value):
    def skeleton(v: str) -> str:
        text = emit(target, ir.Match(F("f"), M.EQ, (v,), True))
        for written, _ in literals(target, text):
            text = text.replace(written, "LIT")
        return text

    assert skeleton(value) == skeleton("harmless")


def test_trailing_backslash_does_not_escape_the_wildcard():
    predicate = ir.Match(F("f"), M.CONTAINS, ("dir\\",), False)
    assert emit("eql", predicate) == 'any where f : "*dir\\\\*"'
    assert emit("spl", predicate) == 'search sourcetype="T" f="*dir\\\\*"'
    assert emit("kql", predicate) == 'T\n| where f contains @"dir\\"'


eql = pytest.importorskip("eql", reason="Elastic's eql package is the oracle for the EQL cases")


def eql_selects(text: str, value: str) -> bool:
    """Whether Elastic's eql engine (the `eql` engine of `rulec run`) selects `f: value`."""
    return bool(run_eql(text, EventTable((ROW, "f"), ({ROW: 0, "f": value},))))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", HOSTILE)
def test_eql_engine_matches_exactly_the_hostile_value(kind, value):
    text = emit("eql", ir.Match(F("f"), kind, (value,), False))
    assert eql_selects(text, value)
    changed = value[:-1] + ("#" if value[-1] != "#" else "$")
    suffixed = value + "#"
    assert not eql_selects(text, changed if kind is not M.ENDSWITH else suffixed)
