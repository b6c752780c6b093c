// Property-based tests of the boundary (API.md "Guarantees"): random shapes, sizes, dtypes,
// options, detached buffers, out buffers that overlap inputs or have the wrong length or dtype,
// and garbage in any argument, thrown at every op (sync and promise, native and reference). Each
// call must either give the reference's result or throw/reject a TypeError/RangeError, the same
// on every backend and API, and never crash, hang or write outside its outputs: every output
// buffer is a view into a larger buffer filled with a sentinel, and the sentinel around the view
// (and, after an error, the view itself) must be intact. A second property drives the addon's
// own positional functions (the native boundary behind the public functions) with spoiled arguments.
//
// Precision is the op family files' job (row-norm, batch-norm, group-norm .test.ts); here a result is "correct" within a tolerance
// relative to the output's largest value (float64 1e-9, float32 1e-4), loose enough for any
// random conditioning and tight enough to catch a wrong element, row or buffer.
//
// The seed is printed; FASTNORM_FUZZ_SEED=<seed> replays a run. FASTNORM_FUZZ_RUNS scales it.
import fc from 'fast-check';
import { inspect } from 'node:util';
import v8 from 'node:v8';
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import * as promises from '../src/promises';
import * as reference from '../src/reference';
import { nativeAddon } from '../src/backends/default';
import { KERNELS } from '../src/api/kernel-schema';
import { createAsyncOps, createOps } from '../src/api/ops';
import type { FloatArray } from '../src/api/types';
import type { Kernels, OpName } from '../src/api/op-table';
import { createReferenceBackend } from '../src/backends/reference/index';
import { CTORS, detach, expectBitwiseEqualDeep, guardDamage, guardedView, requireNative } from './helpers';
import { arraysIn, OP_CASES, OP_NAMES, syncInPromises, takesHalf, toHalf, typedArraysIn, widenFrom, withOptions, type OpInput } from './op-cases';

type AnyOp = (...args: unknown[]) => unknown;
type Api = Record<string, AnyOp>;

const SEED = Number(process.env.FASTNORM_FUZZ_SEED ?? Date.now() % 2 ** 31);
const RUNS = Number(process.env.FASTNORM_FUZZ_RUNS ?? 1);
const OPS = OP_NAMES;
const caseOf = (name: string) => OP_CASES[name as OpName];

const BACKENDS: Array<[string, Api, Api]> = [
  ['native', fastnorm as unknown as Api, promises as unknown as Api],
  ['reference', reference as unknown as Api, createAsyncOps(createReferenceBackend()) as unknown as Api],
];

requireNative();

// ---------------------------------------------------------------------------------------------
// Random calls: a valid call of an op (op-cases.ts) and one spoiling change

type Spoil =
  | { kind: 'none' }
  | { kind: 'out'; keys: number; shift: number }
  | { kind: 'outLength'; delta: number }
  | { kind: 'outDtype' }
  | { kind: 'outOverlap'; target: number; shift: number }
  | { kind: 'inPlace' }
  | { kind: 'detach'; target: number }
  | { kind: 'swapDtype'; target: number }
  | { kind: 'shape'; target: number; dim: number; value: unknown }
  | { kind: 'option'; key: string; value: unknown }
  | { kind: 'argument'; index: number; value: unknown };

interface Call {
  op: string;
  input: OpInput;
  spoil: Spoil;
  /** the call's tensors in this half format (float32 parameters and statistics, as autocast keeps them) */
  half?: 'float16' | 'bfloat16';
}

const OPTION_KEYS = ['weight', 'bias', 'eps', 'out', 'grads', 'layout', 'training', 'momentum', 'runningMean', 'runningVar',
  'useInputStats', 'bogus'];

const strangeValue = fc.oneof(
  fc.anything({ maxDepth: 1 }),
  fc.constantFrom(NaN, Infinity, -1, 0, 0.5, 2 ** 53, -0, 1e300),
  fc.constantFrom(new Float32Array(3), new Float64Array(0), new Int32Array(4), new DataView(new ArrayBuffer(8)), 'NHWC', 'NCHW'),
);

const spoilArb: fc.Arbitrary<Spoil> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('out' as const), keys: fc.nat(7), shift: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('outLength' as const), delta: fc.constantFrom(-2, -1, 1, 3) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'outDtype' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('outOverlap' as const), target: fc.nat(), shift: fc.integer({ min: -2, max: 2 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'inPlace' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('detach' as const), target: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('swapDtype' as const), target: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('shape' as const), target: fc.nat(), dim: fc.nat(3),
    value: fc.oneof(fc.integer({ min: -2, max: 40 }), strangeValue) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('option' as const), key: fc.constantFrom(...OPTION_KEYS), value: strangeValue }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('argument' as const), index: fc.nat(5), value: strangeValue }) },
);

