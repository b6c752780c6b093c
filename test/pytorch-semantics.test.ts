// PyTorch semantics at the edges: degenerate shapes of every op, as PyTorch 1.13 answers them
// (each expectation below was read off torch.nn.functional 1.13 in float64; the deliberate
// differences are listed in docs/API.md, "Where fastnorm differs from PyTorch"), on both
// backends; and the float32 forward accuracy of both backends on every fixture case.
import { beforeAll, describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import * as reference from '../src/reference';
import type { FloatArray, Tensor } from '../src/api/types';
import { loadFixtureCases, type FixtureCase, type FixtureReader } from './helpers';

const BACKENDS = [
  ['native', fastnorm],
  ['reference', reference],
] as const;

/** A float64 tensor of `shape` with distinct values (sin of the index). */
function t(shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: Float64Array.from({ length: n }, (_, i) => Math.sin(i + 1)), shape };
}
const ones = (n: number) => new Float64Array(n).fill(1);
const saved = (n: number) => ({ mean: new Float64Array(n), rstd: ones(n) });

const INSTANCE_ERROR = /^x: instanceNorm with input statistics needs more than 1 spatial element.*Expected more than 1 spatial element when training/;
const GROUP_ERROR = /^x: groupNorm needs more than 1 value .*Expected more than 1 value per channel when training/;

describe.each(BACKENDS)('instanceNorm with one spatial element (%s backend)', (_name, api) => {
  // PyTorch: ValueError "Expected more than 1 spatial element when training", whatever N and C
  it.each([[[2, 3, 1]], [[2, 3]], [[2, 3, 1, 1]], [[1, 3, 1]], [[0, 3, 1]], [[2, 0, 1]]])('%j with input statistics: RangeError, with or without running statistics', (shape) => {
    const c = shape[1];
    expect(() => api.instanceNorm(t(shape))).toThrow(RangeError);
    expect(() => api.instanceNorm(t(shape))).toThrow(INSTANCE_ERROR);
    expect(() => api.instanceNorm(t(shape), { runningMean: new Float64Array(c), runningVar: ones(c) })).toThrow(INSTANCE_ERROR);
    expect(() => api.instanceNormBackward(t(shape), t(shape), saved(shape[0] * c))).toThrow(INSTANCE_ERROR);
  });

  it('NHWC [2, 1, 3] (one spatial position, channels last): the same RangeError', () => {
    expect(() => api.instanceNorm(t([2, 1, 3]), { layout: 'NHWC' })).toThrow(INSTANCE_ERROR);
  });

  it('[2, 3, 1] with running statistics (useInputStats: false): allowed, y = (x − runningMean)·rsqrt(runningVar + eps)', () => {
    const x = t([2, 3, 1]);
    const runningMean = Float64Array.from([0.5, -1, 2]);
    const runningVar = Float64Array.from([1, 4, 0.25]);
    const { y } = api.instanceNorm(x, { runningMean, runningVar, useInputStats: false, eps: 0 });
    const want = Array.from(x.data, (v, i) => (v - runningMean[i % 3]) / Math.sqrt(runningVar[i % 3]));
    Array.from(y.data).forEach((v, i) => expect(v).toBeCloseTo(want[i], 14));
    const g = api.instanceNormBackward(t([2, 3, 1]), x, saved(6), { useInputStats: false });
    expect(g.dx.data.length).toBe(6);
  });

  it('[2, 3, 0] (no spatial positions) with running statistics: an empty y, the running statistics unchanged (as PyTorch)', () => {
    const runningMean = Float64Array.from([0.5, -1, 2]);
    const runningVar = Float64Array.from([1, 4, 0.25]);
    const { y } = api.instanceNorm(t([2, 3, 0]), { runningMean, runningVar });
    expect(y.data.length).toBe(0);
    expect(Array.from(runningMean)).toEqual([0.5, -1, 2]);
    expect(Array.from(runningVar)).toEqual([1, 4, 0.25]);
  });
});

