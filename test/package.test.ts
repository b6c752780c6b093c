// The built package (dist/, made by `npm install` → prepare → build:ts) as users load it: ESM
// `import` and CJS `require` of 'fastnorm' and 'fastnorm/reference', in child processes whose cwd
// is the repo root, so the bare specifiers resolve through package.json "exports" (self-reference).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as src from '../src/index';
import * as srcNn from '../src/nn';
import * as srcReference from '../src/reference';
import * as srcTfjs from '../src/tfjs';
import { expectChildOk, REPO_ROOT, runNode } from './helpers';

const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
// every public function (the reference entry exports exactly the API; the main entry adds the namespaces)
const API_NAMES = Object.keys(srcReference).sort();

/** What each child prints: export names, info, a layerNorm result and a backward result. */
const PROBE = (f: string) => `
const names = Object.keys(${f}).filter((n) => n !== 'default' && n !== '__esModule').sort();
const x = { data: new Float32Array([1, 2, 3, 4, 4, 3, 2, 1]), shape: [2, 4] };
const r = ${f}.layerNorm(x, 4, { weight: new Float32Array([1, 2, 1, 2]), bias: new Float32Array([0, 0, 1, 1]) });
const g = ${f}.rmsNormBackward({ data: new Float32Array(8).fill(1), shape: [2, 4] }, x, { rstd: ${f}.rmsNorm(x, [4]).rstd }, [4]);
console.log(JSON.stringify({ names, info: ${f}.info(), y: Array.from(r.y.data), mean: Array.from(r.mean), dx: Array.from(g.dx.data) }));
`;

function expected(api: typeof srcReference) {
  const x = { data: new Float32Array([1, 2, 3, 4, 4, 3, 2, 1]), shape: [2, 4] };
  const r = api.layerNorm(x, 4, { weight: new Float32Array([1, 2, 1, 2]), bias: new Float32Array([0, 0, 1, 1]) });
  const { rstd } = api.rmsNorm(x, [4]);
  const g = api.rmsNormBackward({ data: new Float32Array(8).fill(1), shape: [2, 4] }, x, { rstd }, [4]);
  return { y: Array.from(r.y.data), mean: Array.from(r.mean), dx: Array.from(g.dx.data) };
}

function expectSameResults(json: { y: number[]; mean: number[]; dx: number[] }, exp: ReturnType<typeof expected>): void {
  for (const k of ['y', 'mean', 'dx'] as const) {
    expect(json[k].length, k).toBe(exp[k].length);
    json[k].forEach((v, i) => expect(v, `${k}[${i}]`).toBeCloseTo(exp[k][i], 5));
  }
}

describe('build output', () => {
  it('dist/ holds the CJS build, the ESM wrappers and the type declarations that package.json points to', () => {
    for (const rel of [pkg.main, pkg.types, pkg.exports['.'].import.default, pkg.exports['.'].import.types,
      pkg.exports['.'].require.default, pkg.exports['.'].require.types, pkg.exports['./reference'].import.default,
      pkg.exports['./reference'].require.default, pkg.exports['./reference'].require.types]) {
      expect(existsSync(path.join(REPO_ROOT, rel)), `${rel} exists (run npm install / npm run build:ts)`).toBe(true);
    }
  });

  it('dist/ is built from the current src/ (same export names)', () => {
    const r = runNode(`console.log(JSON.stringify({ main: Object.keys(require('fastnorm')).sort(), ref: Object.keys(require('fastnorm/reference')).sort() }))`);
    expectChildOk(r);
    expect(r.json.main).toEqual(Object.keys(src).sort());
    expect(r.json.ref).toEqual(Object.keys(srcReference).sort());
  });
});

