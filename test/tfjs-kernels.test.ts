// fastnorm as TF.js's FusedBatchNorm kernel (registerKernels): everything TF.js's cpu kernel
// accepts, against that kernel on the same inputs; what falls back to it, and why (counters);
// TF.js's tensor bookkeeping; registration and restoring.
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { afterEach, describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import { getCounters, registerKernels, resetCounters, setImplementation } from '../src/tfjs';
import { fusedBatchNormKernel } from '../src/tfjs/fused-batch-norm';
import { bitwiseEqual, expectBitwiseEqual, expectClose, isaThreadConfigs } from './helpers';
import { makeRng, onBoth, seededTensor, tf, useCpuBackend, valuesOf } from './tfjs-helpers';

useCpuBackend();
afterEach(() => resetCounters());

interface ForwardCase {
  name: string;
  x: number[];
  /** Shapes of mean, variance, offset, scale (null: absent). */
  params: [number[], number[], number[] | null, number[] | null];
  eps?: number;
}

const C = (shape: number[], withOffset = true, withScale = true): ForwardCase['params'] =>
  [shape, shape, withOffset ? shape : null, withScale ? shape : null];

const FORWARD_CASES: ForwardCase[] = [
  { name: 'x rank 0 with scalar parameters', x: [], params: C([]) },
  { name: 'x rank 1 [7] with [7]', x: [7], params: C([7]) },
  { name: 'x rank 2 [5, 3] with [3]', x: [5, 3], params: C([3]) },
  { name: 'x rank 3 [2, 3, 17] with [17]', x: [2, 3, 17], params: C([17]) },
  { name: 'x rank 4 [2, 5, 7, 16] with [16] (the channels-last common case)', x: [2, 5, 7, 16], params: C([16]) },
  { name: 'x rank 4 [3, 4, 5, 33] with [33] (channels around the vector width)', x: [3, 4, 5, 33], params: C([33]) },
  { name: 'x [4, 1000, 3] with [3] (C = 3, many rows)', x: [4, 1000, 3], params: C([3]) },
  { name: 'full-shape parameters [2, 3, 4, 5] (element-wise, as tf.layers LayerNormalization calls it)', x: [2, 3, 4, 5], params: C([2, 3, 4, 5]) },
  { name: 'trailing-dims parameters [4, 5, 6] over x [3, 4, 5, 6]', x: [3, 4, 5, 6], params: C([4, 5, 6]) },
  { name: 'length-1 parameters [1] over [4, 6]', x: [4, 6], params: C([1]) },
  { name: 'mean/variance [6], offset/scale [1]', x: [5, 6], params: [[6], [6], [1], [1]] },
  { name: 'lengths 4 and 6: period 12 over 30 values (a 6-value tail)', x: [5, 6], params: [[4], [6], [4], [6]] },
  { name: 'parameters longer than x ([5] over [3])', x: [3], params: C([5]) },
  { name: 'no offset', x: [3, 8], params: C([8], false, true) },
  { name: 'no scale', x: [3, 8], params: C([8], true, false) },
  { name: 'no offset, no scale', x: [3, 8], params: C([8], false, false) },
  { name: 'the default varianceEpsilon (none given: 0.001)', x: [6, 4], params: C([4]), eps: undefined },
  { name: 'varianceEpsilon 0', x: [6, 4], params: C([4]), eps: 0 },
  { name: 'zero-size x [0, 4]', x: [0, 4], params: C([4]) },
];

function makeInputs(seed: number, c: ForwardCase) {
  const rng = makeRng(seed);
  const [m, v, o, s] = c.params;
  return {
    x: seededTensor(rng, c.x),
    mean: seededTensor(rng, m, { scale: 0.5 }),
    variance: seededTensor(rng, v, { positive: true }),
    offset: o ? seededTensor(rng, o) : undefined,
    scale: s ? seededTensor(rng, s) : undefined,
  };
}

function batchNormOf(i: ReturnType<typeof makeInputs>, eps: number | undefined) {
  return () => tf.batchNorm(i.x, i.mean, i.variance, i.offset, i.scale, eps);
}

describe('FusedBatchNorm forward: what TF.js computes, on every input shape its kernel accepts', () => {
  FORWARD_CASES.forEach((c, k) => {
    it(c.name, () => {
      const inputs = makeInputs(100 + k, c);
      const eps = 'eps' in c ? c.eps : 1e-3;
      const { tfjs, fastnorm: ours } = onBoth(batchNormOf(inputs, eps));
      expectClose(ours[0], tfjs[0], 1e-6, c.name);
      expect(getCounters().fusedBatchNorm).toEqual({ fastnorm: 1, fallback: 0, reasons: {} });
    });
  });

  it('the output has x\'s shape and dtype for x of rank 0 to 4, and leaves the inputs unchanged', () => {
    const rng = makeRng(7);
    const restore = registerKernels(tf);
    try {
      for (const shape of [[], [3], [2, 3], [2, 2, 3], [2, 2, 2, 3]]) {
        const x = seededTensor(rng, shape);
        const before = valuesOf(x);
        const y = tf.batchNorm(x, tf.tensor1d([0.5]), tf.tensor1d([2]), tf.tensor1d([1]), tf.tensor1d([3]));
        expect(y.shape).toEqual(shape);
        expect(y.dtype).toBe('float32');
        expect(valuesOf(x)).toEqual(before);
      }
    } finally {
      restore();
    }
  });

  it('ill-conditioned data: a large mean offset, |x| ~ 1e30, tiny variance', () => {
    const rng = makeRng(8);
    const cases = [
      { x: seededTensor(rng, [64, 16], { offset: 1e4, scale: 1e-2 }), mean: tf.fill([16], 1e4), variance: tf.fill([16], 1e-4) },
      { x: seededTensor(rng, [64, 16], { scale: 1e30 }), mean: tf.zeros([16]), variance: tf.fill([16], 1e30) },
      { x: seededTensor(rng, [64, 16], { scale: 1e-20 }), mean: tf.zeros([16]), variance: tf.fill([16], 1e-38) },
    ];
    for (const [k, c] of cases.entries()) {
      const { tfjs, fastnorm: ours } = onBoth(() => tf.batchNorm(c.x, c.mean, c.variance, tf.fill([16], 0.25), tf.fill([16], 1.5), 0));
      expectClose(ours[0], tfjs[0], 1e-6, `case ${k}`);
    }
    expect(getCounters().fusedBatchNorm.fallback).toBe(0);
  });

  it('NaN and ±Inf propagate as in TF.js, including variance + ε = 0 and a negative variance', () => {
    const x = tf.tensor2d([NaN, Infinity, -Infinity, 1, 2, 2, 3, 5], [2, 4]);
    const mean = tf.tensor1d([0, 0, 0, 2]);
    const variance = tf.tensor1d([1, 1, 0, -1]);
    const { tfjs, fastnorm: ours } = onBoth(() => tf.batchNorm(x, mean, variance, tf.tensor1d([0, 1, 2, 3]), tf.tensor1d([1, 2, 0, 1]), 0));
    expectBitwiseEqual(ours[0], tfjs[0]);
    expect(Array.from(tfjs[0]).some(Number.isNaN)).toBe(true);
  });

  it('int32 parameters holding exact float32 values are computed by fastnorm', () => {
    const x = seededTensor(makeRng(9), [4, 3]);
    const { tfjs, fastnorm: ours } = onBoth(() =>
      tf.batchNorm(x, tf.tensor1d([1, -2, 3], 'int32'), tf.tensor1d([2, 3, 4], 'int32'), tf.tensor1d([1, 1, 1], 'int32'), tf.tensor1d([2, 2, 2], 'int32')));
    expectClose(ours[0], tfjs[0], 1e-6);
    expect(getCounters().fusedBatchNorm.fastnorm).toBe(1);
  });
});

describe('determinism', () => {
  const { configs, configure } = isaThreadConfigs();

  it('forward and gradient results are bitwise identical for every ISA path and thread count', () => {
    const inputs = makeInputs(11, { name: '', x: [8, 7, 9, 24], params: C([24]) });
    const dy = seededTensor(makeRng(12), [8, 7, 9, 24]);
    const restore = registerKernels(tf);
    try {
      let first: Float32Array[] | null = null;
      for (const { isa, threads } of configs) {
        configure(isa, threads);
        const results = tf.tidy(() => [
          valuesOf(batchNormOf(inputs, 1e-3)()),
          ...tf.grads((x: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) => tf.batchNorm(x, m, v, o, s))(
            [inputs.x, inputs.mean, inputs.variance, inputs.offset!, inputs.scale!], dy).map(valuesOf),
        ]);
        if (!first) first = results;
        else results.forEach((r, k) => expect(bitwiseEqual(r, first![k]), `${isa} × ${threads} threads, output ${k}`).toBe(true));
      }
    } finally {
      restore();
    }
  });
});

describe("what fastnorm does not compute goes to TF.js's kernel, counted", () => {
  function expectFallback(f: () => tf.Tensor, reason: string) {
    const { tfjs, fastnorm: ours } = onBoth(f);
    expectBitwiseEqual(ours[0], tfjs[0], 'the fallback is TF.js\'s kernel');
    const c = getCounters().fusedBatchNorm;
    expect(c.fastnorm).toBe(0);
    expect(c.fallback).toBe(1);
    expect(c.reasons).toEqual({ [reason]: 1 });
  }

  it("an int32 x ('dtype')", () => {
    expectFallback(() => tf.batchNorm(tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), [0, 1], [1, 2]), 'dtype');
  });

  it("an int32 mean beyond float32's exact integers ('dtype')", () => {
    expectFallback(() => tf.batchNorm(tf.tensor1d([16777217, 1]), tf.tensor1d([16777217, 0], 'int32'), [1, 1]), 'dtype');
  });

  it("parameters whose period would need a large expansion ('period')", () => {
    const rng = makeRng(12);
    const x = seededTensor(rng, [140_000]);
    const mean = seededTensor(rng, [65537]);
    const variance = seededTensor(rng, [65539], { positive: true });
    expectFallback(() => tf.batchNorm(x, mean, variance), 'period');
  });

  it("a zero-length parameter over a non-empty x ('empty-parameter')", () => {
    expectFallback(() => tf.batchNorm(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor1d([]), tf.tensor1d([])), 'empty-parameter');
  });

  it("a coefficient scale/√(variance + ε) beyond float32's range ('range')", () => {
    expectFallback(() => tf.batchNorm(tf.tensor1d([1e-20, 2e-20]), [0, 0], [0, 0], undefined, [1e30, 1e30], 1e-30), 'range');
  });

  it("inputs TF.js's kernel rejects get its own error ('invalid')", () => {
    const inputs = { x: tf.ones([1, 1, 2, 2]), mean: tf.ones([2]), variance: tf.ones([2, 1]) };
    expect(() => tf.engine().runKernel('FusedBatchNorm', inputs, { varianceEpsilon: 1e-3 })).toThrow(/equal ranks/);
    const restore = registerKernels(tf);
    try {
      expect(() => tf.engine().runKernel('FusedBatchNorm', inputs, { varianceEpsilon: 1e-3 })).toThrow(/equal ranks/);
    } finally {
      restore();
    }
    expect(getCounters().fusedBatchNorm.reasons).toEqual({ invalid: 1 });
  });

  it("a backend without typed-array storage ('backend') gets the original kernel", () => {
    const calls: unknown[] = [];
    const original = { kernelName: 'FusedBatchNorm', backendName: 'stub', kernelFunc: (args: unknown) => (calls.push(args), 'original') };
    const kernel = fusedBatchNormKernel(original as never);
    const info = (shape: number[]) => ({ dataId: {}, shape, dtype: 'float32' });
    const result = kernel({ inputs: { x: info([1, 1, 1, 2]), mean: info([2]), variance: info([2]) }, backend: {}, attrs: {} } as never);
    expect(result).toBe('original');
    expect(calls).toHaveLength(1);
    expect(getCounters().fusedBatchNorm.reasons).toEqual({ backend: 1 });
  });
});

