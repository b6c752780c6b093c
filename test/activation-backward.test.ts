// The fused-activation backwards (activation/bias options of layerNormBackward): the slopes
// act'(z) on every ISA path against the float64 reference, the fused backward against the
// plain backward applied to dy·act'(z) computed unfused, native against reference on the
// kernel paths (vector tails, huge rows), and finite differences of the fused forward.
// Validation, determinism over ISA × threads, out buffers, promises and fuzzing come from the
// table-driven tests (cases/row-norm.ts passes `flags.activation` and the bias).
//
// act'(z) alone: layerNormBackward with saved mean 0 and rstd 1, no weight or bias, one row and
// dy = 1 makes z = x and dbias[j] = act'(x[j]) (one value per column: nothing else rounds).
import { describe, expect, it } from 'vitest';
import type { Activation, FloatArray } from '../src/api/types';
import { nativeAddon } from '../src/backends/default';
import { gateGradient, geluSlope, geluTanhSlope, siluSlope } from '../src/backends/reference/activation';
import * as fastnorm from '../src/index';
import * as reference from '../src/reference';
import { CTORS, DTYPES, expectBackwardClose, expectClose, makeRng, numericGradient, randn, type DType } from './helpers';

const addon = nativeAddon!;
const ACTIVATIONS: Activation[] = ['relu', 'silu', 'gelu', 'gelu-tanh'];
const ISAS: string[] = addon ? addon.info().supportedIsas : [];
const SLOPE: Record<Activation, (z: number) => number> = {
  relu: (z) => (z > 0 ? 1 : 0), silu: siluSlope, gelu: geluSlope, 'gelu-tanh': geluTanhSlope,
};

type Api = typeof fastnorm | typeof reference;

/** act'(z) per element through the kernel (see the file comment). */
function slopes(api: Api, z: FloatArray, activation: Activation): FloatArray {
  const Ctor = z.constructor as typeof Float32Array | typeof Float64Array;
  const saved = { mean: new Ctor(1), rstd: new Ctor(1).fill(1) };
  const dy = { data: new Ctor(z.length).fill(1), shape: [1, z.length] };
  return api.layerNormBackward(dy, { data: z, shape: [1, z.length] }, saved, z.length, { activation, grads: { bias: true } }).dbias!;
}

function grid(dtype: DType): FloatArray {
  const values: number[] = [0, -0, NaN, Infinity, -Infinity, 1e-300, -1e-300, 1e-40, -1e-40, 1e-8, -1e-8, -0.7518, 700, -700, 745, -745, 900, -900];
  for (let v = -45; v <= 45; v += 0.01) values.push(v);
  for (let e = -30; e <= 30; e += 0.25) values.push(2 ** e, -(2 ** e));
  return CTORS[dtype].from(values);
}

/** Largest |a − b| / max(|b|, floor) over the elements, NaN required where b is NaN. */
function maxRelError(a: FloatArray, b: ArrayLike<number>, floor: number): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(b[i])) {
      expect(Number.isNaN(a[i]), `NaN expected at ${i}`).toBe(true);
      continue;
    }
    const e = Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), floor);
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

