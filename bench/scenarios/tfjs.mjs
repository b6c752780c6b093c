// TensorFlow.js scenarios (fastnorm/tfjs, README "Using fastnorm with TensorFlow.js"): the same
// TF.js computation on TF.js's cpu backend with fastnorm (the native contenders at 1 and all
// threads; the reference contender runs fastnorm/tfjs on fastnorm's reference backend) and
// without it — the "JS loop" contender here is TF.js's own implementation, so "vs JS" reads
// "vs TF.js". TF.js allocates every result, so only the allocating contenders run.
//
//   tf.batchNorm fwd / bwd      the FusedBatchNorm kernel (registerKernels) and its gradient
//                               (dx and the four parameter gradients)
//   LayerNormalization, BatchNormalization train fwd+bwd
//                               fastnorm/tfjs's layer vs tf.layers' (forward in training mode,
//                               then the gradients of x, gamma and beta)
//   GroupNormalization          fastnorm/tfjs's layer vs Keras 3's formula in TF.js ops
//                               (tf.layers has no GroupNormalization)
//   CNN / transformer           examples/tfjs/models.mjs: inference (predict) and one training
//                               step (trainStep: forward, gradients, SGD update) with fastnorm's
//                               layers vs tf.layers'; bytes
//                               are not counted for whole models (no GB/s)
//
// `bytes` for the op rows counts fastnorm's passes: forward 1 read + 1 write; the batchNorm
// gradient 2 passes (dy → dx; dy and x → parameter sums); layers' training fwd+bwd: the forward
// (BatchNormalization: 2 reads + 1 write) plus the backward (2 reads + 1 write, BatchNormalization
// 4 reads + 1 write).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { createRequire } from 'node:module';
import { BatchNormalization, GroupNormalization, LayerNormalization, registerKernels, setImplementation } from 'fastnorm/tfjs';
import { MODELS, batchFor, trainStep } from '../../examples/tfjs/models.mjs';
import { seededArray } from '../data.mjs';

const require = createRequire(import.meta.url);
// the reference formula of GroupNormalization, not a public export
const { groupNormalizationInTfjsOps } = require('../../dist/cjs/tfjs/layers/group-normalization.js');

await tf.setBackend('cpu');

const F32 = 4;
const size = (shape) => shape.reduce((p, d) => p * d, 1);
const tensorOf = (shape, seed, lo = -1, hi = 1) => tf.tensor(seededArray(Float32Array, size(shape), seed, lo, hi), shape);
const ONLY_ALLOCATING = (c) => c.mode === 'alloc' || c.kind === 'js';
const NO_REFERENCE = (c) => ONLY_ALLOCATING(c) && c.kind !== 'reference';

/** Runs f with fastnorm's kernels registered and `api` (fastnorm or fastnorm.reference) computing. */
function withFastnorm(api, f) {
  const previous = setImplementation(api);
  const restore = registerKernels(tf);
  try {
    return f();
  } finally {
    restore();
    setImplementation(previous);
  }
}

// The harness checks the baseline against fastnorm on the outputs an `out` object holds. TF.js
// allocates its own results, so `out` holds a strided sample of them (≤ SAMPLES values per
// result, read from the result's own storage): checking costs next to nothing when timed.
const SAMPLES = 256;
const resultsOf = (r) => (typeof r === 'number' ? [r] : Array.isArray(r) ? r : [r]);
function sampleInto(out, results) {
  let k = 0;
  for (const r of resultsOf(results)) {
    if (typeof r === 'number') {
      out[k++] = r;
      continue;
    }
    const v = r.dataSync();
    const stride = Math.max(1, Math.floor(v.length / SAMPLES));
    for (let i = 0; i < v.length; i += stride) out[k++] = v[i];
  }
  return k;
}

/**
 * A TF.js computation timed with fastnorm (`fastnorm`, default `tfjs`, with the kernels
 * registered) and without (`tfjs`); each returns the tensors it creates (disposed after the call)
 * or a number (a loss).
 */
function scenario({ op, dir, shape, bytes, targets, only = ONLY_ALLOCATING, setup, fastnorm, tfjs, tolerance, sampleLength }) {
  const withResults = (f, s, out) => {
    const results = f(s);
    if (out) sampleInto(out.sample, results);
    tf.dispose(resultsOf(results).filter((r) => typeof r !== 'number'));
  };
  return {
    op, dir, shape, bytes, targets, only, tolerance, baselineName: 'TF.js',
    setup: (lib) => {
      const s = setup(lib);
      // one fastnorm run sizes the sample (unless given: a training step must not run ahead)
      s.sampleLength = sampleLength
        ?? withFastnorm(lib.fastnorm, () => tf.tidy(() => sampleInto(new Float32Array(1 << 20), (fastnorm ?? tfjs)(s))));
      return s;
    },
    newOut: (s) => ({ sample: new Float32Array(s.sampleLength) }),
    call: (api, s, out) => withFastnorm(api, () => withResults(fastnorm ?? tfjs, s, out)),
    jsLoop: (s, out) => withResults(tfjs, s, out),
  };
}

