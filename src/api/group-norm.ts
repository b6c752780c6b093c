// GroupNorm and InstanceNorm planners (validate, allocate, name the kernel call). InstanceNorm
// is GroupNorm with numGroups = C, so both run the groupNorm kernels; InstanceNorm adds the
// running statistics of PyTorch's track_running_stats.
import { checkLayout, channelShape, shapeArgs, type ChannelShape } from './layout.js';
import { backwardOutputs, backwardResult, checkGrads, checkOut, output } from './outputs.js';
import { plan, type Plan } from './plan.js';
import { checkMomentum, checkRunningStats } from './running-stats.js';
import type {
  BackwardResult, FloatArray, GroupNormBackwardOptions, GroupNormOptions, InstanceNormBackwardOptions,
  InstanceNormOptions, Tensor,
} from './types.js';
import {
  checkArray, checkBoolean, checkEps, checkNoAliasing, checkOptions, checkRequiredArray, checkSameShape, checkSaved,
  checkTensor, dtypeOf, type FloatArrayConstructor,
} from './validate.js';

type ForwardResult = { y: Tensor; mean: FloatArray; rstd: FloatArray };

const GROUP_FORWARD_OPTIONS = ['weight', 'bias', 'eps', 'layout', 'out'] as const;
const GROUP_BACKWARD_OPTIONS = ['weight', 'layout', 'grads', 'out'] as const;
const INSTANCE_FORWARD_OPTIONS = ['weight', 'bias', 'runningMean', 'runningVar', 'useInputStats', 'momentum', 'eps', 'layout',
  'out'] as const;
const INSTANCE_BACKWARD_OPTIONS = ['weight', 'useInputStats', 'layout', 'grads', 'out'] as const;

/** `numGroups`: an integer >= 1 that divides the channel count C. */
export function checkNumGroups(v: unknown, c: number): number {
  if (typeof v !== 'number') throw new TypeError(`numGroups must be a number, got ${v === null ? 'null' : typeof v}`);
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`numGroups must be an integer >= 1, got ${v}`);
  if (c % v !== 0) throw new RangeError(`numGroups (${v}) must divide the number of channels C = ${c}`);
  return v;
}

/**
 * PyTorch's group_norm refuses a call whose N × C/G × spatial is 1 ("Expected more than 1 value
 * per channel when training": its batch-size check applied to (N·C/G, G, *spatial)); so do we,
 * exactly then. With N > 1, groups of one value are allowed (y = bias) as in PyTorch.
 */
function checkGroupCount(s: ChannelShape, groups: number): void {
  if (s.n * (s.c / groups) * s.s === 1)
    throw new RangeError('x: groupNorm needs more than 1 value in N × C/numGroups × spatial (got 1), as PyTorch raises ' +
      '"Expected more than 1 value per channel when training"');
}

/**
 * PyTorch's instance_norm with input statistics refuses a single spatial element per channel
 * ("Expected more than 1 spatial element when training"), whatever N and C; so do we.
 */
function checkInstanceSpatial(s: ChannelShape, useInputStats: boolean): void {
  if (useInputStats && s.s === 1)
    throw new RangeError('x: instanceNorm with input statistics needs more than 1 spatial element per channel (got 1), ' +
      'as PyTorch raises "Expected more than 1 spatial element when training"; use running statistics (useInputStats: false)');
}

/** The forward outputs y (x's length) and mean/rstd (one per (n, group)), `out` buffers where given. */
function forwardOutputs(x: Tensor, outOption: unknown, dtype: FloatArrayConstructor, stats: number) {
  const out = checkOut(outOption, ['y', 'mean', 'rstd']);
  return {
    out,
    y: output(out, 'y', dtype, x.data.length),
    mean: output(out, 'mean', dtype, stats),
    rstd: output(out, 'rstd', dtype, stats),
  };
}

/** dy like x, and the saved statistics: one mean/rstd per (n, group). */
function checkBackwardInputs(dy: Tensor, x: Tensor, saved: unknown, s: ChannelShape, groups: number) {
  const dtype = dtypeOf(x);
  checkSameShape(checkTensor('dy', dy, dtype), x);
  const sv = checkSaved(saved);
  const mean = checkRequiredArray('saved.mean', sv.mean, dtype, s.n * groups);
  const rstd = checkRequiredArray('saved.rstd', sv.rstd, dtype, s.n * groups);
  return { dtype, mean, rstd };
}

export function planGroupNorm(x: Tensor, numGroups: unknown, opts?: GroupNormOptions): Plan<ForwardResult> {
  checkTensor('x', x);
  const o = checkOptions<GroupNormOptions>('opts', opts, GROUP_FORWARD_OPTIONS);
  const dtype = dtypeOf(x);
  const s = channelShape(x.shape, checkLayout(o.layout));
  const groups = checkNumGroups(numGroups, s.c);
  checkGroupCount(s, groups);
  const weight = checkArray('weight', o.weight, dtype, s.c);
  const bias = checkArray('bias', o.bias, dtype, s.c);
  const eps = checkEps(o.eps, 1e-5);
  const { out, y, mean, rstd } = forwardOutputs(x, o.out, dtype, s.n * groups);
  if (out) checkNoAliasing({ 'out.y': y, 'out.mean': mean, 'out.rstd': rstd }, { x: x.data, weight, bias }, ['out.y', 'x']);
  return plan('groupNormForward', [x.data, ...shapeArgs(s), groups, weight, bias, null, null, 0, eps, true, y, mean, rstd],
    { y: { data: y, shape: x.shape.slice() }, mean, rstd });
}

