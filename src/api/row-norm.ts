// LayerNorm and RMSNorm planners: validate the arguments, allocate the outputs and name the
// kernel call (plan.ts runs it, synchronously or as a Promise, on either backend).
import { backwardOutputs, backwardResult, checkGrads, checkOut, output } from './outputs.js';
import { plan, type Plan } from './plan.js';
import type {
  BackwardResult, FloatArray, LayerNormBackwardOptions, LayerNormOptions, LayerNormResult, RmsNormBackwardOptions,
  RmsNormOptions, RmsNormResult, Tensor,
} from './types.js';
import {
  checkArray, checkEps, checkNoAliasing, checkNormalizedShape, checkOptions, checkRequiredArray, checkSameShape, checkSaved,
  checkTensor, dtypeOf,
} from './validate.js';

const LAYER_NORM_OPTIONS = ['weight', 'bias', 'eps', 'out'] as const;
const RMS_NORM_OPTIONS = ['weight', 'eps', 'out'] as const;
const BACKWARD_OPTIONS = ['weight', 'grads', 'out'] as const;

export function planLayerNorm(x: Tensor, normalizedShape: unknown, opts?: LayerNormOptions): Plan<LayerNormResult> {
  checkTensor('x', x);
  const o = checkOptions<LayerNormOptions>('opts', opts, LAYER_NORM_OPTIONS);
  const dtype = dtypeOf(x);
  const [rows, cols] = checkNormalizedShape(normalizedShape, x.shape);
  const weight = checkArray('weight', o.weight, dtype, cols);
  const bias = checkArray('bias', o.bias, dtype, cols);
  const eps = checkEps(o.eps, 1e-5);
  const out = checkOut(o.out, ['y', 'mean', 'rstd']);
  const y = output(out, 'y', dtype, x.data.length);
  const mean = output(out, 'mean', dtype, rows);
  const rstd = output(out, 'rstd', dtype, rows);
  if (out) checkNoAliasing({ 'out.y': y, 'out.mean': mean, 'out.rstd': rstd }, { x: x.data, weight, bias }, ['out.y', 'x']);
  return plan('layerNormForward', [x.data, rows, cols, weight, bias, eps, y, mean, rstd],
    { y: { data: y, shape: x.shape.slice() }, mean, rstd });
}

export function planLayerNormBackward(dy: Tensor, x: Tensor, saved: { mean: FloatArray; rstd: FloatArray },
normalizedShape: unknown, opts?: LayerNormBackwardOptions): Plan<BackwardResult> {
  checkTensor('x', x);
  const dtype = dtypeOf(x);
  checkSameShape(checkTensor('dy', dy, dtype), x);
  const o = checkOptions<LayerNormBackwardOptions>('opts', opts, BACKWARD_OPTIONS);
  const [rows, cols] = checkNormalizedShape(normalizedShape, x.shape);
  const s = checkSaved(saved);
  const mean = checkRequiredArray('saved.mean', s.mean, dtype, rows);
  const rstd = checkRequiredArray('saved.rstd', s.rstd, dtype, rows);
  const weight = checkArray('weight', o.weight, dtype, cols);
  const grads = checkGrads(o.grads, weight !== null, ['weight', 'bias']);
  const { out, dx, dweight, dbias } = backwardOutputs(grads, o.out, dtype, x.data.length, cols);
  if (out) checkNoAliasing({ 'out.dx': dx, 'out.dweight': dweight, 'out.dbias': dbias },
    { dy: dy.data, x: x.data, 'saved.mean': mean, 'saved.rstd': rstd, weight });
  return plan('layerNormBackward', [dy.data, x.data, mean, rstd, rows, cols, weight, dx, dweight, dbias],
    backwardResult(dx, x, dweight, dbias));
}

export function planRmsNorm(x: Tensor, normalizedShape: unknown, opts?: RmsNormOptions): Plan<RmsNormResult> {
  checkTensor('x', x);
  const o = checkOptions<RmsNormOptions>('opts', opts, RMS_NORM_OPTIONS);
  const dtype = dtypeOf(x);
  const [rows, cols] = checkNormalizedShape(normalizedShape, x.shape);
  const weight = checkArray('weight', o.weight, dtype, cols);
  const eps = checkEps(o.eps, 1e-6);
  const out = checkOut(o.out, ['y', 'rstd']);
  const y = output(out, 'y', dtype, x.data.length);
  const rstd = output(out, 'rstd', dtype, rows);
  if (out) checkNoAliasing({ 'out.y': y, 'out.rstd': rstd }, { x: x.data, weight }, ['out.y', 'x']);
  return plan('rmsNormForward', [x.data, rows, cols, weight, null, eps, y, null, rstd],
    { y: { data: y, shape: x.shape.slice() }, rstd });
}

export function planRmsNormBackward(dy: Tensor, x: Tensor, saved: { rstd: FloatArray }, normalizedShape: unknown,
opts?: RmsNormBackwardOptions): Plan<BackwardResult> {
  checkTensor('x', x);
  const dtype = dtypeOf(x);
  checkSameShape(checkTensor('dy', dy, dtype), x);
  const o = checkOptions<RmsNormBackwardOptions>('opts', opts, BACKWARD_OPTIONS);
  const [rows, cols] = checkNormalizedShape(normalizedShape, x.shape);
  const s = checkSaved(saved);
  const rstd = checkRequiredArray('saved.rstd', s.rstd, dtype, rows);
  const weight = checkArray('weight', o.weight, dtype, cols);
  const grads = checkGrads(o.grads, weight !== null, ['weight']);
  const { out, dx, dweight } = backwardOutputs(grads, o.out, dtype, x.data.length, cols, false);
  if (out) checkNoAliasing({ 'out.dx': dx, 'out.dweight': dweight }, { dy: dy.data, x: x.data, 'saved.rstd': rstd, weight });
  return plan('rmsNormBackward', [dy.data, x.data, null, rstd, rows, cols, weight, dx, dweight, null],
    backwardResult(dx, x, dweight, null));
}


