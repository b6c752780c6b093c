// Where the time of the allocating call goes (issue 13, deliverable 4): for a few large cases,
// the `out` call, the allocating call, and the pieces an allocation is made of, each timed in
// its own loop (not interleaved: each piece needs its own steady state), with the minor page
// faults and GC pauses counted per call.
//   node bench/diagnose/alloc.mjs [--threads N] [--calls K]
// Pieces: `new Float32Array(n)` alone (V8's zero-filled calloc: for big sizes glibc maps fresh
// pages, which the kernel zeroes on first touch), the same plus a first write of every page
// (what the kernel's output write pays), Buffer.allocUnsafeSlow (malloc, not zeroed) plus the
// write, and the op into a freshly allocated `out` (allocation outside the op's own code).
import { PerformanceObserver } from 'node:perf_hooks';
import { channelInputs, seededArray } from '../data.mjs';
import { fastnorm, option } from './common.mjs';


const threads = Number(option('--threads', 2));
const calls = Number(option('--calls', 40));
fastnorm.setNumThreads(threads);

let gcMs = 0;
let gcCount = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcMs += e.duration;
    gcCount++;
  }
}).observe({ entryTypes: ['gc'] });

const faults = () => process.resourceUsage().minorPageFault;
const settle = () => new Promise((resolve) => setImmediate(resolve)); // lets GC entries arrive

/** Median ms per call of fn over `calls` calls (after 5 warm-up calls), faults and GC per call. */
async function time(fn) {
  for (let i = 0; i < 5; i++) fn();
  await settle();
  const faults0 = faults();
  const gcMs0 = gcMs;
  const gc0 = gcCount;
  const samples = [];
  for (let i = 0; i < calls; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const f = (faults() - faults0) / calls;
  await settle();
  samples.sort((a, b) => a - b);
  return { ms: samples[samples.length >> 1], faults: f, gcMsPerCall: (gcMs - gcMs0) / calls, gcs: gcCount - gc0 };
}

/** The op into outputs allocated just before it, the two parts timed (and faults counted) apart. */
async function timeSplit(c) {
  for (let i = 0; i < 5; i++) c.call(c.out());
  await settle();
  const alloc = [];
  const op = [];
  let allocFaults = 0;
  let opFaults = 0;
  for (let i = 0; i < calls; i++) {
    const f0 = faults();
    const t0 = process.hrtime.bigint();
    const out = c.out();
    const t1 = process.hrtime.bigint();
    const f1 = faults();
    c.call(out);
    const t2 = process.hrtime.bigint();
    allocFaults += f1 - f0;
    opFaults += faults() - f1;
    alloc.push(Number(t1 - t0) / 1e6);
    op.push(Number(t2 - t1) / 1e6);
  }
  await settle();
  const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
  return { allocMs: med(alloc), opMs: med(op), allocFaults: allocFaults / calls, opFaults: opFaults / calls };
}

// What an allocation that skips V8's zero fill would cost: Buffer.allocUnsafeSlow (malloc'd,
// not zeroed; safe for outputs the kernel overwrites completely) for the large outputs.
const unzeroed = (n) => new Float32Array(Buffer.allocUnsafeSlow(4 * n).buffer, 0, n);
const zeroed = (n) => new Float32Array(n);

const PAGE = 4096 / 4;
function touch(a) {
  for (let i = 0; i < a.length; i += PAGE) a[i] = 1;
}

const cases = [];
{
  const [rows, cols] = [8192, 768];
  const x = { data: seededArray(Float32Array, rows * cols, 1, -1.5, 2.5), shape: [rows, cols] };
  const weight = seededArray(Float32Array, cols, 3, 0.5, 1.5);
  const bias = seededArray(Float32Array, cols, 4, -0.5, 0.5);
  const dy = { data: seededArray(Float32Array, rows * cols, 2), shape: [rows, cols] };
  const saved = fastnorm.layerNorm(x, cols, { weight, bias });
  cases.push({
    label: 'layerNorm forward [8192,768]', n: rows * cols,
    out: (big = zeroed) => ({ y: big(rows * cols), mean: new Float32Array(rows), rstd: new Float32Array(rows) }),
    call: (out) => fastnorm.layerNorm(x, cols, { weight, bias, out }),
  });
  cases.push({
    label: 'layerNorm backward [8192,768]', n: rows * cols,
    out: (big = zeroed) => ({ dx: big(rows * cols), dweight: new Float32Array(cols), dbias: new Float32Array(cols) }),
    call: (out) => fastnorm.layerNormBackward(dy, x, { mean: saved.mean, rstd: saved.rstd }, cols, { weight, out }),
  });
}
{
  const s = channelInputs([32, 64, 56, 56], 'NCHW', 21);
  cases.push({
    label: 'batchNorm eval fwd [32,64,56,56]', n: s.size,
    out: (big = zeroed) => ({ y: big(s.size), mean: new Float32Array(s.c), rstd: new Float32Array(s.c) }),
    call: (out) => fastnorm.batchNorm(s.x, { weight: s.weight, bias: s.bias, training: false, runningMean: s.runningMean,
      runningVar: s.runningVar, out }),
  });
}
{
  const s = channelInputs([2, 320, 64, 64], 'NCHW', 11);
  cases.push({
    label: 'groupNorm forward [2,320,64,64]', n: s.size,
    out: (big = zeroed) => ({ y: big(s.size), mean: new Float32Array(2 * 32), rstd: new Float32Array(2 * 32) }),
    call: (out) => fastnorm.groupNorm(s.x, 32, { weight: s.weight, bias: s.bias, out }),
  });
}

console.log(`threads ${threads}, ${calls} calls per line; ms = median per call; faults = minor page faults per call; ` +
  'gc = GC pause ms per call (count)');
for (const c of cases) {
  const reused = c.out();
  const rows = [
    ['op, reused out', await time(() => c.call(reused))],
    ['op, allocating (default)', await time(() => c.call())],
    ['op, out freshly allocated', await time(() => c.call(c.out()))],
    ['op, big out not zeroed', await time(() => c.call(c.out(unzeroed)))],
    ['new Float32Array(n)', await time(() => new Float32Array(c.n))],
    ['new Float32Array(n) + touch', await time(() => touch(new Float32Array(c.n)))],
    ['allocUnsafeSlow + touch', await time(() => touch(new Float32Array(Buffer.allocUnsafeSlow(4 * c.n).buffer)))],
  ];
  console.log(`\n${c.label} (${(4 * c.n / 2 ** 20).toFixed(1)} MiB per output)`);
  for (const [name, r] of rows)
    console.log(`  ${name.padEnd(28)} ${r.ms.toFixed(3).padStart(8)} ms  faults ${r.faults.toFixed(0).padStart(6)}  ` +
      `gc ${r.gcMsPerCall.toFixed(3)} ms (${r.gcs})`);
  const split = await timeSplit(c);
  console.log(`  split: allocate ${split.allocMs.toFixed(3)} ms (${split.allocFaults.toFixed(0)} faults), ` +
    `then op ${split.opMs.toFixed(3)} ms (${split.opFaults.toFixed(0)} faults)`);
}