describe.runIf(addon)("act'(z): accuracy and agreement of every ISA path", () => {
  for (const dtype of DTYPES) {
    for (const a of ACTIVATIONS) {
      it(`${a} ${dtype}`, () => {
        const z = grid(dtype);
        // The float64 truth of the reference formulas on the finite z; the limits at ±∞ (1 and 0); relu: slope 0 unless z > 0.
        const truth = Array.from(z, (v) => (Number.isFinite(v) ? SLOPE[a](v) : Number.isNaN(v) ? (a === 'relu' ? 0 : NaN) : v > 0 ? 1 : 0));
        const initial = addon.info().isa;
        let first: FloatArray | null = null;
        try {
          for (const isa of ISAS) {
            expect(addon._setIsa(isa)).toBe(isa);
            const s = slopes(fastnorm, z, a);
            // float data: within 1.4 ulp (≤ 1.67e-7 relative; silu and GELU-tanh in float lanes, measured
            // ≤ 1.21 / 1.38 ulp over all 2^32 z by scripts/check-activation-slopes.cc), but for an absolute error of
            // < 0.05·2^-24 near the slopes' zeros (the float exp's error there; GELU's Float grade: 1e-10),
            // hence the floor 1/16; double: a few ulp of max(|act'|, 1), the size of the terms Φ + z·φ
            // (σ + z·σ(1 − σ)) cancels from.
            const err = maxRelError(s, truth, dtype === 'float32' ? 1 / 16 : 1);
            if (process.env.FASTNORM_PRINT_ACCURACY) console.log(`slope ${a} ${dtype} ${isa}: max rel ${err.toExponential(2)}`);
            expect(err).toBeLessThanOrEqual(dtype === 'float32' ? 1.67e-7 : 1e-14);
            if (first) expect(Buffer.from(s.buffer).equals(Buffer.from(first.buffer)), `${isa} bitwise equal to ${ISAS[0]}`).toBe(true);
            else first = s;
          }
        } finally {
          addon._setIsa(initial);
        }
        const finite = z.filter((v) => Number.isFinite(v));
        const ref = slopes(reference, finite, a);
        // float32: rounded once (results below float's range round to 0, hence the floor)
        expect(maxRelError(ref, Array.from(finite, SLOPE[a]), dtype === 'float32' ? 1e-30 : 1e-300)).toBeLessThanOrEqual(dtype === 'float32' ? 6e-8 : 0);
      });
    }
  }
  it('relu: slope 0 at z = 0 and −0 (PyTorch), 1 just above', () => {
    const s = slopes(fastnorm, Float64Array.from([0, -0, 5e-324, -5e-324]), 'relu');
    expect(Array.from(s)).toEqual([0, 0, 1, 0]);
  });
});

