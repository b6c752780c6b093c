// BatchNorm planners (validate, derive the kernel call's sizes, name its outputs; bind.ts checks
// the arrays), including the synchronized-BatchNorm building blocks. Each op but
// batchNormGatherStats (no tensor) also takes half-precision tensors: the kernel's halfFormat row
// says so, bind resolves the dtypes (statistics float32, parameters weight's type) and the
// results carry x's dtype.
import { plan, wanted, type Plan } from './bind.js';
import { KERNELS } from './kernel-schema.js';
import { channelArgs, channelShape, checkLayout, type ChannelShape } from './layout.js';
import { backwardResult, checkGrads, checkOut, checkUnwantedOutputs, hasWeight, tensorLike } from './outputs.js';
import { checkMomentum, checkRunningOptions, checkRunningStats } from './running-stats.js';
import type {
  BackwardResult, BatchNormBackwardOptions, BatchNormGatherOptions, BatchNormGradSums, BatchNormOptions, BatchNormStats,
  FloatArray, Layout, ParamOf, StatsOf, Tensor, TensorData,
} from './types.js';
import {
  checkActivation, checkBackwardTensors, checkBoolean, checkEps, checkOptions, checkRequiredArray, checkSaved, checkTensor, halfFormatOf,
  type FloatArrayConstructor,
} from './validate.js';

const FORWARD_OPTIONS = ['weight', 'bias', 'runningMean', 'runningVar', 'training', 'momentum', 'eps', 'layout', 'activation', 'out'] as const;
const BACKWARD_OPTIONS = ['weight', 'bias', 'activation', 'training', 'layout', 'grads', 'out'] as const;
const GRAD_OUTPUTS = ['dx', 'dweight', 'dbias'];

function checkTrainingCount(s: ChannelShape): void {
  if (s.c > 0 && s.n * s.s < 2)
    throw new RangeError(`x: batchNorm training needs more than 1 value per channel (N × spatial = ${s.n * s.s}), as in PyTorch`);
}

export function planBatchNorm<A extends TensorData>(x: Tensor<A>, opts?: BatchNormOptions<A>):
  Plan<typeof KERNELS.batchNormForward, { y: Tensor<A>; mean: StatsOf<A>; rstd: StatsOf<A> }> {
  checkTensor('x', x);
  const o = checkOptions<BatchNormOptions>('opts', opts, FORWARD_OPTIONS);
  const s = channelShape(x.shape, checkLayout(o.layout));
  const { useBatch: training, momentum } = checkRunningOptions(o, 'training');
  const eps = checkEps(o.eps, 1e-5);
  const activation = checkActivation(o.activation);
  if (training) checkTrainingCount(s);
  const out = checkOut(o.out, ['y', 'mean', 'rstd']);
  return plan(KERNELS.batchNormForward, {
    x: x.data, ...channelArgs(s), weight: o.weight, bias: o.bias, runningMean: o.runningMean, runningVar: o.runningVar, momentum, eps,
    training, activation, y: out?.y, mean: out?.mean, rstd: out?.rstd, halfFormat: halfFormatOf(x),
  }, (a) => ({ y: tensorLike<A>(a.y, x), mean: a.mean as StatsOf<A>, rstd: a.rstd as StatsOf<A> }));
}

export function planBatchNormBackward<A extends TensorData>(dy: Tensor<A>, x: Tensor<A>, saved: { mean: StatsOf<A>; rstd: StatsOf<A> },
  opts?: BatchNormBackwardOptions<A>): Plan<typeof KERNELS.batchNormBackward, BackwardResult<A>> {
  checkBackwardTensors(dy, x);
  const o = checkOptions<BatchNormBackwardOptions>('opts', opts, BACKWARD_OPTIONS);
  const s = channelShape(x.shape, checkLayout(o.layout));
  const sv = checkSaved(saved);
  const training = checkBoolean('training', o.training, true);
  if (training) checkTrainingCount(s);
  const grads = checkGrads(o.grads, hasWeight(o.weight), ['weight', 'bias']);
  const out = checkOut(o.out, GRAD_OUTPUTS);
  checkUnwantedOutputs(out, grads, true);
  return plan(KERNELS.batchNormBackward, {
    dy: dy.data, x: x.data, mean: sv.mean, rstd: sv.rstd, ...channelArgs(s), weight: o.weight, bias: o.bias, training,
    activation: checkActivation(o.activation), dx: out?.dx, dweight: wanted(grads.weight, out?.dweight), dbias: wanted(grads.bias, out?.dbias),
    halfFormat: halfFormatOf(x),
  }, (a) => backwardResult<A>(a.dx, x, a.dweight, a.dbias));
}

