// Half-precision batchNorm, its backward and the sync-BN blocks (issue 11): float16/bfloat16 x
// and dy in a Uint16Array, y/dx in that format; weight, bias and running statistics all in it
// or all float32; dweight/dbias in the parameters' dtype; mean/rstd float32.
//  - native, every layout path (NCHW; NHWC flat for small C, lane-per-channel for large C): the
//    bits of the float32 op on the widened inputs, each output rounded once; float32 statistics
//    and parameter gradients those bits themselves, half ones within 1 ulp of them;
//  - against the reference (float64 on the decoded inputs, rounded once): within 1 ulp;
//  - every ISA path and thread count bitwise equal (subnormal, NaN, ±Inf);
//  - the sync-BN pipeline, out buffers (in place, running statistics updated in place), promises
//    and refusals.
import { describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import * as promises from '../src/promises';
import * as reference from '../src/reference';
import type { Activation, HalfDtype, Layout, Tensor } from '../src/api/types';
import { asFloat32, channelHalfInputs, expectHalvesEqual, expectParam, expectWithinUlp, FORMATS, makeChannelCase, narrow, PARAMS, wide, widen } from './half-helpers';
import { isaThreadConfigs } from './helpers';

type Api = typeof fastnorm;
// [shape, layout]: NCHW planes short and long; NHWC flat (C = 3, 16) and lane-per-channel (C = 40)
const SHAPES: Array<[number[], Layout]> = [[[4, 3, 5, 7], 'NCHW'], [[2, 5, 9000], 'NCHW'], [[3, 7, 5, 3], 'NHWC'], [[2, 9, 9, 16], 'NHWC'],
  [[2, 6, 7, 40], 'NHWC']];

describe.each(FORMATS)('%s: the float32 op on the widened inputs, rounded once', (f) => {
  it.each(PARAMS)('parameters %s: forward (training, eval), backward (training, eval), with and without an activation', (params) => {
    for (const [shape, layout] of SHAPES) {
      const k = makeChannelCase(shape, layout, shape.reduce((a, b) => a + b, 0), 0.5);
      const h = channelHalfInputs(f, k, params);
      const w32 = asFloat32(f, h.weight), b32 = asFloat32(f, h.bias);
      const what = `[${shape}] ${layout}`;
      for (const activation of [undefined, 'silu'] as Array<Activation | undefined>) {
        // training, running statistics updated in place (half: rounded once from the float64 update)
        const rm = h.runningMean.slice(), rv = h.runningVar.slice();
        const rm32 = asFloat32(f, h.runningMean)!, rv32 = asFloat32(f, h.runningVar)!;
        const fwd = fastnorm.batchNorm(h.x, { weight: h.weight, bias: h.bias, runningMean: rm, runningVar: rv, layout, activation });
        const ref = fastnorm.batchNorm(wide(f, h.x), { weight: w32, bias: b32, runningMean: rm32, runningVar: rv32, layout, activation });
        expect(fwd.y.dtype).toBe(f);
        expectHalvesEqual(fwd.y.data, narrow(f, ref.y.data as Float32Array), `${what} ${activation} y`);
        expect(fwd.mean).toBeInstanceOf(Float32Array);
        expect(fwd.mean, `${what} mean`).toEqual(ref.mean);
        expect(fwd.rstd, `${what} rstd`).toEqual(ref.rstd);
        expectParam(f, rm, rm32, `${what} runningMean`);
        expectParam(f, rv, rv32, `${what} runningVar`);
        // eval with the running statistics
        const ev = fastnorm.batchNorm(h.x, { weight: h.weight, bias: h.bias, runningMean: h.runningMean, runningVar: h.runningVar,
          training: false, layout, activation });
        const ev32 = fastnorm.batchNorm(wide(f, h.x), { weight: w32, bias: b32, runningMean: asFloat32(f, h.runningMean),
          runningVar: asFloat32(f, h.runningVar), training: false, layout, activation });
        expectHalvesEqual(ev.y.data, narrow(f, ev32.y.data as Float32Array), `${what} ${activation} eval y`);
        for (const training of [true, false]) {
          const saved = training ? fwd : ev, saved32 = training ? ref : ev32;
          const bwd = fastnorm.batchNormBackward(h.dy, h.x, saved, { weight: h.weight, bias: h.bias, training, layout, activation });
          const bwd32 = fastnorm.batchNormBackward(wide(f, h.dy), wide(f, h.x), saved32, { weight: w32, bias: b32, training, layout, activation });
          expect(bwd.dx.dtype).toBe(f);
          expectHalvesEqual(bwd.dx.data, narrow(f, bwd32.dx.data as Float32Array), `${what} ${activation} training ${training} dx`);
          if (params === 'none') expect(bwd.dweight).toBeUndefined();
          else {
            expectParam(f, bwd.dweight, bwd32.dweight as Float32Array, `${what} dweight`);
            expectParam(f, bwd.dbias, bwd32.dbias as Float32Array, `${what} dbias`);
          }
        }
      }
    }
  });

  it('the sync-BN blocks: the float32 blocks on the widened inputs, rounded once; float64 partials equal', () => {
    const [shape, layout] = SHAPES[3];
    const k = makeChannelCase(shape, layout, 5);
    const h = channelHalfInputs(f, k, 'half');
    const w32 = asFloat32(f, h.weight), b32 = asFloat32(f, h.bias);
    const stats = fastnorm.batchNormStats(h.x, { layout });
    const stats32 = fastnorm.batchNormStats(wide(f, h.x), { layout });
    expect(stats.mean).toEqual(stats32.mean);
    expect(stats.m2).toEqual(stats32.m2);
    const gathered = fastnorm.batchNormGatherStats([stats], { dtype: 'float32' });
    const y = fastnorm.batchNormElemt(h.x, gathered, { weight: h.weight, bias: h.bias, layout }).y;
    expect(y.dtype).toBe(f);
    expectHalvesEqual(y.data, narrow(f, fastnorm.batchNormElemt(wide(f, h.x), gathered, { weight: w32, bias: b32, layout }).y.data as Float32Array), 'elemt y');
    // the whole-batch forward normalizes with the same statistics: the same bits
    expectHalvesEqual(y.data, fastnorm.batchNorm(h.x, { weight: h.weight, bias: h.bias, layout }).y.data, 'elemt = batchNorm');
    const sums = fastnorm.batchNormBackwardReduce(h.dy, h.x, gathered, { layout });
    const sums32 = fastnorm.batchNormBackwardReduce(wide(f, h.dy), wide(f, h.x), gathered, { layout });
    expect(sums.sumDy).toEqual(sums32.sumDy);
    expect(sums.sumDyXmu).toEqual(sums32.sumDyXmu);
    const bwd = fastnorm.batchNormBackwardElemt(h.dy, h.x, gathered, { ...sums, count: gathered.count }, { weight: h.weight, layout });
    const bwd32 = fastnorm.batchNormBackwardElemt(wide(f, h.dy), wide(f, h.x), gathered, { ...sums32, count: gathered.count },
      { weight: w32, layout });
    expectHalvesEqual(bwd.dx.data, narrow(f, bwd32.dx.data as Float32Array), 'backwardElemt dx');
    expectParam(f, bwd.dweight, bwd32.dweight as Float32Array, 'backwardElemt dweight', true);
    expectParam(f, bwd.dbias, bwd32.dbias as Float32Array, 'backwardElemt dbias', true);
  });
});

describe.each(FORMATS)('%s: native against the reference on the same half inputs', (f) => {
  it.each(PARAMS)('parameters %s: within 1 ulp', (params) => {
    for (const [shape, layout] of [SHAPES[0], SHAPES[4]]) {
      const k = makeChannelCase(shape, layout, 17, -0.5);
      const run = (api: Api) => {
        const h = channelHalfInputs(f, k, params);
        const fwd = api.batchNorm(h.x, { weight: h.weight, bias: h.bias, runningMean: h.runningMean, runningVar: h.runningVar, layout });
        const bwd = api.batchNormBackward(h.dy, h.x, fwd, { weight: h.weight, bias: h.bias, layout });
        return { fwd, bwd, h };
      };
      const n = run(fastnorm), r = run(reference as unknown as Api);
      expectWithinUlp(f, n.fwd.y.data, r.fwd.y.data, 'y');
      expectWithinUlp(f, n.bwd.dx.data, r.bwd.dx.data, 'dx');
      for (let c = 0; c < k.c; c++) expect(n.fwd.rstd[c] / r.fwd.rstd[c]).toBeCloseTo(1, 5);
      if (params === 'half') {
        expectWithinUlp(f, n.h.runningMean, r.h.runningMean, 'runningMean');
        expectWithinUlp(f, n.h.runningVar, r.h.runningVar, 'runningVar');
        expectWithinUlp(f, n.bwd.dweight as Uint16Array, r.bwd.dweight as Uint16Array, 'dweight');
        expectWithinUlp(f, n.bwd.dbias as Uint16Array, r.bwd.dbias as Uint16Array, 'dbias');
      }
    }
  });
});

describe('every ISA path and thread count: the same bits', () => {
  const { expectSameBitsEverywhere } = isaThreadConfigs();
  const bits = (a: Uint16Array | Float32Array | undefined) => (a instanceof Uint16Array ? Float32Array.from(a) : a ?? new Float32Array(0));
  it.each(FORMATS)('%s: subnormal, NaN and ±Inf inputs and outputs, every layout path', (f) => {
    for (const [shape, layout] of SHAPES) {
      const k = makeChannelCase(shape, layout, 23);
      const tiny = f === 'float16' ? 3e-6 : 1e-39;
      // channel 1 tiny (subnormal halves), a NaN in channel 2 and +Inf in channel 0, -Inf in dy
      const cOf = (i: number) => (layout === 'NCHW' ? Math.floor(i / (k.x.length / shape[0] / k.c)) % k.c : i % k.c);
      for (let i = 0; i < k.x.length; i++) if (cOf(i) === 1) k.x[i] *= tiny;
      const first = (c: number) => k.x.findIndex((_, i) => cOf(i) === c);
      k.x[first(2)] = NaN;
      k.x[first(0)] = Infinity;
      k.dy[first(1) + (layout === 'NCHW' ? 1 : k.c)] = -Infinity;
      for (const params of PARAMS)
        for (const activation of [undefined, 'gelu-tanh'] as Array<Activation | undefined>)
          expectSameBitsEverywhere(() => {
            const h = channelHalfInputs(f, k, params);
            const fwd = fastnorm.batchNorm(h.x, { weight: h.weight, bias: h.bias, runningMean: h.runningMean, runningVar: h.runningVar,
              layout, activation });
            const bwd = fastnorm.batchNormBackward(h.dy, h.x, fwd, { weight: h.weight, bias: h.bias, layout, activation });
            const ev = fastnorm.batchNormBackward(h.dy, h.x, fwd, { weight: h.weight, training: false, layout });
            return { y: bits(fwd.y.data), mean: fwd.mean, rstd: fwd.rstd, rm: bits(h.runningMean), rv: bits(h.runningVar),
              dx: bits(bwd.dx.data), dw: bits(bwd.dweight), db: bits(bwd.dbias), edx: bits(ev.dx.data) };
          }, `${f} [${shape}] ${layout} params ${params} ${activation}`);
    }
  });
});

describe.each([['native', fastnorm], ['reference', reference as unknown as Api]] as const)('%s: buffers, promises, refusals', (_name, api) => {
  const f: HalfDtype = 'bfloat16';
  const k = makeChannelCase([2, 4, 6, 6], 'NCHW', 3);

  it('out buffers: y in place over x, dx into a caller buffer', () => {
    const h = channelHalfInputs(f, k, 'half');
    const want = api.batchNorm(h.x, { weight: h.weight, bias: h.bias });
    const x = { ...h.x, data: h.x.data.slice() };
    const mean = new Float32Array(k.c), rstd = new Float32Array(k.c);
    const r = api.batchNorm(x, { weight: h.weight, bias: h.bias, out: { y: x.data, mean, rstd } });
    expect(r.y.data).toBe(x.data);
    expect(r.mean).toBe(mean);
    expectHalvesEqual(x.data, want.y.data, 'y in place');
    const dx = new Uint16Array(h.x.data.length), dweight = new Uint16Array(k.c);
    const b = api.batchNormBackward(h.dy, h.x, want, { weight: h.weight, out: { dx, dweight } });
    expect(b.dx.data).toBe(dx);
    expect(b.dweight).toBe(dweight);
    expectHalvesEqual(dx, api.batchNormBackward(h.dy, h.x, want, { weight: h.weight }).dx.data, 'out.dx');
  });

  it('refuses mixed storage', () => {
    const h = channelHalfInputs(f, k, 'half');
    expect(() => api.batchNorm(h.x, { weight: h.weight, runningMean: widen(f, h.runningMean), runningVar: widen(f, h.runningVar) } as never))
      .toThrow(/runningMean must be a Uint16Array/);
    expect(() => api.batchNorm(h.x, { out: { y: new Float32Array(h.x.data.length) } as never })).toThrow(/out.y must be a Uint16Array/);
    expect(() => api.batchNorm(h.x, { out: { mean: new Uint16Array(k.c) } as never })).toThrow(/out.mean must be a Float32Array/);
    const saved = api.batchNorm(h.x);
    expect(() => api.batchNormBackward({ ...h.dy, dtype: 'float16' }, h.x, saved)).toThrow(/dy.dtype is 'float16' but x.dtype is 'bfloat16'/);
    expect(() => api.batchNormBackward(wide(f, h.dy) as never, h.x, saved)).toThrow(TypeError);
    expect(() => api.batchNormStats({ data: h.x.data, shape: h.x.shape } as never)).toThrow(/x.dtype must be 'float16' or 'bfloat16'/);
  });
});

describe('promises', () => {
  it.each(FORMATS)('%s: the same bits as the sync ops', async (f) => {
    const k = makeChannelCase([3, 5, 4, 4], 'NHWC', 9);
    const h = channelHalfInputs(f, k, 'float32');
    const s = fastnorm.batchNorm(h.x, { weight: h.weight, bias: h.bias, layout: 'NHWC' });
    const p = await promises.batchNorm(h.x, { weight: h.weight, bias: h.bias, layout: 'NHWC' });
    expectHalvesEqual(p.y.data, s.y.data, 'y');
    expect(p.rstd).toEqual(s.rstd);
    const pb = await promises.batchNormBackward(h.dy, h.x, p, { weight: h.weight, layout: 'NHWC' });
    const sb = fastnorm.batchNormBackward(h.dy, h.x, s, { weight: h.weight, layout: 'NHWC' });
    expectHalvesEqual(pb.dx.data, sb.dx.data, 'dx');
    expect(pb.dweight).toEqual(sb.dweight);
    const ps = await promises.batchNormStats(h.x, { layout: 'NHWC' });
    expect(ps.m2).toEqual(fastnorm.batchNormStats(h.x, { layout: 'NHWC' }).m2);
  });
});
