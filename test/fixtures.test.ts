// PyTorch float64 reference fixtures (test/fixtures): every layerNorm, rmsNorm, batchNorm, groupNorm
// and instanceNorm case, on the default (native) backend and on the reference backend, forward and
// backward, judged with the fixture reader's own scaledError against each output's `tol`
// (fixtures/README.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import * as reference from '../src/reference';
import type { BackwardResult, FloatArray, Tensor } from '../src/api/types';
import { fixtureManifest, loadFixtureCases, type FixtureCase, type FixtureReader } from './helpers';

// Test names come from the manifest (read synchronously); the arrays are decoded by the shared
// reader (an ES module, imported asynchronously) before the tests run.
const manifest = fixtureManifest();
const byId = new Map<string, FixtureCase>();
let scaledError: FixtureReader['scaledError'];

beforeAll(async () => {
  const loaded = await loadFixtureCases();
  for (const c of loaded.cases) byId.set(c.id, c);
  scaledError = loaded.scaledError;
});

const BACKENDS = [
  ['native', fastnorm],
  ['reference', reference],
] as const;

type Api = typeof reference;

/** Worst scaled error per "backend op output" over the float32 cases, vs PyTorch's float32 error. */
const f32Summary = new Map<string, { worst: number; worstCase: string; torch: number; tol: number }>();

function record(backend: string, c: FixtureCase, key: string, err: number): void {
  if (c.dtype !== 'float32') return;
  const name = `${backend.padEnd(9)} ${c.op.padEnd(9)} ${key}`;
  const torch = c.torchF32Err?.[key]?.rel ?? NaN;
  const s = f32Summary.get(name);
  // like with like: the case where ours is worst, with PyTorch's float32 error and the tol on that case
  if (!s || err > s.worst) f32Summary.set(name, { worst: err, worstCase: c.id, torch, tol: c.tol[key] });
}

/** scaledError(actual, expected[key], floor[key]) <= tol[key] (finite), recorded for the summary. */
function check(backend: string, c: FixtureCase, key: string, actual: FloatArray | undefined): void {
  expect(actual, `${c.id}: ${key} missing`).toBeDefined();
  const expected = c.expected[key];
  expect(actual!.length, `${c.id}: ${key} length`).toBe(expected.length);
  expect(actual!.constructor, `${c.id}: ${key} dtype`).toBe(c.inputs.x.constructor);
  const err = scaledError(actual!, expected, c.floor[key]);
  record(backend, c, key, err);
  expect(err, `${c.id}: ${key} scaled error ${err} > tol ${c.tol[key]}`).toBeLessThanOrEqual(c.tol[key]);
}

/** The optional arguments of the case, exactly as given (an absent parameter is omitted). */
function forwardOpts(c: FixtureCase): Record<string, unknown> {
  const opts: Record<string, unknown> = {};
  if (c.inputs.weight) opts.weight = c.inputs.weight;
  if (c.inputs.bias) opts.bias = c.inputs.bias;
  if ('eps' in c.params) opts.eps = c.params.eps;
  return opts;
}

function backwardOpts(c: FixtureCase): Record<string, unknown> {
  return c.inputs.weight ? { weight: c.inputs.weight } : {};
}

/** Parameter-gradient keys the fixture expects: exactly these must be returned. */
function expectedGradKeys(c: FixtureCase): string[] {
  return ['dweight', 'dbias'].filter((k) => k in c.expected);
}

/** [id] of every case of `op`, for it.each; the test body gets the decoded case with fixture(id). */
function idsOf(op: string): string[] {
  return manifest.cases.filter((c) => c.op === op).map((c) => c.id);
}

function fixture(id: string): FixtureCase {
  const c = byId.get(id);
  if (!c) throw new Error(`fixture ${id} was not decoded by the reader`);
  return c;
}

function gradOf(result: BackwardResult, key: string): FloatArray | undefined {
  return key === 'dweight' ? result.dweight : key === 'dbias' ? result.dbias : undefined;
}

describe('fixtures are present', () => {
  it('the default backend is native (else both runs below would test the reference backend)', () => {
    expect(fastnorm.info().backend).toBe('native');
  });

  it('the reader decoded every case of the manifest', () => {
    expect([...byId.keys()].sort()).toEqual(manifest.cases.map((c) => c.id).sort());
  });

  it('has layerNorm, rmsNorm and batchNorm cases, float32 and float64, with backward outputs', () => {
    for (const op of ['layerNorm', 'rmsNorm', 'batchNorm']) {
      const cs = [...byId.values()].filter((c) => c.op === op);
      expect(cs.length, op).toBeGreaterThanOrEqual(4);
      expect(new Set(cs.map((c) => c.dtype)), op).toEqual(new Set(['float32', 'float64']));
      expect(cs.every((c) => c.backward && 'dx' in c.expected), op).toBe(true);
    }
  });
});

