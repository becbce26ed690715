// Microsoft's KQL parser as an oracle. With no arguments: reads KQL on stdin and prints its syntax
// diagnostics as JSON [{line, column, message, severity}]. With file arguments: one JSON line per
// file, {file, diagnostics}.
"use strict";
const path = require("path");
const base = path.join(__dirname, "node_modules", "@kusto", "language-service-next");
global.Bridge = require(path.join(base, "bridge.js"));
require(path.join(base, "Kusto.Language.Bridge.js"));

function lineColumn(text, offset) {
  const before = text.slice(0, offset).split("\n");
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

function syntaxDiagnostics(text) {
  const code = Kusto.Language.KustoCode.Parse(text);
  const diagnostics = code.GetSyntaxDiagnostics();
  const out = [];
  for (let i = 0; i < diagnostics.Count; i++) {
    const d = diagnostics.getItem(i);
    out.push({ ...lineColumn(text, d.Start), message: d.Message, severity: String(d.Severity) });
  }
  return out;
}

if (process.argv.length > 2) {
  const fs = require("fs");
  for (const file of process.argv.slice(2)) {
    const diagnostics = syntaxDiagnostics(fs.readFileSync(file, "utf8"));
    process.stdout.write(JSON.stringify({ file, diagnostics }) + "\n");
  }
  return;
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => process.stdout.write(JSON.stringify(syntaxDiagnostics(input)) + "\n"));
