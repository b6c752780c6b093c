// Per-call overhead of small calls (issue 13, deliverable 5): the whole call (allocating, and
// into caller-provided `out`), the planner alone (validation, bind, allocation: no kernel) and
// the addon's kernel called directly with positional arguments (its binding plus the kernel),
// so the JavaScript and the native share of a call are seen apart.
//   node bench/diagnose/overhead.mjs [--threads N] [--filter <substring>]
import { channelInputs, seededArray } from '../data.mjs';
import { fastnorm, fromDist, nativeAddon, option } from './common.mjs';

const { OP_TABLE } = fromDist('api/op-table.js');
const addon = nativeAddon();

const threads = Number(option('--threads', 1));
const filter = option('--filter', '');
fastnorm.setNumThreads(threads);
addon.setNumThreads(threads);

// CPU time of this thread (user + system), not wall time: on a shared machine the time the
// process waits for a core is not the call's. Its µs resolution is why a sample is ~5 ms long.
const cpuMicros = () => {
  const u = process.threadCpuUsage ? process.threadCpuUsage() : process.cpuUsage();
  return u.user + u.system;
};

/** Median µs of CPU per call: 31 samples of enough calls for ~5 ms each, after a warm-up. */
function micros(fn) {
  let calls = 1;
  for (let t0 = performance.now(); performance.now() - t0 < 5; calls *= 2) for (let i = 0; i < calls; i++) fn();
  for (let i = 0; i < 2000; i++) fn();
  const samples = [];
  for (let k = 0; k < 31; k++) {
    const t0 = cpuMicros();
    for (let i = 0; i < calls; i++) fn();
    samples.push((cpuMicros() - t0) / calls);
  }
  samples.sort((a, b) => a - b);
  return samples[15];
}

const cases = [];
for (const [rows, cols] of [[1, 768], [64, 768]]) {
  const x = { data: seededArray(Float32Array, rows * cols, 1, -1.5, 2.5), shape: [rows, cols] };
  const residual = { data: seededArray(Float32Array, rows * cols, 2), shape: [rows, cols] };
  const weight = seededArray(Float32Array, cols, 3, 0.5, 1.5);
  const bias = seededArray(Float32Array, cols, 4, -0.5, 0.5);
  const n = rows * cols;
  const f = () => new Float32Array(n);
  const r = () => new Float32Array(rows);
  const shape = `[${rows},${cols}]`;
  // options written as literals, as callers write them (a spread makes a slower dictionary object)
  const ln = { y: f(), mean: r(), rstd: r() };
  cases.push({ label: `layerNorm fwd ${shape}`, op: 'layerNorm', args: [x, cols, { weight, bias }], outArgs: [x, cols, { weight, bias, out: ln }] });
  const rms = { y: f(), rstd: r() };
  cases.push({ label: `rmsNorm fwd ${shape}`, op: 'rmsNorm', args: [x, cols, { weight }], outArgs: [x, cols, { weight, out: rms }] });
  const aln = { y: f(), sum: f(), mean: r(), rstd: r() };
  cases.push({ label: `addLayerNorm fwd ${shape}`, op: 'addLayerNorm', args: [x, residual, cols, { weight, bias }],
    outArgs: [x, residual, cols, { weight, bias, out: aln }] });
  const arms = { y: f(), sum: f(), rstd: r() };
  cases.push({ label: `addRmsNorm fwd ${shape}`, op: 'addRmsNorm', args: [x, residual, cols, { weight }],
    outArgs: [x, residual, cols, { weight, out: arms }] });
}
{
  const s = channelInputs([2, 64, 8, 8], 'NCHW', 21);
  const { weight, bias } = s;
  const runningMean = s.runningMean.slice();
  const runningVar = s.runningVar.slice();
  const bn = { y: new Float32Array(s.size), mean: new Float32Array(s.c), rstd: new Float32Array(s.c) };
  cases.push({ label: 'batchNorm train fwd [2,64,8,8]', op: 'batchNorm', args: [s.x, { weight, bias, runningMean, runningVar }],
    outArgs: [s.x, { weight, bias, runningMean, runningVar, out: bn }] });
  const gn = { y: new Float32Array(s.size), mean: new Float32Array(64), rstd: new Float32Array(64) };
  cases.push({ label: 'groupNorm fwd [2,64,8,8] g32', op: 'groupNorm', args: [s.x, 32, { weight, bias }],
    outArgs: [s.x, 32, { weight, bias, out: gn }] });
}

const { KERNELS } = fromDist('api/kernel-schema.js');
console.log(`threads ${threads}; µs of CPU per call, median of 31 samples; isa ${fastnorm.info().isa}`);
console.log('case'.padEnd(32) + 'alloc'.padStart(8) + 'out'.padStart(8) + 'plan'.padStart(8) + 'planOut'.padStart(8) + 'addon'.padStart(8));
for (const c of cases) {
  if (!c.label.includes(filter)) continue;
  const op = fastnorm[c.op];
  const plan = OP_TABLE[c.op].plan;
  const { outArgs } = c;
  const p = plan(...outArgs);
  const positional = KERNELS[p.kernel].fields.map((fl) => p.args[fl.name]);
  const kernel = addon[p.kernel];
  const row = [
    micros(() => op(...c.args)),
    micros(() => op(...outArgs)),
    micros(() => plan(...c.args)),
    micros(() => plan(...outArgs)),
    micros(() => kernel.apply(addon, positional)),
  ];
  console.log(c.label.padEnd(32) + row.map((v) => v.toFixed(2).padStart(8)).join(''));
}
