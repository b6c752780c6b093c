// Output options and gradient selection, shared by every op's planner.
import type { BackwardResult, ParamOf, Tensor, TensorData } from './types.js';
import { checkBoolean, checkOptions } from './validate.js';

/** `out`: an options object of the given output names (or undefined). */
export function checkOut(v: unknown, known: readonly string[]): Record<string, unknown> | undefined {
  if (v === undefined) return undefined;
  return checkOptions('out', v, known) as Record<string, unknown>;
}

/** Which parameter gradients to compute: explicit `grads`, else both when weight is given. */
export function checkGrads(v: unknown, hasWeight: boolean, known: readonly string[]): { weight: boolean; bias: boolean } {
  const grads = checkOptions<{ weight: boolean; bias: boolean }>('grads', v, known);
  return { weight: checkBoolean('grads.weight', grads.weight, hasWeight), bias: checkBoolean('grads.bias', grads.bias, hasWeight) };
}

/** A gradient output is only accepted when that gradient is computed. */
export function checkUnwantedOutput(out: Record<string, unknown> | undefined, key: string, wanted: boolean, why: string): void {
  if (!wanted && out !== undefined && out[key] !== undefined && out[key] !== null)
    throw new RangeError(`out.${key} was given but ${why}`);
}

/** out.dweight / out.dbias only when those gradients are computed (RMSNorm: no bias). */
export function checkUnwantedOutputs(out: Record<string, unknown> | undefined, grads: { weight: boolean; bias: boolean },
  hasBias: boolean): void {
  checkUnwantedOutput(out, 'dweight', grads.weight, 'the weight gradient is not computed (pass weight or grads.weight)');
  if (hasBias) checkUnwantedOutput(out, 'dbias', grads.bias, 'the bias gradient is not computed (pass weight or grads.bias)');
}

/** Whether a weight was passed (its validity is checked with the kernel's arguments). */
export function hasWeight(weight: unknown): boolean {
  return weight !== undefined && weight !== null;
}

/** An output tensor of x's shape (and, for half-precision x, its dtype). */
export function tensorLike<A extends TensorData>(data: unknown, x: Tensor<TensorData>): Tensor<A> {
  const t: Tensor<TensorData> = { data: data as A, shape: x.shape.slice() };
  if (x.data instanceof Uint16Array) t.dtype = x.dtype;
  return t as Tensor<A>;
}

/** A backward's result: dx like x (its dtype too), the parameter gradients asked for. */
export function backwardResult<A extends TensorData>(dx: unknown, x: Tensor<TensorData>, dweight: unknown, dbias: unknown): BackwardResult<A> {
  const result: BackwardResult<A> = { dx: tensorLike<A>(dx, x) };
  if (dweight) result.dweight = dweight as ParamOf<A>;
  if (dbias) result.dbias = dbias as ParamOf<A>;
  return result;
}