export function planBatchNormStats(x: Tensor<TensorData>, opts?: { layout?: Layout }): Plan<typeof KERNELS.batchNormStats, BatchNormStats> {
  checkTensor('x', x);
  const o = checkOptions<{ layout: Layout }>('opts', opts, ['layout']);
  const s = channelShape(x.shape, checkLayout(o.layout));
  // buffers of their own, not carved from the shared slab: shards' statistics are often posted to other threads
  return plan(KERNELS.batchNormStats, { x: x.data, ...channelArgs(s), mean: new Float64Array(s.c), m2: new Float64Array(s.c),
    halfFormat: halfFormatOf(x) }, (a) => ({ count: s.n * s.s, mean: a.mean, m2: a.m2 }));
}

/**
 * Merges per-channel partial statistics of several shards (Chan et al., exact in float64) into
 * the batch statistics `{ mean, rstd, count }`, updating running statistics in place as
 * batchNorm training would. The shards' order is the merge order.
 */
export function planBatchNormGatherStats(parts: readonly BatchNormStats[], opts?: BatchNormGatherOptions):
  Plan<typeof KERNELS.batchNormGatherStats, { mean: FloatArray; rstd: FloatArray; count: number }> {
  if (!Array.isArray(parts) || parts.length === 0) throw new TypeError('parts must be a non-empty array of batchNormStats results');
  const o = checkOptions<BatchNormGatherOptions>('opts', opts, ['eps', 'momentum', 'runningMean', 'runningVar', 'dtype']);
  const first = parts[0];
  if (typeof first !== 'object' || first === null || !(first.mean instanceof Float64Array))
    throw new TypeError('parts[0] must be a batchNormStats result { count, mean, m2 }');
  const c = first.mean.length;
  const eps = checkEps(o.eps, 1e-5);
  const momentum = checkMomentum(o.momentum);
  if (o.dtype !== undefined && o.dtype !== 'float32' && o.dtype !== 'float64') throw new TypeError(`opts.dtype must be 'float32' or 'float64'`);
  const dtype: FloatArrayConstructor = o.runningMean instanceof Float64Array || (!o.runningMean && o.dtype === 'float64')
    ? Float64Array : Float32Array;
  checkRunningStats(o.runningMean, o.runningVar);
  // the parts, one row of C values each, for the kernel's merge in part order
  const counts = new Float64Array(parts.length);
  const means = new Float64Array(parts.length * c);
  const m2s = new Float64Array(parts.length * c);
  let count = 0;
  parts.forEach((p, k) => {
    if (typeof p !== 'object' || p === null) throw new TypeError(`parts[${k}] must be a batchNormStats result`);
    means.set(checkRequiredArray(`parts[${k}].mean`, p.mean, Float64Array, c), k * c);
    m2s.set(checkRequiredArray(`parts[${k}].m2`, p.m2, Float64Array, c), k * c);
    if (typeof p.count !== 'number' || !Number.isSafeInteger(p.count) || p.count < 0)
      throw new RangeError(`parts[${k}].count must be a non-negative integer`);
    counts[k] = p.count;
    count += p.count;
  });
  if (c > 0 && count < 2) throw new RangeError(`parts: batchNorm training needs more than 1 value per channel in all (got ${count})`);
  return plan(KERNELS.batchNormGatherStats, {
    counts, means, m2s, parts: parts.length, c, eps, momentum, runningMean: o.runningMean, runningVar: o.runningVar,
    mean: new dtype(c), rstd: new dtype(c),
  }, (a) => ({ mean: a.mean, rstd: a.rstd, count }));
}

