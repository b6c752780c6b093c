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
