// Half precision: the 16-bit storage formats float16 (IEEE binary16) and bfloat16 (the top half of
// a float32), held as bit patterns in a Uint16Array (Node 20 has no Float16Array; a runtime's
// Float16Array is accepted as float16). The exported conversions toFloat16/fromFloat16/
// toBFloat16/fromBFloat16 check their arguments here and run the backend's conversion: the
// native one (native/kernels/convert.cc, vectorized) or the reference twins below, written
// independently of it (number arithmetic, not bit tricks) so each checks the other.
//
// Narrowing rounds once to nearest, ties to even, keeps subnormals, overflows to ±Inf; a NaN
// stays NaN, quiet, with its sign and the top bits of its payload. Widening is exact (a
// signalling NaN comes back quiet). Every path gives the same bits.
import type { FloatArray } from './types.js';

export type HalfDtype = 'float16' | 'bfloat16';

/** A backend's conversions, on checked arrays of equal length. */
export interface HalfConversions {
  toFloat16(src: FloatArray, dst: Uint16Array): void;
  fromFloat16(src: Uint16Array, dst: FloatArray): void;
  toBFloat16(src: FloatArray, dst: Uint16Array): void;
  fromBFloat16(src: Uint16Array, dst: FloatArray): void;
}

interface HalfLayout {
  exponentBits: number;
  fractionBits: number;
}
const LAYOUTS: Readonly<Record<HalfDtype, HalfLayout>> = {
  float16: { exponentBits: 5, fractionBits: 10 },
  bfloat16: { exponentBits: 8, fractionBits: 7 },
};

// The runtime's Float16Array, where there is one (Node 20 has none).
const Float16ArrayCtor = (globalThis as { Float16Array?: new (...args: never[]) => ArrayBufferView }).Float16Array;

/** A Float16Array of this runtime (false on Node 20, which has none). */
export function isRuntimeFloat16Array(v: unknown): v is ArrayBufferView {
  return Float16ArrayCtor !== undefined && v instanceof Float16ArrayCtor;
}

/** The bit patterns of a Uint16Array, or of a runtime Float16Array viewed as one. */
export function halfBits(v: unknown): Uint16Array | null {
  if (v instanceof Uint16Array) return v;
  if (isRuntimeFloat16Array(v)) return new Uint16Array(v.buffer, v.byteOffset, v.byteLength / 2);
  return null;
}

// ---- the reference twins ----

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The 32-bit words of a float array (per value: float32 one, float64 two, low word first). */
function wordsOf(a: FloatArray): Uint32Array {
  if (!LITTLE_ENDIAN) throw new Error('fastnorm: half-precision conversions need a little-endian platform');
  return new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4);
}

/** x rounded to nearest-even integer (x ≥ 0, below 2^53: every step is exact). */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}

/**
 * The half bits of a value: `magnitude` its absolute value, `wideExponent` its unbiased binary
 * exponent (-Infinity for a subnormal source), `payload` the top `fractionBits` of a NaN's fraction.
 */
function narrowValue(layout: HalfLayout, sign: number, magnitude: number, wideExponent: number, payload: number): number {
  const { exponentBits, fractionBits } = layout;
  const bias = 2 ** (exponentBits - 1) - 1;
  const inf = (2 ** exponentBits - 1) * 2 ** fractionBits;
  const signBit = sign ? 0x8000 : 0;
  if (Number.isNaN(magnitude)) return signBit | inf | (1 << (fractionBits - 1)) | payload;
  if (wideExponent > bias) return signBit | inf; // ±Inf, or beyond the largest binade
  if (wideExponent >= 1 - bias) {
    // normal: the significand in units of the half's last place, rounded (a carry into the next
    // binade, or into Inf, is the right encoding)
    const q = roundHalfEven(magnitude * 2 ** (fractionBits - wideExponent));
    return signBit | ((wideExponent + bias) * 2 ** fractionBits + q - 2 ** fractionBits);
  }
  // subnormal or zero: in units of the least subnormal (a carry into the least normal is right)
  return signBit | roundHalfEven(magnitude * 2 ** (bias - 1 + fractionBits));
}

