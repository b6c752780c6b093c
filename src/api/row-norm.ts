// LayerNorm and RMSNorm planners: validate the arguments, derive the kernel call's sizes and
// name its outputs (bind.ts checks the arrays and allocates what is not given; ops.ts runs it,
// synchronously or as a Promise, on either backend).
import { plan, wanted, type Plan } from './bind.js';
import { KERNELS } from './kernel-schema.js';
import { backwardResult, checkGrads, checkOut, checkUnwantedOutput, checkUnwantedOutputs, hasWeight, tensorLike } from './outputs.js';
import type {
  AddLayerNormBackwardOptions, AddLayerNormOptions, AddLayerNormResult, AddNormBackwardResult, AddRmsNormBackwardOptions,
  AddRmsNormOptions, AddRmsNormResult, BackwardResult, FloatArray, LayerNormBackwardOptions, LayerNormOptions, LayerNormResult,
  ParamOf, RmsNormBackwardOptions, RmsNormOptions, RmsNormResult, StatsOf, Tensor, TensorData,
} from './types.js';
import {
  checkActivation, checkBackwardTensors, checkBoolean, checkEps, checkNormalizedShape, checkOptions, checkSaved, checkTensor, checkTensorLike,
  checkWeightOffset, halfFormatOf,
} from './validate.js';

// layerNorm, rmsNorm, the add-norms and their backwards also take half-precision tensors (a Uint16Array with
// dtype 'float16'/'bfloat16'): the kernel's halfFormat row says so, bind resolves the dtypes
// (statistics float32, parameters weight's type) and the results carry x's dtype (tensorLike).

const LAYER_NORM_OPTIONS = ['weight', 'bias', 'eps', 'weightOffset', 'activation', 'out'] as const;
const RMS_NORM_OPTIONS = ['weight', 'eps', 'weightOffset', 'out'] as const;
const BACKWARD_OPTIONS = ['weight', 'weightOffset', 'grads', 'out'] as const;
const LAYER_NORM_BACKWARD_OPTIONS = ['weight', 'bias', 'weightOffset', 'activation', 'grads', 'out'] as const;
const ADD_LAYER_NORM_OPTIONS = ['weight', 'bias', 'residualBias', 'eps', 'weightOffset', 'out'] as const;
const ADD_RMS_NORM_OPTIONS = ['weight', 'residualBias', 'eps', 'weightOffset', 'out'] as const;
const ADD_BACKWARD_OPTIONS = ['weight', 'weightOffset', 'dSum', 'grads', 'out'] as const;

/** A row op's forward arguments: x, its options, rows × cols of normalizedShape, eps (its default), weightOffset and `out`. */
function checkForward<O extends { weight?: unknown; eps?: number; weightOffset?: number; out?: object }>(x: Tensor<TensorData>,
  normalizedShape: unknown, opts: unknown, known: readonly string[], defaultEps: number, outKeys: readonly string[]) {
  checkTensor('x', x);
  const o = checkOptions<O>('opts', opts, known);
  const [rows, cols] = checkNormalizedShape(normalizedShape, x.shape);
  const eps = checkEps(o.eps, defaultEps);
  return { o, rows, cols, eps, weightOffset: checkWeightOffset(o.weightOffset, o.weight), out: checkOut(o.out, outKeys) };
}

/** An add-norm's x and residual (a tensor of x's dtype and shape) and its forward arguments. */
function checkAddForward<O extends { weight?: unknown; eps?: number; weightOffset?: number; out?: object }>(x: Tensor<TensorData>,
  residual: unknown, normalizedShape: unknown, opts: unknown, known: readonly string[], defaultEps: number, outKeys: readonly string[]) {
  const c = checkForward<O>(x, normalizedShape, opts, known, defaultEps, outKeys);
  return { o: c.o, rows: c.rows, cols: c.cols, eps: c.eps, weightOffset: c.weightOffset, out: c.out,
    residual: checkTensorLike('residual', residual, 'x', x) };
}

export function planLayerNorm<A extends TensorData>(x: Tensor<A>, normalizedShape: number | readonly number[], opts?: LayerNormOptions<A>):
  Plan<typeof KERNELS.layerNormForward, LayerNormResult<A>> {
  const { o, rows, cols, eps, weightOffset, out } = checkForward<LayerNormOptions>(x, normalizedShape, opts, LAYER_NORM_OPTIONS, 1e-5,
    ['y', 'mean', 'rstd']);
  return plan(KERNELS.layerNormForward, {
    x: x.data, rows, cols, weight: o.weight, bias: o.bias, eps, weightOffset, activation: checkActivation(o.activation), y: out?.y,
    mean: out?.mean, rstd: out?.rstd, halfFormat: halfFormatOf(x),
  }, (a) => ({ y: tensorLike<A>(a.y, x), mean: a.mean as StatsOf<A>, rstd: a.rstd as StatsOf<A> }));
}