const callArb: fc.Arbitrary<Call> = fc.record({
  op: fc.constantFrom(...OPS),
  input: fc.record({
    seed: fc.nat(),
    dtype: fc.constantFrom('float32' as const, 'float64' as const),
    dims: fc.tuple(fc.nat(5), fc.nat(9), fc.oneof(fc.nat(40), fc.constantFrom(0, 1, 15, 16, 17, 100))),
    flags: fc.record({ weight: fc.boolean(), bias: fc.boolean(), running: fc.boolean(), alt: fc.boolean(), eval: fc.boolean(),
      activation: fc.constantFrom(undefined, 'relu', 'silu', 'gelu', 'gelu-tanh') }),
  }),
  spoil: spoilArb,
  half: fc.constantFrom(undefined, undefined, 'float16' as const, 'bfloat16' as const),
});

/** A typed array of its own for each build of a call (a call may write into it: running statistics). */
function ownCopy(v: unknown): unknown {
  return v instanceof Float32Array || v instanceof Float64Array || v instanceof Int32Array ? v.slice() : v;
}

/** The arguments of a call, built fresh (each backend gets its own copy), and its guarded output views. */
function buildCall(c: Call): { args: unknown[]; outs: FloatArray[] } {
  const op = caseOf(c.op);
  const half = c.half && takesHalf(c.op) ? c.half : undefined;
  const argsOf = () => {
    const a = op.args(c.input);
    if (half) toHalf(a, half);
    return a;
  };
  const args = argsOf();
  // out views: the data outputs of a half call are its format's bits, the rest float32
  const dataKeys = ['y', 'dx', 'sum'];
  const ctorOf = (key: string) => (half ? (dataKeys.includes(key) ? Uint16Array : Float32Array) : CTORS[c.input.dtype]) as typeof Float32Array;
  const ctor = half ? Float32Array : CTORS[c.input.dtype];
  const opts = withOptions(args, {})[args.length - 1] as Record<string, unknown>; // a copy of its own, changed below
  const outs: FloatArray[] = [];
  const arrays = arraysIn(args).map(([, a]) => a);
  const pick = <T>(items: readonly T[], n: number): T | undefined => (items.length === 0 ? undefined : items[n % items.length]);
  // out views need the result's lengths: those of a valid reference call (no outs if it is not valid)
  const lengths = (): Record<string, number> => {
    try {
      const r = (reference as unknown as Api)[c.op](...argsOf()) as Record<string, unknown>;
      return Object.fromEntries(arraysIn(r).map(([path, a]) => [path.split('.')[0], a.length]).filter(([key]) => op.outKeys.includes(key as string)));
    } catch {
      return {};
    }
  };
  const s = c.spoil;
  switch (s.kind) {
    case 'none':
      break;
    case 'out': {
      const out: Record<string, FloatArray> = {};
      Object.entries(lengths()).forEach(([key, length], k) => {
        if ((s.keys >> k) & 1) out[key] = guardedView(ctorOf(key), length, s.shift);
      });
      opts.out = out;
      outs.push(...Object.values(out));
      break;
    }
    case 'outLength': {
      const [key, length] = Object.entries(lengths())[0] ?? ['y', 1];
      const view = guardedView(ctorOf(key), Math.max(0, length + s.delta), 0);
      opts.out = { [key]: view };
      outs.push(view);
      break;
    }
    case 'outDtype': {
      const [key, length] = Object.entries(lengths())[0] ?? ['y', 1];
      const view = guardedView(ctor === Float32Array ? Float64Array : Float32Array, length, 0);
      opts.out = { [key]: view };
      outs.push(view);
      break;
    }
    case 'outOverlap': {
      // an out view and an input (moved into a buffer of its own) overlapping by a few elements
      const [key, length] = Object.entries(lengths())[0] ?? ['y', 1];
      const entries = typedArraysIn(args).filter(([, a]) => a.constructor === ctor);
      const entry = pick(entries, s.target);
      if (!entry) break;
      const [path, target] = entry;
      const inputAt = Math.max(0, -s.shift);
      const outAt = Math.max(0, s.shift);
      const whole = new ctor(Math.max(inputAt + target.length, outAt + length));
      const moved = whole.subarray(inputAt, inputAt + target.length);
      moved.set(target);
      setPath(args, path, moved);
      opts.out = { [key]: whole.subarray(outAt, outAt + length) };
      break;
    }
    case 'inPlace': {
      const x = args[0] as { data?: FloatArray };
      if (op.outKeys[0] === 'y' && x?.data) opts.out = { y: x.data };
      break;
    }
    case 'detach': {
      const target = pick(arrays, s.target);
      if (target && target.buffer.byteLength > 0) detach(target as FloatArray);
      break;
    }
    case 'swapDtype': {
      const entries = typedArraysIn(opts).filter(([path]) => !path.startsWith('out'));
      const entry = pick(entries, s.target);
      if (entry) opts[entry[0].split('.')[0]] = entry[1] instanceof Float32Array ? Float64Array.from(entry[1]) : Float32Array.from(entry[1]);
      break;
    }
    case 'shape': {
      const tensors = args.filter((a): a is { shape: unknown[] } => typeof a === 'object' && a !== null && Array.isArray((a as { shape?: unknown }).shape));
      const t = pick(tensors, s.target);
      if (t) {
        t.shape = t.shape.slice();
        t.shape[s.dim % Math.max(1, t.shape.length + 1)] = s.value;
      }
      break;
    }
    case 'option':
      opts[s.key] = ownCopy(s.value);
      break;
    case 'argument':
      args[s.index % (args.length + 1)] = ownCopy(s.value);
      break;
  }
  return { args, outs };
}

