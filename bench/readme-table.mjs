// Writes the compact benchmark table of bench/results/latest.json into README.md, between
// <!-- bench:start --> and <!-- bench:end -->: the chart (results/latest.svg) and one line per
// scenario (the full table, every contender, is bench/results/latest.md).
//   node bench/readme-table.mjs
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
const hasPeers = results.rows.some((r) => r.kind === 'peer');
const cell = (r) => (r ? `${formatTime(r.seconds)} · ${Math.round(100 * r.copyFraction)}%` : '—');
const time = (r) => (r ? formatTime(r.seconds) : '—');
const peerCell = (r) => (r ? `${formatTime(r.seconds)}${r.impl ? ` (${r.impl})` : ''}` : '—');
const fastest = (rows) => (rows.length ? rows.reduce((a, b) => (b.seconds < a.seconds ? b : a)) : null);
const speedup = (r) => (r?.speedupVsPeer ? `${r.speedupVsPeer.toFixed(2)}×` : '—');
const peers = (results.peers ?? []).map((p) => `${p.name}: ${p.available ? p.note : `skipped (${p.note})`}`);
const lines = [
  `${results.machine.cpu}, ${results.machine.cores} cores, ${results.machine.fastnorm.isa}, node ${results.machine.node}, ` +
  `${results.machine.date.slice(0, 10)}, full \`npm run bench\` run, load average ${results.machine.loadavgStart[0].toFixed(1)} at the start ` +
  `(a shared machine: medians of interleaved samples). Native rows: time per call · % of the copy bandwidth at that thread count ` +
  '(reused `out` buffers unless marked alloc). Peer cells: median of the fastest variant. "vs peer": fastest peer time / native ' +
  '`out` time at that thread count. Full table with GB/s, every contender: `bench/results/latest.md`.',
  '',
  '![fastnorm speedup over the fastest peer, per op](bench/results/latest.svg)',
  '',
  ...(hasPeers ? [...peers.map((p) => `- ${p}`), ''] : []),
  hasPeers
    ? `| op | dir | shape | native 1T | native ${maxThreads}T | native ${maxThreads}T alloc | PyTorch 1T | PyTorch ${maxThreads}T | ` +
      `onnxruntime | TF.js cpu | vs peer 1T | vs peer ${maxThreads}T | JS loop | best vs JS |`
    : `| op | dir | shape | native 1T | native ${maxThreads}T | native ${maxThreads}T alloc | reference | JS loop | best vs JS |`,
  hasPeers ? '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'
    : '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
];
for (const s of scenarios.values()) {
  const r = s.rows;
  const best = Math.max(...Object.values(r).filter((x) => x.kind === 'native').map((x) => x.speedupVsJs ?? 0));
  const head = `| ${s.op} | ${s.dir} | [${s.shape.join(',')}] | ${cell(r['native 1T out'])} | ${cell(r[`native ${maxThreads}T out`])} | ` +
    `${time(r[`native ${maxThreads}T alloc`])} | `;
  const tail = `${time(r['js loop'])} | ${best ? `${best.toFixed(1)}×` : '—'} |`;
  if (!hasPeers) {
    lines.push(`${head}${time(r.reference)} | ${tail}`);
    continue;
  }
  const rowsOf = (peer) => Object.values(r).filter((x) => x.peer === peer);
  const ort = fastest(rowsOf('onnxruntime'));
  lines.push(`${head}${peerCell(r['pytorch 1T'])} | ${peerCell(r[`pytorch ${maxThreads}T`])} | ` +
    `${ort ? `${formatTime(ort.seconds)} (${ort.threads}T)` : '—'} | ${time(fastest(rowsOf('tfjs')))} | ` +
    `${speedup(r['native 1T out'])} | ${speedup(r[`native ${maxThreads}T out`])} | ${tail}`);
}
const readmePath = join(root, 'README.md');
const readme = readFileSync(readmePath, 'utf8');
const start = readme.indexOf('<!-- bench:start -->');
const end = readme.indexOf('<!-- bench:end -->');
if (start < 0 || end < start) throw new Error('README.md has no <!-- bench:start --> … <!-- bench:end --> section');
writeFileSync(readmePath, `${readme.slice(0, start)}<!-- bench:start -->\n${lines.join('\n')}\n${readme.slice(end)}`);
console.log(`README.md: ${scenarios.size} scenarios`);
