// The fused activations (activation: 'relu' | 'silu' | 'gelu' | 'gelu-tanh' on batchNorm,
// groupNorm, instanceNorm and layerNorm forwards): their accuracy against the true function
// on every ISA path, bitwise agreement of the paths, fused against unfused, NaN/Inf, and the
// native against the reference backend on the shapes that matter to the kernels. (Validation,
// determinism over thread counts, out buffers and fuzzing come from the table-driven tests:
// cases/*.ts pass `flags.activation`.)
//
// The activation alone is reached through batchNorm in eval mode with running mean 0, running
// variance 1 and eps 0: rstd is then exactly 1, so the kernel's pre-activation is x itself.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Activation, FloatArray, Tensor } from '../src/api/types';
import { nativeAddon } from '../src/backends/default';
import { gelu, geluTanh, relu, silu } from '../src/backends/reference/activation';
import * as fastnorm from '../src/index';
import * as reference from '../src/reference';
import { CTORS, DTYPES, expectBitwiseEqual, expectClose, makeRng, randn, REPO_ROOT, type DType } from './helpers';

const addon = nativeAddon!;
const ACTIVATIONS: Activation[] = ['relu', 'silu', 'gelu', 'gelu-tanh'];
const TRUTH: Record<Activation, (x: number) => number> = { relu, silu, gelu, 'gelu-tanh': geluTanh };
const ISAS: string[] = addon ? addon.info().supportedIsas : [];

/** act(x) elementwise by the native kernel of the current ISA path. */
function nativeActivate(x: FloatArray, activation: Activation, api: typeof fastnorm | typeof reference = fastnorm): FloatArray {
  const Ctor = x.constructor as typeof Float32Array | typeof Float64Array;
  const running = { runningMean: new Ctor(1), runningVar: new Ctor(1).fill(1) };
  return api.batchNorm({ data: x, shape: [x.length, 1] }, { ...running, training: false, eps: 0, activation }).y.data;
}

/** Float32 bit patterns: every `stride`-th of all 2^32 (each sign, exponent and tail), plus the special values. */
function float32Samples(stride: number): Float32Array {
  const bits = new Uint32Array(Math.ceil(2 ** 32 / stride) + 16);
  let k = 0;
  for (let b = 0; b < 2 ** 32; b += stride) bits[k++] = b + ((b / stride) % 7);
  const out = new Float32Array(bits.buffer);
  out.set([0, -0, Infinity, -Infinity, NaN, 1.4e-45, -1.4e-45, 3.4028235e38, -3.4028235e38, 1.1754944e-38, -1.1754944e-38, 1, -1,
    -87.33655, -103.97208, -14.5], k);
  return out.subarray(0, k + 16);
}

/** The spacing of float32 (or float64) values at |v| (the subnormal spacing below the normal range). */
function ulpOf(v: number, dtype: DType): number {
  const a = Math.abs(v);
  if (dtype === 'float32') {
    if (a < 2 ** -126) return 2 ** -149;
    return 2 ** (Math.floor(Math.log2(a)) - 23);
  }
  if (a < 2 ** -1022) return 2 ** -1074;
  const e = Math.floor(Math.log2(a));
  return 2 ** (e - 52) * (2 ** e > a ? 0.5 : 1); // log2 may round up just below a power of two
}

/** Largest |y − truth| in ulps of the truth, over the finite truths; NaN where the truth is NaN must be NaN. */
function maxUlpError(x: ArrayLike<number>, y: ArrayLike<number>, truth: ArrayLike<number>, dtype: DType) {
  let worst = 0;
  let at = -1;
  for (let i = 0; i < y.length; i++) {
    const t = truth[i];
    if (Number.isNaN(t)) {
      if (!Number.isNaN(y[i])) return { worst: Infinity, at: i, x: x[i] };
      continue;
    }
    if (!Number.isFinite(t)) {
      if (y[i] !== t) return { worst: Infinity, at: i, x: x[i] };
      continue;
    }
    const e = Math.abs(y[i] - t) / ulpOf(t, dtype);
    if (!(e <= worst)) worst = e, at = i;
  }
  return { worst, at, x: at >= 0 ? x[at] : NaN };
}

