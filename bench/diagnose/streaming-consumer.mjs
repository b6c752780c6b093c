// Streaming stores on mid-size outputs (1.5–6 MiB: beyond L2, within L3), timed alone and with
// a consumer: each call followed by a copy out of y (as the next layer would read it). The
// addon's _setStreamingBytes hook moves the threshold (results are the same bits); thresholds
// and cases interleaved round by round. Median µs per call. bench/ANALYSIS.md §8.
//   node bench/diagnose/streaming-consumer.mjs [--threads 1] [--thresholds 8388608,1048576,262144] [--rounds 15]
import { seededArray } from '../data.mjs';
import { fastnorm, nativeAddon, option } from './common.mjs';

const addon = nativeAddon();
const rounds = Number(option('--rounds', 15));
const thresholds = option('--thresholds', '8388608,1048576,262144').split(',').map(Number);
fastnorm.setNumThreads(Number(option('--threads', 1)));

function batchNormCase(shape, layout, training) {
  const size = shape.reduce((a, b) => a * b, 1), c = layout === 'NHWC' ? shape[3] : shape[1];
  const x = { data: seededArray(Float32Array, size, 1, -1.5, 2.5), shape };
  const weight = seededArray(Float32Array, c, 2, 0.5, 1.5), bias = seededArray(Float32Array, c, 3, -0.5, 0.5);
  const runningMean = new Float32Array(c), runningVar = new Float32Array(c).fill(1);
  const out = training ? { y: new Float32Array(size), mean: new Float32Array(c), rstd: new Float32Array(c) } : { y: new Float32Array(size) };
  return {
    label: `batchNorm ${layout} ${training ? 'train' : 'eval'} [${shape}]`, y: out.y,
    call: () => fastnorm.batchNorm(x, { weight, bias, runningMean, runningVar, training, layout, out }),
  };
}
function groupNormCase(shape, groups) {
  const size = shape.reduce((a, b) => a * b, 1), c = shape[1];
  const x = { data: seededArray(Float32Array, size, 1, -1.5, 2.5), shape };
  const weight = seededArray(Float32Array, c, 2, 0.5, 1.5), bias = seededArray(Float32Array, c, 3, -0.5, 0.5);
  const out = { y: new Float32Array(size), mean: new Float32Array(shape[0] * groups), rstd: new Float32Array(shape[0] * groups) };
  return { label: `groupNorm [${shape}] G=${groups}`, y: out.y, call: () => fastnorm.groupNorm(x, groups, { weight, bias, out }) };
}
function layerNormCase(rows, cols) {
  const x = { data: seededArray(Float32Array, rows * cols, 1, -1.5, 2.5), shape: [rows, cols] };
  const weight = seededArray(Float32Array, cols, 2, 0.5, 1.5), bias = seededArray(Float32Array, cols, 3, -0.5, 0.5);
  const out = { y: new Float32Array(rows * cols), mean: new Float32Array(rows), rstd: new Float32Array(rows) };
  return { label: `layerNorm [${rows},${cols}]`, y: out.y, call: () => fastnorm.layerNorm(x, cols, { weight, bias, out }) };
}

const cases = [
  batchNormCase([8, 14, 14, 256], 'NHWC', false), batchNormCase([8, 14, 14, 256], 'NHWC', true),
  batchNormCase([2, 56, 56, 64], 'NHWC', false), batchNormCase([8, 256, 14, 14], 'NCHW', false),
  batchNormCase([2, 64, 56, 56], 'NCHW', true), groupNormCase([8, 64, 56, 56], 32), layerNormCase(1024, 768),
];
const previous = addon._setStreamingBytes(thresholds[0]);
const median = (a) => [...a].sort((p, q) => p - q)[a.length >> 1];
console.log(`median µs per call, ${rounds} interleaved rounds; "+ read": the call, then a copy out of y`);
console.log(['case'.padEnd(34), 'y MiB', ...thresholds.map((t) => `from ${t >> 10} KiB: alone / + read`.padStart(30))].join('  '));
for (const c of cases) {
  const sink = new Float32Array(c.y.length);
  const withRead = () => { c.call(); addon._copy(sink, c.y); };
  const samples = thresholds.map(() => [[], []]);
  for (let r = 0; r < rounds; r++)
    thresholds.forEach((t, k) => {
      addon._setStreamingBytes(t);
      [c.call, withRead].forEach((f, j) => {
        const start = process.hrtime.bigint();
        for (let q = 0; q < 10; q++) f();
        samples[k][j].push(Number(process.hrtime.bigint() - start) / 1e4);
      });
    });
  const cells = samples.map(([alone, read]) => `${median(alone).toFixed(0)} / ${median(read).toFixed(0)}`.padStart(30));
  console.log([c.label.padEnd(34), (c.y.length * 4 / 2 ** 20).toFixed(2).padStart(5), ...cells].join('  '));
}
addon._setStreamingBytes(previous);