describe('CommonJS: require()', () => {
  it("require('fastnorm'): the API on the native backend, with the package version", () => {
    const r = runNode(`const f = require('fastnorm');${PROBE('f')}`);
    expectChildOk(r);
    expect(r.json.names).toEqual([...API_NAMES, 'promises', 'reference'].sort());
    expect(r.json.info).toMatchObject({ backend: 'native', version: pkg.version });
    expect(r.stderr).toBe('');
    expectSameResults(r.json, expected(srcReference));
  });

  it("require('fastnorm/reference'): the same functions on the reference backend", () => {
    const r = runNode(`const f = require('fastnorm/reference');${PROBE('f')}`);
    expectChildOk(r);
    expect(r.json.names).toEqual(API_NAMES);
    expect(r.json.info).toMatchObject({ backend: 'reference', isa: 'none', version: pkg.version });
    expectSameResults(r.json, expected(srcReference));
  });

  it("require('fastnorm').reference is the reference backend", () => {
    const r = runNode(`const f = require('fastnorm').reference;${PROBE('f')}`);
    expectChildOk(r);
    expect(r.json.names).toEqual(API_NAMES);
    expect(r.json.info.backend).toBe('reference');
  });

  it("require('fastnorm/package.json') is exported", () => {
    const r = runNode(`console.log(JSON.stringify(require('fastnorm/package.json').version))`);
    expectChildOk(r);
    expect(r.json).toBe(pkg.version);
  });
});

describe('ES modules: import', () => {
  it("import * as f from 'fastnorm': the API on the native backend", () => {
    const r = runNode(`import * as f from 'fastnorm';${PROBE('f')}`, { esm: true });
    expectChildOk(r);
    expect(r.json.names).toEqual([...API_NAMES, 'promises', 'reference'].sort());
    expect(r.json.info).toMatchObject({ backend: 'native', version: pkg.version });
    expect(r.stderr).toBe('');
    expectSameResults(r.json, expected(srcReference));
  });

  it("import * as f from 'fastnorm/reference': the reference backend", () => {
    const r = runNode(`import * as f from 'fastnorm/reference';${PROBE('f')}`, { esm: true });
    expectChildOk(r);
    expect(r.json.names).toEqual(API_NAMES);
    expect(r.json.info).toMatchObject({ backend: 'reference', version: pkg.version });
    expectSameResults(r.json, expected(srcReference));
  });

  it("named imports and the default export work: import fastnorm, { layerNorm, reference } from 'fastnorm'", () => {
    const r = runNode(`import fastnorm, { layerNorm, reference } from 'fastnorm';
      console.log(JSON.stringify({ same: fastnorm.layerNorm === layerNorm, ref: reference.info().backend,
        y: Array.from(layerNorm({ data: new Float64Array([1, 3]), shape: [2] }, 2, { eps: 0 }).y.data) }));`, { esm: true });
    expectChildOk(r);
    expect(r.json).toEqual({ same: true, ref: 'reference', y: [-1, 1] });
  });

  it('import and require share one module instance (one addon, one thread setting)', () => {
    const r = runNode(`import * as f from 'fastnorm';
      import { createRequire } from 'node:module';
      const c = createRequire(import.meta.url)('fastnorm');
      f.setNumThreads(1);
      const one = c.getNumThreads();
      c.setNumThreads(2);
      console.log(JSON.stringify({ sameFn: f.layerNorm === c.layerNorm, one, two: f.getNumThreads() }));`, { esm: true });
    expectChildOk(r);
    expect(r.json).toEqual({ sameFn: true, one: 1, two: 2 });
  });
});