/** Running statistics after a forward: the expected values, or unchanged when the case only reads them. */
function checkRunningStats(backend: string, c: FixtureCase, runningMean?: FloatArray, runningVar?: FloatArray): void {
  if ('runningMean' in c.expected) {
    check(backend, c, 'runningMean', runningMean);
    check(backend, c, 'runningVar', runningVar);
  } else if (runningMean) {
    expect(runningMean, 'runningMean unchanged').toEqual(c.inputs.runningMean);
    expect(runningVar, 'runningVar unchanged').toEqual(c.inputs.runningVar);
  }
}

/** A backward result: dx of x's shape, and exactly the parameter gradients the case expects. */
function checkBackward(backend: string, c: FixtureCase, bwd: BackwardResult): void {
  expect(bwd.dx.shape).toEqual(c.shape);
  check(backend, c, 'dx', bwd.dx.data);
  const gradKeys = expectedGradKeys(c);
  expect(Object.keys(bwd).filter((k) => k !== 'dx').sort()).toEqual(gradKeys.sort());
  for (const k of gradKeys) check(backend, c, k, gradOf(bwd, k));
}

describe.each(BACKENDS)('layerNorm fixtures (%s backend)', (backend, api: Api) => {
  it.each(idsOf('layerNorm'))('%s: forward y, mean, rstd and backward dx, dweight, dbias', (id) => {
    const c = fixture(id);
    const x: Tensor = { data: c.inputs.x, shape: c.shape };
    const xCopy = c.inputs.x.slice();
    const fwd = api.layerNorm(x, c.params.normalizedShape as number | number[], forwardOpts(c));
    expect(fwd.y.shape).toEqual(c.shape);
    check(backend, c, 'y', fwd.y.data);
    check(backend, c, 'mean', fwd.mean);
    check(backend, c, 'rstd', fwd.rstd);

    const dy: Tensor = { data: c.inputs.dy, shape: c.shape };
    const bwd = api.layerNormBackward(dy, x, { mean: fwd.mean, rstd: fwd.rstd }, c.params.normalizedShape as number | number[],
      backwardOpts(c));
    checkBackward(backend, c, bwd);
    expect(c.inputs.x, 'x must not be modified').toEqual(xCopy);
  });
});

describe.each(BACKENDS)('rmsNorm fixtures (%s backend)', (backend, api: Api) => {
  it.each(idsOf('rmsNorm'))('%s: forward y, rstd and backward dx, dweight', (id) => {
    const c = fixture(id);
    expect(c.inputs.bias, 'rmsNorm has no bias').toBeUndefined();
    const x: Tensor = { data: c.inputs.x, shape: c.shape };
    const fwd = api.rmsNorm(x, c.params.normalizedShape as number | number[], forwardOpts(c));
    expect(Object.keys(fwd).sort()).toEqual(['rstd', 'y']);
    check(backend, c, 'y', fwd.y.data);
    check(backend, c, 'rstd', fwd.rstd);

    const dy: Tensor = { data: c.inputs.dy, shape: c.shape };
    const bwd = api.rmsNormBackward(dy, x, { rstd: fwd.rstd }, c.params.normalizedShape as number | number[], backwardOpts(c));
    check(backend, c, 'dx', bwd.dx.data);
    const gradKeys = expectedGradKeys(c);
    expect(Object.keys(bwd).filter((k) => k !== 'dx').sort()).toEqual(gradKeys.sort());
    for (const k of gradKeys) check(backend, c, k, gradOf(bwd, k));
  });
});

describe.each(BACKENDS)('batchNorm fixtures (%s backend)', (backend, api: Api) => {
  it.each(idsOf('batchNorm'))('%s: forward y, mean, rstd (+ running stats updated in place) and backward dx, dweight, dbias', (id) => {
    const c = fixture(id);
    const x: Tensor = { data: c.inputs.x, shape: c.shape };
    const xCopy = c.inputs.x.slice();
    const opts = forwardOpts(c);
    for (const k of ['momentum', 'layout', 'training']) if (k in c.params) opts[k] = c.params[k];
    // running statistics are updated in place: each run gets its own copies of the initial values
    const runningMean = c.inputs.runningMean?.slice();
    const runningVar = c.inputs.runningVar?.slice();
    if (runningMean) Object.assign(opts, { runningMean, runningVar });
    const fwd = api.batchNorm(x, opts);
    expect(fwd.y.shape).toEqual(c.shape);
    check(backend, c, 'y', fwd.y.data);
    check(backend, c, 'mean', fwd.mean);
    check(backend, c, 'rstd', fwd.rstd);
    checkRunningStats(backend, c, runningMean, runningVar);

    const dy: Tensor = { data: c.inputs.dy, shape: c.shape };
    const bopts: Record<string, unknown> = backwardOpts(c);
    for (const k of ['layout', 'training']) if (k in c.params) bopts[k] = c.params[k];
    const bwd = api.batchNormBackward(dy, x, { mean: fwd.mean, rstd: fwd.rstd }, bopts);
    checkBackward(backend, c, bwd);
    expect(c.inputs.x, 'x must not be modified').toEqual(xCopy);
  });
});

