// The fused-activation backwards of the channel norms (activation/bias options of
// batchNormBackward, groupNormBackward, instanceNormBackward; layerNormBackward's are in
// activation-backward.test.ts): native against the float64 reference and against the unfused
// sequence (the forward without activation for z, g = dy·act'(z), the plain backward) on the
// kernel paths of each layout; finite differences of the fused forward for dx, dweight and dbias;
// relu's slope 0 at z = ±0; NCHW ISA × threads determinism (the table-driven determinism test
// runs NHWC with gelu and eval with silu). Validation, out buffers, promises and fuzzing come from
// the table-driven tests (cases/batch-norm.ts and cases/group-norm.ts pass the activation and bias).
import { describe, expect, it } from 'vitest';
import type { Activation, FloatArray, Layout, Tensor } from '../src/api/types';
import { nativeAddon } from '../src/backends/default';
import { gateGradient } from '../src/backends/reference/activation';
import * as fastnorm from '../src/index';
import * as reference from '../src/reference';
import {
  CTORS, DTYPES, expectBackwardClose, expectBitwiseEqual, expectClose, isaThreadConfigs, makeRng, numericGradient, randn, type DType,
} from './helpers';

const addon = nativeAddon;
const ACTIVATIONS: Activation[] = ['relu', 'silu', 'gelu', 'gelu-tanh'];
type Api = typeof fastnorm | typeof reference;
type Op = 'batchNorm' | 'batchNormEval' | 'groupNorm' | 'instanceNorm' | 'instanceNormEval';
const OPS: Op[] = ['batchNorm', 'batchNormEval', 'groupNorm', 'instanceNorm', 'instanceNormEval'];

interface Problem {
  op: Op;
  dtype: DType;
  shape: number[];
  layout: Layout;
  groups: number;
  weight: boolean;
  bias: boolean;
  seed: number;
}

const channelsOf = (p: { shape: number[]; layout: Layout }) => (p.layout === 'NHWC' ? p.shape[p.shape.length - 1] : p.shape[1]);
const evalMode = (op: Op) => op.endsWith('Eval');

/** The forward (no activation) whose saved statistics and z the backward uses. */
function forward(api: Api, p: Problem, x: Tensor, weight: FloatArray | undefined, bias: FloatArray | undefined, run: { mean: FloatArray; var: FloatArray },
  activation?: Activation) {
  const common = { weight, bias, layout: p.layout, activation };
  switch (p.op) {
    case 'batchNorm': return api.batchNorm(x, common);
    case 'batchNormEval': return api.batchNorm(x, { ...common, training: false, runningMean: run.mean, runningVar: run.var });
    case 'groupNorm': return api.groupNorm(x, p.groups, common);
    case 'instanceNorm': return api.instanceNorm(x, common);
    case 'instanceNormEval': return api.instanceNorm(x, { ...common, useInputStats: false, runningMean: run.mean, runningVar: run.var });
  }
}

function backward(api: Api, p: Problem, dy: Tensor, x: Tensor, saved: { mean: FloatArray; rstd: FloatArray },
  opts: { weight?: FloatArray; bias?: FloatArray; activation?: Activation; grads?: { weight?: boolean; bias?: boolean } }) {
  const o = { ...opts, layout: p.layout };
  switch (p.op) {
    case 'batchNorm': return api.batchNormBackward(dy, x, saved, o);
    case 'batchNormEval': return api.batchNormBackward(dy, x, saved, { ...o, training: false });
    case 'groupNorm': return api.groupNormBackward(dy, x, saved, p.groups, o);
    case 'instanceNorm': return api.instanceNormBackward(dy, x, saved, o);
    case 'instanceNormEval': return api.instanceNormBackward(dy, x, saved, { ...o, useInputStats: false });
  }
}

function problem(p: Problem) {
  const rng = makeRng(p.seed);
  const n = p.shape.reduce((a, b) => a * b, 1);
  const c = channelsOf(p);
  const x = { data: randn(rng, p.dtype, n, 2, 0.5), shape: p.shape };
  const dy = { data: randn(rng, p.dtype, n), shape: p.shape };
  const weight = p.weight ? randn(rng, p.dtype, c, 0.7, 1) : undefined;
  const bias = p.bias ? randn(rng, p.dtype, c, 0.5) : undefined;
  const run = { mean: randn(rng, p.dtype, c, 0.3, 0.5), var: randn(rng, p.dtype, c, 1).map((v) => 2 + Math.abs(v)) };
  const f = forward(fastnorm, p, x, weight, bias, run);
  return { x, dy, weight, bias, run, saved: { mean: f.mean, rstd: f.rstd } };
}

