// API.md's `out`: caller-provided result buffers, for every op of the table that takes them (its
// row of op-cases.ts), on both backends: every given buffer is written and returned, with the bits
// of the allocated result; the ones not given are allocated; native code writes nothing outside
// the given views (placed at odd offsets inside larger buffers, sizes around the vector width,
// rows and planes beyond a block); and where the kernel allows its output to be its input
// (kernel-schema.ts: an alias), the in-place call gives the out-of-place result.
import { describe, expect, it } from 'vitest';
import type { Plan } from '../src/api/bind';
import type { ArrayField, Field } from '../src/api/kernel-schema';
import { OP_TABLE, type Kernels, type OpName } from '../src/api/op-table';
import { nativeAddon } from '../src/backends/default';
import { createNativeBackend } from '../src/backends/native';
import { referenceKernels } from '../src/backends/reference/index';
import type { FloatArray, Tensor } from '../src/api/types';
import * as fastnorm from '../src/index';
import * as reference from '../src/reference';
import { CTORS, DTYPES, expectBitwiseEqualDeep, expectGuardsIntact, guardedView, requireNative } from './helpers';
import { ALL_FLAGS, OP_CASES, OP_NAMES, typedArraysIn, withOptions, type Api, type OpInput } from './op-cases';

type AnyOp = (...args: unknown[]) => unknown;
const BACKENDS: Array<[string, Api]> = [['native', fastnorm as unknown as Api], ['reference', reference]];
const call = (api: Api, name: OpName, args: unknown[]) => (api as unknown as Record<string, AnyOp>)[name](...args);

requireNative();

/** The native backend's kernels (the addon as the default backend loads it). */
function nativeBackendKernels(): Kernels {
  if (!nativeAddon) throw new Error('the native addon did not load');
  return createNativeBackend(nativeAddon).kernels;
}

// [a, b, c] of op-cases.ts: vector tails, a row/plane of 769 values, a huge row (beyond the
// cache-resident size: blocked) / planes of several blocks
const DIMS: Array<OpInput['dims']> = [[3, 5, 17], [2, 6, 769], [1, 2, 40000]];
// both layouts (row ops: one and two normalized dims), training and eval (the modes of BatchNorm/InstanceNorm)
const FLAGS: OpInput['flags'][] = [ALL_FLAGS, { ...ALL_FLAGS, alt: true, activation: 'gelu' }, { ...ALL_FLAGS, alt: true, eval: true, activation: 'silu' }];
const INPUTS = DTYPES.flatMap((dtype) => DIMS.flatMap((dims) => FLAGS.map((flags) => ({ seed: dims[2], dtype, dims, flags } as OpInput))));
const label = (i: OpInput) => `${i.dtype} [${i.dims.join(', ')}]${i.flags.alt ? ' alt' : ''}${i.flags.eval ? ' eval' : ''}`;

/** The result's arrays an `out` option could hold: { key: array }. */
function outputsOf(name: OpName, result: unknown): Record<string, FloatArray> {
  const keys = OP_CASES[name].outKeys;
  return Object.fromEntries(typedArraysIn(result).map(([path, a]) => [path.split('.')[0], a] as const).filter(([key]) => keys.includes(key)));
}

/** The arguments with opts.out set. */
function withOut(name: OpName, input: OpInput, out: Record<string, FloatArray>): unknown[] {
  return withOptions(OP_CASES[name].args(input), { out });
}

const WITH_OUT = OP_NAMES.filter((name) => OP_CASES[name].outKeys.length > 0);

describe.each(WITH_OUT)('%s: caller-provided out buffers', (name) => {
  const op = OP_CASES[name];

  it.each(BACKENDS)('%s: every buffer given is written and returned, bitwise as allocated; those not given are allocated', (backend, api) => {
    for (const input of INPUTS) {
      const fresh = call(api, name, op.args(input));
      const expected = outputsOf(name, fresh);
      const keys = Object.keys(expected);
      const out = Object.fromEntries(keys.map((k) => [k, new (expected[k].constructor as Float32ArrayConstructor)(expected[k].length).fill(NaN)]));
      const result = call(api, name, withOut(name, input, out));
      for (const k of keys) expect(outputsOf(name, result)[k], `${backend} ${label(input)} out.${k} is returned`).toBe(out[k]);
      expectBitwiseEqualDeep(result, fresh, `${backend} ${label(input)}`);
      // one buffer given: it is used, the others allocated
      const one = { [keys[0]]: new (expected[keys[0]].constructor as Float32ArrayConstructor)(expected[keys[0]].length) };
      const partial = call(api, name, withOut(name, input, one));
      expect(outputsOf(name, partial)[keys[0]], `${backend} ${label(input)} out.${keys[0]} alone`).toBe(one[keys[0]]);
      expectBitwiseEqualDeep(partial, fresh, `${backend} ${label(input)}, only out.${keys[0]} given`);
    }
  });

  it('native writes nothing outside the out views (at odd offsets inside larger buffers)', () => {
    for (const input of INPUTS) {
      const expected = outputsOf(name, call(reference, name, op.args(input)));
      const out = Object.fromEntries(Object.entries(expected).map(([k, a]) => [k, guardedView(CTORS[input.dtype], a.length, 1)]));
      call(fastnorm as unknown as Api, name, withOut(name, input, out));
      expectGuardsIntact(out, `${name} ${label(input)}`);
    }
  });

  // the outputs the kernel may write in place of one of its inputs (y over x; an add-norm's sum over
  // residual, dx over dSum): each alone and all together; the input is found in the arguments by
  // the planner, which hands the caller's arrays to the kernel as they are
  // (registered only for the ops whose kernel allows it, so that nothing is reported skipped)
  const aliases = (OP_TABLE[name].kernel.fields as readonly ArrayField[]).filter((f) => f.alias);
  if (aliases.length === 0) return;
  const sets = aliases.length > 1 ? [...aliases.map((f) => [f]), aliases] : [aliases];
  const keyOf = (f: ArrayField) => f.label.slice('out.'.length);
  it.each(BACKENDS)(`%s: in place (${sets.map((s) => s.map((f) => `out.${keyOf(f)} = ${f.alias}`).join(' with ')).join('; ')}) gives the out-of-place result`,
    (backend, api) => {
      for (const input of INPUTS) {
        const fresh = call(api, name, op.args(input));
        for (const set of sets) {
          const args = op.args(input);
          const bound = (OP_TABLE[name].plan as AnyOp)(...args) as { args: Record<string, FloatArray | null> };
          const out = Object.fromEntries(set.map((f) => [keyOf(f), bound.args[f.alias!]]));
          if (Object.values(out).some((a) => !a)) continue;
          withOptions(args, { out });
          const result = call(api, name, args);
          for (const f of set) expect(outputsOf(name, result)[keyOf(f)], `${backend} ${label(input)}`).toBe(out[keyOf(f)]);
          expectBitwiseEqualDeep(result, fresh, `${backend} ${label(input)} in place ${Object.keys(out).join(', ')}`);
        }
      }
    });
});

