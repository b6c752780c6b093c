// Shared test helpers, one definition each for the whole suite: seeded data, tensors and the
// channel layouts, THE tolerance policy and closeness checks, bitwise comparison, guarded output
// buffers, the PyTorch fixtures loader, child-process runners, finite differences and the
// ISA × threads configurations.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, expect } from 'vitest';
import { nativeAddon } from '../src/backends/default';
import * as fastnorm from '../src/index';
import type { FloatArray, Layout, Tensor } from '../src/api/types';

export type DType = 'float32' | 'float64';
export type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;
export const CTORS: Record<DType, Ctor> = { float32: Float32Array, float64: Float64Array };
export const DTYPES: DType[] = ['float32', 'float64'];

/** The repository root (test/..). */
export const REPO_ROOT = path.resolve(__dirname, '..');

// ---------------------------------------------------------------------------------------------
// Seeded random numbers

/** mulberry32: a small, fast, seeded 32-bit PRNG; uniform numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Rng {
  uniform(): number;
  /** A standard normal sample (Box-Muller). */
  normal(): number;
}

export function makeRng(seed: number): Rng {
  const u = mulberry32(seed);
  let spare: number | null = null;
  return {
    uniform: u,
    normal() {
      if (spare !== null) {
        const s = spare;
        spare = null;
        return s;
      }
      let u1 = u();
      while (u1 === 0) u1 = u();
      const r = Math.sqrt(-2 * Math.log(u1));
      const theta = 2 * Math.PI * u();
      spare = r * Math.sin(theta);
      return r * Math.cos(theta);
    },
  };
}

/** `n` values offset + scale·N(0, 1) in the given dtype. */
export function randn(rng: Rng, dtype: DType, n: number, scale = 1, offset = 0): FloatArray {
  const a = new CTORS[dtype](n);
  for (let i = 0; i < n; i++) a[i] = offset + scale * rng.normal();
  return a;
}

export function product(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

/** A tensor of seeded normal data. */
export function randTensor(rng: Rng, dtype: DType, shape: readonly number[], scale = 1, offset = 0): Tensor {
  return { data: randn(rng, dtype, product(shape), scale, offset), shape: shape.slice() };
}

export function tensor(data: FloatArray, shape: readonly number[]): Tensor {
  return { data, shape: shape.slice() };
}

/** A deep copy of a tensor (so that a call that wrongly modified its input is caught). */
export function cloneTensor(t: Tensor): Tensor {
  return { data: t.data.slice(), shape: t.shape.slice() };
}

/** `data` copied into a fresh buffer at an element offset, so that it is not 64-byte aligned. */
export function misaligned<A extends FloatArray>(data: A, elementOffset = 1): A {
  const C = data.constructor as Ctor;
  const view = new C(data.length + elementOffset + 1).subarray(elementOffset, elementOffset + data.length) as A;
  view.set(data);
  return view;
}

// ---------------------------------------------------------------------------------------------
// Channel layouts of batch/instance/group norm: 'NCHW' = (N, C, *spatial), 'NHWC' = (N, *spatial, C)

export const LAYOUTS: Layout[] = ['NCHW', 'NHWC'];

/** The shape of N samples × C channels × spatial dims in the layout: (N, C, *sp) or (N, *sp, C). */
export function channelsShape(layout: Layout, n: number, c: number, spatial: readonly number[] = []): number[] {
  return layout === 'NCHW' ? [n, c, ...spatial] : [n, ...spatial, c];
}

/** A shape written NCHW ([N, C, ...spatial]) in the given layout. */
export function inLayout(nchw: readonly number[], layout: Layout): number[] {
  const [n, c, ...spatial] = nchw;
  return channelsShape(layout, n, c, spatial);
}

/** (N, C, S) of a shape in the layout. */
export function dims(shape: readonly number[], layout: Layout): { n: number; c: number; s: number } {
  const n = shape[0];
  const c = layout === 'NCHW' ? shape[1] : shape[shape.length - 1];
  const s = layout === 'NCHW' ? product(shape.slice(2)) : product(shape.slice(1, -1));
  return { n, c, s };
}

/** The channel of every flat index, as a function. */
export function channelIndexer(shape: readonly number[], layout: Layout): (i: number) => number {
  const { c, s } = dims(shape, layout);
  return layout === 'NCHW' ? (i) => Math.floor(i / s) % c : (i) => i % c;
}

/** The sample of every flat index, as a function. */
export function sampleIndexer(shape: readonly number[]): (i: number) => number {
  const per = shape[0] === 0 ? 1 : product(shape) / shape[0];
  return (i) => Math.floor(i / per);
}

/** The same values in the other layout: NCHW (N, C, S) <-> NHWC (N, S, C). */
export function transpose(data: FloatArray, n: number, c: number, s: number, from: Layout): FloatArray {
  const out = new (data.constructor as Ctor)(data.length);
  for (let ni = 0; ni < n; ni++)
    for (let ci = 0; ci < c; ci++)
      for (let si = 0; si < s; si++) {
        const nchw = (ni * c + ci) * s + si;
        const nhwc = (ni * s + si) * c + ci;
        if (from === 'NCHW') out[nhwc] = data[nchw];
        else out[nchw] = data[nhwc];
      }
  return out;
}

/** Samples [n0, n1) of a tensor (N is the leading dim in both layouts: a contiguous view). */
export function batchSlice<A extends FloatArray>(t: Tensor<A>, n0: number, n1: number): Tensor<A> {
  const per = t.shape[0] === 0 ? 0 : t.data.length / t.shape[0];
  return { data: t.data.subarray(n0 * per, n1 * per) as A, shape: [n1 - n0, ...t.shape.slice(1)] };
}

// ---------------------------------------------------------------------------------------------
// Comparisons (the one definition of "close" used by every test file)

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toPrecision(17) : String(v);
}

