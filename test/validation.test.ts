// API.md "Guarantees": bad input throws a TypeError (wrong kind of value) or a RangeError (right
// kind, wrong value) whose message names the argument, on every backend alike; it never crashes
// the process and never writes to the outputs. Every op's malformed calls and accepted edge cases
// are its row of test/op-cases.ts; the checks every op must pass come from the row's valid
// arguments. Then the addon's own positional functions, called directly: each argument of each
// kernel spoiled in every way its row in native/kernels/kernel_list.h allows, since the binding
// re-checks what protects memory whatever JavaScript passes.
import { describe, expect, it } from 'vitest';
import { KERNELS, type ArrayField, type Field, type KernelName } from '../src/api/kernel-schema';
import { OP_TABLE, type Kernels, type OpName } from '../src/api/op-table';
import { createOps } from '../src/api/ops';
import type { FloatArray } from '../src/api/types';
import { nativeAddon } from '../src/backends/default';
import * as fastnorm from '../src/index';
import * as reference from '../src/reference';
import { detach, expectBitwiseEqualDeep, requireNative, thrown } from './helpers';
import { ALL_FLAGS, BAD_INPUTS, OP_CASES, OP_NAMES, typedArraysIn, withOptions, type Api, type ErrorClass, type OpInput } from './op-cases';

const BACKENDS: Array<[string, Api]> = [['native', fastnorm as unknown as Api], ['reference', reference]];
type AnyOp = (...args: unknown[]) => unknown;
const call = (api: Api, name: string, args: unknown[]) => (api as unknown as Record<string, AnyOp>)[name](...args);

requireNative();

function expectError(e: unknown, cls: ErrorClass | 'either', message: RegExp, what: string): void {
  expect(e, `${what}: must throw`).toBeInstanceOf(Error);
  if (cls === 'either') expect([TypeError, RangeError], `${what}: ${(e as Error).message}`).toContain((e as Error).constructor);
  else expect((e as Error).constructor, `${what}: ${(e as Error).message}`).toBe(cls); // exactly this class
  expect((e as Error).message, what).toMatch(message);
}

describe.each(OP_NAMES)('%s: malformed calls throw the same error class on both backends, naming the argument', (name) => {
  const { invalid } = OP_CASES[name];
  it.each(invalid.map((c) => [c[0], c] as const))('%s', (_what, [, bad, cls, message]) => {
    for (const [backend, api] of BACKENDS) expectError(thrown(() => bad(api)), cls, message, backend);
  });
});

describe.each(OP_NAMES.filter((name) => OP_CASES[name].valid))('%s: edge cases are accepted', (name) => {
  it.each(OP_CASES[name].valid!.map((c) => [c[0], c[1]] as const))('%s', (_what, check) => {
    for (const [, api] of BACKENDS) check(api);
  });
});

// ---------------------------------------------------------------------------------------------
// What every op must reject, made from its valid arguments.

const INPUT: OpInput = { seed: 5, dtype: 'float32', dims: [2, 3, 5], flags: ALL_FLAGS };

describe.each(OP_NAMES)('%s: what every op rejects, on both backends alike', (name) => {
  const op = OP_CASES[name];
  it.each(BAD_INPUTS)('%s', (what, spoil, cls) => {
    const messages: string[] = [];
    for (const [backend, api] of BACKENDS) {
      const args = op.args(INPUT);
      if (!spoil(args, op)) return;
      const e = thrown(() => call(api, name, args));
      expectError(e, cls, /./, `${backend} ${what}`);
      messages.push((e as Error).message);
    }
    expect(messages[0], 'the same message on both backends').toBe(messages[1]);
  });

  it("the first tensor's dtype, declared and true to its data, is accepted (the same result as undeclared)", () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const input: OpInput = { ...INPUT, dtype };
      const args = op.args(input);
      const t = args[0] as { data?: unknown } | null;
      if (!(t?.data instanceof Float32Array || t?.data instanceof Float64Array)) return;
      args[0] = { ...t, dtype };
      for (const [backend, api] of BACKENDS)
        expectBitwiseEqualDeep(call(api, name, args.slice()), call(api, name, op.args(input)), `${backend} ${dtype}`);
    }
  });

  it('a rejected call writes nothing: not its out buffers, not the running statistics', () => {
    for (const [backend, api] of BACKENDS) {
      const args = op.args(INPUT);
      const valid = call(reference, name, op.args(INPUT));
      // every out buffer but the last (which is too short), filled with a marker
      const out: Record<string, FloatArray> = {};
      for (const [path, a] of typedArraysIn(valid)) {
        const key = path.split('.')[0];
        if (op.outKeys.includes(key)) out[key] = new (a.constructor as Float32ArrayConstructor)(a.length).fill(-7);
      }
      const keys = Object.keys(out);
      if (keys.length > 0) out[keys[keys.length - 1]] = new (out[keys[keys.length - 1]].constructor as Float32ArrayConstructor)(1).fill(-7);
      withOptions(args, keys.length > 0 ? { out } : { bogusOption: 1 });
      const before = typedArraysIn(args).map(([path, a]) => [path, a.slice()] as const);
      expect(thrown(() => call(api, name, args)), backend).toBeInstanceOf(Error);
      for (const [path, a] of before) expectBitwiseEqualDeep(typedArraysIn(args).find(([p]) => p === path)?.[1], a, `${backend}: ${path}`);
    }
  });
});

