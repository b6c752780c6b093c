// GroupNorm and InstanceNorm: the native backend against the pure-TypeScript reference on seeded
// random data, and the properties that tie the ops together.
//  - every scheduling and layout class of the kernels: group counts 1, C and between; odd channel
//    counts (NHWC periods of 1-16 rows, masked lanes); spatial sizes around the vector width and
//    the block sizes; 0-3 spatial dims; units in cache, in waves, NCHW channels longer than a
//    block, NHWC samples re-read from L2/L3; small S (per-element weights);
//  - InstanceNorm's running statistics (updated like PyTorch's track_running_stats, or used with
//    useInputStats: false), out buffers, in-place, zero-size tensors, ill-conditioned and
//    non-finite data;
//  - GroupNorm(G = 1) == LayerNorm over (C, *spatial) with the per-channel weight expanded per
//    element (bitwise on the native NCHW path: the kernels share the row reduction), InstanceNorm ==
//    GroupNorm(G = C) (bitwise), NHWC == NCHW transposed;
//  - bitwise identical results for every ISA path × threads {1, 2, 3, 8}.
// Tolerances: helpers.TOL (float64 data offset by 1e4: TOL.F64_OFFSET); dx is judged relative
// to its terms rstd·dy·w. The reference backward is checked against finite differences of its
// forward (helpers.FD_TOL).
import { describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import * as reference from '../src/reference';
import type { FloatArray, Tensor } from '../src/api/types';
import {
  CTORS, DTYPES, FD_TOL, LAYOUTS, TOL, dot, dxTerms, expectBackwardClose, expectBitwiseEqual, expectClose, expectForwardClose,
  expectWantedGrads, inLayout, makeRng, misaligned, numericGradient, product, randn, requireNative, tensor,
  type CheckSpec, type DType, type Rng,
} from './helpers';

const native = fastnorm;
type Api = typeof reference;
type Layout = 'NCHW' | 'NHWC';
const OFFSET_TOL_F64 = TOL.F64_OFFSET;

requireNative();

/** NCHW data → NHWC data (same logical tensor). */
function toChannelsLast(data: FloatArray, nchw: readonly number[]): FloatArray {
  const [n, c, ...spatial] = nchw;
  const s = product(spatial);
  const out = new (data.constructor as typeof Float64Array)(data.length);
  for (let ni = 0; ni < n; ni++) for (let ci = 0; ci < c; ci++) for (let si = 0; si < s; si++) out[(ni * s + si) * c + ci] = data[(ni * c + ci) * s + si];
  return out;
}

type Gen = (rng: Rng, dtype: DType, n: number) => FloatArray;
const normal: Gen = (rng, dtype, n) => randn(rng, dtype, n, 1.5, 0.3);

interface Spec extends CheckSpec {
  nchw: number[];
  layout: Layout;
  groups: number;
  gen?: Gen;
}

function inputs(s: Spec) {
  const rng = makeRng(s.seed ?? 4242);
  const shape = inLayout(s.nchw, s.layout);
  const c = s.nchw[1];
  const x = tensor((s.gen ?? normal)(rng, s.dtype, product(shape)), shape);
  const dy = tensor(randn(rng, s.dtype, product(shape)), shape);
  const weight = s.weight ? randn(rng, s.dtype, c, 0.5, 1) : undefined;
  const bias = s.bias ? randn(rng, s.dtype, c) : undefined;
  return { x, dy, weight, bias, shape, c };
}

/** The dx terms rstd·dy·w of a GroupNorm (the floors of expectBackwardClose: a group of 1-2 values has dx ≈ 0 by cancellation). */
function dxFloors(dy: FloatArray, rstd: FloatArray, nchw: number[], layout: Layout, groups: number, weight?: FloatArray, f64Tol?: number) {
  const [, c, ...spatial] = nchw;
  const s = product(spatial);
  const terms = dxTerms(dy, (i) => {
    const ni = layout === 'NHWC' ? Math.floor(i / (s * c)) : Math.floor(i / (c * s));
    const ci = layout === 'NHWC' ? i % c : Math.floor(i / s) % c;
    return rstd[ni * groups + Math.floor(ci / (c / groups))] * (weight ? weight[ci] : 1);
  });
  return { l2Floor: terms.l2, f64Floor: terms.max, f64Tol };
}

function label(s: Spec): string {
  return `groupNorm ${s.dtype} ${s.layout} [${inLayout(s.nchw, s.layout).join(', ')}] G=${s.groups}`;
}

/** groupNorm forward on both backends: y, mean, rstd. */
function checkGroupNormForward(s: Spec) {
  const { x, weight, bias, shape } = inputs(s);
  const xBefore = x.data.slice();
  const opts = { weight, bias, eps: s.eps, layout: s.layout };
  const r = reference.groupNorm(x, s.groups, opts);
  const n = native.groupNorm(x, s.groups, opts);
  expectBitwiseEqual(x.data, xBefore, 'x must not be modified');
  expect(n.y.shape).toEqual(shape);
  expect(n.mean.length).toBe(s.nchw[0] * s.groups);
  const at = label(s);
  expectForwardClose(s.dtype, n.mean, r.mean, `${at} mean`, s.f64Tol);
  expectForwardClose(s.dtype, n.rstd, r.rstd, `${at} rstd`, s.f64Tol);
  expectForwardClose(s.dtype, n.y.data, r.y.data, `${at} y`, s.f64Tol);
  return { n, r };
}

/** groupNormBackward on both backends, with the reference's saved statistics: dx, dweight, dbias. */
function checkGroupNormBackward(s: Spec) {
  const { x, dy, weight, shape } = inputs(s);
  const saved = reference.groupNorm(x, s.groups, { eps: s.eps, layout: s.layout });
  const bopts = { weight, grads: s.grads, layout: s.layout };
  const rb = reference.groupNormBackward(dy, x, saved, s.groups, bopts);
  const nb = native.groupNormBackward(dy, x, saved, s.groups, bopts);
  expectWantedGrads({ native: nb, reference: rb }, s.grads, !!weight);
  expect(nb.dx.shape).toEqual(shape);
  const at = label(s);
  expectBackwardClose(s.dtype, nb.dx.data, rb.dx.data, `${at} dx`, dxFloors(dy.data, saved.rstd, s.nchw, s.layout, s.groups, weight, s.f64Tol));
  expectBackwardClose(s.dtype, nb.dweight, rb.dweight, `${at} dweight`, { f64Tol: s.f64Tol });
  expectBackwardClose(s.dtype, nb.dbias, rb.dbias, `${at} dbias`, { f64Tol: s.f64Tol });
  return { nb, rb };
}

/** groupNorm forward and backward (for the data-driven cases below; each check names its output). */
function checkGroupNorm(s: Spec) {
  const { n, r } = checkGroupNormForward(s);
  const { nb, rb } = checkGroupNormBackward(s);
  return { n, r, nb, rb };
}

// ---------------------------------------------------------------------------------------------

describe('groupNorm: native vs reference', () => {
  // Channel counts: 1, small, odd, multiples of the vector width, ≥ 4 vectors (one-row periods)
  // and odd large; group counts 1, C and between.
  const CHANNEL_GROUPS: Array<[number, number[]]> = [
    [1, [1]], [2, [1, 2]], [3, [1, 3]], [5, [1, 5]], [6, [1, 2, 3, 6]], [12, [1, 4, 12]], [16, [1, 8, 16]], [17, [1, 17]],
    [33, [1, 3, 11, 33]], [64, [1, 32, 64]], [65, [1, 5, 13, 65]], [100, [1, 10, 100]],
  ];
  // Spatial extents around the vector widths (16 floats / 8 doubles) and the NHWC periods.
  const SPATIAL = [[], [1], [7], [8], [15], [16], [17], [3, 11], [5, 7, 3]];
  const CASES = DTYPES.flatMap((dtype) => LAYOUTS.flatMap((layout) => CHANNEL_GROUPS.map(([c, gs]) =>
    [`${dtype} ${layout} C=${c} G=${gs.join('/')}`, dtype, layout, c, gs] as const)));

  it.each(CASES)('%s, N = 2, spatial [], [1], [7], [8], [15], [16], [17], [3, 11], [5, 7, 3]: forward', (_n, dtype, layout, c, gs) => {
    for (const groups of gs)
      for (const spatial of SPATIAL)
        checkGroupNormForward({ dtype, layout, nchw: [2, c, ...spatial], groups, weight: true, bias: true, seed: c * 131 + groups + spatial.length });
  });

  it.each(CASES)('%s, N = 2, the same spatial extents: backward', (_n, dtype, layout, c, gs) => {
    for (const groups of gs)
      for (const spatial of SPATIAL)
        checkGroupNormBackward({ dtype, layout, nchw: [2, c, ...spatial], groups, weight: true, bias: true, seed: c * 131 + groups + spatial.length });
  });

  // Longer spatial runs: around the NCHW block (8192 values) and the small-S threshold (64),
  // units beyond L2 (waves / re-read samples), NHWC blocks of many periods with a short last one.
  const LONG: Array<[number[], number[]]> = [
    [[1, 4, 63], [1, 2, 4]], [[2, 6, 64], [3]], [[2, 2, 8191], [1, 2]], [[2, 2, 8192], [2]], [[1, 3, 8193], [1, 3]],
    [[1, 2, 20000], [1, 2]], [[3, 8, 9, 1111], [4]], [[1, 3, 300, 300], [3]], [[2, 320, 9, 13], [32]],
    [[2, 7, 150, 151], [7]],
  ];
  const LONG_CASES = DTYPES.flatMap((dtype) => LAYOUTS.flatMap((layout) => LONG.map(([nchw, gs]) =>
    [`${dtype} ${layout} [${nchw.join(', ')}] G=${gs.join('/')}`, dtype, layout, nchw, gs] as const)));

  it.each(LONG_CASES)('%s', (_n, dtype, layout, nchw, gs) => {
    for (const groups of gs) checkGroupNorm({ dtype, layout, nchw, groups, weight: true, bias: true, seed: product(nchw) + groups });
  });

  it.each(DTYPES.flatMap((d) => LAYOUTS.map((l) => [`${d} ${l}`, d, l] as const)))('%s: every weight/bias combination and grads option', (_n, dtype, layout) => {
    const grads = [undefined, {}, { weight: true }, { bias: true }, { weight: true, bias: false }, { weight: false, bias: true },
      { weight: false, bias: false }];
    for (const nchw of [[2, 6, 5, 7], [1, 4, 40000]]) {
      for (const weight of [false, true])
        for (const bias of [false, true]) checkGroupNorm({ dtype, layout, nchw, groups: 2, weight, bias, seed: 5 });
      for (const weight of [false, true])
        for (const g of grads) checkGroupNorm({ dtype, layout, nchw, groups: 2, weight, bias: true, grads: g, seed: 6 });
    }
  });

  it.each(DTYPES)('%s: explicit eps values (0, 1e-5 default, 0.1, 3)', (dtype) => {
    for (const layout of LAYOUTS)
      for (const eps of [0, 1e-5, 0.1, 3]) checkGroupNorm({ dtype, layout, nchw: [3, 6, 9, 5], groups: 3, weight: true, bias: true, eps, seed: 7 });
    const x = tensor(new CTORS[dtype](8).fill(2), [1, 2, 4]); // constant groups: rstd = 1/sqrt(eps)
    expect(native.groupNorm(x, 2).rstd[0]).toBe(new CTORS[dtype]([1 / Math.sqrt(1e-5)])[0]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('groupNorm and instanceNorm: equivalences', () => {
  const BACKENDS = [['native', native], ['reference', reference]] as const;

  it.each(DTYPES)('%s: GroupNorm(G = 1) == LayerNorm over (C, *spatial) with weight/bias expanded per element (bitwise on native NCHW)', (dtype) => {
    for (const nchw of [[3, 5, 7, 9], [2, 4, 1000], [1, 3, 20000], [2, 40, 1]]) {
      const s: Spec = { dtype, layout: 'NCHW', nchw, groups: 1, weight: true, bias: true, seed: product(nchw) };
      const { x, dy, weight, bias } = inputs(s);
      const [n, c, ...spatial] = nchw;
      const sp = product(spatial);
      const expand = (v: FloatArray) => {
        const e = new CTORS[dtype](c * sp);
        for (let i = 0; i < e.length; i++) e[i] = v[Math.floor(i / sp)];
        return e;
      };
      const rows = tensor(x.data, [n, c * sp]);
      for (const [name, api] of BACKENDS) {
        const g = api.groupNorm(x, 1, { weight, bias });
        const l = api.layerNorm(rows, c * sp, { weight: expand(weight!), bias: expand(bias!) });
        if (name === 'native') {
          expectBitwiseEqual(g.y.data, l.y.data, `${name} y`);
          expectBitwiseEqual(g.mean, l.mean, `${name} mean`);
          expectBitwiseEqual(g.rstd, l.rstd, `${name} rstd`);
        } else {
          expectForwardClose(dtype, g.y.data, l.y.data, `${name} y`);
          expectForwardClose(dtype, g.mean, l.mean, `${name} mean`);
        }
        const gb = api.groupNormBackward(dy, x, g, 1, { weight });
        const lb = api.layerNormBackward(tensor(dy.data, rows.shape), rows, l, c * sp, { weight: expand(weight!) });
        expectBackwardClose(dtype, gb.dx.data, lb.dx.data, `${name} dx`, dxFloors(dy.data, g.rstd, nchw, 'NCHW', 1, weight));
        // dweight/dbias per channel = the per-element ones summed over each channel's positions
        const perChannel = (v: FloatArray) => {
          const out = new Float64Array(c);
          for (let i = 0; i < v.length; i++) out[Math.floor(i / sp)] += v[i];
          return out;
        };
        expectClose(gb.dweight!, perChannel(lb.dweight!), dtype === 'float64' ? 1e-11 : 1e-4, `${name} dweight`);
        expectClose(gb.dbias!, perChannel(lb.dbias!), dtype === 'float64' ? 1e-11 : 1e-4, `${name} dbias`);
      }
    }
  });

  it.each(DTYPES.flatMap((d) => LAYOUTS.map((l) => [`${d} ${l}`, d, l] as const)))('%s: InstanceNorm == GroupNorm(G = C), bitwise on each backend', (_n, dtype, layout) => {
    for (const nchw of [[2, 3, 5, 7], [2, 17, 40], [1, 4, 200, 301]]) {
      const c = nchw[1];
      const { x, dy, weight, bias } = inputs({ dtype, layout, nchw, groups: c, weight: true, bias: true, seed: 9 });
      for (const [name, api] of BACKENDS) {
        const i = api.instanceNorm(x, { weight, bias, layout });
        const g = api.groupNorm(x, c, { weight, bias, layout });
        expectBitwiseEqual(i.y.data, g.y.data, `${name} y`);
        expectBitwiseEqual(i.mean, g.mean, `${name} mean`);
        expectBitwiseEqual(i.rstd, g.rstd, `${name} rstd`);
        const ib = api.instanceNormBackward(dy, x, i, { weight, layout });
        const gb = api.groupNormBackward(dy, x, g, c, { weight, layout });
        expectBitwiseEqual(ib.dx.data, gb.dx.data, `${name} dx`);
        expectBitwiseEqual(ib.dweight!, gb.dweight!, `${name} dweight`);
        expectBitwiseEqual(ib.dbias!, gb.dbias!, `${name} dbias`);
      }
    }
  });

  it.each(DTYPES)('%s: NHWC == NCHW on the same logical tensor (native)', (dtype) => {
    for (const [nchw, groups] of [[[2, 6, 5, 7], 3], [[2, 320, 8, 8], 32], [[1, 3, 64, 65], 3], [[2, 64, 56, 56], 32]] as const) {
      const s: Spec = { dtype, layout: 'NCHW', nchw: [...nchw], groups, weight: true, bias: true, seed: 10 };
      const { x, dy, weight, bias } = inputs(s);
      const xl = tensor(toChannelsLast(x.data, nchw), inLayout(nchw, 'NHWC'));
      const dyl = tensor(toChannelsLast(dy.data, nchw), inLayout(nchw, 'NHWC'));
      const a = native.groupNorm(x, groups, { weight, bias });
      const b = native.groupNorm(xl, groups, { weight, bias, layout: 'NHWC' });
      expectForwardClose(dtype, b.y.data, toChannelsLast(a.y.data, nchw), 'y');
      expectForwardClose(dtype, b.mean, a.mean, 'mean');
      expectForwardClose(dtype, b.rstd, a.rstd, 'rstd');
      const ga = native.groupNormBackward(dy, x, a, groups, { weight });
      const gb = native.groupNormBackward(dyl, xl, a, groups, { weight, layout: 'NHWC' });
      expectBackwardClose(dtype, gb.dx.data, toChannelsLast(ga.dx.data, nchw), 'dx', dxFloors(dy.data, a.rstd, [...nchw], 'NCHW', groups, weight));
      expectBackwardClose(dtype, gb.dweight, ga.dweight, 'dweight', { f64Tol: 1e-11 });
      expectBackwardClose(dtype, gb.dbias, ga.dbias, 'dbias', { f64Tol: 1e-11 });
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('instanceNorm: running statistics (native vs reference)', () => {
  interface RunSpec { dtype: DType; layout: Layout; nchw: number[]; momentum?: number; weight?: boolean; seed?: number }

  function runningInputs(s: RunSpec) {
    const c = s.nchw[1];
    const base = inputs({ dtype: s.dtype, layout: s.layout, nchw: s.nchw, groups: c, weight: s.weight, bias: s.weight, seed: s.seed });
    const rng = makeRng((s.seed ?? 1) + 99);
    const runningMean = randn(rng, s.dtype, c, 0.5);
    const runningVar = randn(rng, s.dtype, c, 0.2, 1).map(Math.abs) as FloatArray;
    return { ...base, runningMean, runningVar };
  }

  const CASES = DTYPES.flatMap((dtype) => LAYOUTS.map((layout) => [`${dtype} ${layout}`, dtype, layout] as const));

  it.each(CASES)('%s: training updates runningMean/runningVar in place (batch mean and unbiased variance, averaged over N)', (_n, dtype, layout) => {
    for (const [nchw, momentum] of [[[2, 3, 5, 7], undefined], [[4, 17, 33], 0.3], [[1, 5, 2], 1], [[3, 64, 9, 9], 0], [[2, 3, 300, 300], 0.5]] as const) {
      const s = { dtype, layout, nchw: [...nchw], momentum, weight: true, seed: product(nchw) };
      const { x, weight, bias, runningMean, runningVar } = runningInputs(s);
      const rm = { native: runningMean.slice(), reference: runningMean.slice() };
      const rv = { native: runningVar.slice(), reference: runningVar.slice() };
      const n = native.instanceNorm(x, { weight, bias, momentum, layout, runningMean: rm.native, runningVar: rv.native });
      const r = reference.instanceNorm(x, { weight, bias, momentum, layout, runningMean: rm.reference, runningVar: rv.reference });
      expectForwardClose(dtype, n.y.data, r.y.data, 'y');
      expectForwardClose(dtype, n.mean, r.mean, 'mean');
      expectForwardClose(dtype, rm.native, rm.reference, 'runningMean');
      expectForwardClose(dtype, rv.native, rv.reference, 'runningVar');
      // the rule itself, from the returned per-(n, c) statistics: (1 − m)·running + m·mean over n
      const [N, C, ...spatial] = nchw;
      const S = product(spatial);
      const m = momentum ?? 0.1;
      for (let c = 0; c < C; c++) {
        let mean = 0;
        let unbiased = 0;
        for (let i = 0; i < N; i++) {
          mean += r.mean[i * C + c] / N;
          const biased = 1 / (r.rstd[i * C + c] * r.rstd[i * C + c]) - 1e-5;
          unbiased += (biased * S) / (S - 1) / N;
        }
        expect(rm.reference[c]).toBeCloseTo((1 - m) * runningMean[c] + m * mean, dtype === 'float32' ? 5 : 9);
        expect(rv.reference[c]).toBeCloseTo((1 - m) * runningVar[c] + m * unbiased, dtype === 'float32' ? 3 : 6);
      }
    }
  });

  it.each(CASES)('%s: useInputStats false normalizes with the running statistics (tiled over N) and leaves them unchanged', (_n, dtype, layout) => {
    for (const nchw of [[2, 3, 5, 7], [3, 17, 40], [2, 5], [1, 3, 300, 300]]) {
      const { x, dy, weight, bias, runningMean, runningVar } = runningInputs({ dtype, layout, nchw, weight: true, seed: 3 });
      const before = [runningMean.slice(), runningVar.slice()];
      const [N, C] = nchw;
      const opts = { weight, bias, layout, runningMean, runningVar, useInputStats: false };
      const n = native.instanceNorm(x, opts);
      const r = reference.instanceNorm(x, opts);
      expectBitwiseEqual(runningMean, before[0], 'runningMean unchanged');
      expectBitwiseEqual(runningVar, before[1], 'runningVar unchanged');
      for (let i = 0; i < N; i++) expectBitwiseEqual(n.mean.subarray(i * C, (i + 1) * C), runningMean, `mean of sample ${i} = runningMean`);
      expectForwardClose(dtype, n.rstd, r.rstd, 'rstd');
      for (let c = 0; c < C; c++) expect(n.rstd[c]).toBe(new CTORS[dtype]([1 / Math.sqrt(runningVar[c] + 1e-5)])[0]);
      expectForwardClose(dtype, n.y.data, r.y.data, 'y');
      // gradient through constants: dx = dy·w·rstd
      const bo = { weight, layout, useInputStats: false };
      const nb = native.instanceNormBackward(dy, x, n, bo);
      const rb = reference.instanceNormBackward(dy, x, n, bo);
      expectBackwardClose(dtype, nb.dx.data, rb.dx.data, 'dx');
      expectBackwardClose(dtype, nb.dweight, rb.dweight, 'dweight', { f64Tol: 1e-11 });
      expectBackwardClose(dtype, nb.dbias, rb.dbias, 'dbias', { f64Tol: 1e-11 });
      const s = product(nchw.slice(2));
      for (let i = 0; i < dy.data.length; i += 97) {
        const c = layout === 'NHWC' ? i % C : Math.floor(i / s) % C;
        const ni = layout === 'NHWC' ? Math.floor(i / (s * C)) : Math.floor(i / (C * s));
        expect(rb.dx.data[i]).toBeCloseTo(dy.data[i] * weight![c] * n.rstd[ni * C + c], 5);
      }
    }
  });

  it('float32 running statistics stay exact for a constant channel, and a NaN sample poisons only its channel', () => {
    const x = tensor(new Float32Array(2 * 2 * 4).fill(3), [2, 2, 4]);
    x.data[1] = NaN; // sample 0, channel 0
    for (const api of [native, reference]) {
      const runningMean = new Float32Array([1, 1]);
      const runningVar = new Float32Array([1, 1]);
      api.instanceNorm(x, { runningMean, runningVar, momentum: 0.5 });
      expect(Number.isNaN(runningMean[0]) && Number.isNaN(runningVar[0])).toBe(true);
      expect(Array.from(runningMean.subarray(1))).toEqual([2]); // 0.5·1 + 0.5·3
      expect(Array.from(runningVar.subarray(1))).toEqual([0.5]);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('streaming stores into misaligned out views, zero-size tensors (native and reference)', () => {
  const BACKENDS = [['native', native], ['reference', reference]] as const;

  it.each(LAYOUTS)('%s float32, outputs of >= 8 MiB (streaming stores) into misaligned out views: as the reference', (layout) => {
    const nchw = [2, 64, 150, 150];
    for (const groups of [32, 64]) {
      const { x, dy, weight, bias, shape } = inputs({ dtype: 'float32', layout, nchw, groups, weight: true, bias: true, seed: 31 });
      const n = x.data.length;
      const out = { y: misaligned(new Float32Array(n), 1), mean: new Float32Array(2 * groups), rstd: new Float32Array(2 * groups) };
      const f = native.groupNorm(x, groups, { weight, bias, layout, out });
      const r = reference.groupNorm(x, groups, { weight, bias, layout });
      expect(f.y.shape).toEqual(shape);
      expectForwardClose('float32', f.y.data, r.y.data, 'y');
      const gout = { dx: misaligned(new Float32Array(n), 3), dweight: new Float32Array(64), dbias: new Float32Array(64) };
      const g = native.groupNormBackward(dy, x, r, groups, { weight, layout, out: gout });
      const rg = reference.groupNormBackward(dy, x, r, groups, { weight, layout });
      expectBackwardClose('float32', g.dx.data, rg.dx.data, 'dx', dxFloors(dy.data, r.rstd, nchw, layout, groups, weight));
      expectBackwardClose('float32', g.dweight, rg.dweight, 'dweight');
      // the same bits as an aligned, freshly allocated output
      expectBitwiseEqual(f.y.data, native.groupNorm(x, groups, { weight, bias, layout }).y.data, 'y vs aligned output');
      expectBitwiseEqual(g.dx.data, native.groupNormBackward(dy, x, r, groups, { weight, layout }).dx.data, 'dx vs aligned output');
    }
  });

  it.each(BACKENDS.flatMap(([b, api]) => DTYPES.map((d) => [`${b} ${d}`, api, d] as const)))('%s: zero-size tensors: empty y/dx, zero dweight/dbias, NaN statistics of empty groups', (_n, api: Api, dtype) => {
    const C = CTORS[dtype];
    for (const layout of LAYOUTS) {
      // N = 0
      const e = inLayout([0, 4, 3], layout);
      const f = api.groupNorm(tensor(new C(0), e), 2, { layout, weight: new C(4).fill(1) });
      expect([f.y.data.length, f.mean.length, f.rstd.length]).toEqual([0, 0, 0]);
      const g = api.groupNormBackward(tensor(new C(0), e), tensor(new C(0), e), f, 2,
        { layout, weight: new C(4), out: { dweight: new C(4).fill(7), dbias: new C(4).fill(NaN) } });
      expect(Array.from(g.dweight!)).toEqual([0, 0, 0, 0]);
      expect(Array.from(g.dbias!)).toEqual([0, 0, 0, 0]);
      // S = 0: every group is empty, its statistics NaN; C = 0: likewise
      for (const [shape, groups] of [[inLayout([2, 4, 0], layout), 2], [inLayout([2, 0, 5], layout), 3], [inLayout([3, 6, 0, 2], layout), 6]] as const) {
        const r = api.groupNorm(tensor(new C(0), shape), groups, { layout });
        expect(r.mean.length).toBe(shape[0] * groups);
        expect(Array.from(r.mean).every(Number.isNaN) && Array.from(r.rstd).every(Number.isNaN)).toBe(true);
      }
      const inst = api.instanceNorm(tensor(new C(0), inLayout([2, 0, 5], layout)), { layout });
      expect(inst.mean.length).toBe(0);
    }
  });
});

// ---------------------------------------------------------------------------------------------

const offset: Gen = (rng, dtype, n) => randn(rng, dtype, n, 1, 1e4);
const tinyVar: Gen = (rng, dtype, n) => randn(rng, dtype, n, 1e-6, 1e-3);
const huge30: Gen = (rng, dtype, n) => randn(rng, dtype, n, 1e30);
const tiny30: Gen = (rng, dtype, n) => randn(rng, dtype, n, 1e-30);
/** The first 64 values of every sample far from the rest: an NHWC group's first rows are a bad shift. */
const farStart = (nchw: number[]): Gen => (rng, dtype, n) => {
  const a = randn(rng, dtype, n);
  const per = n / nchw[0];
  for (let s = 0; s < nchw[0]; s++) for (let i = 0; i < 64; i++) a[s * per + i] = 50 + i;
  return a;
};

describe('ill-conditioned and non-finite data: native vs reference', () => {
  const SHAPES: Array<[number[], number]> = [[[2, 6, 30, 11], 3], [[2, 3, 130, 130], 3], [[2, 64, 9, 9], 32]];
  const CASES = DTYPES.flatMap((d) => LAYOUTS.flatMap((l) => SHAPES.map(([s, g]) => [`${d} ${l} [${s.join(', ')}] G=${g}`, d, l, s, g] as const)));

  it.each(CASES)('%s: large mean offset, tiny variance (eps 1e-5 and 0), a far-off start', (_n, dtype, layout, nchw, groups) => {
    checkGroupNorm({ dtype, layout, nchw, groups, weight: true, bias: true, gen: offset, f64Tol: OFFSET_TOL_F64 });
    checkGroupNorm({ dtype, layout, nchw, groups, weight: true, bias: true, gen: tinyVar });
    checkGroupNorm({ dtype, layout, nchw, groups, weight: true, bias: true, gen: tinyVar, eps: 0, f64Tol: 1e-10 });
    checkGroupNorm({ dtype, layout, nchw, groups, weight: true, bias: true, gen: farStart(nchw) });
  });

  it.each(CASES)('%s: |x| ~ 1e30 and ~ 1e-30: statistics neither overflow nor underflow', (_n, dtype, layout, nchw, groups) => {
    for (const [gen, scale] of [[huge30, 1e30], [tiny30, 1e-30]] as const) {
      const { n, nb } = checkGroupNorm({ dtype, layout, nchw, groups, weight: true, bias: true, gen });
      const expected = scale > 1 ? 1 / scale : 1 / Math.sqrt(1e-5);
      for (const r of n.rstd) {
        expect(r / expected).toBeGreaterThan(0.5);
        expect(r / expected).toBeLessThan(2);
      }
      for (const a of [n.y.data, n.mean, nb.dx.data]) expect(a.every(Number.isFinite)).toBe(true);
    }
  });

  it.each(DTYPES.flatMap((d) => LAYOUTS.map((l) => [`${d} ${l}`, d, l] as const)))('%s: groups of one value (S = 1, G = C): dx is exactly 0', (_n, dtype, layout) => {
    for (const nchw of [[5, 6, 1], [3, 17], [2, 64, 1]]) {
      const rng = makeRng(nchw[1]);
      const shape = inLayout(nchw, layout);
      const x = tensor(randn(rng, dtype, product(shape)), shape);
      const dy = tensor(randn(rng, dtype, product(shape), 10), shape);
      const weight = randn(rng, dtype, nchw[1], 0.5, 1);
      for (const api of [native, reference]) {
        const saved = api.groupNorm(x, nchw[1], { layout });
        const b = api.groupNormBackward(dy, x, saved, nchw[1], { weight, layout });
        expect(Array.from(b.dx.data).every((v) => v === 0), `${api === native ? 'native' : 'reference'} [${nchw.join(', ')}] dx = 0`).toBe(true);
      }
    }
  });

  it.each(CASES)('%s: dy ~ 1e28 on data of σ ~ 1e10: the backward sums do not overflow (the NCHW shifted sums redo such a run)', (_n, dtype, layout, nchw, groups) => {
    const rng = makeRng(31);
    const shape = inLayout(nchw, layout);
    const x = tensor(randn(rng, dtype, product(shape), 1e10), shape);
    const dy = tensor(randn(rng, dtype, product(shape), 1e28), shape);
    const weight = randn(rng, dtype, nchw[1], 0.5, 1);
    const saved = reference.groupNorm(x, groups, { layout });
    const nb = native.groupNormBackward(dy, x, saved, groups, { weight, layout });
    const rb = reference.groupNormBackward(dy, x, saved, groups, { weight, layout });
    for (const a of [nb.dx.data, nb.dweight!, nb.dbias!]) expect(a.every(Number.isFinite)).toBe(true);
    expectBackwardClose(dtype, nb.dx.data, rb.dx.data, 'dx', dxFloors(dy.data, saved.rstd, nchw, layout, groups, weight));
    expectBackwardClose(dtype, nb.dweight, rb.dweight, 'dweight');
    expectBackwardClose(dtype, nb.dbias, rb.dbias, 'dbias');
  });

  it.each(CASES)('%s: constant groups give y = bias exactly, mean = the constant, rstd = 1/sqrt(eps); eps = 0 gives rstd = 0', (_n, dtype, layout, nchw, groups) => {
    const C = CTORS[dtype];
    const shape = inLayout(nchw, layout);
    const [N, ch, ...spatial] = nchw;
    const S = product(spatial);
    const x = tensor(new C(product(shape)), shape);
    const value = (ni: number, ci: number) => [0, -2, 0.5, 3, 1e4][(ni * groups + Math.floor(ci / (ch / groups))) % 5];
    for (let ni = 0; ni < N; ni++) for (let ci = 0; ci < ch; ci++) for (let si = 0; si < S; si++)
      x.data[layout === 'NHWC' ? (ni * S + si) * ch + ci : (ni * ch + ci) * S + si] = value(ni, ci);
    const rng = makeRng(8);
    const weight = randn(rng, dtype, ch, 0.5, 1);
    const bias = randn(rng, dtype, ch);
    const expectY = new C(x.data.length);
    for (let i = 0; i < x.data.length; i++) expectY[i] = bias[layout === 'NHWC' ? i % ch : Math.floor(i / S) % ch];
    for (const api of [native, reference]) {
      for (const eps of [1e-5, 0]) {
        const f = api.groupNorm(x, groups, { weight, bias, layout, eps });
        expectBitwiseEqual(f.y.data, expectY, 'y = bias');
        for (let ni = 0; ni < N; ni++) for (let g = 0; g < groups; g++) {
          expect(f.mean[ni * groups + g]).toBe(value(ni, g * (ch / groups)));
          expect(f.rstd[ni * groups + g]).toBe(eps === 0 ? 0 : new C([1 / Math.sqrt(eps)])[0]);
        }
      }
    }
    const dy = tensor(randn(rng, dtype, x.data.length), shape);
    const saved = reference.groupNorm(x, groups, { weight, bias, layout });
    const nb = native.groupNormBackward(dy, x, saved, groups, { weight, layout });
    const rb = reference.groupNormBackward(dy, x, saved, groups, { weight, layout });
    expectBackwardClose(dtype, nb.dx.data, rb.dx.data, 'dx');
    expect(Array.from(nb.dweight!).every((v) => v === 0), 'dweight = Σ dy·x̂ = 0').toBe(true);
  });

  it.each(CASES)('%s: NaN/±Inf poison exactly their own groups, identically on both backends', (_n, dtype, layout, nchw, groups) => {
    const [N, C, ...spatial] = nchw;
    const S = product(spatial);
    const at = (ni: number, ci: number, si: number) => (layout === 'NHWC' ? (ni * S + si) * C + ci : (ni * C + ci) * S + si);
    const cg = C / groups;
    const poison: Gen = (rng, d, n) => {
      const a = randn(rng, d, n);
      a[at(0, 0, S - 1)] = NaN; // group (0, 0)
      a[at(1, C - 1, 0)] = Infinity; // group (1, G-1)
      a[at(0, cg * (groups > 1 ? 1 : 0), Math.floor(S / 2))] = -Infinity; // group (0, 1) (or (0, 0))
      return a;
    };
    const { n, nb } = checkGroupNorm({ dtype, layout, nchw, groups, weight: true, bias: true, gen: poison });
    const bad = new Set([0, N * groups - 1, groups > 1 ? 1 : 0]);
    for (let ni = 0; ni < N; ni++) for (let g = 0; g < groups; g++) {
      const finite = Number.isFinite(n.rstd[ni * groups + g]);
      expect(finite, `group (${ni}, ${g}) rstd finite`).toBe(!bad.has(ni * groups + g));
      let yFinite = true;
      for (let ci = g * cg; ci < (g + 1) * cg; ci++) for (let si = 0; si < S; si++) yFinite = yFinite && Number.isFinite(n.y.data[at(ni, ci, si)]);
      expect(yFinite, `group (${ni}, ${g}) y finite`).toBe(!bad.has(ni * groups + g));
    }
    expect(nb.dweight!.some(Number.isNaN)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// The reference backward (the oracle of the tests above) against finite differences of its
// forward; shapes are (N, C, *spatial) in the given layout.

interface GradientCase {
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

const GRADIENT_CASES: GradientCase[] = [
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
  it.each(GRADIENT_CASES.map((c, i) => [c.name, c, i] as const))('%s: dx, dweight, dbias', (_name, c, i) => {
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

    expectClose(bwd.dx.data, numericGradient(loss, x), FD_TOL, 'dx');
    const wantWeight = c.grads?.weight ?? c.weight;
    const wantBias = c.grads?.bias ?? c.weight;
    expect(bwd.dweight !== undefined).toBe(wantWeight);
    expect(bwd.dbias !== undefined).toBe(wantBias);
    if (wantWeight) expectClose(bwd.dweight!, numericGradient(() => dot(forward(w, bOpt).y.data, g), w), FD_TOL, 'dweight');
    if (wantBias) expectClose(bwd.dbias!, numericGradient(() => dot(forward(wOpt, b).y.data, g), b), FD_TOL, 'dbias');
  });
});
