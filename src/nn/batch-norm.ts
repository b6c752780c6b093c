// BatchNorm1d/2d/3d: torch.nn.BatchNorm*d. Training normalizes with the batch statistics and
// updates the running ones (unbiased variance; momentum null = cumulative moving average over
// num_batches_tracked); eval normalizes with the running statistics — unless trackRunningStats
// is false, when batch statistics are used in eval too. The forward is this decision, in
// PyTorch's _BatchNorm.forward order, followed by one functional batchNorm call.
import type { BackwardResult, Tensor } from '../index.js';
import { channelDims, checkChannels, checkRank, RunningStatsNorm, type RunningStatsNormOptions } from './channel-norm.js';
import { formatShape } from './check.js';
import { MODULE_DTYPES, type ModuleArray } from './dtypes.js';
import type { BackwardCall, ForwardCall } from './module.js';

export type BatchNormModuleOptions = RunningStatsNormOptions;

type Result = { y: Tensor; mean: ModuleArray; rstd: ModuleArray } | null;

abstract class BatchNorm extends RunningStatsNorm {
  /** The input ranks the layer accepts and how they read (e.g. [4], '(N, C, H, W)'). */
  protected abstract readonly ranks: readonly number[];
  protected abstract readonly form: string;

  constructor(numFeatures: number, opts?: BatchNormModuleOptions) {
    super(numFeatures, opts, { affine: true, trackRunningStats: true }, true);
  }

  protected forwardCall(x: Tensor, y: ModuleArray | undefined): ForwardCall<Result> {
    checkRank(this.name, x.shape, this.ranks, this.form);
    const { n, c, s, channelAxis } = channelDims(x.shape, this.layout);
    if (this.usesNumFeatures) checkChannels(this.name, x.shape, channelAxis, this.numFeatures, 'numFeatures');
    const updating = this.training && this.trackRunningStats;
    const batchStats = this.training || !this.trackRunningStats;
    const weight = this.weight?.data;
    const bias = this.bias?.data;
    const layout = this.layout;
    const countAfter = updating ? (this.numBatchesTracked as number) + 1 : null;
    const commit = () => {
      if (countAfter !== null) this.numBatchesTracked = countAfter;
    };
    if (batchStats && n * s === 1)
      throw new RangeError(`x: ${this.name} with batch statistics needs more than 1 value per channel ` +
        `(got shape ${formatShape(x.shape)}), as in PyTorch`);
    if (batchStats && n * s === 0 && c > 0) return this.emptyBatch(y, commit);

    // the running statistics' weight for this batch: momentum, or 1/count for the cumulative average
    const factor = this.momentum ?? (countAfter === null ? undefined : 1 / countAfter);
    return {
      run: (f) => f.batchNorm(x, {
        weight, bias, eps: this.eps, layout, training: batchStats, out: y && { y },
        ...(updating || !batchStats ? { runningMean: this.runningMean as ModuleArray, runningVar: this.runningVar as ModuleArray } : {}),
        ...(updating ? { momentum: factor } : {}),
      }),
      done: (r) => {
        commit();
        const result = r as NonNullable<Result>;
        const backward: BackwardCall = (dy, { grads, out }) => (f) =>
          f.batchNormBackward(dy, x, result, { weight: this.weight?.data, training: batchStats, layout, grads, out });
        return { y: result.y.data as ModuleArray, backward };
      },
    };
  }

  /** An empty batch: PyTorch returns an empty y, leaves the running statistics alone and counts the batch. */
  private emptyBatch(y: ModuleArray | undefined, commit: () => void): ForwardCall<Result> {
    const array = MODULE_DTYPES[this.dtype].array;
    return {
      run: () => null,
      done: () => {
        commit();
        const backward: BackwardCall = (dy, { out }) => () => {
          const result: BackwardResult = { dx: { data: out.dx ?? new array(0), shape: dy.shape.slice() } };
          if (out.dweight) result.dweight = out.dweight.fill(0);
          if (out.dbias) result.dbias = out.dbias.fill(0);
          return result;
        };
        return { y: y ?? new array(0), backward };
      },
    };
  }
}

/**
 * torch.nn.BatchNorm1d: input (N, C) or (N, C, L) — (N, L, C) with layout 'NHWC'.
 * @example
 * import { BatchNorm1d } from 'fastnorm/nn';
 * const bn = new BatchNorm1d(16, { momentum: null });      // cumulative moving average
 * const y = bn.forward({ data: new Float32Array(32 * 16), shape: [32, 16] });
 */
export class BatchNorm1d extends BatchNorm {
  protected readonly ranks = [2, 3];
  protected readonly form = '(N, C) or (N, C, L)';
}

/**
 * torch.nn.BatchNorm2d: input (N, C, H, W) — (N, H, W, C) with layout 'NHWC'.
 * @example
 * import { BatchNorm2d } from 'fastnorm/nn';
 * const bn = new BatchNorm2d(64);
 * const y = bn.forward({ data: new Float32Array(8 * 64 * 56 * 56), shape: [8, 64, 56, 56] });
 * const dx = bn.backward({ data: dyData, shape: y.shape });   // bn.weight.grad, bn.bias.grad
 * bn.eval();                                                  // now normalizes with the running statistics
 */
export class BatchNorm2d extends BatchNorm {
  protected readonly ranks = [4];
  protected readonly form = '(N, C, H, W)';
}

/**
 * torch.nn.BatchNorm3d: input (N, C, D, H, W) — (N, D, H, W, C) with layout 'NHWC'.
 * @example
 * import { BatchNorm3d } from 'fastnorm/nn';
 * const bn = new BatchNorm3d(8, { layout: 'NHWC' });
 * const y = bn.forward({ data: new Float32Array(2 * 4 * 4 * 4 * 8), shape: [2, 4, 4, 4, 8] });
 */
export class BatchNorm3d extends BatchNorm {
  protected readonly ranks = [5];
  protected readonly form = '(N, C, D, H, W)';
}