function sameNonFinite(a: number, r: number): boolean {
  return Number.isNaN(r) ? Number.isNaN(a) : a === r; // ±Inf must match sign and position
}

/**
 * The scale below which errors are absolute: min(1, max finite |r|), 1 when r is all zero.
 * So errors are relative to 1 + |r| (DESIGN §5: tol·(1 + |ref|)) unless the whole output is far
 * smaller than 1 (e.g. statistics of data ~1e-30), in which case they are relative to its magnitude
 * (as the fixtures' `floor`).
 */
export function defaultFloor(expected: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < expected.length; i++) {
    const v = Math.abs(expected[i]);
    if (Number.isFinite(v) && v > m) m = v;
  }
  return m === 0 ? 1 : Math.min(1, m);
}

/**
 * The worst scaled error max_i |a_i − r_i| / (floor + |r_i|) with its index (floor: defaultFloor).
 * Where r_i is NaN/±Inf, a_i must be the same non-finite value; a non-finite a_i where r_i is
 * finite (or a length mismatch) is an infinite error.
 */
export function scaledDiff(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = defaultFloor(expected)): { err: number; index: number } {
  if (actual.length !== expected.length) return { err: Infinity, index: -1 };
  let err = 0;
  let index = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const r = expected[i];
    let e: number;
    if (!Number.isFinite(r) || !Number.isFinite(a)) e = sameNonFinite(a, r) ? 0 : Infinity;
    else e = Math.abs(a - r) / (floor + Math.abs(r));
    if (e > err || (Number.isNaN(e) && index < 0)) {
      err = e;
      index = i;
    }
  }
  return { err, index };
}

/**
 * THE closeness check: max_i |a_i − r_i| / (floor + |r_i|) <= tol, with NaN/±Inf at the same
 * positions. floor = min(1, max|r|) by default, i.e. DESIGN §5's tol·(1 + |ref|) for ordinary
 * outputs; pass `floor` to override.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = 'values',
  floor?: number): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const { err, index } = scaledDiff(actual, expected, floor ?? defaultFloor(expected));
  if (!(err <= tol)) {
    expect.fail(`${what}: scaled error ${err.toExponential(3)} > ${tol.toExponential(1)} at [${index}]: ` +
      `actual ${fmt(actual[index])}, expected ${fmt(expected[index])}`);
  }
}

/**
 * ||a − r||₂ / max(||r||₂, floor) over the positions where the reference is finite (0 when
 * a = r there). `floor` (default 0) is the norm of the terms an output is computed from, for
 * outputs that are a cancellation of much larger terms (see expectBackwardClose).
 */
