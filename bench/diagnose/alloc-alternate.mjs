// The allocating call against the `out` call, alternating round by round (so load shifts hit
// both alike), for layerNorm forward [8192,768] and batchNorm eval [32,64,56,56]: median ms and
// minor page faults per call. --turn yields to the event loop between calls, as a server does,
// which lets Node finalize (and recycle) the native output blocks (bench/ANALYSIS.md §6).
//   node bench/diagnose/alloc-alternate.mjs [--threads N] [--rounds K] [--turn]
import { channelInputs, seededArray } from '../data.mjs';
import { fastnorm, flag, option } from './common.mjs';

const rounds = Number(option('--rounds', 40));
const turn = flag('--turn');
fastnorm.setNumThreads(Number(option('--threads', 1)));

const [rows, cols] = [8192, 768];
const x = { data: seededArray(Float32Array, rows * cols, 1, -1.5, 2.5), shape: [rows, cols] };
const weight = seededArray(Float32Array, cols, 3, 0.5, 1.5);
const bias = seededArray(Float32Array, cols, 4, -0.5, 0.5);
const lnOut = { y: new Float32Array(rows * cols), mean: new Float32Array(rows), rstd: new Float32Array(rows) };
const s = channelInputs([32, 64, 56, 56], 'NCHW', 21);
const bnOut = { y: new Float32Array(s.size) };
const bn = (out) => fastnorm.batchNorm(s.x, { weight: s.weight, bias: s.bias, training: false, runningMean: s.runningMean,
  runningVar: s.runningVar, out });
const variants = {
  'layerNorm out': () => fastnorm.layerNorm(x, cols, { weight, bias, out: lnOut }),
  'layerNorm alloc': () => fastnorm.layerNorm(x, cols, { weight, bias }),
  'batchNorm out': () => bn(bnOut),
  'batchNorm alloc': () => bn(undefined),
};
const faults = () => process.resourceUsage().minorPageFault;
const times = {};
const faultSums = {};
for (const k in variants) {
  times[k] = [];
  faultSums[k] = 0;
  for (let i = 0; i < 3; i++) variants[k]();
}
for (let r = 0; r < rounds; r++) {
  for (const k in variants) {
    if (turn) await new Promise((resolve) => setImmediate(resolve));
    const f0 = faults();
    const t0 = process.hrtime.bigint();
    variants[k]();
    times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
    faultSums[k] += faults() - f0;
  }
}
const median = (a) => a.sort((p, q) => p - q)[a.length >> 1];
const m = Object.fromEntries(Object.keys(variants).map((k) => [k, median(times[k])]));
for (const k in variants) console.log(`${k.padEnd(16)} ${m[k].toFixed(2).padStart(7)} ms  ${(faultSums[k] / rounds).toFixed(0).padStart(5)} faults/call`);
console.log(`ratios: layerNorm ${(m['layerNorm alloc'] / m['layerNorm out']).toFixed(2)}, batchNorm ${(m['batchNorm alloc'] / m['batchNorm out']).toFixed(2)}`);
