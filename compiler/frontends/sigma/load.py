"""The Sigma front end: pySigma parses and applies processing pipelines; this lowers to the IR.

`load_sigma` turns every rule of a Sigma file (a multi-document collection included) into an
`ir.Query`, or into an `ir.Diagnostic` with the rule's file, line and column when it cannot.
A file lowered through several pipelines is read as YAML and parsed by pySigma once
(`read_sigma`, `parse_sigma`, then `ParsedSigma.lower` per pipeline): pipelines change the rules
they process, so every pipeline but the last works on a copy (`snapshot.Snapshot`), cheaper
than a new parse.
"""

from __future__ import annotations

import functools
import importlib
import itertools
import os
import pickle
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaPipelineNotFoundError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.processing.pipeline import ProcessingPipeline
from sigma.processing.resolver import ProcessingPipelineResolver
from sigma.rule import SigmaRule

from rulec.compiler import ir
from rulec.compiler.frontends.sigma import lowering_order
from rulec.compiler.frontends.sigma.alternatives import FirstAccepting, first_accepting
from rulec.compiler.frontends.sigma.checks import shape_error
from rulec.compiler.frontends.sigma.condition import lower_condition, selects_nothing
from rulec.compiler.frontends.sigma.correlation import lower_correlation
from rulec.compiler.frontends.sigma.documents import (
    Document,
    child,
    child_pair,
    documents,
    node_span,
    yaml_error_span,
)
from rulec.compiler.frontends.sigma.errors import sigma_error_diagnostic, unexpected_diagnostic
from rulec.compiler.frontends.sigma.header import tolerated
from rulec.compiler.frontends.sigma.legacy import (
    LegacyAggregation,
    Near,
    aggregate_stage,
    aggregation_fields,
    lower_keywords,
    near_query,
    parse_aggregation,
    parse_timeframe,
    renamed,
    split_condition,
)
from rulec.compiler.frontends.sigma.meta import rule_meta, source_of
from rulec.compiler.frontends.sigma.pipeline_cache import remember_logsource_conditions
from rulec.compiler.frontends.sigma.release import release
from rulec.compiler.frontends.sigma.snapshot import Snapshot
from rulec.compiler.frontends.sigma.spans import SpanIndex, index_rule
from rulec.compiler.frontends.sigma.values import unsupported

if TYPE_CHECKING:
    from sigma.plugins import InstalledSigmaPlugins

__all__ = [
    "ParsedSigma",
    "installed_pipelines",
    "load_sigma",
    "lower_sigma",
    "parse_sigma",
    "plugins",
    "read_sigma",
    "resolve_pipeline",
]


# pipelines found in their own packages when a run names no other: pySigma's discovery imports
# every installed back end and pipeline (a sixth of `rulec run`'s memory on a small folder)
PIPELINE_FUNCTIONS = {
    "sysmon": ("sigma.pipelines.sysmon", "sysmon_pipeline"),
    "windows-audit": ("sigma.pipelines.windows", "windows_audit_pipeline"),
    "windows-logsources": ("sigma.pipelines.windows", "windows_logsource_pipeline"),
}


@functools.lru_cache(maxsize=1)
def plugins() -> InstalledSigmaPlugins:
    """pySigma's installed plugins (pipelines, validators), found once; the pipelines of
    PIPELINE_FUNCTIONS as their packages make them."""
    from sigma.plugins import InstalledSigmaPlugins

    found = InstalledSigmaPlugins.autodiscover()
    for name in PIPELINE_FUNCTIONS:
        function = _published(name)
        if function is not None:
            found.pipelines[name] = function
    return found


@functools.cache
def _published(name: str) -> Callable[[], ProcessingPipeline] | None:
    """The function that makes a pipeline of PIPELINE_FUNCTIONS, or None when it cannot be told.
    pySigma's `@Pipeline` decorator gives every function it decorates one shared object that
    makes the pipeline of the function decorated last: the function is taken from it at once,
    and only if it is the one named."""
    module, function = PIPELINE_FUNCTIONS[name]
    made = getattr(importlib.import_module(module), function)
    made = getattr(made, "func", made)
    return made if getattr(made, "__name__", None) == function else None


