// fastnorm/nn modules against the functional ops they are built on: the same call gives the
// same bits (forward, backward, parameter gradients, running statistics), in both dtypes and
// layouts; gradients accumulate as autograd's do; finite differences; the promise API.
import { describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import type { FloatArray, Tensor } from '../src/api/types';
import * as nn from '../src/nn';
import {
  CTORS, DTYPES, dot, expectBitwiseEqual, expectClose, isaThreadConfigs, makeRng, numericGradient, randTensor, randn, type DType,
  type Rng,
} from './helpers';
import { moveAxisLast } from './nn-helpers';

type Layout = 'NCHW' | 'NHWC';

/** Random weight/bias and running statistics, so that the affine and the updates are not trivial. */
function randomizeState(m: nn.NormModule, rng: Rng): void {
  for (const p of m.parameters()) p.data.set(randn(rng, m.dtype, p.data.length, 0.5, 1));
  if (m instanceof nn.RunningStatsNorm && m.runningMean && m.runningVar) {
    m.runningMean.set(randn(rng, m.dtype, m.runningMean.length, 0.3));
    for (let i = 0; i < m.runningVar.length; i++) m.runningVar[i] = 0.5 + rng.uniform();
    m.numBatchesTracked = 3;
  }
}

function copy<A extends FloatArray | null>(a: A): A {
  return (a ? a.slice() : null) as A;
}

/** What the functional ops give for one module forward + backward (running statistics updated on copies). */
interface Expected {
  y: FloatArray;
  dx: FloatArray;
  dweight?: FloatArray;
  dbias?: FloatArray;
  runningMean?: FloatArray | null;
  runningVar?: FloatArray | null;
}

/** The functional calls a module's forward + backward stands for, spelled out from PyTorch's rules. */
function functionalEquivalent(m: nn.NormModule, x: Tensor, dy: Tensor): Expected {
  const weight = m.weight?.data;
  const bias = m.bias?.data;
  const grads = { weight: !!m.weight, bias: !!m.bias };
  if (m instanceof nn.LayerNorm) {
    const r = fastnorm.layerNorm(x, m.normalizedShape, { weight, bias, eps: m.eps });
    const b = fastnorm.layerNormBackward(dy, x, r, m.normalizedShape, { weight, grads });
    return { y: r.y.data, ...b, dx: b.dx.data };
  }
  if (m instanceof nn.RMSNorm) {
    const r = fastnorm.rmsNorm(x, m.normalizedShape, { weight, eps: m.effectiveEps });
    const b = fastnorm.rmsNormBackward(dy, x, r, m.normalizedShape, { weight, grads: { weight: grads.weight } });
    return { y: r.y.data, ...b, dx: b.dx.data };
  }
  if (m instanceof nn.GroupNorm) {
    const r = fastnorm.groupNorm(x, m.numGroups, { weight, bias, eps: m.eps, layout: m.layout });
    const b = fastnorm.groupNormBackward(dy, x, r, m.numGroups, { weight, layout: m.layout, grads });
    return { y: r.y.data, ...b, dx: b.dx.data };
  }
  const s = m as nn.RunningStatsNorm;
  const runningMean = copy(s.runningMean);
  const runningVar = copy(s.runningVar);
  if (m instanceof nn.InstanceNorm1d || m instanceof nn.InstanceNorm2d || m instanceof nn.InstanceNorm3d) {
    const useInputStats = s.training || !s.trackRunningStats;
    const running = s.trackRunningStats ? { runningMean: runningMean!, runningVar: runningVar!, momentum: s.momentum! } : {};
    const r = fastnorm.instanceNorm(x, { weight, bias, eps: s.eps, layout: s.layout, useInputStats, ...running });
    const b = fastnorm.instanceNormBackward(dy, x, r, { weight, useInputStats, layout: s.layout, grads });
    return { y: r.y.data, ...b, dx: b.dx.data, runningMean, runningVar };
  }
  const updating = s.training && s.trackRunningStats;
  const training = s.training || !s.trackRunningStats;
  const momentum = s.momentum ?? 1 / (s.numBatchesTracked! + 1);
  const running = updating ? { runningMean: runningMean!, runningVar: runningVar!, momentum }
    : training ? {} : { runningMean: runningMean!, runningVar: runningVar! };
  const r = fastnorm.batchNorm(x, { weight, bias, eps: s.eps, layout: s.layout, training, ...running });
  const b = fastnorm.batchNormBackward(dy, x, r, { weight, training, layout: s.layout, grads });
  return { y: r.y.data, ...b, dx: b.dx.data, runningMean, runningVar };
}

interface Config {
  label: string;
  make(dtype: DType, layout: Layout): nn.NormModule;
  /** NCHW shape of the input. */
  shape: number[];
  channels?: boolean;
}

const CONFIGS: Config[] = [
  { label: 'LayerNorm(24)', make: (dtype) => new nn.LayerNorm(24, { dtype }), shape: [3, 5, 24] },
  { label: 'LayerNorm([4, 6], eps 1e-3)', make: (dtype) => new nn.LayerNorm([4, 6], { dtype, eps: 1e-3 }), shape: [5, 4, 6] },
  { label: 'LayerNorm(24, bias: false)', make: (dtype) => new nn.LayerNorm(24, { dtype, bias: false }), shape: [7, 24] },
  { label: 'LayerNorm(24, elementwiseAffine: false)', make: (dtype) => new nn.LayerNorm(24, { dtype, elementwiseAffine: false }), shape: [7, 24] },
  { label: 'RMSNorm(33)', make: (dtype) => new nn.RMSNorm(33, { dtype }), shape: [4, 33] },
  { label: 'RMSNorm([3, 11], eps 1e-6)', make: (dtype) => new nn.RMSNorm([3, 11], { dtype, eps: 1e-6 }), shape: [2, 3, 11] },
  { label: 'RMSNorm(33, elementwiseAffine: false)', make: (dtype) => new nn.RMSNorm(33, { dtype, elementwiseAffine: false }), shape: [4, 33] },
  { label: 'BatchNorm1d(5) on (N, C)', make: (dtype, layout) => new nn.BatchNorm1d(5, { dtype, layout }), shape: [9, 5], channels: true },
  { label: 'BatchNorm1d(5, momentum: null)', make: (dtype, layout) => new nn.BatchNorm1d(5, { dtype, layout, momentum: null }), shape: [4, 5, 7], channels: true },
  { label: 'BatchNorm2d(6)', make: (dtype, layout) => new nn.BatchNorm2d(6, { dtype, layout }), shape: [3, 6, 5, 4], channels: true },
  { label: 'BatchNorm2d(6, affine: false, momentum 0.3)', make: (dtype, layout) => new nn.BatchNorm2d(6, { dtype, layout, affine: false, momentum: 0.3 }), shape: [3, 6, 5, 4], channels: true },
  { label: 'BatchNorm2d(6, trackRunningStats: false)', make: (dtype, layout) => new nn.BatchNorm2d(6, { dtype, layout, trackRunningStats: false }), shape: [3, 6, 5, 4], channels: true },
  { label: 'BatchNorm3d(3, eps 1e-3)', make: (dtype, layout) => new nn.BatchNorm3d(3, { dtype, layout, eps: 1e-3 }), shape: [2, 3, 2, 3, 4], channels: true },
  { label: 'InstanceNorm1d(4)', make: (dtype, layout) => new nn.InstanceNorm1d(4, { dtype, layout }), shape: [3, 4, 9], channels: true },
  { label: 'InstanceNorm2d(4, affine, trackRunningStats)', make: (dtype, layout) => new nn.InstanceNorm2d(4, { dtype, layout, affine: true, trackRunningStats: true }), shape: [3, 4, 3, 5], channels: true },
  { label: 'InstanceNorm3d(2, affine)', make: (dtype, layout) => new nn.InstanceNorm3d(2, { dtype, layout, affine: true }), shape: [2, 2, 3, 2, 3], channels: true },
  { label: 'GroupNorm(3, 12)', make: (dtype, layout) => new nn.GroupNorm(3, 12, { dtype, layout }), shape: [2, 12, 5, 3], channels: true },
  { label: 'GroupNorm(1, 6, affine: false) on (N, C, L)', make: (dtype, layout) => new nn.GroupNorm(1, 6, { dtype, layout, affine: false }), shape: [3, 6, 10], channels: true },
];

function inputs(rng: Rng, cfg: Config, dtype: DType, layout: Layout) {
  const make = () => {
    const t = randTensor(rng, dtype, cfg.shape, 2, 0.5);
    return layout === 'NHWC' ? moveAxisLast(t, 1) : t;
  };
  return { x: make(), dy: make() };
}

function expectSameAsFunctional(m: nn.NormModule, x: Tensor, dy: Tensor, what: string): void {
  const expected = functionalEquivalent(m, x, dy);
  const countBefore = m instanceof nn.RunningStatsNorm ? m.numBatchesTracked : null;
  const y = m.forward(x);
  expect(y.shape, `${what}: y.shape`).toEqual(x.shape);
  expectBitwiseEqual(y.data, expected.y, `${what}: y`);
  const dx = m.backward(dy);
  expect(dx.shape, `${what}: dx.shape`).toEqual(x.shape);
  expectBitwiseEqual(dx.data, expected.dx, `${what}: dx`);
  if (m.weight) expectBitwiseEqual(m.weight.grad!, expected.dweight!, `${what}: weight.grad`);
  if (m.bias) expectBitwiseEqual(m.bias.grad!, expected.dbias!, `${what}: bias.grad`);
  if (m instanceof nn.RunningStatsNorm && m.runningMean) {
    expectBitwiseEqual(m.runningMean, expected.runningMean!, `${what}: runningMean`);
    expectBitwiseEqual(m.runningVar!, expected.runningVar!, `${what}: runningVar`);
    const counts = m.training && m.trackRunningStats && m instanceof nn.RunningStatsNorm && m.name.startsWith('BatchNorm');
    expect(m.numBatchesTracked, `${what}: numBatchesTracked`).toBe(countBefore! + (counts ? 1 : 0));
  }
}

describe('module results are bitwise those of the functional ops', () => {
  for (const cfg of CONFIGS) {
    for (const dtype of DTYPES) {
      for (const layout of (cfg.channels ? ['NCHW', 'NHWC'] : ['NCHW']) as Layout[]) {
        it(`${cfg.label} ${dtype}${cfg.channels ? ` ${layout}` : ''}: train, then eval`, () => {
          const rng = makeRng(7);
          const m = cfg.make(dtype, layout);
          randomizeState(m, rng);
          for (const mode of ['train', 'train', 'eval'] as const) {
            m.train(mode === 'train');
            m.zeroGrad();
            const { x, dy } = inputs(rng, cfg, dtype, layout);
            expectSameAsFunctional(m, x, dy, `${cfg.label} ${mode}`);
          }
        });
      }
    }
  }
});

describe('gradients accumulate as autograd accumulates', () => {
  for (const cfg of CONFIGS.filter((c) => c.make('float32', 'NCHW').weight)) {
    it(`${cfg.label}: two forward/backward pairs add their gradients; zeroGrad clears them`, () => {
      const rng = makeRng(11);
      const m = cfg.make('float64', 'NCHW');
      randomizeState(m, rng);
      const first = inputs(rng, cfg, 'float64', 'NCHW');
      const second = inputs(rng, cfg, 'float64', 'NCHW');
      // what each pair alone gives, from an identical module
      const single = (io: typeof first) => {
        const twin = cfg.make('float64', 'NCHW');
        twin.loadStateDict(m.stateDict());
        twin.forward(io.x);
        twin.backward(io.dy);
        return [...twin.parameters()].map((p) => p.grad!);
      };
      const g1 = single(first);
      m.forward(first.x);
      m.backward(first.dy);
      const g2 = single(second);
      m.forward(second.x);
      m.backward(second.dy);
      [...m.parameters()].forEach((p, k) => {
        const sum = new Float64Array(g1[k].length).map((_, i) => g1[k][i] + g2[k][i]);
        expectBitwiseEqual(p.grad!, sum, `grad ${k}`);
      });
      const grads = [...m.parameters()].map((p) => p.grad);
      m.zeroGrad({ setToNone: false });
      [...m.parameters()].forEach((p, k) => {
        expect(p.grad, 'the same array').toBe(grads[k]);
        expect([...p.grad!].every((v) => v === 0)).toBe(true);
      });
      m.zeroGrad();
      for (const p of m.parameters()) expect(p.grad).toBeNull();
    });
  }

  it('two backwards of one forward add the same gradient twice (as retain_graph=True)', () => {
    const rng = makeRng(3);
    const m = new nn.GroupNorm(2, 4, { dtype: 'float64' });
    randomizeState(m, rng);
    const x = randTensor(rng, 'float64', [2, 4, 6]);
    const dy = randTensor(rng, 'float64', [2, 4, 6]);
    m.forward(x);
    const dx1 = m.backward(dy);
    const once = m.weight!.grad!.slice();
    const dx2 = m.backward(dy);
    expectBitwiseEqual(dx2.data, dx1.data, 'dx');
    expectBitwiseEqual(m.weight!.grad!, once.map((v) => 2 * v), 'weight.grad');
  });

  it('requiresGrad = false: that parameter gets no gradient, the others do', () => {
    const rng = makeRng(5);
    const m = new nn.BatchNorm2d(3);
    m.weight!.requiresGrad = false;
    const x = randTensor(rng, 'float32', [2, 3, 2, 2]);
    m.forward(x);
    m.backward(randTensor(rng, 'float32', [2, 3, 2, 2]));
    expect(m.weight!.grad).toBeNull();
    expect(m.bias!.grad).toBeInstanceOf(Float32Array);
  });
});

describe('finite-difference gradients through the modules (float64)', () => {
  const cases: [string, () => nn.NormModule, number[], boolean][] = [
    ['LayerNorm([2, 5])', () => new nn.LayerNorm([2, 5], { dtype: 'float64' }), [3, 2, 5], true],
    ['RMSNorm(6)', () => new nn.RMSNorm(6, { dtype: 'float64' }), [3, 6], true],
    ['BatchNorm1d(3) training', () => new nn.BatchNorm1d(3, { dtype: 'float64' }), [4, 3, 2], true],
    ['BatchNorm2d(3) eval', () => new nn.BatchNorm2d(3, { dtype: 'float64' }), [2, 3, 2, 2], false],
    ['BatchNorm2d(3, trackRunningStats: false) eval', () => new nn.BatchNorm2d(3, { dtype: 'float64', trackRunningStats: false }), [2, 3, 2, 2], false],
    ['InstanceNorm1d(2, affine) unbatched', () => new nn.InstanceNorm1d(2, { dtype: 'float64', affine: true }), [2, 5], true],
    ['InstanceNorm2d(2, affine, trackRunningStats) eval', () => new nn.InstanceNorm2d(2, { dtype: 'float64', affine: true, trackRunningStats: true }), [2, 2, 2, 3], false],
    ['GroupNorm(2, 4) NHWC', () => new nn.GroupNorm(2, 4, { dtype: 'float64', layout: 'NHWC' }), [2, 3, 4], true],
  ];
  for (const [label, make, shape, training] of cases) {
    it(`${label}: dx and every parameter gradient match central differences of Σ y·dy`, () => {
      const rng = makeRng(13);
      const m = make().train(training);
      randomizeState(m, rng);
      const x = randTensor(rng, 'float64', shape);
      const dy = randTensor(rng, 'float64', shape);
      // the loss without touching the running statistics: a twin module in the same state
      const loss = () => {
        const twin = make().train(training);
        twin.loadStateDict(m.stateDict());
        return dot(twin.forward(x).data, dy.data);
      };
      m.forward(x);
      const dx = m.backward(dy);
      expectClose(dx.data, numericGradient(loss, x.data as Float64Array), 1e-6, 'dx');
      for (const [name, p] of m.namedParameters()) expectClose(p.grad!, numericGradient(loss, p.data as Float64Array), 1e-6, name);
    });
  }
});

describe('forwardAsync / backwardAsync (the promise API)', () => {
  for (const cfg of CONFIGS.filter((c) => /BatchNorm2d\(6\)|InstanceNorm2d|LayerNorm\(24\)$|RMSNorm\(33\)$|GroupNorm\(3/.test(c.label))) {
    it(`${cfg.label}: the same bits as forward / backward, running statistics included`, async () => {
      const rng = makeRng(17);
      const syncModule = cfg.make('float32', 'NCHW');
      randomizeState(syncModule, rng);
      const asyncModule = cfg.make('float32', 'NCHW');
      asyncModule.loadStateDict(syncModule.stateDict());
      for (const mode of ['train', 'eval'] as const) {
        const { x, dy } = inputs(rng, cfg, 'float32', 'NCHW');
        syncModule.train(mode === 'train');
        asyncModule.train(mode === 'train');
        const y = syncModule.forward(x);
        const dx = syncModule.backward(dy);
        const ya = await asyncModule.forwardAsync(x);
        const dxa = await asyncModule.backwardAsync(dy);
        expectBitwiseEqual(ya.data, y.data, `${mode} y`);
        expectBitwiseEqual(dxa.data, dx.data, `${mode} dx`);
        const a = asyncModule.stateDict();
        for (const [k, t] of Object.entries(syncModule.stateDict())) {
          if (t.dtype === 'int64') expect(a[k].data[0], k).toBe(t.data[0]);
          else expectBitwiseEqual(a[k].data as FloatArray, t.data as FloatArray, k);
        }
        [...asyncModule.parameters()].forEach((p, i) => expectBitwiseEqual(p.grad!, [...syncModule.parameters()][i].grad!, `grad ${i}`));
      }
    });
  }

  it('while a call is pending the module refuses other calls, and is usable again once it settled', async () => {
    const m = new nn.BatchNorm2d(4);
    const x = randTensor(makeRng(1), 'float32', [2, 4, 8, 8]);
    const pending = m.forwardAsync(x);
    expect(() => m.forward(x)).toThrow(/BatchNorm2d\.forward: forwardAsync is still running on this module; await it first/);
    await expect(m.backwardAsync(x)).rejects.toThrow(/still running/);
    expect(() => m.loadStateDict({})).toThrow(/still running/);
    expect(() => m.zeroGrad()).toThrow(/still running/);
    expect(() => m.stateDict()).toThrow(/still running/);
    await pending;
    expect(m.numBatchesTracked).toBe(1);
    await m.backwardAsync(x);
    expect(m.weight!.grad).not.toBeNull();
  });

  it('a bad input rejects (it does not throw) and leaves the module as it was', async () => {
    const m = new nn.BatchNorm1d(3);
    const bad = { data: new Float32Array(6), shape: [2, 4] };
    const p = m.forwardAsync(bad);
    await expect(p).rejects.toThrow(RangeError);
    await expect(m.forwardAsync({ data: new Float64Array(6), shape: [2, 3] })).rejects.toThrow(TypeError);
    expect(m.numBatchesTracked).toBe(0);
    await expect(m.backwardAsync({ data: new Float32Array(6), shape: [2, 3] })).rejects.toThrow(/no forward/);
    await m.forwardAsync({ data: new Float32Array([1, 2, 3, 4, 5, 7]), shape: [2, 3] });
    expect(m.numBatchesTracked).toBe(1);
  });
});

describe('bitwise the same on every ISA path and thread count', () => {
  const { configs, configure } = isaThreadConfigs();
  it.each(['BatchNorm2d', 'GroupNorm', 'LayerNorm'] as const)('%s forward + backward', (name) => {
    const rng = makeRng(23);
    const make = () => (name === 'BatchNorm2d' ? new nn.BatchNorm2d(16) : name === 'GroupNorm' ? new nn.GroupNorm(4, 16) : new nn.LayerNorm(16 * 9));
    const shape = name === 'LayerNorm' ? [40, 16 * 9] : [40, 16, 3, 3];
    const x = randTensor(rng, 'float32', shape, 3, 1);
    const dy = randTensor(rng, 'float32', shape);
    let reference: { y: FloatArray; dx: FloatArray; g: FloatArray; rm: FloatArray | null } | null = null;
    for (const { isa, threads } of configs) {
      configure(isa, threads);
      const m = make();
      const y = m.forward(x).data;
      const dx = m.backward(dy).data;
      const got = { y, dx, g: m.weight!.grad!, rm: m instanceof nn.BatchNorm2d ? m.runningMean : null };
      if (reference === null) reference = got;
      else {
        for (const k of ['y', 'dx', 'g'] as const) expectBitwiseEqual(got[k], reference[k], `${isa} × ${threads}: ${k}`);
        if (got.rm) expectBitwiseEqual(got.rm, reference.rm!, `${isa} × ${threads}: runningMean`);
      }
    }
  });
});

describe('forward and backward `out` buffers', () => {
  it('forward writes y into opts.out and backward dx into opts.out, and returns them', () => {
    const rng = makeRng(2);
    const m = new nn.LayerNorm(8);
    const x = randTensor(rng, 'float32', [3, 8]);
    const yOut = new Float32Array(24);
    const y = m.forward(x, { out: yOut });
    expect(y.data).toBe(yOut);
    const dxOut = new Float32Array(24);
    expect(m.backward(randTensor(rng, 'float32', [3, 8]), { out: dxOut }).data).toBe(dxOut);
  });

  it('an in-place forward (out = x.data) works, and then there is no backward', () => {
    const rng = makeRng(2);
    const m = new nn.GroupNorm(2, 4);
    const x = randTensor(rng, 'float32', [2, 4, 3]);
    const expected = new nn.GroupNorm(2, 4).forward({ data: x.data.slice(), shape: x.shape });
    const y = m.forward(x, { out: x.data });
    expect(y.data).toBe(x.data);
    expectBitwiseEqual(y.data, expected.data, 'y');
    expect(() => m.backward(randTensor(rng, 'float32', [2, 4, 3]))).toThrow(/wrote y over its input/);
  });
});

describe('PyTorch defaults and initial values', () => {
  it('weight 1, bias 0, running mean 0, running var 1, num_batches_tracked 0; grads null; training mode', () => {
    const bn = new nn.BatchNorm2d(3);
    expect([...bn.weight!.data]).toEqual([1, 1, 1]);
    expect([...bn.bias!.data]).toEqual([0, 0, 0]);
    expect([...bn.runningMean!]).toEqual([0, 0, 0]);
    expect([...bn.runningVar!]).toEqual([1, 1, 1]);
    expect(bn.numBatchesTracked).toBe(0);
    expect(bn.weight!.grad).toBeNull();
    expect(bn.training).toBe(true);
    expect(bn).toMatchObject({ numFeatures: 3, eps: 1e-5, momentum: 0.1, affine: true, trackRunningStats: true, layout: 'NCHW', dtype: 'float32' });
    expect(bn.weight!.data).toBeInstanceOf(Float32Array);
    expect(new nn.BatchNorm2d(3, { dtype: 'float64' }).runningVar).toBeInstanceOf(Float64Array);
  });

  it('InstanceNorm: affine false and trackRunningStats false by default', () => {
    const m = new nn.InstanceNorm2d(5);
    expect(m).toMatchObject({ affine: false, trackRunningStats: false, weight: null, bias: null, runningMean: null, runningVar: null, numBatchesTracked: null });
    expect(Object.keys(m.stateDict())).toEqual([]);
  });

  it('LayerNorm / RMSNorm / GroupNorm defaults', () => {
    expect(new nn.LayerNorm([2, 3])).toMatchObject({ normalizedShape: [2, 3], eps: 1e-5, elementwiseAffine: true });
    expect(new nn.LayerNorm([2, 3]).weight!.shape).toEqual([2, 3]);
    expect(new nn.LayerNorm(4, { bias: false }).bias).toBeNull();
    expect(new nn.LayerNorm(4, { elementwiseAffine: false, bias: true })).toMatchObject({ weight: null, bias: null });
    const rms = new nn.RMSNorm(4);
    expect(rms).toMatchObject({ eps: null, bias: null });
    expect(rms.effectiveEps).toBe(2 ** -23);
    expect(new nn.RMSNorm(4, { dtype: 'float64' }).effectiveEps).toBe(Number.EPSILON);
    expect(new nn.GroupNorm(2, 4)).toMatchObject({ numGroups: 2, numChannels: 4, eps: 1e-5, affine: true, layout: 'NCHW' });
  });

  it('RMSNorm eps null adds the dtype epsilon, where the functional rmsNorm would add 1e-6', () => {
    const x = { data: new Float32Array([1e-4, -2e-4, 3e-4, 0]), shape: [1, 4] };
    const y = new nn.RMSNorm(4).forward(x).data;
    expectBitwiseEqual(y, fastnorm.rmsNorm(x, 4, { eps: 2 ** -23 }).y.data as Float32Array, 'y');
    expect(y[0]).not.toBe(fastnorm.rmsNorm(x, 4).y.data[0]);
  });

  it("String(module) is PyTorch's repr", () => {
    // strings printed by PyTorch 1.13 (RMSNorm: PyTorch 2.4's format)
    expect(String(new nn.BatchNorm2d(64))).toBe('BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)');
    expect(String(new nn.BatchNorm1d(3, { momentum: null, affine: false }))).toBe('BatchNorm1d(3, eps=1e-05, momentum=None, affine=False, track_running_stats=True)');
    expect(String(new nn.InstanceNorm1d(3))).toBe('InstanceNorm1d(3, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False)');
    expect(String(new nn.LayerNorm(768))).toBe('LayerNorm((768,), eps=1e-05, elementwise_affine=True)');
    expect(String(new nn.LayerNorm([2, 3], { eps: 1e-6 }))).toBe('LayerNorm((2, 3), eps=1e-06, elementwise_affine=True)');
    expect(String(new nn.GroupNorm(2, 4))).toBe('GroupNorm(2, 4, eps=1e-05, affine=True)');
    expect(String(new nn.RMSNorm(8))).toBe('RMSNorm((8,), eps=None, elementwise_affine=True)');
  });

  it('parameters(), buffers() and their named forms, in PyTorch order', () => {
    const bn = new nn.BatchNorm1d(2);
    expect([...bn.namedParameters()].map(([k]) => k)).toEqual(['weight', 'bias']);
    expect([...bn.parameters()]).toEqual([bn.weight, bn.bias]);
    const buffers = [...bn.namedBuffers()];
    expect(buffers.map(([k]) => k)).toEqual(['running_mean', 'running_var', 'num_batches_tracked']);
    expect(buffers[0][1].data).toBe(bn.runningMean);
    expect(buffers[2][1]).toEqual({ data: BigInt64Array.of(0n), shape: [], dtype: 'int64' });
    expect([...bn.buffers()]).toHaveLength(3);
    expect([...new nn.BatchNorm1d(2, { trackRunningStats: false }).buffers()]).toEqual([]);
    expect([...new nn.RMSNorm(3).namedParameters()].map(([k]) => k)).toEqual(['weight']);
  });

  it('train() / eval() switch the mode and return the module', () => {
    const m = new nn.BatchNorm1d(2);
    expect(m.eval()).toBe(m);
    expect(m.training).toBe(false);
    expect(m.train()).toBe(m);
    expect(m.training).toBe(true);
    m.train(false);
    expect(m.training).toBe(false);
    expect(() => m.train('yes' as never)).toThrow(TypeError);
  });

  it('resetParameters() / resetRunningStats() restore the initial values', () => {
    const m = new nn.BatchNorm1d(2);
    randomizeState(m, makeRng(1));
    m.resetRunningStats();
    expect([...m.runningMean!, ...m.runningVar!, m.numBatchesTracked]).toEqual([0, 0, 1, 1, 0]);
    expect(m.weight!.data[0]).not.toBe(1);
    m.resetParameters();
    expect([...m.weight!.data, ...m.bias!.data]).toEqual([1, 1, 0, 0]);
  });
});

describe('PyTorch rules that are not the functional ops’', () => {
  it('BatchNorm in training (or without running statistics) refuses 1 value per channel; eval with running statistics accepts it', () => {
    const one = { data: new Float32Array(3), shape: [1, 3] };
    expect(() => new nn.BatchNorm1d(3).forward(one)).toThrow(/BatchNorm1d with batch statistics needs more than 1 value per channel/);
    expect(() => new nn.BatchNorm1d(3, { trackRunningStats: false }).eval().forward(one)).toThrow(RangeError);
    expect(new nn.BatchNorm1d(3).eval().forward(one).data).toHaveLength(3);
  });

  it('BatchNorm on an empty batch: an empty y, running statistics untouched, the batch counted, zero gradients', () => {
    const m = new nn.BatchNorm2d(3);
    const y = m.forward({ data: new Float32Array(0), shape: [0, 3, 2, 2] });
    expect(y).toEqual({ data: new Float32Array(0), shape: [0, 3, 2, 2] });
    expect([...m.runningMean!, ...m.runningVar!]).toEqual([0, 0, 0, 1, 1, 1]);
    expect(m.numBatchesTracked).toBe(1);
    const dx = m.backward({ data: new Float32Array(0), shape: [0, 3, 2, 2] });
    expect(dx.data).toHaveLength(0);
    expect([...m.weight!.grad!, ...m.bias!.grad!]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('InstanceNorm with instance statistics refuses a single spatial position', () => {
    expect(() => new nn.InstanceNorm2d(3).forward({ data: new Float32Array(6), shape: [2, 3, 1, 1] }))
      .toThrow(/InstanceNorm2d with instance statistics needs more than 1 spatial position/);
    const tracked = new nn.InstanceNorm2d(3, { trackRunningStats: true }).eval();
    expect(tracked.forward({ data: new Float32Array(6), shape: [2, 3, 1, 1] }).data).toHaveLength(6);
  });

  it('GroupNorm refuses one value per group of a single sample, as PyTorch does', () => {
    expect(() => new nn.GroupNorm(3, 3).forward({ data: new Float32Array(3), shape: [1, 3] })).toThrow(/more than 1 value per group/);
    expect(new nn.GroupNorm(3, 3).forward({ data: new Float32Array(6), shape: [2, 3] }).data).toHaveLength(6);
  });

  it('InstanceNorm keeps num_batches_tracked at 0 (PyTorch counts only BatchNorm batches)', () => {
    const m = new nn.InstanceNorm1d(2, { trackRunningStats: true });
    m.forward(randTensor(makeRng(1), 'float32', [2, 2, 5]));
    expect(m.numBatchesTracked).toBe(0);
    expect(m.runningMean![0]).not.toBe(0);
  });

  it('the channel count is only checked where the layer uses numFeatures (affine or running statistics), as in PyTorch', () => {
    const x = randTensor(makeRng(1), 'float32', [2, 5, 3]);
    expect(() => new nn.BatchNorm1d(3).forward(x)).toThrow(/x has 5 channels \(dim 1 of shape \[2, 5, 3\]\) but this BatchNorm1d has numFeatures = 3/);
    expect(() => new nn.InstanceNorm1d(3, { affine: true }).forward(x)).toThrow(RangeError);
    expect(() => new nn.GroupNorm(1, 3).forward(x)).toThrow(/numChannels = 3/);
    expect(new nn.BatchNorm1d(3, { affine: false, trackRunningStats: false }).forward(x).data).toHaveLength(30);
    expect(new nn.InstanceNorm1d(3).forward(x).data).toHaveLength(30);
    expect(new nn.GroupNorm(1, 3, { affine: false }).forward(x).data).toHaveLength(30);
  });

  it.each([
    ['BatchNorm1d', [[3], [2, 3, 2, 2]]], ['BatchNorm2d', [[2, 3, 4], [2, 3, 2, 2, 2]]], ['BatchNorm3d', [[2, 3, 2, 2], [2, 3, 2, 2, 2, 2]]],
    ['InstanceNorm1d', [[3], [2, 3, 2, 2]]], ['InstanceNorm2d', [[3, 4], [2, 3, 2, 2, 2]]], ['InstanceNorm3d', [[3, 2, 2], [2, 3, 2, 2, 2, 2]]],
  ] as const)('%s: the ranks PyTorch refuses are a RangeError naming x', (name, shapes) => {
    for (const shape of shapes) {
      const m = new (nn[name] as unknown as new (c: number) => nn.NormModule)(3);
      const n = shape.reduce((p, d) => p * d, 1);
      expect(() => m.forward({ data: new Float32Array(n), shape: [...shape] })).toThrow(new RegExp(`^x must be .* for ${name}, got shape`));
    }
  });

  it('GroupNorm wants at least (N, C); LayerNorm the trailing normalizedShape', () => {
    expect(() => new nn.GroupNorm(1, 3).forward({ data: new Float32Array(3), shape: [3] })).toThrow(/at least 2 dims/);
    expect(() => new nn.LayerNorm(4).forward({ data: new Float32Array(10), shape: [2, 5] })).toThrow(/normalizedShape \[4\] must equal the trailing dims/);
    expect(new nn.LayerNorm(4).forward({ data: new Float32Array(4), shape: [4] }).shape).toEqual([4]);
  });

  it('an input of the other dtype is a TypeError naming the module dtype', () => {
    expect(() => new nn.LayerNorm(2).forward({ data: new Float64Array(2), shape: [2] }))
      .toThrow(/x\.data must be a Float32Array: this LayerNorm has dtype float32 \(got a Float64Array\)/);
  });
});

describe('backward needs its forward', () => {
  it('without a forward: a clear error', () => {
    expect(() => new nn.LayerNorm(2).backward({ data: new Float32Array(2), shape: [2] })).toThrow(/there is no forward to go back through/);
  });

  it('after the input changed its data array, its shape or its buffer: a clear error', () => {
    const rng = makeRng(4);
    for (const change of ['data', 'shape', 'detach'] as const) {
      const m = new nn.BatchNorm1d(2);
      const x = randTensor(rng, 'float32', [4, 2]) as { data: FloatArray; shape: number[] };
      m.forward(x);
      if (change === 'data') x.data = x.data.slice();
      else if (change === 'shape') x.shape = [2, 4];
      else structuredClone(x.data.buffer, { transfer: [x.data.buffer as ArrayBuffer] });
      expect(() => m.backward(randTensor(rng, 'float32', [4, 2])), change).toThrow(/the last forward's input changed since/);
    }
  });

  it('dy of another shape or dtype, or a bad opts.out', () => {
    const m = new nn.LayerNorm(3);
    m.forward({ data: new Float32Array(6), shape: [2, 3] });
    expect(() => m.backward({ data: new Float32Array(6), shape: [3, 2] })).toThrow(/dy\.shape \[3, 2\] must equal the shape of the forward's input \[2, 3\]/);
    expect(() => m.backward({ data: new Float64Array(6), shape: [2, 3] })).toThrow(TypeError);
    expect(() => m.backward(null as never)).toThrow(TypeError);
    expect(() => m.backward({ data: new Float32Array(6), shape: [2, 3] }, { out: new Float32Array(5) })).toThrow(/opts\.out must have 6 elements/);
    expect(() => m.backward({ data: new Float32Array(6), shape: [2, 3] }, { out: new Float64Array(6) })).toThrow(TypeError);
    expect(() => m.backward({ data: new Float32Array(6), shape: [2, 3] }, { dx: 1 } as never)).toThrow(/opts\.dx is not a known option/);
  });

  it('a failed forward changes nothing (num_batches_tracked, the saved input)', () => {
    const m = new nn.BatchNorm1d(2);
    const x = { data: new Float32Array([1, 2, 3, 5]), shape: [2, 2] };
    m.forward(x);
    expect(() => m.forward({ data: new Float32Array(3), shape: [1, 3] })).toThrow();
    expect(m.numBatchesTracked).toBe(1);
    expect(() => m.backward({ data: new Float32Array(4), shape: [2, 2] })).not.toThrow();
  });
});

describe('constructor arguments', () => {
  it.each([
    ['new BatchNorm2d(-1)', () => new nn.BatchNorm2d(-1), RangeError, /^numFeatures must be an integer >= 0, got -1/],
    ['new BatchNorm2d(2.5)', () => new nn.BatchNorm2d(2.5), RangeError, /numFeatures/],
    ['new BatchNorm2d("3")', () => new nn.BatchNorm2d('3' as never), TypeError, /^numFeatures must be a number, got '3'/],
    ['new BatchNorm2d(3, { eps: -1 })', () => new nn.BatchNorm2d(3, { eps: -1 }), RangeError, /^opts\.eps must be a finite number >= 0/],
    ['new BatchNorm2d(3, { eps: Number.NaN })', () => new nn.BatchNorm2d(3, { eps: Number.NaN }), RangeError, /opts\.eps/],
    ['new BatchNorm2d(3, { momentum: Number.NaN })', () => new nn.BatchNorm2d(3, { momentum: Number.NaN }), RangeError, /^opts\.momentum must be a finite number/],
    ['new BatchNorm2d(3, { momentum: "0.1" })', () => new nn.BatchNorm2d(3, { momentum: '0.1' as never }), TypeError, /^opts\.momentum must be a number or null/],
    ['new InstanceNorm2d(3, { momentum: null })', () => new nn.InstanceNorm2d(3, { momentum: null as never }), TypeError, /^opts\.momentum must be a number, got null/],
    ['new BatchNorm2d(3, { affine: 1 })', () => new nn.BatchNorm2d(3, { affine: 1 as never }), TypeError, /^opts\.affine must be a boolean/],
    ['new BatchNorm2d(3, { layout: "NCWH" })', () => new nn.BatchNorm2d(3, { layout: 'NCWH' as never }), TypeError, /^opts\.layout must be 'NCHW' or 'NHWC'/],
    ['new BatchNorm2d(3, { dtype: "float16" })', () => new nn.BatchNorm2d(3, { dtype: 'float16' as never }), TypeError, /^opts\.dtype must be 'float32' or 'float64', got 'float16'/],
    ['new BatchNorm2d(3, { track_running_stats: false })', () => new nn.BatchNorm2d(3, { track_running_stats: false } as never), TypeError, /^opts\.track_running_stats is not a known option/],
    ['new BatchNorm2d(3, "x")', () => new nn.BatchNorm2d(3, 'x' as never), TypeError, /^opts must be an object/],
    ['new GroupNorm(3, 4)', () => new nn.GroupNorm(3, 4), RangeError, /^numChannels \(4\) must be divisible by numGroups \(3\)/],
    ['new GroupNorm(0, 4)', () => new nn.GroupNorm(0, 4), RangeError, /^numGroups must be an integer >= 1/],
    ['new LayerNorm([])', () => new nn.LayerNorm([]), RangeError, /^normalizedShape must have at least one dimension/],
    ['new LayerNorm([3, -1])', () => new nn.LayerNorm([3, -1]), RangeError, /^normalizedShape\[1\] must be an integer >= 0/],
    ['new LayerNorm("3")', () => new nn.LayerNorm('3' as never), TypeError, /^normalizedShape must be a number or an array/],
    ['new RMSNorm(3, { eps: -0.1 })', () => new nn.RMSNorm(3, { eps: -0.1 }), RangeError, /^opts\.eps/],
    ['new LayerNorm(3, { elementwise_affine: false })', () => new nn.LayerNorm(3, { elementwise_affine: false } as never), TypeError, /not a known option \(eps, elementwiseAffine, bias, dtype\)/],
  ])('%s throws', (_label, make, type, message) => {
    expect(make).toThrow(type);
    expect(make).toThrow(message);
  });

  it('numBatchesTracked accepts a count, and stays null without running statistics', () => {
    const m = new nn.BatchNorm1d(2);
    m.numBatchesTracked = 7;
    expect(m.numBatchesTracked).toBe(7);
    expect(() => { m.numBatchesTracked = -1; }).toThrow(RangeError);
    expect(() => { m.numBatchesTracked = null; }).toThrow(TypeError);
    const untracked = new nn.BatchNorm1d(2, { trackRunningStats: false });
    expect(() => { untracked.numBatchesTracked = 1; }).toThrow(/must stay null/);
  });
});

it('both dtypes give arrays of their own type', () => {
  for (const dtype of DTYPES) {
    const m = new nn.BatchNorm1d(2, { dtype });
    const y = m.forward({ data: new CTORS[dtype](4).map((_, i) => i * i), shape: [2, 2] });
    expect(y.data).toBeInstanceOf(CTORS[dtype]);
    expect(m.backward({ data: new CTORS[dtype](4).fill(1), shape: [2, 2] }).data).toBeInstanceOf(CTORS[dtype]);
    expect(m.weight!.grad).toBeInstanceOf(CTORS[dtype]);
  }
});
