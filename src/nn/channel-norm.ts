// What the channel norms share: the input seen as (N, C, spatial) in its layout, rank and
// channel checks, and PyTorch's _NormBase — per-channel weight/bias (`affine`) and running
// statistics (`trackRunningStats`) with num_batches_tracked — for BatchNorm and InstanceNorm.
import {
  checkBoolean, checkCount, checkDType, checkEps, checkLayout, checkMomentum, checkOptions, formatShape, type Layout,
} from './check.js';
import { MODULE_DTYPES, type ModuleArray, type ModuleDType, type TypedTensor } from './dtypes.js';
import { NormModule } from './module.js';
import { filledParameter } from './parameter.js';
import { pyBool, pyFloat } from './repr.js';
import { floatEntry, parameterEntries, type StateEntry } from './state-dict.js';

export type { Layout };

/** A shape seen as N samples × C channels × S spatial positions in `layout` (rank >= 2). */
export function channelDims(shape: readonly number[], layout: Layout): { n: number; c: number; s: number; channelAxis: number } {
  const channelAxis = layout === 'NHWC' ? shape.length - 1 : 1;
  let s = 1;
  for (let i = 1; i < shape.length; i++) if (i !== channelAxis) s *= shape[i];
  return { n: shape[0], c: shape[channelAxis], s, channelAxis };
}

/** x must have one of the ranks a layer accepts, as PyTorch's `_check_input_dim`. */
export function checkRank(moduleName: string, shape: readonly number[], ranks: readonly number[], form: string): void {
  if (!ranks.includes(shape.length))
    throw new RangeError(`x must be ${ranks.map((r) => `${r}-D`).join(' or ')} ${form} for ${moduleName}, ` +
      `got shape ${formatShape(shape)} (${shape.length}-D)`);
}

/** The input's channel count must be the layer's when it has per-channel parameters or statistics. */
export function checkChannels(moduleName: string, shape: readonly number[], axis: number, expected: number, what: string): void {
  if (shape[axis] !== expected)
    throw new RangeError(`x has ${shape[axis]} channels (dim ${axis} of shape ${formatShape(shape)}) but this ` +
      `${moduleName} has ${what} = ${expected}`);
}

export interface RunningStatsNormOptions {
  /** Added to the variance. Default 1e-5. */
  eps?: number;
  /** Weight of the new batch in the running statistics. Default 0.1. */
  momentum?: number | null;
  /** true: learnable per-channel weight (ones) and bias (zeros). */
  affine?: boolean;
  /** true: keep running statistics, updated in training and used in eval. */
  trackRunningStats?: boolean;
  /** 'NCHW' (default): (N, C, *spatial); 'NHWC': (N, *spatial, C). */
  layout?: Layout;
  /** 'float32' (default) or 'float64'. */
  dtype?: ModuleDType;
}

const OPTIONS = ['eps', 'momentum', 'affine', 'trackRunningStats', 'layout', 'dtype'] as const;

/**
 * PyTorch's _NormBase: what BatchNorm and InstanceNorm share — numFeatures, eps, momentum,
 * affine, trackRunningStats, layout and the running statistics.
 * @example
 * import { RunningStatsNorm } from 'fastnorm/nn';
 * for (const layer of layers) if (layer instanceof RunningStatsNorm) layer.resetRunningStats();
 */
export abstract class RunningStatsNorm extends NormModule {
  readonly numFeatures: number;
  readonly eps: number;
  /** null (BatchNorm only): the running statistics are the cumulative average of every batch. */
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  readonly layout: Layout;
  /** Per-channel running mean (zeros at first), or null without trackRunningStats. */
  readonly runningMean: ModuleArray | null;
  /** Per-channel running unbiased variance (ones at first), or null without trackRunningStats. */
  readonly runningVar: ModuleArray | null;
  #numBatchesTracked: number | null;

