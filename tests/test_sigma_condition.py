"""Sigma conditions lowered over the processed detections agree with pySigma's condition trees.

Oracle: pySigma itself. Random condition texts (pySigma's keywords, names, brackets, spaces and
stray characters, run together or apart) parse into the trees pySigma's own parser gives, or are
left to it where it fails. For random detections and conditions (identifiers, `1 of`/`all of`
selectors, not/and/or, lists of mappings, `|all`), with and without a pipeline that drops the
items of one field, the lowered IR selects, on every combination of field values, the events that
pySigma's resolved tree (`SigmaCondition.parsed`) selects. An operand left with nothing to select
drops out of its link in both (pySigma drops a None operand; a link it keeps without operands is
read the same way here); a condition that selects nothing at all is a diagnostic.
"""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_eval import evaluate
from sigma.collection import SigmaCollection
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    SigmaCondition,
)
from sigma.exceptions import SigmaConditionError

from rulec.compiler import ir
from rulec.compiler.frontends.sigma.condition_parser import parse_condition
from rulec.compiler.frontends.sigma.load import load_sigma, resolve_pipeline

FIELDS = ("A", "B", "C")
VALUES = ("x", "y", "z")
EVENTS = [
    dict(zip(FIELDS, combo, strict=True))
    for combo in itertools.product((*VALUES, None), repeat=len(FIELDS))
]
DROP_C = """\
name: drop C
priority: 10
transformations:
  - id: drop_c
    type: drop_detection_item
    field_name_conditions:
      - type: include_fields
        fields: [C]
"""


@pytest.fixture(scope="module")
def drop_c(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pipelines") / "drop_c.yml"
    path.write_text(DROP_C)
    return path


TOKENS = [
    *("not", "and", "or", "1", "any", "all", "of", "them", "(", ")", "|", "$", "é"),
    *("sel", "sel_1", "filter-a", "x*", "*", "_f*", "notepad", "andx", "1of", "all_of", "9"),
]
texts = st.lists(
    st.tuples(st.sampled_from(["", " ", "  ", "\t", "\n"]), st.sampled_from(TOKENS)), max_size=9
).map(lambda parts: "".join(space + token for space, token in parts))


@settings(max_examples=500, deadline=None)
@given(text=texts)
def test_condition_texts_parse_as_pysigma_parses_them(text: str) -> None:
    try:
        expected = SigmaCondition(text, None).parse(postprocess=False)  # type: ignore[arg-type]
    except SigmaConditionError:
        expected = None
    assert parse_condition(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("notepad", "ConditionNOT(args=[ConditionIdentifier(args=['epad']"),
        ("a andb", "ConditionAND(args=[ConditionIdentifier(args=['a']"),
        ("1 of them", "ConditionSelector(args=['1', 'them']"),
        ("(a)and(b)", "ConditionAND(args=[ConditionIdentifier(args=['a']"),
    ],
)
def test_pyparsing_reading_of_operators_is_kept(text: str, expected: str) -> None:
    assert repr(parse_condition(text)).replace("parent=None, ", "").startswith(expected)


@pytest.mark.parametrize(
    "text", ["a and", "not", "1of x", "a and1 of x", "(a", "a) or (b", "a | count() > 1"]
)
def test_texts_pysigma_rejects_are_left_to_it(text: str) -> None:
    assert parse_condition(text) is None
    with pytest.raises(SigmaConditionError):
        SigmaCondition(text, None).parse(postprocess=False)  # type: ignore[arg-type]


def _mapping() -> st.SearchStrategy[dict]:
    value = st.sampled_from(VALUES)
    values = st.one_of(value, st.lists(value, min_size=2, max_size=3))
    key = st.tuples(st.sampled_from(FIELDS), st.booleans())
    return st.dictionaries(key, values, min_size=1, max_size=3).map(
        lambda d: {
            f"{field}|all" if every and isinstance(v, list) else field: v
            for (field, every), v in d.items()
        }
    )


definitions = st.one_of(_mapping(), st.lists(_mapping(), min_size=1, max_size=3))
NAMES = ("sel", "sel_b", "filter", "filter_b")


@st.composite
def rules(draw: st.DrawFn) -> tuple[dict, str]:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    detections = {name: draw(definitions) for name in names}
    operand = st.one_of(
        st.sampled_from(names),
        st.sampled_from(["1 of sel*", "all of sel*", "1 of filter*", "1 of them", "all of them"]),
    )
    condition = draw(
        st.recursive(
            operand,
            lambda inner: st.one_of(
                operand,
                inner.map(lambda c: f"not {c}"),
                st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
                    lambda t: f"({t[0]} {t[1]} {t[2]})"
                ),
            ),
            max_leaves=5,
        )
    )
    return detections, condition


