// Half-precision layerNorm, rmsNorm and their backwards (issue 11): float16/bfloat16 x and dy in
// a Uint16Array, y/dx in the same format, weight/bias in that format or float32, dweight/dbias in
// the parameters' dtype, mean/rstd float32.
//  - native, every path: the bits of the float32 op on the widened inputs, each output rounded
//    once (the kernels compute exactly as the float32 path does); float32 dweight/dbias and the
//    statistics are those bits themselves, half dweight/dbias within 1 ulp of them (they round
//    the double sums once, never through float32);
//  - against the reference (float64 on the decoded inputs, rounded once): within 1 ulp of the
//    format, exact where the result is representable;
//  - every ISA path and thread count bitwise equal, subnormal, NaN and ±Inf inputs and outputs
//    included, and rows long enough for the huge-row blocks;
//  - out buffers (in place too), promises, and what is refused.
import { describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import * as promises from '../src/promises';
import * as reference from '../src/reference';
import type { HalfDtype, Tensor } from '../src/api/types';
import { expectHalvesEqual, expectParamOfKind, expectWithinUlp, FORMATS, narrow, type ParamKind, PARAMS, widen } from './half-helpers';
import { isaThreadConfigs, makeRng } from './helpers';

type Api = typeof fastnorm;
interface Case {
  rows: number;
  cols: number;
  x: Float32Array;
  dy: Float32Array;
  weight: Float32Array;
  bias: Float32Array;
}

function makeCase(rows: number, cols: number, seed: number, scale = 1, offset = 0): Case {
  const rng = makeRng(seed);
  const values = (n: number, s: number, o: number) => Float32Array.from({ length: n }, () => o + s * rng.normal());
  return { rows, cols, x: values(rows * cols, scale, offset), dy: values(rows * cols, 1, 0), weight: values(cols, 0.5, 1),
    bias: values(cols, 0.2, 0) };
}


/** A case's inputs rounded to format f: the half tensors and parameters, and the float32 values they hold. */
function halfInputs(f: HalfDtype, c: Case, params: ParamKind) {
  const xh = narrow(f, c.x), dyh = narrow(f, c.dy);
  const wh = narrow(f, c.weight), bh = narrow(f, c.bias);
  const shape = [c.rows, c.cols];
  const x: Tensor<Uint16Array> = { data: xh, shape, dtype: f };
  const dy: Tensor<Uint16Array> = { data: dyh, shape, dtype: f };
  // float32 parameters hold the half values too, so every kind computes with the same numbers
  const weight = params === 'none' ? undefined : params === 'half' ? wh : widen(f, wh);
  const bias = params === 'none' ? undefined : params === 'half' ? bh : widen(f, bh);
  const wide = { x: { data: widen(f, xh), shape }, dy: { data: widen(f, dyh), shape },
    weight: weight && widen(f, wh), bias: bias && widen(f, bh) };
  return { x, dy, weight, bias, wide };
}

/** Every op's half result and, on the same numbers, the float32 op's. */
function runAll(api: Api, f: HalfDtype, c: Case, params: ParamKind) {
  const { x, dy, weight, bias, wide } = halfInputs(f, c, params);
  const ln = api.layerNorm(x, c.cols, { weight, bias });
  const lnb = api.layerNormBackward(dy, x, ln, c.cols, { weight, bias });
  const rms = api.rmsNorm(x, c.cols, { weight });
  const rmsb = api.rmsNormBackward(dy, x, rms, c.cols, { weight });
  return { ln, lnb, rms, rmsb, wide };
}

describe.each(FORMATS)('%s: the float32 path on the widened inputs, rounded once', (f) => {
  it.each(PARAMS)('parameters %s', (params) => {
    for (const [rows, cols, scale, offset] of [[5, 37, 1, 0], [16, 768, 2, 3], [2, 40000, 1, 0.5]] as const) {
      const c = makeCase(rows, cols, rows * cols, scale, offset);
      const h = runAll(fastnorm, f, c, params);
      const { wide } = h;
      const ln = fastnorm.layerNorm(wide.x, cols, { weight: wide.weight, bias: wide.bias });
      const lnb = fastnorm.layerNormBackward(wide.dy, wide.x, ln, cols, { weight: wide.weight, bias: wide.bias });
      const rms = fastnorm.rmsNorm(wide.x, cols, { weight: wide.weight });
      const rmsb = fastnorm.rmsNormBackward(wide.dy, wide.x, rms, cols, { weight: wide.weight });
      const what = `[${rows}, ${cols}]`;
      expect(h.ln.y.dtype).toBe(f);
      expect(h.lnb.dx.dtype).toBe(f);
      expectHalvesEqual(h.ln.y.data, narrow(f, ln.y.data), `${what} layerNorm y`);
      expect(h.ln.mean).toEqual(ln.mean);
      expect(h.ln.rstd).toEqual(ln.rstd);
      expect(h.ln.mean).toBeInstanceOf(Float32Array);
      expectHalvesEqual(h.lnb.dx.data, narrow(f, lnb.dx.data), `${what} layerNormBackward dx`);
      expectHalvesEqual(h.rms.y.data, narrow(f, rms.y.data), `${what} rmsNorm y`);
      expect(h.rms.rstd).toEqual(rms.rstd);
      expectHalvesEqual(h.rmsb.dx.data, narrow(f, rmsb.dx.data), `${what} rmsNormBackward dx`);
      if (params === 'none') {
        expect(h.lnb.dweight).toBeUndefined();
        continue;
      }
      for (const [got, want, name] of [[h.lnb.dweight, lnb.dweight, 'dweight'], [h.lnb.dbias, lnb.dbias, 'dbias'],
        [h.rmsb.dweight, rmsb.dweight, 'rms dweight']] as const) expectParamOfKind(f, params, got, want, `${what} ${name}`);
    }
  });
});

describe.each(FORMATS)('%s: native against the reference on the same half inputs', (f) => {
  it.each(PARAMS)('parameters %s: within 1 ulp of the format', (params) => {
    const c = makeCase(8, 300, 7, 1.5, -0.5);
    const n = runAll(fastnorm, f, c, params), r = runAll(reference as unknown as Api, f, c, params);
    expectWithinUlp(f, n.ln.y.data, r.ln.y.data, 'layerNorm y');
    expectWithinUlp(f, n.lnb.dx.data, r.lnb.dx.data, 'layerNormBackward dx');
    expectWithinUlp(f, n.rms.y.data, r.rms.y.data, 'rmsNorm y');
    expectWithinUlp(f, n.rmsb.dx.data, r.rmsb.dx.data, 'rmsNormBackward dx');
    for (let i = 0; i < c.rows; i++) {
      expect(n.ln.mean[i]).toBeCloseTo(r.ln.mean[i], 5);
      expect(n.ln.rstd[i] / r.ln.rstd[i]).toBeCloseTo(1, 5);
    }
    if (params === 'half') {
      expectWithinUlp(f, n.lnb.dweight as Uint16Array, r.lnb.dweight as Uint16Array, 'dweight');
      expectWithinUlp(f, n.lnb.dbias as Uint16Array, r.lnb.dbias as Uint16Array, 'dbias');
      expectWithinUlp(f, n.rmsb.dweight as Uint16Array, r.rmsb.dweight as Uint16Array, 'rms dweight');
    }
  });

  it('exact where the result is representable: ±1 rows, weight and bias powers of two', () => {
    const cols = 64, rows = 3;
    const x = narrow(f, Float32Array.from({ length: rows * cols }, (_, i) => (i % 2 ? 3 : -1) * (1 + (i % 3 === 0 ? 0 : 0))));
    const weight = narrow(f, Float32Array.from({ length: cols }, (_, j) => 2 ** ((j % 5) - 2)));
    const bias = narrow(f, Float32Array.from({ length: cols }, (_, j) => (j % 3) - 1));
    for (const api of [fastnorm, reference as unknown as Api]) {
      const y = api.layerNorm({ data: x, shape: [rows, cols], dtype: f }, cols, { weight, bias, eps: 0 }).y.data;
      // x̂ = ±1 exactly (mean 1, variance 4, rstd 1/2): y = ±w + b
      const want = Float32Array.from({ length: rows * cols }, (_, i) => (i % 2 ? 1 : -1) * 2 ** ((i % cols % 5) - 2) + (i % cols % 3) - 1);
      expectHalvesEqual(y, narrow(f, want), 'y');
    }
  });
});

describe('every ISA path and thread count: the same bits', () => {
  const { expectSameBitsEverywhere } = isaThreadConfigs();
  const asBits = (a: Uint16Array | Float32Array) => (a instanceof Uint16Array ? Float32Array.from(a) : a);
  it.each(FORMATS)('%s: subnormal, NaN and ±Inf inputs and outputs, huge rows', (f) => {
    for (const [rows, cols] of [[64, 1000], [3, 40000]] as const) {
      const c = makeCase(rows, cols, 11);
      // row 1 tiny (subnormal halves in and, with a tiny weight, out), row 2 with NaN and ±Inf
      const tiny = f === 'float16' ? 3e-6 : 1e-39;
      for (let j = 0; j < cols; j++) c.x[cols + j] *= tiny;
      c.x[2 * cols] = NaN;
      c.x[2 * cols + 1] = Infinity;
      c.dy[3 * cols + 2] = -Infinity;
      for (let j = 0; j < cols; j += 7) c.weight[j] = f === 'float16' ? 1e-6 : 1e-38;
      for (const params of PARAMS) {
        const { x, dy, weight, bias } = halfInputs(f, c, params);
        expectSameBitsEverywhere(() => {
          const ln = fastnorm.layerNorm(x, cols, { weight, bias });
          const lnb = fastnorm.layerNormBackward(dy, x, ln, cols, { weight, bias });
          const rms = fastnorm.rmsNorm(x, cols, { weight });
          const rmsb = fastnorm.rmsNormBackward(dy, x, rms, cols, { weight });
          const out: Record<string, Float32Array> = { y: asBits(ln.y.data), mean: ln.mean, rstd: ln.rstd, dx: asBits(lnb.dx.data),
            ry: asBits(rms.y.data), rrstd: rms.rstd, rdx: asBits(rmsb.dx.data) };
          if (lnb.dweight) Object.assign(out, { dw: asBits(lnb.dweight), db: asBits(lnb.dbias!), rdw: asBits(rmsb.dweight!) });
          return out;
        }, `${f} [${rows}, ${cols}] params ${params}`);
      }
    }
  });

  it('subnormal outputs are kept (not flushed) on every path', () => {
    const cols = 32;
    const x = narrow('float16', Float32Array.from({ length: cols }, (_, j) => (j % 2 ? 1 : -1)));
    const weight = narrow('float16', new Float32Array(cols).fill(2 ** -20)); // y = ±2^-20: a float16 subnormal
    expectSameBitsEverywhere(() => {
      const y = fastnorm.layerNorm({ data: x, shape: [1, cols], dtype: 'float16' }, cols, { weight, eps: 0 }).y.data;
      expect(widen('float16', y)[1]).toBe(2 ** -20);
      return { y: Float32Array.from(y) };
    }, 'subnormal y');
  });
});

describe.each([['native', fastnorm], ['reference', reference as unknown as Api]] as const)('%s: buffers, promises, refusals', (_name, api) => {
  const f: HalfDtype = 'bfloat16';
  const c = makeCase(4, 96, 3);

  it('out buffers, y in place over x', () => {
    const { x, dy, weight, bias } = halfInputs(f, c, 'half');
    const want = api.layerNorm(x, c.cols, { weight, bias });
    const y = new Uint16Array(x.data.length), mean = new Float32Array(c.rows), rstd = new Float32Array(c.rows);
    const r = api.layerNorm(x, c.cols, { weight, bias, out: { y, mean, rstd } });
    expect(r.y.data).toBe(y);
    expectHalvesEqual(y, want.y.data, 'out.y');
    const inPlace = x.data.slice();
    api.rmsNorm({ data: inPlace, shape: x.shape, dtype: f }, c.cols, { weight, out: { y: inPlace } });
    expectHalvesEqual(inPlace, api.rmsNorm(x, c.cols, { weight }).y.data, 'in place');
    const dx = new Uint16Array(x.data.length), dweight = new Uint16Array(c.cols), dbias = new Uint16Array(c.cols);
    const b = api.layerNormBackward(dy, x, want, c.cols, { weight, bias, out: { dx, dweight, dbias } });
    expect(b.dx.data).toBe(dx);
    expect(b.dweight).toBe(dweight);
    expectHalvesEqual(dx, api.layerNormBackward(dy, x, want, c.cols, { weight, bias }).dx.data, 'out.dx');
  });

  it('refuses what does not fit', () => {
    const { x, dy, weight, bias } = halfInputs(f, c, 'half');
    const saved = api.layerNorm(x, c.cols, { weight, bias });
    const f32 = { data: widen(f, x.data), shape: x.shape };
    expect(() => api.layerNormBackward(f32 as never, x, saved, c.cols)).toThrow(TypeError); // float32 dy, half x
    expect(() => api.layerNormBackward(dy, f32 as never, saved as never, c.cols)).toThrow(TypeError);
    expect(() => api.layerNormBackward({ ...dy, dtype: 'float16' }, x, saved, c.cols)).toThrow(/dy.dtype is 'float16' but x.dtype is 'bfloat16'/);
    expect(() => api.layerNorm({ data: x.data, shape: x.shape } as never, c.cols)).toThrow(/x.dtype must be 'float16' or 'bfloat16'/);
    expect(() => api.layerNorm({ ...x, dtype: 'float32' } as never, c.cols)).toThrow(TypeError);
    expect(() => api.layerNorm(x, c.cols, { out: { y: new Float32Array(x.data.length) } as never })).toThrow(/out.y must be a Uint16Array/);
    expect(() => api.layerNorm(x, c.cols, { out: { mean: new Uint16Array(c.rows) } as never })).toThrow(/out.mean must be a Float32Array/);
    expect(() => api.layerNorm(x, c.cols, { weight: new Float64Array(c.cols) as never })).toThrow(/weight must be a Float32Array/);
    expect(() => api.layerNorm(x, c.cols, { weight, bias: widen(f, bias as Uint16Array) as never })).toThrow(/bias must be a Uint16Array/);
    expect(() => api.layerNormBackward(dy, x, saved, c.cols, { weight, out: { dweight: new Float32Array(c.cols) } })).toThrow(TypeError);
    expect(() => api.layerNorm(x, c.cols, { out: { y: new Uint16Array(3) } })).toThrow(RangeError);
    // a Uint16Array is half bits only with its format named; other integer arrays are not tensors
    expect(() => api.groupNorm({ data: x.data, shape: [4, 96] } as never, 4)).toThrow(/x.dtype must be 'float16' or 'bfloat16'/);
    expect(() => api.instanceNorm({ data: new Int16Array(8), shape: [2, 4], dtype: f } as never)).toThrow(/x.data must be a Float32Array, Float64Array or Uint16Array/);
  });
});

describe('promises', () => {
  it.each(FORMATS)('%s: the same bits as the sync ops', async (f) => {
    const c = makeCase(6, 130, 5);
    const { x, dy, weight, bias } = halfInputs(f, c, 'half');
    const ln = fastnorm.layerNorm(x, c.cols, { weight, bias });
    const p = await promises.layerNorm(x, c.cols, { weight, bias });
    expectHalvesEqual(p.y.data, ln.y.data, 'y');
    expect(p.mean).toEqual(ln.mean);
    const pb = await promises.layerNormBackward(dy, x, p, c.cols, { weight, bias });
    const sb = fastnorm.layerNormBackward(dy, x, ln, c.cols, { weight, bias });
    expectHalvesEqual(pb.dx.data, sb.dx.data, 'dx');
    expectHalvesEqual(pb.dweight as Uint16Array, sb.dweight as Uint16Array, 'dweight');
    const pr = await promises.rmsNorm(x, c.cols, { weight });
    expectHalvesEqual(pr.y.data, fastnorm.rmsNorm(x, c.cols, { weight }).y.data, 'rms y');
    const prb = await promises.rmsNormBackward(dy, x, pr, c.cols, { weight });
    expectHalvesEqual(prb.dx.data, fastnorm.rmsNormBackward(dy, x, pr, c.cols, { weight }).dx.data, 'rms dx');
    await expect(promises.layerNorm({ data: x.data, shape: x.shape } as never, c.cols)).rejects.toThrow(TypeError);
  });
});
