// InstanceNorm1d/2d/3d: torch.nn.InstanceNorm*d. Statistics per (sample, channel) over the
// spatial positions; by default no affine parameters and no running statistics (PyTorch's
// defaults). With trackRunningStats, training updates the running statistics and eval uses
// them. An unbatched input (no N) is normalized as a batch of one, as PyTorch does.
import type { Tensor } from '../index.js';
import { channelDims, checkChannels, checkRank, RunningStatsNorm, type RunningStatsNormOptions } from './channel-norm.js';
import { formatShape } from './check.js';
import type { ModuleArray } from './dtypes.js';
import type { BackwardCall, ForwardCall } from './module.js';

export interface InstanceNormModuleOptions extends Omit<RunningStatsNormOptions, 'momentum'> {
  /** Weight of the new batch in the running statistics. Default 0.1. (PyTorch's F.instance_norm refuses None.) */
  momentum?: number;
}

type Result = { y: Tensor; mean: ModuleArray; rstd: ModuleArray };

const REFUSED_WITHOUT_TRACKING = 'this InstanceNorm has trackRunningStats false, so the checkpoint\'s running statistics ' +
  'would be ignored; remove them, or construct the layer with trackRunningStats: true (PyTorch refuses them too)';

abstract class InstanceNorm extends RunningStatsNorm {
  /** The rank of an unbatched input (C, *spatial): 2, 3 or 4. */
  protected abstract readonly unbatchedRank: number;
  protected abstract readonly form: string;

  constructor(numFeatures: number, opts?: InstanceNormModuleOptions) {
    super(numFeatures, opts, { affine: false, trackRunningStats: false }, false);
  }

  protected callShape(shape: readonly number[]): readonly number[] {
    return shape.length === this.unbatchedRank ? [1, ...shape] : shape;
  }

  protected refusedKeys(): Record<string, string> {
    return this.trackRunningStats ? {} : { running_mean: REFUSED_WITHOUT_TRACKING, running_var: REFUSED_WITHOUT_TRACKING };
  }

  protected forwardCall(x: Tensor, y: ModuleArray | undefined): ForwardCall<Result> {
    checkRank(this.name, x.shape, [this.unbatchedRank, this.unbatchedRank + 1], this.form);
    const view: Tensor = { data: x.data, shape: this.callShape(x.shape) };
    const { s, channelAxis } = channelDims(view.shape, this.layout);
    if (this.usesNumFeatures)
      checkChannels(this.name, x.shape, channelAxis - (view.shape.length - x.shape.length), this.numFeatures, 'numFeatures');
    const useInputStats = this.training || !this.trackRunningStats;
    if (useInputStats && s === 1)
      throw new RangeError(`x: ${this.name} with instance statistics needs more than 1 spatial position ` +
        `(got shape ${formatShape(x.shape)}), as in PyTorch`);
    const layout = this.layout;
    const running = this.trackRunningStats
      ? { runningMean: this.runningMean as ModuleArray, runningVar: this.runningVar as ModuleArray, momentum: this.momentum as number }
      : {};
    return {
      run: (f) => f.instanceNorm(view, {
        weight: this.weight?.data, bias: this.bias?.data, eps: this.eps, layout, useInputStats, out: y && { y }, ...running,
      }),
      done: (r) => {
        const backward: BackwardCall = (dy, { grads, out }) => (f) =>
          f.instanceNormBackward(dy, view, r, { weight: this.weight?.data, useInputStats, layout, grads, out });
        return { y: r.y.data as ModuleArray, backward };
      },
    };
  }
}

/**
 * torch.nn.InstanceNorm1d: input (N, C, L) or unbatched (C, L) — channels last with layout 'NHWC'.
 * @example
 * import { InstanceNorm1d } from 'fastnorm/nn';
 * const norm = new InstanceNorm1d(8);                         // no weight, no running statistics
 * const y = norm.forward({ data: new Float32Array(4 * 8 * 100), shape: [4, 8, 100] });
 */
export class InstanceNorm1d extends InstanceNorm {
  protected readonly unbatchedRank = 2;
  protected readonly form = '(N, C, L) or (C, L)';
}

/**
 * torch.nn.InstanceNorm2d: input (N, C, H, W) or unbatched (C, H, W).
 * @example
 * import { InstanceNorm2d } from 'fastnorm/nn';
 * const norm = new InstanceNorm2d(64, { affine: true, trackRunningStats: true });
 * const y = norm.forward({ data: new Float32Array(2 * 64 * 32 * 32), shape: [2, 64, 32, 32] });
 */
export class InstanceNorm2d extends InstanceNorm {
  protected readonly unbatchedRank = 3;
  protected readonly form = '(N, C, H, W) or (C, H, W)';
}

/**
 * torch.nn.InstanceNorm3d: input (N, C, D, H, W) or unbatched (C, D, H, W).
 * @example
 * import { InstanceNorm3d } from 'fastnorm/nn';
 * const norm = new InstanceNorm3d(4, { affine: true });
 * const y = norm.forward({ data: new Float32Array(4 * 8 * 8 * 8), shape: [4, 8, 8, 8] });   // unbatched
 */
export class InstanceNorm3d extends InstanceNorm {
  protected readonly unbatchedRank = 4;
  protected readonly form = '(N, C, D, H, W) or (C, D, H, W)';
}
