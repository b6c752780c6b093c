// Streaming (non-temporal) stores against regular stores for the large outputs, timed
// interleaved round by round in one process (the addon's _setStreamingBytes hook switches the
// kernels between the two; results are the same bits), beside a copy of the same bytes:
// median ms per call and % of that copy, at 1 and 2 threads. bench/ANALYSIS.md §1.
//   node bench/diagnose/streaming.mjs [--rounds K] [--threads 1,2] [--filter <substring>]
import { channelInputs, inLayout, seededArray } from '../data.mjs';
import { fastnorm, nativeAddon, option } from './common.mjs';

const addon = nativeAddon();
const rounds = Number(option('--rounds', 15));
const threadCounts = option('--threads', '1,2').split(',').map(Number);
const filter = option('--filter', '');
const DEFAULT = addon._setStreamingBytes(8 << 20);
addon._setStreamingBytes(DEFAULT);

const F32 = 4;
function rowCase(op, rows, cols, backward) {
  const n = rows * cols;
  const x = { data: seededArray(Float32Array, n, 1, -1.5, 2.5), shape: [rows, cols] };
  const dy = { data: seededArray(Float32Array, n, 2), shape: [rows, cols] };
  const weight = seededArray(Float32Array, cols, 3, 0.5, 1.5), bias = seededArray(Float32Array, cols, 4, -0.5, 0.5);
  const centered = op === 'layerNorm';
  const fwdOut = centered ? { y: new Float32Array(n), mean: new Float32Array(rows), rstd: new Float32Array(rows) } : { y: new Float32Array(n), rstd: new Float32Array(rows) };
  const saved = centered ? fastnorm.layerNorm(x, cols, { weight, bias }) : fastnorm.rmsNorm(x, cols, { weight });
  const bwdOut = { dx: new Float32Array(n), dweight: new Float32Array(cols), ...(centered ? { dbias: new Float32Array(cols) } : {}) };
  const call = backward
    ? (centered ? () => fastnorm.layerNormBackward(dy, x, saved, cols, { weight, out: bwdOut }) : () => fastnorm.rmsNormBackward(dy, x, saved, cols, { weight, out: bwdOut }))
    : (centered ? () => fastnorm.layerNorm(x, cols, { weight, bias, out: fwdOut }) : () => fastnorm.rmsNorm(x, cols, { weight, out: fwdOut }));
  return { label: `${op} ${backward ? 'bwd' : 'fwd'} [${rows},${cols}]`, bytes: F32 * n * (backward ? 3 : 2), call };
}
function addNormCase(rows, cols) {
  const n = rows * cols;
  const x = { data: seededArray(Float32Array, n, 1), shape: [rows, cols] }, residual = { data: seededArray(Float32Array, n, 2), shape: [rows, cols] };
  const weight = seededArray(Float32Array, cols, 3, 0.5, 1.5), bias = seededArray(Float32Array, cols, 4, -0.5, 0.5);
  const out = { y: new Float32Array(n), sum: new Float32Array(n), mean: new Float32Array(rows), rstd: new Float32Array(rows) };
  return { label: `addLayerNorm fwd [${rows},${cols}]`, bytes: F32 * n * 4, call: () => fastnorm.addLayerNorm(x, residual, cols, { weight, bias, out }) };
}
function channelCase(op, nchw, layout, training) {
  const s = channelInputs(nchw, layout, 21);
  const y = new Float32Array(s.size);
  const shape = inLayout(nchw, layout);
  const call = op === 'batchNorm'
    ? () => fastnorm.batchNorm(s.x, { weight: s.weight, bias: s.bias, training, runningMean: s.runningMean, runningVar: s.runningVar, layout, out: { y } })
    : () => fastnorm.groupNorm(s.x, 32, { weight: s.weight, bias: s.bias, layout, out: { y } });
  return { label: `${op}${layout === 'NHWC' ? ' NHWC' : ''} ${training ? 'train' : op === 'batchNorm' ? 'eval' : ''} fwd [${shape}]`, bytes: F32 * s.size * (training ? 3 : 2), call };
}
const cases = [
  rowCase('layerNorm', 8192, 768, false), rowCase('layerNorm', 2048, 4096, false), rowCase('rmsNorm', 8192, 768, false),
  rowCase('layerNorm', 8192, 768, true), addNormCase(8192, 768),
  channelCase('batchNorm', [32, 64, 56, 56], 'NCHW', false), channelCase('batchNorm', [32, 64, 56, 56], 'NCHW', true),
  channelCase('batchNorm', [32, 64, 56, 56], 'NHWC', true), channelCase('groupNorm', [8, 64, 56, 56], 'NCHW', false),
].filter((c) => c.label.includes(filter));

const median = (a) => [...a].sort((p, q) => p - q)[a.length >> 1];
function timeCalls(fn, calls) {
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) fn();
  return (performance.now() - t0) / calls;
}
console.log(`streaming stores from ${DEFAULT / (1 << 20)} MiB vs never; ${rounds} interleaved rounds; median ms per call (% of a copy of the same bytes)`);
console.log(`${'case'.padEnd(34)} thr   streaming          regular            regular/streaming`);
for (const threads of threadCounts) {
  fastnorm.setNumThreads(threads);
  addon.setNumThreads(threads);
  for (const c of cases) {
    const half = c.bytes / 2 / F32;
    const src = new Float32Array(half), dst = new Float32Array(half);
    const t = { stream: [], regular: [], copy: [] };
    const calls = 4;
    for (let r = 0; r < rounds; r++) {
      addon._setStreamingBytes(DEFAULT);
      t.stream.push(timeCalls(c.call, calls));
      addon._setStreamingBytes(Infinity);
      t.regular.push(timeCalls(c.call, calls));
      t.copy.push(timeCalls(() => addon._copy(dst, src), calls));
    }
    addon._setStreamingBytes(DEFAULT);
    const [s, g, k] = [median(t.stream), median(t.regular), median(t.copy)];
    const cell = (v) => `${v.toFixed(3)} (${Math.round((100 * k) / v)}%)`.padEnd(19);
    console.log(`${c.label.padEnd(34)} ${String(threads).padEnd(5)} ${cell(s)}${cell(g)}${(g / s).toFixed(2)}×`);
  }
}
