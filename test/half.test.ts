// Half-precision conversions (src/api/half.ts, native/kernels/convert.cc): the native paths
// (every ISA, threads 1 and 2) against the independent reference twins, bit for bit, over all
// 65,536 half patterns, every rounding tie between two neighbouring halves (and one float or
// double ulp either side of it), random float32 and float64 bit patterns, and the IEEE edge
// cases (subnormals, overflow, ±0, NaN sign and payload). A standalone check of the vector code
// over all 2^32 float32 inputs was run when it was written (see docs/DESIGN.md): here each
// narrowing input class is covered without taking minutes.
import { describe, expect, it } from 'vitest';
import { nativeAddon } from '../src/backends/default';
import * as fastnorm from '../src/index';
import * as promises from '../src/promises';
import * as reference from '../src/reference';
import { isaThreadConfigs, makeRng } from './helpers';

type Format = 'float16' | 'bfloat16';
const FORMATS: Format[] = ['float16', 'bfloat16'];
const FRACTION_BITS: Record<Format, number> = { float16: 10, bfloat16: 7 };
const EXPONENT_BITS: Record<Format, number> = { float16: 5, bfloat16: 8 };
const narrowOf = (api: typeof reference, f: Format) => (f === 'float16' ? api.toFloat16 : api.toBFloat16);
const widenOf = (api: typeof reference, f: Format) => (f === 'float16' ? api.fromFloat16 : api.fromBFloat16);

const ALL_HALVES = Uint16Array.from({ length: 65536 }, (_, i) => i);
const isNaNBits = (f: Format, h: number) => {
  const max = 2 ** EXPONENT_BITS[f] - 1;
  return ((h >>> FRACTION_BITS[f]) & max) === max && (h & (2 ** FRACTION_BITS[f] - 1)) !== 0;
};
const quiet = (f: Format, h: number) => (isNaNBits(f, h) ? h | (1 << (FRACTION_BITS[f] - 1)) : h);

function words(a: Float32Array | Float64Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4);
}
function expectSameWords(a: Float32Array | Float64Array, b: Float32Array | Float64Array, what: string): void {
  const wa = words(a), wb = words(b);
  expect(wa.length, what).toBe(wb.length);
  for (let i = 0; i < wa.length; i++) if (wa[i] !== wb[i]) expect(`${what}: word ${i} ${wa[i].toString(16)}`).toBe(`${what}: word ${i} ${wb[i].toString(16)}`);
}
function expectSameHalves(a: Uint16Array, b: Uint16Array, what: string, src?: ArrayLike<number>): void {
  expect(a.length, what).toBe(b.length);
  for (let i = 0; i < a.length; i++)
    if (a[i] !== b[i]) expect(`${what}[${i}] (of ${src?.[i]}): ${a[i].toString(16)}`).toBe(`${what}[${i}] (of ${src?.[i]}): ${b[i].toString(16)}`);
}

/**
 * Every tie between consecutive finite halves (and between the largest and Inf), both signs, as
 * doubles: `expected` the even neighbour each rounds to, `below`/`above` the neighbour nearer
 * to zero and the one farther (what values just inside the tie round to).
 */
function ties(f: Format): { values: Float64Array; expected: Uint16Array; below: Uint16Array; above: Uint16Array } {
  const values: number[] = [], expected: number[] = [], below: number[] = [], above: number[] = [];
  const inf = (2 ** EXPONENT_BITS[f] - 1) << FRACTION_BITS[f];
  const all = widenOf(reference, f)(ALL_HALVES, new Float64Array(65536));
  for (let h = 0; h < inf; h++) {
    const lo = all[h];
    const mid = h + 1 === inf ? lo + (lo - all[h - 1]) / 2 : (lo + all[h + 1]) / 2;
    const even = h % 2 === 0 ? h : h + 1;
    for (const sign of [0, 0x8000]) {
      values.push(sign ? -mid : mid);
      expected.push(even | sign);
      below.push(h | sign);
      above.push((h + 1) | sign);
    }
  }
  return { values: Float64Array.from(values), expected: Uint16Array.from(expected), below: Uint16Array.from(below), above: Uint16Array.from(above) };
}

/** The float32 neighbours of a's values, one ulp farther from zero (step 1) or nearer (step −1). */
function nudged(a: Float32Array, step: 1 | -1): Float32Array {
  const b = a.slice();
  const w = words(b);
  for (let i = 0; i < w.length; i++) w[i] += step;
  return b;
}

/** Random bit patterns of every class: uniform over the bits, so NaNs, subnormals and huge values come up. */
function randomBits(seed: number, n: number, wide: boolean): Float32Array | Float64Array {
  const rng = makeRng(seed);
  const a = wide ? new Float64Array(n) : new Float32Array(n);
  const w = words(a);
  for (let i = 0; i < w.length; i++) w[i] = Math.floor(rng.uniform() * 2 ** 32) >>> 0;
  return a;
}

