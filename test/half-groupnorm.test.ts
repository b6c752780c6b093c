// Half-precision groupNorm, instanceNorm and their backwards (issue 11): float16/bfloat16 x and dy
// in a Uint16Array, y/dx in that format; weight, bias (and instanceNorm's running statistics) all
// in it or all float32; dweight/dbias in the parameters' dtype; mean/rstd float32.
//  - native, every layout path (NCHW long and short planes, expanded per element below 64
//    positions; NHWC small C in registers, wide C cycling): the bits of the float32 op on the
//    widened inputs, each output rounded once; float32 statistics and parameter gradients those
//    bits themselves, half ones within 1 ulp;
//  - against the reference (float64 on the decoded inputs, rounded once): within 1 ulp;
//  - every ISA path and thread count bitwise equal (subnormal, NaN, ±Inf);
//  - out buffers, running statistics in place, promises and refusals.
import { describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import * as promises from '../src/promises';
import * as reference from '../src/reference';
import type { Activation, HalfDtype, Layout, Tensor } from '../src/api/types';
import { asFloat32, channelHalfInputs, expectHalvesEqual, expectParam, expectWithinUlp, FORMATS, makeChannelCase, narrow, PARAMS, wide, widen } from './half-helpers';
import { isaThreadConfigs } from './helpers';

type Api = typeof fastnorm;
// [shape, layout, groups]: NCHW short planes (expanded), long planes; NHWC small C, wide C
const SHAPES: Array<[number[], Layout, number]> = [[[3, 6, 5, 5], 'NCHW', 3], [[2, 4, 100, 90], 'NCHW', 2], [[3, 7, 5, 6], 'NHWC', 2],
  [[2, 9, 9, 80], 'NHWC', 8]];

describe.each(FORMATS)('%s: the float32 op on the widened inputs, rounded once', (f) => {
  it.each(PARAMS)('parameters %s: groupNorm and instanceNorm, forward and backward, with and without an activation', (params) => {
    for (const [shape, layout, groups] of SHAPES) {
      const k = makeChannelCase(shape, layout, shape.reduce((a, b) => a + b, 0), 0.5);
      const h = channelHalfInputs(f, k, params);
      const w32 = asFloat32(f, h.weight), b32 = asFloat32(f, h.bias);
      const what = `[${shape}] ${layout}`;
      for (const activation of [undefined, 'silu'] as Array<Activation | undefined>) {
        const gn = fastnorm.groupNorm(h.x, groups, { weight: h.weight, bias: h.bias, layout, activation });
        const gn32 = fastnorm.groupNorm(wide(f, h.x), groups, { weight: w32, bias: b32, layout, activation });
        expect(gn.y.dtype).toBe(f);
        expectHalvesEqual(gn.y.data, narrow(f, gn32.y.data as Float32Array), `${what} ${activation} groupNorm y`);
        expect(gn.mean, `${what} mean`).toEqual(gn32.mean);
        expect(gn.rstd, `${what} rstd`).toEqual(gn32.rstd);
        const gb = fastnorm.groupNormBackward(h.dy, h.x, gn, groups, { weight: h.weight, bias: h.bias, layout, activation });
        const gb32 = fastnorm.groupNormBackward(wide(f, h.dy), wide(f, h.x), gn32, groups, { weight: w32, bias: b32, layout, activation });
        expect(gb.dx.dtype).toBe(f);
        expectHalvesEqual(gb.dx.data, narrow(f, gb32.dx.data as Float32Array), `${what} ${activation} groupNormBackward dx`);
        if (params !== 'none') {
          expectParam(f, gb.dweight, gb32.dweight as Float32Array, `${what} dweight`);
          expectParam(f, gb.dbias, gb32.dbias as Float32Array, `${what} dbias`);
        }
        for (const useInputStats of [true, false]) {
          const rm = h.runningMean.slice(), rv = h.runningVar.slice();
          const rm32 = asFloat32(f, h.runningMean)!, rv32 = asFloat32(f, h.runningVar)!;
          const inn = fastnorm.instanceNorm(h.x, { weight: h.weight, bias: h.bias, runningMean: rm, runningVar: rv, useInputStats, layout,
            activation });
          const in32 = fastnorm.instanceNorm(wide(f, h.x), { weight: w32, bias: b32, runningMean: rm32, runningVar: rv32, useInputStats,
            layout, activation });
          expectHalvesEqual(inn.y.data, narrow(f, in32.y.data as Float32Array), `${what} ${activation} instanceNorm ${useInputStats} y`);
          expect(inn.rstd).toEqual(in32.rstd);
          expectParam(f, rm, rm32, `${what} runningMean`);
          expectParam(f, rv, rv32, `${what} runningVar`);
          const ib = fastnorm.instanceNormBackward(h.dy, h.x, inn, { weight: h.weight, bias: h.bias, useInputStats, layout, activation });
          const ib32 = fastnorm.instanceNormBackward(wide(f, h.dy), wide(f, h.x), in32, { weight: w32, bias: b32, useInputStats, layout,
            activation });
          expectHalvesEqual(ib.dx.data, narrow(f, ib32.dx.data as Float32Array), `${what} ${activation} instanceNormBackward ${useInputStats} dx`);
          if (params !== 'none') expectParam(f, ib.dweight, ib32.dweight as Float32Array, `${what} instance dweight`);
        }
      }
    }
  });
});

describe.each(FORMATS)('%s: native against the reference on the same half inputs', (f) => {
  it.each(PARAMS)('parameters %s: within 1 ulp', (params) => {
    for (const [shape, layout, groups] of [SHAPES[0], SHAPES[3]]) {
      const k = makeChannelCase(shape, layout, 31, -0.5);
      const run = (api: Api) => {
        const h = channelHalfInputs(f, k, params);
        const gn = api.groupNorm(h.x, groups, { weight: h.weight, bias: h.bias, layout });
        const gb = api.groupNormBackward(h.dy, h.x, gn, groups, { weight: h.weight, bias: h.bias, layout });
        const inn = api.instanceNorm(h.x, { weight: h.weight, bias: h.bias, runningMean: h.runningMean, runningVar: h.runningVar, layout });
        const ib = api.instanceNormBackward(h.dy, h.x, inn, { weight: h.weight, layout });
        return { gn, gb, inn, ib, h };
      };
      const n = run(fastnorm), r = run(reference as unknown as Api);
      expectWithinUlp(f, n.gn.y.data, r.gn.y.data, 'groupNorm y');
      expectWithinUlp(f, n.gb.dx.data, r.gb.dx.data, 'groupNorm dx');
      expectWithinUlp(f, n.inn.y.data, r.inn.y.data, 'instanceNorm y');
      expectWithinUlp(f, n.ib.dx.data, r.ib.dx.data, 'instanceNorm dx');
      if (params === 'half') {
        expectWithinUlp(f, n.gb.dweight as Uint16Array, r.gb.dweight as Uint16Array, 'dweight');
        expectWithinUlp(f, n.h.runningVar, r.h.runningVar, 'runningVar');
      }
    }
  });
});

describe('every ISA path and thread count: the same bits', () => {
  const { expectSameBitsEverywhere } = isaThreadConfigs();
  const bits = (a: Uint16Array | Float32Array | undefined) => (a instanceof Uint16Array ? Float32Array.from(a) : a ?? new Float32Array(0));
  it.each(FORMATS)('%s: subnormal, NaN and ±Inf inputs and outputs, every layout path', (f) => {
    for (const [shape, layout, groups] of SHAPES) {
      const k = makeChannelCase(shape, layout, 29);
      const tiny = f === 'float16' ? 3e-6 : 1e-39;
      const cOf = (i: number) => (layout === 'NCHW' ? Math.floor(i / (k.x.length / shape[0] / k.c)) % k.c : i % k.c);
      for (let i = 0; i < k.x.length; i++) if (cOf(i) < k.c / groups) k.x[i] *= tiny; // group 0 tiny
      k.x[k.x.length - 1] = NaN;
      k.x[k.x.length - 2] = Infinity;
      k.dy[Math.floor(k.dy.length / 2)] = -Infinity;
      for (const params of PARAMS)
        for (const activation of [undefined, 'gelu-tanh'] as Array<Activation | undefined>)
          expectSameBitsEverywhere(() => {
            const h = channelHalfInputs(f, k, params);
            const gn = fastnorm.groupNorm(h.x, groups, { weight: h.weight, bias: h.bias, layout, activation });
            const gb = fastnorm.groupNormBackward(h.dy, h.x, gn, groups, { weight: h.weight, bias: h.bias, layout, activation });
            const inn = fastnorm.instanceNorm(h.x, { weight: h.weight, bias: h.bias, runningMean: h.runningMean, runningVar: h.runningVar,
              layout, activation });
            const ib = fastnorm.instanceNormBackward(h.dy, h.x, inn, { weight: h.weight, bias: h.bias, layout, activation });
            return { y: bits(gn.y.data), mean: gn.mean, rstd: gn.rstd, dx: bits(gb.dx.data), dw: bits(gb.dweight), db: bits(gb.dbias),
              iy: bits(inn.y.data), rm: bits(h.runningMean), rv: bits(h.runningVar), idx: bits(ib.dx.data) };
          }, `${f} [${shape}] ${layout} params ${params} ${activation}`);
    }
  });
});

describe.each([['native', fastnorm], ['reference', reference as unknown as Api]] as const)('%s: buffers, refusals', (_name, api) => {
  const f: HalfDtype = 'float16';
  const k = makeChannelCase([2, 8, 6, 6], 'NCHW', 3);

  it('out buffers: y in place over x, dx into a caller buffer', () => {
    const h = channelHalfInputs(f, k, 'half');
    const want = api.groupNorm(h.x, 4, { weight: h.weight, bias: h.bias });
    const x = { ...h.x, data: h.x.data.slice() };
    const r = api.groupNorm(x, 4, { weight: h.weight, bias: h.bias, out: { y: x.data } });
    expect(r.y.data).toBe(x.data);
    expectHalvesEqual(x.data, want.y.data, 'y in place');
    const dx = new Uint16Array(h.x.data.length);
    const b = api.groupNormBackward(h.dy, h.x, want, 4, { weight: h.weight, out: { dx } });
    expect(b.dx.data).toBe(dx);
    expectHalvesEqual(dx, api.groupNormBackward(h.dy, h.x, want, 4, { weight: h.weight }).dx.data, 'out.dx');
  });

  it('refuses mixed storage', () => {
    const h = channelHalfInputs(f, k, 'half');
    expect(() => api.instanceNorm(h.x, { weight: h.weight, runningMean: widen(f, h.runningMean), runningVar: widen(f, h.runningVar) } as never))
      .toThrow(/runningMean must be a Uint16Array/);
    expect(() => api.groupNorm(h.x, 4, { out: { y: new Float32Array(h.x.data.length) } as never })).toThrow(/out.y must be a Uint16Array/);
    const saved = api.groupNorm(h.x, 4);
    expect(() => api.groupNormBackward({ ...h.dy, dtype: 'bfloat16' }, h.x, saved, 4)).toThrow(/dy.dtype is 'bfloat16' but x.dtype is 'float16'/);
    expect(() => api.instanceNorm({ data: h.x.data, shape: h.x.shape } as never)).toThrow(/x.dtype must be 'float16' or 'bfloat16'/);
  });
});

describe('promises', () => {
  it.each(FORMATS)('%s: the same bits as the sync ops', async (f) => {
    const k = makeChannelCase([3, 6, 4, 4], 'NHWC', 9);
    const h = channelHalfInputs(f, k, 'float32');
    const s = fastnorm.groupNorm(h.x, 2, { weight: h.weight, bias: h.bias, layout: 'NHWC' });
    const p = await promises.groupNorm(h.x, 2, { weight: h.weight, bias: h.bias, layout: 'NHWC' });
    expectHalvesEqual(p.y.data, s.y.data, 'y');
    const pb = await promises.instanceNormBackward(h.dy, h.x, await promises.instanceNorm(h.x, { layout: 'NHWC' }), { layout: 'NHWC' });
    const sb = fastnorm.instanceNormBackward(h.dy, h.x, fastnorm.instanceNorm(h.x, { layout: 'NHWC' }), { layout: 'NHWC' });
    expectHalvesEqual(pb.dx.data, sb.dx.data, 'instance dx');
  });
});
