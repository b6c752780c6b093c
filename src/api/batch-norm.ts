// BatchNorm planners (validate, allocate, name the kernel call) and the statistics merge of
// synchronized BatchNorm, which is plain arithmetic on C values and runs in TypeScript.
import { checkLayout, channelShape, shapeArgs, type ChannelShape } from './layout.js';
import { backwardOutputs, backwardResult, checkGrads, checkOut, output } from './outputs.js';
import { plan, type Plan } from './plan.js';
import { checkMomentum, checkRunningStats } from './running-stats.js';
import type {
  BackwardResult, BatchNormBackwardOptions, BatchNormGatherOptions, BatchNormGradSums, BatchNormOptions, BatchNormStats,
  FloatArray, Layout, Tensor,
} from './types.js';
import {
  checkArray, checkBoolean, checkEps, checkNoAliasing, checkOptions, checkRequiredArray, checkSameShape, checkSaved,
  checkTensor, dtypeOf, type FloatArrayConstructor,
} from './validate.js';
import { rstdOf } from '../backends/reference/row-norm.js';

const FORWARD_OPTIONS = ['weight', 'bias', 'runningMean', 'runningVar', 'training', 'momentum', 'eps', 'layout', 'out'] as const;
const BACKWARD_OPTIONS = ['weight', 'training', 'layout', 'grads', 'out'] as const;

function checkTrainingCount(s: ChannelShape): void {
  if (s.c > 0 && s.n * s.s < 2)
    throw new RangeError(`x: batchNorm training needs more than 1 value per channel (N × spatial = ${s.n * s.s}), as in PyTorch`);
}

export function planBatchNorm(x: Tensor, opts?: BatchNormOptions): Plan<{ y: Tensor; mean: FloatArray; rstd: FloatArray }> {
  checkTensor('x', x);
  const o = checkOptions<BatchNormOptions>('opts', opts, FORWARD_OPTIONS);
  const dtype = dtypeOf(x);
  const layout = checkLayout(o.layout);
  const s = channelShape(x.shape, layout);
  const weight = checkArray('weight', o.weight, dtype, s.c);
  const bias = checkArray('bias', o.bias, dtype, s.c);
  const { runningMean, runningVar } = checkRunningStats(o.runningMean, o.runningVar, dtype, s.c);
  const training = checkBoolean('training', o.training, true);
  const momentum = checkMomentum(o.momentum);
  const eps = checkEps(o.eps, 1e-5);
  if (training) checkTrainingCount(s);
  else if (!runningMean) throw new TypeError('runningMean and runningVar are required when training is false');
  const out = checkOut(o.out, ['y', 'mean', 'rstd']);
  const y = output(out, 'y', dtype, x.data.length);
  const mean = output(out, 'mean', dtype, s.c);
  const rstd = output(out, 'rstd', dtype, s.c);
  if (out || runningMean) checkNoAliasing({ 'out.y': y, 'out.mean': mean, 'out.rstd': rstd, runningMean, runningVar },
    { x: x.data, weight, bias }, ['out.y', 'x']);
  return plan('batchNormForward',
    [x.data, ...shapeArgs(s), weight, bias, runningMean, runningVar, momentum, eps, training, y, mean, rstd],
    { y: { data: y, shape: x.shape.slice() }, mean, rstd });
}

export function planBatchNormBackward(dy: Tensor, x: Tensor, saved: { mean: FloatArray; rstd: FloatArray },
  opts?: BatchNormBackwardOptions): Plan<BackwardResult> {
  checkTensor('x', x);
  const dtype = dtypeOf(x);
  checkSameShape(checkTensor('dy', dy, dtype), x);
  const o = checkOptions<BatchNormBackwardOptions>('opts', opts, BACKWARD_OPTIONS);
  const s = channelShape(x.shape, checkLayout(o.layout));
  const sv = checkSaved(saved);
  const mean = checkRequiredArray('saved.mean', sv.mean, dtype, s.c);
  const rstd = checkRequiredArray('saved.rstd', sv.rstd, dtype, s.c);
  const weight = checkArray('weight', o.weight, dtype, s.c);
  const training = checkBoolean('training', o.training, true);
  if (training) checkTrainingCount(s);
  const grads = checkGrads(o.grads, weight !== null, ['weight', 'bias']);
  const { out, dx, dweight, dbias } = backwardOutputs(grads, o.out, dtype, x.data.length, s.c);
  if (out) checkNoAliasing({ 'out.dx': dx, 'out.dweight': dweight, 'out.dbias': dbias },
    { dy: dy.data, x: x.data, 'saved.mean': mean, 'saved.rstd': rstd, weight });
  return plan('batchNormBackward', [dy.data, x.data, mean, rstd, ...shapeArgs(s), weight, training, dx, dweight, dbias],
    backwardResult(dx, x, dweight, dbias));
}