export function l2RelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 0): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    if (!Number.isFinite(expected[i])) continue;
    const d = actual[i] - expected[i];
    num += d * d;
    den += expected[i] * expected[i];
  }
  if (num === 0) return 0;
  return Math.sqrt(num) / Math.max(Math.sqrt(den), floor);
}

/**
 * Float32 backward tolerance (DESIGN §5): L2-relative error <= tol (denominator floored at
 * `floor`), and the same NaN/±Inf positions as the reference.
 */
export function expectL2Close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = 'values', floor = 0): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const r = expected[i];
    if ((!Number.isFinite(r) || !Number.isFinite(a)) && !sameNonFinite(a, r))
      expect.fail(`${what}: non-finite mismatch at [${i}]: actual ${fmt(a)}, expected ${fmt(r)}`);
  }
  const err = l2RelativeError(actual, expected, floor);
  if (!(err <= tol)) expect.fail(`${what}: L2-relative error ${err.toExponential(3)} > ${tol.toExponential(1)}`);
}

// ---------------------------------------------------------------------------------------------
// THE tolerance policy of native vs reference (DESIGN §5), in scaled errors of expectClose:
//  - float64: 1e-12. Both backends compute in double and differ only in summation order (lanes,
//    blocks, Chan merges). Two documented exceptions: data offset by 1e4 (F64_OFFSET: one ulp of
//    the mean, 1.8e-12, already moves y by more than 1e-12, whichever correct computation rounds
//    it) and the backward of tiny-variance sets with eps = 0 (F64_CANCELLATION: dx's terms
//    rstd·|g| ≈ 1e6 cancel to |dx| ≈ 10, so rounding the terms is ~1e-11 of 1 + |dx|).
//  - float32 forward: 1e-5 (the reference rounds its float64 result to float32 at the end).
//  - float32 backward: L2-relative error ≤ 1e-5, the denominator floored at the size of the terms
//    the output is a cancellation of (see dxTerms): with 1-2 values per set dx is ~0 by
//    cancellation and its rounding error is relative to those terms, not to dx.
export const TOL = { F64: 1e-12, F64_OFFSET: 1e-10, F64_CANCELLATION: 1e-10, F32_FORWARD: 1e-5, F32_BACKWARD_L2: 1e-5 } as const;

/** What the op families' native-vs-reference checks vary besides the shape. */
export interface CheckSpec {
  dtype: DType;
  weight?: boolean;
  bias?: boolean;
  eps?: number;
  grads?: { weight?: boolean; bias?: boolean };
  seed?: number;
  /** float64 tolerance override (ill-conditioned data: TOL's exceptions) */
  f64Tol?: number;
}

/** A forward output of dtype: its dtype, and close within the policy (f64Tol: an exception above). */
export function expectForwardClose(dtype: DType, actual: FloatArray | undefined, expected: FloatArray, what: string, f64Tol: number = TOL.F64): void {
  expect(actual, `${what}: present`).toBeDefined();
  expect(actual!.constructor, `${what}: dtype`).toBe(CTORS[dtype]);
  expectClose(actual!, expected, dtype === 'float64' ? f64Tol : TOL.F32_FORWARD, what);
}

/**
 * A backward output (dx, dweight, dbias; both absent is fine): float64 elementwise within f64Tol,
 * errors relative to at least `f64Floor`; float32 L2-relative within the policy, the
 * denominator floored at `l2Floor` (the norms of the terms the output cancels from: dxTerms).
 */
