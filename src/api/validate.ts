// Argument validation shared by every backend: each check throws a TypeError (wrong kind of
// value) or a RangeError (right kind, wrong value) whose message starts with the argument name.
import type { Activation, FloatArray, HalfDtype, Tensor, TensorData } from './types.js';

export type FloatArrayConstructor = Float32ArrayConstructor | Float64ArrayConstructor;
/** A tensor data array's type: a FloatArrayConstructor, or Uint16Array for half-precision data. */
export type TensorDataConstructor = FloatArrayConstructor | Uint16ArrayConstructor;

export function isFloatArray(v: unknown): v is FloatArray {
  return v instanceof Float32Array || v instanceof Float64Array;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an Array';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

// Node 20 has no ArrayBuffer.prototype.detached; a detached buffer reads as byteLength 0.
// Only asked where a non-empty array is required, so an empty buffer means detached.
function isDetached(a: TensorData): boolean {
  return a.buffer.byteLength === 0;
}

/** The element count of a shape: non-negative safe integers. */
export function shapeSize(name: string, shape: unknown): number {
  if (!Array.isArray(shape)) throw new TypeError(`${name} must be an array of non-negative integers, got ${describe(shape)}`);
  let size = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (typeof d !== 'number') throw new TypeError(`${name}[${i}] must be a number, got ${describe(d)}`);
    if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`${name}[${i}] must be a non-negative integer, got ${d}`);
    size *= d;
  }
  if (!Number.isSafeInteger(size)) throw new RangeError(`${name} has too many elements`);
  return size;
}

/**
 * A tensor `{ data, shape }`: float32/float64 data, or half-precision bits (a Uint16Array with
 * dtype 'float16' or 'bfloat16'); with `dtype`, its data must be of that array type.
 */
export function checkTensor(name: string, t: unknown, dtype?: TensorDataConstructor): Tensor<TensorData> {
  if (typeof t !== 'object' || t === null) throw new TypeError(`${name} must be a tensor { data, shape }, got ${describe(t)}`);
  const { data, shape, dtype: declared } = t as { data: unknown; shape: readonly number[]; dtype?: unknown };
  if (data instanceof Uint16Array) {
    if (declared !== 'float16' && declared !== 'bfloat16')
      throw new TypeError(`${name}.dtype must be 'float16' or 'bfloat16' for a Uint16Array of half-precision bits, got ${describe(declared)}`);
  } else if (!isFloatArray(data)) {
    throw new TypeError(`${name}.data must be a Float32Array, Float64Array or Uint16Array (half-precision bits), got ${describe(data)}`);
  } else if (declared !== undefined) checkDeclaredDtype(name, declared, data);
  if (dtype && data.constructor !== dtype) throw new TypeError(`${name}.data must be a ${dtype.name} like x.data, got ${describe(data)}`);
  const size = shapeSize(`${name}.shape`, shape);
  // a detached array has length 0, so the right non-zero length means attached (no buffer read)
  if (data.length !== size && size > 0 && isDetached(data)) throw new TypeError(`${name}.data is detached`);
  if (data.length !== size)
    throw new RangeError(`${name}.data has ${data.length} elements but ${name}.shape [${shape.join(', ')}] needs ${size}`);
  return t as Tensor;
}

// A tensor's optional `dtype` names its data's type; one that contradicts the data (a
// Float32Array declared 'float16') is a mistake upstream, not a request to convert.
function checkDeclaredDtype(name: string, declared: unknown, data: FloatArray): void {
  const actual = data instanceof Float32Array ? 'float32' : 'float64';
  if (declared === actual) return;
  if (typeof declared !== 'string' || !TENSOR_DTYPES.includes(declared))
    throw new TypeError(`${name}.dtype must be one of ${TENSOR_DTYPES.join(', ')}, got ${describe(declared)}`);
  throw new TypeError(`${name}.dtype is '${declared}' but ${name}.data is a ${data.constructor.name} (${actual})`);
}

const TENSOR_DTYPES: readonly string[] = ['float32', 'float64', 'float16', 'bfloat16'];

/** An optional array of `dtype` and exactly `length` elements (`like`: why that dtype, for the message). */
export function checkArray(name: string, a: unknown, dtype: TensorDataConstructor, length: number, like = ' like x.data'): FloatArray | null {
  if (a === undefined || a === null) return null;
  if (!isFloatArray(a) && !(a instanceof Uint16Array)) throw new TypeError(`${name} must be a Float32Array or Float64Array, got ${describe(a)}`);
  if (a.constructor !== dtype) throw new TypeError(`${name} must be a ${dtype.name}${like}, got ${describe(a)}`);
  if (a.length !== length && length > 0 && isDetached(a)) throw new TypeError(`${name} is detached`);
  if (a.length !== length) throw new RangeError(`${name} must have ${length} elements, got ${a.length}`);
  return a as FloatArray; // a half-precision call's Uint16Array too: the kernels look at its halfFormat
}

/** The half format of a checked tensor: 'none' for float32/float64 data. */
export function halfFormatOf(t: Tensor<TensorData>): HalfDtype | 'none' {
  return t.data instanceof Uint16Array ? (t.dtype as HalfDtype) : 'none';
}

export function checkRequiredArray(name: string, a: unknown, dtype: FloatArrayConstructor, length: number): FloatArray {
  if (a === undefined || a === null) throw new TypeError(`${name} is required`);
  return checkArray(name, a, dtype, length) as FloatArray;
}

