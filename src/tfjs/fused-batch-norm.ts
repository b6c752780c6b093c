// TF.js's FusedBatchNorm kernel and its gradient, computed by fastnorm.
//
// The op (tf.batchNorm, batchNorm2d/3d/4d, and tf.layers' BatchNormalization and
// LayerNormalization) reshapes x to 4-D and runs FusedBatchNorm with x, mean, variance and
// optional offset and scale, each parameter read cyclically over x in row-major order
// (./cyclic.ts), and varianceEpsilon (0.001 when absent):
//   y = offset + (x − mean)·scale / √(variance + ε)
// The kernel computes it as fastnorm.batchNormElemt on the channels-last view, with the
// per-channel coefficient α = scale/√(variance + ε) formed in double and rounded once:
//   y = (x − mean)·α + offset.
// TF.js's gradient treats mean and variance as inputs (no batch-statistics term):
//   dx = dy·α,  dmean = −α·Σdy,  dvariance = −½·scale·rstd³·Σdy(x − mean),
//   dscale = rstd·Σdy(x − mean),  doffset = Σdy,  rstd = 1/√(variance + ε)
// summed over the positions that share a parameter value; fastnorm's eval-mode backward gives dx
// in one pass over dy, and batchNormBackwardReduce both sums in one pass over dy and x.
import type {
  DataId, GradConfig, GradFunc, KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, Tensor, TensorInfo,
} from '@tensorflow/tfjs-core';
import { countFallback, countFastnorm, type FallbackReason } from './counters.js';
import { uninitialized } from '../api/alloc.js';
import { cyclicView, expandExact, foldCyclic, type CyclicView, type NumericArray } from './cyclic.js';
import { addFastnormBackend, impl, isFastnormBackend } from './implementation.js';

/** tfjs-core's kernel name (kernel_names.ts). */
export const FUSED_BATCH_NORM = 'FusedBatchNorm';
/** What tfjs-core's op and cpu kernel use when varianceEpsilon is not given. */
const DEFAULT_VARIANCE_EPSILON = 0.001;
const PARAMETERS = ['mean', 'variance', 'scale', 'offset'] as const;

/** The part of a TF.js module (tfjs-core, @tensorflow/tfjs, tfjs-node) that registration uses. */
export interface TfjsCore {
  getKernel(kernelName: string, backendName: string): KernelConfig | undefined;
  registerKernel(config: KernelConfig): void;
  unregisterKernel(kernelName: string, backendName: string): void;
  getGradient(kernelName: string): GradConfig | undefined;
  registerGradient(config: GradConfig): void;
  unregisterGradient(kernelName: string): void;
  getBackend(): string;
  engine(): { isTapeOn(): boolean };
  tensor(values: Float32Array, shape: number[], dtype: 'float32'): Tensor;
}

/** What the kernel needs of a backend: cpu's data store and output bookkeeping. */
interface TypedArrayBackend {
  data: { get(dataId: DataId): { values?: unknown } | undefined };
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): TensorInfo;
}

// Half precision: TF.js has no float16 tensor dtype (WebGL's float16 textures surface as
// float32), so a float16 path would start here, mapping a future TF.js half dtype to fastnorm's.
const NATIVE_DTYPE = 'float32';

function isNumericArray(v: unknown): v is NumericArray {
  return v instanceof Float32Array || v instanceof Int32Array || v instanceof Uint8Array;
}

/** Parameters as typed arrays, in PARAMETERS order (scale/offset null when absent). */
type ParameterValues = [NumericArray, NumericArray, NumericArray | null, NumericArray | null];

/** What fastnorm computes with: the view, the expanded per-channel mean and coefficients. */
interface Prepared {
  view: CyclicView;
  mean: Float32Array;
  /** scale/√(variance + ε) per channel, in float32. */
  alpha: Float32Array;
  /** 1/√(variance + ε) and scale per channel, in double (the gradient's factors). */
  rstd: Float64Array;
  scale: Float64Array | null;
}

