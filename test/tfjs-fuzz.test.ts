// Property-based checks of fastnorm/tfjs (fast-check): random x shapes (rank 0-4, sizes around
// the vector width), random parameter lengths (divisors of x's size, arbitrary lengths with a
// tail, longer than x, length 1), optional offset/scale, random epsilon, values with large
// offsets, zeros and non-finite values — the registered kernel must give TF.js's kernel's result
// (within float32 rounding, NaN/±Inf at the same places), its gradient TF.js's gradient where
// TF.js's is defined, and every call must be counted once.
// The seed is printed; FASTNORM_FUZZ_SEED=<seed> replays a run. FASTNORM_FUZZ_RUNS scales it.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { getCounters, registerKernels, resetCounters } from '../src/tfjs';
import { expectClose, expectL2Close } from './helpers';
import { tf, useCpuBackend } from './tfjs-helpers';

useCpuBackend();
afterEach(() => resetCounters());

const SEED = Number(process.env.FASTNORM_FUZZ_SEED ?? Date.now() % 2 ** 31);
const RUNS = Number(process.env.FASTNORM_FUZZ_RUNS ?? 1);

const dim = fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constantFrom(15, 16, 17, 31, 33));
const xShape = fc.array(dim, { minLength: 0, maxLength: 4 }).filter((s) => s.reduce((p, d) => p * d, 1) <= 20000);
const value = fc.oneof(
  { weight: 20, arbitrary: fc.float({ min: -8, max: 8, noNaN: true }) },
  { weight: 2, arbitrary: fc.constantFrom(0, 1e4, -1e4, 1e-20) },
  { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity) },
);

/** A parameter length for x of `size` values: a divisor of it (broadcast), anything (a tail), or longer. */
function parameterLength(size: number) {
  const divisors = [...Array(Math.max(1, size)).keys()].map((i) => i + 1).filter((d) => size % d === 0);
  return fc.oneof(fc.constantFrom(...divisors), fc.integer({ min: 1, max: Math.max(1, size + 3) }));
}

const caseArb = xShape.chain((shape) => {
  const size = shape.reduce((p, d) => p * d, 1);
  return fc.record({
    shape: fc.constant(shape),
    x: fc.array(value, { minLength: size, maxLength: size }),
    lengths: fc.tuple(parameterLength(size), parameterLength(size), parameterLength(size), parameterLength(size)),
    withOffset: fc.boolean(),
    withScale: fc.boolean(),
    eps: fc.oneof(fc.constant(undefined), fc.constantFrom(0, 1e-5, 1e-3, 0.5)),
    seed: fc.integer({ min: 1, max: 1e6 }),
  });
});

function parameter(length: number, seed: number, positive = false): tf.Tensor {
  const v = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const u = Math.sin(seed * 12.9898 + i * 78.233) * 43758.5453;
    const r = u - Math.floor(u);
    v[i] = positive ? 0.25 + 2 * r : 4 * r - 2;
  }
  return tf.tensor1d(v);
}

describe('fastnorm/tfjs under random inputs', () => {
  it("the kernel gives TF.js's result on random shapes, parameter lengths and values, each call counted once", () => {
    console.log(`tfjs fuzz seed ${SEED} (replay: FASTNORM_FUZZ_SEED=${SEED})`);
    let calls = 0;
    fc.assert(fc.property(caseArb, (c) => {
      tf.tidy(() => {
        const x = tf.tensor(Float32Array.from(c.x), c.shape);
        const [lm, lv, lo, ls] = c.lengths;
        const mean = parameter(lm, c.seed);
        const variance = parameter(lv, c.seed + 1, true);
        const offset = c.withOffset ? parameter(lo, c.seed + 2) : undefined;
        const scale = c.withScale ? parameter(ls, c.seed + 3) : undefined;
        const run = () => tf.batchNorm(x, mean, variance, offset, scale, c.eps).dataSync().slice();
        const expected = run();
        const restore = registerKernels(tf);
        let actual: Float32Array;
        try {
          actual = run() as Float32Array;
        } finally {
          restore();
        }
        calls++;
        expectClose(actual, expected, 2e-6, `y of ${JSON.stringify({ ...c, x: undefined })}`);
      });
    }), { seed: SEED, numRuns: Math.round(150 * RUNS), endOnFailure: true });
    const counted = getCounters().fusedBatchNorm;
    expect(counted.fastnorm + counted.fallback).toBe(calls);
  });

  it("the gradient gives TF.js's where TF.js's is defined ([C] parameters over the last axis)", () => {
    const gradArb = fc.record({
      shape: fc.array(dim, { minLength: 1, maxLength: 4 }).filter((s) => s.reduce((p, d) => p * d, 1) <= 20000),
      seed: fc.integer({ min: 1, max: 1e6 }),
    });
    fc.assert(fc.property(gradArb, ({ shape, seed }) => {
      tf.tidy(() => {
        const c = shape[shape.length - 1];
        const args = [tf.randomNormal(shape, 0, 1, 'float32', seed), parameter(c, seed), parameter(c, seed + 1, true),
          parameter(c, seed + 2), parameter(c, seed + 3)];
        const dy = tf.randomNormal(shape, 0, 1, 'float32', seed + 4);
        const grads = () => tf.grads((a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) => tf.batchNorm(a, m, v, o, s))(args, dy)
          .map((g) => g.dataSync().slice() as Float32Array);
        const expected = grads();
        const restore = registerKernels(tf);
        let actual: Float32Array[];
        try {
          actual = grads();
        } finally {
          restore();
        }
        expectClose(actual[0], expected[0], 2e-6, 'dx');
        for (let i = 1; i < 5; i++) expectL2Close(actual[i], expected[i], 2e-5, `parameter gradient ${i}`);
      });
    }), { seed: SEED, numRuns: Math.round(60 * RUNS), endOnFailure: true });
    expect(getCounters().fusedBatchNormGrad.fallback).toBe(0);
  });
});
