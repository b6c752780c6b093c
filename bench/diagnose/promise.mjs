// The promise round trip on small shapes (issue 13, deliverable 5): fastnorm/promises runs each
// call on the libuv pool; this times one awaited call after another (latency), 16 in flight
// (throughput), the sync call, and an awaited no-op (the event loop's own share).
//   node bench/diagnose/promise.mjs [--threads N]
import { seededArray } from '../data.mjs';
import { fastnorm, fromDist, option } from './common.mjs';

const promises = fromDist('promises.js');
const threads = Number(option('--threads', 2));
fastnorm.setNumThreads(threads);

async function median(fn, calls) {
  const samples = [];
  for (let k = 0; k < 31; k++) {
    const t0 = process.hrtime.bigint();
    await fn(calls);
    samples.push(Number(process.hrtime.bigint() - t0) / 1e3 / calls);
  }
  samples.sort((a, b) => a - b);
  return samples[15];
}

console.log(`threads ${threads}; µs per call, median of 31 samples`);
for (const [rows, cols] of [[1, 768], [64, 768], [1024, 768]]) {
  const x = { data: seededArray(Float32Array, rows * cols, 1, -1.5, 2.5), shape: [rows, cols] };
  const weight = seededArray(Float32Array, cols, 3, 0.5, 1.5);
  const bias = seededArray(Float32Array, cols, 4, -0.5, 0.5);
  const out = { y: new Float32Array(rows * cols), mean: new Float32Array(rows), rstd: new Float32Array(rows) };
  const calls = Math.max(20, Math.round(20000 / rows));
  for (let i = 0; i < 200; i++) {
    fastnorm.layerNorm(x, cols, { weight, bias });
    await promises.layerNorm(x, cols, { weight, bias });
  }
  const sync = await median((k) => { for (let i = 0; i < k; i++) fastnorm.layerNorm(x, cols, { weight, bias, out }); }, calls);
  const syncAlloc = await median((k) => { for (let i = 0; i < k; i++) fastnorm.layerNorm(x, cols, { weight, bias }); }, calls);
  const awaited = await median(async (k) => { for (let i = 0; i < k; i++) await promises.layerNorm(x, cols, { weight, bias, out }); }, calls);
  const awaitedAlloc = await median(async (k) => { for (let i = 0; i < k; i++) await promises.layerNorm(x, cols, { weight, bias }); }, calls);
  const inFlight = await median(async (k) => {
    for (let i = 0; i < k; i += 16) {
      const batch = [];
      for (let j = 0; j < 16; j++) batch.push(promises.layerNorm(x, cols, { weight, bias }));
      await Promise.all(batch);
    }
  }, calls);
  const noop = await median(async (k) => { for (let i = 0; i < k; i++) await null; }, calls);
  const immediate = await median(async (k) => { for (let i = 0; i < k; i++) await new Promise((r) => setImmediate(r)); }, calls);
  console.log(`layerNorm [${rows},${cols}]: sync out ${sync.toFixed(2)}, sync alloc ${syncAlloc.toFixed(2)}, ` +
    `awaited out ${awaited.toFixed(2)}, awaited alloc ${awaitedAlloc.toFixed(2)}, 16 in flight ${inFlight.toFixed(2)} ` +
    `(await null ${noop.toFixed(3)}, await setImmediate ${immediate.toFixed(2)})`);
}