def _resolver(names: Sequence[str]) -> ProcessingPipelineResolver:
    """A resolver of the named pipelines: those of PIPELINE_FUNCTIONS (and files) from their
    own packages, any other name among every installed pipeline."""
    if all(name in PIPELINE_FUNCTIONS or Path(name).is_file() for name in names):
        published = {name: _published(name) for name in PIPELINE_FUNCTIONS}
        if None not in published.values():
            return ProcessingPipelineResolver(published)
    return plugins().get_pipeline_resolver()


def installed_pipelines() -> dict[str, str]:
    """The installed pySigma pipelines by name, each with its own description."""
    found = {}
    for name, pipeline in sorted(plugins().get_pipeline_resolver().pipelines.items()):
        made = pipeline() if callable(pipeline) else pipeline
        found[name] = getattr(made, "name", None) or ""
    return found


def resolve_pipeline(names: Sequence[str]) -> ProcessingPipeline | FirstAccepting | None:
    """Combine installed pySigma pipelines and pipeline YAML files, as sigma-cli's `-p` does;
    one name may list alternatives, `a|b`: each rule goes through the first that accepts it."""
    if not names:
        return None
    try:
        alternatives = first_accepting(names, _resolve_sequence)
    except ValueError as error:
        diagnostic = ir.Diagnostic("sigma.bad-pipeline", str(error), ir.Span(" ".join(names)))
        raise ir.RuleError(diagnostic) from None
    return alternatives or _resolve_sequence(list(names))


LIBYAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _pipeline_file(path: str) -> ProcessingPipeline:
    """A pipeline YAML file made as pySigma makes it (`ProcessingPipeline.from_yaml`, template
    variables only from the file's own folder), its YAML read by libyaml rather than pySigma's
    pure-Python reader; a file that cannot be read so is left to pySigma, for its own error."""
    try:
        with open(path) as handle:
            data = yaml.load(handle.read(), Loader=LIBYAML_LOADER)
    except (OSError, UnicodeError, yaml.YAMLError):
        return ProcessingPipelineResolver().resolve_pipeline(path)
    folder = os.path.dirname(os.path.realpath(path))
    return ProcessingPipeline.from_dict(data, vars_allowed_paths=(folder,))


def _resolve_sequence(names: list[str]) -> ProcessingPipeline:
    resolver = _resolver(names)
    for name in names:
        if name not in resolver.pipelines and Path(name).is_file():
            resolver.pipelines[name] = functools.partial(_pipeline_file, name)
    if not any(Path(name.rstrip("/*")).is_dir() for name in names):  # folders: refused below
        # each pipeline made once; should that fail, each is made alone below to say which
        with suppress(Exception):
            return remember_logsource_conditions(resolver.resolve(list(names)))
    for name in names:
        try:
            resolver.resolve_pipeline(name)
        except SigmaPipelineNotFoundError:
            known = ", ".join(sorted(resolver.pipelines)) or "none installed"
            raise ir.RuleError(
                ir.Diagnostic(
                    "sigma.unknown-pipeline",
                    f"unknown pipeline '{name}': expected an installed pySigma pipeline "
                    f"({known}) or the path of a pipeline YAML file",
                    ir.Span(name),
                )
            ) from None
        except (SigmaError, yaml.YAMLError, TypeError, ValueError) as error:
            raise ir.RuleError(
                ir.Diagnostic(
                    "sigma.bad-pipeline", f"pipeline '{name}' is invalid: {error}", ir.Span(name)
                )
            ) from None
    return remember_logsource_conditions(resolver.resolve(list(names)))