function batchNormForward(shape) {
  const c = shape[shape.length - 1];
  const run = (s) => tf.batchNorm(s.x, s.mean, s.variance, s.offset, s.scale, 1e-3);
  return scenario({
    op: 'tf.batchNorm', dir: 'fwd', shape, bytes: 2 * F32 * size(shape),
    targets: shape.join() === '32,56,56,64' ? { jsSpeedup: 20 } : undefined,
    setup: () => ({
      x: tensorOf(shape, 31), mean: tensorOf([c], 32), variance: tensorOf([c], 33, 0.5, 2), offset: tensorOf([c], 34), scale: tensorOf([c], 35),
    }),
    tfjs: run,
  });
}

function batchNormBackward(shape) {
  const c = shape[shape.length - 1];
  const grads = tf.grads((x, m, v, o, s) => tf.batchNorm(x, m, v, o, s, 1e-3));
  return scenario({
    op: 'tf.batchNorm', dir: 'bwd', shape, bytes: 4 * F32 * size(shape),
    setup: () => ({
      args: [tensorOf(shape, 41), tensorOf([c], 42), tensorOf([c], 43, 0.5, 2), tensorOf([c], 44), tensorOf([c], 45)],
      dy: tensorOf(shape, 46),
    }),
    tfjs: (s) => grads(s.args, s.dy),
  });
}

/** A layer's training-mode forward and the gradients of x and its trainable weights. */
function layerTraining({ op, shape, bytes, make, tfjsLayer, tfjsFunction }) {
  const gradients = (layer, x, dy) => tf.engine().gradients(() => layer.apply(x, { training: true }),
    [x, ...layer.trainableWeights.map((w) => w.read())], dy).grads;
  return scenario({
    op, dir: 'train fwd+bwd', shape, bytes,
    setup: () => {
      const x = tensorOf(shape, 51, -2, 3);
      const ours = make();
      ours.apply(x);
      const stock = tfjsLayer?.();
      stock?.apply(x);
      return { x, dy: tensorOf(shape, 52), ours, stock };
    },
    fastnorm: (s) => gradients(s.ours, s.x, s.dy),
    tfjs: (s) => (s.stock ? gradients(s.stock, s.x, s.dy) : tfjsFunction(s)),
  });
}

const groupNormShape = [2, 32, 32, 128];
const groupNormTfjs = (s) => {
  const [gamma, beta] = s.ours.trainableWeights.map((w) => w.read());
  return tf.grads((x, g, b) => groupNormalizationInTfjsOps(x, 3, 32, g, b, 1e-3))([s.x, gamma, beta], s.dy);
};

function modelScenario(name, dir) {
  const example = batchFor(name);
  // (the two models start from the same weights and data, so their first steps' losses agree;
  // the check compares the first calls)
  const run = (model, s) => (dir === 'inference' ? model.predict(s.x) : trainStep(name, model, s.x, s.y));
  return {
    ...scenario({
      op: `${name} (examples/tfjs)`, dir, shape: example.x.shape, bytes: 0, only: NO_REFERENCE,
      sampleLength: dir === 'train step' ? 1 : undefined,
      targets: dir === 'train step' ? { jsSpeedup: 1.5 } : undefined,
      setup: () => ({ ...example, ours: MODELS[name]('fastnorm'), stock: MODELS[name]('tfjs') }),
      fastnorm: (s) => run(s.ours, s),
      tfjs: (s) => run(s.stock, s),
    }),
  };
}

export const scenarios = [
  batchNormForward([32, 56, 56, 64]),
  batchNormForward([8, 14, 14, 256]),
  batchNormBackward([32, 56, 56, 64]),
  layerTraining({
    op: 'LayerNormalization', shape: [2048, 768], bytes: 5 * F32 * 2048 * 768,
    make: () => new LayerNormalization({ epsilon: 1e-5 }), tfjsLayer: () => tfl.layers.layerNormalization({ epsilon: 1e-5 }),
  }),
  layerTraining({
    op: 'BatchNormalization', shape: [8, 56, 56, 64], bytes: 8 * F32 * size([8, 56, 56, 64]),
    make: () => new BatchNormalization(), tfjsLayer: () => tfl.layers.batchNormalization(),
  }),
  layerTraining({
    op: 'GroupNormalization', shape: groupNormShape, bytes: 5 * F32 * size(groupNormShape),
    make: () => new GroupNormalization({ groups: 32 }), tfjsFunction: groupNormTfjs,
  }),
  modelScenario('cnn', 'inference'),
  modelScenario('cnn', 'train step'),
  modelScenario('transformer', 'inference'),
  modelScenario('transformer', 'train step'),
];
