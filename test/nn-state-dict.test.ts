// State dicts: PyTorch's keys and layouts out; in, every key, shape and dtype checked with the
// faulty key named, float64/float16/bfloat16 values converted to the module's dtype, strict and
// non-strict loading, prefixes, and a failed load that changes nothing.
import { describe, expect, it } from 'vitest';
import * as nn from '../src/nn';
import { expectBitwiseEqual, makeRng, randTensor } from './helpers';

function bn(opts?: nn.BatchNormModuleOptions): nn.BatchNorm1d {
  return new nn.BatchNorm1d(3, opts);
}

function stateOf(m: nn.NormModule): Record<string, unknown[]> {
  return Object.fromEntries(Object.entries(m.stateDict()).map(([k, t]) => [k, Array.from(t.data as ArrayLike<unknown>)]));
}

describe('stateDict()', () => {
  it("BatchNorm: PyTorch's keys, shapes and dtypes; parameters and running statistics are the module's arrays", () => {
    const m = bn();
    const sd = m.stateDict();
    expect(Object.keys(sd)).toEqual(['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);
    expect(sd.weight).toEqual({ data: m.weight!.data, shape: [3], dtype: 'float32' });
    expect(sd.weight.data).toBe(m.weight!.data);
    expect(sd.running_mean.data).toBe(m.runningMean);
    expect(sd.num_batches_tracked).toEqual({ data: BigInt64Array.of(0n), shape: [], dtype: 'int64' });
  });

  it('only what the layer has: affine false, trackRunningStats false, bias false, elementwiseAffine false', () => {
    expect(Object.keys(bn({ affine: false }).stateDict())).toEqual(['running_mean', 'running_var', 'num_batches_tracked']);
    expect(Object.keys(bn({ trackRunningStats: false }).stateDict())).toEqual(['weight', 'bias']);
    expect(Object.keys(new nn.LayerNorm(4, { bias: false }).stateDict())).toEqual(['weight']);
    expect(Object.keys(new nn.LayerNorm(4, { elementwiseAffine: false }).stateDict())).toEqual([]);
    expect(Object.keys(new nn.RMSNorm(4).stateDict())).toEqual(['weight']);
    expect(Object.keys(new nn.GroupNorm(2, 4).stateDict())).toEqual(['weight', 'bias']);
    expect(Object.keys(new nn.InstanceNorm2d(4, { trackRunningStats: true }).stateDict())).toEqual(['running_mean', 'running_var', 'num_batches_tracked']);
  });

  it("LayerNorm's weight has the shape normalizedShape; prefix is prepended", () => {
    const sd = new nn.LayerNorm([2, 3], { dtype: 'float64' }).stateDict({ prefix: 'encoder.norm.' });
    expect(Object.keys(sd)).toEqual(['encoder.norm.weight', 'encoder.norm.bias']);
    expect(sd['encoder.norm.weight']).toMatchObject({ shape: [2, 3], dtype: 'float64' });
    expect(() => new nn.LayerNorm(2).stateDict({ prefix: 3 as never })).toThrow(TypeError);
  });
});

describe('loadStateDict()', () => {
  it('copies the values into the module arrays (they stay the same objects) and returns no missing/unexpected keys', () => {
    const src = bn();
    const rng = makeRng(1);
    src.weight!.data.set([1.5, 2, -1]);
    src.runningVar!.set([3, 4, 5]);
    src.numBatchesTracked = 42;
    const dst = bn();
    const weight = dst.weight!.data;
    expect(dst.loadStateDict(src.stateDict())).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(dst.weight!.data).toBe(weight);
    expect(stateOf(dst)).toEqual(stateOf(src));
    // and the loaded module computes what the source does
    const x = randTensor(rng, 'float32', [4, 3]);
    expectBitwiseEqual(dst.eval().forward(x).data, src.eval().forward(x).data, 'y');
  });

  it('converts float64, float16 and bfloat16 values to the module dtype, and float32 to float64', () => {
    const m = bn();
    m.loadStateDict({
      weight: { data: Float64Array.of(1 / 3, 2, 1e-50), shape: [3] },
      bias: { data: Uint16Array.of(0x3c00, 0xc000, 0x0001), shape: [3], dtype: 'float16' },   // 1, -2, 2^-24
      running_mean: { data: Uint16Array.of(0x3f80, 0x4049, 0xff80), shape: [3], dtype: 'bfloat16' }, // 1, 3.140625, -Inf
      running_var: { data: Float32Array.of(1, 2, 3), shape: [3] },
      num_batches_tracked: { data: BigInt64Array.of(5n), shape: [] },
    });
    expect([...m.weight!.data]).toEqual([Math.fround(1 / 3), 2, 0]);
    expect([...m.bias!.data]).toEqual([1, -2, 2 ** -24]);
    expect([...m.runningMean!]).toEqual([1, 3.140625, -Infinity]);
    expect(m.numBatchesTracked).toBe(5);
    const d = new nn.LayerNorm(2, { dtype: 'float64' });
    d.loadStateDict({ weight: { data: Float32Array.of(0.1, 0.2), shape: [2] }, bias: { data: Uint16Array.of(0x3555, 0), shape: [2], dtype: 'float16' } });
    expect([...d.weight!.data]).toEqual([Math.fround(0.1), Math.fround(0.2)]);
    expect(d.bias!.data[0]).toBe(0.333251953125);
  });

  it('num_batches_tracked: shape [] or [1] (old checkpoints); missing keeps the current value (PyTorch ≥ 2.1)', () => {
    const m = bn();
    const sd = m.stateDict();
    m.loadStateDict({ ...sd, num_batches_tracked: { data: BigInt64Array.of(9n), shape: [1] } });
    expect(m.numBatchesTracked).toBe(9);
    const { num_batches_tracked: _, ...withoutCount } = sd;
    expect(m.loadStateDict(withoutCount)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(m.numBatchesTracked).toBe(9);
  });

  it('strict (the default): missing and unexpected keys are an error naming each; nothing is loaded', () => {
    const m = bn();
    const sd: nn.StateDict = { ...bn().stateDict(), extra: { data: new Float32Array(1), shape: [1] } };
    sd.weight = { data: Float32Array.of(7, 7, 7), shape: [3], dtype: 'float32' };
    delete sd.bias;
    expect(() => m.loadStateDict(sd)).toThrow(RangeError);
    expect(() => m.loadStateDict(sd)).toThrow("stateDict does not fit this BatchNorm1d:\n  missing key 'bias'\n  unexpected key 'extra'");
    expect([...m.weight!.data]).toEqual([1, 1, 1]);
  });

  it('non-strict: returns the missing and unexpected keys and loads the rest', () => {
    const m = bn();
    const sd = { weight: { data: Float32Array.of(7, 7, 7), shape: [3] }, extra: { data: new Float32Array(1), shape: [1] } };
    expect(m.loadStateDict(sd, { strict: false })).toEqual({ missingKeys: ['bias', 'running_mean', 'running_var'], unexpectedKeys: ['extra'] });
    expect([...m.weight!.data]).toEqual([7, 7, 7]);
  });

  it('a wrong shape is an error even when not strict, naming the key and both shapes', () => {
    const m = bn();
    const sd = { ...bn().stateDict(), weight: { data: new Float32Array(4), shape: [4] } };
    expect(() => m.loadStateDict(sd, { strict: false })).toThrow("stateDict['weight']: shape [4] does not match the module's [3]");
    const twoD = { ...bn().stateDict(), running_var: { data: new Float32Array(3), shape: [1, 3] } };
    expect(() => m.loadStateDict(twoD)).toThrow(/stateDict\['running_var'\]: shape \[1, 3\] does not match the module's \[3\]/);
  });

  it('a wrong dtype is a TypeError naming the key', () => {
    const m = bn();
    const sd = m.stateDict();
    expect(() => m.loadStateDict({ ...sd, weight: { data: BigInt64Array.of(1n, 1n, 1n), shape: [3] } }))
      .toThrow(/stateDict\['weight'\] has dtype int64; weight needs a floating dtype/);
    expect(() => m.loadStateDict({ ...sd, num_batches_tracked: { data: Float32Array.of(1), shape: [] } }))
      .toThrow(/stateDict\['num_batches_tracked'\] has dtype float32; num_batches_tracked is an int64/);
    expect(() => m.loadStateDict({ ...sd, bias: { data: new Uint16Array(3), shape: [3] } }))
      .toThrow(/stateDict\['bias'\]\.dtype is required for a Uint16Array/);
    expect(() => m.loadStateDict({ ...sd, bias: { data: new Float32Array(3), shape: [3], dtype: 'float16' } }))
      .toThrow(/stateDict\['bias'\]\.data must be a Uint16Array for dtype float16, got a Float32Array/);
    expect(() => m.loadStateDict({ ...sd, bias: { data: new Float32Array(3), shape: [3], dtype: 'half' as never } }))
      .toThrow(/stateDict\['bias'\]\.dtype must be one of float64, float32, float16, bfloat16, int64/);
    expect(() => m.loadStateDict({ ...sd, bias: new Float32Array(3) as never })).toThrow(TypeError);
    expect(() => m.loadStateDict({ ...sd, bias: { data: [0, 0, 0], shape: [3] } as never })).toThrow(TypeError);
  });

  it('every problem is named in one error (TypeError when any is a wrong kind of value)', () => {
    const m = bn();
    const sd = {
      weight: { data: new Float32Array(2), shape: [2] },
      bias: { data: new Float32Array(3), shape: [4] },
      running_mean: { data: new Int32Array(3), shape: [3] },
      num_batches_tracked: { data: BigInt64Array.of(-1n), shape: [] },
    };
    let message = '';
    try {
      m.loadStateDict(sd as never);
    } catch (e) {
      expect(e).toBeInstanceOf(TypeError);
      message = (e as Error).message;
    }
    expect(message.split('\n').slice(1).map((l) => l.trim())).toEqual([
      "stateDict['weight']: shape [2] does not match the module's [3]",
      "stateDict['bias'].data has 3 elements but its shape [4] needs 4",
      "stateDict['running_mean'].data must be a Float64Array, Float32Array, Uint16Array (with dtype) or BigInt64Array, got a Int32Array",
      "stateDict['num_batches_tracked']: num_batches_tracked must be from 0 to 2^53 - 1, got -1",
      "missing key 'running_var'",
    ]);
  });

  it('prefix: only keys under it are the module’s (others are ignored, not unexpected)', () => {
    const m = bn();
    const sd: nn.StateDict = { ...bn().stateDict({ prefix: 'layer1.bn.' }), 'layer2.bn.weight': { data: new Float32Array(3), shape: [3] } };
    sd['layer1.bn.weight'] = { data: Float32Array.of(2, 3, 4), shape: [3], dtype: 'float32' };
    expect(m.loadStateDict(sd, { prefix: 'layer1.bn.' })).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect([...m.weight!.data]).toEqual([2, 3, 4]);
    expect(() => m.loadStateDict(sd, { prefix: 'layer2.bn.' })).toThrow(/\(prefix 'layer2\.bn\.'\):\n {2}missing key 'layer2\.bn\.bias'/);
    sd['layer1.bn.extra'] = sd['layer1.bn.weight'];
    expect(() => m.loadStateDict(sd, { prefix: 'layer1.bn.' })).toThrow(/unexpected key 'layer1\.bn\.extra'/);
  });

  it('InstanceNorm without trackRunningStats refuses running statistics even when not strict, as PyTorch does', () => {
    const m = new nn.InstanceNorm2d(2, { affine: true });
    const sd = { ...m.stateDict(), running_mean: { data: new Float32Array(2), shape: [2] }, running_var: { data: new Float32Array(2), shape: [2] } };
    expect(() => m.loadStateDict(sd, { strict: false })).toThrow(/unexpected key 'running_mean': this InstanceNorm has trackRunningStats false/);
  });

  it('bad arguments', () => {
    const m = bn();
    expect(() => m.loadStateDict(null as never)).toThrow(/^stateDict must be an object of tensors, got null/);
    expect(() => m.loadStateDict([] as never)).toThrow(TypeError);
    expect(() => m.loadStateDict(m.stateDict(), { strict: 'no' as never })).toThrow(/^opts\.strict must be a boolean/);
    expect(() => m.loadStateDict(m.stateDict(), { prefix: null as never })).toThrow(/^opts\.prefix must be a string/);
    expect(() => m.loadStateDict(m.stateDict(), { prefixes: '' } as never)).toThrow(/^opts\.prefixes is not a known option/);
  });

  it("a key named '__proto__' is only an unexpected key", () => {
    const sd = JSON.parse('{"__proto__": 1}') as Record<string, never>;
    expect(bn({ affine: false, trackRunningStats: false }).loadStateDict(sd, { strict: false })).toEqual({ missingKeys: [], unexpectedKeys: ['__proto__'] });
  });
});

describe('a state dict round trip through a safetensors file', () => {
  it.each([
    ['BatchNorm2d', () => new nn.BatchNorm2d(5, { momentum: null }), [4, 5, 3, 3]],
    ['InstanceNorm1d(affine, trackRunningStats)', () => new nn.InstanceNorm1d(5, { affine: true, trackRunningStats: true }), [4, 5, 6]],
    ['LayerNorm([3, 4], float64)', () => new nn.LayerNorm([3, 4], { dtype: 'float64' }), [2, 3, 4]],
    ['RMSNorm', () => new nn.RMSNorm(12), [3, 12]],
    ['GroupNorm NHWC', () => new nn.GroupNorm(2, 6, { layout: 'NHWC' }), [2, 4, 6]],
  ] as const)('%s: trained, saved, loaded into a new module: the same state and the same outputs', async (_name, make, shape) => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'fastnorm-nn-'));
    try {
      const rng = makeRng(9);
      const m = make();
      for (let step = 0; step < 3; step++) {
        const x = randTensor(rng, m.dtype, [...shape], 2, step);
        m.forward(x);
        m.backward(randTensor(rng, m.dtype, [...shape]));
        for (const p of m.parameters()) p.data.forEach((v, i) => { p.data[i] = v - 0.1 * p.grad![i]; });
        m.zeroGrad();
      }
      const file = join(dir, 'state.safetensors');
      nn.saveSafetensors(file, m.stateDict(), { format: 'pt' });
      const loaded = make();
      loaded.loadStateDict(nn.loadSafetensors(file));
      expect(stateOf(loaded)).toEqual(stateOf(m));
      const x = randTensor(rng, m.dtype, [...shape]);
      m.eval();
      loaded.eval();
      expectBitwiseEqual(loaded.forward(x).data, m.forward(x).data, 'eval y');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