describe('reference conversions', () => {
  for (const f of FORMATS) {
    it(`${f}: every one of the 65,536 patterns widens exactly and narrows back to itself (NaN quiet, sign and payload kept)`, () => {
      for (const Ctor of [Float32Array, Float64Array]) {
        const wide = widenOf(reference, f)(ALL_HALVES, new Ctor(65536));
        const back = narrowOf(reference, f)(wide);
        for (let h = 0; h < 65536; h++) if (back[h] !== quiet(f, h)) expect(back[h].toString(16)).toBe(quiet(f, h).toString(16));
        for (let h = 0; h < 65536; h++) if (isNaNBits(f, h)) expect(Number.isNaN(wide[h])).toBe(true);
      }
    });

    it(`${f}: ties round to even; just inside a tie rounds to the nearer half`, () => {
      const { values, expected, below, above } = ties(f);
      expectSameHalves(narrowOf(reference, f)(values), expected, `${f} ties`, values);
      const farther = values.map((v) => v * (1 + 2 ** -52)), nearer = values.map((v) => v * (1 - 2 ** -52));
      expectSameHalves(narrowOf(reference, f)(farther), above, `${f} ties, one ulp farther from 0`, farther);
      expectSameHalves(narrowOf(reference, f)(nearer), below, `${f} ties, one ulp nearer 0`, nearer);
      // float32 sources: the ties are exact floats too, and one float ulp inside them
      const f32 = Float32Array.from(values);
      expect(Array.from(f32)).toEqual(Array.from(values));
      const f32Farther = nudged(f32, 1), f32Nearer = nudged(f32, -1); // ±1 in the bits: subnormal floats too
      expectSameHalves(narrowOf(reference, f)(f32), expected, `${f} float32 ties`, f32);
      expectSameHalves(narrowOf(reference, f)(f32Farther), above, `${f} float32 ties, farther`, f32Farther);
      expectSameHalves(narrowOf(reference, f)(f32Nearer), below, `${f} float32 ties, nearer`, f32Nearer);
    });
  }

  it('edge cases by value', () => {
    const cases: Array<[number, number, number]> = [ // value, float16, bfloat16
      [0, 0, 0], [-0, 0x8000, 0x8000], [1, 0x3c00, 0x3f80], [-2, 0xc000, 0xc000], [65504, 0x7bff, 0x4780],
      [65519.99, 0x7bff, 0x4780], [65520, 0x7c00, 0x4780], [Infinity, 0x7c00, 0x7f80], [-Infinity, 0xfc00, 0xff80],
      [2 ** -24, 0x0001, 0x3380], [2 ** -25, 0, 0x3300], [2 ** -25 * 1.0000001, 0x0001, 0x3300], [2 ** -14, 0x0400, 0x3880],
      [3.4e38, 0x7c00, 0x7f80], [3.3895314e38, 0x7c00, 0x7f7f], [3.3961776e38, 0x7c00, 0x7f80], [1e-40, 0, 0x0001], [-1e-45, 0x8000, 0x8000],
    ];
    for (const [v, h16, hb16] of cases) {
      expect(reference.toFloat16(new Float64Array([v]))[0].toString(16), `toFloat16(${v})`).toBe(h16.toString(16));
      expect(reference.toBFloat16(new Float64Array([v]))[0].toString(16), `toBFloat16(${v})`).toBe(hb16.toString(16));
    }
    // a NaN keeps its sign and its top payload bits, quiet
    const nan = new Float32Array(2);
    words(nan).set([0xff800001, 0x7fa12345]);
    expect(Array.from(reference.toFloat16(nan), (h) => h.toString(16))).toEqual(['fe00', '7f09']);
    expect(Array.from(reference.toBFloat16(nan), (h) => h.toString(16))).toEqual(['ffc0', '7fe1']);
  });
});

