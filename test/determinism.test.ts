// DESIGN §3: results are bitwise identical for every thread count, and (the stated goal) for
// every SIMD path. Every supported ISA × threads {1, 2, 3, 8} must reproduce the bits of the
// first configuration, for shapes big enough to be split over threads (≥ 1<<16 values; the
// kernels run inline below 1<<15) and a huge row (blocked path). Environment overrides
// (FASTNORM_ISA, FASTNORM_THREADS) are read at load, so they are checked in child processes.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import { nativeAddon } from '../src/api/facade';
import type { FloatArray } from '../src/api/types';
import { DTYPES, expectBitwiseEqual, isaThreadConfigs, expectChildOk, makeRng, randn, runNode, tensor, type DType } from './helpers';

const addon = nativeAddon!;
const { isas: ISAS, configs: CONFIGS, configure, initial } = isaThreadConfigs();
const SHAPES = [[300, 1000], [128, 768], [3, 70000]];

type Outputs = Record<string, FloatArray>;

function inputsFor(dtype: DType, shape: number[]) {
  const rng = makeRng(shape[0] * 100003 + shape[1]);
  const n = shape[0] * shape[1];
  const cols = shape[1];
  return {
    cols,
    x: tensor(randn(rng, dtype, n, 2, 0.5), shape),
    dy: tensor(randn(rng, dtype, n), shape),
    weight: randn(rng, dtype, cols, 0.5, 1),
    bias: randn(rng, dtype, cols),
  };
}

type In = ReturnType<typeof inputsFor>;

const OPS: Record<string, (i: In) => Outputs> = {
  layerNorm: ({ x, cols, weight, bias }) => {
    const r = fastnorm.layerNorm(x, cols, { weight, bias });
    return { y: r.y.data, mean: r.mean, rstd: r.rstd };
  },
  layerNormBackward: ({ x, dy, cols, weight }) => {
    // fixed saved statistics (computed once per input), so only the backward kernel is compared
    const { mean, rstd } = savedLayerNorm.get(x.data)!;
    const r = fastnorm.layerNormBackward(dy, x, { mean, rstd }, cols, { weight });
    return { dx: r.dx.data, dweight: r.dweight!, dbias: r.dbias! };
  },
  rmsNorm: ({ x, cols, weight }) => {
    const r = fastnorm.rmsNorm(x, cols, { weight });
    return { y: r.y.data, rstd: r.rstd };
  },
  rmsNormBackward: ({ x, dy, cols, weight }) => {
    const { rstd } = savedRmsNorm.get(x.data)!;
    const r = fastnorm.rmsNormBackward(dy, x, { rstd }, cols, { weight });
    return { dx: r.dx.data, dweight: r.dweight! };
  },
};

const savedLayerNorm = new Map<FloatArray, { mean: FloatArray; rstd: FloatArray }>();
const savedRmsNorm = new Map<FloatArray, { rstd: FloatArray }>();

const CASES = DTYPES.flatMap((d) => SHAPES.map((s) => [`${d} [${s.join(', ')}]`, d, s] as const));

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
});

describe.each(Object.keys(OPS))('%s: bitwise identical for every ISA × threads {1, 2, 3, 8}', (op) => {
  it.each(CASES)('%s', (_n, dtype, shape) => {
    const inp = inputsFor(dtype, shape);
    if (op === 'layerNormBackward' || op === 'rmsNormBackward') {
      const ln = fastnorm.reference.layerNorm(inp.x, inp.cols, { weight: inp.weight, bias: inp.bias });
      savedLayerNorm.set(inp.x.data, { mean: ln.mean, rstd: ln.rstd });
      savedRmsNorm.set(inp.x.data, { rstd: fastnorm.reference.rmsNorm(inp.x, inp.cols, { weight: inp.weight }).rstd });
    }
    let first: Outputs | null = null;
    let firstName = '';
    try {
      for (const { isa, threads } of CONFIGS) {
        configure(isa, threads);
        const out = OPS[op](inp);
        if (!first) {
          first = out;
          firstName = `${isa}/${threads} threads`;
          continue;
        }
        for (const k of Object.keys(first))
          expectBitwiseEqual(out[k], first[k], `${op} ${k}: ${isa}/${threads} threads vs ${firstName}`);
      }
    } finally {
      configure(initial.isa, initial.threads);
    }
  });
});

describe('thread-count independence on repeated calls', () => {
  it('the same call twice at 8 threads gives the same bits (no racy accumulation)', () => {
    const inp = inputsFor('float32', [300, 1000]);
    fastnorm.setNumThreads(8);
    try {
      for (let rep = 0; rep < 3; rep++) {
        const { mean, rstd } = fastnorm.layerNorm(inp.x, inp.cols);
        const a = fastnorm.layerNormBackward(inp.dy, inp.x, { mean, rstd }, inp.cols, { weight: inp.weight });
        const b = fastnorm.layerNormBackward(inp.dy, inp.x, { mean, rstd }, inp.cols, { weight: inp.weight });
        expectBitwiseEqual(a.dweight!, b.dweight!, 'dweight');
        expectBitwiseEqual(a.dx.data, b.dx.data, 'dx');
      }
    } finally {
      fastnorm.setNumThreads(initial.threads);
    }
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