export function expectBackwardClose(dtype: DType, actual: FloatArray | undefined, expected: FloatArray | undefined, what: string,
  opts: { f64Tol?: number; l2Floor?: number; f64Floor?: number } = {}): void {
  expect(actual === undefined, `${what}: presence`).toBe(expected === undefined);
  if (!actual || !expected) return;
  expect(actual.constructor, `${what}: dtype`).toBe(CTORS[dtype]);
  if (dtype === 'float64') {
    const floor = opts.f64Floor === undefined ? undefined : Math.max(defaultFloor(expected), opts.f64Floor);
    expectClose(actual, expected, opts.f64Tol ?? TOL.F64, what, floor);
  } else {
    expectL2Close(actual, expected, TOL.F32_BACKWARD_L2, what, opts.l2Floor ?? 0);
  }
}

/**
 * The size of a normalization's dx terms before they cancel, rstd·dy·w per element (`scale(i)`
 * gives rstd·w of element i): their 2-norm (the float32 L2 floor) and largest one (float64's
 * elementwise floor), over the finite terms.
 */
export function dxTerms(dy: ArrayLike<number>, scale: (i: number) => number): { l2: number; max: number } {
  let sum = 0;
  let max = 0;
  for (let i = 0; i < dy.length; i++) {
    const t = scale(i) * dy[i];
    if (Number.isFinite(t)) sum += t * t, max = Math.max(max, Math.abs(t));
  }
  return { l2: Math.sqrt(sum), max };
}

/** Both backends returned dx and exactly the parameter gradients asked for: `grads`, else those of a given weight. */
export function expectWantedGrads(results: { native: object; reference: object }, grads: { weight?: boolean; bias?: boolean } | undefined,
  hasWeight: boolean, params: ReadonlyArray<'weight' | 'bias'> = ['weight', 'bias']): void {
  const wanted = params.filter((p) => grads?.[p] ?? hasWeight).map((p) => `d${p}`);
  for (const [backend, result] of Object.entries(results))
    expect(Object.keys(result).sort(), `${backend} backward outputs`).toEqual(['dx', ...wanted].sort());
}

/** Index of the first element whose bytes differ (-1 when a and b are bitwise identical). */
export function firstBitwiseDifference(a: FloatArray, b: FloatArray): number {
  if (a.constructor !== b.constructor) return 0;
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const bytes = a.BYTES_PER_ELEMENT;
  const ua = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const ub = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return Math.floor(i / bytes);
  return -1;
}

/** True when a and b have the same type, length and bytes (NaN payloads included). */
export function bitwiseEqual(a: FloatArray, b: FloatArray): boolean {
  return firstBitwiseDifference(a, b) === -1;
}

export function expectBitwiseEqual(actual: FloatArray, expected: FloatArray, what = 'values'): void {
  const i = firstBitwiseDifference(actual, expected);
  if (i !== -1) {
    expect.fail(`${what}: not bitwise identical (${actual.constructor.name}(${actual.length}) vs ` +
      `${expected.constructor.name}(${expected.length})), first difference at [${i}]: ${fmt(actual[i])} vs ${fmt(expected[i])}`);
  }
}

/**
 * Two results (objects, arrays, tensors, typed arrays, numbers) are the same: the same keys, typed
 * arrays bitwise identical (expectBitwiseEqual), everything else Object.is-equal.
 */
export function expectBitwiseEqualDeep(actual: unknown, expected: unknown, what = 'result'): void {
  if (expected instanceof Float32Array || expected instanceof Float64Array) {
    expect(actual, `${what}: a ${expected.constructor.name}`).toBeInstanceOf(expected.constructor);
    expectBitwiseEqual(actual as FloatArray, expected, what);
  } else if (typeof expected === 'object' && expected !== null) {
    expect(typeof actual === 'object' && actual !== null, `${what}: an object`).toBe(true);
    const a = actual as Record<string, unknown>;
    const e = expected as Record<string, unknown>;
    expect(Object.keys(a).sort(), `${what}: keys`).toEqual(Object.keys(e).sort());
    for (const key of Object.keys(e)) expectBitwiseEqualDeep(a[key], e[key], `${what}.${key}`);
  } else {
    expect(Object.is(actual, expected), `${what}: ${String(actual)} vs ${String(expected)}`).toBe(true);
  }
}