// float32 silu and GELU-tanh gradients in float lanes (vec_math.h timesSigmoidGate): g = dy·act'(z)
// for arbitrary dy (its product rounds inside, once), every vector-tail length, NaN/±∞/subnormal z
// and dy, huge and tiny dy; bitwise equal on every ISA path; within 2 ulp of the float64 truth
// away from the slope's zero z0, and within 0.05·2^-24·|dy| absolute near it.
describe.runIf(addon)("float32 g = dy·act'(z) in float lanes: every ISA path, tails, special values", () => {
  const ZERO: Partial<Record<Activation, number>> = { silu: -1.2784645, 'gelu-tanh': -0.7524714 };
  // The float64 truth: σ(v) + w·σ(v)(1 − σ(v)) from e = e^−|v| (w = z·v'), which keeps its relative
  // precision in the tails (the reference's 1 − tanh² is 0 there, e.g. at z = −8).
  const sigmoidSlope = (v: number, w: number) => {
    const e = Math.exp(-Math.abs(v)), d = 1 + e;
    return v >= 0 ? (d + w * e) / (d * d) : (e * (d + w)) / (d * d);
  };
  const C1 = 1.5957691216057308, C3 = 0.07135481627260025;  // 2·√(2/π), 2·√(2/π)·0.044715
  const TRUTH: Partial<Record<Activation, (z: number) => number>> = {
    silu: (z) => sigmoidSlope(z, z),
    'gelu-tanh': (z) => sigmoidSlope(z * (C1 + C3 * z * z), z * (C1 + 3 * C3 * z * z)),
  };
  /** g[j] = dy[j]·act'(z[j]): one row, mean 0, rstd 1, no weight or bias, so dbias[j] is g[j]. */
  const gates = (z: Float32Array, dy: Float32Array, activation: Activation) => {
    const saved = { mean: new Float32Array(1), rstd: new Float32Array(1).fill(1) };
    return fastnorm.layerNormBackward({ data: dy, shape: [1, z.length] }, { data: z, shape: [1, z.length] }, saved, z.length,
      { activation, grads: { bias: true } }).dbias! as Float32Array;
  };
  const specials = [0, -0, NaN, Infinity, -Infinity, 1e-40, -1e-40, 1e-45, -1e-45, 88, -88, 103, -103, 120, -120, 200, -200, 3e38, -3e38,
    -1.2784645, -1.2784646, -0.7524714, -0.75247145, 14.4, -14.4, 15, -15];
  for (const activation of ['silu', 'gelu-tanh'] as Activation[]) {
    it(activation, () => {
      const rng = makeRng(activation.length).uniform;
      const initial = addon.info().isa;
      try {
        for (const n of [1, 2, 7, 15, 16, 17, 31, 33, 40, 1000]) {
          const z = new Float32Array(n), dy = new Float32Array(n);
          for (let i = 0; i < n; i++) {
            z[i] = i % 3 === 0 ? specials[(i / 3 + n) % specials.length] : (rng() * 2 - 1) * (i % 2 ? 4 : 20);
            // dy: mostly a random mantissa with an exponent in [−30, 30]; sometimes subnormal, huge, 0, NaN or ∞
            const k = i % 11;
            dy[i] = k === 5 ? 3e-42 : k === 7 ? 1e36 : k === 9 ? 0 : k === 10 && i % 4 === 0 ? (i % 8 ? NaN : Infinity) : (rng() + 0.5) * 2 ** (Math.floor(rng() * 61) - 30) * (rng() < 0.5 ? -1 : 1);
          }
          let first: Float32Array | null = null;
          for (const isa of ISAS) {
            expect(addon._setIsa(isa)).toBe(isa);
            const g = gates(z, dy, activation);
            if (first) expect(Buffer.from(g.buffer).equals(Buffer.from(first.buffer)), `n = ${n}: ${isa} bitwise equal to ${ISAS[0]}`).toBe(true);
            else first = g;
          }
          const g = first!;
          for (let i = 0; i < n; i++) {
            const where = `${activation} z = ${z[i]}, dy = ${dy[i]}`;
            if (Number.isNaN(z[i]) || Number.isNaN(dy[i])) { expect(Number.isNaN(g[i]), where).toBe(true); continue; }
            const slope = Number.isFinite(z[i]) ? TRUTH[activation]!(z[i]) : z[i] > 0 ? 1 : 0;
            if (Math.abs(z[i]) < 4) expect(Math.abs(slope - SLOPE[activation](z[i]))).toBeLessThan(1e-14);
            const truth = dy[i] * slope;
            if (!Number.isFinite(dy[i])) {
              // ∞·act'(z): ±∞ (NaN where act'(z) is 0 or was already rounded to 0)
              if (slope !== 0 && Math.abs(slope) > 1e-30) expect(g[i], where).toBe(truth);
              continue;
            }
            const got = g[i];
            const ulp = Math.max(2 ** -149, 2 ** (Math.floor(Math.log2(Math.abs(Math.fround(truth)) || 2 ** -149)) - 23));
            const nearZero = Math.abs(z[i] - ZERO[activation]!) < 1 / 16;
            const err = Math.abs(got - truth);
            if (nearZero) expect(err, where).toBeLessThanOrEqual(0.05 * 2 ** -24 * Math.abs(dy[i]) + ulp);
            else expect(err / ulp, where).toBeLessThanOrEqual(2);
            if (truth === 0) expect(Object.is(got, truth) || got === 0, where).toBe(true);
          }
        }
      } finally {
        addon._setIsa(initial);
      }
    });
  }
});

interface Problem {
  dtype: DType;
  rows: number;
  cols: number;
  weight: boolean;
  bias: boolean;
  activation: Activation;
  seed: number;
}

function problem(p: Problem) {
  const rng = makeRng(p.seed);
  const n = p.rows * p.cols;
  const x = { data: randn(rng, p.dtype, n, 2, 0.5), shape: [p.rows, p.cols] };
  const dy = { data: randn(rng, p.dtype, n), shape: [p.rows, p.cols] };
  const weight = p.weight ? randn(rng, p.dtype, p.cols, 0.7, 1) : undefined;
  const bias = p.bias ? randn(rng, p.dtype, p.cols, 0.5) : undefined;
  const saved = fastnorm.layerNorm(x, p.cols, { weight, bias });
  return { x, dy, weight, bias, saved: { mean: saved.mean, rstd: saved.rstd } };
}

const SHAPES: Array<[number, number]> = [[3, 1], [4, 7], [5, 17], [3, 33], [2, 768], [2, 40_003]];

