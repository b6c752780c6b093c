// npm run bench [-- --quick] [--filter <substring>] [--json <path>] [--peers] [--no-peers]
// Every contender × every scenario → one table, a targets summary, and bench/results/*.
//   --quick           shorter timing budget
//   --filter <text>   only scenarios whose label contains <text>, e.g. "rmsNorm backward", "[1,768]"
//   --json <path>     also write the JSON there
//   --peers           only fastnorm native and the peers, on the scenarios some peer has
//                     (npm run bench:peers = --peers --quick)
//   --no-peers        without the peers (PyTorch, onnxruntime-node, TF.js; see peers/)
//   --peer <names>    only these peers, comma-separated (pytorch,onnxruntime,tfjs)
// Full unfiltered runs write results/latest.{json,md,svg} and results/<date>.json; quick,
// filtered or peers-only runs write results/partial.{json,md,svg} so they never replace the
// full figures.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { renderChart } from './chart.mjs';
import { makeContenders } from './contenders.mjs';
import {
  BUDGETS, consoleTable, copyTable, createCopyMeter, markdownTable, runBench, scenarioLabel, targetsMarkdown,
  targetsText,
} from './harness.mjs';
import { loadPeers, PEER_NAMES } from './peers/index.mjs';
import { scenarios as allScenarios } from './scenarios/index.mjs';
import { evaluateTargets } from './targets.mjs';

const benchDir = dirname(fileURLToPath(import.meta.url));
const distDir = join(benchDir, '..', 'dist', 'cjs');

const USAGE = 'usage: node bench/run.mjs [--quick] [--filter <substring>] [--json <path>] [--peers | --no-peers] [--peer <names>]';

function usageError(message) {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { quick: false, filter: null, json: null, peers: 'with', peer: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--peers') opts.peers = 'only';
    else if (a === '--no-peers') opts.peers = 'none';
    else if (a === '--filter' || a === '--json' || a === '--peer') {
      if (i + 1 >= argv.length) usageError(`${a} needs a value`);
      opts[a.slice(2)] = argv[++i];
    } else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else usageError(`unknown option ${a}`);
  }
  if (opts.peer) {
    const names = opts.peer.split(',').map((n) => n.trim());
    const unknown = names.filter((n) => !PEER_NAMES.includes(n));
    if (unknown.length) usageError(`--peer: unknown ${unknown.join(', ')} (known: ${PEER_NAMES.join(', ')})`);
    opts.peer = names;
  }
  return opts;
}

// The package is built, but another build may be replacing dist/ or the addon right now: retry
// for up to ~90 s, and refuse to benchmark the reference fallback as if it were native.
async function loadLibrary() {
  const require = createRequire(import.meta.url);
  for (let attempt = 1; ; attempt++) {
    try {
      const fastnorm = require(join(distDir, 'index.js'));
      const { nativeAddon } = require(join(distDir, 'backends', 'default.js'));
      if (!nativeAddon) throw new Error('the native addon did not load (fastnorm is on the reference backend)');
      return { fastnorm, addon: nativeAddon };
    } catch (e) {
      if (attempt >= 30) throw e;
      console.error(`loading fastnorm failed (${e.message}); retrying`);
      for (const key of Object.keys(require.cache)) if (key.startsWith(distDir)) delete require.cache[key];
      await sleep(3000);
    }
  }
}

const opts = parseArgs(process.argv.slice(2));
const started = process.hrtime.bigint();
const needle = opts.filter?.toLowerCase();
const scenarios = needle ? allScenarios.filter((s) => scenarioLabel(s).toLowerCase().includes(needle)) : allScenarios;
if (scenarios.length === 0)
  usageError(`--filter ${opts.filter} matches no scenario; labels look like "${scenarioLabel(allScenarios[0])}"`);
const lib = await loadLibrary();
const { fastnorm, addon } = lib;

const allThreads = os.availableParallelism();
const threadCounts = [...new Set([1, allThreads])];
const budget = opts.quick ? BUDGETS.quick : BUDGETS.full;
const peerSet = opts.peers === 'none' ? null : await loadPeers({ threadCounts, names: opts.peer ?? PEER_NAMES });
const peerInfo = (peerSet?.peers ?? []).map(({ name, available, version, note }) => ({ name, available, version, note }));
const ownContenders = makeContenders(lib, threadCounts).filter((c) => opts.peers !== 'only' || c.kind === 'native');
const contenders = [...ownContenders, ...(peerSet?.contenders ?? [])];
const setThreads = (n) => fastnorm.setNumThreads(n);
// A full GC between rows without asking for `node --expose-gc`: the flag is set at run time and
// the gc function read from a fresh context, where V8 installs it.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

const info = fastnorm.info();
const machine = {
  date: new Date().toISOString(),
  node: process.version,
  fastnorm: info,
  supportedIsas: addon.info().supportedIsas,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: allThreads,
  platform: `${process.platform}-${process.arch}`,
  loadavgStart: os.loadavg(),
};
const mode = `${opts.quick ? 'quick' : 'full'}${opts.peers === 'only' ? ', peers only' : ''}`;
console.error(`fastnorm bench (${mode}): ${scenarios.length} scenarios × ${contenders.length} contenders`);
for (const p of peerInfo) console.error(`peer ${p.name}: ${p.available ? p.note : `skipped — ${p.note}`}`);
if (opts.peers === 'only' && !peerInfo.some((p) => p.available)) {
  console.error('no peer is available: nothing to compare (npm run bench times fastnorm alone)');
  process.exit(0);
}

