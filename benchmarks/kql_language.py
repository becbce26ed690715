"""KQL as a language: how much of Kusto.Language's built-in list rulec parses, lowers and emits.

    nice python benchmarks/kql_language.py [--json FILE] [--list CATEGORY]

The lists are Microsoft's: Kusto.Language (the npm package in tests/kql_oracle, run by Node.js)
names every built-in scalar function, aggregate and plug-in with its signatures, and every query
operator as a syntax node. Each function gets one sample query built from its first signature's
required parameters (the first one a column of the parameter's type, the others literals; a
parameter with a fixed set of values gets the first of them); each operator, a sample written
here. A sample counts only where Microsoft's parser accepts it. Per category the table counts how
many samples rulec parses, lowers into the IR, and emits for each target. Emitting is not
meaning: what each function computes is tested from its documentation's examples
(tests/test_kql_language.py). Hidden and obsolete entries (whose current name is listed) are left
out.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from rulec.backends.registry import emit
from rulec.compiler import ir
from rulec.compiler.frontends.kql import load_kql, parse_kql

REPO = Path(__file__).resolve().parents[1]
ORACLE = REPO / "tests" / "kql_oracle"
TARGETS = ("kql", "duckdb", "postgres", "spark")
CATEGORIES = ("string", "datetime", "dynamic", "IP", "hash", "math", "conditional", "conversion")
CATEGORIES += ("series", "other scalar", "aggregate", "plug-in", "operator")

DUMP = r"""
const path = require("path");
const base = path.join(process.argv[2], "node_modules", "@kusto", "language-service-next");
global.Bridge = require(path.join(base, "bridge.js"));
require(path.join(base, "Kusto.Language.Bridge.js"));
const K = Kusto.Language, kinds = K.Symbols.ParameterTypeKind;
const kindName = Object.fromEntries(Object.keys(kinds).filter(k => typeof kinds[k] === "number")
  .map(k => [kinds[k], k]));
const items = list => Array.from({ length: list.Count }, (_, i) => list.getItem(i));
function signature(sig) {
  const params = [];
  for (let i = 0; i < sig.Parameters.Count; i++) {
    const p = sig.Parameters.getItem(i);
    params.push({ name: p.Name, kind: kindName[p.TypeKind], optional: p.IsOptional,
      types: items(p.DeclaredTypes).map(t => t.Name), values: items(p.Values) });
  }
  const ret = sig.DeclaredReturnType;
  return { params, returns: ret ? ret.Name : null, min: sig.MinArgumentCount };
}
function entries(list) {
  return list.filter(f => !f.IsHidden && !f.IsObsolete).map(f => ({ name: f.Name,
    tabular: Boolean(f.IsTabular),
    signatures: items(f.Signatures).map(signature) }));
}
const operators = Object.keys(K.Syntax).filter(k => /^[A-Z]\w*Operator$/.test(k)
  && K.Syntax[k].prototype instanceof K.Syntax.QueryOperator);
process.stdout.write(JSON.stringify({ functions: entries(K.Functions.All),
  aggregates: entries(K.Aggregates.All), plugins: entries(K.PlugIns.All), operators }));
