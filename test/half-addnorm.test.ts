// Half-precision addLayerNorm, addRmsNorm and their backwards (issue 11 on issue 10's fused ops):
// float16/bfloat16 x, residual, dy, dSum in a Uint16Array; y, sum, dx in that format; weight,
// bias, residualBias in it or float32; the parameter gradients in the parameters' dtype.
//  - the contract: sum is x + residual (+ residualBias) rounded once to the format, and y is the
//    half layerNorm/rmsNorm of that stored sum, bit for bit (vLLM's fused_add_rms_norm also
//    normalizes the rounded stream); the backward is the float32 one on the widened inputs,
//    rounded once;
//  - against the reference (float64 on the decoded inputs, rounded once): within 1 ulp;
//  - every ISA path and thread count bitwise equal (subnormal, NaN, ±Inf; huge rows);
//  - out buffers in place (the stream updated over residual, dx over dSum), promises, refusals.
import { describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import * as promises from '../src/promises';
import * as reference from '../src/reference';
import type { HalfDtype, Tensor } from '../src/api/types';
import { asFloat32, expectHalvesEqual, expectParamOfKind, expectWithinUlp, FORMATS, narrow, type ParamKind, PARAMS, wide, widen } from './half-helpers';
import { isaThreadConfigs, makeRng } from './helpers';

type Api = typeof fastnorm;
type Kind = 'layer' | 'rms';
const KINDS: Kind[] = ['layer', 'rms'];

interface Case {
  rows: number;
  cols: number;
  x: Float32Array;
  residual: Float32Array;
  dy: Float32Array;
  dSum: Float32Array;
  weight: Float32Array;
  bias: Float32Array;
  residualBias: Float32Array;
}

function makeCase(rows: number, cols: number, seed: number, offset = 0): Case {
  const rng = makeRng(seed);
  const values = (n: number, s: number, o: number) => Float32Array.from({ length: n }, () => o + s * rng.normal());
  return { rows, cols, x: values(rows * cols, 1, offset), residual: values(rows * cols, 2, 0), dy: values(rows * cols, 1, 0),
    dSum: values(rows * cols, 0.5, 0), weight: values(cols, 0.5, 1), bias: values(cols, 0.2, 0), residualBias: values(cols, 0.3, 0) };
}

/** A case in format f: the half tensors, parameters of the kind asked (float32 ones hold the half values). */
function halfInputs(f: HalfDtype, c: Case, params: ParamKind) {
  const shape = [c.rows, c.cols];
  const tensor = (v: Float32Array): Tensor<Uint16Array> => ({ data: narrow(f, v), shape, dtype: f });
  const param = (v: Float32Array) => (params === 'none' ? undefined : params === 'half' ? narrow(f, v) : widen(f, narrow(f, v)));
  return { x: tensor(c.x), residual: tensor(c.residual), dy: tensor(c.dy), dSum: tensor(c.dSum), weight: param(c.weight),
    bias: param(c.bias), residualBias: param(c.residualBias) };
}

/** The four ops of one kind (with every option: residualBias, dSum, every gradient). */
function runAll(api: Api, kind: Kind, f: HalfDtype, c: Case, params: ParamKind) {
  const h = halfInputs(f, c, params);
  const grads = { weight: params !== 'none', bias: params !== 'none', residualBias: params !== 'none' };
  if (kind === 'layer') {
    const fwd = api.addLayerNorm(h.x, h.residual, c.cols, { weight: h.weight, bias: h.bias, residualBias: h.residualBias, weightOffset: 0 });
    const bwd = api.addLayerNormBackward(h.dy, fwd.sum, fwd, c.cols, { weight: h.weight, dSum: h.dSum, grads });
    return { h, fwd, bwd, mean: fwd.mean as Float32Array | undefined };
  }
  const fwd = api.addRmsNorm(h.x, h.residual, c.cols, { weight: h.weight, residualBias: h.residualBias, weightOffset: h.weight ? 1 : 0 });
  const bwd = api.addRmsNormBackward(h.dy, fwd.sum, fwd, c.cols, { weight: h.weight, weightOffset: h.weight ? 1 : 0, dSum: h.dSum,
    grads: { weight: grads.weight, residualBias: grads.residualBias } });
  return { h, fwd, bwd, mean: undefined };
}


describe.each(FORMATS)('%s: sum rounded once, y the half norm of it, the backward the float32 one rounded once', (f) => {
  it.each(KINDS.flatMap((k) => PARAMS.map((p) => [k, p] as const)))('%s norm, parameters %s', (kind, params) => {
    for (const [rows, cols, offset] of [[5, 37, 0], [16, 768, 3], [2, 40000, 0.5]] as const) {
      const c = makeCase(rows, cols, rows + cols, offset);
      const { h, fwd, bwd } = runAll(fastnorm, kind, f, c, params);
      const what = `${kind} [${rows}, ${cols}]`;
      expect(fwd.y.dtype).toBe(f);
      expect(fwd.sum.dtype).toBe(f);
      expect(bwd.dx.dtype).toBe(f);
      expect(fwd.rstd).toBeInstanceOf(Float32Array);
      // sum: the float32 sum of the held values (x + residual, then + residualBias), rounded once
      const xs = widen(f, h.x.data), rs = widen(f, h.residual.data), rb = asFloat32(f, h.residualBias);
      const sum32 = Float32Array.from(xs, (v, i) => v + rs[i]);
      if (rb) for (let i = 0; i < sum32.length; i++) sum32[i] += rb[i % cols];
      expectHalvesEqual(fwd.sum.data, narrow(f, sum32), `${what} sum`);
      // y: bit for bit the half plain norm of the stored sum, statistics too
      const plain = kind === 'layer'
        ? fastnorm.layerNorm(fwd.sum, cols, { weight: h.weight, bias: h.bias })
        : fastnorm.rmsNorm(fwd.sum, cols, { weight: h.weight, weightOffset: h.weight ? 1 : 0 });
      expectHalvesEqual(fwd.y.data, plain.y.data, `${what} y`);
      expect(fwd.rstd).toEqual(plain.rstd);
      if (kind === 'layer') expect((fwd as unknown as { mean: Float32Array }).mean).toEqual((plain as unknown as { mean: Float32Array }).mean);
      // the backward: the float32 op on the widened tensors and parameters, rounded once
      const wide = (t: Tensor<Uint16Array>) => ({ data: widen(f, t.data), shape: t.shape });
      const w32 = asFloat32(f, h.weight);
      const grads = { weight: params !== 'none', bias: params !== 'none', residualBias: params !== 'none' };
      const b32 = kind === 'layer'
        ? fastnorm.addLayerNormBackward(wide(h.dy), wide(fwd.sum), fwd as never, cols, { weight: w32, dSum: wide(h.dSum), grads })
        : fastnorm.addRmsNormBackward(wide(h.dy), wide(fwd.sum), fwd as never, cols, { weight: w32, weightOffset: w32 ? 1 : 0,
          dSum: wide(h.dSum), grads: { weight: grads.weight, residualBias: grads.residualBias } });
      expectHalvesEqual(bwd.dx.data, narrow(f, b32.dx.data as Float32Array), `${what} dx`);
      if (params === 'none') {
        expect(bwd.dweight).toBeUndefined();
        expect(bwd.dresidualBias).toBeUndefined();
        continue;
      }
      const pairs: Array<[unknown, unknown, string]> = [[bwd.dweight, b32.dweight, 'dweight'], [bwd.dresidualBias, b32.dresidualBias, 'drb']];
      if (kind === 'layer') pairs.push([bwd.dbias, b32.dbias, 'dbias']);
      for (const [got, want, name] of pairs) expectParamOfKind(f, params, got, want, `${what} ${name}`);
    }
  });
});

describe.each(FORMATS)('%s: native against the reference on the same half inputs', (f) => {
  it.each(KINDS.flatMap((k) => PARAMS.map((p) => [k, p] as const)))('%s norm, parameters %s: within 1 ulp', (kind, params) => {
    const c = makeCase(8, 300, 9, -0.5);
    const n = runAll(fastnorm, kind, f, c, params), r = runAll(reference as unknown as Api, kind, f, c, params);
    expectWithinUlp(f, n.fwd.sum.data, r.fwd.sum.data, 'sum');
    expectWithinUlp(f, n.fwd.y.data, r.fwd.y.data, 'y');
    expectWithinUlp(f, n.bwd.dx.data, r.bwd.dx.data, 'dx');
    for (let i = 0; i < c.rows; i++) expect((n.fwd.rstd[i] as number) / (r.fwd.rstd[i] as number)).toBeCloseTo(1, 5);
    if (params === 'half') {
      expectWithinUlp(f, n.bwd.dweight as Uint16Array, r.bwd.dweight as Uint16Array, 'dweight');
      expectWithinUlp(f, n.bwd.dresidualBias as Uint16Array, r.bwd.dresidualBias as Uint16Array, 'dresidualBias');
    }
  });

  it('exact where representable: a sum of small integers, rows of ±1 after the norm', () => {
    const cols = 64, rows = 2;
    // x + residual = 1 ± 2 exactly: mean 1, variance 4, x̂ = ±1, y = ±w
    const x = narrow(f, Float32Array.from({ length: rows * cols }, (_, i) => (i % 2 ? 2 : -1)));
    const residual = narrow(f, Float32Array.from({ length: rows * cols }, (_, i) => (i % 2 ? 1 : 0)));
    const weight = narrow(f, Float32Array.from({ length: cols }, (_, j) => 2 ** ((j % 5) - 2)));
    for (const api of [fastnorm, reference as unknown as Api]) {
      const r = api.addLayerNorm({ data: x, shape: [rows, cols], dtype: f }, { data: residual, shape: [rows, cols], dtype: f }, cols,
        { weight, eps: 0 });
      expectHalvesEqual(r.sum.data, narrow(f, Float32Array.from({ length: rows * cols }, (_, i) => (i % 2 ? 3 : -1))), 'sum');
      expectHalvesEqual(r.y.data, narrow(f, Float32Array.from({ length: rows * cols }, (_, i) => (i % 2 ? 1 : -1) * 2 ** ((i % cols % 5) - 2))), 'y');
    }
  });
});

describe('every ISA path and thread count: the same bits', () => {
  const { expectSameBitsEverywhere } = isaThreadConfigs();
  const bits = (a: Uint16Array | Float32Array | undefined) => (a instanceof Uint16Array ? Float32Array.from(a) : a ?? new Float32Array(0));
  it.each(FORMATS)('%s: subnormal, NaN and ±Inf inputs and outputs, huge rows', (f) => {
    for (const [rows, cols] of [[64, 1000], [3, 40000]] as const) {
      const c = makeCase(rows, cols, 21);
      const tiny = f === 'float16' ? 3e-6 : 1e-39;
      for (let j = 0; j < cols; j++) {
        c.x[cols + j] *= tiny;
        c.residual[cols + j] *= tiny;
      }
      c.x[2 * cols] = NaN;
      c.residual[2 * cols + 1] = Infinity;
      // -Inf in a row of finite statistics: where it met the NaN row's NaN statistics, two NaNs
      // would meet in one operation, and which one a product keeps is the compiler's operand order
      c.dy[cols + 2] = -Infinity;
      for (let j = 0; j < cols; j += 7) c.weight[j] = f === 'float16' ? 1e-6 : 1e-38;
      for (const kind of KINDS)
        for (const params of PARAMS)
          expectSameBitsEverywhere(() => {
            const { fwd, bwd, mean } = runAll(fastnorm, kind, f, c, params);
            return { y: bits(fwd.y.data), sum: bits(fwd.sum.data), rstd: fwd.rstd as Float32Array, mean: bits(mean), dx: bits(bwd.dx.data),
              dw: bits(bwd.dweight), db: bits(bwd.dbias), drb: bits(bwd.dresidualBias) };
          }, `${f} ${kind} [${rows}, ${cols}] params ${params}`);
    }
  });
});

describe.each([['native', fastnorm], ['reference', reference as unknown as Api]] as const)('%s: buffers, promises, refusals', (_name, api) => {
  const f: HalfDtype = 'float16';
  const c = makeCase(4, 96, 3);

  it('the stream updated in place over residual, y over x, dx over dSum', () => {
    const h = halfInputs(f, c, 'half');
    const want = api.addLayerNorm(h.x, h.residual, c.cols, { weight: h.weight, bias: h.bias });
    const x = { ...h.x, data: h.x.data.slice() }, residual = { ...h.residual, data: h.residual.data.slice() };
    const r = api.addLayerNorm(x, residual, c.cols, { weight: h.weight, bias: h.bias, out: { y: x.data, sum: residual.data } });
    expect(r.sum.data).toBe(residual.data);
    expect(r.y.data).toBe(x.data);
    expectHalvesEqual(residual.data, want.sum.data, 'sum in place');
    expectHalvesEqual(x.data, want.y.data, 'y in place');
    const wantB = api.addRmsNormBackward(h.dy, want.sum, { rstd: want.rstd }, c.cols, { weight: h.weight, dSum: h.dSum });
    const dSum = { ...h.dSum, data: h.dSum.data.slice() };
    const b = api.addRmsNormBackward(h.dy, want.sum, { rstd: want.rstd }, c.cols, { weight: h.weight, dSum, out: { dx: dSum.data } });
    expect(b.dx.data).toBe(dSum.data);
    expectHalvesEqual(dSum.data, wantB.dx.data, 'dx in place');
  });

  it('refuses mixed formats and mixed storage', () => {
    const h = halfInputs(f, c, 'half');
    const bf = { ...h.residual, dtype: 'bfloat16' as const };
    expect(() => api.addLayerNorm(h.x, bf, c.cols)).toThrow(/residual.dtype is 'bfloat16' but x.dtype is 'float16'/);
    expect(() => api.addRmsNorm(h.x, { data: widen(f, h.residual.data), shape: h.residual.shape } as never, c.cols))
      .toThrow(/residual.data must be a Uint16Array/);
    expect(() => api.addRmsNorm({ data: h.x.data, shape: h.x.shape } as never, h.residual, c.cols)).toThrow(/x.dtype must be 'float16' or 'bfloat16'/);
    const fwd = api.addRmsNorm(h.x, h.residual, c.cols);
    expect(() => api.addRmsNormBackward(h.dy, fwd.sum, fwd, c.cols, { dSum: { ...h.dSum, dtype: 'bfloat16' } }))
      .toThrow(/dSum.dtype is 'bfloat16' but sum.dtype is 'float16'/);
    expect(() => api.addRmsNormBackward({ ...h.dy, dtype: 'bfloat16' }, fwd.sum, fwd, c.cols)).toThrow(/dy.dtype is 'bfloat16' but sum.dtype/);
    expect(() => api.addLayerNorm(h.x, h.residual, c.cols, { weight: h.weight, residualBias: widen(f, h.residualBias as Uint16Array) as never }))
      .toThrow(/residualBias must be a Uint16Array/);
    expect(() => api.addLayerNorm(h.x, h.residual, c.cols, { out: { sum: new Float32Array(c.rows * c.cols) } as never }))
      .toThrow(/out.sum must be a Uint16Array/);
    expect(() => api.addLayerNorm(h.x, h.residual, c.cols, { out: { sum: h.x.data } })).toThrow(RangeError); // sum over x: not allowed
  });
});

describe('promises', () => {
  it.each(FORMATS)('%s: the same bits as the sync ops', async (f) => {
    const c = makeCase(6, 130, 5);
    const h = halfInputs(f, c, 'float32');
    const s = fastnorm.addLayerNorm(h.x, h.residual, c.cols, { weight: h.weight, bias: h.bias, residualBias: h.residualBias });
    const p = await promises.addLayerNorm(h.x, h.residual, c.cols, { weight: h.weight, bias: h.bias, residualBias: h.residualBias });
    expectHalvesEqual(p.y.data, s.y.data, 'y');
    expectHalvesEqual(p.sum.data, s.sum.data, 'sum');
    const grads = { weight: true, bias: true, residualBias: true };
    const pb = await promises.addLayerNormBackward(h.dy, p.sum, p, c.cols, { weight: h.weight, dSum: h.dSum, grads });
    const sb = fastnorm.addLayerNormBackward(h.dy, s.sum, s, c.cols, { weight: h.weight, dSum: h.dSum, grads });
    expectHalvesEqual(pb.dx.data, sb.dx.data, 'dx');
    expect(pb.dresidualBias).toEqual(sb.dresidualBias);
    const pr = await promises.addRmsNorm(h.x, h.residual, c.cols, { weight: h.weight });
    expectHalvesEqual(pr.y.data, fastnorm.addRmsNorm(h.x, h.residual, c.cols, { weight: h.weight }).y.data, 'rms y');
    const prb = await promises.addRmsNormBackward(h.dy, pr.sum, pr, c.cols, { weight: h.weight });
    expectHalvesEqual(prb.dx.data, fastnorm.addRmsNormBackward(h.dy, pr.sum, pr, c.cols, { weight: h.weight }).dx.data, 'rms dx');
  });
});
