// Microsoft's semantic analysis as an oracle: reads {"kind": "errors" | "columns", "tables":
// {name: {column: type}}, "queries": [text, ...]} on stdin, declares the tables in one database
// of Kusto.Language's global state, and prints, per query, as JSON:
// - "errors": its error diagnostics (unknown table or column, wrong type, ...),
//   [[{line, column, message}], ...];
// - "columns": the names of its result's columns in order, [[name, ...], ...].
"use strict";
const path = require("path");
const base = path.join(__dirname, "node_modules", "@kusto", "language-service-next");
global.Bridge = require(path.join(base, "bridge.js"));
require(path.join(base, "Kusto.Language.Bridge.js"));
const Symbols = Kusto.Language.Symbols;

function quoted(name) {
  return "['" + name.replace(/\\/g, "\\\\").replace(/'/g, "\\'") + "']";
}

function globals(tables) {
  const members = new (System.Collections.Generic.List$1(Symbols.Symbol).ctor)();
  for (const [name, columns] of Object.entries(tables)) {
    const schema = Object.entries(columns).map(([column, type]) => `${quoted(column)}:${type}`);
    members.add(Symbols.TableSymbol.From("(" + schema.join(", ") + ")").WithName(name));
  }
  const database = new Symbols.DatabaseSymbol.$ctor3("rulec", null, members, false);
  return Kusto.Language.GlobalState.Default.WithDatabase(database);
}

function lineColumn(text, offset) {
  const before = text.slice(0, offset).split("\n");
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

function errors(text, state) {
  const diagnostics = Kusto.Language.KustoCode.ParseAndAnalyze(text, state).GetDiagnostics();
  const out = [];
  for (let i = 0; i < diagnostics.Count; i++) {
    const d = diagnostics.getItem(i);
    if (String(d.Severity) === "Error") out.push({ ...lineColumn(text, d.Start), message: d.Message });
  }
  return out;
}

function columns(text, state) {
  const result = Kusto.Language.KustoCode.ParseAndAnalyze(text, state).ResultType;
  const names = [];
  for (let i = 0; result && result.Columns && i < result.Columns.Count; i++) {
    names.push(result.Columns.getItem(i).Name);
  }
  return names;
}

const ANSWERS = { errors, columns };

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  const answer = ANSWERS[request.kind];
  if (answer === undefined) throw new Error(`unknown kind ${JSON.stringify(request.kind)}`);
  const state = globals(request.tables);
  process.stdout.write(JSON.stringify(request.queries.map((q) => answer(q, state))) + "\n");
});
