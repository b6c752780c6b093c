// A learnable tensor of a module: its values, the gradient that backward passes accumulate into
// it (null until the first one, as in PyTorch), and whether it wants one.
import { MODULE_DTYPES, type ModuleArray, type ModuleDType, type TypedTensor } from './dtypes.js';

/**
 * A layer's learnable tensor, `{ data, shape, dtype, grad, requiresGrad }` — also a tensor, so it
 * can be saved or passed to the functional ops as is.
 * @example
 * const bn = new BatchNorm2d(64);
 * bn.weight.data;             // Float32Array(64) of ones
 * bn.weight.requiresGrad = false;   // frozen: backward computes no weight gradient
 */
export class Parameter implements TypedTensor<ModuleArray> {
  /** The values, updated in place by loadStateDict (and by your optimizer step). */
  readonly data: ModuleArray;
  readonly shape: readonly number[];
  readonly dtype: ModuleDType;
  /** The accumulated gradient (same dtype and length as `data`), null until a backward computes one. */
  grad: ModuleArray | null = null;
  /** false: backward computes no gradient for this parameter (PyTorch's `requires_grad_(False)`). */
  requiresGrad = true;

  /**
   * @example
   * const w = new Parameter(new Float32Array(64).fill(1), [64]);
   * w.grad;   // null until a backward
   */
  constructor(data: ModuleArray, shape: readonly number[], dtype: ModuleDType = data instanceof Float64Array ? 'float64' : 'float32') {
    this.data = data;
    this.shape = Object.freeze(shape.slice());
    this.dtype = dtype;
  }
}

/** A new parameter of `dims` filled with `value` (PyTorch's initial weight 1 / bias 0). */
export function filledParameter(dtype: ModuleDType, dims: readonly number[], value: number): Parameter {
  const n = dims.reduce((p, d) => p * d, 1);
  return new Parameter(new MODULE_DTYPES[dtype].array(n).fill(value), dims, dtype);
}
