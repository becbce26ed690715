// Microsoft's semantic analysis as an oracle of result columns: reads {"tables": {name: {column:
// type}}, "queries": [text, ...]} on stdin, declares the tables in one database, and prints, per
// query, the names of its result's columns in order as JSON [[name, ...], ...].
"use strict";
const path = require("path");
const base = path.join(__dirname, "node_modules", "@kusto", "language-service-next");
global.Bridge = require(path.join(base, "bridge.js"));
require(path.join(base, "Kusto.Language.Bridge.js"));
const Symbols = Kusto.Language.Symbols;

function globals(tables) {
  const members = new (System.Collections.Generic.List$1(Symbols.Symbol).ctor)();
  for (const [name, columns] of Object.entries(tables)) {
    const schema = Object.entries(columns).map(([column, type]) => `['${column}']:${type}`);
    members.add(Symbols.TableSymbol.From("(" + schema.join(", ") + ")").WithName(name));
  }
  const database = new Symbols.DatabaseSymbol.$ctor3("rulec", null, members, false);
  return Kusto.Language.GlobalState.Default.WithDatabase(database);
}

function columns(text, state) {
  const result = Kusto.Language.KustoCode.ParseAndAnalyze(text, state).ResultType;
  const names = [];
  for (let i = 0; result && result.Columns && i < result.Columns.Count; i++) {
    names.push(result.Columns.getItem(i).Name);
  }
  return names;
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  const state = globals(request.tables);
  process.stdout.write(JSON.stringify(request.queries.map((q) => columns(q, state))) + "\n");
});
