// Synchronized BatchNorm across worker_threads — what data-parallel training does across GPUs,
// processes or machines, here with threads sharing memory:
//
//   1. the batch x (N samples) lives in a SharedArrayBuffer; worker k owns samples [n0, n1)
//   2. forward:  each worker  batchNormStats(its shard)              → { count, mean, m2 } per channel
//                main thread  batchNormGatherStats(all parts)        → { mean, rstd, count } of the
//                             whole batch (exact Chan merge; updates the running statistics)
//                each worker  batchNormElemt(shard, stats)           → y, in place into the shared output
//   3. backward: each worker  batchNormBackwardReduce(dy, x, mean)   → { sumDy, sumDyXmu } per channel
//                main thread  adds them up (the "all-reduce")
//                each worker  batchNormBackwardElemt(dy, x, stats, sums) → dx into the shared output,
//                             and dweight/dbias (the same on every worker: they follow from the sums)
//   4. the result is checked against batchNorm / batchNormBackward on the whole batch at once.
//
// Only per-channel vectors (C numbers each) travel between threads; across processes or
// machines the same messages would go over a socket instead.
//
//   node examples/sync-batchnorm/main.mjs [--workers 4] [--layout NCHW|NHWC]
import { Worker } from 'node:worker_threads';
import * as fastnorm from 'fastnorm';

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const WORKERS = Number(option('workers', '4'));
const LAYOUT = option('layout', 'NCHW');
const [N, C, H, W] = [8, 16, 12, 12];
const SHAPE = LAYOUT === 'NCHW' ? [N, C, H, W] : [N, H, W, C];
const PER_SAMPLE = C * H * W;
const MOMENTUM = 0.1;
const EPS = 1e-5;
if (!(Number.isInteger(WORKERS) && WORKERS >= 1 && WORKERS <= N)) throw new RangeError(`--workers must be 1 to ${N}`);

// ---- the batch, in shared memory ---------------------------------------------------------------
const shared = (n) => new Float32Array(new SharedArrayBuffer(n * Float32Array.BYTES_PER_ELEMENT));
const x = shared(N * PER_SAMPLE);
const dy = shared(N * PER_SAMPLE);
const y = shared(N * PER_SAMPLE); // written by the workers
const dx = shared(N * PER_SAMPLE); // written by the workers
let seed = 12345;
const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647) * 2 - 1;
for (let i = 0; i < x.length; i++) x[i] = 0.5 + 2 * random();
for (let i = 0; i < dy.length; i++) dy[i] = random();
const weight = Float32Array.from({ length: C }, () => 1 + 0.5 * random());
const bias = Float32Array.from({ length: C }, () => random());
const runningMean = new Float32Array(C);
const runningVar = new Float32Array(C).fill(1);

// ---- the workers: one shard of samples each ----------------------------------------------------
const bounds = Array.from({ length: WORKERS + 1 }, (_, k) => Math.round((k * N) / WORKERS));
const workers = bounds.slice(1).map((n1, k) => new Worker(new URL('./worker.mjs', import.meta.url), {
  workerData: { buffers: { x: x.buffer, dy: dy.buffer, y: y.buffer, dx: dx.buffer }, shape: SHAPE, layout: LAYOUT, n0: bounds[k], n1 },
}));

/** Sends the same request to every worker; resolves with their replies, in worker order. */
function everyWorker(request) {
  return Promise.all(workers.map((w) => new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
    w.postMessage(request);
  })));
}

// forward: partial statistics → one exact merge (running stats updated here) → normalize in place
const parts = await everyWorker({ op: 'stats' });
const stats = fastnorm.batchNormGatherStats(parts, { eps: EPS, momentum: MOMENTUM, runningMean, runningVar });
await everyWorker({ op: 'elemt', stats, weight, bias });

// backward: per-shard sums → summed over shards → dx per shard (+ the parameter gradients)
const partSums = await everyWorker({ op: 'reduce', mean: stats.mean });
const sums = { sumDy: new Float64Array(C), sumDyXmu: new Float64Array(C), count: stats.count };
for (const p of partSums) {
  for (let c = 0; c < C; c++) {
    sums.sumDy[c] += p.sumDy[c];
    sums.sumDyXmu[c] += p.sumDyXmu[c];
  }
}
const grads = await everyWorker({ op: 'backwardElemt', stats, sums, weight });
const { dweight, dbias } = grads[0];
await Promise.all(workers.map((w) => w.terminate()));

// ---- the same step on the whole batch at once ------------------------------------------------
const batch = { data: x, shape: SHAPE };
const refRunningMean = new Float32Array(C);
const refRunningVar = new Float32Array(C).fill(1);
const ref = fastnorm.batchNorm(batch, { weight, bias, eps: EPS, momentum: MOMENTUM, runningMean: refRunningMean, runningVar: refRunningVar, layout: LAYOUT });
const refGrad = fastnorm.batchNormBackward({ data: dy, shape: SHAPE }, batch, ref, { weight, layout: LAYOUT });

/** max |a − r| / (1 + |r|) */
function maxError(a, r) {
  let e = 0;
  for (let i = 0; i < r.length; i++) e = Math.max(e, Math.abs(a[i] - r[i]) / (1 + Math.abs(r[i])));
  return e;
}
/** ||a − r|| / ||r|| (float32 backward: sums of many terms are compared as vectors) */
function l2Error(a, r) {
  let d = 0;
  let n = 0;
  for (let i = 0; i < r.length; i++) {
    d += (a[i] - r[i]) ** 2;
    n += r[i] ** 2;
  }
  return Math.sqrt(d / n);
}
const errors = {
  y: maxError(y, ref.y.data),
  mean: maxError(stats.mean, ref.mean),
  rstd: maxError(stats.rstd, ref.rstd),
  runningMean: maxError(runningMean, refRunningMean),
  runningVar: maxError(runningVar, refRunningVar),
  dx: l2Error(dx, refGrad.dx.data),
  dweight: l2Error(dweight, refGrad.dweight),
  dbias: l2Error(dbias, refGrad.dbias),
};
const TOLERANCE = 1e-5; // float32 (DESIGN.md §5: forward max error, backward L2-relative)
const fmt = (v) => v.toExponential(1);
console.log(`synchronized BatchNorm: x [${SHAPE.join(', ')}] float32 ${LAYOUT}, ${WORKERS} workers ` +
  `(samples per worker: ${bounds.slice(1).map((b, k) => b - bounds[k]).join(', ')}), fastnorm ${fastnorm.info().backend}/${fastnorm.info().isa}`);
console.log(`max error vs single-batch batchNorm:         y ${fmt(errors.y)}  mean ${fmt(errors.mean)}  rstd ${fmt(errors.rstd)}  ` +
  `runningMean ${fmt(errors.runningMean)}  runningVar ${fmt(errors.runningVar)}`);
console.log(`L2 error vs single-batch batchNormBackward:  dx ${fmt(errors.dx)}  dweight ${fmt(errors.dweight)}  dbias ${fmt(errors.dbias)}`);
const worst = Math.max(...Object.values(errors));
if (!(worst <= TOLERANCE)) {
  console.log(`FAILED: max error ${fmt(worst)} > ${fmt(TOLERANCE)}`);
  process.exitCode = 1;
} else {
  console.log(`OK: the sharded result matches the single batch (max error ${fmt(worst)} <= ${fmt(TOLERANCE)})`);
}