@dataclass
class _Parsed:
    """One document of a file, parsed by pySigma (or the diagnostic that replaced it)."""

    doc: Document
    data: dict[str, Any]
    rule: SigmaRule | SigmaCorrelationRule | SigmaFilter | None = None
    diagnostic: ir.Diagnostic | None = None
    aggregations: list[LegacyAggregation | Near | None] = field(default_factory=list)
    timeframe: object = None
    meta: ir.RuleMeta | None = None  # a rule's header, the same for every pipeline
    index: SpanIndex | None = None  # its spans, marked on the parsed rule before any copy
    snapshot: Snapshot | None = None  # the rule as pySigma parsed it, once a copy was needed
    # a log source listing values: the rule once more for each further combination of them
    others: list[tuple[SigmaRule, SpanIndex]] = field(default_factory=list)
    snapshot_others: Snapshot | None = None
    warnings: list[ir.Diagnostic] = field(default_factory=list)  # the same for every pipeline


@dataclass(frozen=True)
class SigmaText:
    """A Sigma file read as YAML: its documents, and the YAML error that ended them (if any)."""

    path: str
    documents: tuple[Document, ...]
    error: ir.Diagnostic | None = None


def read_sigma(text: str, path: str) -> SigmaText:
    """The YAML documents of `text`, up to the first broken one; none at all is an error."""
    read: list[Document] = []
    try:
        for doc in documents(text):
            read.append(doc)
    except yaml.YAMLError as error:
        message = f"broken YAML: {getattr(error, 'problem', None) or error}"
        diagnostic = ir.Diagnostic("sigma.yaml", message, yaml_error_span(path, error))
        return SigmaText(path, tuple(read), diagnostic)
    if all(doc.data is None for doc in read):
        message = "no rule in this file: it holds no YAML document, or only empty ones"
        return SigmaText(path, (), ir.Diagnostic("sigma.empty", message, ir.Span(path, 1, 1)))
    return SigmaText(path, tuple(read))


def load_sigma(
    text: str, path: str, pipeline: ProcessingPipeline | FirstAccepting | None = None
) -> list[ir.Query | ir.Diagnostic]:
    """One Query or Diagnostic per rule of `text`, in file order; never raises for bad input."""
    return lower_sigma(read_sigma(text, path), pipeline)


def lower_sigma(
    source: SigmaText, pipeline: ProcessingPipeline | FirstAccepting | None = None
) -> list[ir.Query | ir.Diagnostic]:
    """`load_sigma` for a file already read; the documents are not changed, so one `SigmaText`
    can be lowered through several pipelines."""
    return parse_sigma(source, [pipeline]).lower(0, pipeline)


@dataclass(frozen=True)
class ParsedSigma:
    """A Sigma file parsed by pySigma once, holding the rules each pipeline is to lower.

    A pipeline changes the rules it processes, so each gets rules of its own: the last one in
    `lowering_order` the parsed rules themselves, the others copies. Lowering without a pipeline
    changes nothing in the rules, so in a file without filters (which change the rules they apply
    to) it shares the parsed rules.
    """

    source: SigmaText
    rules: tuple[list[_Parsed] | None, ...]  # by pipeline index; None: parse again if lowered

    def lower(
        self, index: int, pipeline: ProcessingPipeline | FirstAccepting | None
    ) -> list[ir.Query | ir.Diagnostic]:
        """Every rule through the pipeline at `index`; call in `lowering_order`."""
        rules = self.rules[index]
        if rules is not None:
            return _lower_file(self.source, rules, pipeline)
        again = _parse_file(self.source.documents, self.source.path)
        lowered = _lower_file(self.source, again, pipeline)
        _release(again)
        return lowered

    def release(self) -> None:
        """Let go of the rules once every pipeline has lowered them (`release`), and of the
        spans `node_span` keeps by node (which keep the file's YAML nodes)."""
        node_span.cache_clear()
        for rules in {id(rules): rules for rules in self.rules if rules is not None}.values():
            _release(rules)

    def parsed_rules(self) -> list[tuple[Any, Document]]:
        """Each document's rule as pySigma parsed it, with its document (for validators)."""
        parsed = next(rules for rules in self.rules if rules is not None)
        return [(item.rule, item.doc) for item in parsed if item.rule is not None]


