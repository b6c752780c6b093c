// fastnorm/promises (API.md): every op with the same arguments, returning a Promise computed on
// the libuv thread pool; results bitwise identical to the sync API; bad input rejects with the
// TypeError/RangeError the sync call throws, with a stack through the caller; every input and
// output stays alive until the call settles, even when JavaScript drops all references to them.
// Generic over the ops: each op of `fastnorm/promises` is driven by its entry in op-cases.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import * as promises from '../src/promises';
import * as reference from '../src/reference';
import { nativeAddon } from '../src/api/facade';
import { createAsyncOps } from '../src/api/ops';
import type { AsyncKernels } from '../src/backends/kernels';
import { createReferenceBackend } from '../src/backends/reference/index';
import { detach, DTYPES, expectBitwiseEqualDeep, expectChildOk, forceGc, makeRng, randn, runNode } from './helpers';
import { ALL_FLAGS, OP_CASES, opNames, typedArraysIn, uncoveredOps, type OpCase, type OpInput } from './op-cases';

type AnyOp = (...args: unknown[]) => unknown;
const sync = fastnorm as unknown as Record<string, AnyOp>;
const async = promises as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
const OPS = opNames(fastnorm, promises);
const COVERED = OPS.filter((name) => OP_CASES[name as keyof typeof OP_CASES]);
const caseOf = (name: string) => OP_CASES[name as keyof typeof OP_CASES] as OpCase;

// Small (inline) and large (split over the thread pool: > 1<<15 values) inputs.
const SIZES: Array<[string, OpInput['dims']]> = [['small [3, 4, 17]', [3, 4, 17]], ['large [32, 16, 160]', [32, 16, 160]]];

function input(dtype: OpInput['dtype'], dims: OpInput['dims'], seed = 7): OpInput {
  return { seed, dtype, dims, flags: ALL_FLAGS };
}

/** What a call changed: its result and every array of its arguments (running statistics are updated in place). */
function outcome(result: unknown, args: unknown[]) {
  return { result, args: Object.fromEntries(typedArraysIn(args)) };
}

beforeAll(() => {
  // without the addon the facade silently uses the reference backend: native would be compared with itself
  expect(fastnorm.info().backend, 'native addon must be loaded for these tests').toBe('native');
});

describe('fastnorm/promises: the API', () => {
  it('has a Promise form of every op of fastnorm and re-exports the other functions unchanged', () => {
    expect(OPS.length).toBeGreaterThanOrEqual(4);
    for (const [name, value] of Object.entries(fastnorm)) {
      if (typeof value !== 'function') continue;
      expect(typeof async[name], `promises.${name}`).toBe('function');
    }
    for (const name of Object.keys(promises)) expect(name in fastnorm, `fastnorm.${name}`).toBe(true);
    expect(promises.setNumThreads).toBe(fastnorm.setNumThreads);
    expect(promises.info().backend).toBe('native');
  });

  it('every op has an argument generator in test/op-cases.ts', () => {
    // a new op without one is still checked below for errors, but not for results
    const missing = uncoveredOps(OPS);
    if (missing.length > 0) console.warn(`ops without an entry in test/op-cases.ts (results not checked): ${missing.join(', ')}`);
    expect(COVERED.length).toBeGreaterThanOrEqual(4);
  });

  for (const name of uncoveredOps(OPS)) it.todo(`${name}: add an entry to test/op-cases.ts`);
});