/** NaNs made one pattern, so paths that propagate different NaN payloads compare equal. */
function canonicalNaN(a: FloatArray): FloatArray {
  const c = a.slice();
  for (let i = 0; i < c.length; i++) if (Number.isNaN(c[i])) c[i] = NaN;
  return c;
}

describe.runIf(addon)('activation accuracy, every ISA path', () => {
  const x32 = float32Samples(4099); // ~1M patterns
  const truth32: Record<string, Float64Array> = {};
  for (const a of ACTIVATIONS) truth32[a] = Float64Array.from(x32, (v) => TRUTH[a](v));
  // Bounds: silu and gelu-tanh compute in float (vec_math.h; measured over all 2^32 inputs by
  // scripts/check-activation-exhaustive.cc: max 1.62 ulp for silu, 1.59 for gelu-tanh); gelu still in double (≤ 0.5 ulp + 1e-10).
  const FLOAT32_ULP: Record<Activation, number> = { relu: 0, silu: 2, gelu: 1, 'gelu-tanh': 2 };

  /** On every ISA path: act(x) within `bound` ulp of the truth, and the bits of the first path (NaNs canonical). */
  function expectAccurateEverywhere(a: Activation, x: FloatArray, truth: ArrayLike<number>, dtype: DType, bound: number): void {
    const initial = fastnorm.info().isa;
    let first: FloatArray | null = null;
    try {
      for (const isa of ISAS) {
        expect(addon._setIsa(isa)).toBe(isa);
        const y = nativeActivate(x, a);
        const e = maxUlpError(x, y, truth, dtype);
        if (process.env.FASTNORM_PRINT_ACCURACY) console.log(`${a} ${dtype} ${isa}: max ${e.worst.toFixed(3)} ulp at x = ${e.x}`);
        expect(e.worst, `${a} ${isa}: worst ${e.worst} ulp at x = ${e.x}`).toBeLessThanOrEqual(bound);
        if (first) expectBitwiseEqual(canonicalNaN(y), canonicalNaN(first), `${a} on ${isa} vs ${ISAS[0]}`);
        first = y;
      }
    } finally {
      addon._setIsa(initial);
    }
  }

  it.each(ACTIVATIONS)('%s float32: within its ulp bound of the float64 truth on ~1M patterns, the same bits on every path', (a) => {
    expectAccurateEverywhere(a, x32, truth32[a], 'float32', FLOAT32_ULP[a]);
  });

  const fixture = JSON.parse(readFileSync(path.join(REPO_ROOT, 'test/fixtures/activation-float64.json'), 'utf8')) as Record<string, number[]>;
  const x64 = Float64Array.from(fixture.x);
  // Measured bounds (ulps of float64) against 60-digit truth (scripts/activation-truth.py). silu
  // and gelu are well conditioned; gelu-tanh's tail for x < 0 has relative condition ~|2u| (the
  // rounding of u = √(2/π)(x + 0.044715x³) is multiplied by it), so it is bounded there in
  // relative terms: 4 ulp + 3·|2u| ulp (u's rounding, ~1 ulp of u, times 2u, in ulps of the truth's binade).
  const FLOAT64_ULP: Record<'silu' | 'gelu', number> = { silu: 3, gelu: 6 };

  it.each(['silu', 'gelu'] as const)('%s float64: within its bound of the 60-digit truth, the same bits on every path', (a) => {
    expectAccurateEverywhere(a, x64, fixture[a], 'float64', FLOAT64_ULP[a]);
  });

  it('gelu-tanh float64: within 4 + 3·|2u| ulp of the 60-digit truth', () => {
    const y = nativeActivate(x64, 'gelu-tanh');
    const truth = fixture['gelu-tanh'];
    for (let i = 0; i < y.length; i++) {
      const x = x64[i];
      const v = Math.abs(2 * Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x));
      const bound = (4 + (x < 0 ? 3 * v : 0)) * ulpOf(truth[i], 'float64');
      if (!(Math.abs(y[i] - truth[i]) <= bound)) expect.fail(`gelu-tanh(${x}) = ${y[i]}, truth ${truth[i]}`);
    }
  });

  it('relu float64 is exact; the float64 reference activations agree with the truth', () => {
    const y = nativeActivate(x64, 'relu');
    for (let i = 0; i < y.length; i++) expect(Object.is(y[i], x64[i] < 0 ? 0 : x64[i])).toBe(true);
    for (const a of ['silu', 'gelu'] as const) {
      const e = maxUlpError(x64, Float64Array.from(x64, (v) => TRUTH[a](v)), fixture[a], 'float64');
      expect(e.worst, `reference ${a} at ${e.x}`).toBeLessThan(1e4); // the JS yardstick: ~1e-12 relative in the deep tails
    }
  });
});

