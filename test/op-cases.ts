// One row per op of the op table (src/api/op-table.ts): valid arguments built from a few
// numbers, and the op's malformed calls. They drive every test about the calling machinery and
// the boundary — promises, concurrency, fuzzing, soak, determinism, validation — so that each
// covers every op with no op-specific code of its own. `Record<OpName, OpCase>`: an op of the
// table without a row here is a type error. The rows are in test/cases/, one file per op family.
//
// Each row reads the same `OpInput` (cases/inputs.ts): three sizes `dims` = [a, b, c] (each op
// makes its shape from them, e.g. LayerNorm x = [a, b, c] over the last dim, channel ops x =
// (N, C, S) = (a, b, c)), `flags` it uses as it can and a data kind. Saved statistics of a
// backward op come from the reference forward of the same data, so every row is valid whenever
// its shape is.
import { referenceConversions } from '../src/api/half';
import { OP_TABLE, type OpName } from '../src/api/op-table';
import type * as reference from '../src/reference';
import type { FloatArray } from '../src/api/types';
import { BATCH_NORM_CASES } from './cases/batch-norm';
import { GROUP_NORM_CASES } from './cases/group-norm';
import type { OpInput } from './cases/inputs';
import { ROW_NORM_CASES } from './cases/row-norm';

export { ALL_FLAGS, type DataKind, type OpFlags, type OpInput } from './cases/inputs';

export type Api = typeof reference;
export type ErrorClass = typeof TypeError | typeof RangeError;

/** A malformed call: [what is wrong, the call on an API, the error class, a regex the message must match (the argument's name)]. */
export type InvalidCall = [what: string, call: (api: Api) => unknown, error: ErrorClass, message: RegExp];

/** An op's test row. Every op takes its options object last (withOptions extends it). */
export interface OpCase {
  /** The keys `opts.out` accepts ([] when the op takes no `out`). */
  outKeys: readonly string[];
  /** Valid arguments for this input (fresh arrays on every call, the same values for the same input). */
  args(input: OpInput): unknown[];
  /** Malformed calls, each naming what is wrong. */
  invalid: InvalidCall[];
  /** Edge cases that must be accepted (each checks what it gets, or that it does not throw). */
  valid?: Array<[what: string, check: (api: Api) => void]>;
}

export const OP_CASES: Record<OpName, OpCase> = { ...ROW_NORM_CASES, ...BATCH_NORM_CASES, ...GROUP_NORM_CASES };

/** Every op of the table, in its order. */
export const OP_NAMES = Object.keys(OP_TABLE) as OpName[];

/** What every op must reject: [what, spoil its valid arguments in place (false: not for this op), the error class]. */
export const BAD_INPUTS: Array<[string, (args: unknown[], op: OpCase) => boolean, ErrorClass]> = [
  ['the first argument is null', (args) => { args[0] = null; return true; }, TypeError],
  ['an unknown option', (args) => { withOptions(args, { bogusOption: 1 }); return true; }, TypeError],
  ['options of the wrong kind (a number)', (args) => { args[args.length - 1] = 5; return true; }, TypeError],
  ['the first tensor detached', (args) => {
    const data = (args[0] as { data?: FloatArray } | null)?.data;
    if (!data) return false;
    structuredClone(data.buffer, { transfer: [data.buffer as ArrayBuffer] });
    return true;
  }, TypeError],
  ['the first tensor declared float16, its data a float array', (args) => withFirstTensor(args, (t) => ({ ...t, dtype: 'float16' })), TypeError],
  ['the first tensor declared the other float dtype', (args) => withFirstTensor(args, (t) =>
    ({ ...t, dtype: t.data instanceof Float32Array ? 'float64' : 'float32' })), TypeError],
  ['the first tensor of an unknown dtype', (args) => withFirstTensor(args, (t) => ({ ...t, dtype: 'int8' })), TypeError],
  // a Uint16Array says nothing of its format; the ops that take half precision need dtype
  ['the first tensor a Uint16Array without dtype', (args) => withFirstTensor(args, (t) =>
    ({ ...t, data: new Uint16Array(t.data.length), dtype: undefined })), TypeError],
  ['an out buffer of the wrong length', (args, op) => withOut(args, op, op.outKeys[0], new Float32Array(1)), RangeError],
  ['an out buffer of the other dtype', (args, op) => withOut(args, op, op.outKeys[0], new Float64Array(1)), TypeError],
  ['an unknown out buffer', (args, op) => withOut(args, op, 'bogus', new Float32Array(1)), TypeError],
];