describe.each(COVERED)('%s: promise vs sync', (name) => {
  it.each(DTYPES.flatMap((dtype) => SIZES.map(([label, dims]) => [`${dtype} ${label}`, dtype, dims] as const)))(
    '%s: returns a Promise, result and in-place updates bitwise identical to the sync call', async (_label, dtype, dims) => {
      const op = caseOf(name);
      const syncArgs = op.args(input(dtype, dims));
      const expected = outcome(sync[name](...syncArgs), syncArgs);
      const asyncArgs = op.args(input(dtype, dims));
      const pending = async[name](...asyncArgs);
      expect(pending).toBeInstanceOf(Promise);
      expectBitwiseEqualDeep(outcome(await pending, asyncArgs), expected, name);
    });

  it('writes into caller-provided out buffers and returns them', async () => {
    const op = caseOf(name);
    if (op.outKeys.length === 0) return;
    const i = input('float32', [4, 6, 10]);
    const syncArgs = op.args(i);
    const expected = sync[name](...syncArgs) as Record<string, unknown>;
    const args = op.args(i);
    const opts = args[op.optsIndex] as Record<string, unknown>;
    const out: Record<string, Float32Array> = {};
    for (const [path, a] of typedArraysIn(expected)) {
      const key = path.split('.')[0];
      if (op.outKeys.includes(key)) out[key] = new Float32Array(a.length).fill(NaN);
    }
    opts.out = out;
    const result = (await async[name](...args)) as Record<string, unknown>;
    for (const [key, buffer] of Object.entries(out)) {
      const returned = typedArraysIn(result).find(([path]) => path.split('.')[0] === key)?.[1];
      expect(returned, `${name}: out.${key} is returned`).toBe(buffer);
    }
    expectBitwiseEqualDeep(result, expected, name);
  });
});

/** Bad arguments every op rejects the same way: [what, change the valid arguments]. */
const BAD_INPUTS: Array<[string, (args: unknown[], op: OpCase) => void]> = [
  ['first argument is null', (args) => { args[0] = null; }],
  ['an unknown option', (args, op) => { args[op.optsIndex] = { ...(args[op.optsIndex] as object), bogusOption: 1 }; }],
  ['the first tensor is detached', (args) => { detach((args[0] as { data: Float32Array }).data); }],
  ['an out buffer of the wrong length', (args, op) => {
    if (op.outKeys.length === 0) args[op.optsIndex] = { ...(args[op.optsIndex] as object), out: {} };
    else args[op.optsIndex] = { ...(args[op.optsIndex] as object), out: { [op.outKeys[0]]: new Float32Array(1) } };
  }],
];

describe.each(OPS)('%s: errors', (name) => {
  const cases = OP_CASES[name as keyof typeof OP_CASES] ? BAD_INPUTS : BAD_INPUTS.slice(0, 1);
  it.each(cases)('%s: rejects (never throws) with the error the sync call throws, stack through the caller', async (_what, spoil) => {
    const op = caseOf(name) ?? { optsIndex: 1, outKeys: [], args: () => [null] };
    const syncArgs = op.args(input('float32', [2, 3, 5]));
    spoil(syncArgs, op);
    let thrown: unknown;
    try {
      sync[name](...syncArgs);
    } catch (e) {
      thrown = e;
    }
    expect(thrown, 'the sync call throws').toBeInstanceOf(Error);
    expect([TypeError, RangeError]).toContain((thrown as Error).constructor);

    const asyncArgs = op.args(input('float32', [2, 3, 5]));
    spoil(asyncArgs, op);
    let pending: Promise<unknown> | undefined;
    expect(() => { pending = async[name](...asyncArgs); }, 'the promise call does not throw').not.toThrow();
    const rejected = await pending!.then(() => undefined, (e: unknown) => e);
    expect(rejected).toBeInstanceOf((thrown as Error).constructor);
    expect((rejected as Error).message).toBe((thrown as Error).message);
    expect((rejected as Error).stack).toContain('promises.test.ts');
  });
});

