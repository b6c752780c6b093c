// Writes the ops of the three entry points (src/index.ts, src/promises.ts, src/reference.ts)
// from the op table (src/api/op-table.ts): one documented export per row, so that every public
// function is in the built .d.ts with its TSDoc and @example, under its exact (generic) type.
// Between the marker lines of each entry point; the rest of those files is written by hand.
//
//   node scripts/generate-entries.mjs          (npm run generate) rewrite the entry points
//   node scripts/generate-entries.mjs --check  exit 1 if they are not what the table gives
//                                              (test/op-table.test.ts runs this)
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ts = createRequire(import.meta.url)('typescript');
const TABLE = join(root, 'src', 'api', 'op-table.ts');
const BEGIN = '// ---- the ops: written by scripts/generate-entries.mjs from src/api/op-table.ts (npm run generate) ----';
const END = '// ---- end of the ops ----';

/** The rows of OP_TABLE: name, its TSDoc (the comment's lines, without indentation) and its promise form. */
function tableRows() {
  const source = ts.createSourceFile(TABLE, readFileSync(TABLE, 'utf8'), ts.ScriptTarget.Latest, true);
  let table;
  source.forEachChild(function visit(node) {
    if (ts.isVariableDeclaration(node) && node.name.getText() === 'OP_TABLE') table = node.initializer;
    else node.forEachChild(visit);
  });
  if (!table || !ts.isObjectLiteralExpression(table)) throw new Error(`${TABLE}: no OP_TABLE object literal`);
  return table.properties.map((p) => {
    const name = p.name.getText();
    const docs = ts.getJSDocCommentsAndTags(p).filter(ts.isJSDoc);
    if (docs.length === 0) throw new Error(`${TABLE}: OP_TABLE.${name} has no TSDoc`);
    const doc = docs[docs.length - 1].getText().split('\n').map((l) => l.trim().replace(/^\*/, ' *'));
    if (!doc.some((l) => l.includes('@example'))) throw new Error(`${TABLE}: the TSDoc of OP_TABLE.${name} has no @example`);
    const call = p.initializer;
    const promise = ts.isCallExpression(call) && call.arguments[2] && ts.isStringLiteral(call.arguments[2]) ? call.arguments[2].text : 'async';
    return { name, doc, promise };
  });
}

/** A doc comment with a line added before its first block tag. */
function withNote(doc, note) {
  if (!note) return doc;
  const at = doc.findIndex((l) => /^\s*\*\s*@/.test(l));
  const end = at < 0 ? doc.length - 1 : at;
  return [...doc.slice(0, end), ` * ${note}`, ...doc.slice(end)];
}

const ENTRIES = [
  { file: 'src/index.ts', line: (r) => `export const ${r.name} = syncOp(OP_TABLE.${r.name}.plan, backend.kernels);` },
  {
    file: 'src/promises.ts',
    note: (r) => (r.promise === 'sync' ? 'Not a Promise: computed on the calling thread (it merges a few values).'
      : 'Returns a Promise: computed on the libuv thread pool, bitwise as the synchronous call.'),
    line: (r) => (r.promise === 'sync' ? `export const ${r.name} = syncOp(OP_TABLE.${r.name}.plan, backend.kernels);`
      : `export const ${r.name} = asyncOp(OP_TABLE.${r.name}.plan, backend.asyncKernels);`),
  },
  { file: 'src/reference.ts', line: (r) => `export const ${r.name} = syncOp(OP_TABLE.${r.name}.plan, backend.kernels);` },
];

const rows = tableRows();
const check = process.argv.includes('--check');
let stale = [];
for (const entry of ENTRIES) {
  const file = join(root, entry.file);
  const text = readFileSync(file, 'utf8');
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`${entry.file}: the marker lines of the generated ops are missing`);
  const ops = rows.map((r) => [...withNote(r.doc, entry.note?.(r)), entry.line(r)].join('\n')).join('\n');
  const next = `${text.slice(0, begin)}${BEGIN}\n${ops}\n${text.slice(end)}`;
  if (next === text) continue;
  stale.push(entry.file);
  if (!check) writeFileSync(file, next);
}
if (check && stale.length > 0) {
  console.error(`not what src/api/op-table.ts gives: ${stale.join(', ')} (run npm run generate)`);
  process.exit(1);
}
if (!check) console.log(stale.length ? `wrote ${stale.join(', ')}` : 'the entry points are up to date');
