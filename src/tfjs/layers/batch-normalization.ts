// BatchNormalization: tf.layers' class (config, defaults, weights unchanged) whose call is
// fastnorm: training takes the batch statistics in one pass (batchNormStats), normalizes in
// another (batchNormElemt) and backpropagates through them (batchNormBackward); inference
// normalizes with the moving statistics. Any channel axis is computed in its own memory order.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import type { BatchNormalization as StockBatchNormalization, BatchNormalizationLayerArgs } from '@tensorflow/tfjs-layers/dist/layers/normalization';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import type { Layout } from '../../index.js';
import { impl } from '../implementation.js';
import { fastnormOp, layerCall, markFastnormLayer, oneTensor, product, resultArray, stockLayerClass } from './shared.js';

const Stock = stockLayerClass<typeof StockBatchNormalization>('BatchNormalization');

/** The stock layer's state after build (private in its typings). */
interface State {
  axis: number | number[];
  momentum: number;
  epsilon: number;
  gamma?: LayerVariable;
  beta?: LayerVariable;
  movingMean: LayerVariable;
  movingVariance: LayerVariable;
  scale: boolean;
  center: boolean;
}

/** x as fastnorm's (N, C, S) or (N, S, C) tensor for a channel axis (tf.layers' −1 included). */
export function channelView(shape: readonly number[], axis: number): { shape: number[]; layout: Layout; channels: number } {
  const k = axis < 0 ? axis + shape.length : axis;
  const channels = shape[k];
  const outer = product(shape.slice(0, k));
  const inner = product(shape.slice(k + 1));
  return inner === 1
    ? { shape: [outer, channels], layout: 'NHWC', channels }
    : { shape: [outer, channels, inner], layout: 'NCHW', channels };
}

/** The parameters present, and the op's input list ([x, gamma?, beta?]). */
function affineInputs(x: Tensor, gamma: Tensor | null, beta: Tensor | null) {
  return {
    inputs: [x, ...(gamma ? [gamma] : []), ...(beta ? [beta] : [])],
    split: ([xv, ...params]: Float32Array[]) => ({
      xv, weight: gamma ? params[0] : undefined, bias: beta ? params[gamma ? 1 : 0] : undefined,
    }),
    grads: { weight: gamma !== null, bias: beta !== null },
  };
}

function gradientList(g: { dx: { data: Float32Array | Float64Array }; dweight?: Float32Array | Float64Array; dbias?: Float32Array | Float64Array }) {
  return [g.dx.data as Float32Array, ...(g.dweight ? [g.dweight as Float32Array] : []), ...(g.dbias ? [g.dbias as Float32Array] : [])];
}

/**
 * Training-mode batch normalization over every axis but `axis`: y and the batch mean and
 * (biased) variance, which tf.layers' moving averages take.
 */
export function batchNormalizationTrainingOp(x: Tensor, axis: number, gamma: Tensor | null, beta: Tensor | null,
  epsilon: number): { y: Tensor; mean: Float32Array; variance: Float32Array } {
  const view = channelView(x.shape, axis);
  const c = view.channels;
  const mean = new Float32Array(c);
  const variance = new Float32Array(c);
  const { inputs, split, grads } = affineInputs(x, gamma, beta);
  const y = fastnormOp(inputs, x.shape, (values) => {
    const { xv, weight, bias } = split(values);
    const xT = { data: xv, shape: view.shape };
    const stats = impl().batchNormStats(xT, { layout: view.layout });
    const rstd = new Float32Array(c);
    for (let j = 0; j < c; j++) {
      const v = stats.m2[j] / stats.count;
      mean[j] = stats.mean[j];
      variance[j] = v;
      rstd[j] = 1 / Math.sqrt(v + epsilon);
    }
    const out = resultArray(xv.length);
    impl().batchNormElemt(xT, { mean, rstd }, { weight, bias, layout: view.layout, out: { y: out } });
    return {
      y: out,
      backward: (dy) => {
        const dyT = { data: dy, shape: view.shape };
        const dOut = { dx: resultArray(xv.length), dweight: weight && resultArray(c), dbias: bias && resultArray(c) };
        if (stats.count >= 2) {
          return gradientList(impl().batchNormBackward(dyT, xT, { mean, rstd },
            { weight, training: true, layout: view.layout, grads, out: dOut }));
        }
        // One value per channel (or none): y = beta whatever x is, so dx = 0 and dgamma = 0.
        dOut.dx.fill(0);
        dOut.dweight?.fill(0);
        if (dOut.dbias) dOut.dbias.set(stats.count === 1 ? dy : new Float32Array(c));
        return gradientList({ dx: { data: dOut.dx }, dweight: dOut.dweight, dbias: dOut.dbias });
      },
    };
  });
  return { y, mean, variance };
}

