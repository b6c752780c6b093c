// LayerNormalization: tf.layers' class (its config, defaults and weights, unchanged) whose call
// is fastnorm's layerNorm and layerNormBackward instead of moments + four full-size tiled copies
// of mean, variance, gamma and beta + FusedBatchNorm.
import type { Tensor } from '@tensorflow/tfjs-core';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import type { LayerNormalization as StockLayerNormalization, LayerNormalizationLayerArgs } from '@tensorflow/tfjs-layers/dist/layers/normalization';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import { impl } from '../implementation.js';
import { fastnormOp, layerCall, markFastnormLayer, oneTensor, product, resultArray, stockLayerClass, withAxesLast } from './shared.js';

const Stock = stockLayerClass<typeof StockLayerNormalization>('LayerNormalization');

/** The stock layer's state after build (private in its typings). */
interface State {
  axis: number[];
  epsilon: number;
  gamma: LayerVariable | null;
  beta: LayerVariable | null;
}

/**
 * Layer normalization over `axes` of x (non-negative, distinct): y = (x − mean)·γ/√(var + ε) + β
 * with γ, β of the normalized dims (flat in their sorted order, as tf.layers reads them).
 * Trailing axes are one fastnorm call; others are moved last and back.
 */
export function layerNormalizationOp(x: Tensor, axes: readonly number[], gamma: Tensor | null, beta: Tensor | null,
  epsilon: number): Tensor {
  const sorted = [...axes].sort((a, b) => a - b);
  return withAxesLast(x, sorted, (xt) => {
    const rowShape = xt.shape.slice(xt.rank - sorted.length);
    const d = product(rowShape);
    const rows = product(xt.shape.slice(0, xt.rank - sorted.length));
    const inputs = [xt, ...(gamma ? [gamma] : []), ...(beta ? [beta] : [])];
    return fastnormOp(inputs, xt.shape, ([xv, ...params]) => {
      const weight = gamma ? params[0] : undefined;
      const bias = beta ? params[gamma ? 1 : 0] : undefined;
      const xT = { data: xv, shape: [rows, d] };
      const y = resultArray(xv.length);
      const saved = impl().layerNorm(xT, d, { weight, bias, eps: epsilon, out: { y } });
      return {
        y,
        backward: (dy) => {
          const out = {
            dx: resultArray(xv.length),
            dweight: gamma ? resultArray(d) : undefined,
            dbias: beta ? resultArray(d) : undefined,
          };
          const g = impl().layerNormBackward({ data: dy, shape: [rows, d] }, xT, saved, d,
            { weight, grads: { weight: gamma !== null, bias: beta !== null }, out });
          return [g.dx.data as Float32Array, ...(g.dweight ? [g.dweight as Float32Array] : []),
            ...(g.dbias ? [g.dbias as Float32Array] : [])];
        },
      };
    });
  });
}

/**
 * tf.layers' LayerNormalization computed by fastnorm: same constructor arguments, defaults
 * (axis −1, epsilon 1e-3, center and scale true), weights (gamma, beta) and config, so models and
 * saved weights of either class load into the other. Calls on a backend fastnorm is not
 * registered for, or on non-float32 tensors, run tf.layers' own code (counted in getCounters).
 * @example
 * import * as tf from '@tensorflow/tfjs-core';
 * import '@tensorflow/tfjs-backend-cpu';
 * import * as tfl from '@tensorflow/tfjs-layers';
 * import { LayerNormalization } from 'fastnorm/tfjs';
 *
 * const model = tfl.sequential({ layers: [
 *   tfl.layers.dense({ units: 256, inputShape: [256] }),
 *   new LayerNormalization({ epsilon: 1e-5 }),
 * ] });
 */
export class LayerNormalization extends Stock {
  static override className = 'LayerNormalization';

  override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor | Tensor[] {
    const x = oneTensor(inputs);
    const { axis, epsilon, gamma, beta } = this as unknown as State;
    return layerCall('layerNormalization', x, epsilon, () => super.call(inputs, kwargs),
      () => layerNormalizationOp(x, axis, gamma?.read() ?? null, beta?.read() ?? null, epsilon));
  }
}
markFastnormLayer(LayerNormalization, Stock);

/**
 * Creates a {@link LayerNormalization} layer, as `tf.layers.layerNormalization` does.
 * @example
 * const ln = layerNormalization({ axis: -1, epsilon: 1e-5 });
 * const y = ln.apply(tf.randomNormal([8, 128, 256]));
 */
export function layerNormalization(args?: LayerNormalizationLayerArgs): LayerNormalization {
  return new LayerNormalization(args);
}
