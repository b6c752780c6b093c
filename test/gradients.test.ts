// The reference backward (the oracle of every other test) against central finite differences of
// its own forward, in float64: loss = Σ y·g for a fixed random g (so dL/dy = g is the dy passed
// to the backward). Central differences with h = 1e-5 have truncation error O(h²) ≈ 1e-10 and
// rounding error ≈ 1e-16·|loss|/h ≈ 1e-10 here, so a tolerance of 1e-6 (relative, see
// expectClose) leaves a wide margin while any wrong term in a formula is an O(1) error.
import { describe, expect, it } from 'vitest';
import * as reference from '../src/reference';
import type { Tensor } from '../src/api/types';
import { dot, expectClose, makeRng, numericGradient, product, randn } from './helpers';

const TOL = 1e-6;

interface Case {
  name: string;
  shape: number[];
  normalizedShape: number | number[];
  weight: boolean;
  bias: boolean;
  eps?: number;
  /** explicit grads option */
  grads?: { weight?: boolean; bias?: boolean };
}

function setup(c: Case, seed: number) {
  const rng = makeRng(seed);
  const cols = product(typeof c.normalizedShape === 'number' ? [c.normalizedShape] : c.normalizedShape);
  const x = randn(rng, 'float64', product(c.shape)) as Float64Array;
  const g = randn(rng, 'float64', x.length) as Float64Array;
  const weight = c.weight ? (randn(rng, 'float64', cols, 0.5, 1) as Float64Array) : undefined;
  const bias = c.bias ? (randn(rng, 'float64', cols) as Float64Array) : undefined;
  const xt: Tensor<Float64Array> = { data: x, shape: c.shape };
  const dy: Tensor<Float64Array> = { data: g, shape: c.shape };
  return { cols, x, g, weight, bias, xt, dy };
}

const LAYER_NORM_CASES: Case[] = [
  { name: '[3, 7] with weight and bias', shape: [3, 7], normalizedShape: 7, weight: true, bias: true },
  { name: '[3, 7] without weight or bias', shape: [3, 7], normalizedShape: [7], weight: false, bias: false },
  { name: '[4, 5] weight only', shape: [4, 5], normalizedShape: [5], weight: true, bias: false },
  { name: '[4, 5] bias only, grads.bias', shape: [4, 5], normalizedShape: [5], weight: false, bias: true, grads: { bias: true } },
  { name: '[2, 3, 4] over normalizedShape [3, 4], weight and bias', shape: [2, 3, 4], normalizedShape: [3, 4], weight: true, bias: true },
  { name: '[2, 2, 2, 3] over normalizedShape [2, 2, 3], weight and bias', shape: [2, 2, 2, 3], normalizedShape: [2, 2, 3], weight: true, bias: true },
  { name: '[3, 6] with a large eps = 0.5', shape: [3, 6], normalizedShape: 6, weight: true, bias: true, eps: 0.5 },
  { name: '[3, 1] single-column rows (zero variance, dx = 0)', shape: [3, 1], normalizedShape: 1, weight: true, bias: true },
];

describe('layerNormBackward (reference, float64) vs central finite differences', () => {
  it.each(LAYER_NORM_CASES.map((c, i) => [c.name, c, i] as const))('%s: dx, dweight, dbias', (_name, c, i) => {
    const { cols, x, g, weight, bias, xt, dy } = setup(c, 1000 + i);
    // a parameter that is absent is 1 (weight) / 0 (bias); its gradient is still defined
    const w = weight ?? new Float64Array(cols).fill(1);
    const b = bias ?? new Float64Array(cols);
    const loss = () => dot(reference.layerNorm(xt, c.normalizedShape, {
      weight: weight ? w : undefined, bias: bias ? b : undefined, eps: c.eps,
    }).y.data, g);

    const fwd = reference.layerNorm(xt, c.normalizedShape, { weight, bias, eps: c.eps });
    const grads = c.grads ?? (c.weight ? undefined : { weight: true, bias: true });
    const bwd = reference.layerNormBackward(dy, xt, { mean: fwd.mean, rstd: fwd.rstd }, c.normalizedShape, { weight, grads });

    expectClose(bwd.dx.data, numericGradient(loss, x), TOL, 'dx');
    const wantWeight = grads?.weight ?? c.weight;
    const wantBias = grads?.bias ?? c.weight;
    expect(bwd.dweight !== undefined).toBe(wantWeight);
    expect(bwd.dbias !== undefined).toBe(wantBias);
    // dweight without weight: the gradient at weight = 1 (the loss then passes w = ones explicitly)
    const lossW = () => dot(reference.layerNorm(xt, c.normalizedShape, { weight: w, bias: bias ? b : undefined, eps: c.eps }).y.data, g);
    const lossB = () => dot(reference.layerNorm(xt, c.normalizedShape, { weight: weight ? w : undefined, bias: b, eps: c.eps }).y.data, g);
    if (wantWeight) expectClose(bwd.dweight!, numericGradient(lossW, w), TOL, 'dweight');
    if (wantBias) expectClose(bwd.dbias!, numericGradient(lossB, b), TOL, 'dbias');
  });

  it('the finite-difference check itself detects a wrong gradient (dx of a wrong eps)', () => {
    const c = LAYER_NORM_CASES[6];
    const { x, g, weight, bias, xt, dy } = setup(c, 1006);
    const loss = () => dot(reference.layerNorm(xt, c.normalizedShape, { weight, bias, eps: c.eps }).y.data, g);
    const { mean, rstd } = reference.layerNorm(xt, c.normalizedShape, { weight, bias }); // default eps, not 0.5
    const wrong = reference.layerNormBackward(dy, xt, { mean, rstd }, c.normalizedShape, { weight });
    expect(() => expectClose(wrong.dx.data, numericGradient(loss, x), TOL, 'dx')).toThrow(/scaled error/);
  });
});