describe("TF.js's tensor bookkeeping", () => {
  it('forward and gradient calls leak no tensor and no backend data buffer', () => {
    const rng = makeRng(13);
    const x = seededTensor(rng, [4, 6]);
    const p = [seededTensor(rng, [6]), seededTensor(rng, [6], { positive: true }), seededTensor(rng, [6]), seededTensor(rng, [6])];
    const restore = registerKernels(tf);
    try {
      const step = () => {
        tf.dispose(tf.batchNorm(x, p[0], p[1], p[2], p[3]));
        tf.dispose(tf.grads((a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) => tf.batchNorm(a, m, v, o, s))([x, ...p]));
      };
      step();
      const before = tf.memory();
      for (let i = 0; i < 5; i++) step();
      const after = tf.memory();
      expect(after.numTensors).toBe(before.numTensors);
      expect(after.numDataBuffers).toBe(before.numDataBuffers);
      expect(after.numBytes).toBe(before.numBytes);
    } finally {
      restore();
    }
  });
});

describe('registerKernels', () => {
  it('replaces the cpu kernel and gradient, and the returned function puts the originals back', () => {
    const kernel = tf.getKernel('FusedBatchNorm', 'cpu');
    const gradient = tf.getGradient('FusedBatchNorm');
    const restore = registerKernels(tf);
    expect(tf.getKernel('FusedBatchNorm', 'cpu')).not.toBe(kernel);
    expect(tf.getGradient('FusedBatchNorm')).not.toBe(gradient);
    restore();
    expect(tf.getKernel('FusedBatchNorm', 'cpu')).toBe(kernel);
    expect(tf.getGradient('FusedBatchNorm')).toBe(gradient);
    restore(); // a second call does nothing
    expect(tf.getKernel('FusedBatchNorm', 'cpu')).toBe(kernel);
  });

  it('nests: the originals come back when every registration is undone', () => {
    const kernel = tf.getKernel('FusedBatchNorm', 'cpu');
    const outer = registerKernels(tf);
    const ours = tf.getKernel('FusedBatchNorm', 'cpu');
    const inner = registerKernels(tf);
    expect(tf.getKernel('FusedBatchNorm', 'cpu')).toBe(ours);
    outer();
    expect(tf.getKernel('FusedBatchNorm', 'cpu')).toBe(ours);
    inner();
    expect(tf.getKernel('FusedBatchNorm', 'cpu')).toBe(kernel);
  });

  it('{ gradient: false } leaves TF.js\'s gradient in place', () => {
    const gradient = tf.getGradient('FusedBatchNorm');
    const restore = registerKernels(tf, { gradient: false });
    expect(tf.getGradient('FusedBatchNorm')).toBe(gradient);
    restore();
  });

  it('rejects bad arguments, naming them, and changes nothing', () => {
    const kernel = tf.getKernel('FusedBatchNorm', 'cpu');
    const gradient = tf.getGradient('FusedBatchNorm');
    expect(() => registerKernels({} as never)).toThrow(TypeError);
    expect(() => registerKernels({} as never)).toThrow(/^tf must be the TensorFlow.js module/);
    expect(() => registerKernels(tf, { backnd: 'cpu' } as never)).toThrow(/^opts.backnd is not a known option/);
    expect(() => registerKernels(tf, { backend: '' })).toThrow(/^opts.backend/);
    expect(() => registerKernels(tf, { gradient: 'yes' } as never)).toThrow(/^opts.gradient must be a boolean/);
    expect(() => registerKernels(tf, 'cpu' as never)).toThrow(/^opts must be an object/);
    expect(() => registerKernels(tf, { backend: 'webgl-not-loaded' })).toThrow(/backend 'webgl-not-loaded' has no FusedBatchNorm kernel/);
    expect(tf.getKernel('FusedBatchNorm', 'cpu')).toBe(kernel);
    expect(tf.getGradient('FusedBatchNorm')).toBe(gradient);
  });

  it('registers for another typed-array backend by name (a cpu backend registered as fastnorm-test-cpu)', async () => {
    tf.registerBackend('fastnorm-test-cpu', () => new MathBackendCPU());
    tf.copyRegisteredKernels('cpu', 'fastnorm-test-cpu');
    const restore = registerKernels(tf, { backend: 'fastnorm-test-cpu' });
    try {
      await tf.setBackend('fastnorm-test-cpu');
      const x = seededTensor(makeRng(14), [3, 5]);
      const y = valuesOf(tf.batchNorm(x, tf.zeros([5]), tf.ones([5])));
      expect(getCounters().fusedBatchNorm.fastnorm).toBe(1);
      expectClose(y, valuesOf(x).map((v) => v / Math.sqrt(1 + 1e-3)), 1e-6);
    } finally {
      restore();
      await tf.setBackend('cpu');
      tf.removeBackend('fastnorm-test-cpu');
    }
  });

  it('computes with fastnorm/reference after setImplementation(fastnorm.reference)', () => {
    const inputs = makeInputs(15, { name: '', x: [4, 9], params: C([9]) });
    const { tfjs } = onBoth(batchNormOf(inputs, 1e-3));
    const previous = setImplementation(fastnorm.reference);
    try {
      const { fastnorm: ours } = onBoth(batchNormOf(inputs, 1e-3));
      expectClose(ours[0], tfjs[0], 1e-6);
    } finally {
      setImplementation(previous);
    }
    expect(() => setImplementation({} as never)).toThrow(/^implementation must be fastnorm or fastnorm\/reference/);
  });
});
