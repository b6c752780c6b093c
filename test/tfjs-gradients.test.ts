// The FusedBatchNorm gradient registered by registerKernels: against TF.js's own gradient on the
// same inputs (where TF.js's works), against central differences of the kernel's definition in
// double (everywhere, including parameter shapes TF.js's gradient cannot handle), and its
// hand-overs to TF.js's gradient (gradients of gradients, other backends).
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { afterEach, describe, expect, it } from 'vitest';
import { getCounters, registerKernels, resetCounters } from '../src/tfjs';
import { expectClose, expectL2Close, numericGradient, scaledDiff } from './helpers';
import { makeRng, onBoth, seededTensor, tf, useCpuBackend, valuesOf } from './tfjs-helpers';

useCpuBackend();
afterEach(() => resetCounters());

const EPS = 1e-3;
type Grads5 = (x: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) => tf.Tensor;
const batchNorm: Grads5 = (x, m, v, o, s) => tf.batchNorm(x, m, v, o, s, EPS);
const NAMES = ['x', 'mean', 'variance', 'offset', 'scale'];

function inputs(seed: number, xShape: number[], shapes: number[][]) {
  const rng = makeRng(seed);
  const [m, v, o, s] = shapes;
  return {
    args: [seededTensor(rng, xShape), seededTensor(rng, m, { scale: 0.5 }), seededTensor(rng, v, { positive: true }),
      seededTensor(rng, o), seededTensor(rng, s)],
    dy: seededTensor(rng, xShape),
  };
}

describe("the fused gradient matches TF.js's own gradient on the same inputs", () => {
  const cases: Array<[string, number[], number[]]> = [
    ['x [5, 3], parameters [3]', [5, 3], [3]],
    ['x [2, 3, 17], parameters [17]', [2, 3, 17], [17]],
    ['x [2, 5, 7, 16], parameters [16]', [2, 5, 7, 16], [16]],
    ['x [4, 3, 3, 64], parameters [64]', [4, 3, 3, 64], [64]],
    ['full-shape parameters [2, 3, 4, 5]', [2, 3, 4, 5], [2, 3, 4, 5]],
    ['length-1 parameters over [4, 6]', [4, 6], [1]],
  ];
  cases.forEach(([name, xShape, p], k) => {
    it(name, () => {
      const { args, dy } = inputs(200 + k, xShape, [p, p, p, p]);
      const { tfjs, fastnorm: ours } = onBoth(() => tf.grads(batchNorm)(args, dy));
      const figures = ours.map((g, i) => `${NAMES[i]} ${scaledDiff(g, tfjs[i]).err.toExponential(1)}`);
      console.log(`${name}: max scaled |fastnorm − TF.js| per gradient: ${figures.join(', ')}`);
      expectClose(ours[0], tfjs[0], 1e-6, 'dx');
      for (let i = 1; i < 5; i++) expectL2Close(ours[i], tfjs[i], 1e-5, `d${NAMES[i]}`);
      expect(getCounters().fusedBatchNormGrad).toEqual({ fastnorm: 1, fallback: 0, reasons: {} });
    });
  });
});

/** The kernel's definition in double: Σ dy·(o + (x − m)·s/√(v + ε)), parameters read cyclically. */
function loss(x: Float64Array, p: Float64Array[], dy: Float64Array): number {
  const [m, v, o, s] = p;
  let total = 0;
  for (let i = 0; i < x.length; i++) {
    const y = o[i % o.length] + ((x[i] - m[i % m.length]) * s[i % s.length]) / Math.sqrt(v[i % v.length] + EPS);
    total += dy[i] * y;
  }
  return total;
}

/** The fused gradients of args (x, mean, variance, offset, scale) against central differences of loss. */
function expectMatchesCentralDifferences(args: tf.Tensor[], dy: tf.Tensor): void {
  const restore = registerKernels(tf);
  let ours: Float32Array[];
  try {
    ours = tf.tidy(() => tf.grads(batchNorm)(args, dy).map(valuesOf));
  } finally {
    restore();
  }
  expect(getCounters().fusedBatchNormGrad.fastnorm).toBe(1);
  const x = Float64Array.from(valuesOf(args[0]));
  // args order is x, mean, variance, offset, scale; the definition takes mean, variance, offset, scale
  const p = [1, 2, 3, 4].map((i) => Float64Array.from(valuesOf(args[i])));
  const dyv = Float64Array.from(valuesOf(dy));
  const numeric = [numericGradient(() => loss(x, p, dyv), x), ...p.map((v) => numericGradient(() => loss(x, p, dyv), v))];
  numeric.forEach((g, i) => expectClose(ours[i], g, 1e-4, `d${NAMES[i]}`));
}