const RMS_NORM_CASES: Case[] = [
  { name: '[3, 7] with weight', shape: [3, 7], normalizedShape: 7, weight: true, bias: false },
  { name: '[3, 7] without weight', shape: [3, 7], normalizedShape: [7], weight: false, bias: false },
  { name: '[3, 7] without weight, grads.weight', shape: [3, 7], normalizedShape: [7], weight: false, bias: false, grads: { weight: true } },
  { name: '[2, 3, 4] over normalizedShape [3, 4], weight', shape: [2, 3, 4], normalizedShape: [3, 4], weight: true, bias: false },
  { name: '[3, 6] with a large eps = 0.5', shape: [3, 6], normalizedShape: 6, weight: true, bias: false, eps: 0.5 },
  { name: '[4, 1] single-column rows', shape: [4, 1], normalizedShape: 1, weight: true, bias: false },
];

describe('rmsNormBackward (reference, float64) vs central finite differences', () => {
  it.each(RMS_NORM_CASES.map((c, i) => [c.name, c, i] as const))('%s: dx, dweight', (_name, c, i) => {
    const { cols, x, g, weight, xt, dy } = setup(c, 2000 + i);
    const w = weight ?? new Float64Array(cols).fill(1);
    const loss = () => dot(reference.rmsNorm(xt, c.normalizedShape, { weight: weight ? w : undefined, eps: c.eps }).y.data, g);
    const lossW = () => dot(reference.rmsNorm(xt, c.normalizedShape, { weight: w, eps: c.eps }).y.data, g);

    const fwd = reference.rmsNorm(xt, c.normalizedShape, { weight, eps: c.eps });
    const bwd = reference.rmsNormBackward(dy, xt, { rstd: fwd.rstd }, c.normalizedShape, { weight, grads: c.grads });
    expectClose(bwd.dx.data, numericGradient(loss, x), TOL, 'dx');
    const wantWeight = c.grads?.weight ?? c.weight;
    expect(bwd.dweight !== undefined).toBe(wantWeight);
    expect('dbias' in bwd).toBe(false);
    if (wantWeight) expectClose(bwd.dweight!, numericGradient(lossW, w), TOL, 'dweight');
  });
});

// GroupNorm / InstanceNorm: shapes are (N, C, *spatial) in the given layout.
interface ChannelCase {
  name: string;
  shape: number[];
  layout: 'NCHW' | 'NHWC';
  /** GroupNorm's numGroups; absent: InstanceNorm */
  groups?: number;
  weight: boolean;
  bias: boolean;
  eps?: number;
  grads?: { weight?: boolean; bias?: boolean };
  /** InstanceNorm normalizing with (constant) running statistics */
  runningStats?: boolean;
}