def _text(detections: dict, condition: str) -> str:
    body = yaml.safe_dump({**detections, "condition": condition}, sort_keys=False)
    return f"title: t\nlogsource:\n  product: p\ndetection:\n{textwrap.indent(body, '  ')}"


def _oracle(node: object, event: dict) -> bool | None:
    """pySigma's resolved tree on one event; None for a part that selects nothing."""
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return event[node.field] == str(node.value)
    if isinstance(node, ConditionNOT):
        inner = _oracle(node.args[0], event)
        return None if inner is None else not inner
    if isinstance(node, (ConditionAND, ConditionOR)):
        operands = [r for r in (_oracle(a, event) for a in node.args) if r is not None]
        if not operands:
            return None
        return all(operands) if isinstance(node, ConditionAND) else any(operands)
    assert node is None, node
    return None


@settings(max_examples=150, deadline=None)
@given(rule=rules(), drop=st.booleans())
def test_lowered_conditions_select_what_pysigma_selects(
    rule: tuple[dict, str], drop: bool, drop_c: Path
) -> None:
    detections, condition = rule
    text = _text(detections, condition)
    pipeline = resolve_pipeline([str(drop_c)]) if drop else None
    (pysigma_rule,) = SigmaCollection.from_yaml(text).rules
    if pipeline is not None:
        pipeline.apply(pysigma_rule)
    tree = pysigma_rule.detection.parsed_condition[0].parsed
    expected = [_oracle(tree, event) for event in EVENTS]
    (result,) = load_sigma(text, "rule.yml", pipeline)
    if all(e is None for e in expected):
        assert isinstance(result, ir.Diagnostic), result
        assert "selects nothing" in result.message
        return
    assert isinstance(result, ir.Query), result
    (stage,) = result.pipeline.stages
    assert [evaluate(stage.predicate, event) for event in EVENTS] == expected


def _lower(detection: str, pipeline: object = None) -> ir.Query | ir.Diagnostic:
    body = textwrap.indent(textwrap.dedent(detection).strip(), "  ")
    (result,) = load_sigma(
        f"title: t\nlogsource:\n  product: p\ndetection:\n{body}\n", "r.yml", pipeline
    )
    return result


def test_fields_are_located_at_their_detection_items() -> None:
    query = _lower("sel:\n  A: x\n  B:\n    - y\n    - z\ncondition: sel")
    assert isinstance(query, ir.Query)
    a, b = query.pipeline.stages[0].predicate.operands
    assert (a.field.span.line, a.field.span.column) == (6, 5)
    assert (b.field.span.line, b.field.span.column) == (7, 5)
    assert b.values == ("y", "z") and b.span.line == 8  # the first value's line


def test_a_list_of_mappings_on_one_field_is_one_list_of_values() -> None:
    query = _lower("sel:\n  - A: x\n  - A: y\ncondition: sel")
    assert isinstance(query, ir.Query)
    assert query.pipeline.stages[0].predicate == ir.Match(
        ir.FieldRef("A"), ir.MatchKind.EQ, ("x", "y"), False
    )


def test_dropped_operands_leave_the_rest(drop_c: Path) -> None:
    query = _lower(
        "sel: {A: x}\nfilter: {C: y}\ncondition: sel and not filter",
        resolve_pipeline([str(drop_c)]),
    )
    assert isinstance(query, ir.Query)
    assert query.pipeline.stages[0].predicate == ir.Match(
        ir.FieldRef("A"), ir.MatchKind.EQ, ("x",), False
    )


def test_a_condition_that_selects_nothing_is_a_located_diagnostic(drop_c: Path) -> None:
    result = _lower("sel: {C: x}\ncondition: sel", resolve_pipeline([str(drop_c)]))
    assert isinstance(result, ir.Diagnostic)
    assert (result.code, result.span.line) == ("sigma.unsupported", 6)
    assert "selects nothing" in result.message


def test_a_name_read_as_an_operator_is_explained() -> None:
    result = _lower("sel: {A: x}\nnotepad: {B: y}\ncondition: sel and notepad")
    assert isinstance(result, ir.Diagnostic) and result.span.line == 7
    assert "Detection 'epad' not defined" in result.message
    assert "reads 'notepad' as 'not epad'" in result.message


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("sel and other", "Detection 'other' not defined in detections"),
        ("sel and", "not Sigma condition syntax"),
    ],
)
def test_condition_errors_are_pysigmas(condition: str, message: str) -> None:
    result = _lower(f"sel: {{A: x}}\ncondition: {condition}")
    assert isinstance(result, ir.Diagnostic)
    assert result.code == "sigma.condition" and message in result.message
    assert result.span.line == 6
