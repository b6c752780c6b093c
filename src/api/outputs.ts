// Output buffers and gradient selection, shared by every op's planner.
import { allocate } from './alloc.js';
import type { BackwardResult, FloatArray, Tensor } from './types.js';
import { checkArray, checkBoolean, checkOptions, type FloatArrayConstructor } from './validate.js';

/** out.<key> if given (checked), else a new array. */
export function output<A extends FloatArray>(out: Record<string, unknown> | undefined, key: string, dtype: FloatArrayConstructor,
  length: number): A {
  const given = out === undefined ? null : checkArray(`out.${key}`, out[key], dtype, length);
  return (given ?? allocate(dtype, length)) as A;
}

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


export function backwardResult(dx: FloatArray, x: Tensor, dweight: FloatArray | null, dbias: FloatArray | null): BackwardResult {
  const result: BackwardResult = { dx: { data: dx, shape: x.shape.slice() } };
  if (dweight) result.dweight = dweight;
  if (dbias) result.dbias = dbias;
  return result;
}

/**
 * The outputs of a backward call: dx (length values), and dweight/dbias (paramLength values)
 * when those gradients are computed; `out` buffers are checked and used where given.
 */
export function backwardOutputs(grads: { weight: boolean; bias: boolean }, outOption: unknown, dtype: FloatArrayConstructor,
  length: number, paramLength: number, hasBias = true) {
  const out = checkOut(outOption, hasBias ? ['dx', 'dweight', 'dbias'] : ['dx', 'dweight']);
  checkUnwantedOutput(out, 'dweight', grads.weight, 'the weight gradient is not computed (pass weight or grads.weight)');
  if (hasBias) checkUnwantedOutput(out, 'dbias', grads.bias, 'the bias gradient is not computed (pass weight or grads.bias)');
  const dx = output(out, 'dx', dtype, length);
  const dweight = grads.weight ? output(out, 'dweight', dtype, paramLength) : null;
  const dbias = hasBias && grads.bias ? output(out, 'dbias', dtype, paramLength) : null;
  return { out, dx, dweight, dbias };
}