function referenceNarrow(dtype: HalfDtype, src: FloatArray, dst: Uint16Array): void {
  const layout = LAYOUTS[dtype];
  const words = wordsOf(src);
  const wide = src instanceof Float64Array;
  for (let i = 0; i < src.length; i++) {
    const high = wide ? words[2 * i + 1] : words[i];
    const exponentField = wide ? (high >>> 20) & 0x7ff : (high >>> 23) & 0xff;
    const exponent = exponentField === 0 ? -Infinity : exponentField - (wide ? 1023 : 127);
    const payload = wide ? (high & 0xfffff) >>> (20 - layout.fractionBits) : (high & 0x7fffff) >>> (23 - layout.fractionBits);
    dst[i] = narrowValue(layout, high >>> 31, Math.abs(src[i]), exponent, payload);
  }
}

function referenceWiden(dtype: HalfDtype, src: Uint16Array, dst: FloatArray): void {
  const { exponentBits, fractionBits } = LAYOUTS[dtype];
  const bias = 2 ** (exponentBits - 1) - 1;
  const maxField = 2 ** exponentBits - 1;
  const words = wordsOf(dst);
  const wide = dst instanceof Float64Array;
  for (let i = 0; i < src.length; i++) {
    const h = src[i];
    const negative = h >= 0x8000;
    const field = (h >>> fractionBits) & maxField;
    const fraction = h & (2 ** fractionBits - 1);
    if (field === maxField && fraction !== 0) {
      // NaN: quiet, sign and payload kept (written as bits: a number's NaN payload is not kept)
      const sign = negative ? 0x80000000 : 0;
      if (wide) {
        words[2 * i] = 0;
        words[2 * i + 1] = (sign | 0x7ff80000 | (fraction << (20 - fractionBits))) >>> 0;
      } else {
        words[i] = (sign | 0x7fc00000 | (fraction << (23 - fractionBits))) >>> 0;
      }
      continue;
    }
    const magnitude = field === maxField ? Infinity
      : field === 0 ? fraction * 2 ** (1 - bias - fractionBits)
        : (2 ** fractionBits + fraction) * 2 ** (field - bias - fractionBits);
    dst[i] = negative ? -magnitude : magnitude;
  }
}

/** The pure-TypeScript conversions (fastnorm/reference, and the fallback backend). */
export const referenceConversions: HalfConversions = {
  toFloat16: (src, dst) => referenceNarrow('float16', src, dst),
  fromFloat16: (src, dst) => referenceWiden('float16', src, dst),
  toBFloat16: (src, dst) => referenceNarrow('bfloat16', src, dst),
  fromBFloat16: (src, dst) => referenceWiden('bfloat16', src, dst),
};

// ---- the public functions ----

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  return typeof v === 'object' ? 'an object' : typeof v;
}

function checkFloatSource(v: unknown): FloatArray {
  if (v instanceof Float32Array || v instanceof Float64Array) return v;
  throw new TypeError(`src must be a Float32Array or Float64Array, got ${describe(v)}`);
}

function checkOut<A>(out: A, srcLength: number, src: ArrayBufferView): A {
  const a = out as unknown as ArrayBufferView & { length: number };
  if (a.length !== srcLength) throw new RangeError(`out must have ${srcLength} elements like src, got ${a.length}`);
  const start = a.byteOffset, end = start + a.byteLength;
  if (a.buffer === src.buffer && start < src.byteOffset + src.byteLength && src.byteOffset < end)
    throw new RangeError('out must not share memory with src');
  return out;
}

