// What the TF.js integration computed with fastnorm and what it handed to TF.js's own code, and
// why: tests (TF.js's own specs included) assert that nothing took the slow path unseen.

/** Why a call went to TF.js's own implementation instead of fastnorm. */
export type FallbackReason =
  /** A tensor dtype fastnorm does not compute in (TF.js int32/bool), or a value float32 cannot hold exactly. */
  | 'dtype'
  /** The tensors are on a backend fastnorm is not registered for, or its data are not readable typed arrays. */
  | 'backend'
  /** Parameters whose lengths repeat with a period too long to expand (lcm of the lengths beyond 65536 values). */
  | 'period'
  /** A zero-length parameter read against a non-empty x (TF.js's kernel reads undefined: NaN). */
  | 'empty-parameter'
  /** A per-channel coefficient scale/√(variance + ε) outside float32's normal range (it would lose bits). */
  | 'range'
  /** Inputs TF.js's kernel rejects (ranks that differ, complex tensors): its own error is thrown. */
  | 'invalid'
  /** A gradient computed while a tape records (a gradient of a gradient): TF.js's differentiable one is used. */
  | 'higher-order';

/** Calls of one operation: computed by fastnorm, or handed to TF.js's implementation (by reason). */
export interface OpCounter {
  fastnorm: number;
  fallback: number;
  reasons: Partial<Record<FallbackReason, number>>;
}

/** Every counted operation of `fastnorm/tfjs`. */
export interface Counters {
  /** The `FusedBatchNorm` kernel (tf.batchNorm, and every tf.layers normalization built on it). */
  fusedBatchNorm: OpCounter;
  /** Its gradient (one count per backward pass through a FusedBatchNorm call). */
  fusedBatchNormGrad: OpCounter;
  /** Forward calls of this package's layers (their backward follows the forward's path). */
  layerNormalization: OpCounter;
  batchNormalization: OpCounter;
  groupNormalization: OpCounter;
}

export type CountedOp = keyof Counters;

const OPS: readonly CountedOp[] = [
  'fusedBatchNorm', 'fusedBatchNormGrad', 'layerNormalization', 'batchNormalization', 'groupNormalization',
];

function zeroCounters(): Counters {
  const c = {} as Counters;
  for (const op of OPS) c[op] = { fastnorm: 0, fallback: 0, reasons: {} };
  return c;
}

let counters = zeroCounters();

export function countFastnorm(op: CountedOp): void {
  counters[op].fastnorm++;
}

export function countFallback(op: CountedOp, reason: FallbackReason): void {
  const c = counters[op];
  c.fallback++;
  c.reasons[reason] = (c.reasons[reason] ?? 0) + 1;
}

/**
 * A snapshot of the counters since the last reset: per operation, the calls fastnorm computed and
 * those handed to TF.js's own implementation, by reason.
 * @example
 * import { getCounters } from 'fastnorm/tfjs';
 * const { fusedBatchNorm } = getCounters();
 * console.log(`${fusedBatchNorm.fastnorm} batchNorm calls on fastnorm, ${fusedBatchNorm.fallback} on TF.js`, fusedBatchNorm.reasons);
 */
export function getCounters(): Counters {
  const copy = zeroCounters();
  for (const op of OPS) copy[op] = { ...counters[op], reasons: { ...counters[op].reasons } };
  return copy;
}

/**
 * Sets every counter back to zero.
 * @example
 * resetCounters();
 * model.predict(x);
 * assert.equal(getCounters().fusedBatchNorm.fallback, 0);
 */
export function resetCounters(): void {
  counters = zeroCounters();
}