/** Replaces the value at a path of typedArraysIn ("2.weight", "0.data") inside the arguments. */
function setPath(root: unknown[], path: string, value: unknown): void {
  const keys = path.split('.');
  let node = root as unknown as Record<string, unknown>;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
  node[keys[keys.length - 1]] = value;
}

type Outcome = { error: { type: string; message: string } } | { result: unknown; args: Record<string, FloatArray | Uint16Array> };

function failure(e: unknown): Outcome {
  return { error: { type: (e as Error)?.constructor?.name ?? typeof e, message: String((e as Error)?.message ?? e) } };
}

/** Runs a call on one backend and API; checks the outcome's own invariants (error class, guard bytes). */
async function runCall(c: Call, api: Api, promiseApi: boolean, what: string): Promise<Outcome> {
  const { args, outs } = buildCall(c);
  let outcome: Outcome;
  if (promiseApi && !syncInPromises(c.op as OpName)) {
    let pending: unknown;
    try {
      pending = api[c.op](...args);
    } catch (e) {
      expect.fail(`${what}: the promise API threw synchronously: ${(e as Error).message}`);
    }
    expect(pending, `${what}: returns a Promise`).toBeInstanceOf(Promise);
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: did not settle within 10 s`)), 10_000); });
    outcome = await Promise.race([(pending as Promise<unknown>).then(
      (result): Outcome => ({ result, args: Object.fromEntries(arraysIn(args)) }), failure), hang]).finally(() => clearTimeout(timer));
  } else {
    try {
      outcome = { result: api[c.op](...args), args: Object.fromEntries(arraysIn(args)) };
    } catch (e) {
      outcome = failure(e);
    }
  }
  if ('error' in outcome) expect(['TypeError', 'RangeError'], `${what}: ${outcome.error.type}: ${outcome.error.message}`).toContain(outcome.error.type);
  for (const view of outs) {
    const damage = guardDamage(view, 'error' in outcome);
    if (damage) expect.fail(`${what}: ${'error' in outcome ? `failed (${outcome.error.message}) but ` : ''}${damage}`);
  }
  return outcome;
}

/**
 * Close enough to the reference: |a − r| <= tol · max(1, max|r|) elementwise, NaN/±Inf at the
 * same places; half-precision bits (the call's format `half`) compared as their values, within
 * two units of the format's last place at the largest |r|.
 */
function expectResultClose(actual: Outcome, expected: Outcome, dtype: OpInput['dtype'], what: string, half?: 'float16' | 'bfloat16'): void {
  if ('error' in expected || 'error' in actual) {
    expect(actual, what).toEqual(expected);
    return;
  }
  const arraysOf = (o: { result: unknown; args: Record<string, FloatArray | Uint16Array> }): Record<string, FloatArray | Uint16Array> =>
    Object.fromEntries([...arraysIn(o.result).map(([p, v]) => [`result.${p}`, v]), ...Object.entries(o.args).map(([p, v]) => [`args.${p}`, v])]);
  const a = arraysOf(actual);
  const e = arraysOf(expected);
  expect(Object.keys(a).sort(), `${what}: arrays`).toEqual(Object.keys(e).sort());
  for (const [path, refArray] of Object.entries(e)) {
    const gotArray = a[path];
    expect(gotArray.constructor, `${what} ${path}: dtype`).toBe(refArray.constructor);
    expect(gotArray.length, `${what} ${path}: length`).toBe(refArray.length);
    const bits = refArray instanceof Uint16Array;
    const tol = bits ? 2 ** (half === 'bfloat16' ? -6 : -9) : half || dtype === 'float32' ? 1e-4 : 1e-9;
    const ref = bits ? widenFrom(half!, refArray) : refArray;
    const got = gotArray instanceof Uint16Array ? widenFrom(half!, gotArray) : gotArray;
    let scale = 1;
    for (let i = 0; i < ref.length; i++) if (Number.isFinite(ref[i])) scale = Math.max(scale, Math.abs(ref[i]));
    for (let i = 0; i < ref.length; i++) {
      const ok = Number.isFinite(ref[i]) ? Math.abs(got[i] - ref[i]) <= tol * scale : Object.is(got[i], ref[i]) || (Number.isNaN(got[i]) && Number.isNaN(ref[i]));
      if (!ok) expect.fail(`${what} ${path}: [${i}] ${got[i]} vs reference ${ref[i]} (largest |reference| ${scale})`);
    }
  }
}

describe('every op: random calls are correct or a TypeError/RangeError, on both backends, sync and promise', () => {
  it(`${OPS.length} ops, seed ${SEED}: no crash, hang, wrong result or write outside the outputs`, async () => {
    console.log(`fuzz seed ${SEED} (replay: FASTNORM_FUZZ_SEED=${SEED})`);
    const seen: Record<string, number> = {};
    await fc.assert(fc.asyncProperty(callArb, async (c) => {
      const what = `${c.op} ${c.half && takesHalf(c.op) ? c.half : c.input.dtype} [${c.input.dims.join(', ')}] ${JSON.stringify(c.input.flags)} ${c.spoil.kind}`;
      const outcomes: Record<string, Outcome> = {};
      for (const [name, syncApi, asyncApi] of BACKENDS) {
        outcomes[`${name} sync`] = await runCall(c, syncApi, false, `${name} sync ${what}`);
        outcomes[`${name} promise`] = await runCall(c, asyncApi, true, `${name} promise ${what}`);
      }
      // the promise form of a backend is its sync form, bit for bit; the backends agree
      expectBitwiseEqualDeep(outcomes['native promise'], outcomes['native sync'], `native promise vs sync: ${what}`);
      expectBitwiseEqualDeep(outcomes['reference promise'], outcomes['reference sync'], `reference promise vs sync: ${what}`);
      expectResultClose(outcomes['native sync'], outcomes['reference sync'], c.input.dtype, `native vs reference: ${what}`,
        takesHalf(c.op) ? c.half : undefined);
      const key = `${c.spoil.kind}:${'error' in outcomes['reference sync'] ? 'error' : 'ok'}`;
      seen[key] = (seen[key] ?? 0) + 1;
    }), { seed: SEED, numRuns: Math.round(2500 * RUNS), endOnFailure: true });
    console.log(`outcomes by spoiling change: ${JSON.stringify(seen)}`);
    // the generator does reach both outcomes (valid calls and errors)
    expect(seen['none:ok'] ?? 0).toBeGreaterThan(0);
    expect(seen['out:ok'] ?? 0).toBeGreaterThan(0);
  }, 60_000);
});

describe('the addon positional functions (the native boundary behind the public functions)', () => {
  /** A public call's kernel arguments, captured instead of run, in the addon's positional order. */
  function capture(c: Call): { kernel: string; args: unknown[] } | null {
    let captured: { kernel: string; args: unknown[] } | null = null;
    const spy = new Proxy({}, {
      get: (_, kernel) => (args: Record<string, unknown>) => {
        const fields = KERNELS[kernel as keyof typeof KERNELS].fields;
        captured = { kernel: String(kernel), args: fields.map((f) => args[f.name]) };
      },
    }) as Kernels;
    try {
      (createOps(spy) as unknown as Api)[c.op](...caseOf(c.op).args(c.input));
    } catch {
      return null;
    }
    return captured;
  }

  const positionalSpoil = fc.record({
    index: fc.nat(15),
    value: fc.oneof(strangeValue, fc.integer({ min: -1, max: 5000 }), fc.constantFrom('shorter', 'longer', 'other dtype', 'detached', 'null')),
  });

  it(`seed ${SEED}: every kernel, sync and async, with one spoiled argument: a result or a TypeError/RangeError, guard bytes intact`, async () => {
    const addon = nativeAddon as unknown as Api;
    await fc.assert(fc.asyncProperty(callArb, positionalSpoil, async (c, spoil) => {
      const captured = capture(c);
      if (!captured) return;
      for (const isAsync of [false, true]) {
        // every array argument becomes a guarded view holding the same values
        const guarded: FloatArray[] = [];
        const args: unknown[] = captured.args.map((a): unknown => {
          if (!(a instanceof Float32Array || a instanceof Float64Array)) return a;
          const view = guardedView(a.constructor as Float32ArrayConstructor, a.length, 0);
          view.set(a);
          guarded.push(view);
          return view;
        });
        const i = spoil.index % Math.max(1, args.length);
        const old = args[i];
        const ctor = old instanceof Float64Array ? Float64Array : Float32Array;
        const length = old instanceof Float32Array || old instanceof Float64Array ? old.length : 4;
        args[i] = spoil.value === 'shorter' ? new ctor(Math.max(0, length - 1))
          : spoil.value === 'longer' ? new ctor(length + 1)
          : spoil.value === 'other dtype' ? new (ctor === Float32Array ? Float64Array : Float32Array)(length)
          : spoil.value === 'detached' ? detach(new ctor(length))
          : spoil.value === 'null' ? null : spoil.value;
        const fn = addon[`${captured.kernel}${isAsync ? 'Async' : ''}`];
        let error: unknown = null;
        try {
          const r = fn(...args);
          if (isAsync) await r;
        } catch (e) {
          error = e;
        }
        if (error) expect(['TypeError', 'RangeError'], String(error)).toContain((error as Error).constructor.name);
        for (const view of guarded) {
          const damage = guardDamage(view, false);
          if (damage) expect.fail(`${captured.kernel}${isAsync ? 'Async' : ''} argument ${i} = ${String(spoil.value)}: ${damage}`);
        }
      }
    }), { seed: SEED, numRuns: Math.round(1500 * RUNS), endOnFailure: true });
  }, 60_000);
});

describe('the other public functions with random arguments', () => {
  it(`seed ${SEED}: setNumThreads/getNumThreads/info return or throw a TypeError/RangeError`, () => {
    const initial = fastnorm.getNumThreads();
    const names = Object.keys(fastnorm).filter((name) => typeof (fastnorm as unknown as Api)[name] === 'function' && !OPS.includes(name as OpName));
    try {
      fc.assert(fc.property(fc.constantFrom(...names), fc.array(strangeValue, { maxLength: 3 }), (name, args) => {
        for (const [, api] of BACKENDS) {
          try {
            api[name](...args);
          } catch (e) {
            // inspect, not String: a fuzzed argument may refuse conversion to a string
            expect(['TypeError', 'RangeError'], `${name}(${inspect(args)}): ${inspect(e)}`).toContain((e as Error).constructor.name);
          }
        }
      }), { seed: SEED, numRuns: Math.round(300 * RUNS) });
    } finally {
      fastnorm.setNumThreads(initial);
    }
  });
});

describe('small results share a slab (src/api/alloc.ts): transferring one never breaks the others', () => {
  it.each(['structuredClone', 'postMessage'] as const)('%s with a small result\'s buffer in the transfer list copies it', async (how) => {
    const x = { data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] };
    const first = fastnorm.layerNorm(x, 3);
    const second = fastnorm.layerNorm(x, 3);
    const before = second.mean.slice();
    if (how === 'structuredClone') structuredClone(first.mean, { transfer: [first.mean.buffer as ArrayBuffer] });
    else {
      const { port1, port2 } = new MessageChannel();
      port1.postMessage(first.mean, [first.mean.buffer as ArrayBuffer]);
      port1.close();
      port2.close();
    }
    expect(first.mean.length, 'the transferred result itself').toBe(2);
    expectBitwiseEqualDeep(second.mean, before, 'another result from the same slab');
    expectBitwiseEqualDeep(fastnorm.layerNorm(x, 3), second, 'later calls');
  });

  it('a slab detached some other way (e.g. by native code) is replaced by the next allocation', () => {
    const x = { data: new Float64Array([1, 2, 3, 4]), shape: [2, 2] };
    const small = fastnorm.rmsNorm(x, 2);
    const expected = { y: { data: small.y.data.slice(), shape: [2, 2] }, rstd: small.rstd.slice() };
    v8.setFlagsFromString('--allow-natives-syntax');
    const forceDetach = new Function('buffer', '%ArrayBufferDetach(buffer)') as (b: ArrayBufferLike) => void;
    forceDetach(small.rstd.buffer);
    expect(small.rstd.length).toBe(0);
    expectBitwiseEqualDeep(fastnorm.rmsNorm(x, 2), expected);
  });
});
