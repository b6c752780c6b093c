// npm run bench [-- --quick] [--filter <substring>] [--json <path>]
// Every contender × every scenario → one table, a targets summary, and bench/results/*.
//   --quick           shorter timing budget (well under a minute)
//   --filter <text>   only scenarios whose label contains <text>, e.g. "rmsNorm backward", "[1,768]"
//   --json <path>     also write the JSON there
// Full unfiltered runs write results/latest.{json,md} and results/<date>.json; quick or
// filtered runs write results/partial.{json,md} so they never replace the full figures.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { makeContenders } from './contenders.mjs';
import {
  BUDGETS, consoleTable, copyTable, createCopyMeter, markdownTable, runBench, scenarioLabel, targetsMarkdown,
  targetsText,
} from './harness.mjs';
import { scenarios as allScenarios } from './scenarios/index.mjs';
import { evaluateTargets } from './targets.mjs';

const benchDir = dirname(fileURLToPath(import.meta.url));
const distDir = join(benchDir, '..', 'dist', 'cjs');

const USAGE = 'usage: node bench/run.mjs [--quick] [--filter <substring>] [--json <path>]';

function usageError(message) {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { quick: false, filter: null, json: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--filter' || a === '--json') {
      if (i + 1 >= argv.length) usageError(`${a} needs a value`);
      opts[a.slice(2)] = argv[++i];
    } else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else usageError(`unknown option ${a}`);
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
      const { nativeAddon } = require(join(distDir, 'api', 'facade.js'));
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
const contenders = makeContenders(lib, threadCounts);
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
console.error(`fastnorm bench (${opts.quick ? 'quick' : 'full'}): ${scenarios.length} scenarios × ${contenders.length} contenders`);

const copyMeter = createCopyMeter((dst, src) => addon._copy(dst, src));
const rows = runBench({ scenarios, contenders, lib, budget, setThreads, copyMeter, gc, progress: (line) => console.error(line) });
setThreads(info.threads); // leave the process as we found it
const targets = evaluateTargets(rows, scenarios, allThreads);
const copies = copyMeter.summary();
machine.loadavgEnd = os.loadavg();
const totalSeconds = Number(process.hrtime.bigint() - started) / 1e9;

// ---- report -------------------------------------------------------------------------------
const header = [
  `fastnorm bench — ${machine.date}${opts.quick ? ' (quick)' : ''}${opts.filter ? ` (filter: ${opts.filter})` : ''}`,
  `node ${machine.node}, fastnorm ${info.version} backend=${info.backend} isa=${info.isa} threads=${info.threads}` +
    ` (supported: ${machine.supportedIsas.join(', ')})`,
  `cpu: ${machine.cpu}, ${allThreads} threads available; load average ${machine.loadavgStart.map((l) => l.toFixed(2)).join(' ')}`,
].join('\n');
const notes = [
  'GB/s = minimum bytes (inputs read once + outputs written once) / median time per call.',
  'copy GB/s = addon memcpy of the same byte size (read + write) at the row\'s thread count (1T for reference and',
  'JS loop), its samples interleaved with the row\'s. alloc = outputs allocated by the call (default API); out = caller buffers reused.',
  'vs JS = JS-loop time / row time; the JS loop writes into reused buffers (its fastest form).',
].join('\n');

console.log(header);
console.log(`\nMemory-copy bandwidth (nativeAddon._copy on two buffers of bytes/2; median of all samples this run):\n${copyTable(copies, threadCounts)}`);
console.log(`\n${consoleTable(rows)}\n\n${notes}`);
console.log(`\nTargets (DESIGN.md §6):\n${targetsText(targets)}`);
console.log(`\ntotal ${totalSeconds.toFixed(1)} s`);

// ---- results files ------------------------------------------------------------------------
const result = {
  machine, mode: opts.quick ? 'quick' : 'full', filter: opts.filter, budget, totalSeconds, threadCounts,
  copy: copies, rows, targets,
};
const markdown = [
  `fastnorm ${info.version}, ${machine.date.slice(0, 10)}: ${machine.cpu}, ${allThreads} threads, isa ${info.isa}, node ${machine.node}` +
    `${opts.quick ? ' (quick run)' : ''}`,
  '',
  markdownTable(rows),
  '',
  notes.replace(/\n/g, ' '),
  '',
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
if (!opts.quick && !opts.filter) {
  write(join(resultsDir, 'latest.json'), json);
  write(join(resultsDir, 'latest.md'), markdown);
  write(join(resultsDir, `${machine.date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}.json`), json);
} else {
  write(join(resultsDir, 'partial.json'), json);
  write(join(resultsDir, 'partial.md'), markdown);
}
if (opts.json) write(opts.json, json);
console.error(`wrote ${written.join(', ')}`);