describe('setNumThreads: bad thread counts', () => {
  const CASES: Array<[string, unknown, ErrorClass]> = [['0', 0, RangeError], ['-1', -1, RangeError], ['1.5', 1.5, RangeError],
    ['NaN', NaN, RangeError], ["'2'", '2', TypeError], ['nothing', undefined, TypeError]];
  it.each(CASES)('setNumThreads(%s) throws, naming n, and changes nothing', (_what, n, cls) => {
    const before = fastnorm.getNumThreads();
    for (const [backend, api] of [['native', fastnorm], ['reference', reference]] as const)
      expectError(thrown(() => (api.setNumThreads as (n: unknown) => void)(n)), cls, /^n\b/, backend);
    expect(fastnorm.getNumThreads()).toBe(before);
  });
});

// ---------------------------------------------------------------------------------------------
// The addon's positional functions, called directly: every argument of every kernel spoiled.

const addon = nativeAddon as unknown as Record<string, AnyOp>;
const OP_OF = Object.fromEntries(OP_NAMES.map((name) => [OP_TABLE[name].kernel.name, name])) as Record<KernelName, OpName>;

/** The positional arguments of the kernel call an op makes for this input (captured, not run). */
function kernelArgs(kernel: KernelName, input: OpInput = INPUT): unknown[] {
  let captured: Record<string, unknown> | undefined;
  const spy = new Proxy({}, { get: () => (args: Record<string, unknown>) => { captured = args; } }) as Kernels;
  const name = OP_OF[kernel];
  (createOps(spy) as unknown as Record<string, AnyOp>)[name](...OP_CASES[name].args(input));
  return KERNELS[kernel].fields.map((f) => captured![f.name]);
}

const isArray = (f: Field): f is ArrayField => f.role === 'in' || f.role === 'out' || f.role === 'inout';
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A view of `length` elements of ctor, overlapping `target` (a copy of it, moved into the same buffer) by a few bytes. */
function overlapping(target: FloatArray, ctor: Float32ArrayConstructor | Float64ArrayConstructor, length: number): [FloatArray, FloatArray] {
  const buffer = new ArrayBuffer(target.byteLength + length * ctor.BYTES_PER_ELEMENT + 16);
  const moved = new (target.constructor as Float64ArrayConstructor)(buffer, 0, target.length);
  moved.set(target);
  return [moved, new ctor(buffer, 8, length)];
}

interface Spoil {
  what: string;
  change(args: unknown[]): void;
  /** undefined: the call must succeed */
  error?: ErrorClass | 'either';
  message?: RegExp;
}