/**
 * The per-channel constants of a call, or why fastnorm cannot compute it. Shared by the forward
 * and the gradient, so both see the same view and the same rounding.
 */
function prepare(size: number, p: ParameterValues, eps: number): Prepared | FallbackReason {
  const [meanV, varianceV, scaleV, offsetV] = p;
  const lengths = p.filter((v): v is NumericArray => v !== null).map((v) => v.length);
  const view = cyclicView(size, lengths);
  if (typeof view === 'string') return view;
  const c = view.channels;
  const mean = expandExact(meanV, c);
  if (!mean) return 'dtype';
  const alpha = new Float32Array(c);
  const rstd = new Float64Array(c);
  const scale = scaleV ? new Float64Array(c) : null;
  for (let j = 0; j < c; j++) {
    const r = 1 / Math.sqrt(varianceV[j % varianceV.length] + eps);
    const s = scaleV ? scaleV[j % scaleV.length] : 1;
    const a = s * r;
    rstd[j] = r;
    if (scale) scale[j] = s;
    alpha[j] = a;
    // a finite non-zero coefficient that float32 cannot hold at full precision
    if (Number.isFinite(a) && a !== 0 && !(Math.abs(a) >= 2 ** -126 && Number.isFinite(alpha[j]))) return 'range';
  }
  return { view, mean, alpha, rstd, scale };
}

/** Runs `f` on the [rows, C] head of the view and on the [1, tail] tail, with slices of each array. */
function onViewParts(view: CyclicView, f: (rows: number, channels: number, start: number, end: number) => void): void {
  const head = view.rows * view.channels;
  if (head > 0) f(view.rows, view.channels, 0, head);
  if (view.tail > 0) f(1, view.tail, head, head + view.tail);
}

function forward(x: Float32Array, p: ParameterValues, prepared: Prepared): Float32Array | FallbackReason {
  const { view, mean, alpha } = prepared;
  const bias = p[3] ? expandExact(p[3], view.channels) : undefined;
  if (bias === null) return 'dtype';
  const y = uninitialized<Float32Array>(Float32Array, x.length);
  // Fused activations: when fastnorm gains them, an activation following FusedBatchNorm (TF.js
  // graph models run Relu/Relu6 as separate kernels) would be applied in this same pass.
  onViewParts(view, (rows, c, start, end) => {
    impl().batchNormElemt({ data: x.subarray(start, end), shape: [rows, c] },
      { mean: mean.subarray(0, c), rstd: alpha.subarray(0, c) },
      { bias: bias?.subarray(0, c), layout: 'NHWC', out: { y: y.subarray(start, end) } });
  });
  return y;
}

function readValues(backend: TypedArrayBackend, t: TensorInfo | undefined): NumericArray | null | undefined {
  if (t === undefined || t === null) return null;
  const values = backend.data.get(t.dataId)?.values;
  return isNumericArray(values) ? values : undefined;
}

function isTypedArrayBackend(b: unknown): b is TypedArrayBackend {
  const backend = b as Partial<TypedArrayBackend> | null;
  return typeof backend?.data?.get === 'function' && typeof backend.makeTensorInfo === 'function';
}

/** Ranks and dtypes TF.js's kernel rejects with its own error. */
function invalidInputs(inputs: NamedTensorInfoMap): boolean {
  const rank = inputs.mean?.shape.length;
  if (rank === undefined || inputs.variance?.shape.length !== rank) return true;
  for (const name of ['scale', 'offset'] as const) {
    const t = inputs[name];
    if (t && t.shape.length !== rank) return true;
  }
  return ['x', ...PARAMETERS].some((name) => inputs[name]?.dtype === 'complex64' || inputs[name]?.dtype === 'string');
}

