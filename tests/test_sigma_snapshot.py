"""Rule snapshots: each restored copy is the rule as it was taken, whatever a pipeline later
does to the rule or to another copy. The oracle is pySigma's own parse of the same text and its
equality of rules; the corpus-wide check is in test_sigma_pipelines.py (each pipeline's copy
lowered as the file read alone)."""

from __future__ import annotations

from sigma.collection import SigmaCollection
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    AddFieldTransformation,
    ChangeLogsourceTransformation,
    FieldMappingTransformation,
    SetCustomAttributeTransformation,
)
from sigma.rule import SigmaRule

from rulec.compiler.frontends.sigma import lowering_order
from rulec.compiler.frontends.sigma.load import parse_sigma, read_sigma
from rulec.compiler.frontends.sigma.snapshot import Snapshot

RULE = """
title: Whoami
id: 5f6e0b8c-5d3e-4f52-9b39-1d4f0f1b2a11
tags: [attack.discovery]
fields: [CommandLine]
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\\\whoami.exe', CommandLine|contains: '/all'}
  condition: sel
"""

PIPELINE = ProcessingPipeline(
    items=[
        ProcessingItem(FieldMappingTransformation({"Image": "process.executable"})),
        ProcessingItem(AddFieldTransformation("host.name")),
        ProcessingItem(SetCustomAttributeTransformation("table", "events")),
        ProcessingItem(ChangeLogsourceTransformation(category="process", product="linux")),
    ]
)


def parsed() -> SigmaRule:
    (rule,) = SigmaCollection.from_yaml(RULE).rules
    return rule


def test_a_copy_is_the_rule_as_taken_after_a_pipeline_changed_the_rule():
    rule, pristine = parsed(), parsed()
    snapshot = Snapshot.of(rule)
    PIPELINE.apply(rule)
    assert rule != pristine and rule.custom_attributes  # the pipeline did change it
    copy = snapshot.restore()
    assert copy == pristine
    assert copy.fields == ["CommandLine"] and copy.custom_attributes == {}
    assert not copy.applied_processing_items


def test_copies_are_independent_of_each_other():
    snapshot = Snapshot.of(parsed())
    first, second = snapshot.restore(), snapshot.restore()
    PIPELINE.apply(first)
    assert second == parsed() != first
    assert first.detection is not second.detection


def test_other_kinds_are_pickled_whole():
    others = [(parsed(), 1)]
    restored = Snapshot.of(others).restore()
    assert restored == others and restored[0][0] is not others[0][0]


def test_alternatives_reuse_a_rule_only_when_the_refusal_changed_nothing():
    """A rule the first alternative refuses before any item applies goes to the next one as
    it is; one refused after a field mapping changed it goes there as a fresh copy (checked
    against pySigma's own processing of a new parse)."""
    from sigma.processing.transformations import RuleFailureTransformation

    from rulec.compiler.frontends.sigma.alternatives import FirstAccepting

    def refuse():
        return ProcessingItem(RuleFailureTransformation("no table for this rule"))

    mapping = ProcessingItem(FieldMappingTransformation({"Image": "process.executable"}))
    keep = ProcessingPipeline(items=[ProcessingItem(AddFieldTransformation("host.name"))])
    expected = keep.apply(parsed())

    clean = FirstAccepting(("refuses", "keeps"), (ProcessingPipeline(items=[refuse()]), keep))
    rule = parsed()
    assert clean.apply_first(rule) is rule == expected

    changed = ProcessingPipeline(items=[mapping, refuse()])
    after_change = FirstAccepting(("maps, then refuses", "keeps"), (changed, keep))
    rule = parsed()
    result = after_change.apply_first(rule)
    assert result is not rule and result == expected
    assert rule != expected  # the refused rule kept the first pipeline's mapping


def test_a_pipeline_told_it_gets_no_copy_still_lowers_the_file_as_with_one():
    """`copied` is a hint: a file whose copies it declines is parsed again for a later pipeline
    that lowers it all the same. Oracle: the same file lowered with its copies."""
    source = read_sigma(RULE, "whoami.yml")
    pipelines = [PIPELINE, ProcessingPipeline(items=[])]
    declined = parse_sigma(source, pipelines, copied=lambda rules: False)
    assert declined.rules[1] is None
    copied = parse_sigma(source, pipelines)
    for index in lowering_order(pipelines):
        assert declined.lower(index, pipelines[index]) == copied.lower(index, pipelines[index])