describe("'fastnorm/nn': the layers entry point", () => {
  const NN_PROBE = (f: string) => `
const ln = new ${f}.LayerNorm(4);
const y = ln.forward({ data: new Float32Array([1, 2, 3, 4]), shape: [1, 4] });
const sd = ${f}.loadSafetensors(${f}.serializeSafetensors(ln.stateDict()));
console.log(JSON.stringify({ names: Object.keys(${f}).filter((n) => n !== 'default' && n !== '__esModule').sort(), y: Array.from(y.data), keys: Object.keys(sd).sort() }));
`;
  const NN_NAMES = Object.keys(srcNn).sort();

  it('package.json exports ./nn for import and require, with types, and dist/ has them', () => {
    const entry = pkg.exports['./nn'];
    for (const rel of [entry.import.default, entry.import.types, entry.require.default, entry.require.types])
      expect(existsSync(path.join(REPO_ROOT, rel)), `${rel} exists`).toBe(true);
  });

  it.each([['require', false], ['import', true]] as const)("%s('fastnorm/nn'): the classes and safetensors functions", (_how, esm) => {
    const r = runNode(esm ? `import * as f from 'fastnorm/nn';${NN_PROBE('f')}` : `const f = require('fastnorm/nn');${NN_PROBE('f')}`, { esm });
    expectChildOk(r);
    expect(r.json.names).toEqual(NN_NAMES);
    expect(r.json.keys).toEqual(['bias', 'weight']);
    expect(r.json.y.map((v: number) => Math.round(v * 1000) / 1000)).toEqual([-1.342, -0.447, 0.447, 1.342]);
    expect(r.stderr).toBe('');
  });

  it("'fastnorm/nn' uses the same fastnorm instance as 'fastnorm' (one thread setting)", () => {
    const r = runNode(`import * as f from 'fastnorm'; import { LayerNorm } from 'fastnorm/nn';
      import { createRequire } from 'node:module';
      const nnCjs = createRequire(import.meta.url)('fastnorm/nn');
      f.setNumThreads(1);
      console.log(JSON.stringify({ same: LayerNorm === nnCjs.LayerNorm, threads: createRequire(import.meta.url)('fastnorm').getNumThreads() }));`, { esm: true });
    expectChildOk(r);
    expect(r.json).toEqual({ same: true, threads: 1 });
  });
});

describe('fastnorm/tfjs', () => {
  const TFJS_PROBE = (f: string, tf: string) => `
const names = Object.keys(${f}).filter((n) => n !== 'default' && n !== '__esModule').sort();
${tf}.setBackend('cpu');
const restore = ${f}.registerKernels(${tf});
const y = ${tf}.batchNorm(${tf}.tensor2d([1, 2, 3, 4], [2, 2]), [1, 2], [1, 4], [0, 1], [2, 2], 0);
restore();
console.log(JSON.stringify({ names, y: Array.from(y.dataSync()), counters: ${f}.getCounters().fusedBatchNorm }));
`;
  const expectedNames = () => Object.keys(srcTfjs).sort();

  it('dist/ holds the entry points package.json points to, built from src/tfjs.ts', () => {
    const e = pkg.exports['./tfjs'];
    for (const rel of [e.import.default, e.import.types, e.require.default, e.require.types])
      expect(existsSync(path.join(REPO_ROOT, rel)), `${rel} exists`).toBe(true);
    expect(pkg.peerDependenciesMeta['@tensorflow/tfjs-core']).toEqual({ optional: true });
  });

  it("require('fastnorm/tfjs'): registers the kernel, computes tf.batchNorm on fastnorm", () => {
    const r = runNode(`const f = require('fastnorm/tfjs'); const tf = require('@tensorflow/tfjs-core'); require('@tensorflow/tfjs-backend-cpu');${TFJS_PROBE('f', 'tf')}`);
    expectChildOk(r);
    expect(r.json.names).toEqual(expectedNames());
    expect(r.json.y).toEqual([0, 1, 4, 3]);
    expect(r.json.counters).toEqual({ fastnorm: 1, fallback: 0, reasons: {} });
  });

  it("import { registerKernels } from 'fastnorm/tfjs', sharing one instance with require", () => {
    const r = runNode(`import * as f from 'fastnorm/tfjs'; import * as tf from '@tensorflow/tfjs-core'; import '@tensorflow/tfjs-backend-cpu';
      import { createRequire } from 'node:module';
      const c = createRequire(import.meta.url)('fastnorm/tfjs');
      if (c.getCounters !== f.getCounters) throw new Error('two instances');${TFJS_PROBE('f', 'tf')}`, { esm: true });
    expectChildOk(r);
    expect(r.json.names).toEqual(expectedNames());
    expect(r.json.y).toEqual([0, 1, 4, 3]);
    expect(r.json.counters.fastnorm).toBe(1);
  });

  it("the main entry loads no TensorFlow.js (it is an optional peer dependency)", () => {
    const r = runNode(`require('fastnorm'); require('fastnorm/promises'); require('fastnorm/reference');
      console.log(JSON.stringify(Object.keys(require.cache).filter((k) => k.includes('@tensorflow'))))`);
    expectChildOk(r);
    expect(r.json).toEqual([]);
  });
});