def _release(rules: list[_Parsed]) -> None:
    for item in rules:
        release(item.rule)
        for rule, _ in item.others:
            release(rule)


def parse_sigma(
    source: SigmaText,
    pipelines: Sequence[ProcessingPipeline | FirstAccepting | None],
    copied: Callable[[list[Any]], bool] | None = None,
) -> ParsedSigma:
    """The file's rules parsed once, with a copy for each of `pipelines` that needs one.

    `copied(rules)` (pySigma's rules, None for a document that is none) tells whether the
    pipelines after the first that changes the rules will lower them at all: when it says not,
    the first gets the parsed rules and the others none (one that lowers the file all the same
    parses it again)."""
    parsed = _parse_file(source.documents, source.path)
    filtered = any(isinstance(item.rule, SigmaFilter) for item in parsed)
    order = lowering_order(pipelines)
    changing = [i for i in order if pipelines[i] is not None or filtered]
    if copied is not None and len(changing) > 1 and not copied([p.rule for p in parsed]):
        own: list[list[_Parsed] | None] = [parsed, *[None] * (len(changing) - 1)]
    else:
        own = [*_copies(parsed, source, len(changing) - 1), parsed] if changing else []
    rules = dict.fromkeys(order, parsed) | dict(zip(changing, own, strict=True))
    return ParsedSigma(source, tuple(rules[i] for i in range(len(pipelines))))


def _copies(parsed: list[_Parsed], source: SigmaText, count: int) -> list[list[_Parsed]]:
    """`count` copies of the parsed file, restored from snapshots of its rules taken before any
    pipeline ran; should a rule not pickle, each copy is parsed again instead."""
    if count <= 0:
        return []
    try:
        for item in parsed:
            item.snapshot = Snapshot.of(item.rule)
            if item.others:
                item.snapshot_others = Snapshot.of(item.others)
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
        for item in parsed:
            item.snapshot = item.snapshot_others = None
        return [_parse_file(source.documents, source.path) for _ in range(count)]
    return [[_copy(i) for i in parsed] for _ in range(count)]


def _copy(item: _Parsed) -> _Parsed:
    assert item.snapshot is not None
    others = item.snapshot_others.restore() if item.snapshot_others else []
    return replace(item, rule=item.snapshot.restore(), others=others)


def _lower_file(
    source: SigmaText, parsed: list[_Parsed], pipeline: ProcessingPipeline | FirstAccepting | None
) -> list[ir.Query | ir.Diagnostic]:
    """Every rule of a parsed file through `pipeline`, which may change the parsed rules."""
    path = source.path
    trailing = source.error
    filters = [p.rule for p in parsed if isinstance(p.rule, SigmaFilter)]
    results: dict[int, ir.Query | ir.Diagnostic | None] = {}
    queries: dict[str, ir.Query] = {}
    read: dict[str, _ReadBy] = {}  # by rule id and name: the pipeline and log source it read
    for position, item in enumerate(parsed):
        if item.rule is None and item.diagnostic is None:
            results[position] = None  # not a rule: its warning only
        elif not isinstance(item.rule, SigmaFilter) and not isinstance(
            item.rule, SigmaCorrelationRule
        ):
            results[position] = _stamped(
                _guarded(item, path, lambda i: _lower_rule(i, path, filters, pipeline)), pipeline
            )
            _remember(item, results[position], queries)
            _remember_read(item, results[position], pipeline, read)
    for position, item in enumerate(parsed):
        if isinstance(item.rule, SigmaCorrelationRule):
            results[position] = _guarded(
                item,
                path,
                lambda i: lower_correlation(
                    i.rule,
                    i.data,
                    i.doc,
                    path,
                    _correlation_pipeline(i, path, pipeline, read),
                    queries,
                ),
            )
            results[position] = _stamped(results[position], pipeline)
            _remember(item, results[position], queries)
            _remember_read(item, results[position], pipeline, read)
    hidden = _not_generated(parsed)
    ordered: list[ir.Query | ir.Diagnostic] = []
    for position in sorted(results):
        ordered += parsed[position].warnings
        result = results[position]
        if result is not None and not _names(parsed[position]) & hidden:
            ordered.append(result)
    return ordered + ([trailing] if trailing else [])


