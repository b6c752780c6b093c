// The reference BatchNorm backward (the oracle of the other BatchNorm tests) against central
// finite differences of its own forward, in float64: loss = Σ y·g for a fixed random g (so
// dL/dy = g is the dy passed to the backward). Training mode differentiates through the batch
// statistics; eval mode through fixed running statistics (dx = dy·w·rstd_running). h = 1e-5
// gives truncation and rounding errors ≈ 1e-10, so the 1e-6 tolerance (relative, see
// expectClose) is a wide margin while a wrong term in a formula is an O(1) error. The
// synchronized path (stats → gather → elemt, reduce → backwardElemt) is checked the same way.
import { describe, expect, it } from 'vitest';
import * as reference from '../src/reference';
import type { GradsOption, Layout, Tensor } from '../src/api/types';
import { dot, expectClose, makeRng, numericGradient, product, randn } from './helpers';
import { batchSlice, bnShape } from './batch-norm-helpers';

const TOL = 1e-6;

interface Case {
  name: string;
  layout: Layout;
  n: number;
  c: number;
  spatial: number[];
  weight: boolean;
  bias: boolean;
  eps?: number;
  grads?: GradsOption;
  /** expectClose floor for dx: 1 where dx cancels to ~eps-sized values (errors then count against the O(1) terms) */
  dxFloor?: number;
}

const CASES: Case[] = [
  { name: 'NCHW [3, 4] (no spatial dims), weight and bias', layout: 'NCHW', n: 3, c: 4, spatial: [], weight: true, bias: true },
  { name: 'NCHW [2, 3, 4] (BatchNorm1d), weight only', layout: 'NCHW', n: 2, c: 3, spatial: [4], weight: true, bias: false },
  { name: 'NCHW [2, 2, 2, 3] (BatchNorm2d), no weight or bias, grads of both', layout: 'NCHW', n: 2, c: 2, spatial: [2, 3], weight: false, bias: false,
    grads: { weight: true, bias: true } },
  { name: 'NCHW [2, 2, 1, 2, 2] (BatchNorm3d), weight and bias', layout: 'NCHW', n: 2, c: 2, spatial: [1, 2, 2], weight: true, bias: true },
  { name: 'NHWC [2, 3, 5], weight and bias', layout: 'NHWC', n: 2, c: 5, spatial: [3], weight: true, bias: true },
  { name: 'NHWC [2, 2, 2, 3], bias only, grads.bias', layout: 'NHWC', n: 2, c: 3, spatial: [2, 2], weight: false, bias: true, grads: { bias: true } },
  { name: 'NCHW [2, 3] with 2 values per channel (the minimum: dx ≈ 0)', layout: 'NCHW', n: 2, c: 3, spatial: [], weight: true, bias: true, dxFloor: 1 },
  { name: 'NHWC [3, 2, 4] with a large eps = 0.5', layout: 'NHWC', n: 3, c: 4, spatial: [2], weight: true, bias: true, eps: 0.5 },
];

function setup(c: Case, seed: number) {
  const rng = makeRng(seed);
  const shape = bnShape(c.layout, c.n, c.c, c.spatial);
  const x = randn(rng, 'float64', product(shape), 1.5, 0.3) as Float64Array;
  const g = randn(rng, 'float64', x.length) as Float64Array;
  const w = randn(rng, 'float64', c.c, 0.5, 1) as Float64Array;
  const b = randn(rng, 'float64', c.c) as Float64Array;
  const runningMean = randn(rng, 'float64', c.c, 0.5) as Float64Array;
  const runningVar = Float64Array.from(randn(rng, 'float64', c.c), (v) => 0.5 + Math.abs(v));
  const xt: Tensor<Float64Array> = { data: x, shape };
  const dy: Tensor<Float64Array> = { data: g, shape };
  return { shape, x, g, w, b, runningMean, runningVar, xt, dy };
}