/** Replaces the first argument, when it is a tensor, by `spoil` of it. */
function withFirstTensor(args: unknown[], spoil: (t: { data: FloatArray; shape: readonly number[] }) => object): boolean {
  const t = args[0] as { data?: unknown; shape: readonly number[] } | null;
  if (!(t?.data instanceof Float32Array || t?.data instanceof Float64Array)) return false;
  args[0] = spoil(t as { data: FloatArray; shape: readonly number[] });
  return true;
}

function withOut(args: unknown[], op: OpCase, key: string | undefined, buffer: FloatArray): boolean {
  if (op.outKeys.length === 0 || key === undefined) return false;
  withOptions(args, { out: { [key]: buffer } });
  return true;
}

/** Adds `extra` to the options object of an op's arguments (the last one), in place; returns the arguments. */
export function withOptions(args: unknown[], extra: Record<string, unknown>): unknown[] {
  args[args.length - 1] = { ...(args[args.length - 1] as object), ...extra };
  return args;
}

/** Whether fastnorm/promises returns the op's result directly (the table's promise: 'sync'). */
export function syncInPromises(name: OpName): boolean {
  return OP_TABLE[name].promise === 'sync';
}

/** Every typed array reachable from a value (arguments or a result), with its path ("2.weight", "y.data"). */
export function typedArraysIn(value: unknown, path = ''): Array<[string, FloatArray]> {
  if (value instanceof Float32Array || value instanceof Float64Array) return [[path, value]];
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return [];
  return Object.entries(value).flatMap(([key, v]) => typedArraysIn(v, path === '' ? key : `${path}.${key}`));
}

// ---- half precision: a valid call's arguments in float16/bfloat16 ----

const toFloat16 = (v: FloatArray) => { const o = new Uint16Array(v.length); referenceConversions.toFloat16(v, o); return o; };
const toBFloat16 = (v: FloatArray) => { const o = new Uint16Array(v.length); referenceConversions.toBFloat16(v, o); return o; };
const fromFloat16 = (v: Uint16Array) => { const o = new Float32Array(v.length); referenceConversions.fromFloat16(v, o); return o; };
const fromBFloat16 = (v: Uint16Array) => { const o = new Float32Array(v.length); referenceConversions.fromBFloat16(v, o); return o; };

// The ops that take tensors take half-precision ones; batchNormGatherStats takes none.
export const takesHalf = (op: string) => op !== 'batchNormGatherStats';
const narrowTo = (f: 'float16' | 'bfloat16', v: FloatArray) => (f === 'float16' ? toFloat16(v) : toBFloat16(v));
export const widenFrom = (f: 'float16' | 'bfloat16', v: Uint16Array) => (f === 'float16' ? fromFloat16(v) : fromBFloat16(v));
const isTensor = (v: unknown): v is { data: FloatArray; shape: number[] } => {
  const data = typeof v === 'object' && v !== null ? (v as { data?: unknown }).data : undefined;
  return data instanceof Float32Array || data instanceof Float64Array;
};

/**
 * A valid call's arguments in half format f: tensors (and an add-norm's dSum) rounded to f,
 * parameters and saved statistics float32; sync-BN partials and sums stay float64.
 */
export function toHalf(args: unknown[], f: 'float16' | 'bfloat16'): void {
  const f32 = (v: unknown) => (v instanceof Float64Array ? Float32Array.from(v) : v);
  const half = (t: { data: FloatArray; shape: number[] }) => ({ data: narrowTo(f, t.data), shape: t.shape, dtype: f });
  args.forEach((a, i) => {
    if (isTensor(a)) args[i] = half(a);
    else if (typeof a === 'object' && a !== null && !Array.isArray(a) && !('m2' in a) && !('sumDy' in a)) {
      const o = a as Record<string, unknown>;
      for (const key of ['mean', 'rstd', 'weight', 'bias', 'residualBias', 'runningMean', 'runningVar']) if (key in o) o[key] = f32(o[key]);
      if (isTensor(o.dSum)) o.dSum = half(o.dSum);
    }
  });
}

/** The typed arrays inside a value, half-precision bits included, by path. */
export function arraysIn(value: unknown, path = ''): Array<[string, FloatArray | Uint16Array]> {
  if (value instanceof Float32Array || value instanceof Float64Array || value instanceof Uint16Array) return [[path, value]];
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return [];
  return Object.entries(value).flatMap(([key, v]) => arraysIn(v, path === '' ? key : `${path}.${key}`));
}
