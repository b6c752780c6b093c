// The one table of tensor dtypes that fastnorm/nn knows: what array holds each, its safetensors
// code and size, and which dtypes a module can compute in. Half-precision values are stored
// as their bit patterns in a Uint16Array (Node 20 has no Float16Array) and decoded here.
//
// When the half-precision issue lands (float16/bfloat16 tensors in every op), the module dtypes
// grow by two rows in MODULE_DTYPES below, and the decoders give way to its exported
// fromFloat16/fromBFloat16.

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

// ---------------------------------------------------------------------------------------------
// Half precision → float32 bit patterns (exact: every half value is a float32 value).

/** float16 bits → float32 bits: subnormals normalized, Inf kept, NaN payload and sign kept. */
export function float16BitsToFloat32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exponent = (h >> 10) & 0x1f;
  let mantissa = h & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
  if (exponent !== 0) return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0;
  // subnormal: mantissa·2^-24; shift its leading 1 into the implicit bit
  let e = 113;
  while ((mantissa & 0x400) === 0) {
    mantissa <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mantissa & 0x3ff) << 13)) >>> 0;
}

/** bfloat16 bits → float32 bits: bfloat16 is the upper half of a float32. */
export function bfloat16BitsToFloat32Bits(h: number): number {
  return (h << 16) >>> 0;
}

const scratchBits = new Uint32Array(1);
const scratchFloat = new Float32Array(scratchBits.buffer);

/** Decode half-precision bit patterns into `dst` (same length), exactly. */
export function decodeHalf(src: Uint16Array, dtype: 'float16' | 'bfloat16', dst: Float32Array | Float64Array): void {
  const toBits = dtype === 'float16' ? float16BitsToFloat32Bits : bfloat16BitsToFloat32Bits;
  if (dst instanceof Float32Array) {
    // write the bits themselves, so that NaN payloads survive (a JS number may not keep them)
    const bits = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
    for (let i = 0; i < src.length; i++) bits[i] = toBits(src[i]);
  } else {
    for (let i = 0; i < src.length; i++) {
      scratchBits[0] = toBits(src[i]);
      dst[i] = scratchFloat[0];
    }
  }
}

/** Copy a floating tensor's values into `dst` (same length), converting the dtype exactly or by rounding once. */
export function convertFloats(src: TypedTensor, dst: ModuleArray): void {
  if (src.dtype === 'float16' || src.dtype === 'bfloat16') decodeHalf(src.data as Uint16Array, src.dtype, dst);
  else dst.set(src.data as Float32Array | Float64Array);
}