export function planGroupNormBackward(dy: Tensor, x: Tensor, saved: { mean: FloatArray; rstd: FloatArray }, numGroups: unknown,
  opts?: GroupNormBackwardOptions): Plan<BackwardResult> {
  checkTensor('x', x);
  const o = checkOptions<GroupNormBackwardOptions>('opts', opts, GROUP_BACKWARD_OPTIONS);
  const s = channelShape(x.shape, checkLayout(o.layout));
  const groups = checkNumGroups(numGroups, s.c);
  checkGroupCount(s, groups);
  const { dtype, mean, rstd } = checkBackwardInputs(dy, x, saved, s, groups);
  const weight = checkArray('weight', o.weight, dtype, s.c);
  const grads = checkGrads(o.grads, weight !== null, ['weight', 'bias']);
  const { out, dx, dweight, dbias } = backwardOutputs(grads, o.out, dtype, x.data.length, s.c);
  if (out) checkNoAliasing({ 'out.dx': dx, 'out.dweight': dweight, 'out.dbias': dbias },
    { dy: dy.data, x: x.data, 'saved.mean': mean, 'saved.rstd': rstd, weight });
  return plan('groupNormBackward', [dy.data, x.data, mean, rstd, ...shapeArgs(s), groups, weight, true, dx, dweight, dbias],
    backwardResult(dx, x, dweight, dbias));
}

export function planInstanceNorm(x: Tensor, opts?: InstanceNormOptions): Plan<ForwardResult> {
  checkTensor('x', x);
  const o = checkOptions<InstanceNormOptions>('opts', opts, INSTANCE_FORWARD_OPTIONS);
  const dtype = dtypeOf(x);
  const s = channelShape(x.shape, checkLayout(o.layout));
  const weight = checkArray('weight', o.weight, dtype, s.c);
  const bias = checkArray('bias', o.bias, dtype, s.c);
  const { runningMean, runningVar } = checkRunningStats(o.runningMean, o.runningVar, dtype, s.c);
  const useInputStats = checkBoolean('useInputStats', o.useInputStats, true);
  const momentum = checkMomentum(o.momentum);
  const eps = checkEps(o.eps, 1e-5);
  if (!useInputStats && !runningMean) throw new TypeError('runningMean and runningVar are required when useInputStats is false');
  checkInstanceSpatial(s, useInputStats);
  const { out, y, mean, rstd } = forwardOutputs(x, o.out, dtype, s.n * s.c);
  if (out || runningMean) checkNoAliasing({ 'out.y': y, 'out.mean': mean, 'out.rstd': rstd, runningMean, runningVar },
    { x: x.data, weight, bias }, ['out.y', 'x']);
  // no spatial positions: no batch statistics to fold in, the running ones stay (as in PyTorch)
  const update = useInputStats && s.s === 0 ? null : runningMean;
  const updateVar = update ? runningVar : null;
  return plan('groupNormForward',
    [x.data, ...shapeArgs(s), s.c, weight, bias, update, updateVar, momentum, eps, useInputStats, y, mean, rstd],
    { y: { data: y, shape: x.shape.slice() }, mean, rstd });
}

export function planInstanceNormBackward(dy: Tensor, x: Tensor, saved: { mean: FloatArray; rstd: FloatArray },
  opts?: InstanceNormBackwardOptions): Plan<BackwardResult> {
  checkTensor('x', x);
  const o = checkOptions<InstanceNormBackwardOptions>('opts', opts, INSTANCE_BACKWARD_OPTIONS);
  const s = channelShape(x.shape, checkLayout(o.layout));
  const { dtype, mean, rstd } = checkBackwardInputs(dy, x, saved, s, s.c);
  const weight = checkArray('weight', o.weight, dtype, s.c);
  const useInputStats = checkBoolean('useInputStats', o.useInputStats, true);
  checkInstanceSpatial(s, useInputStats);
  const grads = checkGrads(o.grads, weight !== null, ['weight', 'bias']);
  const { out, dx, dweight, dbias } = backwardOutputs(grads, o.out, dtype, x.data.length, s.c);
  if (out) checkNoAliasing({ 'out.dx': dx, 'out.dweight': dweight, 'out.dbias': dbias },
    { dy: dy.data, x: x.data, 'saved.mean': mean, 'saved.rstd': rstd, weight });
  return plan('groupNormBackward',
    [dy.data, x.data, mean, rstd, ...shapeArgs(s), s.c, weight, useInputStats, dx, dweight, dbias],
    backwardResult(dx, x, dweight, dbias));
}