/** The case's layout (and, for instanceNorm, running-statistics) parameters, as given. */
function channelOpts(c: FixtureCase, keys: readonly string[]): Record<string, unknown> {
  const opts: Record<string, unknown> = {};
  for (const k of keys) if (k in c.params) opts[k] = c.params[k];
  return opts;
}

describe('groupNorm and instanceNorm fixtures are present', () => {
  it('has groupNorm and instanceNorm cases: float32 and float64, NCHW and NHWC, backward, running statistics, eval', () => {
    for (const op of ['groupNorm', 'instanceNorm']) {
      const cs = [...byId.values()].filter((c) => c.op === op);
      expect(cs.length, op).toBeGreaterThanOrEqual(4);
      expect(new Set(cs.map((c) => c.dtype)), op).toEqual(new Set(['float32', 'float64']));
      expect(cs.some((c) => c.params.layout === 'NHWC'), `${op} NHWC`).toBe(true);
      expect(cs.some((c) => c.backward && 'dx' in c.expected), `${op} backward`).toBe(true);
    }
    const inst = [...byId.values()].filter((c) => c.op === 'instanceNorm');
    expect(inst.some((c) => 'runningMean' in c.expected), 'running statistics updated').toBe(true);
    expect(inst.some((c) => c.params.useInputStats === false), 'eval with running statistics').toBe(true);
  });
});

describe.each(BACKENDS)('groupNorm fixtures (%s backend)', (backend, api: Api) => {
  it.each(idsOf('groupNorm'))('%s: forward y, mean, rstd and backward dx, dweight, dbias', (id) => {
    const c = fixture(id);
    const x: Tensor = { data: c.inputs.x, shape: c.shape };
    const xCopy = c.inputs.x.slice();
    const groups = c.params.numGroups as number;
    const fwd = api.groupNorm(x, groups, { ...forwardOpts(c), ...channelOpts(c, ['layout']) });
    expect(fwd.y.shape).toEqual(c.shape);
    check(backend, c, 'y', fwd.y.data);
    check(backend, c, 'mean', fwd.mean);
    check(backend, c, 'rstd', fwd.rstd);
    if (c.backward) {
      const dy: Tensor = { data: c.inputs.dy, shape: c.shape };
      const bwd = api.groupNormBackward(dy, x, { mean: fwd.mean, rstd: fwd.rstd }, groups,
        { ...backwardOpts(c), ...channelOpts(c, ['layout']) });
      checkBackward(backend, c, bwd);
    }
    expect(c.inputs.x, 'x must not be modified').toEqual(xCopy);
  });
});

describe.each(BACKENDS)('instanceNorm fixtures (%s backend)', (backend, api: Api) => {
  it.each(idsOf('instanceNorm'))('%s: forward y, mean, rstd (+ running stats) and backward dx, dweight, dbias', (id) => {
    const c = fixture(id);
    const x: Tensor = { data: c.inputs.x, shape: c.shape };
    const xCopy = c.inputs.x.slice();
    const opts = { ...forwardOpts(c), ...channelOpts(c, ['layout', 'momentum', 'useInputStats']) };
    // running statistics are updated in place: each run gets its own copies of the initial values
    const runningMean = c.inputs.runningMean?.slice();
    const runningVar = c.inputs.runningVar?.slice();
    if (runningMean) Object.assign(opts, { runningMean, runningVar });
    const fwd = api.instanceNorm(x, opts);
    expect(fwd.y.shape).toEqual(c.shape);
    check(backend, c, 'y', fwd.y.data);
    check(backend, c, 'mean', fwd.mean);
    check(backend, c, 'rstd', fwd.rstd);
    checkRunningStats(backend, c, runningMean, runningVar);
    if (c.backward) {
      const dy: Tensor = { data: c.inputs.dy, shape: c.shape };
      const bwd = api.instanceNormBackward(dy, x, { mean: fwd.mean, rstd: fwd.rstd },
        { ...backwardOpts(c), ...channelOpts(c, ['layout', 'useInputStats']) });
      checkBackward(backend, c, bwd);
    }
    expect(c.inputs.x, 'x must not be modified').toEqual(xCopy);
  });
});

afterAll(() => {
  if (f32Summary.size === 0) return;
  const lines = ['float32 fixtures: worst scaled error per backend/op/output (rel, fixture metric) vs PyTorch float32 on that case',
    `${'backend   op        output'.padEnd(30)} ${'ours'.padStart(10)} ${'torch f32'.padStart(10)} ${'tol'.padStart(10)}  worst case`];
  for (const [name, s] of [...f32Summary].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`${name.padEnd(30)} ${s.worst.toExponential(2).padStart(10)} ${s.torch.toExponential(2).padStart(10)} ` +
      `${s.tol.toExponential(2).padStart(10)}  ${s.worstCase}`);
  }
  console.log(lines.join('\n'));
});
