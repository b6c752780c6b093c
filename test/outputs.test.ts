// API.md's `out`: caller-provided result buffers, for every op of the table that takes them (its
// row of op-cases.ts), on both backends: every given buffer is written and returned, with the bits
// of the allocated result; the ones not given are allocated; native code writes nothing outside
// the given views (placed at odd offsets inside larger buffers, sizes around the vector width,
// rows and planes beyond a block); and where the kernel allows its output to be its input
// (kernel-schema.ts: an alias), the in-place call gives the out-of-place result.
import { describe, expect, it } from 'vitest';
import type { ArrayField } from '../src/api/kernel-schema';
import { OP_TABLE, type OpName } from '../src/api/op-table';
import type { FloatArray, Tensor } from '../src/api/types';
import * as fastnorm from '../src/index';
import * as reference from '../src/reference';
import { CTORS, DTYPES, expectBitwiseEqualDeep, expectGuardsIntact, guardedView, requireNative } from './helpers';
import { ALL_FLAGS, OP_CASES, OP_NAMES, typedArraysIn, withOptions, type Api, type OpInput } from './op-cases';

type AnyOp = (...args: unknown[]) => unknown;
const BACKENDS: Array<[string, Api]> = [['native', fastnorm as unknown as Api], ['reference', reference]];
const call = (api: Api, name: OpName, args: unknown[]) => (api as unknown as Record<string, AnyOp>)[name](...args);

requireNative();

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
