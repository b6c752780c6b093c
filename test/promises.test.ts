// fastnorm/promises (API.md): every op with the same arguments, returning a Promise computed on
// the libuv thread pool; results bitwise identical to the sync API; bad input rejects with the
// TypeError/RangeError the sync call throws, with a stack through the caller; every input and
// output stays alive until the call settles, even when JavaScript drops all references to them.
// Generic over the ops: each op of the op table is driven by its row in op-cases.ts; the few the
// table marks promise: 'sync' return their result directly, as in 'fastnorm'.
import { describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import * as promises from '../src/promises';
import * as reference from '../src/reference';
import { nativeAddon } from '../src/backends/default';
import { createAsyncOps } from '../src/api/ops';
import type { AsyncKernels } from '../src/api/op-table';
import { createReferenceBackend, referenceKernels } from '../src/backends/reference/index';
import { DTYPES, expectBitwiseEqualDeep, expectChildOk, forceGc, makeRng, randn, requireNative, runNode } from './helpers';
import { ALL_FLAGS, BAD_INPUTS, OP_CASES, OP_NAMES, syncInPromises, typedArraysIn, type OpInput } from './op-cases';

type AnyOp = (...args: unknown[]) => unknown;
const sync = fastnorm as unknown as Record<string, AnyOp>;
const async = promises as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
const ASYNC_OPS = OP_NAMES.filter((name) => !syncInPromises(name));
const SYNC_OPS = OP_NAMES.filter((name) => syncInPromises(name));
const caseOf = (name: (typeof OP_NAMES)[number]) => OP_CASES[name];

// Small (inline) and large (split over the thread pool: > 1<<15 values) inputs.
const SIZES: Array<[string, OpInput['dims']]> = [['small [3, 4, 17]', [3, 4, 17]], ['large [32, 16, 160]', [32, 16, 160]]];

function input(dtype: OpInput['dtype'], dims: OpInput['dims'], seed = 7): OpInput {
  return { seed, dtype, dims, flags: ALL_FLAGS };
}

/** What a call changed: its result and every array of its arguments (running statistics are updated in place). */
function outcome(result: unknown, args: unknown[]) {
  return { result, args: Object.fromEntries(typedArraysIn(args)) };
}

requireNative();

describe('fastnorm/promises: the API', () => {
  it('has every op of the table and re-exports the other functions of fastnorm unchanged', () => {
    for (const name of OP_NAMES) expect(typeof async[name], `promises.${name}`).toBe('function');
    for (const [name, value] of Object.entries(fastnorm)) {
      if (typeof value !== 'function') continue;
      expect(typeof async[name], `promises.${name}`).toBe('function');
    }
    for (const name of Object.keys(promises)) expect(name in fastnorm, `fastnorm.${name}`).toBe(true);
    expect(promises.setNumThreads).toBe(fastnorm.setNumThreads);
    expect(promises.info().backend).toBe('native');
  });

  it.each(SYNC_OPS)("%s (promise: 'sync' in the table) returns its result directly, bitwise as fastnorm's", (name) => {
    for (const dtype of DTYPES) {
      const args = caseOf(name).args(input(dtype, [4, 3, 5]));
      const result = async[name](...args);
      expect(result).not.toBeInstanceOf(Promise);
      const syncArgs = caseOf(name).args(input(dtype, [4, 3, 5]));
      expectBitwiseEqualDeep(outcome(result, args), outcome(sync[name](...syncArgs), syncArgs), name);
    }
  });
});

describe.each(ASYNC_OPS)('%s: promise vs sync', (name) => {
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
    const opts = args[args.length - 1] as Record<string, unknown>;
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

describe.each(ASYNC_OPS)('%s: errors', (name) => {
  it.each(BAD_INPUTS)('%s: rejects (never throws) with the error the sync call throws, stack through the caller', async (_what, spoil) => {
    const op = caseOf(name);
    const syncArgs = op.args(input('float32', [2, 3, 5]));
    if (!spoil(syncArgs, op)) return;
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
      const done = addon.layerNormForwardAsync(source.slice(), rows, cols, null, null, 1e-5, 0, 'none', y, mean, rstd, 'none');
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
      void addon.rmsNormForwardAsync(new Float64Array(256 * 1024), 256, 1024, null, 1e-6, 0, new Float64Array(256 * 1024),
        new Float64Array(256), 'none');
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
    const ops = createAsyncOps({ kernels: referenceKernels, asyncKernels: failing });
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
  const asyncReference = createAsyncOps(createReferenceBackend()) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const referenceOps = reference as unknown as Record<string, AnyOp>;

  it.each(ASYNC_OPS)('%s: same result as the sync reference call', async (name) => {
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
