// The public operations, built once per backend: validate → allocate outputs → call the
// backend's kernel. Every backend gets exactly the same validation and the same results shape.
import { allocate } from './alloc.js';
import type {
  BackwardResult, FloatArray, LayerNormBackwardOptions, LayerNormOptions, LayerNormResult, RmsNormBackwardOptions,
  RmsNormOptions, RmsNormResult, Tensor,
} from './types.js';
import {
  checkArray, checkBoolean, checkEps, checkNoAliasing, checkNormalizedShape, checkOptions, checkRequiredArray,
  checkTensor, type FloatArrayConstructor,
} from './validate.js';
import type { Kernels } from '../backends/kernels.js';

const LAYER_NORM_OPTIONS = ['weight', 'bias', 'eps', 'out'] as const;
const RMS_NORM_OPTIONS = ['weight', 'eps', 'out'] as const;
const BACKWARD_OPTIONS = ['weight', 'grads', 'out'] as const;

function dtypeOf(x: Tensor): FloatArrayConstructor {
  return x.data.constructor as FloatArrayConstructor;
}

/** out.<key> if given (checked), else a new array. */
function output<A extends FloatArray>(out: Record<string, unknown> | undefined, key: string, dtype: FloatArrayConstructor,
  length: number): A {
  const given = out === undefined ? null : checkArray(`out.${key}`, out[key], dtype, length);
  return (given ?? allocate(dtype, length)) as A;
}

function checkOut(v: unknown, known: readonly string[]): Record<string, unknown> | undefined {
  if (v === undefined) return undefined;
  return checkOptions('out', v, known) as Record<string, unknown>;
}

/** Which parameter gradients to compute: explicit `grads`, else both when weight is given. */
function checkGrads(v: unknown, hasWeight: boolean, known: readonly string[]): { weight: boolean; bias: boolean } {
  const grads = checkOptions<{ weight: boolean; bias: boolean }>('grads', v, known);
  return { weight: checkBoolean('grads.weight', grads.weight, hasWeight), bias: checkBoolean('grads.bias', grads.bias, hasWeight) };
}

/** A gradient output is only accepted when that gradient is computed. */
function checkUnwantedOutput(out: Record<string, unknown> | undefined, key: string, wanted: boolean, why: string): void {
  if (!wanted && out !== undefined && out[key] !== undefined && out[key] !== null)
    throw new RangeError(`out.${key} was given but ${why}`);
}

export interface Ops {
  layerNorm<A extends FloatArray>(x: Tensor<A>, normalizedShape: number | readonly number[], opts?: LayerNormOptions<A>): LayerNormResult<A>;
  layerNormBackward<A extends FloatArray>(dy: Tensor<A>, x: Tensor<A>, saved: { mean: A; rstd: A },
    normalizedShape: number | readonly number[], opts?: LayerNormBackwardOptions<A>): BackwardResult<A>;
  rmsNorm<A extends FloatArray>(x: Tensor<A>, normalizedShape: number | readonly number[], opts?: RmsNormOptions<A>): RmsNormResult<A>;
  rmsNormBackward<A extends FloatArray>(dy: Tensor<A>, x: Tensor<A>, saved: { rstd: A },
    normalizedShape: number | readonly number[], opts?: RmsNormBackwardOptions<A>): BackwardResult<A>;
}

