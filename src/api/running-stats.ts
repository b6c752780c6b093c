// Running statistics (BatchNorm, InstanceNorm): updated in place by training-mode calls as in
// PyTorch, `running = (1 - momentum)·running + momentum·batch` (unbiased batch variance).
import { checkBoolean } from './validate.js';

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

/**
 * The running-statistics options of a forward whose `mode` flag (BatchNorm's training,
 * InstanceNorm's useInputStats; default true) says whether it normalizes with the batch's
 * statistics (and updates the running ones, when given) or with the running ones (then required).
 */
export function checkRunningOptions(o: { runningMean?: unknown; runningVar?: unknown; momentum?: unknown } & Record<string, unknown>,
  mode: 'training' | 'useInputStats'): { running: boolean; useBatch: boolean; momentum: number } {
  const running = checkRunningStats(o.runningMean, o.runningVar);
  const useBatch = checkBoolean(mode, o[mode], true);
  const momentum = checkMomentum(o.momentum);
  if (!useBatch && !running) throw new TypeError(`runningMean and runningVar are required when ${mode} is false`);
  return { running, useBatch, momentum };
}
