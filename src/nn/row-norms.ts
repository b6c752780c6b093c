// LayerNorm and RMSNorm layers: statistics per row over the trailing `normalizedShape` dims,
// with an elementwise weight (and bias) of that shape — torch.nn.LayerNorm and torch.nn.RMSNorm.
import type { LayerNormResult, RmsNormResult, Tensor } from '../index.js';
import { checkBoolean, checkDType, checkEps, checkOptions, checkShape } from './check.js';
import { MODULE_DTYPES, type ModuleArray, type ModuleDType } from './dtypes.js';
import { NormModule, type BackwardCall, type ForwardCall, type GradName } from './module.js';
import { filledParameter } from './parameter.js';
import { pyBool, pyFloat, pyTuple } from './repr.js';
import { parameterEntries, type StateEntry } from './state-dict.js';

export interface LayerNormModuleOptions {
  /** Added to the variance. Default 1e-5. */
  eps?: number;
  /** true (default): learnable weight (ones) and bias (zeros) of `normalizedShape`. */
  elementwiseAffine?: boolean;
  /** false: no bias, only a weight (PyTorch ≥ 2.1's `bias=False`). Default true. */
  bias?: boolean;
  /** 'float32' (default) or 'float64'. */
  dtype?: ModuleDType;
}

export interface RMSNormModuleOptions {
  /** Added to mean(x²). Default null: the dtype's machine epsilon, as torch.nn.RMSNorm's `eps=None`. */
  eps?: number | null;
  /** true (default): a learnable weight (ones) of `normalizedShape`. */
  elementwiseAffine?: boolean;
  /** 'float32' (default) or 'float64'. */
  dtype?: ModuleDType;
}

const LAYER_NORM_OPTIONS = ['eps', 'elementwiseAffine', 'bias', 'dtype'] as const;

/**
 * torch.nn.LayerNorm: y = (x − mean)/sqrt(var + eps)·weight + bias, statistics per row over the
 * trailing `normalizedShape` dims of the input (which may have any leading dims).
 * @example
 * import { LayerNorm } from 'fastnorm/nn';
 * const ln = new LayerNorm(768);                                  // weight ones, bias zeros
 * const y = ln.forward({ data: new Float32Array(4 * 768), shape: [4, 768] });
 * const noBias = new LayerNorm([16, 48], { bias: false, eps: 1e-6 });
 */
export class LayerNorm extends NormModule {
  readonly normalizedShape: readonly number[];
  readonly eps: number;
  readonly elementwiseAffine: boolean;

  constructor(normalizedShape: number | readonly number[], opts?: LayerNormModuleOptions) {
    const dims = Object.freeze(checkShape('normalizedShape', normalizedShape));
    const o = checkOptions<LayerNormModuleOptions>('opts', opts, LAYER_NORM_OPTIONS);
    const dtype = checkDType('opts.dtype', o.dtype);
    const affine = checkBoolean('opts.elementwiseAffine', o.elementwiseAffine, true);
    const hasBias = checkBoolean('opts.bias', o.bias, true);
    const eps = checkEps('opts.eps', o.eps, 1e-5);
    super(dtype, affine ? filledParameter(dtype, dims, 1) : null, affine && hasBias ? filledParameter(dtype, dims, 0) : null);
    this.normalizedShape = dims;
    this.eps = eps;
    this.elementwiseAffine = affine;
  }

  protected forwardCall(x: Tensor, y: ModuleArray | undefined): ForwardCall<LayerNormResult> {
    const shape = this.normalizedShape;
    return {
      run: (f) => f.layerNorm(x, shape, { weight: this.weight?.data, bias: this.bias?.data, eps: this.eps, out: y && { y } }),
      done: (r) => {
        const backward: BackwardCall = (dy, { grads, out }) => (f) =>
          f.layerNormBackward(dy, x, r, shape, { weight: this.weight?.data, grads, out });
        return { y: r.y.data as ModuleArray, backward };
      },
    };
  }

  protected stateEntries(): StateEntry[] {
    return parameterEntries(this.weight, this.bias);
  }

  protected describeArguments(): string {
    return `${pyTuple(this.normalizedShape)}, eps=${pyFloat(this.eps)}, elementwise_affine=${pyBool(this.elementwiseAffine)}`;
  }
}

const RMS_NORM_OPTIONS = ['eps', 'elementwiseAffine', 'dtype'] as const;

/**
 * torch.nn.RMSNorm (PyTorch 2.4): y = x/sqrt(mean(x²) + eps)·weight over the trailing
 * `normalizedShape` dims. `eps` defaults to null, which means the dtype's machine epsilon
 * (2^-23 for float32), as PyTorch's `eps=None`; the functional `rmsNorm`'s default is 1e-6.
 * @example
 * import { RMSNorm } from 'fastnorm/nn';
 * const norm = new RMSNorm(4096, { eps: 1e-6 });                 // Llama's eps
 * const y = norm.forward({ data: hidden, shape: [tokens, 4096] });
 */
export class RMSNorm extends NormModule {
  readonly normalizedShape: readonly number[];
  /** As given: null means the dtype's machine epsilon (see `effectiveEps`). */
  readonly eps: number | null;
  readonly elementwiseAffine: boolean;

  constructor(normalizedShape: number | readonly number[], opts?: RMSNormModuleOptions) {
    const dims = Object.freeze(checkShape('normalizedShape', normalizedShape));
    const o = checkOptions<RMSNormModuleOptions>('opts', opts, RMS_NORM_OPTIONS);
    const dtype = checkDType('opts.dtype', o.dtype);
    const affine = checkBoolean('opts.elementwiseAffine', o.elementwiseAffine, true);
    const eps = o.eps === null || o.eps === undefined ? null : checkEps('opts.eps', o.eps, 0);
    super(dtype, affine ? filledParameter(dtype, dims, 1) : null, null);
    this.normalizedShape = dims;
    this.eps = eps;
    this.elementwiseAffine = affine;
  }

  /**
   * The eps the layer adds: `eps`, or the dtype's machine epsilon when `eps` is null.
   * @example
   * new RMSNorm(8).effectiveEps;   // 1.1920928955078125e-7 (float32 epsilon)
   */
  get effectiveEps(): number {
    return this.eps ?? MODULE_DTYPES[this.dtype].epsilon;
  }

  protected forwardCall(x: Tensor, y: ModuleArray | undefined): ForwardCall<RmsNormResult> {
    const shape = this.normalizedShape;
    return {
      run: (f) => f.rmsNorm(x, shape, { weight: this.weight?.data, eps: this.effectiveEps, out: y && { y } }),
      done: (r) => {
        const backward: BackwardCall = (dy, { grads, out }) => (f) =>
          f.rmsNormBackward(dy, x, r, shape, { weight: this.weight?.data, grads, out });
        return { y: r.y.data as ModuleArray, backward };
      },
    };
  }

  protected gradNames(): readonly GradName[] {
    return ['weight'];
  }

  protected stateEntries(): StateEntry[] {
    return parameterEntries(this.weight, null);
  }

  protected describeArguments(): string {
    return `${pyTuple(this.normalizedShape)}, eps=${this.eps === null ? 'None' : pyFloat(this.eps)}, ` +
      `elementwise_affine=${pyBool(this.elementwiseAffine)}`;
  }
}