export function createOps(kernels: Kernels): Ops {
  function layerNorm(x: Tensor, normalizedShape: unknown, opts?: LayerNormOptions): LayerNormResult {
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
    kernels.layerNormForward(x.data, rows, cols, weight, bias, eps, y, mean, rstd);
    return { y: { data: y, shape: x.shape.slice() }, mean, rstd };
  }

  function layerNormBackward(dy: Tensor, x: Tensor, saved: { mean: FloatArray; rstd: FloatArray }, normalizedShape: unknown,
    opts?: LayerNormBackwardOptions): BackwardResult {
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
    const out = checkOut(o.out, ['dx', 'dweight', 'dbias']);
    checkUnwantedOutput(out, 'dweight', grads.weight, 'the weight gradient is not computed (pass weight or grads.weight)');
    checkUnwantedOutput(out, 'dbias', grads.bias, 'the bias gradient is not computed (pass weight or grads.bias)');
    const dx = output(out, 'dx', dtype, x.data.length);
    const dweight = grads.weight ? output(out, 'dweight', dtype, cols) : null;
    const dbias = grads.bias ? output(out, 'dbias', dtype, cols) : null;
    if (out) checkNoAliasing({ 'out.dx': dx, 'out.dweight': dweight, 'out.dbias': dbias },
      { dy: dy.data, x: x.data, 'saved.mean': mean, 'saved.rstd': rstd, weight });
    kernels.layerNormBackward(dy.data, x.data, mean, rstd, rows, cols, weight, dx, dweight, dbias);
    return backwardResult(dx, x, dweight, dbias);
  }

  function rmsNorm(x: Tensor, normalizedShape: unknown, opts?: RmsNormOptions): RmsNormResult {
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
    kernels.rmsNormForward(x.data, rows, cols, weight, null, eps, y, null, rstd);
    return { y: { data: y, shape: x.shape.slice() }, rstd };
  }

  function rmsNormBackward(dy: Tensor, x: Tensor, saved: { rstd: FloatArray }, normalizedShape: unknown,
    opts?: RmsNormBackwardOptions): BackwardResult {
    checkTensor('x', x);
    const dtype = dtypeOf(x);
    checkSameShape(checkTensor('dy', dy, dtype), x);
    const o = checkOptions<RmsNormBackwardOptions>('opts', opts, BACKWARD_OPTIONS);
    const [rows, cols] = checkNormalizedShape(normalizedShape, x.shape);
    const s = checkSaved(saved);
    const rstd = checkRequiredArray('saved.rstd', s.rstd, dtype, rows);
    const weight = checkArray('weight', o.weight, dtype, cols);
    const grads = checkGrads(o.grads, weight !== null, ['weight']);
    const out = checkOut(o.out, ['dx', 'dweight']);
    checkUnwantedOutput(out, 'dweight', grads.weight, 'the weight gradient is not computed (pass weight or grads.weight)');
    const dx = output(out, 'dx', dtype, x.data.length);
    const dweight = grads.weight ? output(out, 'dweight', dtype, cols) : null;
    if (out) checkNoAliasing({ 'out.dx': dx, 'out.dweight': dweight }, { dy: dy.data, x: x.data, 'saved.rstd': rstd, weight });
    kernels.rmsNormBackward(dy.data, x.data, null, rstd, rows, cols, weight, dx, dweight, null);
    return backwardResult(dx, x, dweight, null);
  }

  return { layerNorm, layerNormBackward, rmsNorm, rmsNormBackward } as Ops;
}

/** `saved` is the forward's result (or any object holding its statistics); other keys are ignored. */
function checkSaved(saved: unknown): { mean?: unknown; rstd?: unknown } {
  if (typeof saved !== 'object' || saved === null) throw new TypeError('saved must be the statistics object the forward returned');
  return saved as { mean?: unknown; rstd?: unknown };
}

function checkSameShape(dy: Tensor, x: Tensor): void {
  const a = dy.shape;
  const b = x.shape;
  if (a.length !== b.length || a.some((d, i) => d !== b[i]))
    throw new RangeError(`dy.shape [${a.join(', ')}] must equal x.shape [${b.join(', ')}]`);
}

function backwardResult(dx: FloatArray, x: Tensor, dweight: FloatArray | null, dbias: FloatArray | null): BackwardResult {
  const result: BackwardResult = { dx: { data: dx, shape: x.shape.slice() } };
  if (dweight) result.dweight = dweight;
  if (dbias) result.dbias = dbias;
  return result;
}