"""

# a literal per declared type; the first parameter is the column of its type instead
LITERALS = {
    "string": '"a"', "long": "1", "int": "1", "real": "1.5", "decimal": "decimal(1.5)",
    "datetime": "datetime(2024-01-01)", "timespan": "1h", "bool": "true", "guid":
    "guid(00000000-0000-0000-0000-000000000001)", "dynamic": 'dynamic(["a"])',
}  # fmt: skip
COLUMNS = {"string": "S", "long": "N", "int": "N", "real": "R", "decimal": "R", "datetime": "D"}
COLUMNS |= {"timespan": "TS", "bool": "B", "guid": "G", "dynamic": "J"}
KIND_TYPES = {
    "Integer": "long", "RealOrDecimal": "real", "Number": "long", "Summable": "long",
    "Orderable": "long", "CommonNumber": "long", "CommonSummable": "long", "NumberOrBool": "long",
    "CommonOrderable": "long", "StringOrDynamic": "string", "StringOrArray": "string",
    "IntegerOrArray": "long", "DynamicArray": "dynamic", "DynamicBag": "dynamic",
}  # fmt: skip
# Kusto.Language's operator syntax nodes -> a sample of the operator (None: not a query operator
# a detection query writes: graph and partition operators, hints)
OPERATORS = {
    "AsOperator": "T | as X", "ConsumeOperator": "T | consume", "CountOperator": "T | count",
    "DistinctOperator": "T | distinct S", "EvaluateOperator": "T | evaluate bag_unpack(J)",
    "ExtendOperator": "T | extend X = N + 1", "FacetOperator": "T | facet by S",
    "FilterOperator": 'T | where S == "a"', "FindOperator": 'find in (T) where S == "a"',
    "ForkOperator": "T | fork (take 1) (take 2)", "GetSchemaOperator": "T | getschema",
    "InvokeOperator": "T | invoke F()", "JoinOperator": "T | join kind=inner (U) on S",
    "LookupOperator": "T | lookup (U) on S", "MakeSeriesOperator":
    "T | make-series X = count() on D from datetime(2024-01-01) to datetime(2024-01-02) step 1h",
    "MvApplyOperator": "T | mv-apply J on (take 1)", "MvExpandOperator": "T | mv-expand J",
    "ParseKvOperator": 'T | parse-kv S as (k: string) with (pair_delimiter=",", kv_delimiter="=")',
    "ParseOperator": 'T | parse S with "a" X " " Y', "ParseWhereOperator":
    'T | parse-where S with "a" X " " Y', "PartitionOperator": "T | partition by S (take 1)",
    "PrintOperator": "print X = 1", "ProjectAwayOperator": "T | project-away S",
    "ProjectKeepOperator": "T | project-keep S", "ProjectOperator": "T | project S",
    "ProjectRenameOperator": "T | project-rename X = S",
    "ProjectReorderOperator": "T | project-reorder S", "RangeOperator":
    "range X from 1 to 3 step 1", "ReduceByOperator": "T | reduce by S",
    "RenderOperator": "T | render table", "SampleDistinctOperator": "T | sample-distinct 2 of S",
    "SampleOperator": "T | sample 2", "ScanOperator":
    'T | scan with (step s1: S == "a";)', "SearchOperator": 'T | search "a"',
    "SerializeOperator": "T | serialize", "SortOperator": "T | sort by N desc",
    "SummarizeOperator": "T | summarize count() by S", "TakeOperator": "T | take 10",
    "TopHittersOperator": "T | top-hitters 2 of S", "TopNestedOperator":
    "T | top-nested 2 of S by count()", "TopOperator": "T | top 10 by N",
    "UnionOperator": "T | union U", "AssertSchemaOperator": None, "ExecuteAndCacheOperator": None,
    "MacroExpandOperator": None, "MakeGraphOperator": None, "ProjectByNamesOperator": None,
    "PartitionByOperator": None,
}  # fmt: skip
OPERATOR_PRELUDE = "let F = (X: (*)) { X | take 1 };\nlet U = T | take 1;\n"


def builtins() -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".js", delete=False) as script:
        script.write(DUMP)
    output = subprocess.run(
        ["node", script.name, str(ORACLE)], capture_output=True, text=True, check=True
    )
    Path(script.name).unlink()
    return json.loads(output.stdout)


def argument(param: dict, first: bool) -> str | None:
    """A sample argument for a parameter, or None when it takes a table."""
    if param["kind"] == "Tabular":
        return None
    types = param["types"] or [KIND_TYPES.get(param["kind"], "long")]
    kind = types[0] if types[0] in LITERALS else "long"
    if param["values"]:
        value = param["values"][0]
        return f'"{value}"' if isinstance(value, str) else str(value).lower()
    return COLUMNS[kind] if first else LITERALS[kind]


def call(entry: dict) -> str | None:
    signature = min(entry["signatures"], key=lambda s: s["min"])
    params = [p for p in signature["params"] if not p["optional"]][: max(signature["min"], 0)]
    args = [argument(p, i == 0) for i, p in enumerate(params)]
    return None if None in args else f"{entry['name']}({', '.join(args)})"  # type: ignore[arg-type]


def category(entry: dict) -> str:
    """The documentation's grouping of a scalar function, read from its name and types."""
    name, signature = entry["name"], entry["signatures"][0]
    returns = signature["returns"]
    first = (signature["params"][0]["types"] or [None])[0] if signature["params"] else None
    rules = [
        ("series", r"^series_|^fft$|^ifft$"),
        ("IP", r"^ipv[46]_|^parse_ipv|^format_ipv|^geo_info_from_ip"),
        ("hash", r"^hash"),
        ("conditional", r"^(iff|iif|case|coalesce|max_of|min_of|is\w+|not\w*)$"),
        ("conversion", r"^to[a-z]+$|^(todynamic|toobject)$"),
        ("dynamic", r"^(array_|bag_|set_|pack|zip|treepath|jaccard|parse_json|dynamic_to)"),
    ]
    for label, pattern in rules:
        if re.search(pattern, name):
            return label
    if returns in ("datetime", "timespan") or first in ("datetime", "timespan"):
        return "datetime"
    if returns == "string" or first == "string":
        return "string"
    kind = signature["params"][0]["kind"] if signature["params"] else None
    numbers = ("long", "int", "real", "decimal")
    if returns in numbers or first in numbers or (kind in KIND_TYPES and kind != "StringOrDynamic"):
        return "math"
    return "other scalar"