export function planBatchNormElemt<A extends TensorData>(x: Tensor<A>, stats: { mean: FloatArray; rstd: FloatArray },
  opts?: { weight?: ParamOf<A>; bias?: ParamOf<A>; layout?: Layout; out?: { y?: A } }): Plan<typeof KERNELS.batchNormElemt, { y: Tensor<A> }> {
  checkTensor('x', x);
  const o = checkOptions<{ weight: FloatArray; bias: FloatArray; layout: Layout; out: { y?: FloatArray } }>('opts', opts,
    ['weight', 'bias', 'layout', 'out']);
  const s = channelShape(x.shape, checkLayout(o.layout));
  if (typeof stats !== 'object' || stats === null) throw new TypeError('stats must be { mean, rstd } (from batchNormGatherStats)');
  const out = checkOut(o.out, ['y']);
  return plan(KERNELS.batchNormElemt, {
    x: x.data, ...channelArgs(s), mean: stats.mean, rstd: stats.rstd, weight: o.weight, bias: o.bias, y: out?.y, halfFormat: halfFormatOf(x),
  }, (a) => ({ y: tensorLike<A>(a.y, x) }));
}

export function planBatchNormBackwardReduce<A extends TensorData>(dy: Tensor<A>, x: Tensor<A>, saved: { mean: FloatArray },
  opts?: { layout?: Layout }): Plan<typeof KERNELS.batchNormBackwardReduce, BatchNormGradSums> {
  checkBackwardTensors(dy, x);
  const o = checkOptions<{ layout: Layout }>('opts', opts, ['layout']);
  const s = channelShape(x.shape, checkLayout(o.layout));
  return plan(KERNELS.batchNormBackwardReduce, {
    dy: dy.data, x: x.data, mean: checkSaved(saved).mean, ...channelArgs(s), sumDy: new Float64Array(s.c), sumDyXmu: new Float64Array(s.c),
    halfFormat: halfFormatOf(x),
  }, (a) => ({ sumDy: a.sumDy, sumDyXmu: a.sumDyXmu }));
}

export function planBatchNormBackwardElemt<A extends TensorData>(dy: Tensor<A>, x: Tensor<A>, saved: { mean: FloatArray; rstd: FloatArray },
  sums: BatchNormGradSums & { count: number }, opts?: Omit<BatchNormBackwardOptions<A>, 'training' | 'bias' | 'activation'>):
  Plan<typeof KERNELS.batchNormBackwardElemt, BackwardResult<A>> {
  checkBackwardTensors(dy, x);
  const o = checkOptions<BatchNormBackwardOptions>('opts', opts, ['weight', 'layout', 'grads', 'out']);
  const s = channelShape(x.shape, checkLayout(o.layout));
  const sv = checkSaved(saved);
  if (typeof sums !== 'object' || sums === null) throw new TypeError('sums must be { sumDy, sumDyXmu, count }');
  if (typeof sums.count !== 'number') throw new TypeError('sums.count must be a number');
  if (!Number.isFinite(sums.count) || sums.count < 1) throw new RangeError(`sums.count must be a finite number >= 1, got ${sums.count}`);
  const grads = checkGrads(o.grads, hasWeight(o.weight), ['weight', 'bias']);
  const out = checkOut(o.out, GRAD_OUTPUTS);
  checkUnwantedOutputs(out, grads, true);
  return plan(KERNELS.batchNormBackwardElemt, {
    dy: dy.data, x: x.data, mean: sv.mean, rstd: sv.rstd, ...channelArgs(s), weight: o.weight, sumDy: sums.sumDy, sumDyXmu: sums.sumDyXmu,
    count: sums.count, dx: out?.dx, dweight: wanted(grads.weight, out?.dweight), dbias: wanted(grads.bias, out?.dbias),
    halfFormat: halfFormatOf(x),
  }, (a) => backwardResult<A>(a.dx, x, a.dweight, a.dbias));
}