describe('the native worker keeps its arguments alive', () => {
  it('an input that nothing else references survives garbage collections while the kernel runs', async () => {
    const addon = nativeAddon!;
    const rows = 512;
    const cols = 4096;
    const rng = makeRng(11);
    const source = randn(rng, 'float32', rows * cols) as Float32Array;
    const expected = fastnorm.layerNorm({ data: source, shape: [rows, cols] }, cols);
    const results = [];
    for (let k = 0; k < 4; k++) {
      const y = new Float32Array(rows * cols);
      const mean = new Float32Array(rows);
      const rstd = new Float32Array(rows);
      // x is referenced by the worker alone: if it did not hold it, the collection below would free
      // its memory while the kernel reads it
      const done = addon.layerNormForwardAsync(source.slice(), rows, cols, null, null, 1e-5, y, mean, rstd);
      forceGc();
      results.push(done.then(() => ({ y, mean, rstd })));
    }
    for (let k = 0; k < 3; k++) {
      forceGc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (const r of await Promise.all(results)) expectBitwiseEqualDeep({ y: { data: r.y, shape: [rows, cols] }, mean: r.mean, rstd: r.rstd }, expected);
  });

  it('calls whose arguments and promises are all dropped settle without harm (outputs written into unreachable memory)', async () => {
    const addon = nativeAddon!;
    for (let k = 0; k < 8; k++) {
      void addon.rmsNormForwardAsync(new Float64Array(256 * 1024), 256, 1024, null, null, 1e-6, new Float64Array(256 * 1024), null,
        new Float64Array(256));
    }
    forceGc();
    // the pool is still usable and correct afterwards
    const x = { data: new Float64Array([1, 2, 3, 4]), shape: [1, 4] };
    expectBitwiseEqualDeep(await promises.rmsNorm(x, 4), fastnorm.rmsNorm(x, 4));
  });

  it('the JavaScript thread keeps running while a large op computes', async () => {
    const x = { data: randn(makeRng(3), 'float32', 2048 * 4096) as Float32Array, shape: [2048, 4096] };
    let settled = false;
    const pending = promises.layerNorm(x, 4096).then((r) => { settled = true; return r; });
    let turns = 0;
    while (!settled) {
      await new Promise((resolve) => setImmediate(resolve));
      turns++;
    }
    // the event loop went round while the 32 MiB tensor was normalized off-thread
    expect(turns).toBeGreaterThan(1);
    expectBitwiseEqualDeep(await pending, fastnorm.layerNorm(x, 4096));
  });
});

describe('a failing kernel (native out of memory) rejects with a stack through the caller', () => {
  it('the error created on the completion gets the stack of the awaiting call', async () => {
    // every kernel fails as the addon does when its scratch allocation fails: an Error created
    // outside of any JavaScript call of the user
    const failing = new Proxy({}, {
      get: () => () => new Promise((_, reject) => setImmediate(() => reject(new Error('fastnorm: out of memory for scratch buffers')))),
    }) as AsyncKernels;
    const ops = createAsyncOps(failing);
    async function callerOfLayerNorm() {
      return await ops.layerNorm({ data: new Float32Array(4), shape: [1, 4] }, 4);
    }
    const e = await callerOfLayerNorm().then(() => undefined, (err: Error) => err);
    expect(e).toBeInstanceOf(Error);
    expect(e!.message).toMatch(/out of memory/);
    expect(e!.stack).toContain('callerOfLayerNorm');
  });
});

describe('the reference backend: promise forms are deferred sync calls', () => {
  const asyncReference = createAsyncOps(createReferenceBackend().asyncKernels) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const referenceOps = reference as unknown as Record<string, AnyOp>;

  it.each(COVERED)('%s: same result as the sync reference call', async (name) => {
    const op = caseOf(name);
    for (const dtype of DTYPES) {
      const syncArgs = op.args(input(dtype, [3, 4, 9]));
      const expected = outcome(referenceOps[name](...syncArgs), syncArgs);
      const args = op.args(input(dtype, [3, 4, 9]));
      expectBitwiseEqualDeep(outcome(await asyncReference[name](...args), args), expected, name);
    }
  });

  it("fastnorm/promises falls back to them with FASTNORM_BACKEND=reference (built package)", () => {
    const r = runNode(`
      const p = require('fastnorm/promises');
      const ref = require('fastnorm/reference');
      const x = { data: new Float64Array([1, 2, 4, 8, 16, 32]), shape: [2, 3] };
      p.layerNorm(x, 3).then((r) => console.log(JSON.stringify({ info: p.info(), y: Array.from(r.y.data),
        expected: Array.from(ref.layerNorm(x, 3).y.data) })));`, { env: { FASTNORM_BACKEND: 'reference' } });
    expectChildOk(r);
    expect(r.json.info.backend).toBe('reference');
    expect(r.json.y).toEqual(r.json.expected);
  });
});
