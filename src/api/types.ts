/** The typed arrays fastnorm computes on: the dtype is the array type. */
export type FloatArray = Float32Array | Float64Array;

/** The 16-bit storage formats: IEEE binary16, and bfloat16 (the top half of a float32). */
export type HalfDtype = 'float16' | 'bfloat16';

/**
 * What a tensor's data may be: a Float32Array or Float64Array, or (layerNorm, rmsNorm and their
 * backwards) a Uint16Array of half-precision bit patterns whose format `dtype` names.
 */
export type TensorData = FloatArray | Uint16Array;

/** A row-major, contiguous tensor: `data.length` equals the product of `shape`. */
export interface Tensor<A extends TensorData = FloatArray> {
  data: A;
  shape: readonly number[];
  /**
   * The dtype of `data`, checked against it: optional for a Float32Array ('float32') or
   * Float64Array ('float64'); required for a Uint16Array ('float16' or 'bfloat16').
   */
  dtype?: A extends Float32Array ? 'float32' : A extends Float64Array ? 'float64' : A extends Uint16Array ? HalfDtype
    : 'float32' | 'float64' | HalfDtype;
}

/** The weight/bias (and dweight/dbias) of data A: its own type, or for half data its format (Uint16Array) or float32. */
export type ParamOf<A extends TensorData> = A extends Uint16Array ? Uint16Array | Float32Array : A;
/** The saved statistics (mean, rstd) of data A: its own type; float32 for half data. */
export type StatsOf<A extends TensorData> = A extends Uint16Array ? Float32Array : A extends Float32Array ? Float32Array : Float64Array;

/** Which parameter gradients a backward call returns (default: both when `weight` is passed). */
export interface GradsOption {
  weight?: boolean;
  bias?: boolean;
}

/**
 * An activation fused after a norm's affine. relu: x < 0 ? 0 : x; silu: x·sigmoid(x); gelu:
 * 0.5·x·(1 + erf(x/√2)); gelu-tanh: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). float32
 * results are within 1 ulp of the true function (computed in float64, rounded once), float64
 * ones within a few ulp (docs/API.md); at −∞ each gives −0 (its limit; PyTorch's formulas give NaN).
 */
export type Activation = 'relu' | 'silu' | 'gelu' | 'gelu-tanh';

export interface LayerNormOptions<A extends TensorData = FloatArray> {
  /** Per-element scale over `normalizedShape` (length = its product). */
  weight?: ParamOf<A>;
  /** Per-element shift over `normalizedShape`. */
  bias?: ParamOf<A>;
  /** Added to the variance; finite, >= 0. Default 1e-5. */
  eps?: number;
  /** The layer scales by `weightOffset + weight` (Gemma's zero-centered weights: 1). Finite; default 0; needs `weight`. */
  weightOffset?: number;
  /** Applied to the normalized, scaled and shifted value in the same pass: `y = act(x̂·w + b)`
   * ('gelu': the erf form, 'gelu-tanh': PyTorch's approximate='tanh'). Default: none. */
  activation?: Activation;
  /** Caller-provided result buffers; `y` may be `x.data` itself (in-place). */
  out?: { y?: A; mean?: StatsOf<A>; rstd?: StatsOf<A> };
}

export interface LayerNormResult<A extends TensorData = FloatArray> {
  y: Tensor<A>;
  /** One mean per row (the product of the leading dims); float32 for half-precision x. */
  mean: StatsOf<A>;
  /** One 1/sqrt(var + eps) per row; float32 for half-precision x. */
  rstd: StatsOf<A>;
}

export interface LayerNormBackwardOptions<A extends TensorData = FloatArray> {
  weight?: ParamOf<A>;
  /** The forward's bias: with `activation`, the pre-activation z = x̂·w + b needs it (absent: 0). */
  bias?: ParamOf<A>;
  /** The forward's weightOffset: dx goes through `weightOffset + weight`; dweight does not depend on it. */
  weightOffset?: number;
  /** The forward's fused activation: the gradients are those of y = act(x̂·w + b), z recomputed (default none). */
  activation?: Activation;
  grads?: GradsOption;
  out?: { dx?: A; dweight?: ParamOf<A>; dbias?: ParamOf<A> };
}

export interface BackwardResult<A extends TensorData = FloatArray> {
  dx: Tensor<A>;
  /** dweight/dbias of half-precision x: in the parameters' dtype (weight's, else bias's; float32 when neither is given). */
  dweight?: ParamOf<A>;
  dbias?: ParamOf<A>;
}