export function planBatchNormStats(x: Tensor, opts?: { layout?: Layout }): Plan<BatchNormStats> {
  checkTensor('x', x);
  const o = checkOptions<{ layout: Layout }>('opts', opts, ['layout']);
  const s = channelShape(x.shape, checkLayout(o.layout));
  const mean = new Float64Array(s.c);
  const m2 = new Float64Array(s.c);
  return plan('batchNormStats', [x.data, ...shapeArgs(s), mean, m2], { count: s.n * s.s, mean, m2 });
}

export function planBatchNormElemt(x: Tensor, stats: { mean: FloatArray; rstd: FloatArray },
  opts?: { weight?: FloatArray; bias?: FloatArray; layout?: Layout; out?: { y?: FloatArray } }): Plan<{ y: Tensor }> {
  checkTensor('x', x);
  const dtype = dtypeOf(x);
  const o = checkOptions<{ weight: FloatArray; bias: FloatArray; layout: Layout; out: { y?: FloatArray } }>('opts', opts,
    ['weight', 'bias', 'layout', 'out']);
  const s = channelShape(x.shape, checkLayout(o.layout));
  if (typeof stats !== 'object' || stats === null) throw new TypeError('stats must be { mean, rstd } (from batchNormGatherStats)');
  const mean = checkRequiredArray('stats.mean', stats.mean, dtype, s.c);
  const rstd = checkRequiredArray('stats.rstd', stats.rstd, dtype, s.c);
  const weight = checkArray('weight', o.weight, dtype, s.c);
  const bias = checkArray('bias', o.bias, dtype, s.c);
  const out = checkOut(o.out, ['y']);
  const y = output(out, 'y', dtype, x.data.length);
  if (out) checkNoAliasing({ 'out.y': y }, { x: x.data, 'stats.mean': mean, 'stats.rstd': rstd, weight, bias }, ['out.y', 'x']);
  return plan('batchNormApply', [x.data, ...shapeArgs(s), mean, rstd, weight, bias, y], { y: { data: y, shape: x.shape.slice() } });
}

export function planBatchNormBackwardReduce(dy: Tensor, x: Tensor, saved: { mean: FloatArray },
  opts?: { layout?: Layout }): Plan<BatchNormGradSums> {
  checkTensor('x', x);
  const dtype = dtypeOf(x);
  checkSameShape(checkTensor('dy', dy, dtype), x);
  const o = checkOptions<{ layout: Layout }>('opts', opts, ['layout']);
  const s = channelShape(x.shape, checkLayout(o.layout));
  const mean = checkRequiredArray('saved.mean', checkSaved(saved).mean, dtype, s.c);
  const sumDy = new Float64Array(s.c);
  const sumDyXmu = new Float64Array(s.c);
  return plan('batchNormBackwardReduce', [dy.data, x.data, mean, ...shapeArgs(s), sumDy, sumDyXmu], { sumDy, sumDyXmu });
}

