// examples/sync-batchnorm (README "Synchronized BatchNorm"): the example splits a batch over
// worker_threads sharing memory, merges the per-shard statistics and sums, and checks the result
// against single-batch batchNorm / batchNormBackward itself (exit status 1 beyond float32
// tolerance). Run as a user would, in a child process, in both layouts and with uneven shards.
import { describe, expect, it } from 'vitest';
import { runNodeFile } from './helpers';

const EXAMPLE = 'examples/sync-batchnorm/main.mjs';

/** The errors the example prints ("name value" pairs after the colons), by name. */
function printedErrors(stdout: string): Record<string, number> {
  const errors: Record<string, number> = {};
  for (const line of stdout.split('\n').filter((l) => /error vs single-batch/.test(l))) {
    for (const [, name, value] of line.split(':').slice(1).join(':').matchAll(/(\w+) ([-+.\de]+)/g)) errors[name] = Number(value);
  }
  return errors;
}

describe('examples/sync-batchnorm: synchronized BatchNorm over worker_threads', () => {
  it.each([
    ['NCHW, 4 workers (the defaults)', []],
    ['NHWC, 3 workers (uneven shards)', ['--layout', 'NHWC', '--workers', '3']],
    ['NCHW, 8 workers (one sample each)', ['--workers', '8']],
  ] as const)('%s: matches the single-batch result, errors printed', (_name, args) => {
    const r = runNodeFile(EXAMPLE, [...args]);
    if (r.status !== 0) expect.fail(`the example failed (status ${r.status})\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/fastnorm native\//);
    expect(r.stdout).toMatch(/^OK: the sharded result matches the single batch/m);
    const errors = printedErrors(r.stdout);
    expect(Object.keys(errors).sort()).toEqual(['dbias', 'dweight', 'dx', 'mean', 'rstd', 'runningMean', 'runningVar', 'y']);
    for (const [k, v] of Object.entries(errors)) expect(v, k).toBeLessThanOrEqual(1e-5);
  });
});
