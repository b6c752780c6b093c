// examples/tfjs (README "Using fastnorm with TensorFlow.js"): the example builds a CNN and a
// transformer block with TF.js's and with fastnorm's normalization, checks that they agree, and
// times them; run as a user would, in a child process, with small batches (timings are printed,
// never asserted).
import { describe, expect, it } from 'vitest';
import { runNodeFile } from './helpers';

describe('examples/tfjs: TF.js models with and without fastnorm', () => {
  // a limit, not a timing assertion: the example runs two models in a child process, ~70 s on a loaded 2-core machine
  it('agree with TF.js (predictions and losses), every normalization on fastnorm, timings printed', { timeout: 240_000 }, () => {
    const r = runNodeFile('examples/tfjs/main.mjs', ['--runs', '1', '--batch', '2'], { timeoutMs: 240_000 });
    if (r.status !== 0) expect.fail(`the example failed (status ${r.status})\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    console.log(r.stdout.trim());
    expect(r.stdout).toMatch(/fastnorm native\//);
    for (const model of ['cnn', 'transformer']) expect(r.stdout).toMatch(new RegExp(`^${model} \\(batch 2\\):`, 'm'));
    expect(r.stdout.match(/training step +[\d.]+ ms/g)).toHaveLength(8);
    expect(r.stdout).toMatch(/normalization's share of the training step: -?\d+% with TF.js's layers, -?\d+% with fastnorm's/);
    expect(r.stdout).toMatch(/; 0 fell back to TF.js$/m);
    expect(r.stdout).toMatch(/^OK: the fastnorm variants agree with TF.js/m);
  });
});