export function planBatchNormBackwardElemt(dy: Tensor, x: Tensor, saved: { mean: FloatArray; rstd: FloatArray },
  sums: BatchNormGradSums & { count: number }, opts?: BatchNormBackwardOptions): Plan<BackwardResult> {
  checkTensor('x', x);
  const dtype = dtypeOf(x);
  checkSameShape(checkTensor('dy', dy, dtype), x);
  const o = checkOptions<BatchNormBackwardOptions>('opts', opts, ['weight', 'layout', 'grads', 'out']);
  const s = channelShape(x.shape, checkLayout(o.layout));
  const sv = checkSaved(saved);
  const mean = checkRequiredArray('saved.mean', sv.mean, dtype, s.c);
  const rstd = checkRequiredArray('saved.rstd', sv.rstd, dtype, s.c);
  if (typeof sums !== 'object' || sums === null) throw new TypeError('sums must be { sumDy, sumDyXmu, count }');
  const sumDy = checkRequiredArray('sums.sumDy', sums.sumDy, Float64Array, s.c) as Float64Array;
  const sumDyXmu = checkRequiredArray('sums.sumDyXmu', sums.sumDyXmu, Float64Array, s.c) as Float64Array;
  if (typeof sums.count !== 'number') throw new TypeError('sums.count must be a number');
  if (!Number.isFinite(sums.count) || sums.count < 1) throw new RangeError(`sums.count must be a finite number >= 1, got ${sums.count}`);
  const weight = checkArray('weight', o.weight, dtype, s.c);
  const grads = checkGrads(o.grads, weight !== null, ['weight', 'bias']);
  const { out, dx, dweight, dbias } = backwardOutputs(grads, o.out, dtype, x.data.length, s.c);
  if (out) checkNoAliasing({ 'out.dx': dx, 'out.dweight': dweight, 'out.dbias': dbias },
    { dy: dy.data, x: x.data, 'saved.mean': mean, 'saved.rstd': rstd, weight, 'sums.sumDy': sumDy, 'sums.sumDyXmu': sumDyXmu });
  // the parameter gradients follow from the (all-reduced) sums directly
  for (let c = 0; c < s.c; c++) {
    if (dweight) dweight[c] = sumDyXmu[c] * rstd[c];
    if (dbias) dbias[c] = sumDy[c];
  }
  return plan('batchNormBackwardApply', [dy.data, x.data, mean, rstd, ...shapeArgs(s), weight, sumDy, sumDyXmu, sums.count, dx],
    backwardResult(dx, x, dweight, dbias));
}

/**
 * Merges per-channel partial statistics of several shards (Chan et al., exact in float64) into
 * the batch statistics `{ mean, rstd, count }`, updating running statistics in place as
 * batchNorm training would. The shards' order is the merge order.
 * @example
 * const parts = shards.map((x) => fastnorm.batchNormStats(x));   // on each worker
 * const stats = fastnorm.batchNormGatherStats(parts, { runningMean, runningVar });
 * const { y } = fastnorm.batchNormElemt(shard, stats, { weight, bias });
 */
export function batchNormGatherStats(parts: readonly BatchNormStats[], opts?: BatchNormGatherOptions):
  { mean: FloatArray; rstd: FloatArray; count: number } {
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
  const { runningMean, runningVar } = checkRunningStats(o.runningMean, o.runningVar, dtype, c);
  let count = 0;
  const mean = new Float64Array(c);
  const m2 = new Float64Array(c);
  parts.forEach((p, k) => {
    if (typeof p !== 'object' || p === null) throw new TypeError(`parts[${k}] must be a batchNormStats result`);
    checkRequiredArray(`parts[${k}].mean`, p.mean, Float64Array, c);
    checkRequiredArray(`parts[${k}].m2`, p.m2, Float64Array, c);
    if (typeof p.count !== 'number' || !Number.isSafeInteger(p.count) || p.count < 0)
      throw new RangeError(`parts[${k}].count must be a non-negative integer`);
    if (p.count === 0) return;
    const total = count + p.count;
    for (let j = 0; j < c; j++) {
      if (count === 0) {
        mean[j] = p.mean[j];
        m2[j] = p.m2[j];
        continue;
      }
      const delta = p.mean[j] - mean[j];
      mean[j] += delta * (p.count / total);
      m2[j] += p.m2[j] + delta * delta * ((count * p.count) / total);
    }
    count = total;
  });
  if (c > 0 && count < 2) throw new RangeError(`parts: batchNorm training needs more than 1 value per channel in all (got ${count})`);
  const outMean = new dtype(c);
  const outRstd = new dtype(c);
  for (let j = 0; j < c; j++) {
    outMean[j] = mean[j];
    outRstd[j] = rstdOf(m2[j] / count, eps);
    if (runningMean && runningVar) {
      runningMean[j] = (1 - momentum) * runningMean[j] + momentum * mean[j];
      runningVar[j] = (1 - momentum) * runningVar[j] + momentum * (m2[j] / (count - 1));
    }
  }
  return { mean: outMean, rstd: outRstd, count };
}
