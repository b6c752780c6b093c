// DESIGN §3 for BatchNorm: the six native BatchNorm functions give bitwise identical results for
// every supported ISA path × threads {1, 2, 3, 8}, on shapes big enough to be split over threads
// (≥ 1<<16 values): NCHW with planes below and above the 8192-value block, and NHWC on both
// tile paths (flat "periodic" when lcm(C, lanes) ≤ 4 vectors, lane-per-channel otherwise,
// including C > 256: several channel chunks per tile). Running statistics updated in place must
// be bitwise identical too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import * as reference from '../src/reference';
import { nativeAddon } from '../src/api/facade';
import type { FloatArray, Layout } from '../src/api/types';
import { DTYPES, expectBitwiseEqual, isaThreadConfigs, product, type DType } from './helpers';
import { bnInputs } from './batch-norm-helpers';

const addon = nativeAddon!;
const { isas: ISAS, configs: CONFIGS, configure, initial } = isaThreadConfigs();

/** [name, layout, N, C, spatial]: which kernel path each one takes is in the name. */
const SHAPES: Array<[string, Layout, number, number, number[]]> = [
  ['NCHW C=3, planes of 20000 (3 blocks each)', 'NCHW', 2, 3, [20000]],
  ['NCHW C=40, planes of 24×24', 'NCHW', 4, 40, [24, 24]],
  ['NHWC C=3 (periodic path)', 'NHWC', 8, 3, [64, 64]],
  ['NHWC C=64 (float periodic, double lane path)', 'NHWC', 4, 64, [16, 17]],
  ['NHWC C=17 (lane-per-channel path)', 'NHWC', 4, 17, [32, 32]],
  ['NHWC C=300 (lane path, 2 channel chunks)', 'NHWC', 2, 300, [15, 15]],
];
const CASES = DTYPES.flatMap((dtype) => SHAPES.map(([name, layout, n, c, sp]) => [`${dtype} ${name}`, dtype, layout, n, c, sp] as const));

type Outputs = Record<string, FloatArray>;

/** Every BatchNorm function once, with fixed saved statistics and sums (so each function is compared on its own). */
function runAll(dtype: DType, layout: Layout, n: number, c: number, spatial: number[]): Outputs {
  const inp = inputsFor(dtype, layout, n, c, spatial);
  const { x, dy, weight, bias, saved, sums, count } = inp;
  const runningMean = inp.runningMean.slice();
  const runningVar = inp.runningVar.slice();
  const train = fastnorm.batchNorm(x, { weight, bias, runningMean, runningVar, momentum: 0.3, layout });
  const evalF = fastnorm.batchNorm(x, { weight, bias, runningMean: inp.runningMean, runningVar: inp.runningVar, training: false, layout });
  const bwd = fastnorm.batchNormBackward(dy, x, saved, { weight, layout });
  const evalB = fastnorm.batchNormBackward(dy, x, saved, { weight, layout, training: false });
  const stats = fastnorm.batchNormStats(x, { layout });
  const elemt = fastnorm.batchNormElemt(x, saved, { weight, bias, layout });
  const reduce = fastnorm.batchNormBackwardReduce(dy, x, saved, { layout });
  const belemt = fastnorm.batchNormBackwardElemt(dy, x, saved, { ...sums, count }, { weight, layout });
  return {
    'batchNorm y': train.y.data, 'batchNorm mean': train.mean, 'batchNorm rstd': train.rstd,
    'batchNorm runningMean': runningMean, 'batchNorm runningVar': runningVar,
    'batchNorm eval y': evalF.y.data, 'batchNorm eval rstd': evalF.rstd,
    'batchNormBackward dx': bwd.dx.data, 'batchNormBackward dweight': bwd.dweight!, 'batchNormBackward dbias': bwd.dbias!,
    'batchNormBackward eval dx': evalB.dx.data, 'batchNormBackward eval dweight': evalB.dweight!,
    'batchNormStats mean': stats.mean, 'batchNormStats m2': stats.m2,
    'batchNormElemt y': elemt.y.data,
    'batchNormBackwardReduce sumDy': reduce.sumDy, 'batchNormBackwardReduce sumDyXmu': reduce.sumDyXmu,
    'batchNormBackwardElemt dx': belemt.dx.data, 'batchNormBackwardElemt dweight': belemt.dweight!,
  };
}

