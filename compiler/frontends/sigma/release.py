"""Letting go of a pySigma rule once it is lowered: its back links taken out.

pySigma links every detection and detection item to its parent and every condition to the
detections it reads, so a rule is a web of cycles that only Python's cycle collector frees (a
batch runs it once per chunk of files, and then it walks every object of every copy of every
rule). Without those links a rule is freed as soon as the last reference to it goes.
"""

from __future__ import annotations

from typing import Any

from sigma.rule import SigmaDetection, SigmaDetections, SigmaRule


def release(rule: Any) -> None:
    """Take the back links out of `rule`, which is not read again; other kinds are left as
    they are (the cycle collector frees them)."""
    if not isinstance(rule, SigmaRule) or not isinstance(rule.detection, SigmaDetections):
        return
    for detection in rule.detection.detections.values():
        _unlink(detection)
    for condition in rule.detection.parsed_condition:
        condition.detections = None


def _unlink(detection: SigmaDetection) -> None:
    detection.parent = None
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            _unlink(item)
        else:
            item.parent = None
