// LayerNorm and RMSNorm planners: validate the arguments, derive the kernel call's sizes and
// name its outputs (bind.ts checks the arrays and allocates what is not given; ops.ts runs it,
// synchronously or as a Promise, on either backend).
import { plan, wanted, type Plan } from './bind.js';
import { KERNELS } from './kernel-schema.js';
import { backwardResult, checkGrads, checkOut, checkUnwantedOutputs, hasWeight } from './outputs.js';
import type {
  BackwardResult, FloatArray, LayerNormBackwardOptions, LayerNormOptions, LayerNormResult, RmsNormBackwardOptions,
  RmsNormOptions, RmsNormResult, Tensor,
} from './types.js';
import { checkBackwardTensors, checkEps, checkNormalizedShape, checkOptions, checkSaved, checkTensor } from './validate.js';

const LAYER_NORM_OPTIONS = ['weight', 'bias', 'eps', 'out'] as const;
const RMS_NORM_OPTIONS = ['weight', 'eps', 'out'] as const;
const BACKWARD_OPTIONS = ['weight', 'grads', 'out'] as const;

/** A row op's forward arguments: x, its options, rows × cols of normalizedShape, eps (its default) and `out`. */
function checkForward<O extends { eps?: number; out?: object }>(x: Tensor, normalizedShape: unknown, opts: unknown, known: readonly string[],
  defaultEps: number, outKeys: readonly string[]) {
  checkTensor('x', x);
  const o = checkOptions<O>('opts', opts, known);
  const [rows, cols] = checkNormalizedShape(normalizedShape, x.shape);
  return { o, rows, cols, eps: checkEps(o.eps, defaultEps), out: checkOut(o.out, outKeys) };
}

export function planLayerNorm<A extends FloatArray>(x: Tensor<A>, normalizedShape: number | readonly number[], opts?: LayerNormOptions<A>):
  Plan<typeof KERNELS.layerNormForward, LayerNormResult<A>> {
  const { o, rows, cols, eps, out } = checkForward<LayerNormOptions>(x, normalizedShape, opts, LAYER_NORM_OPTIONS, 1e-5, ['y', 'mean', 'rstd']);
  return plan(KERNELS.layerNormForward, {
    x: x.data, rows, cols, weight: o.weight, bias: o.bias, eps, y: out?.y, mean: out?.mean, rstd: out?.rstd,
  }, (a) => ({ y: { data: a.y as A, shape: x.shape.slice() }, mean: a.mean as A, rstd: a.rstd as A }));
}

/** A row op's backward arguments: dy like x, its options, rows × cols, the saved statistics, the gradients asked for and `out`. */
function checkBackward<O extends { weight?: unknown; grads?: unknown; out?: unknown }>(dy: Tensor, x: Tensor, saved: unknown,
  normalizedShape: unknown, opts: unknown, grads: readonly string[], outKeys: readonly string[]) {
  checkBackwardTensors(dy, x);
  const o = checkOptions<O>('opts', opts, BACKWARD_OPTIONS);
  const [rows, cols] = checkNormalizedShape(normalizedShape, x.shape);
  const s = checkSaved(saved);
  const g = checkGrads(o.grads, hasWeight(o.weight), grads);
  const out = checkOut(o.out, outKeys);
  checkUnwantedOutputs(out, g, grads.includes('bias'));
  return { o, rows, cols, s, grads: g, out };
}

export function planLayerNormBackward<A extends FloatArray>(dy: Tensor<A>, x: Tensor<A>, saved: { mean: A; rstd: A },
  normalizedShape: number | readonly number[], opts?: LayerNormBackwardOptions<A>): Plan<typeof KERNELS.layerNormBackward, BackwardResult<A>> {
  const { o, rows, cols, s, grads, out } = checkBackward<LayerNormBackwardOptions>(dy, x, saved, normalizedShape, opts, ['weight', 'bias'],
    ['dx', 'dweight', 'dbias']);
  return plan(KERNELS.layerNormBackward, {
    dy: dy.data, x: x.data, mean: s.mean, rstd: s.rstd, rows, cols, weight: o.weight,
    dx: out?.dx, dweight: wanted(grads.weight, out?.dweight), dbias: wanted(grads.bias, out?.dbias),
  }, (a) => backwardResult(a.dx, x, a.dweight, a.dbias) as BackwardResult<A>);
}

export function planRmsNorm<A extends FloatArray>(x: Tensor<A>, normalizedShape: number | readonly number[], opts?: RmsNormOptions<A>):
  Plan<typeof KERNELS.rmsNormForward, RmsNormResult<A>> {
  const { o, rows, cols, eps, out } = checkForward<RmsNormOptions>(x, normalizedShape, opts, RMS_NORM_OPTIONS, 1e-6, ['y', 'rstd']);
  return plan(KERNELS.rmsNormForward, { x: x.data, rows, cols, weight: o.weight, eps, y: out?.y, rstd: out?.rstd },
    (a) => ({ y: { data: a.y as A, shape: x.shape.slice() }, rstd: a.rstd as A }));
}

export function planRmsNormBackward<A extends FloatArray>(dy: Tensor<A>, x: Tensor<A>, saved: { rstd: A },
  normalizedShape: number | readonly number[], opts?: RmsNormBackwardOptions<A>): Plan<typeof KERNELS.rmsNormBackward, BackwardResult<A>> {
  const { o, rows, cols, s, grads, out } = checkBackward<RmsNormBackwardOptions>(dy, x, saved, normalizedShape, opts, ['weight'],
    ['dx', 'dweight']);
  return plan(KERNELS.rmsNormBackward, {
    dy: dy.data, x: x.data, rstd: s.rstd, rows, cols, weight: o.weight, dx: out?.dx, dweight: wanted(grads.weight, out?.dweight),
  }, (a) => backwardResult(a.dx, x, a.dweight, null) as BackwardResult<A>);
}
