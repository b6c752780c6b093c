// TF.js's own normalization specs (tfjs-core's shipped batchnorm, moments and local response
// normalization spec files, with its jasmine test utilities on the cpu backend) as our test: run
// under jasmine without and with fastnorm's kernels registered (test/tfjs-specs/run-specs.mjs),
// every spec must pass both times and every FusedBatchNorm call of the second run must have been
// computed by fastnorm. A deliberately wrong kernel shows that the specs would catch one.
import { describe, expect, it } from 'vitest';
import { expectChildOk, runNodeFile } from './helpers';

interface OpCounter { fastnorm: number; fallback: number; reasons: Record<string, number> }
interface SpecRun {
  overallStatus: string;
  specs: number;
  passed: number;
  failed: number;
  pending: number;
  failures: string[];
  fusedBatchNormCalls: number;
  counters: { fusedBatchNorm: OpCounter; fusedBatchNormGrad: OpCounter } | null;
}

function runSpecs(...args: string[]): SpecRun {
  const r = runNodeFile('test/tfjs-specs/run-specs.mjs', args, { timeoutMs: 120_000 });
  expectChildOk(r);
  console.log(r.stderr.trim());
  return r.json as SpecRun;
}

function expectAllPassed(run: SpecRun): void {
  expect(run.failures).toEqual([]);
  expect(run.overallStatus).toBe('passed');
  expect(run.pending).toBe(0);
  expect(run.passed).toBe(run.specs);
}

describe("TF.js's normalization specs", () => {
  let without: SpecRun;

  it('pass on TF.js alone (the baseline: what the specs count)', () => {
    without = runSpecs();
    expectAllPassed(without);
    expect(without.specs).toBeGreaterThanOrEqual(60); // 36 batchNorm + 12 moments + 17 LRN in tfjs-core 4.22
    expect(without.fusedBatchNormCalls).toBeGreaterThan(40);
  });

  for (const implementation of ['default', 'reference']) {
    it(`pass with fastnorm's kernels registered (${implementation} fastnorm), every FusedBatchNorm computed by fastnorm`, () => {
      const run = runSpecs('--fastnorm', '--implementation', implementation);
      expectAllPassed(run);
      expect(run.specs).toBe(without.specs);
      expect(run.fusedBatchNormCalls).toBe(without.fusedBatchNormCalls);
      const { fusedBatchNorm, fusedBatchNormGrad } = run.counters!;
      expect(fusedBatchNorm).toEqual({ fastnorm: run.fusedBatchNormCalls, fallback: 0, reasons: {} });
      expect(fusedBatchNormGrad.fallback).toBe(0);
      expect(fusedBatchNormGrad.fastnorm).toBeGreaterThan(20); // the specs' tf.grad/tf.grads calls
    });
  }

  it('fail with a kernel whose outputs are off by 1e-2 (the specs can catch a wrong kernel)', () => {
    const run = runSpecs('--fastnorm', '--implementation', 'perturbed');
    expect(run.failed).toBeGreaterThan(10);
    expect(run.failures.join('\n')).toMatch(/batchnorm/i);
  });
});