function computeWithFastnorm(args: Parameters<KernelFunc>[0]): TensorInfo | FallbackReason {
  const { inputs, backend, attrs } = args;
  if (invalidInputs(inputs)) return 'invalid';
  if (!isTypedArrayBackend(backend)) return 'backend';
  const x = inputs.x as TensorInfo;
  if (x.dtype !== NATIVE_DTYPE) return 'dtype';
  const xv = readValues(backend, x);
  const p = PARAMETERS.map((name) => readValues(backend, inputs[name]));
  if (!(xv instanceof Float32Array) || !p[0] || !p[1] || p.includes(undefined)) return 'backend';
  const params = p as ParameterValues;
  const eps = (attrs?.varianceEpsilon as number | undefined) ?? DEFAULT_VARIANCE_EPSILON;
  const prepared = prepare(xv.length, params, eps);
  if (typeof prepared === 'string') return prepared;
  const y = forward(xv, params, prepared);
  if (typeof y === 'string') return y;
  return backend.makeTensorInfo(x.shape.slice(), NATIVE_DTYPE, y);
}

/** The FusedBatchNorm kernel function: fastnorm, or `original` (counted) for what fastnorm cannot compute. */
export function fusedBatchNormKernel(original: KernelConfig): KernelFunc {
  return (args) => {
    const result = computeWithFastnorm(args);
    if (typeof result !== 'string') {
      countFastnorm('fusedBatchNorm');
      return result;
    }
    countFallback('fusedBatchNorm', result);
    return original.kernelFunc(args);
  };
}

// ---- gradient ---------------------------------------------------------------------------------

// The inputs TF.js's own gradient saves, and no more: its engine cannot save an absent input, so
// saving offset would break calls without one. Like TF.js's, the offset gradient takes mean's shape.
// (Without scale, tf.grad through tf.batchNorm throws in TF.js for that reason; this package's
// layers compute their gradients without FusedBatchNorm and have no such limit.)
const SAVED = ['x', 'mean', 'variance', 'scale'] as const;

function gradientReason(tf: TfjsCore, dy: Tensor, saved: Tensor[]): FallbackReason | null {
  if (tf.engine().isTapeOn()) return 'higher-order';
  if (!isFastnormBackend(tf.getBackend())) return 'backend';
  if (dy.dtype !== NATIVE_DTYPE || saved[0].dtype !== NATIVE_DTYPE) return 'dtype';
  return null;
}

function float32Values(t: Tensor): NumericArray {
  // On a typed-array backend dataSync returns the tensor's own storage (no copy).
  return t.dataSync() as NumericArray;
}