describe.runIf(nativeAddon)('native conversions: the reference bits on every ISA path and thread count', () => {
  const { configs, configure, initial } = isaThreadConfigs();
  const run = (name: string, body: () => void) =>
    it(name, () => {
      try {
        for (const { isa, threads } of configs.filter((c) => c.threads <= 2)) {
          configure(isa, threads);
          body();
        }
      } finally {
        configure(initial.isa, initial.threads);
      }
    });
  const large = 300_000; // several tasks of the thread split
  for (const f of FORMATS) {
    run(`${f}: all 65,536 patterns widen to the reference's float32 and float64 bits`, () => {
      for (const Ctor of [Float32Array, Float64Array]) {
        const tiled = Uint16Array.from({ length: large }, (_, i) => i & 0xffff);
        expectSameWords(widenOf(fastnorm, f)(tiled, new Ctor(large)), widenOf(reference, f)(tiled, new Ctor(large)), `${f} → ${Ctor.name}`);
      }
    });
    run(`${f}: ties, ties ± 1 ulp, and random float32/float64 bit patterns narrow to the reference's bits`, () => {
      const { values } = ties(f);
      const sources: Array<[string, Float32Array | Float64Array]> = [
        ['ties (float64)', values],
        ['ties, one ulp farther (float64)', values.map((v) => v * (1 + 2 ** -52))],
        ['ties, one ulp nearer (float64)', values.map((v) => v * (1 - 2 ** -52))],
        ['ties (float32)', Float32Array.from(values)], // exact for every float16 tie and every bfloat16 one
        ['ties, one ulp farther (float32)', nudged(Float32Array.from(values), 1)],
        ['ties, one ulp nearer (float32)', nudged(Float32Array.from(values), -1)],
        ['random float32 bits', randomBits(11, large, false)],
        ['random float64 bits', randomBits(12, large, true)],
        ['widened halves (float32)', widenOf(reference, f)(ALL_HALVES)],
      ];
      for (const [what, src] of sources) {
        // unaligned starts and lengths that are not a multiple of the vector width
        for (const [start, end] of [[0, src.length], [3, src.length - 5]]) {
          const s = src.subarray(start, end);
          expectSameHalves(narrowOf(fastnorm, f)(s), narrowOf(reference, f)(s), `${f} ${what} [${start}, ${end})`, s);
        }
      }
    });
    // Large outputs are written with streaming stores (the threshold at 0 makes every one take
    // that path): every alignment of the output's start, so each head length before the first
    // aligned vector, and lengths that end in a partial vector.
    run(`${f}: streaming stores give the same bits at every output alignment`, () => {
      const previous = nativeAddon!._setStreamingBytes(0);
      try {
        const halves = Uint16Array.from({ length: 4099 }, (_, i) => (i * 37) & 0xffff);
        const floats = randomBits(13, 4099, false) as Float32Array;
        const wideRef = widenOf(reference, f)(halves, new Float32Array(halves.length));
        const narrowRef = narrowOf(reference, f)(floats);
        for (let offset = 0; offset < 17; offset++) {
          for (const n of [halves.length, halves.length - 16, 15]) {
            const wide = new Float32Array(offset + n).subarray(offset);
            widenOf(fastnorm, f)(halves.subarray(0, n), wide);
            expectSameWords(wide, wideRef.subarray(0, n), `${f} widened into offset ${offset}, ${n} values`);
            const narrow = new Uint16Array(offset + n).subarray(offset);
            narrowOf(fastnorm, f)(floats.subarray(0, n), narrow);
            expectSameHalves(narrow, narrowRef.subarray(0, n), `${f} narrowed into offset ${offset}, ${n} values`);
          }
        }
      } finally {
        nativeAddon!._setStreamingBytes(previous);
      }
    });
  }
});

describe('conversion arguments', () => {
  for (const [name, api] of [['fastnorm', fastnorm], ['reference', reference], ['promises (synchronous)', promises]] as const) {
    it(`${name}: out buffers, allocation, and bad arguments naming the argument`, () => {
      const src = new Float32Array([1, 2, 3]);
      const out = new Uint16Array(3);
      expect(api.toFloat16(src, out)).toBe(out);
      expect(Array.from(out)).toEqual([0x3c00, 0x4000, 0x4200]);
      const wide = new Float64Array(3);
      expect(api.fromFloat16(out, wide)).toBe(wide);
      expect(Array.from(wide)).toEqual([1, 2, 3]);
      expect(api.fromBFloat16(api.toBFloat16(src))).toBeInstanceOf(Float32Array);
      expect(api.toFloat16(new Float32Array(0)).length).toBe(0);
      expect(() => api.toFloat16([1, 2] as never)).toThrow(/^src must be a Float32Array or Float64Array/);
      expect(() => api.toFloat16(new Uint16Array(2) as never)).toThrow(TypeError);
      expect(() => api.fromFloat16(new Float32Array(2) as never)).toThrow(/^src must be a Uint16Array/);
      expect(() => api.toBFloat16(src, new Float32Array(3) as never)).toThrow(/^out must be a Uint16Array/);
      expect(() => api.fromBFloat16(out, new Uint16Array(3) as never)).toThrow(/^out must be a Float32Array or Float64Array/);
      expect(() => api.toFloat16(src, new Uint16Array(2))).toThrow(RangeError);
      expect(() => api.fromFloat16(out, new Float32Array(4))).toThrow(/^out must have 3 elements/);
      const shared = new ArrayBuffer(16);
      expect(() => api.toFloat16(new Float32Array(shared, 0, 2), new Uint16Array(shared, 4, 2))).toThrow(/^out must not share memory with src/);
      expect(() => api.fromFloat16(new Uint16Array(shared, 0, 2), new Float32Array(shared, 0, 2))).toThrow(RangeError);
    });
  }
  it.runIf(nativeAddon)('the addon checks what protects memory by itself', () => {
    const addon = nativeAddon!;
    expect(() => addon.toFloat16(new Float32Array(4), new Uint16Array(3))).toThrow(RangeError);
    expect(() => addon.fromFloat16(new Uint16Array(4), new Uint16Array(4) as never)).toThrow(/out must be a Float32Array/);
    expect(() => addon.toBFloat16(new Uint16Array(4) as never, new Uint16Array(4))).toThrow(/src must be a Float32Array/);
    expect(() => addon.fromBFloat16(null as never, new Float32Array(4))).toThrow(/src is required/);
    const shared = new ArrayBuffer(16);
    expect(() => addon.toFloat16(new Float32Array(shared, 0, 2), new Uint16Array(shared, 6, 2))).toThrow(/share memory/);
  });
});
