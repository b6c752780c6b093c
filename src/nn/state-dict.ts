// Loading a state dict into a module's entries: every key, dtype and shape is checked first and
// every problem named in one error (as PyTorch's load_state_dict collects its error messages),
// then the values are copied in — so a failed load changes nothing.
import { checkBoolean, checkOptions, describe, formatShape, sameShape } from './check.js';
import type { Parameter } from './parameter.js';
import { DTYPES, convertFloats, type DType, type DTypeArray, type ModuleArray, type TypedTensor } from './dtypes.js';
import { checkTypedTensor, type Problem } from './tensor.js';

/** A state dict: tensors by name (PyTorch's names: 'weight', 'running_mean', ...). */
export type StateDict = Record<string, TypedTensor | { data: DTypeArray; shape: readonly number[]; dtype?: DType }>;

export interface LoadStateDictOptions {
  /** true (default): missing and unexpected keys are errors. false: they are returned. */
  strict?: boolean;
  /** Only keys that start with it belong to this module; it is stripped before matching. Default ''. */
  prefix?: string;
}

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/** One parameter or buffer of a module as the state dict sees it. */
export interface StateEntry {
  key: string;
  kind: 'parameter' | 'buffer';
  /** 'float': any floating dtype is converted to the module's; 'int64': num_batches_tracked. */
  accepts: 'float' | 'int64';
  shape: readonly number[];
  /** May be absent from a state dict (num_batches_tracked: PyTorch fills it in for old checkpoints). */
  optional?: boolean;
  /** A further check of a value of the right dtype and shape: the problem, or null. */
  validate?(value: TypedTensor): string | null;
  read(): TypedTensor;
  write(value: TypedTensor): void;
}

/** A float entry backed by one of the module's arrays. */
export function floatEntry(key: string, kind: StateEntry['kind'], data: ModuleArray, shape: readonly number[],
  dtype: DType): StateEntry {
  return {
    key, kind, accepts: 'float', shape,
    read: () => ({ data, shape: shape.slice(), dtype }),
    write: (value) => convertFloats(value, data),
  };
}

/** The state entries of a layer's weight and bias (those it has). */
export function parameterEntries(weight: Parameter | null, bias: Parameter | null): StateEntry[] {
  const entries: StateEntry[] = [];
  for (const [key, p] of [['weight', weight], ['bias', bias]] as const) {
    if (p) entries.push(floatEntry(key, 'parameter', p.data, p.shape, p.dtype));
  }
  return entries;
}

const LOAD_OPTIONS = ['strict', 'prefix'] as const;

function checkEntry(entry: StateEntry, key: string, value: TypedTensor): Problem | null {
  const at = `stateDict['${key}']`;
  if (entry.accepts === 'float' && !DTYPES[value.dtype].floating)
    return { type: true, message: `${at} has dtype ${value.dtype}; ${entry.key} needs a floating dtype (float64, float32, float16, bfloat16)` };
  if (entry.accepts === 'int64' && value.dtype !== 'int64')
    return { type: true, message: `${at} has dtype ${value.dtype}; ${entry.key} is an int64 (a BigInt64Array)` };
  // a 0-d buffer also loads from shape [1], as PyTorch allows for old checkpoints
  const shapeOk = sameShape(value.shape, entry.shape) || (entry.shape.length === 0 && sameShape(value.shape, [1]));
  if (!shapeOk)
    return { type: false, message: `${at}: shape ${formatShape(value.shape)} does not match the module's ${formatShape(entry.shape)}` };
  const invalid = entry.validate?.(value) ?? null;
  return invalid === null ? null : { type: false, message: `${at}: ${invalid}` };
}

export function loadStateEntries(moduleName: string, entries: StateEntry[], stateDict: unknown, opts: unknown,
  refused: Record<string, string>): LoadStateDictResult {
  if (typeof stateDict !== 'object' || stateDict === null || Array.isArray(stateDict))
    throw new TypeError(`stateDict must be an object of tensors, got ${describe(stateDict)}`);
  const o = checkOptions<LoadStateDictOptions>('opts', opts, LOAD_OPTIONS);
  const strict = checkBoolean('opts.strict', o.strict, true);
  const prefix = o.prefix === undefined ? '' : o.prefix;
  if (typeof prefix !== 'string') throw new TypeError(`opts.prefix must be a string, got ${describe(prefix)}`);
  const sd = stateDict as Record<string, unknown>;
  const has = (k: string) => Object.prototype.hasOwnProperty.call(sd, k);

  const problems: Problem[] = [];
  const missingKeys: string[] = [];
  const writes: [StateEntry, TypedTensor][] = [];
  for (const entry of entries) {
    const key = prefix + entry.key;
    if (!has(key)) {
      if (!entry.optional) missingKeys.push(key);
      continue;
    }
    const value = checkTypedTensor(`stateDict['${key}']`, sd[key]);
    const problem = 'message' in value ? value : checkEntry(entry, key, value);
    if (problem) problems.push(problem);
    else writes.push([entry, value as TypedTensor]);
  }
  const expected = new Set(entries.map((e) => prefix + e.key));
  const unexpectedKeys = Object.keys(sd).filter((k) => k.startsWith(prefix) && !expected.has(k));
  const refusal = (k: string) => (Object.prototype.hasOwnProperty.call(refused, k.slice(prefix.length)) ? refused[k.slice(prefix.length)] : null);
  for (const k of unexpectedKeys) {
    const why = refusal(k);
    if (why !== null) problems.push({ type: false, message: `unexpected key '${k}': ${why}` });
  }
  if (strict) {
    for (const k of missingKeys) problems.push({ type: false, message: `missing key '${k}'` });
    for (const k of unexpectedKeys) if (refusal(k) === null) problems.push({ type: false, message: `unexpected key '${k}'` });
  }
  if (problems.length > 0) {
    const message = `stateDict does not fit this ${moduleName}${prefix ? ` (prefix '${prefix}')` : ''}:\n  ` +
      problems.map((p) => p.message).join('\n  ');
    throw problems.some((p) => p.type) ? new TypeError(message) : new RangeError(message);
  }
  for (const [entry, value] of writes) entry.write(value);
  return { missingKeys, unexpectedKeys };
}