/** Every way to spoil argument i of a kernel that its row says the binding must refuse (or accept). */
function spoils(kernel: KernelName, i: number): Spoil[] {
  const fields = KERNELS[kernel].fields as readonly Field[];
  const f = fields[i];
  const named = (name: string) => new RegExp(`^${escape(name)}\\b`);
  if (f.role === 'size') {
    const list: Spoil[] = [
      { what: "a string '2'", change: (a) => { a[i] = '2'; }, error: TypeError, message: named(f.name) },
      { what: '-1', change: (a) => { a[i] = -1; }, error: RangeError, message: named(f.name) },
      { what: '1.5', change: (a) => { a[i] = 1.5; }, error: RangeError, message: named(f.name) },
      { what: 'NaN', change: (a) => { a[i] = NaN; }, error: RangeError, message: named(f.name) },
      { what: 'Infinity', change: (a) => { a[i] = Infinity; }, error: RangeError, message: named(f.name) },
      { what: 'one more (the arrays no longer fit)', change: (a) => { a[i] = (a[i] as number) + 1; }, error: RangeError, message: /./ },
      { what: '2^52 (products overflow)', change: (a) => { a[i] = 2 ** 52; }, error: RangeError, message: /too large|must have|divide/ },
    ];
    if (f.divides) {
      list.push({ what: `0 (must divide ${f.divides})`, change: (a) => { a[i] = 0; }, error: RangeError, message: named(f.name) });
      list.push({ what: `not dividing ${f.divides}`, change: (a) => { a[i] = (a[fields.findIndex((g) => g.name === f.divides)] as number) + 1; },
        error: RangeError, message: named(f.name) });
    }
    return list;
  }
  if (f.role === 'number') {
    return [
      { what: "a string 'x'", change: (a) => { a[i] = 'x'; }, error: TypeError, message: named(f.name) },
      { what: 'missing', change: (a) => { a[i] = undefined; }, error: TypeError, message: named(f.name) },
    ];
  }
  if (f.role === 'flag') {
    return [
      { what: '0', change: (a) => { a[i] = 0; }, error: TypeError, message: named(f.name) },
      { what: 'null', change: (a) => { a[i] = null; }, error: TypeError, message: named(f.name) },
    ];
  }
  if (f.role === 'choice') {
    return [
      { what: "an unknown string 'bogus'", change: (a) => { a[i] = 'bogus'; }, error: TypeError, message: named(f.name) },
      { what: 'a prefix of a choice', change: (a) => { a[i] = f.choices[f.choices.length - 1].slice(0, -1); }, error: TypeError, message: named(f.name) },
      { what: 'its index 1 (a number)', change: (a) => { a[i] = 1; }, error: TypeError, message: named(f.name) },
      { what: 'missing', change: (a) => { a[i] = undefined; }, error: TypeError, message: named(f.name) },
      // halfFormat float16/bfloat16 needs Uint16Array data (the arguments here are float)
      ...f.choices.map((c) => (f.name === 'halfFormat' && c !== 'none'
        ? { what: `'${c}' with float data`, change: (a: unknown[]) => { a[i] = c; }, error: TypeError, message: /must be a Uint16Array/ }
        : { what: `'${c}' (accepted)`, change: (a: unknown[]) => { a[i] = c; } })),
    ];
  }
  if (!isArray(f)) return [];
  const label = named(f.label);
  const list: Spoil[] = [
    { what: 'an Array', change: (a) => { a[i] = [1, 2, 3]; }, error: TypeError, message: label },
    { what: 'an Int32Array', change: (a) => { a[i] = new Int32Array((a[i] as FloatArray | null)?.length ?? 3); }, error: TypeError, message: label },
    // refused when its row fixes the dtype (float64) or another array of the call's dtype is there
    { what: 'of the other dtype', change: (a) => {
      const v = a[i] as FloatArray;
      a[i] = v instanceof Float32Array ? Float64Array.from(v) : Float32Array.from(v);
    }, ...(f.dtype === 'float64' || fields.some((g, j) => j !== i && isArray(g) && g.dtype !== 'float64')
      ? { error: TypeError, message: /dtype|Float64Array/ } : {}) },
    { what: 'one element longer', change: (a) => { a[i] = new ((a[i] as FloatArray).constructor as Float32ArrayConstructor)((a[i] as FloatArray).length + 1); },
      error: RangeError, message: label },
  ];
  list.push({ what: 'one element shorter', change: (a) => {
    const v = a[i] as FloatArray;
    a[i] = v.length === 0 ? new (v.constructor as Float32ArrayConstructor)(1) : v.subarray(1);
  }, error: RangeError, message: label });
  list.push({ what: 'detached', change: (a) => { a[i] = detach((a[i] as FloatArray).slice()); }, error: 'either', message: label });
  const unless = f.presence.startsWith('required unless ') ? f.presence.slice('required unless '.length) : '';
  if (f.presence === 'required') list.push({ what: 'null', change: (a) => { a[i] = null; }, error: TypeError, message: label });
  else if (unless) {
    const flagAt = fields.findIndex((g) => g.name === unless);
    list.push({ what: `null with ${unless} false`, change: (a) => { a[i] = null; a[flagAt] = false; }, error: TypeError,
      message: new RegExp(`^${escape(f.label)} is required when ${unless} is false`) });
  } else {
    list.push({ what: 'null (optional: accepted)', change: (a) => { a[i] = null; } });
  }
  if (f.role === 'in') return list;
  // an output against every array it must not overlap
  fields.forEach((g, j) => {
    if (j === i || !isArray(g)) return;
    const alias = f.role === 'out' && (f as ArrayField).alias === g.name;
    list.push({ what: `overlapping ${g.label}${alias ? ' (not exactly: its alias only in place)' : ''}`, change: (a) => {
      const target = a[j] as FloatArray | null;
      const mine = a[i] as FloatArray;
      if (!target || target.byteLength <= 8 || mine.length === 0) {
        a[i] = null; // cannot overlap: make the call fail some other way, or be valid
        return;
      }
      [a[j], a[i]] = overlapping(target, mine.constructor as Float32ArrayConstructor, mine.length);
    }, error: 'either', message: new RegExp(`share memory|^${escape(f.label)}|${escape(g.label)}`) });
  });
  return list;
}