// The kernel paths: BatchNorm NCHW short planes and planes of several 8192-value blocks, NHWC the
// periodic path (C = 3, 8) and lane-per-channel (C = 70, tails); GroupNorm NCHW small S
// (per-element operands), long channels (several blocks) and groups of one value, NHWC periods in
// registers (C = 8) and cycled (C = 6, 70).
const SHAPES: Array<{ shape: number[]; layout: Layout; groups: number }> = [
  { shape: [3, 3, 5, 7], layout: 'NCHW', groups: 3 },
  { shape: [2, 4, 9000], layout: 'NCHW', groups: 2 },
  { shape: [2, 6, 100], layout: 'NCHW', groups: 2 },
  { shape: [3, 6, 1], layout: 'NCHW', groups: 6 },
  { shape: [3, 5, 7, 3], layout: 'NHWC', groups: 1 },
  { shape: [2, 33, 8], layout: 'NHWC', groups: 4 },
  { shape: [2, 40, 6], layout: 'NHWC', groups: 3 },
  { shape: [2, 37, 70], layout: 'NHWC', groups: 5 },
];

/** Whether the op takes the shape (training BatchNorm and InstanceNorm with input statistics need several values). */
const takes = (op: Op, shape: number[], layout: Layout) => {
  const spatial = layout === 'NHWC' ? shape.slice(1, -1) : shape.slice(2);
  const s = spatial.reduce((a, b) => a * b, 1);
  return !(op === 'instanceNorm' && s === 1);
};

describe('channel-norm backwards with activation: native against the reference and the unfused sequence', () => {
  for (const op of OPS) {
    for (const dtype of DTYPES) {
      for (const activation of ACTIVATIONS) {
        SHAPES.forEach(({ shape, layout, groups }, k) => {
          if (!takes(op, shape, layout)) return;
          // weight and bias both, or one of them, in turn over the shapes
          const [weight, bias] = ([[true, true], [false, true], [true, false]] as const)[k % 3];
          const p: Problem = { op, dtype, shape, layout, groups, weight, bias, seed: k * 7919 + shape[1] };
          it.runIf(addon)(`${op} ${activation} ${dtype} [${shape}] ${layout} weight ${weight} bias ${bias}`, () => {
            const { x, dy, saved, run, ...o } = problem(p);
            const grads = { weight, bias: true };
            const opts = { weight: o.weight, bias: o.bias, activation, grads };
            const nat = backward(fastnorm, p, dy, x, saved, opts);
            const ref = backward(reference, p, dy, x, saved, opts);
            expectBackwardClose(dtype, nat.dx.data, ref.dx.data, 'dx', { f64Tol: 1e-11, l2Floor: 0 });
            expectBackwardClose(dtype, nat.dweight, ref.dweight, 'dweight', { f64Tol: 1e-11 });
            expectBackwardClose(dtype, nat.dbias, ref.dbias, 'dbias', { f64Tol: 1e-11 });
            // Unfused: z from the forward without activation, g = dy·act'(z) in float64, then the plain backward.
            const z = forward(fastnorm, p, x, o.weight, o.bias, run).y.data;
            const g = new CTORS[dtype](z.length);
            for (let i = 0; i < z.length; i++) g[i] = gateGradient(activation, z[i], dy.data[i]);
            const plain = backward(fastnorm, p, { data: g, shape }, x, saved, { weight: o.weight, grads });
            expectBackwardClose(dtype, nat.dx.data, plain.dx.data, 'dx vs unfused', { f64Tol: 1e-9 });
            expectBackwardClose(dtype, nat.dbias, plain.dbias, 'dbias vs unfused', { f64Tol: 1e-9 });
            expectBackwardClose(dtype, nat.dweight, plain.dweight, 'dweight vs unfused', { f64Tol: 1e-9 });
          });
        });
      }
    }
  }

  for (const op of OPS) {
    it.runIf(addon)(`${op}: no activation ignores bias; activation without bias is bias 0 (bitwise)`, () => {
      for (const { shape, layout, groups } of [SHAPES[2], SHAPES[6]]) {
        const p: Problem = { op, dtype: 'float32', shape, layout, groups, weight: true, bias: true, seed: 5 };
        const { x, dy, saved, weight, bias } = problem(p);
        const a = backward(fastnorm, p, dy, x, saved, { weight });
        const b = backward(fastnorm, p, dy, x, saved, { weight, bias });
        expectBitwiseEqual(b.dx.data, a.dx.data, `${layout} dx, bias without activation`);
        expectBitwiseEqual(b.dweight!, a.dweight!, `${layout} dweight, bias without activation`);
        const zeros = new Float32Array(bias!.length);
        const c = backward(fastnorm, p, dy, x, saved, { weight, activation: 'silu' });
        const d = backward(fastnorm, p, dy, x, saved, { weight, bias: zeros, activation: 'silu' });
        expectBitwiseEqual(c.dx.data, d.dx.data, `${layout} dx, no bias vs zeros`);
        expectBitwiseEqual(c.dweight!, d.dweight!, `${layout} dweight, no bias vs zeros`);
      }
    });
  }
});