describe('layerNormBackward with activation: native against the reference and the unfused sequence', () => {
  for (const dtype of DTYPES) {
    for (const activation of ACTIVATIONS) {
      for (const [rows, cols] of SHAPES) {
        for (const [weight, bias] of [[true, true], [false, true], [true, false], [false, false]] as const) {
          const p: Problem = { dtype, rows, cols, weight, bias, activation, seed: rows * 7919 + cols };
          it.runIf(addon)(`${activation} ${dtype} [${rows}, ${cols}] weight ${weight} bias ${bias}`, () => {
            const { x, dy, saved, ...o } = problem(p);
            const opts = { weight: o.weight, bias: o.bias, activation, grads: { weight, bias: true } };
            const nat = fastnorm.layerNormBackward(dy, x, saved, cols, opts);
            const ref = reference.layerNormBackward(dy, x, saved, cols, opts);
            expectBackwardClose(dtype, nat.dx.data, ref.dx.data, 'dx', { f64Tol: 1e-11, l2Floor: 0 });
            expectBackwardClose(dtype, nat.dweight, ref.dweight, 'dweight', { f64Tol: 1e-11 });
            expectBackwardClose(dtype, nat.dbias, ref.dbias, 'dbias', { f64Tol: 1e-11 });
            // Unfused: z from the forward without activation, g = dy·act'(z) in float64, then the plain backward.
            const z = fastnorm.layerNorm(x, cols, { weight: o.weight, bias: o.bias }).y.data;
            const g = new CTORS[dtype](z.length);
            for (let i = 0; i < z.length; i++) g[i] = gateGradient(activation, z[i], dy.data[i]);
            const plain = fastnorm.layerNormBackward({ data: g, shape: x.shape }, x, saved, cols, { weight: o.weight, grads: { weight, bias: true } });
            expectBackwardClose(dtype, nat.dx.data, plain.dx.data, 'dx vs unfused', { f64Tol: 1e-9 });
            expectBackwardClose(dtype, nat.dbias, plain.dbias, 'dbias vs unfused', { f64Tol: 1e-9 });
            expectBackwardClose(dtype, nat.dweight, plain.dweight, 'dweight vs unfused', { f64Tol: 1e-9 });
          });
        }
      }
    }
  }

  it.runIf(addon)('no activation: bias is ignored, results bitwise as before', () => {
    const { x, dy, saved, weight, bias } = problem({ dtype: 'float32', rows: 4, cols: 19, weight: true, bias: true, activation: 'relu', seed: 3 });
    const a = fastnorm.layerNormBackward(dy, x, saved, 19, { weight });
    const b = fastnorm.layerNormBackward(dy, x, saved, 19, { weight, bias, activation: undefined });
    expect(Buffer.from(b.dx.data.buffer).equals(Buffer.from(a.dx.data.buffer))).toBe(true);
  });
});

describe('layerNormBackward with activation: central finite differences of the fused forward', () => {
  for (const api of [reference, ...(addon ? [fastnorm] : [])] as Api[]) {
    for (const activation of ACTIVATIONS) {
      it(`${api === reference ? 'reference' : 'native'} ${activation}`, () => {
        const rows = 3, cols = 6;
        // Away from relu's kink: z is kept off 0 by the bias (checked below).
        const { x, dy, weight, bias } = problem({ dtype: 'float64', rows, cols, weight: true, bias: true, activation, seed: 11 });
        const loss = (xd: FloatArray, w: FloatArray, b: FloatArray) => {
          const y = reference.layerNorm({ data: xd, shape: [rows, cols] }, cols, { weight: w, bias: b, activation }).y.data;
          let s = 0;
          for (let i = 0; i < y.length; i++) s += y[i] * dy.data[i];
          return s;
        };
        const f = reference.layerNorm(x, cols, { weight, bias });
        for (const v of f.y.data) expect(Math.abs(v)).toBeGreaterThan(1e-3);
        const got = api.layerNormBackward(dy, x, { mean: f.mean, rstd: f.rstd }, cols, { weight, bias, activation });
        const w = weight! as Float64Array, b = bias! as Float64Array;
        const call = () => loss(x.data, w, b);
        expectClose(got.dx.data, numericGradient(call, x.data as Float64Array, 1e-6), 1e-6, 'dx', 1);
        expectClose(got.dweight!, numericGradient(call, w, 1e-6), 1e-6, 'dweight', 1);
        expectClose(got.dbias!, numericGradient(call, b, 1e-6), 1e-6, 'dbias', 1);
      });
    }
  }
});