const copyMeter = createCopyMeter((dst, src) => addon._copy(dst, src));
const peerNotes = [];
let rows;
try {
  rows = await runBench({
    scenarios, contenders, lib, budget, setThreads, copyMeter, gc, onlyWithPeers: opts.peers === 'only',
    progress: (line) => console.error(line),
    note: (text) => {
      peerNotes.push(text);
      console.error(`note: ${text}`);
    },
    releasePeers: () => peerSet?.release() ?? Promise.resolve(),
  });
} finally {
  peerSet?.close();
}
setThreads(info.threads); // leave the process as we found it
const targets = evaluateTargets(rows, scenarios, allThreads);
const copies = copyMeter.summary();
machine.loadavgEnd = os.loadavg();
const totalSeconds = Number(process.hrtime.bigint() - started) / 1e9;

// ---- report -------------------------------------------------------------------------------
const header = [
  `fastnorm bench — ${machine.date} (${mode})${opts.filter ? ` (filter: ${opts.filter})` : ''}`,
  `node ${machine.node}, fastnorm ${info.version} backend=${info.backend} isa=${info.isa} threads=${info.threads}` +
    ` (supported: ${machine.supportedIsas.join(', ')})`,
  `cpu: ${machine.cpu}, ${allThreads} threads available; load average ${machine.loadavgStart.map((l) => l.toFixed(2)).join(' ')}` +
    ` at the start, ${machine.loadavgEnd.map((l) => l.toFixed(2)).join(' ')} at the end`,
  ...peerInfo.map((p) => `peer ${p.name}: ${p.available ? p.note : `skipped — ${p.note}`}`),
].join('\n');
const notes = [
  'GB/s = minimum bytes (inputs read once + outputs written once) / median time per call.',
  'copy GB/s = addon memcpy of the same byte size (read + write) at the row\'s thread count (1T for reference and',
  'JS loop), its samples interleaved with the row\'s. alloc = outputs allocated by the call (default API); out = caller buffers reused.',
  'vs JS = JS-loop time / row time; the JS loop writes into reused buffers (its fastest form).',
  'vs peer = fastest peer time / row time, peers at the same thread count (TF.js cpu, single-threaded, at every count);',
  'a peer row shows its fastest variant in parentheses (F = torch.nn.functional, aten = the ATen op called directly,',
  'out = into reused outputs, autograd = the backward node alone, composite = what users write without an op).',
  'All contenders of a scenario, with their copy yardsticks, are timed interleaved round by round.',
].join('\n');

console.log(header);
console.log(`\nMemory-copy bandwidth (nativeAddon._copy on two buffers of bytes/2; median of all samples this run):\n${copyTable(copies, threadCounts)}`);
console.log(`\n${consoleTable(rows)}\n\n${notes}`);
if (peerNotes.length) console.log(`\nPeer notes:\n${peerNotes.map((n) => `  ${n}`).join('\n')}`);
console.log(`\nTargets (DESIGN.md §6; issue 13 against PyTorch):\n${targetsText(targets)}`);
console.log(`\ntotal ${totalSeconds.toFixed(1)} s`);

// ---- results files ------------------------------------------------------------------------
const result = {
  machine, mode: opts.quick ? 'quick' : 'full', peersOnly: opts.peers === 'only', filter: opts.filter, budget, totalSeconds,
  threadCounts, peers: peerInfo, peerNotes, copy: copies, rows, targets,
};
const markdown = [
  `fastnorm ${info.version}, ${machine.date.slice(0, 10)}: ${machine.cpu}, ${allThreads} threads, isa ${info.isa}, node ${machine.node}` +
    `${opts.quick ? ' (quick run)' : ''}; load average ${machine.loadavgStart[0].toFixed(2)} → ${machine.loadavgEnd[0].toFixed(2)}`,
  '',
  ...peerInfo.map((p) => `- peer ${p.name}: ${p.available ? p.note : `skipped — ${p.note}`}`),
  '',
  markdownTable(rows),
  '',
  notes.replace(/\n/g, ' '),
  '',
  ...(peerNotes.length ? ['Peer notes:', '', ...peerNotes.map((n) => `- ${n}`), ''] : []),
  targetsMarkdown(targets),
  '',
].join('\n');
const resultsDir = join(benchDir, 'results');
mkdirSync(resultsDir, { recursive: true });
const json = `${JSON.stringify(result, null, 2)}\n`;
const written = [];
const write = (file, text) => {
  writeFileSync(file, text);
  written.push(file);
};
const svg = renderChart(result);
if (!opts.quick && !opts.filter && opts.peers !== 'only') {
  write(join(resultsDir, 'latest.json'), json);
  write(join(resultsDir, 'latest.md'), markdown);
  write(join(resultsDir, 'latest.svg'), svg);
  write(join(resultsDir, `${machine.date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}.json`), json);
} else {
  write(join(resultsDir, 'partial.json'), json);
  write(join(resultsDir, 'partial.md'), markdown);
  write(join(resultsDir, 'partial.svg'), svg);
}
if (opts.json) write(opts.json, json);
console.error(`wrote ${written.join(', ')}`);