export function checkEps(v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number') throw new TypeError(`eps must be a number, got ${describe(v)}`);
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`eps must be a finite number >= 0, got ${v}`);
  return v;
}

const ACTIVATIONS: readonly Activation[] = ['relu', 'silu', 'gelu', 'gelu-tanh'];

/** A forward's `activation` option: one of the Activation names, or undefined ('none'). */
export function checkActivation(v: unknown): Activation | 'none' {
  if (v === undefined) return 'none';
  if (!ACTIVATIONS.includes(v as Activation))
    throw new TypeError(`activation must be one of ${ACTIVATIONS.map((a) => `'${a}'`).join(', ')}, got ${describe(v)}`);
  return v as Activation;
}

/** An options object (or undefined) whose keys are all known, so that a typo is an error. */
export function checkOptions<T extends object>(name: string, v: unknown, known: readonly string[]): Partial<T> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new TypeError(`${name} must be an object, got ${describe(v)}`);
  for (const key in v) {
    if (!known.includes(key)) throw new TypeError(`${name}.${key} is not a known option (${known.join(', ')})`);
  }
  return v as Partial<T>;
}

export const MAX_THREADS = 1024;

/** A thread count: an integer from 1 to MAX_THREADS. */
export function checkThreadCount(n: unknown): number {
  if (typeof n !== 'number') throw new TypeError(`n must be a number, got ${describe(n)}`);
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS) throw new RangeError(`n must be an integer from 1 to ${MAX_THREADS}, got ${n}`);
  return n;
}

export function checkBoolean(name: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${describe(v)}`);
  return v;
}

/**
 * `normalizedShape` (a number or an array) must equal the trailing dims of x.shape;
 * returns [rows, cols].
 */
export function checkNormalizedShape(v: unknown, xShape: readonly number[]): [number, number] {
  const dims = typeof v === 'number' ? [v] : v;
  if (!Array.isArray(dims)) throw new TypeError(`normalizedShape must be a number or an array of numbers, got ${describe(v)}`);
  const cols = shapeSize('normalizedShape', dims);
  if (dims.length === 0) throw new RangeError('normalizedShape must have at least one dimension');
  const lead = xShape.length - dims.length;
  if (lead < 0 || dims.some((d, i) => d !== xShape[lead + i]))
    throw new RangeError(`normalizedShape [${dims.join(', ')}] must equal the trailing dims of x.shape [${xShape.join(', ')}]`);
  let rows = 1;
  for (let i = 0; i < lead; i++) rows *= xShape[i];
  return [rows, cols];
}

/**
 * Whether two views of the same buffer share bytes (an empty view shares none). The caller
 * compares the buffers: bind.ts reads each array's buffer once per call, not once per pair.
 */
export function rangesOverlap(a: TensorData, b: TensorData): boolean {
  return a.byteLength !== 0 && b.byteLength !== 0 && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

/** The array type of a checked tensor. */
export function dtypeOf<C extends TensorDataConstructor = FloatArrayConstructor>(x: Tensor<TensorData>): C {
  return x.data.constructor as C;
}

/** `saved` is the forward's result (or any object holding its statistics); other keys are ignored. */
export function checkSaved(saved: unknown): { mean?: unknown; rstd?: unknown } {
if (typeof saved !== 'object' || saved === null) throw new TypeError('saved must be the statistics object the forward returned');
return saved as { mean?: unknown; rstd?: unknown };
}

/** x, and dy a tensor of x's dtype and shape (`half`: the op takes half-precision tensors; dy's format is x's). */
export function checkBackwardTensors(dy: unknown, x: unknown): void {
  checkTensor('x', x);
  const d = checkTensor('dy', dy, dtypeOf(x as Tensor<TensorData>));
  if (halfFormatOf(d) !== halfFormatOf(x as Tensor<TensorData>))
    throw new TypeError(`dy.dtype is '${d.dtype}' but x.dtype is '${(x as Tensor<TensorData>).dtype}'`);
  checkSameShape(d, x as Tensor<TensorData>);
}

export function checkSameShape(dy: Tensor<TensorData>, x: Tensor<TensorData>, names: readonly [string, string] = ['dy', 'x']): void {
  const a = dy.shape;
  const b = x.shape;
  if (a.length !== b.length || a.some((d, i) => d !== b[i]))
    throw new RangeError(`${names[0]}.shape [${a.join(', ')}] must equal ${names[1]}.shape [${b.join(', ')}]`);
}

/** `name`: a tensor of `like`'s dtype and shape (an add-norm's residual, dy, dSum). */
export function checkTensorLike(name: string, t: unknown, likeName: string, like: Tensor<TensorData>): Tensor<TensorData> {
  const checked = checkTensor(name, t, dtypeOf(like));
  if (halfFormatOf(checked) !== halfFormatOf(like))
    throw new TypeError(`${name}.dtype is '${checked.dtype}' but ${likeName}.dtype is '${like.dtype}'`);
  checkSameShape(checked, like, [name, likeName]);
  return checked;
}

/** weightOffset: a finite number (default 0); a non-zero offset needs a weight to offset. */
export function checkWeightOffset(v: unknown, weight: unknown): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number') throw new TypeError(`weightOffset must be a number, got ${describe(v)}`);
  if (!Number.isFinite(v)) throw new RangeError(`weightOffset must be a finite number, got ${v}`);
  if (v !== 0 && (weight === undefined || weight === null))
    throw new RangeError('weightOffset needs weight (the layer scales by weightOffset + weight)');
  return v;
}

