// Reference activations in float64, written independently of the native ones (vec_math.h):
// V8's Math.exp, a Taylor series of erf for small arguments and the continued fraction of
// erfc beyond. Also the accuracy yardstick of test/activation.test.ts: within ~1e-13
// relative of the true function for float32 inputs (where x² is exact in float64).
import type { Activation, FloatArray } from '../../api/types.js';

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const ONE_OVER_SQRT_PI = 0.5641895835477563;

/** erfc(a) for a >= 0, with e^(−a²) given (so a caller can compute a² exactly). */
function erfcWith(a: number, expMinusA2: number): number {
  if (a < 2) {
    // erf(a) = 2/√π · Σ (−1)^n a^(2n+1) / (n!(2n+1)); terms fall below 1e-17 of the sum by n = 40
    let term = a;
    let sum = a;
    const a2 = a * a;
    for (let n = 1; n < 60; n++) {
      term *= -a2 / n;
      sum += term / (2 * n + 1);
    }
    return 1 - TWO_OVER_SQRT_PI * sum;
  }
  // erfc(a) = e^(−a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + …))))), from the bottom
  let f = a;
  for (let k = 80; k >= 1; k--) f = a + k / 2 / f;
  return (expMinusA2 * ONE_OVER_SQRT_PI) / f;
}

/** x·sigmoid(v) for v of x's sign, without overflow. */
function timesSigmoid(x: number, v: number): number {
  if (v >= 0) return x / (1 + Math.exp(-v));
  if (x < -760) return -0;
  const e = Math.exp(v);
  return (x * e) / (1 + e);
}

export function relu(x: number): number {
  return x < 0 ? 0 : x;
}

export function silu(x: number): number {
  return timesSigmoid(x, x);
}

/** 0.5·x·(1 + erf(x/√2)). */
export function gelu(x: number): number {
  if (Number.isNaN(x)) return x;
  const a = Math.abs(x) * Math.SQRT1_2;
  if (a > 40) return x < 0 ? -0 : x; // erfc(a) is 0 in float64
  const e = erfcWith(a, Math.exp(-(x * x) / 2));
  return x < 0 ? 0.5 * x * e : x - 0.5 * x * e;
}

/** PyTorch's approximate='tanh': 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) = x·sigmoid(2u). */
export function geluTanh(x: number): number {
  const u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
  return timesSigmoid(x, 2 * u);
}

const ACTIVATIONS: Record<Activation, (x: number) => number> = { relu, silu, gelu, 'gelu-tanh': geluTanh };

/** y[i] = act(y[i]) in place ('none': unchanged). */
export function activateInPlace(activation: Activation | 'none', y: FloatArray): void {
  if (activation === 'none') return;
  const f = ACTIVATIONS[activation];
  for (let i = 0; i < y.length; i++) y[i] = f(y[i]);
}

// ---- Derivatives, for the fused backwards: g = dy·act'(z). Written from the textbook formulas
// (Math.tanh for GELU-tanh, erfc for Φ) rather than the native ones' σ-pair form, so that the
// two backends check each other. ----

const INV_SQRT_2PI = 0.3989422804014327;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** σ(z)·(1 + z·(1 − σ(z))). */
export function siluSlope(z: number): number {
  const s = 1 / (1 + Math.exp(-z));
  return s * (1 + z * (1 - s));
}

/** Φ(z) + z·φ(z). */
export function geluSlope(z: number): number {
  if (Number.isNaN(z)) return z;
  const a = Math.abs(z) * Math.SQRT1_2;
  if (a > 40) return z < 0 ? 0 : 1;
  const density = Math.exp(-(z * z) / 2) * INV_SQRT_2PI;
  const tail = 0.5 * erfcWith(a, Math.exp(-(z * z) / 2));
  return (z < 0 ? tail : 1 - tail) + z * density;
}

/** d/dz of 0.5·z·(1 + tanh(u)), u = √(2/π)·(z + 0.044715·z³) (PyTorch's approximate='tanh' backward). */
export function geluTanhSlope(z: number): number {
  const t = Math.tanh(SQRT_2_OVER_PI * (z + 0.044715 * z * z * z));
  return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * z * z);
}

const SLOPES: Record<Exclude<Activation, 'relu'>, (z: number) => number> = { silu: siluSlope, gelu: geluSlope, 'gelu-tanh': geluTanhSlope };

/** dy·act'(z); relu: dy where z > 0, else 0 (PyTorch's slope 0 at z = 0, and for NaN z). */
export function gateGradient(activation: Activation, z: number, dy: number): number {
  if (activation === 'relu') return z > 0 ? dy : 0;
  return dy * SLOPES[activation](z);
}