@dataclass(frozen=True)
class _ReadBy:
    """The pipeline (of alternatives) that read a rule and its log source, or why it failed."""

    pipeline: str | None
    rule: Any
    error: ir.Diagnostic | None = None


def _stamped(
    result: ir.Query | ir.Diagnostic | None, pipeline: ProcessingPipeline | FirstAccepting | None
) -> ir.Query | ir.Diagnostic | None:
    """A query with the alternative that read it (the last rule's, for a correlation)."""
    if not isinstance(result, ir.Query) or not isinstance(pipeline, FirstAccepting):
        return result
    return replace(result, meta=replace(result.meta, pipeline=pipeline.chosen))


def _remember_read(
    item: _Parsed,
    result: ir.Query | ir.Diagnostic,
    pipeline: ProcessingPipeline | FirstAccepting | None,
    read: dict[str, _ReadBy],
) -> None:
    chosen = pipeline.chosen if isinstance(pipeline, FirstAccepting) else None
    error = result if isinstance(result, ir.Diagnostic) else None
    for name in _names(item):
        read[name] = _ReadBy(chosen, item.rule, error)


def _correlation_pipeline(
    item: _Parsed,
    path: str,
    pipeline: ProcessingPipeline | FirstAccepting | None,
    read: dict[str, _ReadBy],
) -> dict[str, tuple[Any, ProcessingPipeline | FirstAccepting | None]]:
    """Each rule a correlation names, with the pipeline that read it: the correlation's fields
    are that rule's fields, named as that pipeline named them."""
    rule = item.rule
    assert isinstance(rule, SigmaCorrelationRule)
    span = node_span(path, child(item.doc.node, "correlation") or item.doc.node)
    named = [(str(r.reference), read.get(str(r.reference))) for r in rule.rules or ()]
    for name, by in named:
        if by is not None and by.error is not None:
            message = f"the correlation needs rule '{name}', which does not convert: "
            raise ir.RuleError(replace(by.error, message=message + by.error.message, span=span))
    return {name: (by.rule, _read_through(pipeline, by)) for name, by in named if by is not None}


def _read_through(
    pipeline: ProcessingPipeline | FirstAccepting | None, by: _ReadBy
) -> ProcessingPipeline | FirstAccepting | None:
    """The pipeline (of the alternatives) that read a rule."""
    if not isinstance(pipeline, FirstAccepting) or by.pipeline is None:
        return pipeline
    return pipeline.pipelines[pipeline.names.index(by.pipeline)]


def _not_generated(parsed: list[_Parsed]) -> set[str]:
    """Rules that correlations use without `generate: true`: Sigma outputs only the correlation."""
    return {
        str(ref.reference)
        for item in parsed
        if isinstance(item.rule, SigmaCorrelationRule) and not item.rule.generate
        for ref in item.rule.rules or ()
    }


def _names(item: _Parsed) -> set[str]:
    return {str(item.data[key]) for key in ("id", "name") if item.data.get(key) is not None}


def _remember(
    item: _Parsed, result: ir.Query | ir.Diagnostic, queries: dict[str, ir.Query]
) -> None:
    """Make a lowered rule referable by correlations, by id and by name."""
    if isinstance(result, ir.Query):
        for key in ("id", "name"):
            if item.data.get(key) is not None:
                queries[str(item.data[key])] = result


def _guarded(item: _Parsed, path: str, lower: Any) -> ir.Query | ir.Diagnostic:
    if item.diagnostic is not None:
        return item.diagnostic
    try:
        query = lower(item)
        return replace(query, warnings=(*query.warnings, *item.warnings))
    except ir.RuleError as error:
        return error.diagnostic
    except SigmaError as error:
        return sigma_error_diagnostic(error, item.doc, path)
    except Exception as error:  # pySigma may fail on inputs it does not validate
        return unexpected_diagnostic(error, item.doc, path, "process")


