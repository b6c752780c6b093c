// Shared set-up of the TF.js tests: tfjs-core on its cpu backend, seeded tensors, and running
// the same computation on TF.js's own kernel and on fastnorm's.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll } from 'vitest';
import { registerKernels } from '../src/tfjs';
import { makeRng, type Rng } from './helpers';

export { tf };

/** Selects TF.js's cpu backend for the file (its own kernels until a test registers fastnorm's). */
export function useCpuBackend(): void {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    await tf.ready();
  });
}

/** Seeded float32 values offset + scale·N(0, 1). */
export function seeded(rng: Rng, n: number, scale = 1, offset = 0): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = offset + scale * rng.normal();
  return a;
}

/** A seeded float32 tensor; `positive` draws uniform values in [0.5, 2) (variances). */
export function seededTensor(rng: Rng, shape: number[], opts: { scale?: number; offset?: number; positive?: boolean } = {}): tf.Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  const values = opts.positive ? Float32Array.from({ length: n }, () => 0.5 + 1.5 * rng.uniform()) : seeded(rng, n, opts.scale, opts.offset);
  return tf.tensor(values, shape, 'float32');
}

export { makeRng };

/** A tensor's values, copied (so they outlive the tensor). */
export function valuesOf(t: tf.Tensor): Float32Array {
  return Float32Array.from(t.dataSync() as Float32Array);
}

/**
 * f's tensors computed with TF.js's own kernels (`tfjs`) and with fastnorm's registered
 * (`fastnorm`), as copied values; the tensors f creates are disposed.
 */
export function onBoth(f: () => tf.Tensor | tf.Tensor[]): { tfjs: Float32Array[]; fastnorm: Float32Array[] } {
  const run = () => tf.tidy(() => {
    const out = f();
    return (Array.isArray(out) ? out : [out]).map(valuesOf);
  });
  const tfjs = run();
  const restore = registerKernels(tf);
  try {
    return { tfjs, fastnorm: run() };
  } finally {
    restore();
  }
}