// ---------------------------------------------------------------------------------------------
// Output buffers

/** Fresh arrays of the given lengths, filled (default NaN, so that an unwritten element shows). */
export function buffers(dtype: DType, lengths: Record<string, number>, fill: (a: FloatArray) => void = (a) => a.fill(NaN)): Record<string, FloatArray> {
  const out: Record<string, FloatArray> = {};
  for (const [k, n] of Object.entries(lengths)) {
    out[k] = new CTORS[dtype](n);
    fill(out[k]);
  }
  return out;
}

const GUARD_ELEMENTS = 24; // sentinel elements on each side of a guarded view
const SENTINEL = 0xa5;

/** A length-element view, `shift` elements into a buffer of sentinel bytes with GUARD_ELEMENTS elements around it. */
export function guardedView(ctor: Ctor, length: number, shift = 0): FloatArray {
  const whole = new ctor(length + 2 * GUARD_ELEMENTS + shift);
  new Uint8Array(whole.buffer).fill(SENTINEL);
  return whole.subarray(GUARD_ELEMENTS + shift, GUARD_ELEMENTS + shift + length);
}

/** Where a guarded view's buffer was written outside the view (or, with `whole`, anywhere): a message, or null. */
export function guardDamage(view: FloatArray, whole = false): string | null {
  if (view.buffer.byteLength === 0) return null; // detached by the test itself
  const bytes = new Uint8Array(view.buffer);
  for (let i = 0; i < bytes.length; i++) {
    const inside = i >= view.byteOffset && i < view.byteOffset + view.byteLength;
    if ((whole || !inside) && bytes[i] !== SENTINEL) return `byte ${i} of ${bytes.length} (view at ${view.byteOffset}..${view.byteOffset + view.byteLength}) was written`;
  }
  return null;
}

/** Fails naming every guarded view whose buffer was written outside the view. */
export function expectGuardsIntact(views: Record<string, FloatArray>, what: string): void {
  for (const [key, view] of Object.entries(views)) {
    const damage = guardDamage(view);
    if (damage) expect.fail(`${what} out.${key}: ${damage}`);
  }
}

/** The error a call throws (undefined when it returns). */
export function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (e) {
    return e;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// PyTorch float64 reference fixtures (test/fixtures, see its README)

/** Where the fixtures are: $FASTNORM_FIXTURES_DIR, else test/fixtures. */
export const FIXTURES_DIR = process.env.FASTNORM_FIXTURES_DIR
  ? path.resolve(process.env.FASTNORM_FIXTURES_DIR)
  : path.resolve(__dirname, 'fixtures');

export interface FixtureCase {
  id: string;
  op: string;
  category: string;
  dtype: DType;
  shape: number[];
  params: Record<string, unknown>;
  effective: Record<string, number>;
  backward: boolean;
  inputs: Record<string, FloatArray>;
  expected: Record<string, Float64Array>;
  floor: Record<string, number | Float32Array>;
  tol: Record<string, number>;
  torchF32Err?: Record<string, { abs: number; rel: number }>;
}

export interface FixtureReader {
  loadFixtures(dir?: string): FixtureCase[];
  scaledError(actual: ArrayLike<number>, ref: ArrayLike<number>, floor: number | ArrayLike<number>): number;
}

/** The case list of manifest.json (metadata only, read synchronously to name the tests). */
export function fixtureManifest(): { cases: Array<{ id: string; op: string; dtype: DType; category: string }> } {
  const file = path.join(FIXTURES_DIR, 'manifest.json');
  if (!existsSync(file)) {
    throw new Error(`fixtures not found at ${FIXTURES_DIR}: the repository's test/fixtures is missing (or set FASTNORM_FIXTURES_DIR)`);
  }
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** Imports the fixture reader (read-fixtures.mjs) from FIXTURES_DIR. */
export async function importFixtureReader(): Promise<FixtureReader> {
  const file = path.join(FIXTURES_DIR, 'read-fixtures.mjs');
  if (!existsSync(file)) {
    throw new Error(`fixtures reader not found at ${file}: the repository's test/fixtures is missing (or set FASTNORM_FIXTURES_DIR)`);
  }
  return (await import(pathToFileURL(file).href)) as FixtureReader;
}

/** Every fixture case (inputs and expected arrays decoded) and the reader's scaledError. */
export async function loadFixtureCases(): Promise<{ cases: FixtureCase[]; scaledError: FixtureReader['scaledError'] }> {
  const reader = await importFixtureReader();
  return { cases: reader.loadFixtures(FIXTURES_DIR), scaledError: reader.scaledError };
}

// ---------------------------------------------------------------------------------------------
// Child processes (environment variables are read at load, so they need a fresh process)

export interface ChildResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The last stdout line parsed as JSON (the scripts print one result object). */
  json: any;
}

/** The environment of a child process: the parent's, FASTNORM_* (but FASTNORM_ADDON_PATH) and NODE_OPTIONS cleared, plus `extra`. */
export function childEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of Object.keys(env)) if ((k.startsWith('FASTNORM_') && k !== 'FASTNORM_ADDON_PATH') || k === 'NODE_OPTIONS') delete env[k];
  return Object.assign(env, extra);
}