def _parse_file(docs: Sequence[Document], path: str) -> list[_Parsed]:
    """Parse every document, applying the collection actions global, reset and repeat."""
    parsed: list[_Parsed] = []
    global_part: dict[str, Any] = {}
    previous: dict[str, Any] = {}
    for doc in docs:
        data = doc.data
        if data is None:
            continue
        if not isinstance(data, dict):
            parsed.append(_invalid(doc, path, "a Sigma document must be a mapping"))
            continue
        action = data.get("action")
        if action == "global":
            global_part = {k: v for k, v in data.items() if k != "action"}
        elif action == "reset":
            global_part = {}
        elif action == "repeat":
            previous = _merged(dict(previous), {k: v for k, v in data.items() if k != "action"})
            parsed.append(_parse_document(doc, previous, path))
        elif action is not None:
            parsed.append(_invalid(doc, path, f"unknown collection action '{action}'"))
        elif _is_meta_document(data):
            parsed.append(_parse_document(doc, data, path))
        else:
            previous = _merged(dict(global_part), data)
            rule_like = not RULE_KEYS.isdisjoint(previous)
            parsed.append(_parse_document(doc, previous, path) if rule_like else _other(doc, path))
    return parsed


RULE_KEYS = frozenset(("detection", "logsource", "correlation", "filter"))


def _other(doc: Document, path: str) -> _Parsed:
    """A YAML document that is no Sigma rule (a pipeline, a CI workflow in a rule folder)."""
    message = (
        "this YAML document is no Sigma rule (it has no detection, logsource, correlation or "
        "filter): skipped"
    )
    warning = ir.Diagnostic("sigma.not-a-rule", message, node_span(path, doc.node), "warning")
    return _Parsed(doc, {}, warnings=[warning])


def _is_meta_document(data: dict[str, Any]) -> bool:
    return isinstance(data.get("correlation"), dict) or isinstance(data.get("filter"), dict)


def _merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`update` merged into `base` in place; nested mappings are copied before they change, so
    the documents themselves are never modified."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _merged(dict(base[key]), value)
        else:
            base[key] = value
    return base


def _invalid(doc: Document, path: str, message: str) -> _Parsed:
    diagnostic = ir.Diagnostic("sigma.invalid", message, node_span(path, doc.node))
    return _Parsed(doc, {}, diagnostic=diagnostic)


def _parse_document(doc: Document, data: dict[str, Any], path: str) -> _Parsed:
    item = _Parsed(doc, data)
    try:
        header, item.warnings = tolerated(data, doc, path)
        if (shape := shape_error(header, doc, path)) is not None:
            raise shape
        source = SigmaRuleLocation(path)
        if isinstance(data.get("correlation"), dict):
            item.rule = SigmaCorrelationRule.from_dict(header, source=source)
        elif isinstance(data.get("filter"), dict):
            item.rule = SigmaFilter.from_dict(header, source=source)
        else:
            first, *others = (
                SigmaRule.from_dict(rule_data, source=source)
                for rule_data in _by_logsource(_for_pysigma(item, header, path))
            )
            item.rule = first
            item.meta = rule_meta(data, path, doc.text)
            item.index = index_rule(first, doc.node, path)
            item.others = [(rule, index_rule(rule, doc.node, path)) for rule in others]
    except ir.RuleError as error:
        item.diagnostic = error.diagnostic
    except SigmaError as error:
        item.diagnostic = sigma_error_diagnostic(error, doc, path)
    except Exception as error:  # pySigma may fail on inputs it does not validate
        item.diagnostic = unexpected_diagnostic(error, doc, path, "parse")
    return item


