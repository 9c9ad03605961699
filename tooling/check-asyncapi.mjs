// Runs the official AsyncAPI parser (@asyncapi/parser: what AsyncAPI Studio, the CLI and the
// generators run) on one or more documents and prints their diagnostics as JSON:
//
//   node tooling/check-asyncapi.mjs <asyncapi.json>...
//
// {"<file>": [{"severity": "error"|"warning"|"information"|"hint", "code", "path", "message"}]}
// Exits 1 when any document has an error (or could not be parsed at all).
import { Parser, fromFile } from '@asyncapi/parser';

const SEVERITY = ['error', 'warning', 'information', 'hint'];
const parser = new Parser();
const report = {};
let failed = false;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await fromFile(parser, file).parse();
  report[file] = diagnostics.map((d) => ({
    severity: SEVERITY[d.severity] ?? String(d.severity),
    code: String(d.code),
    path: d.path.join('/'),
    message: d.message,
  }));
  failed ||= !document || report[file].some((d) => d.severity === 'error');
}
console.log(JSON.stringify(report, null, 2));
process.exit(failed ? 1 : 0);
