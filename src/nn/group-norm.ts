// GroupNorm: torch.nn.GroupNorm. Statistics per (sample, group of numChannels/numGroups
// channels) over those channels and every spatial position, a per-channel weight and bias, the
// same in training and eval (no running statistics).
import type { Tensor } from '../index.js';
import { channelDims, checkChannels } from './channel-norm.js';
import { checkBoolean, checkCount, checkDType, checkEps, checkLayout, checkOptions, formatShape, type Layout } from './check.js';
import type { ModuleArray, ModuleDType } from './dtypes.js';
import { NormModule, type BackwardCall, type ForwardCall } from './module.js';
import { filledParameter } from './parameter.js';
import { pyBool, pyFloat } from './repr.js';
import { parameterEntries, type StateEntry } from './state-dict.js';

export interface GroupNormModuleOptions {
  /** Added to the variance. Default 1e-5. */
  eps?: number;
  /** true (default): learnable per-channel weight (ones) and bias (zeros). */
  affine?: boolean;
  /** 'NCHW' (default): (N, C, *spatial); 'NHWC': (N, *spatial, C). */
  layout?: Layout;
  /** 'float32' (default) or 'float64'. */
  dtype?: ModuleDType;
}

const OPTIONS = ['eps', 'affine', 'layout', 'dtype'] as const;

type Result = { y: Tensor; mean: ModuleArray; rstd: ModuleArray };

/**
 * torch.nn.GroupNorm: input (N, C, *spatial) (channels last with layout 'NHWC'), any number of
 * spatial dims, C = numChannels divisible by numGroups.
 * @example
 * import { GroupNorm } from 'fastnorm/nn';
 * const gn = new GroupNorm(32, 320);
 * const y = gn.forward({ data: new Float32Array(2 * 320 * 64 * 64), shape: [2, 320, 64, 64] });
 * const dx = gn.backward({ data: dyData, shape: y.shape });
 */
export class GroupNorm extends NormModule {
  readonly numGroups: number;
  readonly numChannels: number;
  readonly eps: number;
  readonly affine: boolean;
  readonly layout: Layout;

  constructor(numGroups: number, numChannels: number, opts?: GroupNormModuleOptions) {
    const g = checkCount('numGroups', numGroups, 1);
    const c = checkCount('numChannels', numChannels, 0);
    if (c % g !== 0) throw new RangeError(`numChannels (${c}) must be divisible by numGroups (${g})`);
    const o = checkOptions<GroupNormModuleOptions>('opts', opts, OPTIONS);
    const dtype = checkDType('opts.dtype', o.dtype);
    const affine = checkBoolean('opts.affine', o.affine, true);
    const eps = checkEps('opts.eps', o.eps, 1e-5);
    const layout = checkLayout('opts.layout', o.layout);
    super(dtype, affine ? filledParameter(dtype, [c], 1) : null, affine ? filledParameter(dtype, [c], 0) : null);
    this.numGroups = g;
    this.numChannels = c;
    this.eps = eps;
    this.affine = affine;
    this.layout = layout;
  }

  protected forwardCall(x: Tensor, y: ModuleArray | undefined): ForwardCall<Result> {
    if (x.shape.length < 2)
      throw new RangeError(`x must have at least 2 dims (N, C, *spatial) for GroupNorm, got shape ${formatShape(x.shape)}`);
    const { n, c, s, channelAxis } = channelDims(x.shape, this.layout);
    if (this.affine) checkChannels(this.name, x.shape, channelAxis, this.numChannels, 'numChannels');
    // PyTorch's check, on (N·C/G, G, *spatial): one value per group of a single sample is refused
    if (c % this.numGroups === 0 && (n * c / this.numGroups) * s === 1)
      throw new RangeError(`x: GroupNorm needs more than 1 value per group (got shape ${formatShape(x.shape)} with ` +
        `${this.numGroups} groups), as in PyTorch`);
    const layout = this.layout;
    const groups = this.numGroups;
    return {
      run: (f) => f.groupNorm(x, groups, { weight: this.weight?.data, bias: this.bias?.data, eps: this.eps, layout, out: y && { y } }),
      done: (r) => {
        const backward: BackwardCall = (dy, { grads, out }) => (f) =>
          f.groupNormBackward(dy, x, r, groups, { weight: this.weight?.data, layout, grads, out });
        return { y: r.y.data as ModuleArray, backward };
      },
    };
  }

  protected stateEntries(): StateEntry[] {
    return parameterEntries(this.weight, this.bias);
  }

  protected describeArguments(): string {
    return `${this.numGroups}, ${this.numChannels}, eps=${pyFloat(this.eps)}, affine=${pyBool(this.affine)}`;
  }
}