const inputsCache = new Map<string, ReturnType<typeof makeInputs>>();
function makeInputs(dtype: DType, layout: Layout, n: number, c: number, spatial: number[]) {
  const inp = bnInputs({ dtype, layout, n, c, spatial, seed: n * 1009 + c });
  // saved statistics and gradient sums from the reference: fixed inputs for every configuration
  const saved = reference.batchNorm(inp.x, { layout });
  const sums = reference.batchNormBackwardReduce(inp.dy, inp.x, saved, { layout });
  return { ...inp, saved: { mean: saved.mean, rstd: saved.rstd }, sums, count: n * product(spatial) };
}
function inputsFor(dtype: DType, layout: Layout, n: number, c: number, spatial: number[]) {
  const key = `${dtype} ${layout} ${n} ${c} ${spatial.join('x')}`;
  if (!inputsCache.has(key)) inputsCache.set(key, makeInputs(dtype, layout, n, c, spatial));
  return inputsCache.get(key)!;
}

describe('BatchNorm: bitwise identical for every ISA × threads {1, 2, 3, 8}', () => {
  it('the shapes are big enough to be multithreaded (≥ 1<<16 values)', () => {
    for (const [name, , n, c, sp] of SHAPES) expect(n * c * product(sp), name).toBeGreaterThanOrEqual(1 << 16);
    expect(ISAS.length).toBeGreaterThanOrEqual(1);
  });

  it.each(CASES)('%s: all six functions (training and eval)', (_n, dtype, layout, n, c, spatial) => {
    let first: Outputs | null = null;
    let firstName = '';
    try {
      for (const { isa, threads } of CONFIGS) {
        configure(isa, threads);
        const out = runAll(dtype, layout, n, c, spatial);
        if (!first) {
          first = out;
          firstName = `${isa}/${threads} threads`;
          continue;
        }
        for (const k of Object.keys(first)) expectBitwiseEqual(out[k], first[k], `${k}: ${isa}/${threads} threads vs ${firstName}`);
      }
    } finally {
      configure(initial.isa, initial.threads);
    }
  });

  it('the same call repeated at 8 threads gives the same bits (no racy accumulation)', () => {
    fastnorm.setNumThreads(8);
    try {
      for (const [, layout, n, c, sp] of [SHAPES[0], SHAPES[2], SHAPES[4]]) {
        const a = runAll('float32', layout, n, c, sp);
        for (let rep = 0; rep < 3; rep++) {
          const b = runAll('float32', layout, n, c, sp);
          for (const k of Object.keys(a)) expectBitwiseEqual(b[k], a[k], `${layout} C=${c} ${k} (repeat ${rep})`);
        }
      }
    } finally {
      fastnorm.setNumThreads(initial.threads);
    }
  });

  it('the promise API gives the same bits as the sync API under concurrent calls', async () => {
    const [, layout, n, c, sp] = SHAPES[4];
    const inp = inputsFor('float32', layout, n, c, sp);
    const sync = fastnorm.batchNormBackward(inp.dy, inp.x, inp.saved, { weight: inp.weight, layout });
    const results = await Promise.all([0, 1, 2, 3].map(() => fastnorm.promises.batchNormBackward(inp.dy, inp.x, inp.saved, { weight: inp.weight, layout })));
    for (const r of results) {
      expectBitwiseEqual(r.dx.data, sync.dx.data, 'dx');
      expectBitwiseEqual(r.dweight!, sync.dweight!, 'dweight');
    }
  });
});
