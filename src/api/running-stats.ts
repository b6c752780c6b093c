// Running statistics (BatchNorm, InstanceNorm): updated in place by training-mode calls as in
// PyTorch, `running = (1 - momentum)·running + momentum·batch` (unbiased batch variance).

/** `momentum`: a finite number, default 0.1. */
export function checkMomentum(v: unknown): number {
  if (v === undefined) return 0.1;
  if (typeof v !== 'number') throw new TypeError(`momentum must be a number, got ${typeof v}`);
  if (!Number.isFinite(v)) throw new RangeError(`momentum must be a finite number, got ${v}`);
  return v;
}

/**
 * Running statistics are given both or neither (their arrays are checked with the kernel's
 * arguments: C values of the dtype each, not sharing memory); true when given.
 */
export function checkRunningStats(mean: unknown, variance: unknown): boolean {
  const hasMean = mean !== undefined && mean !== null;
  const hasVar = variance !== undefined && variance !== null;
  if (hasMean !== hasVar) throw new TypeError('runningMean and runningVar must be given together');
  return hasMean;
}
