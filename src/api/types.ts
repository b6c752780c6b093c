/** The typed arrays fastnorm computes on: the dtype is the array type. */
export type FloatArray = Float32Array | Float64Array;

/** A row-major, contiguous tensor: `data.length` equals the product of `shape`. */
export interface Tensor<A extends FloatArray = FloatArray> {
  data: A;
  shape: readonly number[];
}

/** Which parameter gradients a backward call returns (default: both when `weight` is passed). */
export interface GradsOption {
  weight?: boolean;
  bias?: boolean;
}

export interface LayerNormOptions<A extends FloatArray = FloatArray> {
  /** Per-element scale over `normalizedShape` (length = its product). */
  weight?: A;
  /** Per-element shift over `normalizedShape`. */
  bias?: A;
  /** Added to the variance; finite, >= 0. Default 1e-5. */
  eps?: number;
  /** Caller-provided result buffers; `y` may be `x.data` itself (in-place). */
  out?: { y?: A; mean?: A; rstd?: A };
}

export interface LayerNormResult<A extends FloatArray = FloatArray> {
  y: Tensor<A>;
  /** One mean per row (the product of the leading dims). */
  mean: A;
  /** One 1/sqrt(var + eps) per row. */
  rstd: A;
}

export interface LayerNormBackwardOptions<A extends FloatArray = FloatArray> {
  weight?: A;
  grads?: GradsOption;
  out?: { dx?: A; dweight?: A; dbias?: A };
}

export interface BackwardResult<A extends FloatArray = FloatArray> {
  dx: Tensor<A>;
  dweight?: A;
  dbias?: A;
}

export interface RmsNormOptions<A extends FloatArray = FloatArray> {
  weight?: A;
  /** Added to mean(x²); finite, >= 0. Default 1e-6. */
  eps?: number;
  out?: { y?: A; rstd?: A };
}

export interface RmsNormResult<A extends FloatArray = FloatArray> {
  y: Tensor<A>;
  rstd: A;
}

export interface RmsNormBackwardOptions<A extends FloatArray = FloatArray> {
  weight?: A;
  grads?: { weight?: boolean };
  out?: { dx?: A; dweight?: A };
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

export interface BatchNormOptions<A extends FloatArray = FloatArray> {
  /** Per-channel scale (C values). */
  weight?: A;
  /** Per-channel shift (C values). */
  bias?: A;
  /** Running statistics (C values each, given together): training updates them in place with the
   * batch mean and unbiased variance, `running = (1 - momentum)·running + momentum·batch`; eval reads them. */
  runningMean?: A;
  runningVar?: A;
  /** true (default): normalize with batch statistics; false: with the running statistics. */
  training?: boolean;
  /** Default 0.1. */
  momentum?: number;
  /** Default 1e-5. */
  eps?: number;
  /** Default 'NCHW'. */
  layout?: Layout;
  out?: { y?: A; mean?: A; rstd?: A };
}

export interface BatchNormBackwardOptions<A extends FloatArray = FloatArray> {
  weight?: A;
  /** true (default): gradient through the batch statistics; false: through fixed (running) ones. */
  training?: boolean;
  layout?: Layout;
  grads?: GradsOption;
  out?: { dx?: A; dweight?: A; dbias?: A };
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

export interface GroupNormOptions<A extends FloatArray = FloatArray> {
  /** Per-channel scale (C values). */
  weight?: A;
  /** Per-channel shift (C values). */
  bias?: A;
  /** Default 1e-5. */
  eps?: number;
  /** Default 'NCHW'. */
  layout?: Layout;
  out?: { y?: A; mean?: A; rstd?: A };
}

export interface GroupNormBackwardOptions<A extends FloatArray = FloatArray> {
  weight?: A;
  layout?: Layout;
  grads?: GradsOption;
  out?: { dx?: A; dweight?: A; dbias?: A };
}

export interface InstanceNormOptions<A extends FloatArray = FloatArray> extends GroupNormOptions<A> {
  /** Running statistics (C values each, given together). With useInputStats (the default) they are
   * updated in place from the batch, as PyTorch's track_running_stats: each channel's per-sample mean
   * and unbiased variance, averaged over N, `running = (1 - momentum)·running + momentum·batch`. */
  runningMean?: A;
  runningVar?: A;
  /** true (default): normalize each (n, c) with its own statistics; false: with the running
   * statistics (then required), which `mean`/`rstd` return tiled over N. */
  useInputStats?: boolean;
  /** Default 0.1. */
  momentum?: number;
}

export interface InstanceNormBackwardOptions<A extends FloatArray = FloatArray> extends GroupNormBackwardOptions<A> {
  /** false: the forward used the running statistics, so the gradient is through constants (dx = dy·w·rstd). */
  useInputStats?: boolean;
}
