// Running statistics (BatchNorm, InstanceNorm): updated in place by training-mode calls as in
// PyTorch, `running = (1 - momentum)·running + momentum·batch` (unbiased batch variance).
import { checkArray, checkNoAliasing, type FloatArrayConstructor } from './validate.js';

/** `momentum`: a finite number, default 0.1. */
export function checkMomentum(v: unknown): number {
  if (v === undefined) return 0.1;
  if (typeof v !== 'number') throw new TypeError(`momentum must be a number, got ${typeof v}`);
  if (!Number.isFinite(v)) throw new RangeError(`momentum must be a finite number, got ${v}`);
  return v;
}

/** Running statistics: both or neither, C values of the dtype each, not sharing memory. */
export function checkRunningStats(mean: unknown, variance: unknown, dtype: FloatArrayConstructor, c: number) {
  const runningMean = checkArray('runningMean', mean, dtype, c);
  const runningVar = checkArray('runningVar', variance, dtype, c);
  if ((runningMean === null) !== (runningVar === null)) throw new TypeError('runningMean and runningVar must be given together');
  if (runningMean && runningVar) checkNoAliasing({ runningMean }, { runningVar });
  return { runningMean, runningVar };
}
