// fastnorm as TensorFlow.js's normalization backend, on two small tf.layers models (models.mjs):
// a CNN (conv → BatchNormalization → ReLU …) and a transformer encoder block (LayerNormalization
// → attention → … ). Each is timed for inference (predict) and one training step (forward in
// training mode, gradients, SGD update: trainStep in models.mjs) on TF.js's cpu backend:
//
//   TF.js                     tf.layers' normalization layers, TF.js's own kernels
//   TF.js + registerKernels   the same model after registerKernels(tf): FusedBatchNorm on fastnorm
//   fastnorm layers           fastnorm/tfjs's BatchNormalization / LayerNormalization (+ registerKernels)
//   no normalization          identity layers instead: what the rest of the model costs, so
//                             normalization's share of a step = (t − t_none) / t
//
// All variants start from the same weights; the fastnorm variants' outputs and losses are checked
// against TF.js's (exit status 1 beyond float32 tolerance).
//
//   node examples/tfjs/main.mjs [--model cnn|transformer|all] [--runs 5] [--batch n]
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as fastnorm from 'fastnorm';
import { getCounters, registerKernels, resetCounters } from 'fastnorm/tfjs';
import { MODELS, batchFor, trainStep } from './models.mjs';

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const MODEL = option('model', 'all');
const RUNS = Number(option('runs', '5'));
const BATCH = option('batch', null);
if (!['cnn', 'transformer', 'all'].includes(MODEL)) throw new RangeError('--model must be cnn, transformer or all');
if (!(Number.isInteger(RUNS) && RUNS >= 1)) throw new RangeError('--runs must be a positive integer');

const VARIANTS = [
  { name: 'TF.js', flavor: 'tfjs', kernels: false },
  { name: 'TF.js + registerKernels', flavor: 'tfjs', kernels: true },
  { name: 'fastnorm layers', flavor: 'fastnorm', kernels: true },
  { name: 'no normalization', flavor: 'none', kernels: false },
];

const median = (a) => [...a].sort((p, q) => p - q)[a.length >> 1];
const ms = (t) => (t >= 100 ? t.toFixed(0) : t.toFixed(1)).padStart(6) + ' ms';

async function timeModel(name) {
  const { x, y } = batchFor(name, BATCH === null ? undefined : Number(BATCH));
  const results = VARIANTS.map((v) => ({ ...v, model: MODELS[name](v.flavor), infer: [], step: [] }));
  const within = async (v, f) => {
    const restore = v.kernels ? registerKernels(tf) : () => {};
    try {
      return await f();
    } finally {
      restore();
    }
  };
  // correctness first: the same weights give the same predictions and first-step losses
  const check = {};
  for (const r of results.filter((v) => v.flavor !== 'none')) {
    check[r.name] = await within(r, async () => ({
      y: tf.tidy(() => r.model.predict(x).dataSync().slice()),
      loss: trainStep(name, r.model, x, y),
    }));
  }
  // then time, variants interleaved so they see the same machine load; one warm-up round
  for (let round = 0; round <= RUNS; round++) {
    for (const r of results) {
      await within(r, async () => {
        let t0 = performance.now();
        tf.tidy(() => r.model.predict(x).dataSync());
        const infer = performance.now() - t0;
        t0 = performance.now();
        trainStep(name, r.model, x, y);
        const step = performance.now() - t0;
        if (round > 0) r.infer.push(infer), r.step.push(step);
      });
    }
  }
  for (const r of results) r.model.dispose?.();
  tf.dispose([x, y]);
  return { name, results: results.map((r) => ({ name: r.name, infer: median(r.infer), step: median(r.step) })), check };
}

function report({ name, results, check }) {
  const base = results[0];
  const none = results[3];
  const lines = [`${name} (batch ${BATCH ?? 'default'}):`];
  for (const r of results.slice(0, 3)) {
    const speed = r === base ? '' : ` (${(base.infer / r.infer).toFixed(2)}×)`;
    const stepSpeed = r === base ? '' : ` (${(base.step / r.step).toFixed(2)}×)`;
    lines.push(`  ${r.name.padEnd(24)} inference ${ms(r.infer)}${speed.padEnd(9)}  training step ${ms(r.step)}${stepSpeed}`);
  }
  // (t − t_none)/t; a small negative share is run-to-run noise (the variant ran faster than the model without normalization)
  const share = (r) => `${Math.round((100 * (r.step - none.step)) / r.step)}%`;
  lines.push(`  ${'no normalization'.padEnd(24)} inference ${ms(none.infer)}           training step ${ms(none.step)}`);
  lines.push(`  normalization's share of the training step: ${share(base)} with TF.js's layers, ${share(results[2])} with fastnorm's`);
  // agreement of the fastnorm variants with TF.js
  let worst = 0;
  for (const [k, c] of Object.entries(check)) {
    if (k === base.name) continue;
    const ref = check[base.name];
    let scale = 0;
    let err = 0;
    for (let i = 0; i < ref.y.length; i++) {
      scale = Math.max(scale, Math.abs(ref.y[i]));
      err = Math.max(err, Math.abs(c.y[i] - ref.y[i]));
    }
    const relative = err / Math.max(scale, 1e-30);
    const lossError = Math.abs(c.loss - ref.loss) / Math.max(Math.abs(ref.loss), 1e-30);
    worst = Math.max(worst, relative, lossError);
    lines.push(`  ${k}: max |Δ prediction| / max |prediction| ${relative.toExponential(1)}, first-step loss Δ ${lossError.toExponential(1)} (vs TF.js)`);
  }
  return { text: lines.join('\n'), worst };
}

await tf.setBackend('cpu');
const info = fastnorm.info();
console.log(`TF.js ${tf.version_core} cpu backend, fastnorm ${info.backend}/${info.isa} (${info.threads} threads); ` +
  `medians of ${RUNS} run${RUNS > 1 ? 's' : ''} after a warm-up`);
resetCounters();
let worst = 0;
for (const name of MODEL === 'all' ? ['cnn', 'transformer'] : [MODEL]) {
  const r = report(await timeModel(name));
  worst = Math.max(worst, r.worst);
  console.log(r.text);
}
const c = getCounters();
const fallbacks = Object.values(c).reduce((n, op) => n + op.fallback, 0);
console.log(`fastnorm computed ${c.fusedBatchNorm.fastnorm} FusedBatchNorm kernels, ${c.batchNormalization.fastnorm} BatchNormalization ` +
  `and ${c.layerNormalization.fastnorm} LayerNormalization layer calls; ${fallbacks} fell back to TF.js`);
if (worst > 1e-4 || fallbacks > 0) {
  console.log(`FAILED: the fastnorm variants disagree with TF.js (worst relative difference ${worst.toExponential(1)}) or fell back`);
  process.exit(1);
}
console.log(`OK: the fastnorm variants agree with TF.js (worst relative difference ${worst.toExponential(1)} ≤ 1e-4)`);