export interface RmsNormOptions<A extends TensorData = FloatArray> {
  weight?: ParamOf<A>;
  /** Added to mean(x²); finite, >= 0. Default 1e-6. */
  eps?: number;
  /** The layer scales by `weightOffset + weight` (Gemma: 1). Finite; default 0; needs `weight`. */
  weightOffset?: number;
  out?: { y?: A; rstd?: StatsOf<A> };
}

export interface RmsNormResult<A extends TensorData = FloatArray> {
  y: Tensor<A>;
  rstd: StatsOf<A>;
}

export interface RmsNormBackwardOptions<A extends TensorData = FloatArray> {
  weight?: ParamOf<A>;
  /** The forward's weightOffset (dx uses `weightOffset + weight`; dweight does not depend on it). */
  weightOffset?: number;
  grads?: { weight?: boolean };
  out?: { dx?: A; dweight?: ParamOf<A> };
}

export interface AddLayerNormOptions<A extends TensorData = FloatArray> {
  /** Per-element scale over `normalizedShape`. */
  weight?: ParamOf<A>;
  /** Per-element shift over `normalizedShape`. */
  bias?: ParamOf<A>;
  /** Added to x + residual per element of `normalizedShape` before the norm (e.g. an attention output's bias). */
  residualBias?: ParamOf<A>;
  /** Default 1e-5. */
  eps?: number;
  /** The layer scales by `weightOffset + weight`. Default 0. */
  weightOffset?: number;
  /** Result buffers: `y` may be `x.data`, `sum` may be `residual.data` (the stream updated in place); no other overlap. */
  out?: { y?: A; sum?: A; mean?: StatsOf<A>; rstd?: StatsOf<A> };
}

export interface AddLayerNormResult<A extends TensorData = FloatArray> {
  /** layerNorm(sum). */
  y: Tensor<A>;
  /** x + residual (+ residualBias): the new residual stream (the "prenorm" output). */
  sum: Tensor<A>;
  mean: StatsOf<A>;
  rstd: StatsOf<A>;
}

export interface AddRmsNormOptions<A extends TensorData = FloatArray> {
  weight?: ParamOf<A>;
  residualBias?: ParamOf<A>;
  /** Default 1e-6. */
  eps?: number;
  /** The layer scales by `weightOffset + weight` (Gemma: 1). Default 0. */
  weightOffset?: number;
  /** Result buffers: `y` may be `x.data`, `sum` may be `residual.data`; no other overlap. */
  out?: { y?: A; sum?: A; rstd?: StatsOf<A> };
}

export interface AddRmsNormResult<A extends TensorData = FloatArray> {
  /** rmsNorm(sum). */
  y: Tensor<A>;
  /** x + residual (+ residualBias): the new residual stream. */
  sum: Tensor<A>;
  rstd: StatsOf<A>;
}

export interface AddLayerNormBackwardOptions<A extends TensorData = FloatArray> {
  weight?: ParamOf<A>;
  weightOffset?: number;
  /** The residual stream's gradient from later layers (shape of sum), added to dx in the same pass. */
  dSum?: Tensor<A>;
  /** Parameter gradients to return; `residualBias: true` returns dresidualBias (default false). */
  grads?: { weight?: boolean; bias?: boolean; residualBias?: boolean };
  /** `dx` may be `dSum.data` (accumulated in place); no other overlap. */
  out?: { dx?: A; dweight?: ParamOf<A>; dbias?: ParamOf<A>; dresidualBias?: ParamOf<A> };
}

export interface AddRmsNormBackwardOptions<A extends TensorData = FloatArray> {
  weight?: ParamOf<A>;
  weightOffset?: number;
  dSum?: Tensor<A>;
  grads?: { weight?: boolean; residualBias?: boolean };
  out?: { dx?: A; dweight?: ParamOf<A>; dresidualBias?: ParamOf<A> };
}

export interface AddNormBackwardResult<A extends TensorData = FloatArray> extends BackwardResult<A> {
  /** dx summed over the rows: the gradient of residualBias (when grads.residualBias). */
  dresidualBias?: ParamOf<A>;
}

export interface Info {
  backend: 'native' | 'reference';
  /** SIMD path in use: 'avx512', 'avx2', 'neon', 'scalar', or 'none' on the reference backend. */
  isa: string;
  threads: number;
  version: string;
}

/** Channel layout of batch/instance/group norm: (N, C, *spatial) or (N, *spatial, C). */
export type Layout = 'NCHW' | 'NHWC';