/** Runs node with these arguments, cwd = the repo root, in childEnv; `json` is the last stdout line parsed as JSON. */
function runChild(args: string[], env: Record<string, string> | undefined, timeoutMs: number): ChildResult {
  const r = spawnSync(process.execPath, args, { cwd: REPO_ROOT, env: childEnv(env), encoding: 'utf8', timeout: timeoutMs });
  const lines = (r.stdout ?? '').trim().split('\n');
  let json: unknown = undefined;
  try {
    json = JSON.parse(lines[lines.length - 1]);
  } catch {
    json = undefined;
  }
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', json };
}

/**
 * Runs `node` on a script (`-e` CommonJS, or `--input-type=module -e` ESM) with cwd = the repo
 * root, so that `require('fastnorm')` / `import 'fastnorm'` resolve to this package (self-reference
 * through package.json "exports", i.e. the built dist/). The parent's FASTNORM_* settings are
 * cleared (pass the ones wanted in `env`), except FASTNORM_ADDON_PATH: when the suite runs against
 * a given addon build (scripts/test-with-addon.mjs), the children load that same addon.
 */
export function runNode(script: string, opts: { env?: Record<string, string>; esm?: boolean } = {}): ChildResult {
  return runChild(opts.esm ? ['--input-type=module', '-e', script] : ['-e', script], opts.env, 30_000);
}