const CHANNEL_CASES: ChannelCase[] = [
  { name: 'groupNorm NCHW [2, 4, 3] G=2, weight and bias', shape: [2, 4, 3], layout: 'NCHW', groups: 2, weight: true, bias: true },
  { name: 'groupNorm NHWC [2, 3, 4] G=2, weight and bias', shape: [2, 3, 4], layout: 'NHWC', groups: 2, weight: true, bias: true },
  { name: 'groupNorm NCHW [2, 3, 5] G=1, no affine (grads requested)', shape: [2, 3, 5], layout: 'NCHW', groups: 1, weight: false, bias: false,
    grads: { weight: true, bias: true } },
  { name: 'groupNorm NCHW [2, 3, 5] G=C, weight only', shape: [2, 3, 5], layout: 'NCHW', groups: 3, weight: true, bias: false },
  { name: 'groupNorm NHWC [2, 5, 3] G=3, bias only, grads.bias', shape: [2, 5, 3], layout: 'NHWC', groups: 3, weight: false, bias: true,
    grads: { bias: true } },
  { name: 'groupNorm NCHW [3, 4] (no spatial dims) G=2, eps = 0.5', shape: [3, 4], layout: 'NCHW', groups: 2, weight: true, bias: true, eps: 0.5 },
  { name: 'groupNorm NHWC [1, 2, 2, 3, 4] (3 spatial dims) G=4', shape: [1, 2, 2, 3, 4], layout: 'NHWC', groups: 4, weight: true, bias: true },
  { name: 'instanceNorm NCHW [2, 3, 5], weight and bias', shape: [2, 3, 5], layout: 'NCHW', weight: true, bias: true },
  { name: 'instanceNorm NHWC [2, 2, 3, 3], weight and bias', shape: [2, 2, 3, 3], layout: 'NHWC', weight: true, bias: true },
  { name: 'instanceNorm NCHW [2, 3, 4] with running statistics (useInputStats: false)', shape: [2, 3, 4], layout: 'NCHW', weight: true,
    bias: true, runningStats: true },
];

describe('groupNormBackward / instanceNormBackward (reference, float64) vs central finite differences', () => {
  it.each(CHANNEL_CASES.map((c, i) => [c.name, c, i] as const))('%s: dx, dweight, dbias', (_name, c, i) => {
    const rng = makeRng(3000 + i);
    const channels = c.layout === 'NHWC' ? c.shape[c.shape.length - 1] : c.shape[1];
    const x = randn(rng, 'float64', product(c.shape)) as Float64Array;
    const g = randn(rng, 'float64', x.length) as Float64Array;
    const w = c.weight ? (randn(rng, 'float64', channels, 0.5, 1) as Float64Array) : new Float64Array(channels).fill(1);
    const b = c.bias ? (randn(rng, 'float64', channels) as Float64Array) : new Float64Array(channels);
    const runningMean = randn(rng, 'float64', channels, 0.3) as Float64Array;
    const runningVar = (randn(rng, 'float64', channels, 0.2, 1) as Float64Array).map(Math.abs);
    const xt: Tensor<Float64Array> = { data: x, shape: c.shape };
    const dy: Tensor<Float64Array> = { data: g, shape: c.shape };
    const running = c.runningStats ? { runningMean, runningVar, useInputStats: false } : {};
    // the forward with the given parameters (absent ones are 1 / 0, their gradients still defined)
    const forward = (weight: Float64Array | undefined, bias: Float64Array | undefined) => {
      const opts = { weight, bias, eps: c.eps, layout: c.layout, ...running };
      return c.groups === undefined ? reference.instanceNorm(xt, opts) : reference.groupNorm(xt, c.groups, opts);
    };
    const wOpt = c.weight ? w : undefined;
    const bOpt = c.bias ? b : undefined;
    const loss = () => dot(forward(wOpt, bOpt).y.data, g);
    const fwd = forward(wOpt, bOpt);
    const bopts = { weight: wOpt, grads: c.grads, layout: c.layout, ...(c.runningStats ? { useInputStats: false } : {}) };
    const bwd = c.groups === undefined
      ? reference.instanceNormBackward(dy, xt, fwd, bopts)
      : reference.groupNormBackward(dy, xt, fwd, c.groups, bopts);

    expectClose(bwd.dx.data, numericGradient(loss, x), TOL, 'dx');
    const wantWeight = c.grads?.weight ?? c.weight;
    const wantBias = c.grads?.bias ?? c.weight;
    expect(bwd.dweight !== undefined).toBe(wantWeight);
    expect(bwd.dbias !== undefined).toBe(wantBias);
    if (wantWeight) expectClose(bwd.dweight!, numericGradient(() => dot(forward(w, bOpt).y.data, g), w), TOL, 'dweight');
    if (wantBias) expectClose(bwd.dbias!, numericGradient(() => dot(forward(wOpt, b).y.data, g), b), TOL, 'dbias');
  });
});