// alloc.ts hands large outputs out uninitialized: that is safe only because every kernel writes
// every element of every output on every path that returns. Each op's planned call gets output
// arrays filled with a signalling-NaN pattern (no arithmetic result has those bits: NaNs that
// arithmetic makes or propagates are quiet, and no input holds them), on both backends, over
// ill-conditioned, non-finite and degenerate inputs as well as ordinary ones.
const SENTINEL = { float32: 0x7f8a5a5a, float64: 0x7ff4a5a5a5a5a5a5n };
const fillSentinel = (a: FloatArray) => {
  if (a instanceof Float32Array) new Uint32Array(a.buffer, a.byteOffset, a.length).fill(SENTINEL.float32);
  else new BigUint64Array(a.buffer, a.byteOffset, a.length).fill(SENTINEL.float64);
};
const sentinelsIn = (a: FloatArray) => (a instanceof Float32Array
  ? new Uint32Array(a.buffer, a.byteOffset, a.length).filter((b) => b === SENTINEL.float32).length
  : new BigUint64Array(a.buffer, a.byteOffset, a.length).filter((b) => b === SENTINEL.float64).length);

/** The data of the op's first two tensor arguments (x, or dy and x) spoiled in place. */
type Spoil = [what: string, spoil: (data: FloatArray) => void];
const SPOILS: Spoil[] = [
  ['as is', () => {}],
  ['NaN and ±Inf inside', (d) => { for (let i = 0; i < d.length; i += 37) d[i] = [NaN, Infinity, -Infinity][(i / 37) % 3]; }],
  ['all NaN', (d) => d.fill(NaN)],
  ['constant (zero variance)', (d) => d.fill(3)],
  ['|x| ~ 1e30', (d) => { for (let i = 0; i < d.length; i++) d[i] *= 1e30; }],
];
const EDGE_DIMS: Array<OpInput['dims']> = [[3, 5, 17], [2, 6, 769], [1, 2, 40000], [1, 1, 1], [0, 3, 5], [2, 3, 0]];
// every spoil of normal data, and the ill-conditioned data kinds as they are
const EDGE_CASES: Array<[OpInput, Spoil]> = DTYPES.flatMap((dtype) => EDGE_DIMS.flatMap((dims) =>
  [...FLAGS, { ...ALL_FLAGS, alt: false, eval: true }].flatMap((flags) => [
    ...SPOILS.map((spoil) => [{ seed: dims[2] + 1, dtype, dims, flags, data: 'normal' }, spoil] as [OpInput, Spoil]),
    ...(['offset', 'farStart'] as const).map((data) => [{ seed: dims[2] + 1, dtype, dims, flags, data }, SPOILS[0]] as [OpInput, Spoil]),
  ])));
const KERNEL_SETS: Array<[string, Kernels]> = [['native', nativeBackendKernels()], ['reference', referenceKernels]];

describe.each(OP_NAMES)('%s: every output element is written (outputs may be allocated uninitialized)', (name) => {
  it.each(KERNEL_SETS)('%s', (backend, kernels) => {
    let checked = 0;
    for (const [input, [what, spoil]] of EDGE_CASES) {
      let args: unknown[];
      let p: Plan;
      try {
        args = OP_CASES[name].args(input);
        for (const t of args.slice(0, 2)) {
          const data = (t as { data?: unknown } | null)?.data;
          if (data instanceof Float32Array || data instanceof Float64Array) spoil(data);
        }
        p = (OP_TABLE[name].plan as (...a: unknown[]) => Plan)(...args);
      } catch {
        continue; // a shape or mode the op rejects (validation.test.ts covers those)
      }
      const outs = (OP_TABLE[name].kernel.fields as readonly Field[])
        .filter((f): f is ArrayField => f.role === 'out')
        .map((f) => [f.label, (p.args as Record<string, FloatArray | null>)[f.name]] as const)
        .filter((e): e is readonly [string, FloatArray] => e[1] !== null && e[1] !== (args[0] as Tensor | null)?.data);
      for (const [, a] of outs) fillSentinel(a);
      (kernels as unknown as Record<string, (a: unknown) => void>)[p.kernel](p.args);
      for (const [labelOf, a] of outs) expect(sentinelsIn(a), `${backend} ${label(input)} ${input.data} ${what}: ${labelOf} unwritten`).toBe(0);
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
  });
});