export function fusedBatchNormGradient(tf: TfjsCore, original: GradConfig): GradConfig {
  const gradFunc = (dyIn: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap): ReturnType<GradFunc> => {
    const dy = Array.isArray(dyIn) ? dyIn[0] : dyIn;
    const [x, meanT, varianceT, scaleT] = saved;
    const fallback = (reason: FallbackReason) => {
      countFallback('fusedBatchNormGrad', reason);
      return original.gradFunc(dyIn, saved, attrs);
    };
    const early = gradientReason(tf, dy, saved);
    if (early) return fallback(early);
    const xv = float32Values(x);
    const dyv = float32Values(dy);
    const params: ParameterValues = [float32Values(meanT), float32Values(varianceT), scaleT ? float32Values(scaleT) : null, null];
    const eps = (attrs.varianceEpsilon as number | undefined) ?? DEFAULT_VARIANCE_EPSILON;
    const prepared = prepare(xv.length, params, eps);
    if (typeof prepared === 'string') return fallback(prepared);
    countFastnorm('fusedBatchNormGrad');
    const { view, mean, alpha, rstd, scale } = prepared;
    const c = view.channels;

    // Σdy and Σdy(x − mean) per channel, computed once for whichever parameter gradients the tape asks.
    let sums: { sumDy: Float64Array; sumDyXmu: Float64Array } | undefined;
    const channelSums = () => {
      if (sums) return sums;
      const sumDy = new Float64Array(c);
      const sumDyXmu = new Float64Array(c);
      onViewParts(view, (rows, cols, start, end) => {
        const part = impl().batchNormBackwardReduce({ data: dyv.subarray(start, end) as Float32Array, shape: [rows, cols] },
          { data: xv.subarray(start, end) as Float32Array, shape: [rows, cols] }, { mean: mean.subarray(0, cols) }, { layout: 'NHWC' });
        for (let j = 0; j < cols; j++) sumDy[j] += part.sumDy[j], sumDyXmu[j] += part.sumDyXmu[j];
      });
      return (sums = { sumDy, sumDyXmu });
    };
    const parameterGrad = (t: { size: number; shape: number[] }, perChannel: (j: number, s: { sumDy: Float64Array; sumDyXmu: Float64Array }) => number) => () => {
      const s = channelSums();
      const g = new Float64Array(c);
      for (let j = 0; j < c; j++) g[j] = perChannel(j, s);
      return tf.tensor(foldCyclic(g, t.size), t.shape.slice(), 'float32');
    };
    const scaleAt = (j: number) => (scale ? scale[j] : 1);
    return {
      x: () => {
        const dx = uninitialized<Float32Array>(Float32Array, xv.length);
        onViewParts(view, (rows, cols, start, end) => {
          impl().batchNormBackward({ data: dyv.subarray(start, end) as Float32Array, shape: [rows, cols] },
            { data: xv.subarray(start, end) as Float32Array, shape: [rows, cols] },
            { mean: mean.subarray(0, cols), rstd: alpha.subarray(0, cols) },
            { training: false, layout: 'NHWC', grads: { weight: false, bias: false }, out: { dx: dx.subarray(start, end) } });
        });
        return tf.tensor(dx, x.shape.slice(), 'float32');
      },
      mean: parameterGrad(meanT, (j, s) => -scaleAt(j) * rstd[j] * s.sumDy[j]),
      variance: parameterGrad(varianceT, (j, s) => -0.5 * scaleAt(j) * rstd[j] ** 3 * s.sumDyXmu[j]),
      scale: parameterGrad(scaleT, (j, s) => rstd[j] * s.sumDyXmu[j]),
      offset: parameterGrad(meanT, (j, s) => s.sumDy[j]),
    };
  };
  return { kernelName: FUSED_BATCH_NORM, inputsToSave: [...SAVED], gradFunc };
}

// ---- registration -----------------------------------------------------------------------------

export interface RegisterKernelsOptions {
  /** The TF.js backend whose FusedBatchNorm is replaced; its tensors must live in typed arrays. Default 'cpu'. */
  backend?: string;
  /** Also replace the FusedBatchNorm gradient (default true). It is global in TF.js: on other
   * backends, and for gradients of gradients, it hands over to TF.js's own. */
  gradient?: boolean;
}

const kernelUses = new Map<string, { uses: number; original: KernelConfig; releaseBackend: () => void }>();
let gradientUses: { uses: number; original: GradConfig } | null = null;

function checkTf(tf: unknown): asserts tf is TfjsCore {
  for (const name of ['getKernel', 'registerKernel', 'unregisterKernel', 'getGradient', 'registerGradient',
    'unregisterGradient', 'getBackend', 'engine', 'tensor'] as const) {
    if (typeof (tf as Record<string, unknown> | null)?.[name] !== 'function')
      throw new TypeError(`tf must be the TensorFlow.js module (@tensorflow/tfjs-core or @tensorflow/tfjs); it has no ${name} function`);
  }
}

function checkRegisterOptions(opts: unknown): Required<RegisterKernelsOptions> {
  if (opts === undefined) return { backend: 'cpu', gradient: true };
  if (typeof opts !== 'object' || opts === null) throw new TypeError('opts must be an object { backend?, gradient? }');
  for (const key of Object.keys(opts)) {
    if (key !== 'backend' && key !== 'gradient') throw new TypeError(`opts.${key} is not a known option (backend, gradient)`);
  }
  const { backend = 'cpu', gradient = true } = opts as RegisterKernelsOptions;
  if (typeof backend !== 'string' || backend === '') throw new TypeError("opts.backend must be a backend name such as 'cpu'");
  if (typeof gradient !== 'boolean') throw new TypeError('opts.gradient must be a boolean');
  return { backend, gradient };
}