describe.each(BACKENDS)('groupNorm with N × C/G × spatial = 1 (%s backend)', (_name, api) => {
  // PyTorch: ValueError "Expected more than 1 value per channel when training" exactly when
  // N · C/G · prod(spatial) = 1 (its batch-size check on the (N·C/G, G, *spatial) view)
  it.each([[[1, 4, 1], 4], [[1, 4], 4], [[1, 1], 1], [[1, 1, 1], 1], [[1, 2, 1, 1], 2]])('%j, G = %i: RangeError, forward and backward', (shape, g) => {
    expect(() => api.groupNorm(t(shape), g)).toThrow(RangeError);
    expect(() => api.groupNorm(t(shape), g)).toThrow(GROUP_ERROR);
    expect(() => api.groupNormBackward(t(shape), t(shape), saved(shape[0] * g), g)).toThrow(GROUP_ERROR);
  });

  it('[2, 4, 1], G = 4 (one value per group, N = 2): allowed as in PyTorch, y = bias and dx = 0', () => {
    const bias = Float64Array.from([1, 2, 3, 4]);
    const x = t([2, 4, 1]);
    const { y, mean, rstd } = api.groupNorm(x, 4, { weight: ones(4), bias });
    expect(Array.from(y.data)).toEqual([1, 2, 3, 4, 1, 2, 3, 4]);
    const g = api.groupNormBackward(t([2, 4, 1]), x, { mean, rstd }, 4, { weight: ones(4) });
    expect(Array.from(g.dx.data)).toEqual(new Array(8).fill(0));
  });

  it('[1, 4, 1], G = 2 and [1, 4], G = 2 (two values per group): allowed', () => {
    expect(api.groupNorm(t([1, 4, 1]), 2).y.data.length).toBe(4);
    expect(api.groupNorm(t([1, 4]), 2).y.data.length).toBe(4);
  });

  it('zero-size tensors ([2, 4, 0], [0, 4, 5], [2, 0, 5]): empty results, as PyTorch', () => {
    expect(api.groupNorm(t([2, 4, 0]), 2).y.data.length).toBe(0);
    expect(api.groupNorm(t([0, 4, 5]), 2).y.data.length).toBe(0);
    expect(api.groupNorm(t([2, 0, 5]), 1).y.data.length).toBe(0);
  });
});

describe.each(BACKENDS)('batchNorm, layerNorm and rmsNorm degenerate shapes (%s backend)', (_name, api) => {
  it('batchNorm training with one value per channel ([1, 3], [1, 3, 1, 1]): RangeError, as PyTorch', () => {
    for (const shape of [[1, 3], [1, 3, 1, 1]]) expect(() => api.batchNorm(t(shape))).toThrow(/^x: batchNorm training needs more than 1 value per channel/);
  });

  it('batchNorm training of an empty batch ([0, 3], [2, 3, 0]): RangeError (deliberate: PyTorch returns an empty y)', () => {
    for (const shape of [[0, 3], [2, 3, 0]]) expect(() => api.batchNorm(t(shape))).toThrow(/^x: batchNorm training needs more than 1 value per channel/);
  });

  it('batchNorm eval with one value per channel, and empty tensors in eval: allowed, as PyTorch', () => {
    const stats = { runningMean: new Float64Array(3), runningVar: ones(3), training: false };
    expect(api.batchNorm(t([1, 3]), stats).y.data.length).toBe(3);
    expect(api.batchNorm(t([0, 3]), stats).y.data.length).toBe(0);
    expect(api.batchNorm(t([2, 0]), {}).y.data.length).toBe(0);
  });

  it('layerNorm/rmsNorm with normalizedShape []: RangeError (PyTorch: "Expected normalized_shape to be at least 1-dimensional")', () => {
    expect(() => api.layerNorm(t([3, 5]), [])).toThrow(RangeError);
    expect(() => api.rmsNorm(t([3, 5]), [])).toThrow(RangeError);
  });

  it('layerNorm of one value per row ([3, 1]): y = bias, as PyTorch up to rounding', () => {
    expect(Array.from(api.layerNorm(t([3, 1]), 1, { bias: Float64Array.from([2]) }).y.data)).toEqual([2, 2, 2]);
  });

  it('zero-size layerNorm ([3, 0] over [0], [0, 5]): empty y, as PyTorch', () => {
    expect(api.layerNorm(t([3, 0]), [0]).y.data.length).toBe(0);
    expect(api.layerNorm(t([0, 5]), 5).y.data.length).toBe(0);
  });

  it('a constant group with eps = 0: rstd = 0 and y = bias (deliberate: PyTorch gives NaN in layer_norm/group_norm, 0 in batch_norm)', () => {
    const x = { data: new Float64Array(8).fill(3), shape: [2, 4] };
    const bias = Float64Array.from([1, 2, 3, 4]);
    const r = api.layerNorm(x, 4, { bias, eps: 0 });
    expect(Array.from(r.rstd)).toEqual([0, 0]);
    expect(Array.from(r.y.data)).toEqual([1, 2, 3, 4, 1, 2, 3, 4]);
    expect(Array.from(api.groupNorm({ data: new Float64Array(8).fill(3), shape: [2, 4] }, 2, { eps: 0 }).y.data)).toEqual(new Array(8).fill(0));
  });

  it('a negative eps: RangeError (deliberate: PyTorch accepts it and returns NaN where var + eps < 0)', () => {
    expect(() => api.layerNorm(t([2, 4]), 4, { eps: -1 })).toThrow(/^eps must be a finite number >= 0/);
  });
});

