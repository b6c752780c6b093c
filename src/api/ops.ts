// The public operations of one backend, built from the planners: each op validates and
// allocates (the planner), then runs the named kernel synchronously (createOps) or on the libuv
// thread pool as a Promise (createAsyncOps). A new op adds a planner and a line below.
import type { AsyncKernels, Kernels } from '../backends/kernels.js';
import type {
  BackwardResult, BatchNormBackwardOptions, BatchNormGradSums, BatchNormOptions, BatchNormStats, FloatArray, Layout,
  GroupNormBackwardOptions, GroupNormOptions, InstanceNormBackwardOptions, InstanceNormOptions,
  LayerNormBackwardOptions, LayerNormOptions, LayerNormResult, RmsNormBackwardOptions,
  RmsNormOptions, RmsNormResult, Tensor,
} from './types.js';
import type { Plan } from './plan.js';
import {
  planBatchNorm, planBatchNormBackward, planBatchNormBackwardElemt, planBatchNormBackwardReduce, planBatchNormElemt,
  planBatchNormStats,
} from './batch-norm.js';
import { planGroupNorm, planGroupNormBackward, planInstanceNorm, planInstanceNormBackward } from './group-norm.js';
import { planLayerNorm, planLayerNormBackward, planRmsNorm, planRmsNormBackward } from './row-norm.js';

const planners = {
  layerNorm: planLayerNorm,
  layerNormBackward: planLayerNormBackward,
  rmsNorm: planRmsNorm,
  rmsNormBackward: planRmsNormBackward,
  batchNorm: planBatchNorm,
  batchNormBackward: planBatchNormBackward,
  batchNormStats: planBatchNormStats,
  batchNormElemt: planBatchNormElemt,
  batchNormBackwardReduce: planBatchNormBackwardReduce,
  batchNormBackwardElemt: planBatchNormBackwardElemt,
  groupNorm: planGroupNorm,
  groupNormBackward: planGroupNormBackward,
  instanceNorm: planInstanceNorm,
  instanceNormBackward: planInstanceNormBackward,
} as const;

type Planner = (...args: never[]) => Plan;