/** A row op's backward arguments: dy like x, its options, rows × cols, the saved statistics, the gradients asked for and `out`. */
function checkBackward<O extends { weight?: unknown; weightOffset?: unknown; grads?: unknown; out?: unknown }>(dy: Tensor<TensorData>,
  x: Tensor<TensorData>, saved: unknown, normalizedShape: unknown, opts: unknown, grads: readonly string[], outKeys: readonly string[],
  known: readonly string[] = BACKWARD_OPTIONS) {
  checkBackwardTensors(dy, x);
  const o = checkOptions<O>('opts', opts, known);
  const [rows, cols] = checkNormalizedShape(normalizedShape, x.shape);
  const s = checkSaved(saved);
  const g = checkGrads(o.grads, hasWeight(o.weight), grads);
  const weightOffset = checkWeightOffset(o.weightOffset, o.weight);
  const out = checkOut(o.out, outKeys);
  checkUnwantedOutputs(out, g, grads.includes('bias'));
  return { o, rows, cols, s, grads: g, weightOffset, out };
}

/** An add-norm backward's arguments: dy like sum, dSum (optional, like sum), and whether dresidualBias is asked for. */
function checkAddBackward<O extends { weight?: unknown; weightOffset?: unknown; dSum?: unknown; grads?: { residualBias?: boolean };
  out?: unknown }>(dy: Tensor<TensorData>, sum: Tensor<TensorData>, saved: unknown, normalizedShape: unknown, opts: unknown,
  grads: readonly string[], outKeys: readonly string[]) {
  checkTensor('sum', sum);
  checkTensorLike('dy', dy, 'sum', sum);
  const c = checkBackward<O>(dy, sum, saved, normalizedShape, opts, grads, outKeys, ADD_BACKWARD_OPTIONS);
  const dSum = c.o.dSum === undefined || c.o.dSum === null ? null : checkTensorLike('dSum', c.o.dSum, 'sum', sum);
  const residualBias = checkBoolean('grads.residualBias', c.o.grads?.residualBias, false);
  checkUnwantedOutput(c.out, 'dresidualBias', residualBias, 'the residualBias gradient is not computed (pass grads.residualBias)');
  // an object literal, not a spread: a spread result is a slow dictionary here, in a µs-sized call
  return { o: c.o, rows: c.rows, cols: c.cols, s: c.s, grads: c.grads, weightOffset: c.weightOffset, out: c.out, dSum, residualBias };
}


function addBackwardResult<A extends TensorData>(dx: unknown, sum: Tensor<TensorData>, dweight: unknown, dbias: unknown,
  dresidualBias: unknown): AddNormBackwardResult<A> {
  const r = backwardResult<A>(dx, sum, dweight, dbias) as AddNormBackwardResult<A>;
  if (dresidualBias) r.dresidualBias = dresidualBias as ParamOf<A>;
  return r;
}


export function planLayerNormBackward<A extends TensorData>(dy: Tensor<A>, x: Tensor<A>, saved: { mean: StatsOf<A>; rstd: StatsOf<A> },
  normalizedShape: number | readonly number[], opts?: LayerNormBackwardOptions<A>): Plan<typeof KERNELS.layerNormBackward, BackwardResult<A>> {
  const { o, rows, cols, s, grads, weightOffset, out } = checkBackward<LayerNormBackwardOptions>(dy, x, saved, normalizedShape, opts,
    ['weight', 'bias'], ['dx', 'dweight', 'dbias'], LAYER_NORM_BACKWARD_OPTIONS);
  return plan(KERNELS.layerNormBackward, {
    dy: dy.data, x: x.data, mean: s.mean, rstd: s.rstd, rows, cols, weight: o.weight, bias: o.bias, weightOffset,
    activation: checkActivation(o.activation),
    dx: out?.dx, dweight: wanted(grads.weight, out?.dweight), dbias: wanted(grads.bias, out?.dbias), halfFormat: halfFormatOf(x),
  }, (a) => backwardResult<A>(a.dx, x, a.dweight, a.dbias));
}

export function planRmsNorm<A extends TensorData>(x: Tensor<A>, normalizedShape: number | readonly number[], opts?: RmsNormOptions<A>):
  Plan<typeof KERNELS.rmsNormForward, RmsNormResult<A>> {
  const { o, rows, cols, eps, weightOffset, out } = checkForward<RmsNormOptions>(x, normalizedShape, opts, RMS_NORM_OPTIONS, 1e-6,
    ['y', 'rstd']);
  return plan(KERNELS.rmsNormForward, { x: x.data, rows, cols, weight: o.weight, eps, weightOffset, y: out?.y, rstd: out?.rstd,
    halfFormat: halfFormatOf(x) }, (a) => ({ y: tensorLike<A>(a.y, x), rstd: a.rstd as StatsOf<A> }));
}

export function planRmsNormBackward<A extends TensorData>(dy: Tensor<A>, x: Tensor<A>, saved: { rstd: StatsOf<A> },
  normalizedShape: number | readonly number[], opts?: RmsNormBackwardOptions<A>): Plan<typeof KERNELS.rmsNormBackward, BackwardResult<A>> {
  const { o, rows, cols, s, grads, weightOffset, out } = checkBackward<RmsNormBackwardOptions>(dy, x, saved, normalizedShape, opts,
    ['weight'], ['dx', 'dweight'], BACKWARD_OPTIONS);
  return plan(KERNELS.rmsNormBackward, {
    dy: dy.data, x: x.data, rstd: s.rstd, rows, cols, weight: o.weight, weightOffset, dx: out?.dx, dweight: wanted(grads.weight, out?.dweight),
    halfFormat: halfFormatOf(x),
  }, (a) => backwardResult<A>(a.dx, x, a.dweight, null));
}

