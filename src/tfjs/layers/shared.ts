// What the three layers share: the stock tf.layers classes they extend, when fastnorm computes a
// call, and differentiable ops whose forward and backward are fastnorm calls (tf.customGrad).
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers tf.layers' classes, which stockLayerClass looks up
import { countFallback, countFastnorm, type CountedOp, type FallbackReason } from '../counters.js';
import { uninitialized } from '../../api/alloc.js';
import { isFastnormBackend } from '../implementation.js';

/** Marks this package's layer classes, whose `stock` static is the tf.layers class they extend. */
const STOCK = Symbol.for('fastnorm.tfjs.stockLayer');

/**
 * The tf.layers class registered for serialization under `className`, as tfjs-layers registered
 * it (this package later registers its own class under the same name).
 */
export function stockLayerClass<T>(className: string): T {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (!entry) throw new Error(`fastnorm/tfjs: tf.layers has no ${className} class (is @tensorflow/tfjs-layers 4.x installed?)`);
  const cls = entry[0] as unknown as Record<symbol, unknown>;
  return (cls[STOCK] ?? cls) as T;
}

/** Records the stock class of one of this package's layer classes (see stockLayerClass). */
export function markFastnormLayer(cls: object, stock: unknown): void {
  Object.defineProperty(cls, STOCK, { value: stock });
}

/** Why fastnorm does not compute a layer call on x (TF.js's code then does), or null. */
function layerFallbackReason(x: Tensor, epsilon: number): FallbackReason | null {
  if (!isFastnormBackend(tf.getBackend())) return 'backend';
  if (x.dtype !== 'float32') return 'dtype';
  if (!(Number.isFinite(epsilon) && epsilon >= 0)) return 'range';
  return null;
}

/**
 * A layer call: `compute` (in a tidy) when fastnorm can compute it on x, else `tfjs` (TF.js's
 * implementation); counted either way.
 */
export function layerCall<T>(op: CountedOp, x: Tensor, epsilon: number, tfjs: () => T, compute: () => Tensor): T | Tensor {
  const reason = layerFallbackReason(x, epsilon);
  if (reason) {
    countFallback(op, reason);
    return tfjs();
  }
  countFastnorm(op);
  return tf.tidy(compute);
}

/** The one tensor a layer is called on (tf.layers passes a tensor or a one-element array). */
export function oneTensor(inputs: Tensor | Tensor[]): Tensor {
  if (!Array.isArray(inputs)) return inputs;
  if (inputs.length !== 1) throw new Error(`expected 1 input tensor, got ${inputs.length}`);
  return inputs[0];
}

export function product(dims: readonly number[]): number {
  return dims.reduce((p, d) => p * d, 1);
}

/**
 * A differentiable op computed by fastnorm. `compute` receives the inputs' float32 values (on a
 * typed-array backend, the tensors' own storage: read, never write) and returns the output's
 * values and the backward, mapping dy's values to one gradient per input (in the inputs' shapes).
 */
export function fastnormOp(inputs: Tensor[], shape: number[],
  compute: (values: Float32Array[]) => { y: Float32Array; backward(dy: Float32Array): Float32Array[] }): Tensor {
  const op = tf.customGrad((...args: unknown[]) => {
    const tensors = args.slice(0, inputs.length) as Tensor[];
    const { y, backward } = compute(tensors.map((t) => t.dataSync() as Float32Array));
    return {
      value: tf.tensor(y, shape, 'float32'),
      gradFunc: (dy: Tensor) => backward(dy.dataSync() as Float32Array).map((g, i) => tf.tensor(g, tensors[i].shape, 'float32')),
    };
  });
  return op(...inputs);
}

/** A result array of `length` values that the op writes in full. */
export const resultArray = (length: number): Float32Array => uninitialized<Float32Array>(Float32Array, length);

/** x with `axes` moved last (in order), and the permutation that moves them back. */
export function withAxesLast(x: Tensor, axes: readonly number[], f: (xt: Tensor) => Tensor): Tensor {
  const rest = [...Array(x.rank).keys()].filter((a) => !axes.includes(a));
  const perm = [...rest, ...axes];
  if (perm.every((a, i) => a === i)) return f(x);
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return tf.transpose(f(tf.transpose(x, perm)), inverse);
}