def _for_pysigma(item: _Parsed, header: dict[str, Any], path: str) -> dict[str, Any]:
    """The rule with legacy `| aggregation` parts and `timeframe` taken out for pySigma.

    The document's own lists and mappings are copied one level deep (pySigma builds its objects
    from them without changing them), so that one document serves every pipeline.
    """
    data = {key: _shallow_copy(value) for key, value in header.items()}
    detection = data.get("detection")
    if not isinstance(detection, dict):
        return data
    item.timeframe = detection.pop("timeframe", data.pop("timeframe", None))
    conditions = detection.get("condition")
    listed = conditions if isinstance(conditions, list) else [conditions]
    if not all(isinstance(c, str) for c in listed):
        return data
    detection_node = child(item.doc.node, "detection")
    condition_node = child(detection_node, "condition") or detection_node or item.doc.node
    left_parts = []
    for position, written in enumerate(listed):
        condition, keywords = lower_keywords(written, detection)
        if keywords:
            node = _item_node(condition_node, position)
            item.warnings.append(_keyword_case(keywords, node, path))
        left, right = split_condition(condition)
        left_parts.append(left)
        item.aggregations.append(
            parse_aggregation(right, node_span(path, condition_node)) if right else None
        )
    detection["condition"] = left_parts if isinstance(conditions, list) else left_parts[0]
    near = [a for a in item.aggregations if isinstance(a, Near)]
    if near:
        if len(listed) != 1:
            raise unsupported("'near' in a list of conditions", node_span(path, condition_node))
        detection["condition"] = [left_parts[0], *near[0].identifiers]
    if item.timeframe is not None and not any(item.aggregations):
        item.warnings.append(_unused_timeframe(item, path))
        item.timeframe = None
    named = aggregation_fields(item.aggregations)
    if named:  # pipelines rename the fields listed in `fields` as they rename the detection's
        data["fields"] = named
    return data


def _item_node(node: yaml.Node, position: int) -> yaml.Node:
    """The node of the condition at `position` (a list of conditions, or the one condition)."""
    if isinstance(node, yaml.SequenceNode) and position < len(node.value):
        return node.value[position]
    return node


def _keyword_case(keywords: list[tuple[int, str]], node: yaml.Node, path: str) -> ir.Diagnostic:
    """Keywords legacy sigmac read in any case: at the first one where the text shows it."""
    span = node_span(path, node)
    plain = isinstance(node, yaml.ScalarNode) and not node.style
    same_line = plain and node.start_mark.line == node.end_mark.line
    if same_line and span.column is not None:
        span = ir.Span(span.file, span.line, span.column + keywords[0][0])
    written = ", ".join(dict.fromkeys(f"'{word}'" for _, word in keywords))
    message = (
        f"the condition writes {written} not in lower case, as legacy Sigma tooling allowed; "
        "read as Sigma's lower-case keywords"
    )
    return ir.Diagnostic("sigma.keyword-case", message, span, "warning")


def _unused_timeframe(item: _Parsed, path: str) -> ir.Diagnostic:
    """Legacy `timeframe` without an aggregation in the condition: it changes nothing."""
    pair = child_pair(child(item.doc.node, "detection"), "timeframe")
    pair = pair or child_pair(item.doc.node, "timeframe")
    message = (
        f"'timeframe: {item.timeframe}' is ignored: no aggregation in the condition uses it "
        "(legacy Sigma: 'selection | count() > 5')"
    )
    span = node_span(path, pair[0] if pair else item.doc.node)
    return ir.Diagnostic("sigma.meta.timeframe", message, span, "warning")


def _shallow_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    return list(value) if isinstance(value, list) else value


