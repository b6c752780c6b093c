// What the half-precision op tests share (half-*.test.ts): the two formats, their conversions,
// their ulp, and the comparisons of 16-bit results.
import { expect } from 'vitest';
import * as fastnorm from '../src/index';
import type { HalfDtype, Layout, Tensor } from '../src/api/types';
import { makeRng } from './helpers';

export const FORMATS: HalfDtype[] = ['float16', 'bfloat16'];
const FRACTION_BITS: Record<HalfDtype, number> = { float16: 10, bfloat16: 7 };
const MIN_EXPONENT: Record<HalfDtype, number> = { float16: -14, bfloat16: -126 };

export const narrow = (f: HalfDtype, v: Float32Array | Float64Array) => (f === 'float16' ? fastnorm.toFloat16(v) : fastnorm.toBFloat16(v));
export const widen = (f: HalfDtype, h: Uint16Array) => (f === 'float16' ? fastnorm.fromFloat16(h) : fastnorm.fromBFloat16(h));
export const widen64 = (f: HalfDtype, h: Uint16Array) =>
  (f === 'float16' ? fastnorm.fromFloat16(h, new Float64Array(h.length)) : fastnorm.fromBFloat16(h, new Float64Array(h.length)));
/** A half tensor as the float32 tensor of the values it holds. */
export const wide = (f: HalfDtype, t: Tensor<Uint16Array>) => ({ data: widen(f, t.data), shape: t.shape });
/** Parameters as float32 values (half ones widened; float32 ones copied). */
export const asFloat32 = (f: HalfDtype, v: Uint16Array | Float32Array | undefined) => (v instanceof Uint16Array ? widen(f, v) : v?.slice());

/** One ulp of format f at v (the spacing of the binade of |v|; subnormals: the least subnormal). */
export function ulp(f: HalfDtype, v: number): number {
  const e = v === 0 ? MIN_EXPONENT[f] : Math.max(MIN_EXPONENT[f], Math.floor(Math.log2(Math.abs(v))));
  return 2 ** (e - FRACTION_BITS[f]);
}

export function expectHalvesEqual(actual: Uint16Array, expected: Uint16Array, what: string): void {
  expect(actual).toBeInstanceOf(Uint16Array);
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < actual.length; i++)
    if (actual[i] !== expected[i]) expect(`${what}[${i}]: ${actual[i].toString(16)}`).toBe(`${what}[${i}]: ${expected[i].toString(16)}`);
}

/** Within 1 ulp of format f, NaN where expected is NaN, infinities equal. */
export function expectWithinUlp(f: HalfDtype, actual: Uint16Array, expected: Uint16Array, what: string): void {
  const a = widen64(f, actual), e = widen64(f, expected);
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(e[i])) {
      expect(Object.is(a[i], e[i]) || (Number.isNaN(a[i]) && Number.isNaN(e[i])), `${what}[${i}]: ${a[i]} vs ${e[i]}`).toBe(true);
      continue;
    }
    const tol = ulp(f, Math.max(Math.abs(a[i]), Math.abs(e[i])));
    if (!(Math.abs(a[i] - e[i]) <= tol)) expect(`${what}[${i}]: ${a[i]} vs ${e[i]} (1 ulp ${tol})`).toBe('within 1 ulp');
  }
}

/** A parameter result: half ones within 1 ulp of the float32 op's (rounded), float32 ones equal to it. */
export function expectParam(f: HalfDtype, got: unknown, want: Float32Array, what: string, exact = false): void {
  if (got instanceof Uint16Array) {
    if (exact) expectHalvesEqual(got, narrow(f, want), what);
    else expectWithinUlp(f, got, narrow(f, want), what);
  } else {
    expect(got, what).toBeInstanceOf(Float32Array);
    expect(got, what).toEqual(want);
  }
}

/** How a test passes parameters with half tensors: none, in the format, or float32 (holding the format's values). */
export type ParamKind = 'none' | 'half' | 'float32';
export const PARAMS: ParamKind[] = ['none', 'half', 'float32'];

/** A parameter result by kind: float32 ones the float32 op's, half ones within 1 ulp of it rounded. */
export function expectParamOfKind(f: HalfDtype, params: ParamKind, got: unknown, want: unknown, what: string): void {
  if (params === 'float32') {
    expect(got).toBeInstanceOf(Float32Array);
    expect(got, what).toEqual(want);
  } else {
    expect(got).toBeInstanceOf(Uint16Array);
    expectWithinUlp(f, got as Uint16Array, narrow(f, want as Float32Array), what);
  }
}

/** A channel op's float32 case: x, dy, per-channel weight, bias and running statistics. */
export interface ChannelCase {
  shape: number[];
  layout: Layout;
  c: number;
  x: Float32Array;
  dy: Float32Array;
  weight: Float32Array;
  bias: Float32Array;
  runningMean: Float32Array;
  runningVar: Float32Array;
}

export function makeChannelCase(shape: number[], layout: Layout, seed: number, offset = 0): ChannelCase {
  const rng = makeRng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const c = layout === 'NCHW' ? shape[1] : shape[shape.length - 1];
  const values = (k: number, s: number, o: number) => Float32Array.from({ length: k }, () => o + s * rng.normal());
  return { shape, layout, c, x: values(n, 1.5, offset), dy: values(n, 1, 0), weight: values(c, 0.5, 1), bias: values(c, 0.2, 0),
    runningMean: values(c, 0.3, offset), runningVar: Float32Array.from({ length: c }, () => 0.5 + Math.abs(rng.normal())) };
}

/** A channel case in format f: half tensors, parameters of the kind asked, running statistics in the format or float32 likewise. */
export function channelHalfInputs(f: HalfDtype, k: ChannelCase, params: ParamKind) {
  const tensor = (v: Float32Array): Tensor<Uint16Array> => ({ data: narrow(f, v), shape: k.shape, dtype: f });
  const param = (v: Float32Array) => (params === 'half' ? narrow(f, v) : widen(f, narrow(f, v)));
  const given = (v: Float32Array) => (params === 'none' ? undefined : param(v));
  return { x: tensor(k.x), dy: tensor(k.dy), weight: given(k.weight), bias: given(k.bias), runningMean: param(k.runningMean) as Uint16Array,
    runningVar: param(k.runningVar) as Uint16Array };
}