describe.each([true, false])('batchNormBackward (reference, float64, training %s) vs central finite differences', (training) => {
  it.each(CASES.map((c, i) => [c.name, c, i] as const))('%s: dx, dweight, dbias', (_name, c, i) => {
    const { x, g, w, b, runningMean, runningVar, xt, dy } = setup(c, 3000 + i);
    // a parameter that is absent is 1 (weight) / 0 (bias); its gradient is still defined. The
    // running statistics are read in eval mode; in training mode they are not passed (so the
    // perturbed forwards do not update them).
    const run = training ? {} : { runningMean, runningVar };
    const forward = (weight: Float64Array | undefined, bias: Float64Array | undefined) =>
      reference.batchNorm(xt, { weight, bias, eps: c.eps, layout: c.layout, training, ...run });
    const loss = () => dot(forward(c.weight ? w : undefined, c.bias ? b : undefined).y.data, g);
    const fwd = forward(c.weight ? w : undefined, c.bias ? b : undefined);
    const grads = c.grads ?? (c.weight ? undefined : { weight: true, bias: true });
    const bwd = reference.batchNormBackward(dy, xt, { mean: fwd.mean, rstd: fwd.rstd },
      { weight: c.weight ? w : undefined, grads, layout: c.layout, training });

    expectClose(bwd.dx.data, numericGradient(loss, x), TOL, 'dx', c.dxFloor);
    const wantWeight = grads?.weight ?? c.weight;
    const wantBias = grads?.bias ?? c.weight;
    expect(bwd.dweight !== undefined).toBe(wantWeight);
    expect(bwd.dbias !== undefined).toBe(wantBias);
    const lossW = () => dot(forward(w, c.bias ? b : undefined).y.data, g);
    const lossB = () => dot(forward(c.weight ? w : undefined, b).y.data, g);
    if (wantWeight) expectClose(bwd.dweight!, numericGradient(lossW, w), TOL, 'dweight');
    if (wantBias) expectClose(bwd.dbias!, numericGradient(lossB, b), TOL, 'dbias');
  });
});

describe('the finite-difference check itself detects wrong gradients', () => {
  it('the eval-mode dx is not the training-mode dx (and vice versa)', () => {
    const c = CASES[0];
    const { x, g, w, b, runningMean, runningVar, xt, dy } = setup(c, 3100);
    const lossTrain = () => dot(reference.batchNorm(xt, { weight: w, bias: b }).y.data, g);
    const fwd = reference.batchNorm(xt, { weight: w, bias: b });
    const wrong = reference.batchNormBackward(dy, xt, fwd, { weight: w, training: false });
    expect(() => expectClose(wrong.dx.data, numericGradient(lossTrain, x), TOL, 'dx')).toThrow(/scaled error/);
    const lossEval = () => dot(reference.batchNorm(xt, { weight: w, bias: b, runningMean, runningVar, training: false }).y.data, g);
    const efwd = reference.batchNorm(xt, { weight: w, bias: b, runningMean, runningVar, training: false });
    const wrong2 = reference.batchNormBackward(dy, xt, efwd, { weight: w, training: true });
    expect(() => expectClose(wrong2.dx.data, numericGradient(lossEval, x), TOL, 'dx')).toThrow(/scaled error/);
  });
});

describe('synchronized BatchNorm (reference, float64) vs central finite differences', () => {
  it.each([['NCHW', [2, 3]], ['NHWC', [1, 2, 2]]] as const)('%s, shards of 1 and 2 samples: dx, dweight, dbias', (layout, cuts) => {
    const c: Case = { name: '', layout, n: 3, c: 3, spatial: [2, 2], weight: true, bias: true };
    const { x, g, w, b, xt, dy } = setup(c, 3200);
    const bounds = [0, ...cuts.filter((k) => k < 3), 3];
    const shards = bounds.slice(1).map((end, k) => [bounds[k], end] as const).filter(([a, e]) => e > a);
    // the forward of the whole pipeline: stats per shard → gather → elemt per shard
    const pipeline = (weight: Float64Array, bias: Float64Array) => {
      const stats = reference.batchNormGatherStats(shards.map(([a, e]) => reference.batchNormStats(batchSlice(xt, a, e), { layout })), { dtype: 'float64' });
      const ys = shards.map(([a, e]) => reference.batchNormElemt(batchSlice(xt, a, e), stats, { weight, bias, layout }).y.data);
      return { stats, y: Float64Array.from(ys.flatMap((v) => Array.from(v))) };
    };
    const loss = () => dot(pipeline(w, b).y, g);
    const { stats } = pipeline(w, b);
    const saved = { mean: stats.mean as Float64Array, rstd: stats.rstd as Float64Array };
    const sums = { sumDy: new Float64Array(3), sumDyXmu: new Float64Array(3), count: stats.count };
    for (const [a, e] of shards) {
      const p = reference.batchNormBackwardReduce(batchSlice(dy, a, e), batchSlice(xt, a, e), saved, { layout });
      for (let k = 0; k < 3; k++) {
        sums.sumDy[k] += p.sumDy[k];
        sums.sumDyXmu[k] += p.sumDyXmu[k];
      }
    }
    const parts = shards.map(([a, e]) => reference.batchNormBackwardElemt(batchSlice(dy, a, e), batchSlice(xt, a, e), saved, sums, { weight: w, layout }));
    const dx = Float64Array.from(parts.flatMap((p) => Array.from(p.dx.data)));
    expectClose(dx, numericGradient(loss, x), TOL, 'dx');
    expectClose(parts[0].dweight!, numericGradient(loss, w), TOL, 'dweight');
    expectClose(parts[0].dbias!, numericGradient(loss, b), TOL, 'dbias');
  });
});
