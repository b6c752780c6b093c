// Argument checks of fastnorm/nn: a TypeError for the wrong kind of value, a RangeError for a bad
// value, the message starting with the argument's name (the house rule of src/api/validate.ts).
// Tensor contents are checked by the functional ops the modules call; these check what only a
// module knows: its constructor arguments and the input's rank, channels and dtype.
import { MODULE_DTYPES, isModuleDType, type ModuleDType } from './dtypes.js';

export type Layout = 'NCHW' | 'NHWC';

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an Array';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (typeof v === 'string') return `'${v}'`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

/** An options object (or undefined) whose keys are all known, so that a typo is an error. */
export function checkOptions<T extends object>(name: string, v: unknown, known: readonly string[]): Partial<T> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError(`${name} must be an object, got ${describe(v)}`);
  for (const key of Object.keys(v)) {
    if (!known.includes(key)) throw new TypeError(`${name}.${key} is not a known option (${known.join(', ')})`);
  }
  return v as Partial<T>;
}

/** A count: a safe integer >= min. */
export function checkCount(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number') throw new TypeError(`${name} must be a number, got ${describe(v)}`);
  if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

/** A shape argument (`normalizedShape`): a count or a non-empty array of counts. */
export function checkShape(name: string, v: unknown): number[] {
  if (typeof v === 'number') return [checkCount(name, v, 0)];
  if (!Array.isArray(v)) throw new TypeError(`${name} must be a number or an array of numbers, got ${describe(v)}`);
  if (v.length === 0) throw new RangeError(`${name} must have at least one dimension`);
  const dims = v.map((d, i) => checkCount(`${name}[${i}]`, d, 0));
  if (!Number.isSafeInteger(dims.reduce((p, d) => p * d, 1))) throw new RangeError(`${name} has too many elements`);
  return dims;
}

export function checkBoolean(name: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${describe(v)}`);
  return v;
}

/** `eps`: finite and >= 0 (the functional ops' rule; PyTorch does not check it). */
export function checkEps(name: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number') throw new TypeError(`${name} must be a number, got ${describe(v)}`);
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a finite number >= 0, got ${v}`);
  return v;
}

/** `momentum`: a finite number, or null (cumulative moving average) where `allowNull`. */
export function checkMomentum(name: string, v: unknown, allowNull: boolean): number | null {
  if (v === undefined) return 0.1;
  if (v === null && allowNull) return null;
  if (typeof v !== 'number')
    throw new TypeError(`${name} must be a number${allowNull ? ' or null' : ''}, got ${describe(v)}`);
  if (!Number.isFinite(v)) throw new RangeError(`${name} must be a finite number, got ${v}`);
  return v;
}

export function checkLayout(name: string, v: unknown): Layout {
  if (v === undefined) return 'NCHW';
  if (v !== 'NCHW' && v !== 'NHWC') throw new TypeError(`${name} must be 'NCHW' or 'NHWC', got ${describe(v)}`);
  return v;
}

export function checkDType(name: string, v: unknown): ModuleDType {
  if (v === undefined) return 'float32';
  if (!isModuleDType(v)) throw new TypeError(`${name} must be ${Object.keys(MODULE_DTYPES).map((d) => `'${d}'`).join(' or ')}, got ${describe(v)}`);
  return v;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
