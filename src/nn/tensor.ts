// The check of a tensor whose dtype may be explicit (state-dict values, tensors to save).
import { describe, formatShape } from './check.js';
import { DTYPES, impliedDType, type DType, type DTypeArray, type TypedTensor } from './dtypes.js';

/** What is wrong with a value: a TypeError (`type`) or a RangeError, and the message. */
export interface Problem {
  type: boolean;
  message: string;
}

/** `v` as a tensor of a known dtype whose data fits its shape, or the problem (named `at`). */
export function checkTypedTensor(at: string, v: unknown): TypedTensor | Problem {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    return { type: true, message: `${at} must be a tensor { data, shape, dtype? }, got ${describe(v)}` };
  const { data, shape, dtype } = v as { data: unknown; shape: unknown; dtype: unknown };
  let resolved: DType | null = impliedDType(data);
  if (dtype !== undefined) {
    if (typeof dtype !== 'string' || !Object.prototype.hasOwnProperty.call(DTYPES, dtype))
      return { type: true, message: `${at}.dtype must be one of ${Object.keys(DTYPES).join(', ')}, got ${describe(dtype)}` };
    if (!(data instanceof DTYPES[dtype as DType].array))
      return { type: true, message: `${at}.data must be a ${DTYPES[dtype as DType].array.name} for dtype ${dtype}, got ${describe(data)}` };
    resolved = dtype as DType;
  } else if (resolved === null) {
    return {
      type: true,
      message: data instanceof Uint16Array
        ? `${at}.dtype is required for a Uint16Array ('float16' or 'bfloat16')`
        : `${at}.data must be a Float64Array, Float32Array, Uint16Array (with dtype) or BigInt64Array, got ${describe(data)}`,
    };
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
    return { type: true, message: `${at}.shape must be an array of non-negative integers, got ${describe(shape)}` };
  const size = shape.reduce((p: number, d: number) => p * d, 1);
  const length = (data as DTypeArray).length;
  if (length !== size)
    return { type: false, message: `${at}.data has ${length} elements but its shape ${formatShape(shape)} needs ${size}` };
  return { data: data as DTypeArray, shape, dtype: resolved };
}

/** Throws the problem, if it is one. */
export function orThrow(v: TypedTensor | Problem): TypedTensor {
  if ('message' in v) throw v.type ? new TypeError(v.message) : new RangeError(v.message);
  return v;
}