describe('the fused gradient against central differences of the definition (float64)', () => {
  const cases: Array<[string, number[], number[][], boolean]> = [
    ['x [3, 4], parameters [4]', [3, 4], [[4], [4], [4], [4]], true],
    ['full-shape parameters [2, 3]', [2, 3], [[2, 3], [2, 3], [2, 3], [2, 3]], true],
    ['trailing-dims parameters [2, 2] over x [3, 2, 2] (TF.js\'s own gradient throws)', [3, 2, 2], [[2, 2], [2, 2], [2, 2], [2, 2]], false],
    ['scalar parameters over x [2, 3] (TF.js\'s own gradient throws)', [2, 3], [[], [], [], []], false],
  ];
  cases.forEach(([name, xShape, shapes, tfjsWorks], k) => {
    it(name, () => {
      const { args, dy } = inputs(300 + k, xShape, shapes);
      if (!tfjsWorks) expect(() => tf.grads(batchNorm)(args, dy)).toThrow();
      expectMatchesCentralDifferences(args, dy);
    });
  });

  it('mean/offset [4] with variance/scale [6] over x [5, 6]: period 12 and a 6-value tail', () => {
    // offset keeps mean's shape: TF.js's tape checks the offset gradient against mean's shape
    const { args, dy } = inputs(310, [5, 6], [[4], [6], [4], [6]]);
    expectMatchesCentralDifferences(args, dy);
  });
});

describe("where the fused gradient hands over to TF.js's, counted", () => {
  it("a gradient of a gradient ('higher-order'): TF.js's differentiable gradient, same result", () => {
    const { args } = inputs(400, [4, 3], [[3], [3], [3], [3]]);
    const [x, m, v, o, s] = args;
    const w = seededTensor(makeRng(401), [3]);
    // d/dv of Σ w·(∂/∂v Σ y): the inner gradient runs while the outer tape records
    const second = () => tf.grad((vv: tf.Tensor) => tf.sum(tf.mul(tf.grad((v2: tf.Tensor) => tf.sum(tf.batchNorm(x, m, v2, o, s, EPS)))(vv), w)))(v);
    const { tfjs, fastnorm: ours } = onBoth(second);
    expectClose(ours[0], tfjs[0], 1e-6);
    expect(getCounters().fusedBatchNormGrad.reasons).toEqual({ 'higher-order': 1 });
  });

  it("a backend fastnorm is not registered for ('backend')", async () => {
    tf.registerBackend('plain-cpu', () => new MathBackendCPU());
    tf.copyRegisteredKernels('cpu', 'plain-cpu');
    try {
      await tf.setBackend('plain-cpu');
      const { args, dy } = inputs(402, [4, 3], [[3], [3], [3], [3]]);
      const { tfjs, fastnorm: ours } = onBoth(() => tf.grads(batchNorm)(args, dy));
      ours.forEach((g, i) => expectClose(g, tfjs[i], 0, NAMES[i]));
      expect(getCounters().fusedBatchNormGrad.reasons).toEqual({ backend: 1 });
    } finally {
      await tf.setBackend('cpu');
      tf.removeBackend('plain-cpu');
    }
  });

  it("an int32 x ('dtype')", () => {
    const x = tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32');
    const rest = [tf.tensor1d([0, 1]), tf.tensor1d([1, 2]), tf.tensor1d([0, 0]), tf.tensor1d([1, 1])];
    const { tfjs, fastnorm: ours } = onBoth(() => tf.grads((m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) => tf.batchNorm(x, m, v, o, s))(rest));
    ours.forEach((g, i) => expectClose(g, tfjs[i], 0));
    expect(getCounters().fusedBatchNormGrad.reasons).toEqual({ dtype: 1 });
  });
});