describe('float32 forward accuracy on every fixture case (both backends)', () => {
  let cases: FixtureCase[] = [];
  let scaledError: FixtureReader['scaledError'];
  beforeAll(async () => {
    const loaded = await loadFixtureCases();
    cases = loaded.cases.filter((c) => c.dtype === 'float32');
    scaledError = loaded.scaledError;
  });

  /** y, mean, rstd of the case's forward call. */
  function forward(api: typeof reference, c: FixtureCase): Record<string, FloatArray> {
    const x: Tensor = { data: c.inputs.x, shape: c.shape };
    const opts: Record<string, unknown> = {};
    if (c.inputs.weight) opts.weight = c.inputs.weight;
    if (c.inputs.bias) opts.bias = c.inputs.bias;
    for (const k of ['eps', 'momentum', 'layout', 'training', 'useInputStats']) if (k in c.params) opts[k] = c.params[k];
    if (c.inputs.runningMean) Object.assign(opts, { runningMean: c.inputs.runningMean.slice(), runningVar: c.inputs.runningVar.slice() });
    const ns = c.params.normalizedShape as number | number[];
    const r = c.op === 'layerNorm' ? api.layerNorm(x, ns, opts)
      : c.op === 'rmsNorm' ? api.rmsNorm(x, ns, opts)
      : c.op === 'batchNorm' ? api.batchNorm(x, opts)
      : c.op === 'instanceNorm' ? api.instanceNorm(x, opts)
      : api.groupNorm(x, c.params.numGroups as number, opts);
    return { y: r.y.data, rstd: r.rstd, ...('mean' in r ? { mean: r.mean as FloatArray } : {}) };
  }

  // Forward outputs depend on nothing rounded on the way (the statistics are float64 inside), so
  // both backends stay within a few float32 ulps of the float64 reference even where PyTorch's
  // float32 kernels lose 1e-4 (large mean offset, tiny variance): far inside the fixture tol.
  it.each(BACKENDS)('%s: y, mean, rstd within 1e-6 (scaled) of the PyTorch float64 reference, ill-conditioned cases included', (_name, api) => {
    expect(cases.length).toBeGreaterThan(10);
    for (const c of cases) {
      for (const [key, actual] of Object.entries(forward(api as typeof reference, c))) {
        const err = scaledError(actual, c.expected[key], c.floor[key]);
        expect(err, `${c.id}: ${key}`).toBeLessThanOrEqual(1e-6);
      }
    }
  });
});