describe("relu: slope 0 at z = ±0 (PyTorch's), in every pass", () => {
  for (const api of [reference, ...(addon ? [fastnorm] : [])] as Api[]) {
    for (const op of OPS) {
      for (const layout of ['NCHW', 'NHWC'] as const) {
        it(`${api === reference ? 'reference' : 'native'} ${op} ${layout}`, () => {
          // x equal to its saved mean: z = 0·(±rstd·w) + 0 is +0 or −0 (weight ±1); every g is 0, so are the gradients
          const shape = layout === 'NHWC' ? [2, 5, 4] : [2, 4, 5];
          const n = 40, c = 4;
          const x = { data: new Float64Array(n).fill(0.25), shape };
          const dy = { data: Float64Array.from({ length: n }, (_, i) => 1 + i), shape };
          const stats = op === 'batchNorm' || op === 'batchNormEval' ? c : 2 * c;
          const p: Problem = { op, dtype: 'float64', shape, layout, groups: c, weight: true, bias: true, seed: 1 };
          const saved = { mean: new Float64Array(stats).fill(0.25), rstd: new Float64Array(stats).fill(3) };
          const weight = Float64Array.from([1, -1, 1, -1]);
          for (const bias of [undefined, new Float64Array(c), new Float64Array(c).fill(-0)]) {
            const r = backward(api, p, dy, x, saved, { weight, bias, activation: 'relu', grads: { bias: true } });
            expect(Array.from(r.dx.data).every((v) => v === 0), 'dx').toBe(true);
            expect(Array.from(r.dweight!), 'dweight').toEqual([0, 0, 0, 0]);
            expect(Array.from(r.dbias!), 'dbias').toEqual([0, 0, 0, 0]);
          }
          // just above 0 the slope is 1: the gradient is the plain one
          const up = backward(api, p, dy, x, saved, { weight, bias: new Float64Array(c).fill(1e-300), activation: 'relu', grads: { bias: true } });
          const plain = backward(api, p, dy, x, saved, { weight, grads: { bias: true } });
          expect(Array.from(up.dbias!)).toEqual(Array.from(plain.dbias!));
        });
      }
    }
  }
});

describe('channel-norm backwards with activation: central finite differences of the fused forward', () => {
  for (const api of [reference, ...(addon ? [fastnorm] : [])] as Api[]) {
    for (const op of OPS) {
      for (const layout of ['NCHW', 'NHWC'] as const) {
        for (const activation of ACTIVATIONS) {
          it(`${api === reference ? 'reference' : 'native'} ${op} ${layout} ${activation}`, () => {
            const shape = layout === 'NHWC' ? [2, 3, 4] : [2, 4, 3];
            const p: Problem = { op, dtype: 'float64', shape, layout, groups: 2, weight: true, bias: true, seed: 13 };
            const { x, dy, weight, bias, run } = problem(p);
            const w = weight as Float64Array, b = bias as Float64Array;
            // the loss Σ y·dy of the fused forward; eval: the running statistics are constants
            const loss = () => {
              const y = forward(reference, p, x, w, b, { mean: run.mean.slice(), var: run.var.slice() }, activation).y.data;
              let s = 0;
              for (let i = 0; i < y.length; i++) s += y[i] * dy.data[i];
              return s;
            };
            const f = forward(reference, p, x, w, b, { mean: run.mean.slice(), var: run.var.slice() });
            // away from relu's kink
            for (const v of f.y.data) expect(Math.abs(v)).toBeGreaterThan(1e-3);
            const got = backward(api, p, dy, x, { mean: f.mean, rstd: f.rstd }, { weight: w, bias: b, activation });
            expectClose(got.dx.data, numericGradient(loss, x.data as Float64Array, 1e-6), 1e-6, 'dx', 1);
            expectClose(got.dweight!, numericGradient(loss, w, 1e-6), 1e-6, 'dweight', 1);
            expectClose(got.dbias!, numericGradient(loss, b, 1e-6), 1e-6, 'dbias', 1);
          });
        }
      }
    }
  }
});

describe.runIf(addon)('channel-norm backwards with activation, NCHW: bitwise identical for every ISA × threads', () => {
  const { expectSameBitsEverywhere } = isaThreadConfigs();
  // big enough to be split over threads; BatchNorm planes of several blocks, GroupNorm short and long channels
  for (const op of OPS) {
    for (const shape of [[300, 4, 64], [3, 2, 35000]]) {
      it(`${op} [${shape}] relu/silu/gelu`, () => {
        for (const dtype of DTYPES) {
          const p: Problem = { op, dtype, shape, layout: 'NCHW', groups: 2, weight: true, bias: true, seed: 17 };
          const { x, dy, saved, weight, bias } = problem(p);
          for (const activation of ['relu', 'silu', 'gelu'] as const) {
            expectSameBitsEverywhere(() => {
              const r = backward(fastnorm, p, dy, x, saved, { weight, bias, activation });
              return { dx: r.dx.data, dweight: r.dweight!, dbias: r.dbias! };
            }, `${dtype} ${activation}`);
          }
        }
      });
    }
  }
});