/** Inference-mode batch normalization with fixed statistics (gradients through them as constants). */
export function batchNormalizationInferenceOp(x: Tensor, axis: number, movingMean: Tensor, movingVariance: Tensor,
  gamma: Tensor | null, beta: Tensor | null, epsilon: number): Tensor {
  const view = channelView(x.shape, axis);
  const c = view.channels;
  const mean = Float32Array.from(movingMean.dataSync());
  const varianceV = movingVariance.dataSync();
  const rstd = new Float32Array(c);
  for (let j = 0; j < c; j++) rstd[j] = 1 / Math.sqrt(varianceV[j] + epsilon);
  const { inputs, split, grads } = affineInputs(x, gamma, beta);
  return fastnormOp(inputs, x.shape, (values) => {
    const { xv, weight, bias } = split(values);
    const xT = { data: xv, shape: view.shape };
    const out = resultArray(xv.length);
    impl().batchNormElemt(xT, { mean, rstd }, { weight, bias, layout: view.layout, out: { y: out } });
    return {
      y: out,
      backward: (dy) => gradientList(impl().batchNormBackward({ data: dy, shape: view.shape }, xT, { mean, rstd }, {
        weight, training: false, layout: view.layout, grads,
        out: { dx: resultArray(xv.length), dweight: weight && resultArray(c), dbias: bias && resultArray(c) },
      })),
    };
  });
}

/** tf.layers' moving-average update, in its own float32 tensor arithmetic: v − (v − value)·(1 − momentum). */
function updateMovingAverage(variable: LayerVariable, value: Float32Array, momentum: number): void {
  tf.tidy(() => {
    const current = variable.read();
    variable.write(tf.sub(current, tf.mul(tf.sub(current, tf.tensor1d(value)), 1 - momentum)));
  });
}

/**
 * tf.layers' BatchNormalization computed by fastnorm: same constructor arguments, defaults
 * (axis −1, momentum 0.99, epsilon 1e-3, center and scale true), weights (gamma, beta,
 * moving_mean, moving_variance, in that order) and config, so models and saved weights load
 * unchanged. Training normalizes with the batch statistics and updates the moving ones as
 * tf.layers does (moving = moving − (moving − batch)·(1 − momentum), biased batch variance);
 * inference uses the moving statistics. Unlike tf.layers on the cpu backend, a channel axis other
 * than the last is normalized per channel (tf.layers reads its statistics cyclically there).
 * @example
 * import * as tfl from '@tensorflow/tfjs-layers';
 * import { BatchNormalization } from 'fastnorm/tfjs';
 *
 * const model = tfl.sequential({ layers: [
 *   tfl.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', inputShape: [32, 32, 3] }),
 *   new BatchNormalization(),
 *   tfl.layers.reLU(),
 * ] });
 */
export class BatchNormalization extends Stock {
  static override className = 'BatchNormalization';

  override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor | Tensor[] {
    const x = oneTensor(inputs);
    const s = this as unknown as State;
    // Keras configs may hold the axis as a one-element list; tf.layers indexes with it as is.
    const axis = Number(Array.isArray(s.axis) ? s.axis[0] : s.axis);
    const training = kwargs.training == null ? false : Boolean(kwargs.training);
    return layerCall('batchNormalization', x, s.epsilon, () => super.call(inputs, kwargs), () => {
      const gamma = s.scale && s.gamma ? s.gamma.read() : null;
      const beta = s.center && s.beta ? s.beta.read() : null;
      if (!training)
        return batchNormalizationInferenceOp(x, axis, s.movingMean.read(), s.movingVariance.read(), gamma, beta, s.epsilon);
      const { y, mean, variance } = batchNormalizationTrainingOp(x, axis, gamma, beta, s.epsilon);
      updateMovingAverage(s.movingMean, mean, s.momentum);
      updateMovingAverage(s.movingVariance, variance, s.momentum);
      return y;
    });
  }
}
markFastnormLayer(BatchNormalization, Stock);

/**
 * Creates a {@link BatchNormalization} layer, as `tf.layers.batchNormalization` does.
 * @example
 * const bn = batchNormalization({ momentum: 0.9 });
 * const y = bn.apply(tf.randomNormal([8, 32, 32, 16]), { training: true });
 */
export function batchNormalization(args?: BatchNormalizationLayerArgs): BatchNormalization {
  return new BatchNormalization(args);
}