/** Replaces `backend`'s kernel on first use; the returned function puts it back after the last. */
function acquireKernel(tf: TfjsCore, backend: string): () => void {
  let entry = kernelUses.get(backend);
  if (!entry) {
    const original = tf.getKernel(FUSED_BATCH_NORM, backend);
    if (!original)
      throw new Error(`registerKernels: backend '${backend}' has no FusedBatchNorm kernel to replace ` +
        `(import '@tensorflow/tfjs-backend-${backend}' before registering)`);
    tf.unregisterKernel(FUSED_BATCH_NORM, backend);
    tf.registerKernel({ ...original, kernelFunc: fusedBatchNormKernel(original) });
    entry = { uses: 0, original, releaseBackend: addFastnormBackend(backend) };
    kernelUses.set(backend, entry);
  }
  const held = entry;
  held.uses++;
  return () => {
    if (--held.uses > 0) return;
    tf.unregisterKernel(FUSED_BATCH_NORM, backend);
    tf.registerKernel(held.original);
    held.releaseBackend();
    kernelUses.delete(backend);
  };
}

/** The same for the (backend-independent) gradient. */
function acquireGradient(tf: TfjsCore): () => void {
  if (!gradientUses) {
    const original = tf.getGradient(FUSED_BATCH_NORM);
    if (!original) throw new Error('registerKernels: TF.js has no FusedBatchNorm gradient to replace');
    tf.unregisterGradient(FUSED_BATCH_NORM);
    tf.registerGradient(fusedBatchNormGradient(tf, original));
    gradientUses = { uses: 0, original };
  }
  const held = gradientUses;
  held.uses++;
  return () => {
    if (--held.uses > 0) return;
    tf.unregisterGradient(FUSED_BATCH_NORM);
    tf.registerGradient(held.original);
    gradientUses = null;
  };
}

/**
 * Makes fastnorm compute TF.js's `FusedBatchNorm` kernel — `tf.batchNorm`, `batchNorm2d/3d/4d`
 * and every tf.layers normalization built on them — and its gradient, on a TF.js backend whose
 * tensors live in typed arrays (`'cpu'`). Results match TF.js's kernel within float32 rounding;
 * what fastnorm cannot compute (int32 tensors, …) runs on the original kernel, counted in
 * {@link getCounters}. Calls nest: each returned function undoes its own call, and TF.js's kernel
 * and gradient are back when every call is undone.
 * @param tf the TensorFlow.js module (`@tensorflow/tfjs-core` or `@tensorflow/tfjs`), after the backend is imported
 * @returns a function that restores TF.js's own kernel (and gradient); calling it again does nothing
 * @example
 * import * as tf from '@tensorflow/tfjs-core';
 * import '@tensorflow/tfjs-backend-cpu';
 * import { registerKernels } from 'fastnorm/tfjs';
 *
 * const restore = registerKernels(tf);            // { backend: 'cpu', gradient: true }
 * const y = tf.batchNorm(x, mean, variance, offset, scale, 1e-3);   // computed by fastnorm
 * restore();                                      // TF.js's own kernel again
 */
export function registerKernels(tf: TfjsCore, opts?: RegisterKernelsOptions): () => void {
  checkTf(tf);
  const { backend, gradient } = checkRegisterOptions(opts);
  const releaseKernel = acquireKernel(tf, backend);
  let releaseGradient = () => {};
  try {
    if (gradient) releaseGradient = acquireGradient(tf);
  } catch (e) {
    releaseKernel();
    throw e;
  }
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    releaseGradient();
    releaseKernel();
  };
}
