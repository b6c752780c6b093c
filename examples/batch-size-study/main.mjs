// The batch-size study: the same small convolutional network (conv → norm → ReLU, twice, then
// pooling and a linear layer; examples/batch-size-study/net.mjs, plain JavaScript) trained on a
// synthetic task with BatchNorm, GroupNorm, LayerNorm, InstanceNorm (all from fastnorm/nn) and no
// norm, at batch sizes 2 to 128, for the same number of epochs with the learning rate scaled with
// the batch size. It writes an SVG of test accuracy against batch size, and of BatchNorm's
// accuracy with its running statistics (eval) against batch statistics (train mode): BatchNorm's
// statistics of a tiny batch are noisy, its running averages of them do not match what the
// network learned on, and accuracy falls — the normalizations that do not look across the batch
// do not care. Seeded: the same figures on every run.
//
//   node examples/batch-size-study/main.mjs [--out <dir>] [--workers n] [--epochs n] [--smoke]
//
// --smoke: a tiny configuration (2 batch sizes, small data) that only checks the whole path.
import { writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { plotStudy } from './plot.mjs';
import { NORMS } from './study.mjs';

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const here = dirname(fileURLToPath(import.meta.url));
const smoke = process.argv.includes('--smoke');
const config = smoke
  ? { batches: [2, 8], trainSize: 64, testSize: 32, epochs: 1, seeds: [1], dataSeed: 7 }
  : { batches: [2, 4, 8, 16, 32, 64, 128], trainSize: 2048, testSize: 1024, epochs: Number(option('epochs', '8')),
      seeds: Array.from({ length: Number(option('seeds', '2')) }, (_, i) => i + 1), dataSeed: 7 };
const outDir = option('out', here);
const workers = Math.max(1, Math.min(Number(option('workers', String(Math.min(2, os.availableParallelism())))), 16));

const tasks = config.seeds.flatMap((seed) => config.batches.flatMap((batch) =>
  Object.keys(NORMS).map((norm) => ({ norm, batch, epochs: config.epochs, seed }))));
const started = performance.now();
const results = await new Promise((resolve, reject) => {
  const done = [];
  let next = 0;
  const pool = Array.from({ length: Math.min(workers, tasks.length) }, () =>
    new Worker(join(here, 'worker.mjs'), { workerData: { trainSize: config.trainSize, testSize: config.testSize, seed: config.dataSeed } }));
  const feed = (w) => (next < tasks.length ? w.postMessage(tasks[next++]) : w.terminate());
  for (const w of pool) {
    w.on('message', (r) => {
      done.push(r);
      process.stderr.write(`  ${r.norm.padEnd(12)} batch ${String(r.batch).padStart(3)} seed ${r.seed}: ${(100 * r.evalAccuracy).toFixed(1)}% (${r.seconds.toFixed(1)} s)\n`);
      if (done.length === tasks.length) resolve(done);
      feed(w);
    });
    w.on('error', reject);
    feed(w);
  }
});
const seconds = (performance.now() - started) / 1000;
// the mean over the seeds of each (norm, batch)
const mean = (rs, key) => (rs[0][key] === null ? null : rs.reduce((s, r) => s + r[key], 0) / rs.length);
const averaged = config.batches.flatMap((batch) => Object.keys(NORMS).map((norm) => {
  const runs = results.filter((r) => r.norm === norm && r.batch === batch);
  return { norm, batch, evalAccuracy: mean(runs, 'evalAccuracy'), trainModeAccuracy: mean(runs, 'trainModeAccuracy'),
    runs: runs.sort((a, b) => a.seed - b.seed).map(({ seed, evalAccuracy, trainModeAccuracy }) => ({ seed, evalAccuracy, trainModeAccuracy })) };
}));

mkdirSync(outDir, { recursive: true });
const subtitle = `${config.trainSize} training / ${config.testSize} test samples, ${config.epochs} epochs, SGD (momentum 0.9, ` +
  `learning rate ∝ √batch), mean of ${config.seeds.length} seed${config.seeds.length > 1 ? 's' : ''}`;
writeFileSync(join(outDir, 'batch-size-study.svg'), plotStudy(averaged, { subtitle }));
writeFileSync(join(outDir, 'batch-size-study.json'), `${JSON.stringify({ config, seconds: Math.round(seconds), workers, results: averaged }, null, 2)}\n`);

const header = ['batch', ...Object.keys(NORMS), 'BatchNorm train mode'];
console.log(header.map((h) => h.padStart(14)).join(''));
for (const batch of config.batches) {
  const row = averaged.filter((r) => r.batch === batch);
  const bn = row.find((r) => r.norm === 'BatchNorm');
  console.log([String(batch), ...Object.keys(NORMS).map((n) => `${(100 * row.find((r) => r.norm === n).evalAccuracy).toFixed(1)}%`),
    `${(100 * bn.trainModeAccuracy).toFixed(1)}%`].map((c) => c.padStart(14)).join(''));
}
console.log(`${tasks.length} runs in ${seconds.toFixed(0)} s on ${workers} worker${workers > 1 ? 's' : ''}; wrote ${join(outDir, 'batch-size-study.svg')}`);
