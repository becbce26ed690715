"""Processing items that decide by log source alone remember their decision per log source.

A pipeline tries each of its processing items on every rule, and most items apply only to some
log sources (`rule_conditions: [{type: logsource, ...}]`). Whether such an item applies depends
only on the rule's category, product and service at that point (`LogsourceCondition`), so each
item answers once per distinct log source: the same answers as pySigma's, without testing every
condition of every item on every rule again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sigma.processing.conditions.rule import LogsourceCondition
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaLogSource, SigmaRule


def remember_logsource_conditions(pipeline: ProcessingPipeline) -> ProcessingPipeline:
    """`pipeline`, each of its items whose rule conditions are all log source conditions made
    to remember, per log source, whether it applies to a rule."""
    for item in pipeline.items:
        conditions = item.rule_conditions
        if (
            item.rule_condition_expression is None
            and isinstance(conditions, list)
            and conditions
            and all(type(condition) is LogsourceCondition for condition in conditions)
        ):
            item.match_rule_conditions = _remembering(item.match_rule_conditions)
    return pipeline


def _remembering(match: Callable[[Any], bool]) -> Callable[[Any], bool]:
    answers: dict[tuple[str | None, str | None, str | None], bool] = {}

    def remembered(rule: Any) -> bool:
        source = rule.logsource if type(rule) is SigmaRule else None
        if type(source) is not SigmaLogSource:
            return match(rule)  # a correlation reads the log sources of its rules
        key = (source.category, source.product, source.service)
        answer = answers.get(key)
        if answer is None:
            answer = answers[key] = match(rule)
        return answer

    return remembered
