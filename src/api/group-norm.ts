// GroupNorm and InstanceNorm planners (validate, derive the kernel call's sizes, name its
// outputs; bind.ts checks the arrays). InstanceNorm is GroupNorm with numGroups = C, plus the
// running statistics of PyTorch's track_running_stats; each has kernels of its own name. Both
// take half-precision tensors (the kernels' halfFormat row; statistics float32, parameters
// weight's type; the results carry x's dtype).
import { plan, wanted, type Plan } from './bind.js';
import { KERNELS } from './kernel-schema.js';
import { channelArgs, channelShape, checkLayout, type ChannelShape } from './layout.js';
import { backwardResult, checkGrads, checkOut, checkUnwantedOutputs, hasWeight, tensorLike } from './outputs.js';
import { checkRunningOptions } from './running-stats.js';
import type {
  BackwardResult, GroupNormBackwardOptions, GroupNormOptions, InstanceNormBackwardOptions, InstanceNormOptions, StatsOf, Tensor, TensorData,
} from './types.js';
import { checkActivation, checkBackwardTensors, checkBoolean, checkEps, checkOptions, checkSaved, checkTensor, halfFormatOf } from './validate.js';

type ForwardResult<A extends TensorData> = { y: Tensor<A>; mean: StatsOf<A>; rstd: StatsOf<A> };

const GROUP_FORWARD_OPTIONS = ['weight', 'bias', 'eps', 'layout', 'activation', 'out'] as const;
const GROUP_BACKWARD_OPTIONS = ['weight', 'bias', 'activation', 'layout', 'grads', 'out'] as const;
const INSTANCE_FORWARD_OPTIONS = ['weight', 'bias', 'runningMean', 'runningVar', 'useInputStats', 'momentum', 'eps', 'layout',
  'activation', 'out'] as const;
const INSTANCE_BACKWARD_OPTIONS = ['weight', 'bias', 'activation', 'useInputStats', 'layout', 'grads', 'out'] as const;

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

function forwardResult<A extends TensorData>(x: Tensor<A>) {
  return (a: { y: unknown; mean: unknown; rstd: unknown }): ForwardResult<A> =>
    ({ y: tensorLike<A>(a.y, x), mean: a.mean as StatsOf<A>, rstd: a.rstd as StatsOf<A> });
}

/** dy like x, the saved statistics object and the backward's gradient outputs. */
function backwardInputs(dy: Tensor<TensorData>, x: Tensor<TensorData>, saved: unknown, o: GroupNormBackwardOptions<TensorData>) {
  checkBackwardTensors(dy, x);
  const sv = checkSaved(saved);
  const grads = checkGrads(o.grads, hasWeight(o.weight), ['weight', 'bias']);
  const out = checkOut(o.out, ['dx', 'dweight', 'dbias']);
  checkUnwantedOutputs(out, grads, true);
  return { mean: sv.mean, rstd: sv.rstd, weight: o.weight, bias: o.bias, activation: checkActivation(o.activation), dx: out?.dx, dweight: wanted(grads.weight, out?.dweight),
    dbias: wanted(grads.bias, out?.dbias), halfFormat: halfFormatOf(x) };
}

export function planGroupNorm<A extends TensorData>(x: Tensor<A>, numGroups: number, opts?: GroupNormOptions<A>):
  Plan<typeof KERNELS.groupNormForward, ForwardResult<A>> {
  checkTensor('x', x);
  const o = checkOptions<GroupNormOptions>('opts', opts, GROUP_FORWARD_OPTIONS);
  const s = channelShape(x.shape, checkLayout(o.layout));
  const groups = checkNumGroups(numGroups, s.c);
  checkGroupCount(s, groups);
  const eps = checkEps(o.eps, 1e-5);
  const activation = checkActivation(o.activation);
  const out = checkOut(o.out, ['y', 'mean', 'rstd']);
  return plan(KERNELS.groupNormForward, {
    x: x.data, ...channelArgs(s), groups, weight: o.weight, bias: o.bias, eps, activation, y: out?.y, mean: out?.mean, rstd: out?.rstd,
    halfFormat: halfFormatOf(x),
  }, forwardResult(x));
}

export function planGroupNormBackward<A extends TensorData>(dy: Tensor<A>, x: Tensor<A>, saved: { mean: StatsOf<A>; rstd: StatsOf<A> },
  numGroups: number, opts?: GroupNormBackwardOptions<A>): Plan<typeof KERNELS.groupNormBackward, BackwardResult<A>> {
  checkTensor('x', x);
  const o = checkOptions<GroupNormBackwardOptions>('opts', opts, GROUP_BACKWARD_OPTIONS);
  const s = channelShape(x.shape, checkLayout(o.layout));
  const groups = checkNumGroups(numGroups, s.c);
  checkGroupCount(s, groups);
  return plan(KERNELS.groupNormBackward, { dy: dy.data, x: x.data, ...channelArgs(s), groups, ...backwardInputs(dy, x, saved, o) },
    (a) => backwardResult<A>(a.dx, x, a.dweight, a.dbias));
}

export function planInstanceNorm<A extends TensorData>(x: Tensor<A>, opts?: InstanceNormOptions<A>):
  Plan<typeof KERNELS.instanceNormForward, ForwardResult<A>> {
  checkTensor('x', x);
  const o = checkOptions<InstanceNormOptions>('opts', opts, INSTANCE_FORWARD_OPTIONS);
  const s = channelShape(x.shape, checkLayout(o.layout));
  const { useBatch: useInputStats, momentum } = checkRunningOptions(o, 'useInputStats');
  const eps = checkEps(o.eps, 1e-5);
  const activation = checkActivation(o.activation);
  checkInstanceSpatial(s, useInputStats);
  const out = checkOut(o.out, ['y', 'mean', 'rstd']);
  const p = plan(KERNELS.instanceNormForward, {
    x: x.data, ...channelArgs(s), weight: o.weight, bias: o.bias, runningMean: o.runningMean, runningVar: o.runningVar, momentum, eps,
    useInputStats, activation, y: out?.y, mean: out?.mean, rstd: out?.rstd, halfFormat: halfFormatOf(x),
  }, forwardResult(x));
  // no spatial positions: no batch statistics to fold in, the running ones (checked) stay, as in PyTorch
  if (useInputStats && s.s === 0) p.args.runningMean = p.args.runningVar = null;
  return p;
}

export function planInstanceNormBackward<A extends TensorData>(dy: Tensor<A>, x: Tensor<A>, saved: { mean: StatsOf<A>; rstd: StatsOf<A> },
  opts?: InstanceNormBackwardOptions<A>): Plan<typeof KERNELS.instanceNormBackward, BackwardResult<A>> {
  checkTensor('x', x);
  const o = checkOptions<InstanceNormBackwardOptions>('opts', opts, INSTANCE_BACKWARD_OPTIONS);
  const s = channelShape(x.shape, checkLayout(o.layout));
  const useInputStats = checkBoolean('useInputStats', o.useInputStats, true);
  checkInstanceSpatial(s, useInputStats);
  return plan(KERNELS.instanceNormBackward, { dy: dy.data, x: x.data, ...channelArgs(s), useInputStats, ...backwardInputs(dy, x, saved, o) },
    (a) => backwardResult<A>(a.dx, x, a.dweight, a.dbias));
}
