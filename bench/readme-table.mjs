// Writes the compact benchmark table of bench/results/latest.json into README.md, between
// <!-- bench:start --> and <!-- bench:end -->: one line per scenario (the full table, every
// contender, is bench/results/latest.md).   node bench/readme-table.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatTime } from './harness.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const results = JSON.parse(readFileSync(join(root, 'bench', 'results', 'latest.json'), 'utf8'));
const scenarios = new Map();
for (const r of results.rows) {
  const key = `${r.op}|${r.dir}|${r.shape.join(',')}`;
  if (!scenarios.has(key)) scenarios.set(key, { op: r.op, dir: r.dir, shape: r.shape, rows: {} });
  scenarios.get(key).rows[r.contender] = r;
}
const maxThreads = Math.max(...results.rows.map((r) => r.threads ?? 1));
const cell = (r) => (r ? `${formatTime(r.seconds)} · ${Math.round(100 * r.copyFraction)}%` : '—');
const time = (r) => (r ? formatTime(r.seconds) : '—');
const lines = [
  `${results.machine.cpu}, ${results.machine.cores} cores, ${results.machine.fastnorm.isa}, node ${results.machine.node}, ` +
  `${results.machine.date.slice(0, 10)}, full \`npm run bench\` run. Native rows: time per call · % of the copy bandwidth at that thread count ` +
  '(reused `out` buffers unless marked alloc). Full table with GB/s: `bench/results/latest.md`.',
  '',
  `| op | dir | shape | native 1T | native ${maxThreads}T | native ${maxThreads}T alloc | reference | JS loop | best vs JS |`,
  '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
];
for (const s of scenarios.values()) {
  const r = s.rows;
  const best = Math.max(...Object.values(r).filter((x) => x.kind === 'native').map((x) => x.speedupVsJs ?? 0));
  lines.push(`| ${s.op} | ${s.dir} | [${s.shape.join(',')}] | ${cell(r['native 1T out'])} | ${cell(r[`native ${maxThreads}T out`])} | ` +
    `${time(r[`native ${maxThreads}T alloc`])} | ${time(r.reference)} | ${time(r['js loop'])} | ${best.toFixed(1)}× |`);
}
const readmePath = join(root, 'README.md');
const readme = readFileSync(readmePath, 'utf8');
const start = readme.indexOf('<!-- bench:start -->');
const end = readme.indexOf('<!-- bench:end -->');
if (start < 0 || end < start) throw new Error('README.md has no <!-- bench:start --> … <!-- bench:end --> section');
writeFileSync(readmePath, `${readme.slice(0, start)}<!-- bench:start -->\n${lines.join('\n')}\n${readme.slice(end)}`);
console.log(`README.md: ${scenarios.size} scenarios`);