def samples(lists: dict) -> list[tuple[str, str, str | None]]:
    """(category, name, sample query) for every listed built-in."""
    out: list[tuple[str, str, str | None]] = []
    table = "T"
    for entry in lists["functions"]:
        if entry["tabular"]:
            continue  # cluster(), table(), ...: sources, not scalars
        text = call(entry)
        out.append((category(entry), entry["name"], text and f"{table} | project X = {text}"))
    for entry in lists["aggregates"]:
        text = call(entry)
        out.append(("aggregate", entry["name"], text and f"{table} | summarize X = {text}"))
    for entry in lists["plugins"]:
        text = call(entry)
        out.append(("plug-in", entry["name"], text and f"{table} | evaluate {text}"))
    for name in lists["operators"]:
        sample = OPERATORS.get(name)
        if name in OPERATORS and sample is None:
            continue
        out.append(("operator", name, sample and OPERATOR_PRELUDE + sample))
    return out


def microsoft_accepts(queries: list[str]) -> list[bool]:
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for index, text in enumerate(queries):
            files.append(Path(folder) / f"{index}.kql")
            files[-1].write_text(text, encoding="utf-8")
        command = ["node", str(ORACLE / "oracle.js"), *map(str, files)]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in output.splitlines()]
    diagnostics = {row["file"]: row["diagnostics"] for row in rows}
    return [not diagnostics[str(f)] for f in files]


def outcome(text: str) -> dict[str, bool]:
    """Whether rulec parses, lowers and emits (per target) one sample."""
    _, errors = parse_kql(text, "sample.kql")
    result = {"parses": not errors, "lowers": False, **dict.fromkeys(TARGETS, False)}
    if errors:
        return result
    queries = load_kql(text, "sample.kql")
    if any(isinstance(q, ir.Diagnostic) and q.severity == "error" for q in queries):
        return result
    result["lowers"] = True
    for target in TARGETS:
        try:
            for query in queries:
                if isinstance(query, ir.Query):
                    emit(target, query)
            result[target] = True
        except ir.RuleError:
            pass
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="Write each built-in's outcome here.")
    parser.add_argument("--list", metavar="CATEGORY", help="Print one category's outcomes.")
    args = parser.parse_args()
    lists = builtins()
    rows = samples(lists)
    texts = [text for _, _, text in rows if text]
    accepted = dict(zip(texts, microsoft_accepts(texts), strict=True))
    counts: dict[str, Counter] = {c: Counter() for c in CATEGORIES}
    details = []
    columns = ("parses", "lowers", *TARGETS)
    for label, name, text in rows:
        counts[label]["listed"] += 1
        if not text or not accepted[text]:
            details.append({"category": label, "name": name, "sample": text})
            continue
        counts[label]["samples"] += 1
        result = outcome(text)
        counts[label].update(k for k in columns if result[k])
        details.append({"category": label, "name": name, "sample": text, **result})
    sizes = [len(lists[key]) for key in ("functions", "aggregates", "plugins", "operators")]
    print("Kusto.Language: {} scalar functions, {} aggregates, {} plug-ins, {} query operators"
          " (hidden and obsolete ones left out)".format(*sizes))  # fmt: skip
    print("| category | listed | samples | " + " | ".join(columns) + " |")
    print("|---" * (3 + len(columns)) + "|")
    total = Counter()
    for label in CATEGORIES:
        total.update(counts[label])
        print(row(label, counts[label], columns))
    print(row("**all**", total, columns))
    if args.list:
        for item in details:
            if item["category"] == args.list:
                print(json.dumps(item))
    if args.json:
        args.json.write_text(json.dumps(details, indent=1), encoding="utf-8")


def row(label: str, counts: Counter, columns: tuple[str, ...]) -> str:
    cells = [str(counts["listed"]), str(counts["samples"]), *(str(counts[c]) for c in columns)]
    return f"| {label} | " + " | ".join(cells) + " |"


if __name__ == "__main__":
    main()