export interface BatchNormOptions<A extends TensorData = FloatArray> {
  /** Per-channel scale (C values). */
  weight?: ParamOf<A>;
  /** Per-channel shift (C values). */
  bias?: ParamOf<A>;
  /** Running statistics (C values each, given together): training updates them in place with the
   * batch mean and unbiased variance, `running = (1 - momentum)·running + momentum·batch`; eval reads them. */
  runningMean?: ParamOf<A>;
  runningVar?: ParamOf<A>;
  /** true (default): normalize with batch statistics; false: with the running statistics. */
  training?: boolean;
  /** Default 0.1. */
  momentum?: number;
  /** Default 1e-5. */
  eps?: number;
  /** Default 'NCHW'. */
  layout?: Layout;
  /** Applied to the normalized, scaled and shifted value in the same pass: `y = act(x̂·w + b)`
   * ('gelu': the erf form, 'gelu-tanh': PyTorch's approximate='tanh'). Default: none. */
  activation?: Activation;
  out?: { y?: A; mean?: StatsOf<A>; rstd?: StatsOf<A> };
}

export interface BatchNormBackwardOptions<A extends TensorData = FloatArray> {
  weight?: ParamOf<A>;
  /** The forward's bias: with `activation`, the pre-activation z = x̂·w + b needs it (absent: 0). */
  bias?: ParamOf<A>;
  /** The forward's fused activation: the gradients are those of y = act(x̂·w + b), z recomputed (default none). */
  activation?: Activation;
  /** true (default): gradient through the batch statistics; false: through fixed (running) ones. */
  training?: boolean;
  layout?: Layout;
  grads?: GradsOption;
  out?: { dx?: A; dweight?: ParamOf<A>; dbias?: ParamOf<A> };
}

/** Per-channel partial statistics of a shard (Float64Array: merging stays exact). */
export interface BatchNormStats {
  /** Values per channel in the shard (N × spatial). */
  count: number;
  mean: Float64Array;
  /** Σ (x − mean)² per channel. */
  m2: Float64Array;
}

export interface BatchNormGatherOptions<A extends FloatArray = FloatArray> {
  eps?: number;
  momentum?: number;
  /** Updated in place with the merged mean and unbiased variance, as batchNorm training does. */
  runningMean?: A;
  runningVar?: A;
  /** dtype of the returned mean/rstd when no running statistics are given (default 'float32'). */
  dtype?: 'float32' | 'float64';
}

/** Per-channel sums of a shard for the backward, to be summed over shards. */
export interface BatchNormGradSums {
  sumDy: Float64Array;
  /** Σ dy·(x − mean) per channel. */
  sumDyXmu: Float64Array;
}

export interface GroupNormOptions<A extends TensorData = FloatArray> {
  /** Per-channel scale (C values). */
  weight?: ParamOf<A>;
  /** Per-channel shift (C values). */
  bias?: ParamOf<A>;
  /** Default 1e-5. */
  eps?: number;
  /** Default 'NCHW'. */
  layout?: Layout;
  /** Applied to the normalized, scaled and shifted value in the same pass: `y = act(x̂·w + b)`
   * ('gelu': the erf form, 'gelu-tanh': PyTorch's approximate='tanh'). Default: none. */
  activation?: Activation;
  out?: { y?: A; mean?: StatsOf<A>; rstd?: StatsOf<A> };
}

export interface GroupNormBackwardOptions<A extends TensorData = FloatArray> {
  weight?: ParamOf<A>;
  /** The forward's bias: with `activation`, the pre-activation z = x̂·w + b needs it (absent: 0). */
  bias?: ParamOf<A>;
  /** The forward's fused activation: the gradients are those of y = act(x̂·w + b), z recomputed (default none). */
  activation?: Activation;
  layout?: Layout;
  grads?: GradsOption;
  out?: { dx?: A; dweight?: ParamOf<A>; dbias?: ParamOf<A> };
}

export interface InstanceNormOptions<A extends TensorData = FloatArray> extends GroupNormOptions<A> {
  /** Running statistics (C values each, given together). With useInputStats (the default) they are
   * updated in place from the batch, as PyTorch's track_running_stats: each channel's per-sample mean
   * and unbiased variance, averaged over N, `running = (1 - momentum)·running + momentum·batch`. */
  runningMean?: ParamOf<A>;
  runningVar?: ParamOf<A>;
  /** true (default): normalize each (n, c) with its own statistics; false: with the running
   * statistics (then required), which `mean`/`rstd` return tiled over N. */
  useInputStats?: boolean;
  /** Default 0.1. */
  momentum?: number;
}

export interface InstanceNormBackwardOptions<A extends TensorData = FloatArray> extends GroupNormBackwardOptions<A> {
  /** false: the forward used the running statistics, so the gradient is through constants (dx = dy·w·rstd). */
  useInputStats?: boolean;
}
