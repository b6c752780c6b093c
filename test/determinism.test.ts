// DESIGN §3: results are bitwise identical for every thread count and every SIMD path. The ops'
// ISA × threads tests are in determinism-ops.ts (run by the three determinism-*.test.ts files);
// here: the paths the addon reports, and the environment overrides (FASTNORM_ISA,
// FASTNORM_THREADS), read at load, so checked in child processes.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FloatArray } from '../src/api/types';
import { nativeAddon } from '../src/backends/default';
import * as fastnorm from '../src/index';
import { INPUTS, OP_FAMILIES } from './determinism-ops';
import { expectChildOk, isaThreadConfigs, runNode, tensor } from './helpers';
import { OP_NAMES } from './op-cases';

const addon = nativeAddon!;
const { isas: ISAS, configure, initial } = isaThreadConfigs();

describe('supported ISA paths', () => {
  it('the addon reports its supported ISAs, ending with scalar', () => {
    expect(ISAS.length).toBeGreaterThanOrEqual(1);
    expect(ISAS[ISAS.length - 1]).toBe('scalar');
    expect(new Set(ISAS).size).toBe(ISAS.length);
  });

  it.runIf(!process.env.FASTNORM_ISA)('without FASTNORM_ISA the best supported path is used', () => {
    expect(initial.isa).toBe(ISAS[0]);
  });

  it('_setIsa to an unsupported or unknown path falls back instead of failing', () => {
    try {
      expect(addon._setIsa('bogus')).toBe(ISAS[0]);
      expect(ISAS).toContain(addon._setIsa('avx512'));
    } finally {
      configure(initial.isa, initial.threads);
    }
  });

  it('the inputs are big enough to be multithreaded (≥ 1<<16 values)', () => {
    for (const [what, [a, b, c]] of INPUTS) expect(a * b * c, what).toBeGreaterThanOrEqual(1 << 16);
  });

  it('the determinism-*.test.ts files run every family of ops once, and the families hold every op once', () => {
    const covered = Object.values(OP_FAMILIES).flat();
    expect([...covered].sort()).toEqual([...OP_NAMES].sort());
    for (const family of Object.values(OP_FAMILIES)) expect(family.length).toBeGreaterThan(0);
    // each family's tests are run by exactly one file (a family no file runs would test nothing)
    const files = readdirSync('test').filter((f) => /^determinism-.+\.test\.ts$/.test(f));
    const run = files.flatMap((f) => [...readFileSync(join('test', f), 'utf8').matchAll(/describeOpDeterminism\(OP_FAMILIES\.(\w+)\)/g)].map((m) => m[1]));
    expect([...run].sort()).toEqual(Object.keys(OP_FAMILIES).sort());
  });
});

// ---------------------------------------------------------------------------------------------
// Environment overrides, read at load: child processes running the built package (dist/).

/** Deterministic data, the same in the parent and in the child (the source is shared). */
const LCG_SOURCE = `(C, n, seed) => { const a = new C(n); let s = seed; for (let i = 0; i < n; i++) { s = (s * 48271) % 2147483647; a[i] = (s / 2147483647 - 0.5) * 4; } return a; }`;
const lcg = new Function(`return ${LCG_SOURCE}`)() as (C: typeof Float32Array | typeof Float64Array, n: number, seed: number) => FloatArray;

function sha256(a: FloatArray): string {
  return createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
}

/** A child script: loads fastnorm, prints info, threads and the sha256 of a layerNorm + backward. */
const CHILD = `
const f = require('fastnorm');
const { createHash } = require('node:crypto');
const lcg = ${LCG_SOURCE};
const h = (a) => createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
const x = { data: lcg(Float32Array, 64 * 1000, 7), shape: [64, 1000] };
const w = lcg(Float32Array, 1000, 8);
const r = f.layerNorm(x, 1000, { weight: w });
const g = f.layerNormBackward({ data: lcg(Float32Array, 64 * 1000, 9), shape: [64, 1000] }, x, { mean: r.mean, rstd: r.rstd }, 1000, { weight: w });
console.log(JSON.stringify({ info: f.info(), threads: f.getNumThreads(), y: h(r.y.data), dx: h(g.dx.data), dweight: h(g.dweight) }));
`;

function parentHashes(isa: string): { y: string; dx: string; dweight: string } {
  configure(isa, initial.threads);
  try {
    const x = tensor(lcg(Float32Array, 64 * 1000, 7), [64, 1000]);
    const w = lcg(Float32Array, 1000, 8) as Float32Array;
    const r = fastnorm.layerNorm(x, 1000, { weight: w });
    const g = fastnorm.layerNormBackward(tensor(lcg(Float32Array, 64 * 1000, 9), [64, 1000]), x, { mean: r.mean, rstd: r.rstd }, 1000,
      { weight: w });
    return { y: sha256(r.y.data), dx: sha256(g.dx.data), dweight: sha256(g.dweight!) };
  } finally {
    configure(initial.isa, initial.threads);
  }
}

describe('environment overrides (child processes)', () => {
  it.runIf(ISAS.includes('avx2'))('FASTNORM_ISA=avx2 selects the avx2 path, with the same bits as the in-process avx2 path', () => {
    const r = runNode(CHILD, { env: { FASTNORM_ISA: 'avx2' } });
    expectChildOk(r);
    expect(r.json.info).toMatchObject({ backend: 'native', isa: 'avx2' });
    expect(r.stderr).not.toMatch(/Warning/);
    expect({ y: r.json.y, dx: r.json.dx, dweight: r.json.dweight }).toEqual(parentHashes('avx2'));
  });

  it('FASTNORM_ISA=scalar selects the scalar path', () => {
    const r = runNode(CHILD, { env: { FASTNORM_ISA: 'scalar' } });
    expectChildOk(r);
    expect(r.json.info).toMatchObject({ backend: 'native', isa: 'scalar' });
    expect({ y: r.json.y, dx: r.json.dx, dweight: r.json.dweight }).toEqual(parentHashes('scalar'));
  });

  it('FASTNORM_ISA=bogus warns (naming the variable) and falls back to the best supported path', () => {
    const r = runNode(CHILD, { env: { FASTNORM_ISA: 'bogus' } });
    expectChildOk(r);
    expect(r.json.info).toMatchObject({ backend: 'native', isa: ISAS[0] });
    expect(r.stderr).toMatch(/FASTNORM_ISA=bogus/);
    expect(r.stderr).toMatch(/Warning/);
  });

  it('FASTNORM_THREADS=3 sets getNumThreads() and info().threads to 3', () => {
    const r = runNode(CHILD, { env: { FASTNORM_THREADS: '3' } });
    expectChildOk(r);
    expect(r.json.threads).toBe(3);
    expect(r.json.info.threads).toBe(3);
    expect(r.stderr).toBe('');
    // and the results are the ones of any other thread count
    expect({ y: r.json.y, dx: r.json.dx, dweight: r.json.dweight }).toEqual(parentHashes(ISAS[0]));
  });

  it('FASTNORM_THREADS=0 and =abc warn and keep the default thread count', () => {
    const base = runNode(CHILD);
    expectChildOk(base);
    for (const v of ['0', 'abc', '2.5']) {
      const r = runNode(CHILD, { env: { FASTNORM_THREADS: v } });
      expectChildOk(r);
      expect(r.json.threads, `FASTNORM_THREADS=${v}`).toBe(base.json.threads);
      expect(r.stderr, `FASTNORM_THREADS=${v}`).toMatch(new RegExp(`FASTNORM_THREADS=${v.replace('.', '\\.')}`));
    }
  });
});
