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
import { checkEps, checkNormalizedShape, checkOptions, checkSameShape, checkSaved, checkTensor, dtypeOf } from './validate.js';

const LAYER_NORM_OPTIONS = ['weight', 'bias', 'eps', 'out'] as const;
const RMS_NORM_OPTIONS = ['weight', 'eps', 'out'] as const;
const BACKWARD_OPTIONS = ['weight', 'grads', 'out'] as const;

export function planLayerNorm<A extends FloatArray>(x: Tensor<A>, normalizedShape: number | readonly number[], opts?: LayerNormOptions<A>):
  Plan<typeof KERNELS.layerNormForward, LayerNormResult<A>> {
  checkTensor('x', x);
  const o = checkOptions<LayerNormOptions>('opts', opts, LAYER_NORM_OPTIONS);
  const [rows, cols] = checkNormalizedShape(normalizedShape, x.shape);
  const eps = checkEps(o.eps, 1e-5);
  const out = checkOut(o.out, ['y', 'mean', 'rstd']);
  return plan(KERNELS.layerNormForward, {
    x: x.data, rows, cols, weight: o.weight, bias: o.bias, eps, y: out?.y, mean: out?.mean, rstd: out?.rstd,
  }, (a) => ({ y: { data: a.y as A, shape: x.shape.slice() }, mean: a.mean as A, rstd: a.rstd as A }));
}

/** x, and dy like x. */
function checkBackwardTensors(dy: Tensor, x: Tensor): void {
  checkTensor('x', x);
  checkSameShape(checkTensor('dy', dy, dtypeOf(x)), x);
}

export function planLayerNormBackward<A extends FloatArray>(dy: Tensor<A>, x: Tensor<A>, saved: { mean: A; rstd: A },
  normalizedShape: number | readonly number[], opts?: LayerNormBackwardOptions<A>): Plan<typeof KERNELS.layerNormBackward, BackwardResult<A>> {
  checkBackwardTensors(dy, x);
  const o = checkOptions<LayerNormBackwardOptions>('opts', opts, BACKWARD_OPTIONS);
  const [rows, cols] = checkNormalizedShape(normalizedShape, x.shape);
  const s = checkSaved(saved);
  const grads = checkGrads(o.grads, hasWeight(o.weight), ['weight', 'bias']);
  const out = checkOut(o.out, ['dx', 'dweight', 'dbias']);
  checkUnwantedOutputs(out, grads, true);
  return plan(KERNELS.layerNormBackward, {
    dy: dy.data, x: x.data, mean: s.mean, rstd: s.rstd, rows, cols, weight: o.weight,
    dx: out?.dx, dweight: wanted(grads.weight, out?.dweight), dbias: wanted(grads.bias, out?.dbias),
  }, (a) => backwardResult(a.dx, x, a.dweight, a.dbias) as BackwardResult<A>);
}

export function planRmsNorm<A extends FloatArray>(x: Tensor<A>, normalizedShape: number | readonly number[], opts?: RmsNormOptions<A>):
  Plan<typeof KERNELS.rmsNormForward, RmsNormResult<A>> {
  checkTensor('x', x);
  const o = checkOptions<RmsNormOptions>('opts', opts, RMS_NORM_OPTIONS);
  const [rows, cols] = checkNormalizedShape(normalizedShape, x.shape);
  const eps = checkEps(o.eps, 1e-6);
  const out = checkOut(o.out, ['y', 'rstd']);
  return plan(KERNELS.rmsNormForward, { x: x.data, rows, cols, weight: o.weight, eps, y: out?.y, rstd: out?.rstd },
    (a) => ({ y: { data: a.y as A, shape: x.shape.slice() }, rstd: a.rstd as A }));
}

export function planRmsNormBackward<A extends FloatArray>(dy: Tensor<A>, x: Tensor<A>, saved: { rstd: A },
  normalizedShape: number | readonly number[], opts?: RmsNormBackwardOptions<A>): Plan<typeof KERNELS.rmsNormBackward, BackwardResult<A>> {
  checkBackwardTensors(dy, x);
  const o = checkOptions<RmsNormBackwardOptions>('opts', opts, BACKWARD_OPTIONS);
  const [rows, cols] = checkNormalizedShape(normalizedShape, x.shape);
  const s = checkSaved(saved);
  const grads = checkGrads(o.grads, hasWeight(o.weight), ['weight']);
  const out = checkOut(o.out, ['dx', 'dweight']);
  checkUnwantedOutputs(out, grads, false);
  return plan(KERNELS.rmsNormBackward, {
    dy: dy.data, x: x.data, rstd: s.rstd, rows, cols, weight: o.weight, dx: out?.dx, dweight: wanted(grads.weight, out?.dweight),
  }, (a) => backwardResult(a.dx, x, a.dweight, null) as BackwardResult<A>);
}