def _by_logsource(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The rule once per log source it names: an older-format log source with lists
    (`category: [ps_module, ps_script]`) means events of any of their combinations."""
    logsource = data.get("logsource")
    if not isinstance(logsource, dict):
        return [data]
    keys = [k for k in ("product", "category", "service") if isinstance(logsource.get(k), list)]
    if not keys or not all(
        logsource[k] and all(isinstance(v, str) for v in logsource[k]) for k in keys
    ):
        return [data]  # pySigma reports what is wrong with it
    combos = itertools.product(*(dict.fromkeys(logsource[k]) for k in keys))
    return [data | {"logsource": logsource | dict(zip(keys, c, strict=True))} for c in combos]


def _lower_rule(
    item: _Parsed,
    path: str,
    filters: list[Any],
    pipeline: ProcessingPipeline | FirstAccepting | None,
) -> ir.Query:
    assert item.meta is not None and item.index is not None
    index = item.index
    span = index.condition(0)
    branches = [
        _branch(item, rule, rule_index, path, filters, pipeline, snapshot)
        for rule, rule_index, snapshot in [
            (item.rule, index, item.snapshot),
            *((rule, rule_index, None) for rule, rule_index in item.others),
        ]
    ]
    source, exprs, fields = branches[0]
    aggregation = _single_aggregation(item.aggregations, span)
    if isinstance(aggregation, LegacyAggregation):
        aggregation = renamed(aggregation, aggregation_fields([aggregation]), fields)
    timeframe = parse_timeframe(item.timeframe, span) if item.timeframe else None
    if isinstance(aggregation, Near):
        if len(branches) > 1:
            raise unsupported("'near' over a log source listing several values", span)
        correlated, lets = near_query(aggregation, exprs, source, timeframe, span)
        return ir.Query(correlated, lets=lets, meta=item.meta, span=index.rule_span)
    filters_of = [
        (ir.Filter(exprs[0] if len(exprs) == 1 else ir.Or(tuple(exprs), span=span), span=span),)
        for _, exprs, _ in branches
    ]
    stages: tuple[ir.Stage, ...] = filters_of[0]
    if len(branches) > 1:
        parts = (
            ir.Pipeline(s, f, span=s.span)
            for (s, _, _), f in zip(branches, filters_of, strict=True)
        )
        source, stages = ir.AnySource(tuple(parts), span=source.span), ()
    if aggregation is not None:
        stages += (aggregate_stage(aggregation, timeframe, span),)
    return ir.Query(
        ir.Pipeline(source, stages, span=index.rule_span), meta=item.meta, span=index.rule_span
    )


def _branch(
    item: _Parsed,
    rule: Any,
    index: SpanIndex,
    path: str,
    filters: list[Any],
    pipeline: ProcessingPipeline | FirstAccepting | None,
    snapshot: Snapshot | None,
) -> tuple[ir.LogSource | ir.Table, list[ir.Expr], list[str]]:
    """One parsed rule through the filters and `pipeline`: its source, its conditions and its
    `fields` as the pipeline renamed them."""
    assert isinstance(rule, SigmaRule)
    given = rule
    for sigma_filter in filters:
        rule = sigma_filter.apply_on_rule(rule)
    table = None
    if isinstance(pipeline, FirstAccepting):
        rule = pipeline.apply_first(
            rule, None if filters else snapshot, functools.partial(_empty, index)
        )
    elif pipeline is not None:
        pipeline.apply(rule)
    if pipeline is not None:
        table = pipeline.state.get("query_table")
    exprs = [
        lower_condition(condition, index, index.condition(i))
        for i, condition in enumerate(rule.detection.parsed_condition)
    ]
    source = source_of(rule.logsource, item.doc.node, path, table)
    fields = list(rule.fields)
    if rule is not given:  # a copy made here (an alternative pipeline's, a filter's)
        release(rule)
    return source, exprs, fields


def _empty(index: SpanIndex, rule: SigmaRule) -> str | None:
    """Why a rule as a pipeline left it cannot be read: every item a condition reads dropped."""
    conditions = enumerate(rule.detection.parsed_condition)
    if any(selects_nothing(condition, index.condition(i)) for i, condition in conditions):
        return "the condition selects nothing (every detection item was dropped)"
    return None


def _single_aggregation(
    aggregations: list[LegacyAggregation | Near | None], span: ir.Span
) -> LegacyAggregation | Near | None:
    present = {a for a in aggregations if a is not None}
    if not present:
        return None
    if len(present) > 1 or len(present) != len(set(aggregations)):
        raise unsupported(
            "several conditions with different aggregations (only one aggregation per rule)", span
        )
    return present.pop()