  protected constructor(numFeatures: unknown, opts: unknown, defaults: { affine: boolean; trackRunningStats: boolean },
    momentumMayBeNull: boolean) {
    const c = checkCount('numFeatures', numFeatures, 0);
    const o = checkOptions<RunningStatsNormOptions>('opts', opts, OPTIONS);
    const dtype = checkDType('opts.dtype', o.dtype);
    const affine = checkBoolean('opts.affine', o.affine, defaults.affine);
    const track = checkBoolean('opts.trackRunningStats', o.trackRunningStats, defaults.trackRunningStats);
    const eps = checkEps('opts.eps', o.eps, 1e-5);
    const momentum = checkMomentum('opts.momentum', o.momentum, momentumMayBeNull);
    const layout = checkLayout('opts.layout', o.layout);
    super(dtype, affine ? filledParameter(dtype, [c], 1) : null, affine ? filledParameter(dtype, [c], 0) : null);
    this.numFeatures = c;
    this.eps = eps;
    this.momentum = momentum;
    this.affine = affine;
    this.trackRunningStats = track;
    this.layout = layout;
    const array = MODULE_DTYPES[dtype].array;
    this.runningMean = track ? new array(c) : null;
    this.runningVar = track ? new array(c).fill(1) : null;
    this.#numBatchesTracked = track ? 0 : null;
  }

  /**
   * Training forwards counted so far (BatchNorm; InstanceNorm keeps it at 0, as PyTorch does), or
   * null without trackRunningStats. With `momentum: null` it sets the cumulative average's weight.
   * @example
   * bn.forward(x);
   * bn.numBatchesTracked;   // 1
   */
  get numBatchesTracked(): number | null {
    return this.#numBatchesTracked;
  }

  set numBatchesTracked(n: number | null) {
    if (this.#numBatchesTracked === null) {
      if (n !== null) throw new TypeError(`numBatchesTracked must stay null: this ${this.name} has trackRunningStats false`);
      return;
    }
    this.#numBatchesTracked = checkCount('numBatchesTracked', n, 0);
  }

  /**
   * Running mean to zeros, running variance to ones, numBatchesTracked to 0.
   * @example
   * bn.resetRunningStats();
   */
  resetRunningStats(): void {
    this.runningMean?.fill(0);
    this.runningVar?.fill(1);
    if (this.#numBatchesTracked !== null) this.#numBatchesTracked = 0;
  }

  /**
   * resetRunningStats(), and weight to ones, bias to zeros.
   * @example
   * bn.resetParameters();
   */
  resetParameters(): void {
    this.resetRunningStats();
    super.resetParameters();
  }

  /** Whether the input's channel count must equal numFeatures (only what uses it checks it, as in PyTorch). */
  protected get usesNumFeatures(): boolean {
    return this.affine || this.trackRunningStats;
  }

  protected stateEntries(): StateEntry[] {
    const c = [this.numFeatures];
    const entries = parameterEntries(this.weight, this.bias);
    if (this.runningMean && this.runningVar) {
      entries.push(floatEntry('running_mean', 'buffer', this.runningMean, c, this.dtype));
      entries.push(floatEntry('running_var', 'buffer', this.runningVar, c, this.dtype));
      entries.push({
        key: 'num_batches_tracked', kind: 'buffer', accepts: 'int64', shape: [], optional: true,
        validate: (v) => {
          const n = (v.data as BigInt64Array)[0];
          return n >= 0n && n <= BigInt(Number.MAX_SAFE_INTEGER) ? null : `num_batches_tracked must be from 0 to 2^53 - 1, got ${n}`;
        },
        read: (): TypedTensor => ({ data: BigInt64Array.of(BigInt(this.numBatchesTracked ?? 0)), shape: [], dtype: 'int64' }),
        write: (v) => {
          this.#numBatchesTracked = Number((v.data as BigInt64Array)[0]);
        },
      });
    }
    return entries;
  }

  protected describeArguments(): string {
    return `${this.numFeatures}, eps=${pyFloat(this.eps)}, momentum=${this.momentum === null ? 'None' : pyFloat(this.momentum)}, ` +
      `affine=${pyBool(this.affine)}, track_running_stats=${pyBool(this.trackRunningStats)}`;
  }
}
