// examples/batch-size-study (README "Layers"): a smoke run only — the tiny configuration goes
// through the whole path (workers, every norm, training, both accuracies, the SVG and the JSON)
// in about a second. The full study (about a minute on 2 quiet cores) wrote the committed SVG.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runNodeFile } from './helpers';

describe('examples/batch-size-study', () => {
  it('--smoke: trains every norm at 2 batch sizes and writes the SVG plot and the JSON results', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'fastnorm-study-'));
    try {
      const r = runNodeFile('examples/batch-size-study/main.mjs', ['--smoke', '--out', out], { timeoutMs: 60_000 });
      if (r.status !== 0) expect.fail(`the study failed (status ${r.status})\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
      expect(r.stdout).toMatch(/10 runs in \d+ s on \d workers?/);
      const json = JSON.parse(readFileSync(path.join(out, 'batch-size-study.json'), 'utf8'));
      expect(json.results).toHaveLength(10);
      for (const row of json.results) {
        expect(row.evalAccuracy).toBeGreaterThanOrEqual(0);
        expect(row.evalAccuracy).toBeLessThanOrEqual(1);
        expect(row.trainModeAccuracy === null).toBe(row.norm !== 'BatchNorm');
      }
      const svg = readFileSync(path.join(out, 'batch-size-study.svg'), 'utf8');
      expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      expect(svg.match(/<polyline /g)).toHaveLength(5 + 2);
      for (const label of ['BatchNorm', 'GroupNorm', 'LayerNorm', 'InstanceNorm', 'no norm', 'train mode (batch stats)']) expect(svg).toContain(label);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('the committed results are those of the full configuration, and README shows the plot', () => {
    const json = JSON.parse(readFileSync(path.join(REPO_ROOT, 'examples/batch-size-study/batch-size-study.json'), 'utf8'));
    expect(json.config.batches).toEqual([2, 4, 8, 16, 32, 64, 128]);
    expect(new Set(json.results.map((r: { norm: string }) => r.norm))).toEqual(new Set(['BatchNorm', 'GroupNorm', 'LayerNorm', 'InstanceNorm', 'no norm']));
    expect(readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8')).toContain('examples/batch-size-study/batch-size-study.svg');
  });
});