describe.runIf(addon)('special values', () => {
  const specials = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, 3e38, -3e38];
  // act(+∞) = +∞, act(−∞) = its limit −0 (relu: 0), NaN stays NaN; tiny values keep their sign.
  const expected: Record<Activation, number[]> = {
    relu: [NaN, Infinity, 0, 0, -0, 1e-40, 0, 3e38, 0],
    silu: [NaN, Infinity, -0, 0, -0, 5e-41, -5e-41, 3e38, -0],
    gelu: [NaN, Infinity, -0, 0, -0, 5e-41, -5e-41, 3e38, -0],
    'gelu-tanh': [NaN, Infinity, -0, 0, -0, 5e-41, -5e-41, 3e38, -0],
  };
  it.each(DTYPES.flatMap((d) => ACTIVATIONS.map((a) => [d, a] as const)))('%s %s: NaN, ±∞, ±0, tiny and huge values', (dtype, a) => {
    const x = CTORS[dtype].from(specials);
    const want = CTORS[dtype].from(expected[a]);
    for (const api of [fastnorm, reference]) {
      const y = nativeActivate(x, a, api);
      for (let i = 0; i < x.length; i++) {
        const ok = Number.isNaN(want[i]) ? Number.isNaN(y[i]) : Object.is(y[i], want[i]) || Math.abs(y[i] - want[i]) <= 1e-45 * 2;
        expect(ok, `${a}(${x[i]}) = ${y[i]}, want ${want[i]}`).toBe(true);
      }
    }
  });
});

