// Residual add + norm (addLayerNorm, addRmsNorm and their backwards) and weightOffset:
//  - the fused native call against the unfused native sequence a user would write (a typed-array
//    add loop, then the plain norm; the plain backward, then dx + dSum): bitwise, since the fused
//    kernels do the same operations in the same order;
//  - weightOffset against the plain op given weightOffset + weight as its weight: bitwise;
//  - native against the float64 reference (which composes the plain reference ops) within the
//    tolerance policy of helpers.TOL, on vector tails, cache-resident and blocked huge rows, with
//    ill-conditioned residual streams (a large offset in x + residual; x ≈ −residual);
//  - every backward output against central finite differences of its forward (float64, both backends);
//  - bitwise the same on every ISA path × thread count, dresidualBias of huge rows included.
import { describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import * as reference from '../src/reference';
import type { FloatArray, Tensor } from '../src/api/types';
import {
  CTORS, DTYPES, FD_TOL, dot, dxTerms, expectBackwardClose, expectBitwiseEqual, expectClose, expectForwardClose, isaThreadConfigs,
  makeRng, numericGradient, randn, requireNative, tensor, TOL, type DType,
} from './helpers';

requireNative();

type Api = typeof reference;
const BACKENDS: Array<[string, Api]> = [['native', fastnorm as unknown as Api], ['reference', reference]];

interface Case {
  dtype: DType;
  rows: number;
  cols: number;
  weight?: boolean;
  bias?: boolean;
  residualBias?: boolean;
  weightOffset?: number;
  /** x ~ N(offset, 1), residual ~ N(residualOffset, 1) */
  offset?: number;
  residualOffset?: number;
  seed?: number;
}

function inputs(c: Case) {
  const rng = makeRng(c.seed ?? c.rows * 131 + c.cols);
  const n = c.rows * c.cols;
  const shape = [c.rows, c.cols];
  return {
    x: tensor(randn(rng, c.dtype, n, 1, c.offset ?? 0.5), shape),
    residual: tensor(randn(rng, c.dtype, n, 2, c.residualOffset ?? 0.75), shape),
    dy: tensor(randn(rng, c.dtype, n), shape),
    dSum: tensor(randn(rng, c.dtype, n), shape),
    weight: c.weight === false ? undefined : randn(rng, c.dtype, c.cols, c.weightOffset ? 0.1 : 0.5, c.weightOffset ? 0 : 1),
    bias: c.bias === false ? undefined : randn(rng, c.dtype, c.cols),
    residualBias: c.residualBias ? randn(rng, c.dtype, c.cols, 0.3) : undefined,
  };
}

/** The stream a user's add loop computes in the data type: (x + residual) + residualBias, each add rounded. */
function addLoop(x: Tensor, residual: Tensor, residualBias: FloatArray | undefined, cols: number): Tensor {
  const s = new (x.data.constructor as Float64ArrayConstructor)(x.data.length);
  for (let i = 0; i < s.length; i++) s[i] = x.data[i] + residual.data[i];
  if (residualBias) for (let i = 0; i < s.length; i++) s[i] += residualBias[i % cols];
  return { data: s, shape: x.shape.slice() };
}

const label = (c: Case) => `${c.dtype} [${c.rows}, ${c.cols}]${c.residualBias ? ' residualBias' : ''}${c.weightOffset ? ` offset ${c.weightOffset}` : ''}`;
const COLS = [1, 15, 16, 17, 33, 767, 768, 769, 4096];
const HUGE_COLS = [70000]; // beyond the cache-resident row size: the blocked path
const GRID: Case[] = DTYPES.flatMap((dtype) => [...COLS, ...HUGE_COLS].flatMap((cols) => [0, 1, 3, 64]
  .filter((rows) => rows * cols <= 1 << 18)
  .flatMap((rows) => [
    { dtype, rows, cols, residualBias: true },
    { dtype, rows, cols, weightOffset: 1, bias: false },
    { dtype, rows, cols, weight: false, bias: false },
  ])));

describe('addLayerNorm / addRmsNorm: fused equals the unfused native sequence, bitwise', () => {
  it.each(GRID.map((c) => [label(c), c] as const))('%s: forward y, sum, statistics; backward dx (+ dSum), dweight, dbias', (_l, c) => {
    const { x, residual, dy, dSum, weight, bias, residualBias } = inputs(c);
    const s = addLoop(x, residual, residualBias, c.cols);
    const wo = c.weightOffset;
    // LayerNorm
    const fused = fastnorm.addLayerNorm(x, residual, c.cols, { weight, bias, residualBias, weightOffset: wo });
    const plain = fastnorm.layerNorm(s, c.cols, { weight, bias, weightOffset: wo });
    expectBitwiseEqual(fused.sum.data, s.data, `${label(c)} sum`);
    expectBitwiseEqual(fused.y.data, plain.y.data, `${label(c)} y`);
    expectBitwiseEqual(fused.mean, plain.mean, `${label(c)} mean`);
    expectBitwiseEqual(fused.rstd, plain.rstd, `${label(c)} rstd`);
    const g = fastnorm.addLayerNormBackward(dy, fused.sum, fused, c.cols, { weight, weightOffset: wo, dSum, grads: { weight: true, bias: true } });
    const gp = fastnorm.layerNormBackward(dy, s, plain, c.cols, { weight, weightOffset: wo, grads: { weight: true, bias: true } });
    const dx = gp.dx.data.map((v, i) => v + dSum.data[i]);
    expectBitwiseEqual(g.dx.data, dx, `${label(c)} dx`);
    expectBitwiseEqual(g.dweight!, gp.dweight!, `${label(c)} dweight`);
    expectBitwiseEqual(g.dbias!, gp.dbias!, `${label(c)} dbias`);
    // RMSNorm
    const fr = fastnorm.addRmsNorm(x, residual, c.cols, { weight, residualBias, weightOffset: wo });
    const pr = fastnorm.rmsNorm(s, c.cols, { weight, weightOffset: wo });
    expectBitwiseEqual(fr.sum.data, s.data, `${label(c)} rms sum`);
    expectBitwiseEqual(fr.y.data, pr.y.data, `${label(c)} rms y`);
    expectBitwiseEqual(fr.rstd, pr.rstd, `${label(c)} rms rstd`);
    const gr = fastnorm.addRmsNormBackward(dy, fr.sum, fr, c.cols, { weight, weightOffset: wo, dSum, grads: { weight: true } });
    const gpr = fastnorm.rmsNormBackward(dy, s, pr, c.cols, { weight, weightOffset: wo, grads: { weight: true } });
    expectBitwiseEqual(gr.dx.data, gpr.dx.data.map((v, i) => v + dSum.data[i]), `${label(c)} rms dx`);
    expectBitwiseEqual(gr.dweight!, gpr.dweight!, `${label(c)} rms dweight`);
    // without dSum the add-norm backward is the plain backward of sum
    const g0 = fastnorm.addRmsNormBackward(dy, fr.sum, fr, c.cols, { weight, weightOffset: wo });
    expectBitwiseEqual(g0.dx.data, gpr.dx.data, `${label(c)} rms dx without dSum`);
  });
});

describe('weightOffset: the layer scales by weightOffset + weight', () => {
  it.each(DTYPES)('%s: equals the plain op with weight + offset as its weight (bitwise); dweight does not depend on the offset', (dtype) => {
    for (const cols of [17, 768, 70000]) {
      const c: Case = { dtype, rows: 3, cols, weightOffset: 1 };
      const { x, dy, weight, bias } = inputs(c);
      const shifted = weight!.map((w) => w + 1); // rounded to the dtype once, as the kernels do
      for (const [name, api] of BACKENDS) {
        const at = `${name} ${dtype} cols=${cols}`;
        const a = api.layerNorm(x, cols, { weight, bias, weightOffset: 1 });
        const b = api.layerNorm(x, cols, { weight: shifted, bias });
        const ga = api.layerNormBackward(dy, x, a, cols, { weight, weightOffset: 1 });
        const gb = api.layerNormBackward(dy, x, b, cols, { weight: shifted });
        const ra = api.rmsNorm(x, cols, { weight, weightOffset: 1 });
        const rb = api.rmsNorm(x, cols, { weight: shifted });
        const gra = api.rmsNormBackward(dy, x, ra, cols, { weight, weightOffset: 1 });
        const grb = api.rmsNormBackward(dy, x, rb, cols, { weight: shifted });
        if (name === 'native' || dtype === 'float64') {
          // the reference adds the offset in float64: for float32 data its scale is not rounded
          expectBitwiseEqual(a.y.data, b.y.data, `${at} layerNorm y`);
          expectBitwiseEqual(ga.dx.data, gb.dx.data, `${at} layerNorm dx`);
          expectBitwiseEqual(ra.y.data, rb.y.data, `${at} rmsNorm y`);
          expectBitwiseEqual(gra.dx.data, grb.dx.data, `${at} rmsNorm dx`);
        } else {
          expectClose(a.y.data, b.y.data, TOL.F32_FORWARD, `${at} layerNorm y`);
          expectClose(ra.y.data, rb.y.data, TOL.F32_FORWARD, `${at} rmsNorm y`);
        }
        expectBitwiseEqual(ga.dweight!, gb.dweight!, `${at} layerNorm dweight`);
        expectBitwiseEqual(ga.dbias!, gb.dbias!, `${at} layerNorm dbias`);
        expectBitwiseEqual(gra.dweight!, grb.dweight!, `${at} rmsNorm dweight`);
      }
    }
  });

  it('Gemma: zero weights with weightOffset 1 are the unscaled norm', () => {
    const x = tensor(randn(makeRng(7), 'float32', 4 * 64), [4, 64]);
    const a = fastnorm.rmsNorm(x, 64, { weight: new Float32Array(64), weightOffset: 1 });
    expectBitwiseEqual(a.y.data, fastnorm.rmsNorm(x, 64).y.data, 'y');
  });
});

/** Native against reference for one case (forward and backward, dresidualBias included). */
function checkAgainstReference(c: Case, f64Tol: number = TOL.F64) {
  const { x, residual, dy, dSum, weight, bias, residualBias } = inputs(c);
  const wo = c.weightOffset;
  const at = label(c);
  const opts = { weight, bias, residualBias, weightOffset: wo };
  const n = fastnorm.addLayerNorm(x, residual, c.cols, opts);
  const r = reference.addLayerNorm(x, residual, c.cols, opts);
  expectForwardClose(c.dtype, n.sum.data, r.sum.data, `${at} sum`, f64Tol);
  expectForwardClose(c.dtype, n.mean, r.mean, `${at} mean`, f64Tol);
  expectForwardClose(c.dtype, n.rstd, r.rstd, `${at} rstd`, f64Tol);
  expectForwardClose(c.dtype, n.y.data, r.y.data, `${at} y`, f64Tol);
  // the backward from the same (reference) saved forward
  const bopts = { weight, weightOffset: wo, dSum, grads: { weight: true, bias: true, residualBias: true } };
  const nb = fastnorm.addLayerNormBackward(dy, r.sum, r, c.cols, bopts);
  const rb = reference.addLayerNormBackward(dy, r.sum, r, c.cols, bopts);
  const scale = (i: number) => r.rstd[Math.floor(i / c.cols)] * (weight ? weight[i % c.cols] + (wo ?? 0) : 1);
  const l2Floor = dxTerms(dy.data, scale).l2;
  expectBackwardClose(c.dtype, nb.dx.data, rb.dx.data, `${at} dx`, { f64Tol, l2Floor });
  expectBackwardClose(c.dtype, nb.dweight, rb.dweight, `${at} dweight`, { f64Tol });
  expectBackwardClose(c.dtype, nb.dbias, rb.dbias, `${at} dbias`, { f64Tol });
  expectBackwardClose(c.dtype, nb.dresidualBias, rb.dresidualBias, `${at} dresidualBias`, { f64Tol, f64Floor: Math.sqrt(c.rows) });
  const nr = fastnorm.addRmsNorm(x, residual, c.cols, { weight, residualBias, weightOffset: wo });
  const rr = reference.addRmsNorm(x, residual, c.cols, { weight, residualBias, weightOffset: wo });
  expectForwardClose(c.dtype, nr.sum.data, rr.sum.data, `${at} rms sum`, f64Tol);
  expectForwardClose(c.dtype, nr.rstd, rr.rstd, `${at} rms rstd`, f64Tol);
  expectForwardClose(c.dtype, nr.y.data, rr.y.data, `${at} rms y`, f64Tol);
  const ropts = { weight, weightOffset: wo, dSum, grads: { weight: true, residualBias: true } };
  const nrb = fastnorm.addRmsNormBackward(dy, rr.sum, rr, c.cols, ropts);
  const rrb = reference.addRmsNormBackward(dy, rr.sum, rr, c.cols, ropts);
  const rscale = (i: number) => rr.rstd[Math.floor(i / c.cols)] * (weight ? weight[i % c.cols] + (wo ?? 0) : 1);
  expectBackwardClose(c.dtype, nrb.dx.data, rrb.dx.data, `${at} rms dx`, { f64Tol, l2Floor: dxTerms(dy.data, rscale).l2 });
  expectBackwardClose(c.dtype, nrb.dweight, rrb.dweight, `${at} rms dweight`, { f64Tol });
  expectBackwardClose(c.dtype, nrb.dresidualBias, rrb.dresidualBias, `${at} rms dresidualBias`, { f64Tol, f64Floor: Math.sqrt(c.rows) });
}

describe('add-norms: native vs reference', () => {
  it.each(GRID.map((c) => [label(c), c] as const))('%s', (_l, c) => checkAgainstReference(c));

  it.each(DTYPES)('%s: ill-conditioned streams: a large offset in x + residual, and cancellation x ≈ −residual', (dtype) => {
    for (const cols of [33, 768, 70000]) {
      // the stream offset by 2e4: its mean is a cancellation of the fused moments' shift
      checkAgainstReference({ dtype, rows: 3, cols, residualBias: true, offset: 1e4, residualOffset: 1e4 }, TOL.F64_OFFSET);
      // x ≈ 1e4, residual ≈ −1e4 + 1: the stream is the small difference (exact in the data type)
      checkAgainstReference({ dtype, rows: 3, cols, residualBias: true, offset: 1e4, residualOffset: -1e4 + 1 }, TOL.F64_OFFSET);
    }
  });

  it.each(DTYPES)('%s: non-finite values in the stream stay in their rows', (dtype) => {
    const c: Case = { dtype, rows: 4, cols: 40 };
    const { x, residual } = inputs(c);
    x.data[45] = Infinity;
    residual.data[45] = -Infinity; // row 1: Inf − Inf = NaN
    residual.data[130] = NaN; // row 3
    for (const [name, api] of BACKENDS) {
      const r = api.addLayerNorm(x, residual, 40);
      for (const row of [0, 2]) expect(r.y.data.slice(row * 40, row * 40 + 40).every(Number.isFinite), `${name} row ${row}`).toBe(true);
      for (const row of [1, 3]) expect(Number.isNaN(r.rstd[row]) || Number.isNaN(r.mean[row]), `${name} row ${row}`).toBe(true);
      expect(Number.isNaN(r.sum.data[45]), `${name} sum`).toBe(true);
    }
  });
});

describe('add-norms: gradients by central finite differences (float64)', () => {
  // loss = Σ dy·y + Σ dSum·sum: its gradient by x and by residual is the backward's dx, by
  // residualBias its dresidualBias, by weight and bias dweight and dbias.
  it.each(BACKENDS)('%s: addLayerNorm and addRmsNorm, with residualBias and weightOffset', (_b, api) => {
    for (const centered of [true, false]) {
      for (const weightOffset of [0, 1]) {
        const c: Case = { dtype: 'float64', rows: 3, cols: 7, residualBias: true, weightOffset, seed: 17 };
        const { x, residual, dy, dSum, weight, bias, residualBias } = inputs(c);
        const forward = () => centered
          ? api.addLayerNorm(x, residual, 7, { weight, bias, residualBias, weightOffset })
          : api.addRmsNorm(x, residual, 7, { weight, residualBias, weightOffset });
        const loss = () => {
          const r = forward();
          return dot(dy.data, r.y.data) + dot(dSum.data, r.sum.data);
        };
        const fwd = forward();
        const grads = { weight: true, bias: centered, residualBias: true };
        const g = centered
          ? api.addLayerNormBackward(dy, fwd.sum, fwd as unknown as { mean: Float64Array; rstd: Float64Array }, 7, { weight, weightOffset, dSum, grads })
          : api.addRmsNormBackward(dy, fwd.sum, fwd, 7, { weight, weightOffset, dSum, grads: { weight: true, residualBias: true } });
        const at = `${centered ? 'addLayerNorm' : 'addRmsNorm'} offset ${weightOffset}`;
        expectClose(g.dx.data, numericGradient(loss, x.data as Float64Array), FD_TOL, `${at} dx (by x)`);
        expectClose(g.dx.data, numericGradient(loss, residual.data as Float64Array), FD_TOL, `${at} dx (by residual)`);
        expectClose(g.dweight!, numericGradient(loss, weight as Float64Array), FD_TOL, `${at} dweight`);
        if (centered) expectClose(g.dbias!, numericGradient(loss, bias as Float64Array), FD_TOL, `${at} dbias`);
        expectClose((g as { dresidualBias: FloatArray }).dresidualBias, numericGradient(loss, residualBias as Float64Array), FD_TOL,
          `${at} dresidualBias`);
      }
    }
  });

  it.each(BACKENDS)('%s: layerNorm and rmsNorm with weightOffset', (_b, api) => {
    const c: Case = { dtype: 'float64', rows: 2, cols: 9, weightOffset: 1, seed: 23 };
    const { x, dy, weight, bias } = inputs(c);
    const lossLn = () => dot(dy.data, api.layerNorm(x, 9, { weight, bias, weightOffset: 1 }).y.data);
    const lossRms = () => dot(dy.data, api.rmsNorm(x, 9, { weight, weightOffset: 1 }).y.data);
    const gl = api.layerNormBackward(dy, x, api.layerNorm(x, 9), 9, { weight, weightOffset: 1 });
    const gr = api.rmsNormBackward(dy, x, api.rmsNorm(x, 9), 9, { weight, weightOffset: 1 });
    expectClose(gl.dx.data, numericGradient(lossLn, x.data as Float64Array), FD_TOL, 'layerNorm dx');
    expectClose(gl.dweight!, numericGradient(lossLn, weight as Float64Array), FD_TOL, 'layerNorm dweight');
    expectClose(gr.dx.data, numericGradient(lossRms, x.data as Float64Array), FD_TOL, 'rmsNorm dx');
    expectClose(gr.dweight!, numericGradient(lossRms, weight as Float64Array), FD_TOL, 'rmsNorm dweight');
  });
});

describe('add-norms: bitwise the same on every ISA path × thread count', () => {
  const { expectSameBitsEverywhere } = isaThreadConfigs();
  const SHAPES: Array<[DType, number, number]> = DTYPES.flatMap((d): Array<[DType, number, number]> =>
    [[d, 64, 768], [d, 257, 33], [d, 3, 70000], [d, 40, 4096]]);
  it.each(SHAPES)('%s [%i, %i]: forward and backward with residualBias, dSum and weightOffset', (dtype, rows, cols) => {
    const c: Case = { dtype, rows, cols, residualBias: true, weightOffset: 1 };
    const { x, residual, dy, dSum, weight, bias, residualBias } = inputs(c);
    expectSameBitsEverywhere(() => {
      const f = fastnorm.addLayerNorm(x, residual, cols, { weight, bias, residualBias, weightOffset: 1 });
      const g = fastnorm.addLayerNormBackward(dy, f.sum, f, cols, { weight, weightOffset: 1, dSum, grads: { residualBias: true } });
      const fr = fastnorm.addRmsNorm(x, residual, cols, { weight, residualBias, weightOffset: 1 });
      const gr = fastnorm.addRmsNormBackward(dy, fr.sum, fr, cols, { weight, weightOffset: 1, dSum, grads: { residualBias: true } });
      return { y: f.y.data, sum: f.sum.data, mean: f.mean, rstd: f.rstd, dx: g.dx.data, dweight: g.dweight!, dbias: g.dbias!,
        drb: g.dresidualBias!, ry: fr.y.data, rrstd: fr.rstd, rdx: gr.dx.data, rdw: gr.dweight!, rdrb: gr.dresidualBias! };
    }, `${dtype} [${rows}, ${cols}]`);
  });
});

describe('add-norms: empty tensors', () => {
  it.each(BACKENDS)('%s: rows = 0 gives empty outputs and zero parameter gradients', (_b, api) => {
    for (const dtype of DTYPES) {
      const C = CTORS[dtype];
      const e = { data: new C(0), shape: [0, 8] };
      const f = api.addLayerNorm(e, e, 8, { residualBias: new C(8).fill(1) });
      expect(f.sum.data.length + f.y.data.length + f.mean.length).toBe(0);
      const g = api.addLayerNormBackward(e, e, f, 8, { weight: new C(8).fill(1), dSum: e, grads: { residualBias: true } });
      expect(Array.from(g.dresidualBias!)).toEqual(new Array(8).fill(0));
      expect(Array.from(g.dweight!)).toEqual(new Array(8).fill(0));
    }
  });
});
