// LayerNorm and RMSNorm: the native backend against the pure-TypeScript reference on seeded
// random data — every row-size class of the kernels (vector tails, cache-resident rows, blocked
// huge rows), both dtypes, forward and backward, optional weight/bias and grads, caller-provided
// and in-place outputs, zero-size tensors, ill-conditioned or non-finite data — and the
// reference backward against finite differences of its own forward (helpers.FD_TOL).
// Tolerances: helpers.TOL.
import { describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import * as reference from '../src/reference';
import type { FloatArray, Tensor } from '../src/api/types';
import {
  CTORS, DTYPES, FD_TOL, dot, dxTerms, expectBackwardClose, expectBitwiseEqual, expectClose, expectForwardClose, expectWantedGrads,
  makeRng, misaligned, type CheckSpec, numericGradient, product, randn, requireNative, tensor, TOL, type DType, type Rng,
} from './helpers';

const native = fastnorm;

requireNative();

type Gen = (rng: Rng, dtype: DType, n: number) => FloatArray;
const normal: Gen = (rng, dtype, n) => randn(rng, dtype, n);

interface Spec extends CheckSpec {
  shape: number[];
  normalizedShape: number | number[];
  gen?: Gen;
}

function colsOf(ns: number | number[]): number {
  return typeof ns === 'number' ? ns : product(ns);
}

function inputs(s: Spec) {
  const rng = makeRng(s.seed ?? 12345);
  const cols = colsOf(s.normalizedShape);
  const x = tensor((s.gen ?? normal)(rng, s.dtype, product(s.shape)), s.shape);
  const dy = tensor(randn(rng, s.dtype, product(s.shape)), s.shape);
  const weight = s.weight ? randn(rng, s.dtype, cols, 0.5, 1) : undefined;
  const bias = s.bias ? randn(rng, s.dtype, cols) : undefined;
  return { x, dy, weight, bias, cols };
}

/** rstd·w of element i of a row op (the dx terms' scale). */
const rowScale = (rstd: FloatArray, cols: number, weight?: FloatArray) => (i: number) =>
  rstd[Math.floor(i / cols)] * (weight ? weight[i % cols] : 1);

const label = (op: string, s: Spec) => `${op} ${s.dtype} [${s.shape.join(', ')}]`;

/** layerNorm forward on both backends: y, mean, rstd within the tolerances; x untouched. */
function checkLayerNormForward(s: Spec) {
  const { x, weight, bias } = inputs(s);
  const xBefore = x.data.slice();
  const opts = { weight, bias, eps: s.eps };
  const r = reference.layerNorm(x, s.normalizedShape, opts);
  const n = native.layerNorm(x, s.normalizedShape, opts);
  expectBitwiseEqual(x.data, xBefore, 'x must not be modified');
  expect(n.y.shape).toEqual(s.shape);
  const at = label('layerNorm', s);
  expectForwardClose(s.dtype, n.mean, r.mean, `${at} mean`, s.f64Tol);
  expectForwardClose(s.dtype, n.rstd, r.rstd, `${at} rstd`, s.f64Tol);
  expectForwardClose(s.dtype, n.y.data, r.y.data, `${at} y`, s.f64Tol);
  return { x, r, n };
}

/** layerNormBackward on both backends, with the same (reference) saved statistics: dx, dweight, dbias. */
function checkLayerNormBackward(s: Spec) {
  const { x, dy, weight, cols } = inputs(s);
  const saved = reference.layerNorm(x, s.normalizedShape, { eps: s.eps });
  const bopts = { weight, grads: s.grads };
  const rb = reference.layerNormBackward(dy, x, saved, s.normalizedShape, bopts);
  const nb = native.layerNormBackward(dy, x, saved, s.normalizedShape, bopts);
  expectWantedGrads({ native: nb, reference: rb }, s.grads, !!weight);
  expect(nb.dx.shape).toEqual(s.shape);
  const at = label('layerNormBackward', s);
  const terms = dxTerms(dy.data, rowScale(saved.rstd, cols, weight));
  expectBackwardClose(s.dtype, nb.dx.data, rb.dx.data, `${at} dx`, { f64Tol: s.f64Tol, l2Floor: terms.l2 });
  expectBackwardClose(s.dtype, nb.dweight, rb.dweight, `${at} dweight`, { f64Tol: s.f64Tol });
  expectBackwardClose(s.dtype, nb.dbias, rb.dbias, `${at} dbias`, { f64Tol: s.f64Tol });
  return { x, dy, nb, rb };
}

/** layerNorm forward and backward (for the data-driven cases below; each check names its output). */
function checkLayerNorm(s: Spec) {
  const { n } = checkLayerNormForward(s);
  const { nb } = checkLayerNormBackward(s);
  return { n, nb };
}

/** rmsNorm forward on both backends: y, rstd. */
function checkRmsNormForward(s: Spec) {
  const { x, weight } = inputs(s);
  const xBefore = x.data.slice();
  const r = reference.rmsNorm(x, s.normalizedShape, { weight, eps: s.eps });
  const n = native.rmsNorm(x, s.normalizedShape, { weight, eps: s.eps });
  expectBitwiseEqual(x.data, xBefore, 'x must not be modified');
  expect(Object.keys(n).sort()).toEqual(['rstd', 'y']);
  const at = label('rmsNorm', s);
  expectForwardClose(s.dtype, n.rstd, r.rstd, `${at} rstd`, s.f64Tol);
  expectForwardClose(s.dtype, n.y.data, r.y.data, `${at} y`, s.f64Tol);
  return { n };
}

/** rmsNormBackward on both backends, with the same (reference) saved statistics: dx, dweight. */
function checkRmsNormBackward(s: Spec) {
  const { x, dy, weight, cols } = inputs(s);
  const { rstd } = reference.rmsNorm(x, s.normalizedShape, { eps: s.eps });
  const bopts = { weight, grads: s.grads as { weight?: boolean } | undefined };
  const rb = reference.rmsNormBackward(dy, x, { rstd }, s.normalizedShape, bopts);
  const nb = native.rmsNormBackward(dy, x, { rstd }, s.normalizedShape, bopts);
  expectWantedGrads({ native: nb, reference: rb }, s.grads, !!weight, ['weight']);
  const at = label('rmsNormBackward', s);
  const terms = dxTerms(dy.data, rowScale(rstd, cols, weight));
  expectBackwardClose(s.dtype, nb.dx.data, rb.dx.data, `${at} dx`, { f64Tol: s.f64Tol, l2Floor: terms.l2 });
  expectBackwardClose(s.dtype, nb.dweight, rb.dweight, `${at} dweight`, { f64Tol: s.f64Tol });
  return { nb };
}

function checkRmsNorm(s: Spec) {
  const { n } = checkRmsNormForward(s);
  const { nb } = checkRmsNormBackward(s);
  return { n, nb };
}

// Row sizes around every vector width (16 floats / 8 doubles per logical vector) and cache
// boundary; the rows exercise inline, batched and multithreaded scheduling (1<<15 values).
const COLS = [1, 2, 15, 16, 17, 31, 32, 33, 100, 767, 768, 769, 1000, 4097];
const ROWS = [0, 1, 3, 64, 257];
const GRID = DTYPES.flatMap((dtype) => COLS.map((cols) => [`${dtype} cols=${cols}`, dtype, cols] as const));

// Rows beyond 128 KiB take the blocked huge-row path: 16384 doubles / 32768 floats is the edge.
const HUGE: Array<[DType, number[]]> = [
  ['float64', [2, 16384]], ['float64', [2, 16385]], ['float32', [2, 32768]], ['float32', [2, 32769]],
  ...DTYPES.flatMap((d): Array<[DType, number[]]> => [[d, [1, 70000]], [d, [3, 70000]], [d, [2, 300000]]]),
];
const HUGE_CASES = HUGE.map(([dtype, shape]) => [`${dtype} [${shape.join(', ')}]`, dtype, shape] as const);

describe('layerNorm: native vs reference', () => {
  it.each(GRID)('%s, rows 0/1/3/64/257, weight + bias: forward y, mean, rstd', (_n, dtype, cols) => {
    for (const rows of ROWS) checkLayerNormForward({ dtype, shape: [rows, cols], normalizedShape: cols, weight: true, bias: true, seed: rows * 7919 + cols });
  });

  it.each(GRID)('%s, rows 0/1/3/64/257, weight: backward dx, dweight, dbias', (_n, dtype, cols) => {
    for (const rows of ROWS) checkLayerNormBackward({ dtype, shape: [rows, cols], normalizedShape: cols, weight: true, bias: true, seed: rows * 7919 + cols });
  });

  it.each(HUGE_CASES)('huge row %s (blocked path), weight + bias', (_n, dtype, shape) => {
    checkLayerNorm({ dtype, shape, normalizedShape: shape[1], weight: true, bias: true, seed: shape[1] });
  });

  it.each(DTYPES)('%s: every weight/bias combination, cache-resident [5, 33] and huge [2, 70000] rows', (dtype) => {
    for (const shape of [[5, 33], [2, 70000]]) {
      for (const weight of [false, true]) {
        for (const bias of [false, true]) checkLayerNorm({ dtype, shape, normalizedShape: [shape[1]], weight, bias, seed: 3 });
      }
    }
  });

  it.each(DTYPES)('%s: every grads option, with and without weight (returned gradients and values)', (dtype) => {
    const grads = [undefined, {}, { weight: true }, { bias: true }, { weight: true, bias: true }, { weight: false, bias: false },
      { weight: false, bias: true }, { weight: true, bias: false }];
    for (const shape of [[9, 40], [2, 70000]]) {
      for (const weight of [false, true]) {
        for (const g of grads) checkLayerNorm({ dtype, shape, normalizedShape: shape[1], weight, bias: true, grads: g, seed: 4 });
      }
    }
  });

  it.each(DTYPES)('%s: multi-dim leading shapes and normalizedShape', (dtype) => {
    checkLayerNorm({ dtype, shape: [2, 3, 5, 17], normalizedShape: 17, weight: true, bias: true, seed: 5 });
    checkLayerNorm({ dtype, shape: [2, 3, 5, 17], normalizedShape: [5, 17], weight: true, bias: true, seed: 6 });
    checkLayerNorm({ dtype, shape: [4, 2, 3, 64], normalizedShape: [2, 3, 64], weight: true, bias: false, seed: 7 });
    checkLayerNorm({ dtype, shape: [3, 7], normalizedShape: [3, 7], weight: true, bias: true, seed: 8 }); // one row
    checkLayerNorm({ dtype, shape: [33], normalizedShape: 33, weight: true, bias: true, seed: 9 }); // 1-D x
  });

  it.each(DTYPES)('%s: normalizedShape as a number equals it as an array (bitwise)', (dtype) => {
    const { x, weight, bias } = inputs({ dtype, shape: [6, 50], normalizedShape: 50, weight: true, bias: true });
    const a = native.layerNorm(x, 50, { weight, bias });
    const b = native.layerNorm(x, [50], { weight, bias });
    expectBitwiseEqual(a.y.data, b.y.data, 'y');
    expectBitwiseEqual(a.rstd, b.rstd, 'rstd');
  });

  it.each(DTYPES)('%s: explicit eps values (0, 1e-5 default, 0.1, 3)', (dtype) => {
    for (const eps of [0, 1e-5, 0.1, 3]) checkLayerNorm({ dtype, shape: [10, 77], normalizedShape: 77, weight: true, bias: true, eps, seed: 10 });
    // default eps is 1e-5: rstd of a constant row is 1/sqrt(1e-5)
    const x = tensor(new CTORS[dtype](8).fill(2), [1, 8]);
    const { rstd } = native.layerNorm(x, 8);
    expect(rstd[0]).toBe(new CTORS[dtype]([1 / Math.sqrt(1e-5)])[0]);
  });

  it.each(DTYPES)('%s: misaligned (non-64-byte-aligned) inputs give bitwise the same results', (dtype) => {
    const { x, dy, weight, bias } = inputs({ dtype, shape: [5, 67], normalizedShape: 67, weight: true, bias: true, seed: 11 });
    const a = native.layerNorm(x, 67, { weight, bias });
    const b = native.layerNorm(tensor(misaligned(x.data), x.shape), 67, { weight: misaligned(weight!, 3), bias: misaligned(bias!, 5) });
    expectBitwiseEqual(b.y.data, a.y.data, 'y');
    expectBitwiseEqual(b.mean, a.mean, 'mean');
    const ga = native.layerNormBackward(dy, x, { mean: a.mean, rstd: a.rstd }, 67, { weight });
    const gb = native.layerNormBackward(tensor(misaligned(dy.data, 7), dy.shape), tensor(misaligned(x.data), x.shape),
      { mean: misaligned(a.mean), rstd: misaligned(a.rstd, 2) }, 67, { weight: misaligned(weight!, 3) });
    expectBitwiseEqual(gb.dx.data, ga.dx.data, 'dx');
    expectBitwiseEqual(gb.dweight!, ga.dweight!, 'dweight');
    expectBitwiseEqual(gb.dbias!, ga.dbias!, 'dbias');
  });
});

describe('rmsNorm: native vs reference', () => {
  it.each(GRID)('%s, rows 0/1/3/64/257, weight: forward y, rstd', (_n, dtype, cols) => {
    for (const rows of ROWS) checkRmsNormForward({ dtype, shape: [rows, cols], normalizedShape: cols, weight: true, seed: rows * 104729 + cols });
  });

  it.each(GRID)('%s, rows 0/1/3/64/257, weight: backward dx, dweight', (_n, dtype, cols) => {
    for (const rows of ROWS) checkRmsNormBackward({ dtype, shape: [rows, cols], normalizedShape: cols, weight: true, seed: rows * 104729 + cols });
  });

  it.each(HUGE_CASES)('huge row %s (blocked path), weight', (_n, dtype, shape) => {
    checkRmsNorm({ dtype, shape, normalizedShape: shape[1], weight: true, seed: shape[1] + 1 });
  });

  it.each(DTYPES)('%s: with and without weight, every grads option, [5, 33] and [2, 70000]', (dtype) => {
    for (const shape of [[5, 33], [2, 70000]]) {
      for (const weight of [false, true]) {
        for (const grads of [undefined, {}, { weight: true }, { weight: false }])
          checkRmsNorm({ dtype, shape, normalizedShape: [shape[1]], weight, grads, seed: 13 });
      }
    }
  });

  it.each(DTYPES)('%s: multi-dim leading shapes and normalizedShape, explicit eps', (dtype) => {
    checkRmsNorm({ dtype, shape: [2, 3, 5, 17], normalizedShape: 17, weight: true, seed: 14 });
    checkRmsNorm({ dtype, shape: [2, 3, 5, 17], normalizedShape: [3, 5, 17], weight: true, seed: 15 });
    for (const eps of [0, 1e-5, 0.1]) checkRmsNorm({ dtype, shape: [4, 100], normalizedShape: 100, weight: true, eps, seed: 16 });
  });
});

// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------

describe('zero-size tensors', () => {
  const BACKENDS = [['native', native], ['reference', reference]] as const;
  const CASES = BACKENDS.flatMap(([b, api]) => DTYPES.map((d) => [`${b} ${d}`, api, d] as const));

  it.each(CASES)('%s: rows = 0 ([0, 16], [3, 0, 16]): empty y/mean/rstd/dx, dweight and dbias are zeros', (_n, api, dtype) => {
    const C = CTORS[dtype];
    for (const shape of [[0, 16], [3, 0, 16], [0, 4, 16]]) {
      const ns = shape[1] === 4 ? [4, 16] : 16;
      const cols = colsOf(ns);
      const x = tensor(new C(0), shape);
      const weight = new C(cols).fill(2);
      const bias = new C(cols).fill(1);
      const f = api.layerNorm(x, ns, { weight, bias });
      expect(f.y.shape).toEqual(shape);
      expect([f.y.data.length, f.mean.length, f.rstd.length]).toEqual([0, 0, 0]);
      // zeros even when the out buffers held something else
      const out = { dx: new C(0), dweight: new C(cols).fill(7), dbias: new C(cols).fill(NaN) };
      const g = api.layerNormBackward(tensor(new C(0), shape), x, { mean: f.mean, rstd: f.rstd }, ns, { weight, out });
      expect(g.dx.data.length).toBe(0);
      expect(Array.from(g.dweight!)).toEqual(new Array(cols).fill(0));
      expect(Array.from(g.dbias!)).toEqual(new Array(cols).fill(0));
      const r = api.rmsNorm(x, ns, { weight });
      expect([r.y.data.length, r.rstd.length]).toEqual([0, 0]);
      const rg = api.rmsNormBackward(tensor(new C(0), shape), x, { rstd: r.rstd }, ns, { weight, out: { dweight: new C(cols).fill(7) } });
      expect(Array.from(rg.dweight!)).toEqual(new Array(cols).fill(0));
    }
  });

  it.each(DTYPES)('%s: cols = 0 ([2, 0], [0] over normalizedShape [0]): native and reference agree (empty y, NaN statistics)', (dtype) => {
    const C = CTORS[dtype];
    for (const shape of [[2, 0], [0], [3, 2, 0]]) {
      const x = tensor(new C(0), shape);
      const rows = shape.length === 1 ? 1 : product(shape.slice(0, -1));
      const r = reference.layerNorm(x, [0]);
      const n = native.layerNorm(x, [0]);
      expect(n.y.data.length).toBe(0);
      expect(n.mean.length).toBe(rows);
      expectClose(n.mean, r.mean, 0, 'mean');
      expectClose(n.rstd, r.rstd, 0, 'rstd');
      const nr = native.rmsNorm(x, 0);
      expectClose(nr.rstd, reference.rmsNorm(x, 0).rstd, 0, 'rms rstd');
      const g = native.layerNormBackward(tensor(new C(0), shape), x, { mean: n.mean, rstd: n.rstd }, [0], { weight: new C(0) });
      expect([g.dx.data.length, g.dweight!.length, g.dbias!.length]).toEqual([0, 0, 0]);
    }
  });
});

// ---------------------------------------------------------------------------------------------

const offset: Gen = (rng, dtype, n) => randn(rng, dtype, n, 1, 1e4);
const tinyVar: Gen = (rng, dtype, n) => randn(rng, dtype, n, 1e-6, 1e-3);
const huge30: Gen = (rng, dtype, n) => randn(rng, dtype, n, 1e30);
const tiny30: Gen = (rng, dtype, n) => randn(rng, dtype, n, 1e-30);

describe('ill-conditioned data: native vs reference', () => {
  const SHAPES = [[4, 300], [64, 769], [2, 70000]];
  const CASES = DTYPES.flatMap((d) => SHAPES.map((s) => [`${d} [${s.join(', ')}]`, d, s] as const));

  it.each(CASES)('%s: large mean offset x = 1e4 + N(0, 1)', (_n, dtype, shape) => {
    checkLayerNorm({ dtype, shape, normalizedShape: shape[1], weight: true, bias: true, gen: offset });
    checkRmsNorm({ dtype, shape, normalizedShape: shape[1], weight: true, gen: offset });
  });

  it.each(CASES)('%s: tiny variance x = 1e-3 + 1e-6·N(0, 1)', (_n, dtype, shape) => {
    // eps (1e-5) >> var (1e-12): y ≈ (x − μ)/sqrt(eps); with eps = 0, y = (x − μ)/σ and rstd = 1e6
    checkLayerNorm({ dtype, shape, normalizedShape: shape[1], weight: true, bias: true, gen: tinyVar });
    checkLayerNorm({ dtype, shape, normalizedShape: shape[1], weight: true, bias: true, gen: tinyVar, eps: 0, f64Tol: TOL.F64_CANCELLATION });
    checkRmsNorm({ dtype, shape, normalizedShape: shape[1], weight: true, gen: tinyVar });
  });

  // |x| ~ 1e30: x² overflows float32 (1e60 > 3.4e38), so float32 sums of squares must not be used
  // (or must be redone in double); |x| ~ 1e-30: x² underflows float32 to 0.
  const MAGNITUDES = [[huge30, 1e30], [tiny30, 1e-30]] as const;
  const EXTREME = CASES.flatMap(([name, dtype, shape]) => MAGNITUDES.map(([gen, scale]) => [`${name}, |x| ~ ${scale}`, dtype, shape, gen, scale] as const));

  /** rstd ≈ 1/scale (σ and rms of scale·N(0, 1) are ≈ scale), or 1/sqrt(eps) when eps dominates 1e-60. */
  function expectSaneRstd(rstd: FloatArray, scale: number, eps: number, what: string): void {
    const expected = scale > 1 ? 1 / scale : 1 / Math.sqrt(eps);
    for (let r = 0; r < rstd.length; r++) {
      expect(rstd[r] / expected, `${what}: rstd[${r}] = ${rstd[r]} must be ~${expected}`).toBeGreaterThan(0.5);
      expect(rstd[r] / expected, `${what}: rstd[${r}] = ${rstd[r]} must be ~${expected}`).toBeLessThan(2);
    }
  }

  it.each(EXTREME)('%s: layerNorm statistics do not overflow/underflow, finite outputs', (_n, dtype, shape, gen, scale) => {
    for (const affine of [true, false]) {
      const spec = { dtype, shape, normalizedShape: shape[1], weight: affine, bias: affine, gen };
      const { x } = inputs(spec);
      expectSaneRstd(native.layerNorm(x, shape[1]).rstd, scale, 1e-5, 'native layerNorm');
      const ln = checkLayerNorm(spec);
      for (const [k, a] of Object.entries({ y: ln.n.y.data, mean: ln.n.mean, rstd: ln.n.rstd, dx: ln.nb.dx.data }))
        expect(a.every(Number.isFinite), `${k} must be finite`).toBe(true);
    }
  });

  it.each(EXTREME)('%s: rmsNorm statistics do not overflow/underflow, finite outputs', (_n, dtype, shape, gen, scale) => {
    for (const affine of [true, false]) {
      const spec = { dtype, shape, normalizedShape: shape[1], weight: affine, gen };
      const { x } = inputs(spec);
      expectSaneRstd(native.rmsNorm(x, shape[1]).rstd, scale, 1e-6, 'native rmsNorm');
      const rn = checkRmsNorm(spec);
      for (const [k, a] of Object.entries({ y: rn.n.y.data, rstd: rn.n.rstd, dx: rn.nb.dx.data }))
        expect(a.every(Number.isFinite), `${k} must be finite`).toBe(true);
    }
  });

  it.each(CASES)('%s: constant rows: y = bias exactly, mean = the constant, rstd = 1/sqrt(eps)', (_n, dtype, shape) => {
    const C = CTORS[dtype];
    const [rows, cols] = shape;
    const rng = makeRng(31);
    const constants = Array.from({ length: rows }, () => 10 * rng.normal());
    const x = tensor(new C(rows * cols), shape);
    for (let r = 0; r < rows; r++) x.data.fill(constants[r], r * cols, (r + 1) * cols);
    const weight = randn(rng, dtype, cols, 0.5, 1);
    const bias = randn(rng, dtype, cols);
    const dy = tensor(randn(rng, dtype, rows * cols), shape);
    for (const [name, api] of [['native', native], ['reference', reference]] as const) {
      for (const eps of [undefined, 1e-3]) {
        const f = api.layerNorm(x, cols, { weight, bias, eps });
        for (let r = 0; r < rows; r++) {
          expectBitwiseEqual(f.y.data.subarray(r * cols, (r + 1) * cols), bias, `${name} eps=${eps} row ${r}: y = bias`);
          expect(f.mean[r], `${name} row ${r}: mean`).toBe(x.data[r * cols]);
          expect(f.rstd[r], `${name} row ${r}: rstd`).toBe(new C([1 / Math.sqrt(eps ?? 1e-5)])[0]);
        }
      }
    }
    // the backward through zero-variance rows (x̂ = 0): dx = rstd·(g − mean(g)), dweight = 0
    const saved = reference.layerNorm(x, cols, { weight, bias });
    const nb = native.layerNormBackward(dy, x, { mean: saved.mean, rstd: saved.rstd }, cols, { weight });
    const rb = reference.layerNormBackward(dy, x, { mean: saved.mean, rstd: saved.rstd }, cols, { weight });
    expectBackwardClose(dtype, nb.dx.data, rb.dx.data, 'dx');
    expectBackwardClose(dtype, nb.dbias, rb.dbias, 'dbias');
    expect(Array.from(nb.dweight!).every((v) => v === 0), 'dweight = Σ dy·x̂ = 0').toBe(true);
  });

  it.each(CASES)('%s: constant rows with eps = 0 (var + eps = 0): rstd = 0 and y = bias', (_n, dtype, shape) => {
    const C = CTORS[dtype];
    const [rows, cols] = shape;
    const x = tensor(new C(rows * cols), shape);
    for (let r = 0; r < rows; r++) x.data.fill([0, -2, 0.5, 3][r % 4], r * cols, (r + 1) * cols); // exact mean
    const rng = makeRng(32);
    const weight = randn(rng, dtype, cols, 0.5, 1);
    const bias = randn(rng, dtype, cols);
    for (const [name, api] of [['native', native], ['reference', reference]] as const) {
      const f = api.layerNorm(x, cols, { weight, bias, eps: 0 });
      expect(Array.from(f.rstd), `${name}: rstd`).toEqual(new Array(rows).fill(0));
      for (let r = 0; r < rows; r++) expectBitwiseEqual(f.y.data.subarray(r * cols, (r + 1) * cols), bias, `${name} row ${r}: y = bias`);
    }
    // RMSNorm of all-zero rows with eps = 0: rstd = 0, y = 0
    const zeros = tensor(new C(rows * cols), shape);
    for (const [name, api] of [['native', native], ['reference', reference]] as const) {
      const f = api.rmsNorm(zeros, cols, { weight, eps: 0 });
      expect(Array.from(f.rstd), `${name}: rms rstd`).toEqual(new Array(rows).fill(0));
      expect(f.y.data.every((v) => v === 0), `${name}: rms y = 0`).toBe(true);
    }
  });

  it.each(CASES)('%s: a mix of constant and random rows', (_n, dtype, shape) => {
    const constRows: Gen = (rng, d, n) => {
      const a = randn(rng, d, n);
      const cols = shape[1];
      for (let r = 0; r < n / cols; r += 2) a.fill(3.7, r * cols, (r + 1) * cols);
      return a;
    };
    checkLayerNorm({ dtype, shape, normalizedShape: shape[1], weight: true, bias: true, gen: constRows });
    checkRmsNorm({ dtype, shape, normalizedShape: shape[1], weight: true, gen: constRows });
  });
});

describe('non-finite data propagates (NaN/±Inf are not errors)', () => {
  const SHAPES = [[6, 33], [6, 1000], [3, 70000]];
  const CASES = DTYPES.flatMap((d) => SHAPES.map((s) => [`${d} [${s.join(', ')}]`, d, s] as const));

  it.each(CASES)('%s: rows with NaN, +Inf, −Inf give non-finite rows, identical on both backends; clean rows unaffected', (_n, dtype, shape) => {
    const [rows, cols] = shape;
    const poison: Gen = (rng, d, n) => {
      const a = randn(rng, d, n);
      a[0 * cols + Math.floor(cols / 2)] = NaN; // row 0
      a[2 * cols + cols - 1] = Infinity; // row 2, last element
      a[4 * cols] = -Infinity; // row 4, first element
      return a;
    };
    const ln = checkLayerNorm({ dtype, shape, normalizedShape: cols, weight: true, bias: true, gen: poison });
    const rn = checkRmsNorm({ dtype, shape, normalizedShape: cols, weight: true, gen: poison });
    for (let r = 0; r < rows; r++) {
      const bad = r === 0 || r === 2 || r === 4;
      const y = ln.n.y.data.subarray(r * cols, (r + 1) * cols);
      expect(y.every((v) => Number.isNaN(v)), `layerNorm row ${r}: y all NaN`).toBe(bad);
      expect(y.every(Number.isFinite), `layerNorm row ${r}: y finite`).toBe(!bad);
      expect(Number.isFinite(ln.n.rstd[r]), `layerNorm row ${r}: rstd finite`).toBe(!bad);
      const dx = ln.nb.dx.data.subarray(r * cols, (r + 1) * cols);
      expect(dx.every(Number.isFinite), `layerNorm row ${r}: dx finite`).toBe(!bad);
      const ry = rn.n.y.data.subarray(r * cols, (r + 1) * cols);
      expect(ry.every(Number.isFinite), `rmsNorm row ${r}: y finite`).toBe(!bad);
    }
    // the parameter gradients sum over all rows: a NaN row poisons them
    expect(ln.nb.dweight!.some(Number.isNaN)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// The reference backward (the oracle of the tests above) against finite differences of its forward

interface GradientCase {
  name: string;
  shape: number[];
  normalizedShape: number | number[];
  weight: boolean;
  bias: boolean;
  eps?: number;
  /** explicit grads option */
  grads?: { weight?: boolean; bias?: boolean };
}

function setup(c: GradientCase, seed: number) {
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

const LAYER_NORM_CASES: GradientCase[] = [
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

    expectClose(bwd.dx.data, numericGradient(loss, x), FD_TOL, 'dx');
    const wantWeight = grads?.weight ?? c.weight;
    const wantBias = grads?.bias ?? c.weight;
    expect(bwd.dweight !== undefined).toBe(wantWeight);
    expect(bwd.dbias !== undefined).toBe(wantBias);
    // dweight without weight: the gradient at weight = 1 (the loss then passes w = ones explicitly)
    const lossW = () => dot(reference.layerNorm(xt, c.normalizedShape, { weight: w, bias: bias ? b : undefined, eps: c.eps }).y.data, g);
    const lossB = () => dot(reference.layerNorm(xt, c.normalizedShape, { weight: weight ? w : undefined, bias: b, eps: c.eps }).y.data, g);
    if (wantWeight) expectClose(bwd.dweight!, numericGradient(lossW, w), FD_TOL, 'dweight');
    if (wantBias) expectClose(bwd.dbias!, numericGradient(lossB, b), FD_TOL, 'dbias');
  });

  it('the finite-difference check itself detects a wrong gradient (dx of a wrong eps)', () => {
    const c = LAYER_NORM_CASES[6];
    const { x, g, weight, bias, xt, dy } = setup(c, 1006);
    const loss = () => dot(reference.layerNorm(xt, c.normalizedShape, { weight, bias, eps: c.eps }).y.data, g);
    const { mean, rstd } = reference.layerNorm(xt, c.normalizedShape, { weight, bias }); // default eps, not 0.5
    const wrong = reference.layerNormBackward(dy, xt, { mean, rstd }, c.normalizedShape, { weight });
    expect(() => expectClose(wrong.dx.data, numericGradient(loss, x), FD_TOL, 'dx')).toThrow(/scaled error/);
  });
});

const RMS_NORM_CASES: GradientCase[] = [
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
    expectClose(bwd.dx.data, numericGradient(loss, x), FD_TOL, 'dx');
    const wantWeight = c.grads?.weight ?? c.weight;
    expect(bwd.dweight !== undefined).toBe(wantWeight);
    expect('dbias' in bwd).toBe(false);
    if (wantWeight) expectClose(bwd.dweight!, numericGradient(lossW, w), FD_TOL, 'dweight');
  });
});
