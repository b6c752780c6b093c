// API.md: "If the native addon cannot be loaded, fastnorm still works on the reference backend
// and info().backend says so." The addon is chosen at load, so each case is a child process
// running the built package (require('fastnorm') from the repo root resolves to dist/).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectChildOk, runNode } from './helpers';

/** Loads fastnorm, runs a small layerNorm (+ backward) and prints what happened. */
const CHILD = `
const f = require('fastnorm');
const x = { data: new Float64Array([1, 2, 3, 4, 10, 10, 10, 10]), shape: [2, 4] };
const r = f.layerNorm(x, 4, { eps: 0 });
const g = f.layerNormBackward({ data: new Float64Array([1, 0, 0, 0, 0, 0, 0, 1]), shape: [2, 4] }, x, { mean: r.mean, rstd: r.rstd }, 4,
  { weight: new Float64Array([1, 1, 1, 1]) });
console.log(JSON.stringify({ info: f.info(), y: Array.from(r.y.data), mean: Array.from(r.mean), rstd: Array.from(r.rstd),
  dbias: Array.from(g.dbias) }));
`;

// Row 1: mean 2.5, var 1.25 → y = (x − 2.5)/sqrt(1.25); row 2 is constant with eps = 0 → rstd = 0, y = 0.
const s = Math.sqrt(1.25);
const EXPECTED = { y: [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s, 0, 0, 0, 0], mean: [2.5, 10], rstd: [1 / s, 0], dbias: [1, 0, 0, 1] };

function expectResults(json: { y: number[]; mean: number[]; rstd: number[]; dbias: number[] }): void {
  for (const k of ['y', 'mean', 'rstd', 'dbias'] as const) {
    expect(json[k].length, k).toBe(EXPECTED[k].length);
    json[k].forEach((v, i) => expect(v, `${k}[${i}]`).toBeCloseTo(EXPECTED[k][i], 12));
  }
}

const tmp = mkdtempSync(path.join(tmpdir(), 'fastnorm-fallback-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('fallback to the reference backend', () => {
  it('FASTNORM_ADDON_PATH=/nonexistent/fastnorm.node: reference backend, a warning naming the path and the reference backend, ops work', () => {
    const r = runNode(CHILD, { env: { FASTNORM_ADDON_PATH: '/nonexistent/fastnorm.node' } });
    expectChildOk(r);
    expect(r.json.info).toMatchObject({ backend: 'reference', isa: 'none' });
    expect(r.stderr).toMatch(/Warning/);
    expect(r.stderr).toMatch(/reference backend/);
    expect(r.stderr).toContain('/nonexistent/fastnorm.node');
    expectResults(r.json);
  });

  it('FASTNORM_ADDON_PATH pointing to a file that is not an addon: same fallback, the load error is reported', () => {
    const bogus = path.join(tmp, 'fastnorm.node');
    writeFileSync(bogus, 'this is not a shared object\n');
    const r = runNode(CHILD, { env: { FASTNORM_ADDON_PATH: bogus } });
    expectChildOk(r);
    expect(r.json.info.backend).toBe('reference');
    expect(r.stderr).toMatch(/reference backend/);
    expect(r.stderr).toContain(bogus);
    expectResults(r.json);
  });

  it('FASTNORM_BACKEND=reference: reference backend without any warning', () => {
    const r = runNode(CHILD, { env: { FASTNORM_BACKEND: 'reference' } });
    expectChildOk(r);
    expect(r.json.info).toMatchObject({ backend: 'reference', isa: 'none' });
    expect(r.stderr).toBe('');
    expectResults(r.json);
  });

  it('by default (no override) the native addon is loaded, without any warning, with the same results', () => {
    const r = runNode(CHILD);
    expectChildOk(r);
    expect(r.json.info.backend).toBe('native');
    expect(r.stderr).toBe('');
    expectResults(r.json);
  });

  it('FASTNORM_BACKEND=bogus warns and uses the native backend', () => {
    const r = runNode(CHILD, { env: { FASTNORM_BACKEND: 'bogus' } });
    expectChildOk(r);
    expect(r.json.info.backend).toBe('native');
    expect(r.stderr).toMatch(/FASTNORM_BACKEND=bogus/);
    expectResults(r.json);
  });
});
