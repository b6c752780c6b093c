// The example's two models, built either with tf.layers' normalization layers or with
// fastnorm/tfjs's (or with none, to measure what normalization costs). Shared by main.mjs and
// the benchmark (bench/scenarios/tfjs.mjs).
//
//   cnn         a small image classifier: 3 × (conv 3×3 → BatchNormalization → ReLU), max-pooling,
//               global average pooling, dense softmax
//   transformer a pre-norm transformer encoder block: LayerNormalization → single-head
//               self-attention (dense q, k, v; softmax(q·kᵀ/√d)·v; dense out) → residual add →
//               LayerNormalization → MLP (dense 4d ReLU → dense d) → residual add →
//               LayerNormalization
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { BatchNormalization, LayerNormalization } from 'fastnorm/tfjs';

/** Which normalization layers a model is built with. */
export const FLAVORS = ['tfjs', 'fastnorm', 'none'];

function norm(kind, flavor, args = {}) {
  if (flavor === 'none') return tfl.layers.activation({ activation: 'linear' }); // identity: the rest of the model
  if (kind === 'batch') return flavor === 'fastnorm' ? new BatchNormalization(args) : tfl.layers.batchNormalization(args);
  return flavor === 'fastnorm' ? new LayerNormalization(args) : tfl.layers.layerNormalization(args);
}

export const CNN = { batch: 8, height: 16, width: 16, channels: 3, classes: 10, filters: [8, 16, 16] };

export function cnn(flavor, seed = 1) {
  const { height, width, channels, classes, filters: widths } = CNN;
  const init = (k) => tfl.initializers.glorotUniform({ seed: seed + k });
  const model = tfl.sequential();
  widths.forEach((filters, k) => {
    model.add(tfl.layers.conv2d({
      filters, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init(k),
      ...(k === 0 ? { inputShape: [height, width, channels] } : {}),
    }));
    model.add(norm('batch', flavor));
    model.add(tfl.layers.reLU());
    if (k === 0) model.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  });
  model.add(tfl.layers.globalAveragePooling2d({}));
  model.add(tfl.layers.dense({ units: classes, activation: 'softmax', kernelInitializer: init(9) }));
  model.compile({ optimizer: tf.train.sgd(0.01), loss: 'categoricalCrossentropy' });
  return model;
}

export const TRANSFORMER = { batch: 8, tokens: 64, width: 128 };

export function transformer(flavor, seed = 1) {
  const { tokens, width } = TRANSFORMER;
  let k = 0;
  const dense = (units, activation) => tfl.layers.dense({ units, activation, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + k++ }) });
  const input = tfl.input({ shape: [tokens, width] });
  const h = norm('layer', flavor, { epsilon: 1e-5 }).apply(input);
  const [q, key, v] = [dense(width), dense(width), dense(width)].map((l) => l.apply(h));
  const scores = tfl.layers.dot({ axes: [2, 2] }).apply([q, key]); // [B, T, T]
  const weights = tfl.layers.softmax({ axis: -1 }).apply(tfl.layers.rescaling({ scale: 1 / Math.sqrt(width) }).apply(scores));
  const attended = dense(width).apply(tfl.layers.dot({ axes: [2, 1] }).apply([weights, v]));
  const x1 = tfl.layers.add().apply([input, attended]);
  const h2 = norm('layer', flavor, { epsilon: 1e-5 }).apply(x1);
  const mlp = dense(width).apply(dense(4 * width, 'relu').apply(h2));
  const x2 = tfl.layers.add().apply([x1, mlp]);
  const output = norm('layer', flavor, { epsilon: 1e-5 }).apply(x2);
  const model = tfl.model({ inputs: input, outputs: output });
  model.compile({ optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError' });
  return model;
}

/** Seeded inputs and targets for a model (tf.randomNormal with a seed), `batch` samples. */
export function batchFor(name, batch = name === 'cnn' ? CNN.batch : TRANSFORMER.batch) {
  if (name === 'cnn') {
    const { height, width, channels, classes } = CNN;
    const labels = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % classes), 'int32');
    return { x: tf.randomNormal([batch, height, width, channels], 0, 1, 'float32', 7), y: tf.cast(tf.oneHot(labels, classes), 'float32') };
  }
  const { tokens, width } = TRANSFORMER;
  return { x: tf.randomNormal([batch, tokens, width], 0, 1, 'float32', 7), y: tf.randomNormal([batch, tokens, width], 0, 1, 'float32', 8) };
}

export const MODELS = { cnn, transformer };

const LOSSES = { cnn: tfl.metrics.categoricalCrossentropy, transformer: tfl.metrics.meanSquaredError };

/**
 * One training step, synchronously: the loss of a training-mode forward pass, its gradients and
 * the optimizer's update (what model.trainOnBatch does after preparing its data). Returns the loss.
 */
export function trainStep(name, model, x, y) {
  const loss = model.optimizer.minimize(() => tf.mean(LOSSES[name](y, model.apply(x, { training: true }))), true);
  const value = loss.dataSync()[0];
  loss.dispose();
  return value;
}
