// Validates an AsyncAPI document with the AsyncAPI parser (JSON Schema of the spec + its
// semantic rules). Prints one line per diagnostic: "<severity> <code> <path> <message>";
// exits 1 when the document did not parse or any error or warning was found.
import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';

const SEVERITIES = ['error', 'warning', 'info', 'hint'];
const { document, diagnostics } = await new Parser().parse(readFileSync(process.argv[2], 'utf8'));
for (const d of diagnostics) {
  console.log(`${SEVERITIES[d.severity]} ${d.code} ${d.path.join('/')} ${d.message}`);
}
process.exit(document && !diagnostics.some((d) => d.severity <= 1) ? 0 : 1);
