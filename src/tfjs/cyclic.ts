// TF.js's FusedBatchNorm reads each of mean, variance, scale and offset cyclically over x in
// row-major order: element i uses p[i mod p.length], whatever the shapes (a [C] parameter
// broadcasts over the last axis, a full-shape one is element-wise, a trailing-dims one repeats
// over the leading axes). With P = lcm of the lengths, x is then a channels-last [rows, P] tensor
// whose channel c uses p[c mod p.length] — fastnorm's BatchNorm layout — plus, when P does not
// divide x's size, a tail of fewer than P values that are channels 0, 1, … of one more row.
import type { FallbackReason } from './counters.js';

/** Parameters are expanded to P values; beyond this (and beyond the longest parameter) the kernel
 * would allocate more than its inputs hold, so such calls stay on TF.js's kernel. */
export const MAX_EXPANDED_PERIOD = 65536;

/** x as fastnorm sees it: `rows` × `channels` values, then `tail` values of channels 0 … tail−1. */
export interface CyclicView {
  channels: number;
  rows: number;
  tail: number;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The channels-last view of `size` values whose parameters have the given lengths. */
export function cyclicView(size: number, lengths: readonly number[]): CyclicView | FallbackReason {
  if (size === 0) return { channels: 0, rows: 0, tail: 0 };
  let period = 1;
  let longest = 0;
  for (const len of lengths) {
    if (len === 0) return 'empty-parameter';
    longest = Math.max(longest, len);
    // past x's size one row holds all of x: channel i simply uses p[i mod len]
    if (period < size) period = Math.min(size, (period / gcd(period, len)) * len);
  }
  const channels = Math.min(period, size);
  if (channels > longest && channels > MAX_EXPANDED_PERIOD) return 'period';
  const rows = Math.floor(size / channels);
  return { channels, rows, tail: size - rows * channels };
}

/** A numeric typed array as TF.js's cpu backend stores it. */
export type NumericArray = Float32Array | Int32Array | Uint8Array;

/**
 * `values` read cyclically over `channels` positions as a Float32Array (the array itself when it
 * already is one of that length), or null when a value is not exactly a float32 (an int32 beyond
 * 2^24): rounding it would change (x − mean) where x is close to the mean.
 */
export function expandExact(values: NumericArray, channels: number): Float32Array | null {
  if (values instanceof Float32Array && values.length === channels) return values;
  const out = new Float32Array(channels);
  const len = values.length;
  const exact = values instanceof Float32Array;
  for (let c = 0; c < channels; c++) {
    const v = values[c % len];
    out[c] = v;
    if (!exact && out[c] !== v) return null;
  }
  return out;
}

/**
 * The inverse of the cyclic read for gradients: position j of a parameter of `length` values
 * collects every channel c ≡ j (mod length). Summed in double, stored as float32.
 */
export function foldCyclic(perChannel: Float64Array, length: number): Float32Array {
  if (perChannel.length === length) return Float32Array.from(perChannel);
  const sums = new Float64Array(length);
  for (let c = 0; c < perChannel.length; c++) sums[c % length] += perChannel[c];
  return Float32Array.from(sums);
}