// The four forwards on shapes around the vector width and the kernels' blocks, each layout.
type Forward = (api: typeof fastnorm, x: Tensor, w: FloatArray, b: FloatArray, activation?: Activation) => FloatArray;
const FORWARDS: Array<[string, number[], Forward]> = [
  ['batchNorm NCHW', [3, 5, 37], (f, x, w, b, activation) => f.batchNorm(x, { weight: w, bias: b, activation }).y.data],
  ['batchNorm NHWC', [3, 37, 5], (f, x, w, b, activation) => f.batchNorm(x, { weight: w, bias: b, activation, layout: 'NHWC' }).y.data],
  ['batchNorm NHWC C = 300', [2, 9, 300], (f, x, w, b, activation) => f.batchNorm(x, { weight: w, bias: b, activation, layout: 'NHWC' }).y.data],
  ['batchNorm eval', [4, 6, 17], (f, x, w, b, activation) => f.batchNorm(x, {
    weight: w, bias: b, activation, training: false, runningMean: b.map((v) => v * 0.3), runningVar: w.map((v) => v * v + 0.5),
  }).y.data],
  ['groupNorm NCHW', [2, 6, 33], (f, x, w, b, activation) => f.groupNorm(x, 3, { weight: w, bias: b, activation }).y.data],
  ['groupNorm NCHW small S', [2, 8, 3], (f, x, w, b, activation) => f.groupNorm(x, 2, { weight: w, bias: b, activation }).y.data],
  ['groupNorm NHWC', [2, 33, 6], (f, x, w, b, activation) => f.groupNorm(x, 3, { weight: w, bias: b, activation, layout: 'NHWC' }).y.data],
  ['groupNorm NHWC C = 96', [2, 20, 96], (f, x, w, b, activation) => f.groupNorm(x, 4, { weight: w, bias: b, activation, layout: 'NHWC' }).y.data],
  ['instanceNorm NCHW', [3, 4, 41], (f, x, w, b, activation) => f.instanceNorm(x, { weight: w, bias: b, activation }).y.data],
  ['instanceNorm NHWC', [3, 41, 4], (f, x, w, b, activation) => f.instanceNorm(x, { weight: w, bias: b, activation, layout: 'NHWC' }).y.data],
  ['layerNorm', [7, 1, 47], (f, x, w, b, activation) => f.layerNorm(x, [47], { weight: w, bias: b, activation }).y.data],
  ['layerNorm huge rows (blocked)', [2, 1, 40000], (f, x, w, b, activation) => f.layerNorm(x, [40000], { weight: w, bias: b, activation }).y.data],
];

function paramLength(name: string, shape: number[]): number {
  if (name.startsWith('layerNorm')) return shape[2];
  return name.includes('NHWC') ? shape[2] : shape[1];
}

describe('fused activation: the forwards against the unfused sequence and the reference', () => {
  const cases = DTYPES.flatMap((dtype) => FORWARDS.flatMap(([name, shape, run]) => ACTIVATIONS.map((a) => [dtype, name, shape, run, a] as const)));
  it.runIf(addon).each(cases)('%s %s %s', (dtype, name, shape, run, a) => {
    const rng = makeRng(shape[2] + a.length);
    const n = shape[0] * shape[1] * shape[2];
    const x = { data: randn(rng, dtype, n, 2, 0.3), shape };
    const p = paramLength(name, shape);
    const w = randn(rng, dtype, p, 1, 0.5);
    const b = randn(rng, dtype, p, 1, 0.2);
    const fused = run(fastnorm, x, w, b, a);
    // unfused: the plain norm, then the activation by the same kernel math (z = x path): the same bits
    const plain = run(fastnorm, x, w, b);
    expectBitwiseEqual(canonicalNaN(fused), canonicalNaN(nativeActivate(plain, a)), `${name} ${a}: fused vs norm then activation`);
    // the reference composes its own norm and float64 activation
    const ref = run(reference as unknown as typeof fastnorm, x, w, b, a);
    expectClose(fused, ref, dtype === 'float32' ? 1e-5 : 1e-12, `${name} ${a} native vs reference`);
  });

  it.runIf(addon)('in place (out.y = x.data) gives the same values', () => {
    const rng = makeRng(3);
    const x = { data: randn(rng, 'float32', 4 * 8 * 9), shape: [4, 8, 9] };
    const want = fastnorm.groupNorm(x, 4, { activation: 'silu' }).y.data;
    const r = fastnorm.groupNorm(x, 4, { activation: 'silu', out: { y: x.data } });
    expect(r.y.data).toBe(x.data);
    expectBitwiseEqual(x.data, want, 'in place');
  });

  it('no activation leaves results as they were (the option absent and undefined give the same bits)', () => {
    const rng = makeRng(5);
    const x = { data: randn(rng, 'float32', 2 * 3 * 50), shape: [2, 3, 50] };
    expectBitwiseEqual(fastnorm.batchNorm(x, { activation: undefined }).y.data, fastnorm.batchNorm(x).y.data);
  });
});