/** The synchronous operations (TSDoc on each is in README and index.ts). */
export interface Ops {
  /**
   * LayerNorm over the trailing `normalizedShape` dims: y = (x − mean)·rstd·weight + bias per row.
   * @example
   * const { y, mean, rstd } = fastnorm.layerNorm({ data, shape: [4, 768] }, 768, { weight, bias });
   */
  layerNorm<A extends FloatArray>(x: Tensor<A>, normalizedShape: number | readonly number[], opts?: LayerNormOptions<A>): LayerNormResult<A>;
  /**
   * Gradients of layerNorm: dx, and dweight/dbias when a weight is passed (or as `grads` asks).
   * @example
   * const { dx, dweight, dbias } = fastnorm.layerNormBackward(dy, x, { mean, rstd }, 768, { weight });
   */
  layerNormBackward<A extends FloatArray>(dy: Tensor<A>, x: Tensor<A>, saved: { mean: A; rstd: A },
    normalizedShape: number | readonly number[], opts?: LayerNormBackwardOptions<A>): BackwardResult<A>;
  /**
   * RMSNorm: y = x·rsqrt(mean(x²) + eps)·weight over the trailing dims (eps defaults to 1e-6).
   * @example
   * const { y, rstd } = fastnorm.rmsNorm(x, 768, { weight });
   */
  rmsNorm<A extends FloatArray>(x: Tensor<A>, normalizedShape: number | readonly number[], opts?: RmsNormOptions<A>): RmsNormResult<A>;
  /**
   * Gradients of rmsNorm: dx, and dweight when a weight is passed.
   * @example
   * const { dx, dweight } = fastnorm.rmsNormBackward(dy, x, { rstd }, 768, { weight });
   */
  rmsNormBackward<A extends FloatArray>(dy: Tensor<A>, x: Tensor<A>, saved: { rstd: A },
    normalizedShape: number | readonly number[], opts?: RmsNormBackwardOptions<A>): BackwardResult<A>;
  /**
   * BatchNorm: statistics per channel over N and every spatial position ('NCHW' or 'NHWC').
   * Training (default) normalizes with the batch statistics and updates running stats in place;
   * `training: false` uses the running statistics.
   * @example
   * const { y, mean, rstd } = fastnorm.batchNorm(x, { weight, bias, runningMean, runningVar });
   */
  batchNorm<A extends FloatArray>(x: Tensor<A>, opts?: BatchNormOptions<A>): { y: Tensor<A>; mean: A; rstd: A };
  /**
   * Gradients of batchNorm (training: through the batch statistics; eval: through fixed ones).
   * @example
   * const { dx, dweight, dbias } = fastnorm.batchNormBackward(dy, x, { mean, rstd }, { weight });
   */
  batchNormBackward<A extends FloatArray>(dy: Tensor<A>, x: Tensor<A>, saved: { mean: A; rstd: A },
    opts?: BatchNormBackwardOptions<A>): BackwardResult<A>;
  /**
   * Synchronized BatchNorm, step 1: per-channel partial statistics { count, mean, m2 } of a shard.
   * @example
   * const part = fastnorm.batchNormStats(shard, { layout: 'NHWC' });
   */
  batchNormStats(x: Tensor, opts?: { layout?: Layout }): BatchNormStats;
  /**
   * Synchronized BatchNorm, step 3: y = (x − mean)·rstd·weight + bias with given statistics.
   * @example
   * const { y } = fastnorm.batchNormElemt(shard, fastnorm.batchNormGatherStats(parts), { weight, bias });
   */
  batchNormElemt<A extends FloatArray>(x: Tensor<A>, stats: { mean: A; rstd: A },
    opts?: { weight?: A; bias?: A; layout?: Layout; out?: { y?: A } }): { y: Tensor<A> };
  /**
   * Synchronized BatchNorm backward, step 1: per-channel Σdy and Σdy·(x − mean) of a shard.
   * @example
   * const sums = fastnorm.batchNormBackwardReduce(dyShard, shard, { mean });
   */
  batchNormBackwardReduce<A extends FloatArray>(dy: Tensor<A>, x: Tensor<A>, saved: { mean: A }, opts?: { layout?: Layout }): BatchNormGradSums;
  /**
   * Synchronized BatchNorm backward, step 2: dx of a shard from the sums over all shards.
   * @example
   * const { dx } = fastnorm.batchNormBackwardElemt(dyShard, shard, { mean, rstd }, { sumDy, sumDyXmu, count }, { weight });
   */
  batchNormBackwardElemt<A extends FloatArray>(dy: Tensor<A>, x: Tensor<A>, saved: { mean: A; rstd: A },
    sums: BatchNormGradSums & { count: number }, opts?: Omit<BatchNormBackwardOptions<A>, 'training'>): BackwardResult<A>;
  /**
   * GroupNorm: statistics per (sample, group of C/numGroups channels) over those channels and every
   * spatial position; per-channel weight/bias. `mean`/`rstd` hold N × numGroups values (n-major).
   * 'NCHW' (N, C, *spatial) or 'NHWC' (N, *spatial, C), each computed in its own layout.
   * @example
   * const x = { data: new Float32Array(2 * 64 * 32 * 32), shape: [2, 64, 32, 32] };
   * const { y, mean, rstd } = fastnorm.groupNorm(x, 32, { weight, bias });    // weight, bias: 64 values
   * fastnorm.groupNorm({ data, shape: [2, 32, 32, 64] }, 32, { layout: 'NHWC' });
   */
  groupNorm<A extends FloatArray>(x: Tensor<A>, numGroups: number, opts?: GroupNormOptions<A>): { y: Tensor<A>; mean: A; rstd: A };
  /**
   * Gradients of groupNorm: dx, and dweight/dbias (C values) when a weight is passed (or as `grads` asks).
   * @example
   * const { dx, dweight, dbias } = fastnorm.groupNormBackward(dy, x, { mean, rstd }, 32, { weight });
   */
  groupNormBackward<A extends FloatArray>(dy: Tensor<A>, x: Tensor<A>, saved: { mean: A; rstd: A }, numGroups: number,
    opts?: GroupNormBackwardOptions<A>): BackwardResult<A>;
  /**
   * InstanceNorm: statistics per (sample, channel) over the spatial positions (GroupNorm with
   * numGroups = C). With `runningMean`/`runningVar` they are updated in place as PyTorch's
   * track_running_stats does; `useInputStats: false` normalizes with them instead. `mean`/`rstd`: N × C.
   * @example
   * const { y, mean, rstd } = fastnorm.instanceNorm(x, { weight, bias, runningMean, runningVar, momentum: 0.1 });
   * fastnorm.instanceNorm(x, { runningMean, runningVar, useInputStats: false });   // eval with running stats
   */
  instanceNorm<A extends FloatArray>(x: Tensor<A>, opts?: InstanceNormOptions<A>): { y: Tensor<A>; mean: A; rstd: A };
  /**
   * Gradients of instanceNorm (useInputStats: false — through the running statistics, constants).
   * @example
   * const { dx, dweight, dbias } = fastnorm.instanceNormBackward(dy, x, { mean, rstd }, { weight });
   */
  instanceNormBackward<A extends FloatArray>(dy: Tensor<A>, x: Tensor<A>, saved: { mean: A; rstd: A },
    opts?: InstanceNormBackwardOptions<A>): BackwardResult<A>;
}


/** The same operations, each returning a Promise. */
export type AsyncOps = { [K in keyof Ops]: (...args: Parameters<Ops[K]>) => Promise<ReturnType<Ops[K]>> };

export function createOps(kernels: Kernels): Ops {
  const ops: Record<string, unknown> = {};
  for (const [name, planner] of Object.entries(planners) as [string, Planner][]) {
    ops[name] = (...args: never[]) => {
      const p = planner(...args);
      (kernels[p.kernel] as (...a: unknown[]) => void)(...p.args);
      return p.result;
    };
  }
  return ops as unknown as Ops;
}

export function createAsyncOps(kernels: AsyncKernels): AsyncOps {
  const ops: Record<string, unknown> = {};
  for (const [name, planner] of Object.entries(planners) as [string, Planner][]) {
    // async: a validation error becomes a rejection, thrown here with the caller's stack
    ops[name] = async (...args: never[]) => {
      const p = planner(...args);
      try {
        await (kernels[`${p.kernel}Async`] as (...a: unknown[]) => Promise<void>)(...p.args);
      } catch (e) {
        // a kernel failure (out of scratch memory) is created when the worker settles, with no
        // JavaScript frames: give it this call's stack (V8 keeps the awaiting callers' frames)
        if (e instanceof Error) Error.captureStackTrace(e);
        throw e;
      }
      return p.result;
    };
  }
  return ops as unknown as AsyncOps;
}