/** Fails with the child's output unless it exited with status 0 and printed a JSON result. */
export function expectChildOk(r: ChildResult): void {
  if (r.status !== 0 || r.json === undefined)
    expect.fail(`child process failed (status ${r.status})\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
}

/** Runs `node <file> ...args` (a path relative to the repo root, e.g. an example program) as runNode runs a script. */
export function runNodeFile(file: string, args: string[] = [], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): ChildResult {
  return runChild([file, ...args], opts.env, opts.timeoutMs ?? 30_000);
}

// ---------------------------------------------------------------------------------------------
// Garbage collection and detached buffers (what native code must keep alive, or refuse)

let gcFunction: (() => void) | null = null;

/** Runs a full garbage collection (turning on --expose-gc at run time the first time). */
export function forceGc(): void {
  if (!gcFunction) {
    v8.setFlagsFromString('--expose-gc');
    gcFunction = vm.runInNewContext('gc') as () => void;
  }
  gcFunction();
}

/** Detaches a's buffer, as transferring it to another thread does, and returns a (now empty). */
export function detach<A extends FloatArray>(a: A): A {
  structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] });
  return a;
}

/**
 * The reference backwards (the oracle of every other test) are checked against central finite
 * differences of their own forward, in float64: loss = Σ y·g for a fixed random g (so dL/dy = g
 * is the dy passed to the backward). With h = 1e-5 the truncation error O(h²) ≈ 1e-10 and the
 * rounding error ≈ 1e-16·|loss|/h ≈ 1e-10, so FD_TOL (relative, see expectClose) leaves a wide
 * margin while any wrong term in a formula is an O(1) error.
 */
export const FD_TOL = 1e-6;

/** Central-difference gradient (step 1e-5) of f with respect to every element of `v` (modified and restored). */
export function numericGradient(f: () => number, v: Float64Array, h = 1e-5): Float64Array {
  const grad = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const keep = v[i];
    v[i] = keep + h;
    const up = f();
    v[i] = keep - h;
    const down = f();
    v[i] = keep;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}


/**
 * Every supported ISA path × threads 1, 2, 3, 8 for the native backend, and configure() to switch
 * to one. Registers hooks that require the native backend, record the file's initial ISA and
 * thread count in `initial`, and restore them after the file.
 */
export function isaThreadConfigs() {
  const isas: string[] = nativeAddon ? nativeAddon.info().supportedIsas : [];
  // Natively every path runs at 1, 2, 3 and 8 threads. Under emulation (scripts/test-arm64.mjs,
  // FASTNORM_TEST_EMULATED=1) the best path runs at 1 and 2 threads and the others at one: what is
  // new there is the arm64 kernels, while the split over threads is the same portable code that
  // runs natively at every thread count; the emulated scalar path costs most of the run. Under the
  // sanitizers (scripts/test-asan.mjs, FASTNORM_TEST_SANITIZED=1), whose subject is memory, not
  // bits, the best path runs at every count and the others at 1 and 3 (an uneven split: views that
  // start mid-array), since the unoptimized kernels make each configuration costly.
  const emulated = process.env.FASTNORM_TEST_EMULATED === '1';
  const sanitized = process.env.FASTNORM_TEST_SANITIZED === '1';
  const threadsOf = (i: number) => (i === 0 ? (emulated ? [1, 2] : [1, 2, 3, 8]) : emulated ? [1] : sanitized ? [1, 3] : [1, 2, 3, 8]);
  const configs = isas.flatMap((isa, i) => threadsOf(i).map((threads) => ({ isa, threads })));
  const initial = { isa: '', threads: 0 };
  beforeAll(() => {
    expect(fastnorm.info().backend, 'native addon must be loaded for these tests').toBe('native');
    initial.isa = fastnorm.info().isa;
    initial.threads = fastnorm.getNumThreads();
  });
  afterAll(() => {
    if (!nativeAddon) return;
    nativeAddon._setIsa(initial.isa);
    fastnorm.setNumThreads(initial.threads);
  });
  function configure(isa: string, threads: number): void {
    expect(nativeAddon!._setIsa(isa), `_setIsa(${isa})`).toBe(isa);
    fastnorm.setNumThreads(threads);
    expect(fastnorm.info()).toMatchObject({ isa, threads });
  }
  /** run() in every configuration: every array it returns must have the bits of the first configuration's. */
  function expectSameBitsEverywhere(run: () => Record<string, FloatArray>, what: string): void {
    let first: Record<string, FloatArray> | null = null;
    let firstName = '';
    try {
      for (const { isa, threads } of configs) {
        configure(isa, threads);
        const out = run();
        if (!first) {
          first = out;
          firstName = `${isa}/${threads} threads`;
          continue;
        }
        for (const k of Object.keys(first)) expectBitwiseEqual(out[k], first[k], `${what} ${k}: ${isa}/${threads} threads vs ${firstName}`);
      }
    } finally {
      configure(initial.isa, initial.threads);
    }
  }
  return { isas, configs, configure, initial, expectSameBitsEverywhere };
}

/** Registers a check that the native addon is loaded (else the default entry's reference fallback would be compared with itself). */
export function requireNative(): void {
  beforeAll(() => {
    expect(fastnorm.info().backend, 'native addon must be loaded for these tests').toBe('native');
  });
}