describe.each(Object.keys(KERNELS) as KernelName[])('addon.%s (and its Async form) called directly: each argument spoiled', (kernel) => {
  const fields = KERNELS[kernel].fields as readonly Field[];
  it.each(fields.map((f, i) => [`${f.name} (${f.role})`, i] as const))('%s', async (_name, i) => {
    for (const s of spoils(kernel, i)) {
      const args = kernelArgs(kernel);
      s.change(args);
      const e = thrown(() => addon[kernel](...args));
      if (s.error === undefined) {
        expect(e, `${s.what}: accepted`).toBeUndefined();
        continue;
      }
      if (e === undefined && s.message?.source.startsWith('share memory')) continue; // the overlap could not be built (empty arrays)
      expectError(e, s.error, s.message ?? /./, `${kernel} ${fields[i].name} ${s.what}`);
      // the Promise form refuses it the same way (thrown synchronously, before any work is queued)
      const asyncArgs = kernelArgs(kernel);
      s.change(asyncArgs);
      const ae = thrown(() => addon[`${kernel}Async`](...asyncArgs));
      expect((ae as Error)?.constructor, `${kernel}Async ${s.what}`).toBe((e as Error).constructor);
    }
  });

  it('without arguments: a TypeError naming the first argument', () => {
    const first = fields[0];
    expectError(thrown(() => addon[kernel]()), TypeError, new RegExp(`^${escape(isArray(first) ? first.label : first.name)}\\b`), kernel);
  });

  it('still computes as the op does after the rejected calls (the same bits)', () => {
    const name = OP_OF[kernel];
    const args = kernelArgs(kernel);
    addon[kernel](...args);
    const viaOp = call(fastnorm as unknown as Api, name, OP_CASES[name].args(INPUT));
    const theirs = typedArraysIn(viaOp).map(([, a]) => a);
    // the kernel's outputs (not the running statistics: the op updated its own copy of them)
    const outputs = fields.flatMap((f, j) => (f.role === 'out' && args[j] ? [[f.name, args[j] as FloatArray] as const] : []));
    for (const [key, a] of outputs) {
      expect(theirs.some((t) => t.length === a.length && Buffer.compare(Buffer.from(t.buffer, t.byteOffset, t.byteLength),
        Buffer.from(a.buffer, a.byteOffset, a.byteLength)) === 0), `${kernel} ${key}: as the op's result`).toBe(true);
    }
  });
});

describe('the addon: other functions', () => {
  it.each([
    ['setNumThreads(0)', () => addon.setNumThreads(0), RangeError, /^n\b/],
    ["setNumThreads('2')", () => addon.setNumThreads('2'), TypeError, /^n\b/],
    ['_setIsa(5)', () => addon._setIsa(5), TypeError, /^isa\b/],
    ['_copy with different lengths', () => addon._copy(new Float32Array(4), new Float32Array(5)), RangeError, /dst/],
    ['_copy without arrays', () => addon._copy(null, new Float32Array(5)), TypeError, /dst/],
  ] as const)('%s throws', (_what, bad, cls, message) => {
    expectError(thrown(bad), cls, message, _what);
  });
});
