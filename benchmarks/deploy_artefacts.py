"""Deploy artefacts over a Sigma corpus: how many convert, validate against each product's
schema, and name ATT&CK tactics when their rule has ATT&CK tags.

    nice python benchmarks/deploy_artefacts.py [CORPUS ...] [--workers N] [--json FILE]

Each format reads the rules through its default pipelines, as `rulec convert --format FORMAT
--allow bucket,case` does. An artefact validates when it parses and the product's schema (see
tests/deploy_validation.py) finds nothing to reject. A rule "has ATT&CK tags" when one of its tags
is `attack.<tactic>` or `attack.t<number>`; its artefact "names tactics" when the format's tactic
field is not empty (Elastic `threat`, Sentinel `tactics`, Defender's alert `category`, Splunk ES
`mitre_attack` annotations with a tactic id); rules that name none because their ATT&CK tags are
unknown to the ATT&CK data rulec ships (a `deploy.attack-unknown` warning), or because their only
tactic is one the product has no name for (`deploy.attack-tactic`: Sentinel and Defender XDR have
none for Defense Impairment), are counted apart. The rules that do not convert are counted by
reason (the diagnostic's code and message, numbers and quoted names left out). Splunk searches are
counted when they begin with the index macro, and with an add-on's sourcetype or source after it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

import yaml

from rulec.backends.base import Options
from rulec.backends.deploy_targets import FORMATS, pipeline_target
from rulec.backends.pipelines import pipelines_for
from rulec.compiler.corpus import convert_corpus
from rulec.compiler.rules import discover

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO / "tests"))
from deploy_validation import parse, problems, tactics  # noqa: E402

ATTACK_TAG = re.compile(r"attack\.(t\d{4}|[a-z]+[-_][a-z-_]+|[a-z]+)$", re.IGNORECASE)
DATA = re.compile(r"(^|\[)search `rulec_index\(\w+\)` (sourcetype|source)[ =]")
OPTIONS = Options(approximations=frozenset({"bucket", "case"}))


def attack_tagged(files: list[Path]) -> set[tuple[str, str | None]]:
    """(file, rule title) of each rule with an ATT&CK tactic or technique tag."""
    tagged = set()
    for path in files:
        try:
            documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        for document in documents:
            if isinstance(document, dict) and any(
                isinstance(t, str) and ATTACK_TAG.match(t) and not re.match(r"attack\.[gs]\d", t)
                for t in document.get("tags") or ()
            ):
                tagged.add((str(path), document.get("title")))
    return tagged


def measure(files: list[Path], workers: int | None) -> dict[str, dict[str, int]]:
    groups: dict[tuple[str, ...], list[str]] = {}
    for format in FORMATS:
        groups.setdefault(pipelines_for(pipeline_target(format), (), False), []).append(format)
    tagged = attack_tagged(files)
    counts: dict[str, Counter] = {f: Counter() for f in FORMATS}
    rejected: dict[str, Counter] = {f: Counter() for f in FORMATS}
    failed: dict[str, Counter] = {f: Counter() for f in FORMATS}
    for result in convert_corpus(files, groups, OPTIONS, workers=workers):
        for outcome in result.outcomes:
            count = counts[outcome.target]
            count["rules"] += 1
            if not outcome.ok:
                failed[outcome.target][reason(outcome.error)] += 1
                continue
            count["converted"] += 1
            document = None
            try:
                (document,) = parse(outcome.target, outcome.query)
                found = problems(SHARED, outcome.target, document)
            except (ValueError, yaml.YAMLError) as error:
                found = [f"unreadable: {type(error).__name__}"]
            if found:
                rejected[outcome.target][re.sub(r"'[^']*'|\d+", "_", found[0])[:90]] += 1
            else:
                count["valid"] += 1
            if outcome.target == "splunk-savedsearch" and document:
                search = document[1].get("search", "")
                count["search names its index macro"] += "`rulec_index(" in search
                count["and a sourcetype or source"] += bool(DATA.search(search))
            if (outcome.rule, outcome.title) in tagged:
                count["attack tagged"] += 1
                named = bool(document and tactics(outcome.target, document))
                count["names tactics"] += named
                codes = {n.code for n in outcome.notes}
                unknown = "deploy.attack-unknown" in codes
                count["no tactic, ATT&CK tags unknown to the data"] += not named and unknown
                unnamed = "deploy.attack-tactic" in codes and not unknown
                count["no tactic, the product names none of its tactics"] += not named and unnamed
    for format in FORMATS:
        print(f"{format}: {dict(counts[format])}")
        for why, n in rejected[format].most_common(5):
            print(f"    {n:5d}  invalid: {why}")
        for why, n in failed[format].most_common(8):
            print(f"    {n:5d}  not converted: {why}")
    return {f: dict(c) for f, c in counts.items()}


def reason(error) -> str:
    """A failure's diagnostic code and message, without the rule's own names and numbers."""
    message = re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "_", error.message if error else "?")
    return f"{error.code if error else '?'}: {message}"[:110]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="*", type=Path, default=[SHARED / "corpus/sigma/rules"])
    parser.add_argument("--workers", type=int)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    counts = measure(discover(args.corpus), args.workers)
    if args.json:
        args.json.write_text(json.dumps(counts, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
