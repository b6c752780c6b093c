// The public operations of one backend, built from the planners: each op validates and
// allocates (the planner), then runs the named kernel synchronously (createOps) or on the libuv
// thread pool as a Promise (createAsyncOps). A new op adds a planner and a line below.
import type { AsyncKernels, Kernels } from '../backends/kernels.js';
import type {
  BackwardResult, BatchNormBackwardOptions, BatchNormGradSums, BatchNormOptions, BatchNormStats, FloatArray, Layout,
  LayerNormBackwardOptions, LayerNormOptions, LayerNormResult, RmsNormBackwardOptions,
  RmsNormOptions, RmsNormResult, Tensor,
} from './types.js';
import type { Plan } from './plan.js';
import {
  planBatchNorm, planBatchNormBackward, planBatchNormBackwardElemt, planBatchNormBackwardReduce, planBatchNormElemt,
  planBatchNormStats,
} from './batch-norm.js';
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
} as const;

type Planner = (...args: never[]) => Plan;

/** The synchronous operations (TSDoc on each is in README and index.ts). */
export interface Ops {
  layerNorm<A extends FloatArray>(x: Tensor<A>, normalizedShape: number | readonly number[], opts?: LayerNormOptions<A>): LayerNormResult<A>;
  layerNormBackward<A extends FloatArray>(dy: Tensor<A>, x: Tensor<A>, saved: { mean: A; rstd: A },
    normalizedShape: number | readonly number[], opts?: LayerNormBackwardOptions<A>): BackwardResult<A>;
  rmsNorm<A extends FloatArray>(x: Tensor<A>, normalizedShape: number | readonly number[], opts?: RmsNormOptions<A>): RmsNormResult<A>;
  rmsNormBackward<A extends FloatArray>(dy: Tensor<A>, x: Tensor<A>, saved: { rstd: A },
    normalizedShape: number | readonly number[], opts?: RmsNormBackwardOptions<A>): BackwardResult<A>;
  batchNorm<A extends FloatArray>(x: Tensor<A>, opts?: BatchNormOptions<A>): { y: Tensor<A>; mean: A; rstd: A };
  batchNormBackward<A extends FloatArray>(dy: Tensor<A>, x: Tensor<A>, saved: { mean: A; rstd: A },
    opts?: BatchNormBackwardOptions<A>): BackwardResult<A>;
  batchNormStats(x: Tensor, opts?: { layout?: Layout }): BatchNormStats;
  batchNormElemt<A extends FloatArray>(x: Tensor<A>, stats: { mean: A; rstd: A },
    opts?: { weight?: A; bias?: A; layout?: Layout; out?: { y?: A } }): { y: Tensor<A> };
  batchNormBackwardReduce<A extends FloatArray>(dy: Tensor<A>, x: Tensor<A>, saved: { mean: A }, opts?: { layout?: Layout }): BatchNormGradSums;
  batchNormBackwardElemt<A extends FloatArray>(dy: Tensor<A>, x: Tensor<A>, saved: { mean: A; rstd: A },
    sums: BatchNormGradSums & { count: number }, opts?: Omit<BatchNormBackwardOptions<A>, 'training'>): BackwardResult<A>;
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
      await (kernels[`${p.kernel}Async`] as (...a: unknown[]) => Promise<void>)(...p.args);
      return p.result;
    };
  }
  return ops as unknown as AsyncOps;
}
