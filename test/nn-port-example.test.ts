// examples/pytorch-port (README "Layers"): the Node program loads the checkpoint PyTorch wrote
// (examples/pytorch-port/model.safetensors, committed) into fastnorm/nn modules and checks its
// eval and train outputs, running statistics and one backward's gradients against PyTorch's
// (reference.safetensors); it exits 1 beyond the float32 tolerance. Run as a user would, in a
// child process, on both backends. No Python is needed.
import { describe, expect, it } from 'vitest';
import { runNodeFile } from './helpers';

const EXAMPLE = 'examples/pytorch-port/main.mjs';

describe('examples/pytorch-port: a PyTorch model ported to fastnorm/nn', () => {
  it.each([['native', {}], ['reference', { FASTNORM_BACKEND: 'reference' }]] as const)(
    '%s backend: eval, train and backward reproduce PyTorch within 1e-5, errors printed', (_name, env) => {
      const r = runNodeFile(EXAMPLE, [], { env: { ...env } });
      if (r.status !== 0) expect.fail(`the example failed (status ${r.status})\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^PyTorch \S+ .*→ fastnorm/m);
      const errors = Object.fromEntries([...r.stdout.matchAll(/^(eval|train|running stats|backward)\s+max error (\S+) over (\d+)/gm)]
        .map(([, group, err, n]) => [group, { err: Number(err), n: Number(n) }]));
      expect(Object.keys(errors)).toEqual(['eval', 'train', 'running stats', 'backward']);
      expect(errors.backward.n).toBe(25);
      for (const [group, { err }] of Object.entries(errors)) expect(err, group).toBeLessThanOrEqual(1e-5);
      expect(r.stdout).toMatch(/^OK: fastnorm\/nn reproduces PyTorch/m);
    });

  it('a tighter tolerance than the errors fails the check, so the check can fail', () => {
    const r = runNodeFile(EXAMPLE, ['--tolerance', '1e-12']);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^FAIL /m);
  });
});
