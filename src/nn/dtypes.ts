// The one table of tensor dtypes that fastnorm/nn knows: what array holds each, its safetensors
// code and size, and which dtypes a module can compute in. Half-precision values are stored
// as their bit patterns in a Uint16Array (Node 20 has no Float16Array) and decoded by fastnorm's
// fromFloat16/fromBFloat16.
//
// When the ops take float16/bfloat16 tensors (issue 11's next step), the module dtypes grow by
// two rows in MODULE_DTYPES below.

import { fromBFloat16, fromFloat16 } from '../index.js';

/** Every dtype a state dict or a safetensors file can hold here. */
export type DType = 'float64' | 'float32' | 'float16' | 'bfloat16' | 'int64';
/** The floating dtypes (parameters and running statistics may come in any of them). */
export type FloatDType = Exclude<DType, 'int64'>;
/** The dtypes a module computes in (its parameters, buffers, inputs and outputs). */
export type ModuleDType = 'float32' | 'float64';

export type ModuleArray = Float32Array | Float64Array;
export type DTypeArray = Float64Array | Float32Array | Uint16Array | BigInt64Array;

/** A tensor whose dtype is explicit: `data` is row-major with `product(shape)` elements. */
export interface TypedTensor<A extends DTypeArray = DTypeArray> {
  data: A;
  shape: readonly number[];
  dtype: DType;
}

interface DTypeInfo {
  /** The dtype's name in a safetensors header. */
  safetensors: string;
  bytes: number;
  array: Float64ArrayConstructor | Float32ArrayConstructor | Uint16ArrayConstructor | BigInt64ArrayConstructor;
  floating: boolean;
}

export const DTYPES: Readonly<Record<DType, DTypeInfo>> = {
  float64: { safetensors: 'F64', bytes: 8, array: Float64Array, floating: true },
  float32: { safetensors: 'F32', bytes: 4, array: Float32Array, floating: true },
  float16: { safetensors: 'F16', bytes: 2, array: Uint16Array, floating: true },
  bfloat16: { safetensors: 'BF16', bytes: 2, array: Uint16Array, floating: true },
  int64: { safetensors: 'I64', bytes: 8, array: BigInt64Array, floating: false },
};

interface ModuleDTypeInfo {
  array: Float32ArrayConstructor | Float64ArrayConstructor;
  /** Machine epsilon: torch.nn.RMSNorm's default eps (`eps=None`) in this dtype. */
  epsilon: number;
}

export const MODULE_DTYPES: Readonly<Record<ModuleDType, ModuleDTypeInfo>> = {
  float32: { array: Float32Array, epsilon: 2 ** -23 },
  float64: { array: Float64Array, epsilon: 2 ** -52 },
};

export function isModuleDType(v: unknown): v is ModuleDType {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(MODULE_DTYPES, v);
}

/** The dtype an array implies by itself (a Uint16Array is ambiguous: float16 or bfloat16). */
export function impliedDType(data: unknown): DType | null {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  return null;
}

/**
 * Decode half-precision bit patterns into `dst` (same length), exactly: fastnorm's fromFloat16/
 * fromBFloat16 (NaN sign and payload kept, quiet).
 */
export function decodeHalf(src: Uint16Array, dtype: 'float16' | 'bfloat16', dst: Float32Array | Float64Array): void {
  (dtype === 'float16' ? fromFloat16 : fromBFloat16)(src, dst);
}

/** Copy a floating tensor's values into `dst` (same length), converting the dtype exactly or by rounding once. */
export function convertFloats(src: TypedTensor, dst: ModuleArray): void {
  if (src.dtype === 'float16' || src.dtype === 'bfloat16') decodeHalf(src.data as Uint16Array, src.dtype, dst);
  else dst.set(src.data as Float32Array | Float64Array);
}