export function planAddLayerNorm<A extends TensorData>(x: Tensor<A>, residual: Tensor<A>, normalizedShape: number | readonly number[],
  opts?: AddLayerNormOptions<A>): Plan<typeof KERNELS.addLayerNormForward, AddLayerNormResult<A>> {
  const { o, rows, cols, eps, weightOffset, out, residual: r } = checkAddForward<AddLayerNormOptions>(x, residual, normalizedShape, opts,
    ADD_LAYER_NORM_OPTIONS, 1e-5, ['y', 'sum', 'mean', 'rstd']);
  return plan(KERNELS.addLayerNormForward, {
    x: x.data, residual: r.data, rows, cols, weight: o.weight, bias: o.bias, residualBias: o.residualBias, eps, weightOffset,
    y: out?.y, sum: out?.sum, mean: out?.mean, rstd: out?.rstd, halfFormat: halfFormatOf(x),
  }, (a) => ({ y: tensorLike<A>(a.y, x), sum: tensorLike<A>(a.sum, x), mean: a.mean as StatsOf<A>, rstd: a.rstd as StatsOf<A> }));
}

export function planAddLayerNormBackward<A extends TensorData>(dy: Tensor<A>, sum: Tensor<A>, saved: { mean: StatsOf<A>; rstd: StatsOf<A> },
  normalizedShape: number | readonly number[], opts?: AddLayerNormBackwardOptions<A>):
  Plan<typeof KERNELS.addLayerNormBackward, AddNormBackwardResult<A>> {
  const { o, rows, cols, s, grads, weightOffset, out, dSum, residualBias } = checkAddBackward<AddLayerNormBackwardOptions>(dy, sum, saved,
    normalizedShape, opts, ['weight', 'bias', 'residualBias'], ['dx', 'dweight', 'dbias', 'dresidualBias']);
  return plan(KERNELS.addLayerNormBackward, {
    dy: dy.data, sum: sum.data, mean: s.mean, rstd: s.rstd, rows, cols, weight: o.weight, weightOffset, dSum: dSum?.data ?? null,
    dx: out?.dx, dweight: wanted(grads.weight, out?.dweight), dbias: wanted(grads.bias, out?.dbias),
    dresidualBias: wanted(residualBias, out?.dresidualBias), halfFormat: halfFormatOf(sum),
  }, (a) => addBackwardResult<A>(a.dx, sum, a.dweight, a.dbias, a.dresidualBias));
}

export function planAddRmsNorm<A extends TensorData>(x: Tensor<A>, residual: Tensor<A>, normalizedShape: number | readonly number[],
  opts?: AddRmsNormOptions<A>): Plan<typeof KERNELS.addRmsNormForward, AddRmsNormResult<A>> {
  const { o, rows, cols, eps, weightOffset, out, residual: r } = checkAddForward<AddRmsNormOptions>(x, residual, normalizedShape, opts,
    ADD_RMS_NORM_OPTIONS, 1e-6, ['y', 'sum', 'rstd']);
  return plan(KERNELS.addRmsNormForward, {
    x: x.data, residual: r.data, rows, cols, weight: o.weight, residualBias: o.residualBias, eps, weightOffset,
    y: out?.y, sum: out?.sum, rstd: out?.rstd, halfFormat: halfFormatOf(x),
  }, (a) => ({ y: tensorLike<A>(a.y, x), sum: tensorLike<A>(a.sum, x), rstd: a.rstd as StatsOf<A> }));
}

export function planAddRmsNormBackward<A extends TensorData>(dy: Tensor<A>, sum: Tensor<A>, saved: { rstd: StatsOf<A> },
  normalizedShape: number | readonly number[], opts?: AddRmsNormBackwardOptions<A>):
  Plan<typeof KERNELS.addRmsNormBackward, AddNormBackwardResult<A>> {
  const { o, rows, cols, s, grads, weightOffset, out, dSum, residualBias } = checkAddBackward<AddRmsNormBackwardOptions>(dy, sum, saved,
    normalizedShape, opts, ['weight', 'residualBias'], ['dx', 'dweight', 'dresidualBias']);
  return plan(KERNELS.addRmsNormBackward, {
    dy: dy.data, sum: sum.data, rstd: s.rstd, rows, cols, weight: o.weight, weightOffset, dSum: dSum?.data ?? null,
    dx: out?.dx, dweight: wanted(grads.weight, out?.dweight), dresidualBias: wanted(residualBias, out?.dresidualBias),
    halfFormat: halfFormatOf(sum),
  }, (a) => addBackwardResult<A>(a.dx, sum, a.dweight, null, a.dresidualBias));
}
