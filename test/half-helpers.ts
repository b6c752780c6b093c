// What the half-precision op tests share (half-*.test.ts): the two formats, their conversions,
// their ulp, and the comparisons of 16-bit results.
import { expect } from 'vitest';
import * as fastnorm from '../src/index';
import type { HalfDtype, Tensor } from '../src/api/types';

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