/** The exported conversions (the same on every entry point; synchronous in fastnorm/promises too). */
export interface HalfConversionFunctions {
  /**
   * Rounds float32/float64 values to float16 (IEEE binary16) bit patterns: once, to nearest
   * with ties to even; subnormals kept, overflow to ±Inf, NaN quiet with its sign. `out`
   * (a Uint16Array of src's length, or a runtime Float16Array) receives them when given.
   * @example
   * const bits = fastnorm.toFloat16(new Float32Array([1, 0.1, 65520])); // Uint16Array [0x3c00, 0x2e66, 0x7c00]
   */
  toFloat16<O extends Uint16Array = Uint16Array>(src: FloatArray, out?: O): O;
  /**
   * Widens float16 bit patterns (a Uint16Array, or a runtime Float16Array) to float32 (default)
   * or into `out` (a Float32Array or Float64Array of src's length), exactly.
   * @example
   * const values = fastnorm.fromFloat16(new Uint16Array([0x3c00, 0x0001])); // Float32Array [1, 5.96e-8]
   */
  fromFloat16<A extends FloatArray = Float32Array>(src: Uint16Array, out?: A): A;
  /**
   * Rounds float32/float64 values to bfloat16 bit patterns (the top 16 bits of a float32):
   * once, to nearest with ties to even, subnormals kept, overflow to ±Inf, NaN quiet with its sign.
   * @example
   * const bits = fastnorm.toBFloat16(new Float32Array([1, 3.14159])); // Uint16Array [0x3f80, 0x4049]
   */
  toBFloat16<O extends Uint16Array = Uint16Array>(src: FloatArray, out?: O): O;
  /**
   * Widens bfloat16 bit patterns (a Uint16Array) to float32 (default) or into `out` (a
   * Float32Array or Float64Array of src's length), exactly.
   * @example
   * const values = fastnorm.fromBFloat16(new Uint16Array([0x3f80, 0x4049])); // Float32Array [1, 3.140625]
   */
  fromBFloat16<A extends FloatArray = Float32Array>(src: Uint16Array, out?: A): A;
}

/** The four public conversions on a backend's raw ones. */
export function createConversions(raw: HalfConversions): HalfConversionFunctions {
  const narrowing = (run: (src: FloatArray, dst: Uint16Array) => void, allowFloat16Out: boolean) =>
    (src: FloatArray, out?: Uint16Array): Uint16Array => {
      const s = checkFloatSource(src);
      let dst: Uint16Array;
      if (out === undefined) dst = new Uint16Array(s.length);
      else {
        const bits = out instanceof Uint16Array ? out : allowFloat16Out ? halfBits(out) : null;
        if (!bits) throw new TypeError(`out must be a Uint16Array${allowFloat16Out && Float16ArrayCtor ? ' or Float16Array' : ''}, got ${describe(out)}`);
        dst = checkOut(bits, s.length, s);
      }
      run(s, dst);
      return out ?? dst;
    };
  const widening = (run: (src: Uint16Array, dst: FloatArray) => void, allowFloat16Src: boolean) =>
    (src: Uint16Array, out?: FloatArray): FloatArray => {
      const s = src instanceof Uint16Array ? src : allowFloat16Src ? halfBits(src) : null;
      if (!s) throw new TypeError(`src must be a Uint16Array${allowFloat16Src && Float16ArrayCtor ? ' or Float16Array' : ''}, got ${describe(src)}`);
      let dst: FloatArray;
      if (out === undefined) dst = new Float32Array(s.length);
      else if (out instanceof Float32Array || out instanceof Float64Array) dst = checkOut(out, s.length, s);
      else throw new TypeError(`out must be a Float32Array or Float64Array, got ${describe(out)}`);
      run(s, dst);
      return dst;
    };
  return {
    toFloat16: narrowing(raw.toFloat16, true),
    fromFloat16: widening(raw.fromFloat16, true),
    toBFloat16: narrowing(raw.toBFloat16, false),
    fromBFloat16: widening(raw.fromBFloat16, false),
  } as HalfConversionFunctions;
}
