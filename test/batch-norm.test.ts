// BatchNorm: the native backend against the pure-TypeScript reference on seeded random data,
// and the properties BatchNorm must have beyond agreeing with the reference:
//  - every channel count class of the kernels (C = 1 … 300: the NHWC flat "periodic" path when
//    lcm(C, lanes) ≤ 4 vectors, lane-per-channel otherwise), 0-3 spatial dims, both layouts and
//    dtypes, sizes around the vector width, the 8192-value NCHW block and the NHWC tiles;
//  - training and eval forward and backward, weight/bias combinations, grads, out buffers,
//    in place, running-statistic updates over several steps;
//  - NCHW and NHWC agree on transposed data; the synchronized-BatchNorm building blocks on
//    shards of a batch give the single-batch result; the promise API gives the same bits;
//  - ill-conditioned data (offset, tiny variance, constant channels, |x| ~ 1e30), NaN/Inf,
//    zero-size tensors.
//
// The backward of both backends always gets the SAME saved statistics (the reference's): a
// float32 saved mean legitimately differs by an ulp between backends, and dweight is sensitive
// to it on offset data. Tolerances: helpers.TOL (float64 offset data: TOL.F64_OFFSET). The
// reference backward is checked against finite differences of its forward (helpers.FD_TOL).
import { describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import * as reference from '../src/reference';
import type { BackwardResult, FloatArray, GradsOption, Layout, Tensor } from '../src/api/types';
import {
  CTORS, DTYPES, FD_TOL, LAYOUTS, TOL, batchSlice, channelIndexer, channelsShape, dims, dot, dxTerms, expectBackwardClose, expectBitwiseEqual,
  expectBitwiseEqualDeep,
  expectChildOk, expectClose, expectForwardClose, makeRng, misaligned, numericGradient, product, randn, requireNative, runNode, tensor,
  transpose, type CheckSpec, type DType, type Rng,
} from './helpers';

const native = fastnorm;
type Api = typeof reference;
const BACKENDS: Array<[string, Api]> = [['native', native], ['reference', reference]];
const fwdClose = expectForwardClose;
const F64_TOL = TOL.F64;
const F64_OFFSET_TOL = TOL.F64_OFFSET;
const bnShape = channelsShape;

requireNative();

interface BnSpec {
  dtype: DType;
  layout: Layout;
  n: number;
  c: number;
  spatial?: number[];
  seed?: number;
  /** x = offset + scale·N(0, 1) (default 0.5 + 2·N(0, 1): a non-zero mean on purpose) */
  scale?: number;
  offset?: number;
}

/** Seeded x, dy, weight, bias and running statistics (runningVar > 0). */
function bnInputs(spec: BnSpec) {
  const rng: Rng = makeRng(spec.seed ?? 4242);
  const shape = bnShape(spec.layout, spec.n, spec.c, spec.spatial ?? []);
  const len = product(shape);
  const x: Tensor = { data: randn(rng, spec.dtype, len, spec.scale ?? 2, spec.offset ?? 0.5), shape };
  const dy: Tensor = { data: randn(rng, spec.dtype, len), shape: shape.slice() };
  const weight = randn(rng, spec.dtype, spec.c, 0.5, 1);
  const bias = randn(rng, spec.dtype, spec.c);
  const runningMean = randn(rng, spec.dtype, spec.c, 0.3);
  const runningVar = new CTORS[spec.dtype](spec.c).map(() => 0.5 + rng.uniform());
  return { shape, x, dy, weight, bias, runningMean, runningVar };
}

/** The float32 L2 floor of a BatchNorm dx: its terms w_c·rstd_c·dy, before they cancel (with 2 values per channel dx is ~0). */
function bnDxFloor(dy: FloatArray, rstd: ArrayLike<number>, shape: readonly number[], layout: Layout, weight?: ArrayLike<number>,
  f64Tol?: number) {
  const ch = channelIndexer(shape, layout);
  return { l2Floor: dxTerms(dy, (i) => rstd[ch(i)] * (weight ? weight[ch(i)] : 1)).l2, f64Tol };
}

/**
 * Floors for dweight = Σ dy·(x − μ)·rstd and dbias = Σ dy: the norm of the terms summed into
 * them (the fixtures' floor), so a per-channel sum that happens to cancel is judged like a
 * typical one (float64: the smallest per-channel norm, as the elementwise floor).
 */
function gradFloors(dy: FloatArray, x: FloatArray, mean: ArrayLike<number>, rstd: ArrayLike<number>, shape: readonly number[],
  layout: Layout, f64Tol?: number) {
  const ch = channelIndexer(shape, layout);
  const c = mean.length;
  const w = new Float64Array(c);
  const b = new Float64Array(c);
  for (let i = 0; i < dy.length; i++) {
    const k = ch(i);
    const t = dy[i] * (x[i] - mean[k]) * rstd[k];
    if (Number.isFinite(t)) w[k] += t * t;
    if (Number.isFinite(dy[i])) b[k] += dy[i] * dy[i];
  }
  const floorOf = (a: Float64Array) => ({
    l2Floor: Math.sqrt(a.reduce((p, v) => p + v, 0)), f64Floor: a.length ? Math.sqrt(Math.min(...a)) : 0, f64Tol,
  });
  return { dweight: floorOf(w), dbias: floorOf(b) };
}

function gradKeys(r: BackwardResult): string[] {
  return Object.keys(r).filter((k) => k !== 'dx').sort();
}

interface Check extends BnSpec, Omit<CheckSpec, 'dtype'> {
  /** pass running statistics (training updates them; eval mode needs them) */
  running?: boolean;
  momentum?: number;
  /** also run eval forward and backward (needs running) */
  evalToo?: boolean;
}

const where = (spec: Check, shape: readonly number[]) => `${spec.dtype} ${spec.layout} [${shape.join(', ')}]`;

/** batchNorm training forward (with the running-statistics update) on both backends. */
function checkTrainingForward(spec: Check) {
  const inp = bnInputs(spec);
  const { x } = inp;
  const weight = spec.weight ? inp.weight : undefined;
  const bias = spec.bias ? inp.bias : undefined;
  const at = where(spec, x.shape);
  const xBefore = x.data.slice();
  const nRun = spec.running ? { runningMean: inp.runningMean.slice(), runningVar: inp.runningVar.slice() } : {};
  const rRun = spec.running ? { runningMean: inp.runningMean.slice(), runningVar: inp.runningVar.slice() } : {};
  const common = { weight, bias, layout: spec.layout, momentum: spec.momentum, eps: spec.eps };
  const n = native.batchNorm(x, { ...common, ...nRun });
  const r = reference.batchNorm(x, { ...common, ...rRun });
  expectBitwiseEqual(x.data, xBefore, 'x must not be modified');
  expect(n.y.shape).toEqual(x.shape);
  fwdClose(spec.dtype, n.mean, r.mean, `${at} mean`, spec.f64Tol);
  fwdClose(spec.dtype, n.rstd, r.rstd, `${at} rstd`, spec.f64Tol);
  fwdClose(spec.dtype, n.y.data, r.y.data, `${at} y`, spec.f64Tol);
  if (spec.running) {
    fwdClose(spec.dtype, nRun.runningMean, rRun.runningMean!, `${at} runningMean`, spec.f64Tol);
    fwdClose(spec.dtype, nRun.runningVar, rRun.runningVar!, `${at} runningVar`, spec.f64Tol);
  }
  return { inp, n, r, nRun, rRun };
}

/** batchNormBackward (training) on both backends, with the reference's saved statistics. */
function checkTrainingBackward(spec: Check) {
  const inp = bnInputs(spec);
  const { x, dy } = inp;
  const weight = spec.weight ? inp.weight : undefined;
  const at = where(spec, x.shape);
  const saved = reference.batchNorm(x, { layout: spec.layout, eps: spec.eps });
  const bopts = { weight, layout: spec.layout, grads: spec.grads };
  const nb = native.batchNormBackward(dy, x, saved, bopts);
  const rb = reference.batchNormBackward(dy, x, saved, bopts);
  const wantW = spec.grads?.weight ?? !!weight;
  const wantB = spec.grads?.bias ?? !!weight;
  const keys = [...(wantB ? ['dbias'] : []), ...(wantW ? ['dweight'] : [])];
  expect(gradKeys(nb), 'native backward outputs').toEqual(keys);
  expect(gradKeys(rb), 'reference backward outputs').toEqual(keys);
  expect(nb.dx.shape).toEqual(x.shape);
  expectBackwardClose(spec.dtype, nb.dx.data, rb.dx.data, `${at} dx`, bnDxFloor(dy.data, saved.rstd, x.shape, spec.layout, weight, spec.f64Tol));
  const gf = gradFloors(dy.data, x.data, saved.mean, saved.rstd, x.shape, spec.layout, spec.f64Tol);
  expectBackwardClose(spec.dtype, nb.dweight, rb.dweight, `${at} dweight`, gf.dweight);
  expectBackwardClose(spec.dtype, nb.dbias, rb.dbias, `${at} dbias`, gf.dbias);
  return { nb, rb };
}

/** Eval mode: the running statistics (the initial ones, identical for both backends) normalize; forward and backward. */
function checkEval(spec: Check) {
  const inp = bnInputs(spec);
  const { x, dy } = inp;
  const weight = spec.weight ? inp.weight : undefined;
  const bias = spec.bias ? inp.bias : undefined;
  const at = `${where(spec, x.shape)} eval`;
  const run = { runningMean: inp.runningMean, runningVar: inp.runningVar };
  const runBefore = [inp.runningMean.slice(), inp.runningVar.slice()];
  const common = { weight, bias, layout: spec.layout, momentum: spec.momentum, eps: spec.eps };
  const ne = native.batchNorm(x, { ...common, ...run, training: false });
  const re = reference.batchNorm(x, { ...common, ...run, training: false });
  expectBitwiseEqual(inp.runningMean, runBefore[0], 'eval leaves runningMean alone');
  expectBitwiseEqual(inp.runningVar, runBefore[1], 'eval leaves runningVar alone');
  expectBitwiseEqual(ne.mean, inp.runningMean, `${at} mean = runningMean`);
  fwdClose(spec.dtype, ne.rstd, re.rstd, `${at} rstd`, spec.f64Tol);
  fwdClose(spec.dtype, ne.y.data, re.y.data, `${at} y`, spec.f64Tol);
  const esaved = { mean: re.mean, rstd: re.rstd };
  const eopts = { weight, layout: spec.layout, grads: spec.grads, training: false };
  const neb = native.batchNormBackward(dy, x, esaved, eopts);
  const reb = reference.batchNormBackward(dy, x, esaved, eopts);
  const wantW = spec.grads?.weight ?? !!weight;
  const wantB = spec.grads?.bias ?? !!weight;
  expect(gradKeys(neb), 'native eval backward outputs').toEqual([...(wantB ? ['dbias'] : []), ...(wantW ? ['dweight'] : [])]);
  expectBackwardClose(spec.dtype, neb.dx.data, reb.dx.data, `${at} dx`, { f64Tol: spec.f64Tol });
  const egf = gradFloors(dy.data, x.data, re.mean, re.rstd, x.shape, spec.layout, spec.f64Tol);
  expectBackwardClose(spec.dtype, neb.dweight, reb.dweight, `${at} dweight`, egf.dweight);
  expectBackwardClose(spec.dtype, neb.dbias, reb.dbias, `${at} dbias`, egf.dbias);
  return { ne, re };
}

/** The three checks of a spec (the data-driven cases below; each check names its output). */
function checkBatchNorm(spec: Check) {
  const { inp, n, r, nRun, rRun } = checkTrainingForward(spec);
  const { nb, rb } = checkTrainingBackward(spec);
  const { ne, re } = spec.evalToo ? checkEval(spec) : { ne: undefined, re: undefined };
  return { inp, n, r, nb, rb, ne, re, nRun, rRun };
}

// ---------------------------------------------------------------------------------------------

/** Channel counts around the vector width, on both NHWC paths (periodic when lcm(C, lanes) ≤ 4 vectors: float C = 1, 2, 3, 8, 16, 32, 64; else lane-per-channel, read in groups of up to 8 channel vectors: 120 and 250 end on a group of 8 with a partial last vector). */
const CHANNELS = [1, 2, 3, 5, 7, 8, 15, 16, 17, 32, 33, 40, 60, 64, 100, 120, 250, 300];
/** (N, spatial dims) with 0 to 3 spatial dims; N·S from 2 (the training minimum) up. */
const BATCHES: Array<[number, number[]]> = [[2, []], [5, []], [1, [2]], [3, [17]], [2, [16]], [1, [33]], [2, [3, 5]], [2, [2, 3, 4]]];
const GRID = DTYPES.flatMap((dtype) => LAYOUTS.flatMap((layout) => CHANNELS.map((c) => [`${dtype} ${layout} C=${c}`, dtype, layout, c] as const)));

describe('batchNorm: native vs reference', () => {
  it.each(GRID)('%s, 0-3 spatial dims: training forward (running stats)', (_n, dtype, layout, c) => {
    for (const [n, spatial] of BATCHES)
      checkTrainingForward({ dtype, layout, n, c, spatial, weight: true, bias: true, running: true, seed: c * 31 + n + spatial.length });
  });

  it.each(GRID)('%s, 0-3 spatial dims: training backward', (_n, dtype, layout, c) => {
    for (const [n, spatial] of BATCHES) checkTrainingBackward({ dtype, layout, n, c, spatial, weight: true, bias: true, seed: c * 31 + n + spatial.length });
  });

  it.each(GRID)('%s, 0-3 spatial dims: eval forward and backward', (_n, dtype, layout, c) => {
    for (const [n, spatial] of BATCHES) checkEval({ dtype, layout, n, c, spatial, weight: true, bias: true, seed: c * 31 + n + spatial.length });
  });

  // NCHW: a unit is a ≤ 8192-value block of one (n, c) plane; planes around the vector width and
  // around one and two blocks (the larger ones are also over the 1<<16-value multithreading line).
  const PLANES = [1, 2, 15, 16, 17, 31, 32, 33, 8191, 8192, 8193, 16383, 16384, 16385];
  it.each(DTYPES.flatMap((d) => [1, 3].map((c) => [`${d} NCHW C=${c}`, d, c] as const)))(
    '%s: plane sizes around the vector width and the 8192-value block', (_n, dtype, c) => {
      for (const s of PLANES) checkBatchNorm({ dtype, layout: 'NCHW', n: 2, c, spatial: [s], weight: true, bias: true, running: true, seed: s });
      // as 2 spatial dims, and N = 1
      checkBatchNorm({ dtype, layout: 'NCHW', n: 1, c, spatial: [91, 90], weight: true, bias: true, seed: 1 });
      checkBatchNorm({ dtype, layout: 'NCHW', n: 3, c, spatial: [2, 4097], weight: true, bias: true, seed: 2 });
    });

  // NHWC: a unit is a tile of rows (N·S positions) × channels. Row counts around one and two
  // tiles, computed like the kernel's header says (16384-value tiles; flat path when lcm(C,
  // lanes) ≤ 4 vectors, rows a whole number of periods; else ≤ 256 channels per tile).
  function tileRows(dtype: DType, c: number): number {
    const lanes = dtype === 'float32' ? 16 : 8;
    const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
    const lcm = (c / gcd(c, lanes)) * lanes;
    if (lcm <= 4 * lanes) {
      const perPeriod = lcm / c;
      return Math.max(perPeriod, Math.floor(16384 / c / perPeriod) * perPeriod);
    }
    return Math.max(1, Math.floor(16384 / Math.min(c, 256)));
  }
  const TILE_CASES = DTYPES.flatMap((d) => [1, 3, 5, 16, 17, 64, 100, 120, 250, 300].map((c) => [`${d} NHWC C=${c} (${tileRows(d, c)} rows/tile)`, d, c] as const));
  it.each(TILE_CASES)('%s: N·S around one and two tiles', (_n, dtype, c) => {
    const t = tileRows(dtype, c);
    for (const rows of [t - 1, t, t + 1, 2 * t + 1]) {
      if (rows < 2) continue;
      checkBatchNorm({ dtype, layout: 'NHWC', n: 1, c, spatial: [rows], weight: true, bias: true, running: true, seed: rows });
    }
    checkBatchNorm({ dtype, layout: 'NHWC', n: t + 1, c, weight: true, bias: true, seed: 3 }); // (N, C): rows = N
  });

  it.each(DTYPES.flatMap((d) => LAYOUTS.map((l) => [`${d} ${l}`, d, l] as const)))(
    '%s: big enough to be multithreaded (≥ 1<<16 values), C = 3, 17, 64, 300', (_n, dtype, layout) => {
      checkBatchNorm({ dtype, layout, n: 4, c: 3, spatial: [96, 96], weight: true, bias: true, running: true, evalToo: true, seed: 10 });
      checkBatchNorm({ dtype, layout, n: 8, c: 17, spatial: [23, 23], weight: true, bias: true, running: true, evalToo: true, seed: 11 });
      checkBatchNorm({ dtype, layout, n: 4, c: 64, spatial: [16, 17], weight: true, bias: true, seed: 12 });
      checkBatchNorm({ dtype, layout, n: 2, c: 300, spatial: [11, 11], weight: true, bias: true, seed: 13 });
    });

  it.each(DTYPES.flatMap((d) => LAYOUTS.map((l) => [`${d} ${l}`, d, l] as const)))(
    '%s: every weight/bias combination, with and without running stats', (_n, dtype, layout) => {
      for (const [c, spatial] of [[5, [3, 7]], [17, [40, 41]]] as Array<[number, number[]]>)
        for (const weight of [false, true])
          for (const bias of [false, true])
            for (const running of [false, true])
              checkBatchNorm({ dtype, layout, n: 2, c, spatial, weight, bias, running, evalToo: running, seed: 20 });
    });

  it.each(DTYPES.flatMap((d) => LAYOUTS.map((l) => [`${d} ${l}`, d, l] as const)))(
    '%s: every grads option, with and without weight, training and eval', (_n, dtype, layout) => {
      const grads = [undefined, {}, { weight: true }, { bias: true }, { weight: true, bias: true }, { weight: false, bias: false },
        { weight: false, bias: true }, { weight: true, bias: false }];
      for (const weight of [false, true])
        for (const g of grads)
          checkBatchNorm({ dtype, layout, n: 3, c: 7, spatial: [5], weight, bias: true, running: true, evalToo: true, grads: g, seed: 21 });
    });

  it.each(DTYPES)('%s: explicit eps and momentum values', (dtype) => {
    for (const eps of [0, 1e-5, 0.1, 3])
      for (const momentum of [0, 0.1, 0.5, 1, 1.5])
        for (const layout of LAYOUTS)
          checkBatchNorm({ dtype, layout, n: 3, c: 5, spatial: [4], weight: true, bias: true, running: true, evalToo: true, eps, momentum, seed: 22 });
  });

  it.each(DTYPES)('%s: default eps is 1e-5 and default momentum is 0.1 (the running-stat update formula)', (dtype) => {
    const C = CTORS[dtype];
    for (const [name, api] of BACKENDS) {
      // channel 0: values 1, 3 (mean 2, biased var 1, unbiased 2); channel 1: 0, 0
      const x = tensor(new C([1, 0, 3, 0]), [2, 2]);
      const runningMean = new C([10, 20]);
      const runningVar = new C([5, 6]);
      const r = api.batchNorm(x, { runningMean, runningVar });
      expect(Array.from(r.mean), name).toEqual([2, 0]);
      expect(r.rstd[0], name).toBe(new C([1 / Math.sqrt(1 + 1e-5)])[0]);
      expect(r.rstd[1], name).toBe(new C([1 / Math.sqrt(1e-5)])[0]);
      expect(Array.from(runningMean), `${name} runningMean`).toEqual(Array.from(new C([0.9 * 10 + 0.1 * 2, 0.9 * 20])));
      expect(Array.from(runningVar), `${name} runningVar: unbiased`).toEqual(Array.from(new C([0.9 * 5 + 0.1 * 2, 0.9 * 6])));
      // eval: mean = runningMean, rstd = 1/sqrt(runningVar + eps)
      const e = api.batchNorm(x, { runningMean, runningVar, training: false, eps: 0.25 });
      expectBitwiseEqual(e.mean, runningMean, `${name} eval mean`);
      expect(e.rstd[0], name).toBe(new C([1 / Math.sqrt(runningVar[0] + 0.25)])[0]);
    }
  });

  it.each(DTYPES)('%s: misaligned (not 64-byte aligned) inputs and outputs give bitwise the same results (native)', (dtype) => {
    for (const layout of LAYOUTS) {
      for (const c of [3, 17]) {
        const { x, dy, weight, bias, runningMean, runningVar } = bnInputs({ dtype, layout, n: 3, c, spatial: [5, 7], seed: 23 });
        const mx = tensor(misaligned(x.data), x.shape);
        const mdy = tensor(misaligned(dy.data, 3), dy.shape);
        const a = native.batchNorm(x, { weight, bias, layout });
        const b = native.batchNorm(mx, { weight: misaligned(weight, 2), bias: misaligned(bias, 5), layout });
        expectBitwiseEqual(b.y.data, a.y.data, 'y');
        expectBitwiseEqual(b.mean, a.mean, 'mean');
        expectBitwiseEqual(b.rstd, a.rstd, 'rstd');
        const ea = native.batchNorm(x, { weight, bias, layout, runningMean, runningVar, training: false });
        const eb = native.batchNorm(mx, { weight, bias, layout, runningMean: misaligned(runningMean), runningVar: misaligned(runningVar, 7), training: false });
        expectBitwiseEqual(eb.y.data, ea.y.data, 'eval y');
        const ga = native.batchNormBackward(dy, x, a, { weight, layout });
        const gb = native.batchNormBackward(mdy, mx, { mean: misaligned(a.mean), rstd: misaligned(a.rstd, 2) }, { weight: misaligned(weight, 3), layout });
        expectBitwiseEqual(gb.dx.data, ga.dx.data, 'dx');
        expectBitwiseEqual(gb.dweight!, ga.dweight!, 'dweight');
        expectBitwiseEqual(gb.dbias!, ga.dbias!, 'dbias');
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('running statistics over several training steps', () => {
  const CASES = DTYPES.flatMap((d) => LAYOUTS.flatMap((l) => [3, 17].map((c) => [`${d} ${l} C=${c}`, d, l, c] as const)));

  it.each(CASES)('%s: 6 steps on fresh batches (momentum default, 0.3), native vs reference, then eval with them', (_n, dtype, layout, c) => {
    for (const momentum of [undefined, 0.3]) {
      const first = bnInputs({ dtype, layout, n: 4, c, spatial: [6, 5], seed: 30 });
      const nRun = { runningMean: first.runningMean.slice(), runningVar: first.runningVar.slice() };
      const rRun = { runningMean: first.runningMean.slice(), runningVar: first.runningVar.slice() };
      for (let step = 0; step < 6; step++) {
        // batches with a drifting mean and scale, so the running stats really move
        const b = bnInputs({ dtype, layout, n: 4, c, spatial: [6, 5], seed: 31 + step, offset: step, scale: 1 + step / 2 });
        const n = native.batchNorm(b.x, { ...nRun, momentum, layout, weight: b.weight, bias: b.bias });
        const r = reference.batchNorm(b.x, { ...rRun, momentum, layout, weight: b.weight, bias: b.bias });
        fwdClose(dtype, n.y.data, r.y.data, `step ${step} y`);
        fwdClose(dtype, nRun.runningMean, rRun.runningMean, `step ${step} runningMean`);
        fwdClose(dtype, nRun.runningVar, rRun.runningVar, `step ${step} runningVar`);
      }
      const e = bnInputs({ dtype, layout, n: 2, c, spatial: [3], seed: 40 });
      const ne = native.batchNorm(e.x, { ...nRun, training: false, layout, weight: e.weight, bias: e.bias });
      const re = reference.batchNorm(e.x, { ...rRun, training: false, layout, weight: e.weight, bias: e.bias });
      fwdClose(dtype, ne.y.data, re.y.data, 'eval y after training');
      expectBitwiseEqual(ne.mean, nRun.runningMean, 'eval mean = the updated runningMean');
    }
  });

  it.each(DTYPES)('%s: the update is running = (1 − momentum)·running + momentum·batch, with the unbiased batch variance', (dtype) => {
    const C = CTORS[dtype];
    for (const layout of LAYOUTS) {
      for (const [name, api] of BACKENDS) {
        const { x, runningMean, runningVar } = bnInputs({ dtype, layout, n: 3, c: 4, spatial: [5], seed: 41 });
        const rm = runningMean.slice();
        const rv = runningVar.slice();
        const m = 0.25;
        api.batchNorm(x, { runningMean: rm, runningVar: rv, momentum: m, layout });
        const ch = channelIndexer(x.shape, layout);
        for (let c = 0; c < 4; c++) {
          const vals = Array.from(x.data).filter((_, i) => ch(i) === c);
          const mean = vals.reduce((a, v) => a + v, 0) / vals.length;
          const unbiased = vals.reduce((a, v) => a + (v - mean) ** 2, 0) / (vals.length - 1);
          const wantMean = new C([(1 - m) * runningMean[c] + m * mean])[0];
          const wantVar = new C([(1 - m) * runningVar[c] + m * unbiased])[0];
          expectClose([rm[c]], [wantMean], dtype === 'float64' ? 1e-14 : 1e-6, `${name} ${layout} runningMean[${c}]`);
          expectClose([rv[c]], [wantVar], dtype === 'float64' ? 1e-14 : 1e-6, `${name} ${layout} runningVar[${c}]`);
        }
      }
    }
  });

  it.each(BACKENDS)('%s: momentum 0 leaves the running stats bitwise unchanged; without them nothing else is written', (_name, api) => {
    const { x, runningMean, runningVar } = bnInputs({ dtype: 'float32', layout: 'NCHW', n: 3, c: 4, spatial: [5], seed: 42 });
    const rm = runningMean.slice();
    const rv = runningVar.slice();
    api.batchNorm(x, { runningMean: rm, runningVar: rv, momentum: 0 });
    expectBitwiseEqual(rm, runningMean, 'runningMean');
    expectBitwiseEqual(rv, runningVar, 'runningVar');
  });
});

// ---------------------------------------------------------------------------------------------

describe('eval-mode backward (gradient through fixed statistics)', () => {
  const CASES = DTYPES.flatMap((d) => LAYOUTS.flatMap((l) => [1, 3, 17, 64].map((c) => [`${d} ${l} C=${c}`, d, l, c] as const)));

  it.each(CASES)('%s: dx = dy·w·rstd_running, dweight = Σ dy·(x − μ_running)·rstd, dbias = Σ dy (both backends)', (_n, dtype, layout, c) => {
    const { x, dy, weight, bias, runningMean, runningVar } = bnInputs({ dtype, layout, n: 3, c, spatial: [4, 5], seed: 50 });
    const ch = channelIndexer(x.shape, layout);
    const eps = 1e-3;
    const rstd = Array.from(runningVar, (v) => 1 / Math.sqrt(v + eps));
    const wantDx = new Float64Array(x.data.length);
    const wantDw = new Float64Array(c);
    const wantDb = new Float64Array(c);
    for (let i = 0; i < x.data.length; i++) {
      const k = ch(i);
      wantDx[i] = dy.data[i] * weight[k] * rstd[k];
      wantDw[k] += dy.data[i] * (x.data[i] - runningMean[k]) * rstd[k];
      wantDb[k] += dy.data[i];
    }
    for (const [name, api] of BACKENDS) {
      const saved = api.batchNorm(x, { weight, bias, runningMean, runningVar, eps, training: false, layout });
      const g = api.batchNormBackward(dy, x, saved, { weight, training: false, layout });
      const tol = dtype === 'float64' ? 1e-13 : 1e-6;
      expectClose(g.dx.data, wantDx, tol, `${name} dx`);
      expectClose(g.dweight!, wantDw, dtype === 'float64' ? 1e-12 : 1e-5, `${name} dweight`);
      expectClose(g.dbias!, wantDb, dtype === 'float64' ? 1e-12 : 1e-5, `${name} dbias`);
      // without weight: dx = dy·rstd
      const g1 = api.batchNormBackward(dy, x, saved, { training: false, layout });
      expectClose(g1.dx.data, wantDx.map((v, i) => v / weight[ch(i)]), tol, `${name} dx without weight`);
      expect(gradKeys(g1)).toEqual([]);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('NCHW and NHWC agree on transposed data', () => {
  const CASES = DTYPES.flatMap((d) => [[2, 3, [4, 5]], [3, 17, [7]], [2, 64, [3, 3, 3]], [4, 5, []], [2, 300, [2, 2]], [2, 3, [120, 120]]]
    .map(([n, c, sp]) => [`${d} N=${n} C=${c} spatial [${(sp as number[]).join(', ')}]`, d, n as number, c as number, sp as number[]] as const));

  it.each(CASES)('%s: forward (train, eval), running stats, backward (train, eval), stats and sums', (_name, dtype, n, c, spatial) => {
    const a = bnInputs({ dtype, layout: 'NCHW', n, c, spatial, seed: 60 });
    const s = product(spatial);
    const toNhwc = (t: Tensor): Tensor => tensor(transpose(t.data, n, c, s, 'NCHW'), bnShape('NHWC', n, c, spatial));
    const xh = toNhwc(a.x);
    const dyh = toNhwc(a.dy);
    const back = (d: FloatArray) => transpose(d, n, c, s, 'NHWC');
    for (const [name, api] of BACKENDS) {
      // the reference visits a channel's values in the same (n, s) order in both layouts: bitwise
      const same = (actual: FloatArray, expected: FloatArray, what: string, kind: 'fwd' | 'bwd', floor: { l2Floor?: number; f64Floor?: number } = {}) => {
        if (name === 'reference') expectBitwiseEqual(actual, expected, `${name} ${what}`);
        else if (kind === 'fwd') fwdClose(dtype, actual, expected, `${name} ${what}`);
        else expectBackwardClose(dtype, actual, expected, `${name} ${what}`, floor);
      };
      const runC = { runningMean: a.runningMean.slice(), runningVar: a.runningVar.slice() };
      const runH = { runningMean: a.runningMean.slice(), runningVar: a.runningVar.slice() };
      const fc = api.batchNorm(a.x, { weight: a.weight, bias: a.bias, ...runC });
      const fh = api.batchNorm(xh, { weight: a.weight, bias: a.bias, ...runH, layout: 'NHWC' });
      same(back(fh.y.data), fc.y.data, 'y', 'fwd');
      same(fh.mean, fc.mean, 'mean', 'fwd');
      same(fh.rstd, fc.rstd, 'rstd', 'fwd');
      same(runH.runningMean, runC.runningMean, 'runningMean', 'fwd');
      same(runH.runningVar, runC.runningVar, 'runningVar', 'fwd');

      const run = { runningMean: a.runningMean, runningVar: a.runningVar };
      const ec = api.batchNorm(a.x, { weight: a.weight, bias: a.bias, ...run, training: false });
      const eh = api.batchNorm(xh, { weight: a.weight, bias: a.bias, ...run, training: false, layout: 'NHWC' });
      same(back(eh.y.data), ec.y.data, 'eval y', 'fwd');

      const saved = { mean: fc.mean, rstd: fc.rstd };
      const floor = bnDxFloor(a.dy.data, fc.rstd, a.x.shape, 'NCHW', a.weight);
      const gf = gradFloors(a.dy.data, a.x.data, fc.mean, fc.rstd, a.x.shape, 'NCHW');
      for (const training of [true, false]) {
        const bc = api.batchNormBackward(a.dy, a.x, saved, { weight: a.weight, training });
        const bh = api.batchNormBackward(dyh, xh, saved, { weight: a.weight, training, layout: 'NHWC' });
        same(back(bh.dx.data), bc.dx.data, `dx (training ${training})`, 'bwd', floor);
        same(bh.dweight!, bc.dweight!, `dweight (training ${training})`, 'bwd', gf.dweight);
        same(bh.dbias!, bc.dbias!, `dbias (training ${training})`, 'bwd', gf.dbias);
      }

      const sc = api.batchNormStats(a.x);
      const sh = api.batchNormStats(xh, { layout: 'NHWC' });
      expect(sh.count).toBe(sc.count);
      // native: float32 lane sums of ≤ 16 terms are blocked differently in the two layouts
      const statTol = name === 'reference' ? 0 : dtype === 'float64' ? 1e-12 : 1e-6;
      expectClose(sh.mean, sc.mean, statTol, `${name} stats mean`);
      expectClose(sh.m2, sc.m2, statTol, `${name} stats m2`, Math.max(...sc.m2) || 1);
      const rc = api.batchNormBackwardReduce(a.dy, a.x, saved);
      const rh = api.batchNormBackwardReduce(dyh, xh, saved, { layout: 'NHWC' });
      expectClose(rh.sumDy, rc.sumDy, statTol, `${name} sumDy`, Math.sqrt(a.dy.data.length));
      expectClose(rh.sumDyXmu, rc.sumDyXmu, statTol, `${name} sumDyXmu`, Math.sqrt(a.dy.data.length));
    }
  });
});

// ---------------------------------------------------------------------------------------------

/**
 * Synchronized BatchNorm on shards of x (split along N): batchNormStats of each shard, one
 * batchNormGatherStats, batchNormElemt per shard into views of one y buffer; the backward as
 * batchNormBackwardReduce per shard, the sums added over shards, batchNormBackwardElemt per shard.
 */
function syncBatchNorm(api: Api, x: Tensor, dy: Tensor, cuts: number[], opts: {
  layout: Layout; weight: FloatArray; bias: FloatArray; runningMean: FloatArray; runningVar: FloatArray; eps?: number; momentum?: number;
}) {
  const { layout, weight, bias } = opts;
  const bounds = [0, ...cuts, x.shape[0]];
  const shards = bounds.slice(1).map((end, k) => [bounds[k], end]);
  const parts = shards.map(([a, b]) => api.batchNormStats(batchSlice(x, a, b), { layout }));
  parts.forEach((p, k) => expect(p.count, `shard ${k} count`).toBe((shards[k][1] - shards[k][0]) * dims(x.shape, layout).s));
  const dtype = x.data instanceof Float64Array ? 'float64' : 'float32';
  const stats = reference.batchNormGatherStats(parts, {
    eps: opts.eps, momentum: opts.momentum, runningMean: opts.runningMean, runningVar: opts.runningVar, dtype,
  });
  expect(stats.count).toBe(parts.reduce((a, p) => a + p.count, 0));
  const y = new CTORS[dtype](x.data.length);
  for (const [a, b] of shards) {
    const out = batchSlice(tensor(y, x.shape), a, b).data;
    const r = api.batchNormElemt(batchSlice(x, a, b), stats, { weight, bias, layout, out: { y: out } });
    expect(r.y.data).toBe(out);
  }
  const saved = { mean: stats.mean, rstd: stats.rstd };
  const c = weight.length;
  const sums = { sumDy: new Float64Array(c), sumDyXmu: new Float64Array(c), count: stats.count };
  for (const [a, b] of shards) {
    const part = api.batchNormBackwardReduce(batchSlice(dy, a, b), batchSlice(x, a, b), saved, { layout });
    for (let k = 0; k < c; k++) {
      sums.sumDy[k] += part.sumDy[k];
      sums.sumDyXmu[k] += part.sumDyXmu[k];
    }
  }
  const dx = new CTORS[dtype](x.data.length);
  let dweight: FloatArray | undefined;
  let dbias: FloatArray | undefined;
  for (const [a, b] of shards) {
    const out = batchSlice(tensor(dx, x.shape), a, b).data;
    const g = api.batchNormBackwardElemt(batchSlice(dy, a, b), batchSlice(x, a, b), saved, sums, { weight, layout, out: { dx: out } });
    expect(g.dx.data).toBe(out);
    // the parameter gradients follow from the all-reduced sums: every shard returns the same
    if (dweight) expectBitwiseEqual(g.dweight!, dweight, 'dweight of every shard');
    dweight = g.dweight;
    dbias = g.dbias;
  }
  return { stats, y, dx, dweight: dweight!, dbias: dbias! };
}

describe('synchronized BatchNorm: merged shards equal the full batch', () => {
  const SPLITS: Array<[string, number[]]> = [['one shard', []], ['shards of 3, 1, 3', [3, 4]], ['7 shards of 1', [1, 2, 3, 4, 5, 6]],
    ['an empty shard first', [0]], ['an empty shard in the middle', [2, 2]]];
  const CASES = DTYPES.flatMap((d) => LAYOUTS.flatMap((l) => [[3, [5, 4]], [17, [6]], [64, []], [5, [8200]]]
    .map(([c, sp]) => [`${d} ${l} C=${c} spatial [${(sp as number[]).join(', ')}]`, d, l, c as number, sp as number[]] as const)));

  it.each(CASES)('%s: stats → gather → elemt = batchNorm training; reduce (summed) → backwardElemt = batchNormBackward', (_name, dtype, layout, c, spatial) => {
    const inp = bnInputs({ dtype, layout, n: 7, c, spatial, seed: 70 });
    const { x, dy, weight, bias } = inp;
    const momentum = 0.2;
    const eps = 1e-4;
    for (const [name, api] of BACKENDS) {
      // the full batch on the same backend
      const fullRun = { runningMean: inp.runningMean.slice(), runningVar: inp.runningVar.slice() };
      const full = api.batchNorm(x, { weight, bias, layout, eps, momentum, ...fullRun });
      const fullBwd = api.batchNormBackward(dy, x, full, { weight, layout });
      for (const [what, cuts] of SPLITS) {
        const at = `${name} ${what}`;
        const run = { runningMean: inp.runningMean.slice(), runningVar: inp.runningVar.slice() };
        const s = syncBatchNorm(api, x, dy, cuts, { layout, weight, bias, eps, momentum, ...run });
        fwdClose(dtype, s.stats.mean, full.mean, `${at}: mean`);
        fwdClose(dtype, s.stats.rstd, full.rstd, `${at}: rstd`);
        fwdClose(dtype, run.runningMean, fullRun.runningMean, `${at}: runningMean`);
        fwdClose(dtype, run.runningVar, fullRun.runningVar, `${at}: runningVar`);
        fwdClose(dtype, s.y, full.y.data, `${at}: y`);
        // the backward against batchNormBackward with the same (gathered) saved statistics
        const ref = api.batchNormBackward(dy, x, { mean: s.stats.mean, rstd: s.stats.rstd }, { weight, layout });
        expectBackwardClose(dtype, s.dx, ref.dx.data, `${at}: dx`, bnDxFloor(dy.data, s.stats.rstd, x.shape, layout, weight));
        const gf = gradFloors(dy.data, x.data, s.stats.mean, s.stats.rstd, x.shape, layout);
        expectBackwardClose(dtype, s.dweight, ref.dweight, `${at}: dweight`, gf.dweight);
        expectBackwardClose(dtype, s.dbias, ref.dbias, `${at}: dbias`, gf.dbias);
        // and against the full batch's own backward (its own saved statistics: close, not equal)
        expectBackwardClose(dtype, s.dx, fullBwd.dx.data, `${at}: dx vs full batch`, bnDxFloor(dy.data, full.rstd, x.shape, layout, weight));
        if (cuts.length === 0 && name === 'native') {
          // one shard: the same moments kernel and the same arithmetic as batchNorm → same bits
          expectBitwiseEqual(s.stats.mean, full.mean, `${at}: mean bitwise`);
          expectBitwiseEqual(s.stats.rstd, full.rstd, `${at}: rstd bitwise`);
          expectBitwiseEqual(run.runningMean, fullRun.runningMean, `${at}: runningMean bitwise`);
          expectBitwiseEqual(run.runningVar, fullRun.runningVar, `${at}: runningVar bitwise`);
          expectBitwiseEqual(s.dx, ref.dx.data, `${at}: dx bitwise`);
        }
      }
    }
  });

  it.each(DTYPES)('%s: gather is exact: merging in any order and the full-batch stats agree, counts add up', (dtype) => {
    const { x } = bnInputs({ dtype: 'float64', layout: 'NCHW', n: 9, c: 4, spatial: [11], seed: 71, offset: 100 });
    const whole = reference.batchNormStats(x);
    const parts = [[0, 2], [2, 3], [3, 9]].map(([a, b]) => native.batchNormStats(batchSlice(x, a, b)));
    const g1 = native.batchNormGatherStats(parts, { dtype: 'float64' });
    const g2 = native.batchNormGatherStats([parts[2], parts[0], { count: 0, mean: new Float64Array(4), m2: new Float64Array(4) }, parts[1]],
      { dtype: 'float64' });
    const gw = native.batchNormGatherStats([whole], { dtype: 'float64' });
    expect([g1.count, g2.count, gw.count]).toEqual([99, 99, 99]);
    expectClose(g1.mean, gw.mean, 1e-15, 'mean');
    expectClose(g2.mean, gw.mean, 1e-15, 'mean (other order, with an empty part)');
    expectClose(g1.rstd, gw.rstd, 1e-13, 'rstd');
    expectClose(g2.rstd, gw.rstd, 1e-13, 'rstd (other order)');
    // the returned dtype: float32 by default, float64 on request or with float64 running stats
    expect(native.batchNormGatherStats(parts).mean).toBeInstanceOf(Float32Array);
    const rm = new CTORS[dtype](4);
    const rv = new CTORS[dtype](4).fill(1);
    expect(native.batchNormGatherStats(parts, { runningMean: rm, runningVar: rv }).rstd).toBeInstanceOf(CTORS[dtype]);
    // the same result from every entry point (each merges on its own backend, exactly)
    expectBitwiseEqualDeep(fastnorm.promises.batchNormGatherStats(parts), native.batchNormGatherStats(parts), 'promises');
    expectBitwiseEqualDeep(reference.batchNormGatherStats(parts), native.batchNormGatherStats(parts), 'reference');
  });

  // float64 data: exact to rounding; float32 data: the native kernel forms x − μ in float32
  // lanes, so its double moments are float32-accurate (~1e-8), not double-accurate
  const STATS_CASES = BACKENDS.flatMap(([b, api]) => DTYPES.map((d) => [`${b} ${d}`, b, api, d] as const));
  it.each(STATS_CASES)('%s: batchNormStats gives count = N·S, the mean and M2 = Σ(x − mean)² per channel', (_n, name, api, dtype) => {
    const tol = dtype === 'float64' || name === 'reference' ? 1e-13 : 1e-7;
    for (const layout of LAYOUTS) {
      const { x } = bnInputs({ dtype, layout, n: 3, c: 5, spatial: [2, 7], seed: 72 });
      const st = api.batchNormStats(x, { layout });
      expect(st.count).toBe(42);
      expect(st.mean).toBeInstanceOf(Float64Array);
      expect(st.m2).toBeInstanceOf(Float64Array);
      const ch = channelIndexer(x.shape, layout);
      for (let c = 0; c < 5; c++) {
        const vals = Array.from(x.data).filter((_, i) => ch(i) === c);
        const mean = vals.reduce((a, v) => a + v, 0) / vals.length;
        const m2 = vals.reduce((a, v) => a + (v - mean) ** 2, 0);
        expectClose([st.mean[c]], [mean], tol, `${name} ${layout} mean[${c}]`);
        expectClose([st.m2[c]], [m2], tol, `${name} ${layout} m2[${c}]`);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------


// ---------------------------------------------------------------------------------------------

/**
 * float32 ill-conditioned data: y of both backends against the float64 reference on the same
 * (upcast) values — native within 1e-5, the reference within `refTol` (it normalizes with the
 * float32-rounded saved mean, as PyTorch's float32 kernel does, so an ulp of a large |μ|/σ
 * shows) — and the backward of both backends with the same saved statistics.
 */
function checkAgainstFloat64(spec: BnSpec, eps: number, refTol: number) {
  const { layout } = spec;
  const inp = bnInputs(spec);
  const up = (a: FloatArray) => Float64Array.from(a);
  const x64 = tensor(up(inp.x.data), inp.x.shape);
  const truth = reference.batchNorm(x64, { weight: up(inp.weight), bias: up(inp.bias), layout, eps });
  const n32 = native.batchNorm(inp.x, { weight: inp.weight, bias: inp.bias, layout, eps });
  const r32 = reference.batchNorm(inp.x, { weight: inp.weight, bias: inp.bias, layout, eps });
  expectClose(n32.y.data, truth.y.data, 1e-5, 'native y vs float64');
  expectClose(r32.y.data, truth.y.data, refTol, 'reference y vs float64');
  for (const [name, r] of [['native', n32], ['reference', r32]] as const) {
    expectClose(r.mean, truth.mean, 1e-5, `${name} mean vs float64`);
    expectClose(r.rstd, truth.rstd, 1e-5, `${name} rstd vs float64`);
  }
  const saved = { mean: r32.mean, rstd: r32.rstd };
  for (const training of [true, false]) {
    const nb = native.batchNormBackward(inp.dy, inp.x, saved, { weight: inp.weight, layout, training });
    const rb = reference.batchNormBackward(inp.dy, inp.x, saved, { weight: inp.weight, layout, training });
    expectBackwardClose('float32', nb.dx.data, rb.dx.data, `dx (training ${training})`, bnDxFloor(inp.dy.data, saved.rstd, inp.x.shape, layout, inp.weight));
    const gf = gradFloors(inp.dy.data, inp.x.data, saved.mean, saved.rstd, inp.x.shape, layout);
    expectBackwardClose('float32', nb.dweight, rb.dweight, `dweight (training ${training})`, gf.dweight);
    expectBackwardClose('float32', nb.dbias, rb.dbias, `dbias (training ${training})`, gf.dbias);
  }
  return n32;
}

describe('ill-conditioned data', () => {
  const CASES = DTYPES.flatMap((d) => LAYOUTS.flatMap((l) => [[4, 3, [30, 30]], [2, 17, [70, 70]], [3, 300, [15]]]
    .map(([n, c, sp]) => [`${d} ${l} N=${n} C=${c} spatial [${(sp as number[]).join(', ')}]`, d, l, n as number, c as number, sp as number[]] as const)));

  it.each(CASES)('%s: offset x = 1e4 + N(0, 1): native vs reference, and against the float64 result', (_n, dtype, layout, n, c, spatial) => {
    const spec = { dtype, layout, n, c, spatial, offset: 1e4, scale: 1, seed: 100 };
    if (dtype === 'float64') {
      checkBatchNorm({ ...spec, weight: true, bias: true, running: true, evalToo: true, f64Tol: F64_OFFSET_TOL });
      return;
    }
    // float32: native normalizes with the mean in double (hi + lo); the reference with the
    // float32-rounded mean, as PyTorch's float32 kernel does: half an ulp of 1e4 in float32 is
    // 4.9e-4, times rstd·|w| (PyTorch's own float32 error on the offset fixture: 8.9e-4)
    checkAgainstFloat64(spec, 1e-5, 3e-3);
  });

  it.each(CASES)('%s: tiny variance x = 1e-3 + 1e-6·N(0, 1), eps = 1e-5 and eps = 0', (_n, dtype, layout, n, c, spatial) => {
    const spec = { dtype, layout, n, c, spatial, offset: 1e-3, scale: 1e-6, seed: 101 };
    for (const eps of [1e-5, 0]) {
      if (dtype === 'float64' || eps !== 0) {
        const { n: f } = checkBatchNorm({ ...spec, weight: true, bias: true, eps, f64Tol: eps === 0 ? F64_OFFSET_TOL : F64_TOL });
        if (eps === 0) for (const r of f.rstd) expect(r / 1e6, 'rstd ≈ 1/σ = 1e6').toBeGreaterThan(0.5);
        continue;
      }
      // float32 with eps = 0: |μ|/σ = 1e3, an ulp of the float32 mean is 6e-5 of y
      const f = checkAgainstFloat64(spec, eps, 2e-4);
      for (const r of f.rstd) expect(r / 1e6, 'rstd ≈ 1/σ = 1e6').toBeGreaterThan(0.5);
    }
  });

  it.each(CASES)('%s: constant channels give y = bias exactly, mean = the constant, rstd = 1/sqrt(eps) (0 with eps = 0)', (_n, dtype, layout, n, c, spatial) => {
    const C = CTORS[dtype];
    const shape = bnShape(layout, n, c, spatial);
    const ch = channelIndexer(shape, layout);
    const value = (k: number) => new C([(k % 7) * 1.37 - 3.1 + (k % 2) * 1e4])[0];
    const x = tensor(new C(product(shape)).map((_, i) => value(ch(i))), shape);
    const inp = bnInputs({ dtype, layout, n, c, spatial, seed: 102 });
    const { weight, bias, dy } = inp;
    for (const [name, api] of BACKENDS) {
      for (const eps of [undefined, 1e-3, 0]) {
        const f = api.batchNorm(x, { weight, bias, eps, layout });
        const want = eps === 0 ? 0 : new C([1 / Math.sqrt(eps ?? 1e-5)])[0];
        for (let k = 0; k < c; k++) {
          expect(f.mean[k], `${name} mean[${k}]`).toBe(value(k));
          expect(f.rstd[k], `${name} rstd[${k}]`).toBe(want);
        }
        for (let i = 0; i < x.data.length; i++)
          if (f.y.data[i] !== bias[ch(i)]) expect.fail(`${name} eps=${eps}: y[${i}] = ${f.y.data[i]}, want bias ${bias[ch(i)]}`);
        const st = api.batchNormStats(x, { layout });
        expect(Array.from(st.m2), `${name} stats m2`).toEqual(new Array(c).fill(0));
      }
    }
    // the backward through zero-variance channels (x − μ = 0): dweight = 0, dx = w·rstd·(dy − mean(dy))
    const saved = reference.batchNorm(x, { layout });
    const nb = native.batchNormBackward(dy, x, saved, { weight, layout });
    const rb = reference.batchNormBackward(dy, x, saved, { weight, layout });
    expectBackwardClose(dtype, nb.dx.data, rb.dx.data, 'dx', bnDxFloor(dy.data, saved.rstd, shape, layout, weight));
    expectBackwardClose(dtype, nb.dbias, rb.dbias, 'dbias', gradFloors(dy.data, x.data, saved.mean, saved.rstd, shape, layout).dbias);
    expect(Array.from(nb.dweight!).every((v) => v === 0), 'dweight = Σ dy·x̂ = 0').toBe(true);
  });

  // Large channels: 2^20 values per channel, float32, against the float64 reference on the same
  // values (block moments merged in double keep the statistics exact to float32 rounding).
  it.each(LAYOUTS.flatMap((l) => [0.5, 1e4].map((offset) => [`float32 ${l} C=2, 2^20 values per channel, offset ${offset}`, l, offset] as const)))(
    '%s: y, mean, rstd within 1e-6 of the float64 result', (_n, layout, offset) => {
      const inp = bnInputs({ dtype: 'float32', layout, n: 4, c: 2, spatial: [1 << 18], offset, scale: 2, seed: 105 });
      const x64 = tensor(Float64Array.from(inp.x.data), inp.x.shape);
      const truth = reference.batchNorm(x64, { layout });
      const n = native.batchNorm(inp.x, { layout });
      expectClose(n.y.data, truth.y.data, 1e-6, 'y');
      expectClose(n.mean, truth.mean, 1e-6, 'mean');
      expectClose(n.rstd, truth.rstd, 1e-6, 'rstd');
    });

  const HUGE = LAYOUTS.flatMap((l) => [[4, 3, [70, 70]], [2, 17, [60, 70]], [2, 64, [20, 30]], [3, 300, [9]]]
    .map(([n, c, sp]) => [`float32 ${l} N=${n} C=${c} spatial [${(sp as number[]).join(', ')}]`, l, n as number, c as number, sp as number[]] as const));

  it.each(HUGE)('%s: |x| ~ 1e30 (x² overflows float32): statistics do not overflow, finite outputs', (_n, layout, n, c, spatial) => {
    const spec = { dtype: 'float32' as DType, layout, n, c, spatial, scale: 1e30, offset: 0, seed: 103 };
    const { n: f, nb } = checkBatchNorm({ ...spec, weight: true, bias: true, running: true, evalToo: false });
    for (const r of f.rstd) expect(r * 1e30, 'rstd ≈ 1/σ = 1e-30').toBeGreaterThan(0.5);
    for (const r of f.rstd) expect(r * 1e30, 'rstd ≈ 1/σ = 1e-30').toBeLessThan(2);
    for (const [k, a] of Object.entries({ y: f.y.data, mean: f.mean, dx: nb.dx.data, dweight: nb.dweight!, dbias: nb.dbias! }))
      expect(a.every(Number.isFinite), `${k} must be finite`).toBe(true);
    const { x } = bnInputs(spec);
    const st = native.batchNormStats(x, { layout });
    const want = reference.batchNormStats(x, { layout });
    expectClose(st.m2, want.m2, 1e-5, 'stats m2 (≈ N·S·1e60, as double)', Math.max(...want.m2));
    expect(st.m2.every(Number.isFinite)).toBe(true);
    // gather of the stats gives the same rstd
    fwdClose('float32', native.batchNormGatherStats([st]).rstd, f.rstd, 'gathered rstd');
  });

  // Float32 squares of |x| ~ 1e-30 (1e-60) are below float's range: the kernel must notice and
  // redo the statistics in double, or var = 0 and, with eps = 0, rstd = 0 and y = bias.
  it.each(HUGE)('%s: |x| ~ 1e-30 with eps = 0 (x² underflows float32): rstd ≈ 1e30, y ≈ the reference', (_n, layout, n, c, spatial) => {
    const spec = { dtype: 'float32' as DType, layout, n, c, spatial, scale: 1e-30, offset: 0, seed: 104 };
    checkBatchNorm({ ...spec, weight: true, bias: true, eps: 0 });
  });

  it.each(HUGE)('%s: |x| ~ 1e-30 with the default eps: native vs reference', (_n, layout, n, c, spatial) => {
    checkBatchNorm({ dtype: 'float32', layout, n, c, spatial, scale: 1e-30, offset: 0, seed: 104, weight: true, bias: true, running: true, evalToo: true });
  });
});

describe('non-finite data propagates (NaN/±Inf are not errors)', () => {
  const CASES = DTYPES.flatMap((d) => LAYOUTS.flatMap((l) => [[3, [20]], [17, [30, 30]], [64, [4]]]
    .map(([c, sp]) => [`${d} ${l} C=${c}`, d, l, c as number, sp as number[]] as const)));

  it.each(CASES)('%s: channels with NaN, +Inf, −Inf are non-finite on both backends alike; clean channels unaffected', (_n, dtype, layout, c, spatial) => {
    const inp = bnInputs({ dtype, layout, n: 2, c, spatial, seed: 110 });
    const { x, dy, weight, bias } = inp;
    const shape = x.shape;
    const ch = channelIndexer(shape, layout);
    const at = (k: number, which: number) => { // the which-th flat index of channel k
      let seen = 0;
      for (let i = 0; i < x.data.length; i++) if (ch(i) === k && seen++ === which) return i;
      return -1;
    };
    x.data[at(0, 3)] = NaN;
    x.data[at(1, 0)] = Infinity;
    x.data[at(2, 5)] = -Infinity;
    const bad = new Set([0, 1, 2]);
    const n = native.batchNorm(x, { weight, bias, layout });
    const r = reference.batchNorm(x, { weight, bias, layout });
    for (let k = 0; k < c; k++) {
      expect(Number.isFinite(n.rstd[k]) && Number.isFinite(n.mean[k]), `mean/rstd[${k}] finite`).toBe(!bad.has(k));
      expect(Object.is(n.mean[k], r.mean[k]) || Math.abs(n.mean[k] - r.mean[k]) <= 1e-5 * (1 + Math.abs(r.mean[k])), `mean[${k}]: ${n.mean[k]} vs ${r.mean[k]}`).toBe(true);
    }
    for (let i = 0; i < x.data.length; i++) {
      const finite = Number.isFinite(n.y.data[i]);
      if (finite === bad.has(ch(i))) expect.fail(`y[${i}] (channel ${ch(i)}) = ${n.y.data[i]}`);
    }
    fwdClose(dtype, n.y.data, r.y.data, 'y (NaN at the same positions)');
    const g = native.batchNormBackward(dy, x, r, { weight, layout });
    for (let i = 0; i < x.data.length; i++) if (Number.isFinite(g.dx.data[i]) === bad.has(ch(i))) expect.fail(`dx[${i}] (channel ${ch(i)}) = ${g.dx.data[i]}`);
    for (let k = 0; k < c; k++) expect(Number.isFinite(g.dweight![k]), `dweight[${k}]`).toBe(!bad.has(k));
  });
});

describe('zero-size tensors', () => {
  const CASES = BACKENDS.flatMap(([b, api]) => DTYPES.flatMap((d) => LAYOUTS.map((l) => [`${b} ${d} ${l}`, api, d, l] as const)));

  it.each(CASES)('%s: N = 0 or a spatial dim 0: eval gives empty y with the running stats, stats/sums of nothing are 0', (_n, api, dtype, layout) => {
    const C = CTORS[dtype];
    for (const [n, spatial] of [[0, [5]], [2, [0]], [0, []], [3, [4, 0]]] as Array<[number, number[]]>) {
      const shape = bnShape(layout, n, 3, spatial);
      const x = tensor(new C(0), shape);
      const runningMean = new C([1, 2, 3]);
      const runningVar = new C([4, 5, 6]);
      const e = api.batchNorm(x, { runningMean, runningVar, training: false, layout });
      expect(e.y.shape).toEqual(shape);
      expect(e.y.data.length).toBe(0);
      expectBitwiseEqual(e.mean, runningMean, 'eval mean');
      const weight = new C(3).fill(2);
      const out = { dx: new C(0), dweight: new C(3).fill(7), dbias: new C(3).fill(NaN) };
      const g = api.batchNormBackward(x, x, e, { weight, training: false, layout, out });
      expect(Array.from(g.dweight!)).toEqual([0, 0, 0]);
      expect(Array.from(g.dbias!)).toEqual([0, 0, 0]);
      const st = api.batchNormStats(x, { layout });
      expect([st.count, ...st.mean, ...st.m2]).toEqual([0, 0, 0, 0, 0, 0, 0]);
      const sums = api.batchNormBackwardReduce(x, x, e, { layout });
      expect([...sums.sumDy, ...sums.sumDyXmu]).toEqual([0, 0, 0, 0, 0, 0]);
      expect(api.batchNormElemt(x, e, { layout }).y.data.length).toBe(0);
      // training on no values is an error (N × spatial < 2)
      expect(() => api.batchNorm(x, { layout })).toThrow(RangeError);
    }
  });

  /** Every function on x with C = 0 and N·S = 20; returns the lengths/counts of the results. */
  function zeroChannels(api: Api, dtype: DType, layout: Layout) {
    const C = CTORS[dtype];
    const x = tensor(new C(0), bnShape(layout, 4, 0, [5]));
    const saved = { mean: new C(0), rstd: new C(0) };
    const f = api.batchNorm(x, { layout, runningMean: new C(0), runningVar: new C(0) });
    const st = api.batchNormStats(x, { layout });
    return [
      f.y.data.length, f.mean.length, f.rstd.length,
      api.batchNorm(x, { layout, runningMean: new C(0), runningVar: new C(0), training: false }).y.data.length,
      st.count, st.mean.length, st.m2.length,
      api.batchNormBackward(x, x, saved, { layout, weight: new C(0) }).dweight!.length,
      api.batchNormBackward(x, x, saved, { layout, training: false }).dx.data.length,
      api.batchNormBackwardReduce(x, x, saved, { layout }).sumDy.length,
      api.batchNormElemt(x, saved, { layout }).y.data.length,
      api.batchNormBackwardElemt(x, x, saved, { sumDy: new Float64Array(0), sumDyXmu: new Float64Array(0), count: 20 }, { layout }).dx.data.length,
    ];
  }
  const EMPTY = [0, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0];

  it.each(CASES.filter(([name]) => !name.startsWith('native') || name.endsWith('NCHW')))(
    '%s: C = 0 (N·S ≥ 2): every function gives empty results', (_n, api, dtype, layout) => {
      expect(zeroChannels(api, dtype, layout)).toEqual(EMPTY);
    });

  // NHWC with C = 0 once divided by zero (lane → channel mapping); a child process keeps a crash
  // from taking the test runner down. Expected: empty results, as on NCHW.
  it.each(DTYPES)('native %s NHWC: C = 0 (N·S ≥ 2): every function gives empty results, no crash (child process)', (dtype) => {
    const r = runNode(`
      const f = require('fastnorm');
      const C = ${dtype === 'float32' ? 'Float32Array' : 'Float64Array'};
      const x = { data: new C(0), shape: [4, 5, 0] };
      const L = { layout: 'NHWC' };
      const y = f.batchNorm(x, L);
      const st = f.batchNormStats(x, L);
      console.log(JSON.stringify([y.y.data.length, y.mean.length, st.count, st.mean.length]));`);
    expectChildOk(r);
    expect(r.json).toEqual([0, 0, 20, 0]);
  });
});

// ---------------------------------------------------------------------------------------------
// The reference backward (the oracle of the tests above) against finite differences of its
// forward. Training mode differentiates through the batch statistics; eval mode through fixed
// running statistics (dx = dy·w·rstd_running); the synchronized path (stats → gather → elemt,
// reduce → backwardElemt) the same way.


interface GradientCase {
  name: string;
  layout: Layout;
  n: number;
  c: number;
  spatial: number[];
  weight: boolean;
  bias: boolean;
  eps?: number;
  grads?: GradsOption;
  /** expectClose floor for dx: 1 where dx cancels to ~eps-sized values (errors then count against the O(1) terms) */
  dxFloor?: number;
}

const GRADIENT_CASES: GradientCase[] = [
  { name: 'NCHW [3, 4] (no spatial dims), weight and bias', layout: 'NCHW', n: 3, c: 4, spatial: [], weight: true, bias: true },
  { name: 'NCHW [2, 3, 4] (BatchNorm1d), weight only', layout: 'NCHW', n: 2, c: 3, spatial: [4], weight: true, bias: false },
  { name: 'NCHW [2, 2, 2, 3] (BatchNorm2d), no weight or bias, grads of both', layout: 'NCHW', n: 2, c: 2, spatial: [2, 3], weight: false, bias: false,
    grads: { weight: true, bias: true } },
  { name: 'NCHW [2, 2, 1, 2, 2] (BatchNorm3d), weight and bias', layout: 'NCHW', n: 2, c: 2, spatial: [1, 2, 2], weight: true, bias: true },
  { name: 'NHWC [2, 3, 5], weight and bias', layout: 'NHWC', n: 2, c: 5, spatial: [3], weight: true, bias: true },
  { name: 'NHWC [2, 2, 2, 3], bias only, grads.bias', layout: 'NHWC', n: 2, c: 3, spatial: [2, 2], weight: false, bias: true, grads: { bias: true } },
  { name: 'NCHW [2, 3] with 2 values per channel (the minimum: dx ≈ 0)', layout: 'NCHW', n: 2, c: 3, spatial: [], weight: true, bias: true, dxFloor: 1 },
  { name: 'NHWC [3, 2, 4] with a large eps = 0.5', layout: 'NHWC', n: 3, c: 4, spatial: [2], weight: true, bias: true, eps: 0.5 },
];

function gradientSetup(c: GradientCase, seed: number) {
  const rng = makeRng(seed);
  const shape = bnShape(c.layout, c.n, c.c, c.spatial);
  const x = randn(rng, 'float64', product(shape), 1.5, 0.3) as Float64Array;
  const g = randn(rng, 'float64', x.length) as Float64Array;
  const w = randn(rng, 'float64', c.c, 0.5, 1) as Float64Array;
  const b = randn(rng, 'float64', c.c) as Float64Array;
  const runningMean = randn(rng, 'float64', c.c, 0.5) as Float64Array;
  const runningVar = Float64Array.from(randn(rng, 'float64', c.c), (v) => 0.5 + Math.abs(v));
  const xt: Tensor<Float64Array> = { data: x, shape };
  const dy: Tensor<Float64Array> = { data: g, shape };
  return { shape, x, g, w, b, runningMean, runningVar, xt, dy };
}

describe.each([true, false])('batchNormBackward (reference, float64, training %s) vs central finite differences', (training) => {
  it.each(GRADIENT_CASES.map((c, i) => [c.name, c, i] as const))('%s: dx, dweight, dbias', (_name, c, i) => {
    const { x, g, w, b, runningMean, runningVar, xt, dy } = gradientSetup(c, 3000 + i);
    // a parameter that is absent is 1 (weight) / 0 (bias); its gradient is still defined. The
    // running statistics are read in eval mode; in training mode they are not passed (so the
    // perturbed forwards do not update them).
    const run = training ? {} : { runningMean, runningVar };
    const forward = (weight: Float64Array | undefined, bias: Float64Array | undefined) =>
      reference.batchNorm(xt, { weight, bias, eps: c.eps, layout: c.layout, training, ...run });
    const loss = () => dot(forward(c.weight ? w : undefined, c.bias ? b : undefined).y.data, g);
    const fwd = forward(c.weight ? w : undefined, c.bias ? b : undefined);
    const grads = c.grads ?? (c.weight ? undefined : { weight: true, bias: true });
    const bwd = reference.batchNormBackward(dy, xt, { mean: fwd.mean, rstd: fwd.rstd },
      { weight: c.weight ? w : undefined, grads, layout: c.layout, training });

    expectClose(bwd.dx.data, numericGradient(loss, x), FD_TOL, 'dx', c.dxFloor);
    const wantWeight = grads?.weight ?? c.weight;
    const wantBias = grads?.bias ?? c.weight;
    expect(bwd.dweight !== undefined).toBe(wantWeight);
    expect(bwd.dbias !== undefined).toBe(wantBias);
    const lossW = () => dot(forward(w, c.bias ? b : undefined).y.data, g);
    const lossB = () => dot(forward(c.weight ? w : undefined, b).y.data, g);
    if (wantWeight) expectClose(bwd.dweight!, numericGradient(lossW, w), FD_TOL, 'dweight');
    if (wantBias) expectClose(bwd.dbias!, numericGradient(lossB, b), FD_TOL, 'dbias');
  });
});

describe('the finite-difference check itself detects wrong gradients', () => {
  it('the eval-mode dx is not the training-mode dx (and vice versa)', () => {
    const c = GRADIENT_CASES[0];
    const { x, g, w, b, runningMean, runningVar, xt, dy } = gradientSetup(c, 3100);
    const lossTrain = () => dot(reference.batchNorm(xt, { weight: w, bias: b }).y.data, g);
    const fwd = reference.batchNorm(xt, { weight: w, bias: b });
    const wrong = reference.batchNormBackward(dy, xt, fwd, { weight: w, training: false });
    expect(() => expectClose(wrong.dx.data, numericGradient(lossTrain, x), FD_TOL, 'dx')).toThrow(/scaled error/);
    const lossEval = () => dot(reference.batchNorm(xt, { weight: w, bias: b, runningMean, runningVar, training: false }).y.data, g);
    const efwd = reference.batchNorm(xt, { weight: w, bias: b, runningMean, runningVar, training: false });
    const wrong2 = reference.batchNormBackward(dy, xt, efwd, { weight: w, training: true });
    expect(() => expectClose(wrong2.dx.data, numericGradient(lossEval, x), FD_TOL, 'dx')).toThrow(/scaled error/);
  });
});

describe('synchronized BatchNorm (reference, float64) vs central finite differences', () => {
  it.each([['NCHW', [2, 3]], ['NHWC', [1, 2, 2]]] as const)('%s, shards of 1 and 2 samples: dx, dweight, dbias', (layout, cuts) => {
    const c: GradientCase = { name: '', layout, n: 3, c: 3, spatial: [2, 2], weight: true, bias: true };
    const { x, g, w, b, xt, dy } = gradientSetup(c, 3200);
    const bounds = [0, ...cuts.filter((k) => k < 3), 3];
    const shards = bounds.slice(1).map((end, k) => [bounds[k], end] as const).filter(([a, e]) => e > a);
    // the forward of the whole pipeline: stats per shard → gather → elemt per shard
    const pipeline = (weight: Float64Array, bias: Float64Array) => {
      const stats = reference.batchNormGatherStats(shards.map(([a, e]) => reference.batchNormStats(batchSlice(xt, a, e), { layout })), { dtype: 'float64' });
      const ys = shards.map(([a, e]) => reference.batchNormElemt(batchSlice(xt, a, e), stats, { weight, bias, layout }).y.data);
      return { stats, y: Float64Array.from(ys.flatMap((v) => Array.from(v))) };
    };
    const loss = () => dot(pipeline(w, b).y, g);
    const { stats } = pipeline(w, b);
    const saved = { mean: stats.mean as Float64Array, rstd: stats.rstd as Float64Array };
    const sums = { sumDy: new Float64Array(3), sumDyXmu: new Float64Array(3), count: stats.count };
    for (const [a, e] of shards) {
      const p = reference.batchNormBackwardReduce(batchSlice(dy, a, e), batchSlice(xt, a, e), saved, { layout });
      for (let k = 0; k < 3; k++) {
        sums.sumDy[k] += p.sumDy[k];
        sums.sumDyXmu[k] += p.sumDyXmu[k];
      }
    }
    const parts = shards.map(([a, e]) => reference.batchNormBackwardElemt(batchSlice(dy, a, e), batchSlice(xt, a, e), saved, sums, { weight: w, layout }));
    const dx = Float64Array.from(parts.flatMap((p) => Array.from(p.dx.data)));
    expectClose(dx, numericGradient(loss, x), FD_TOL, 'dx');
    expectClose(parts[0].dweight!, numericGradient(loss, w), FD_TOL, 'dweight');
    expectClose(parts[0].dbias!, numericGradient(loss, b), FD_TOL, 'dbias');
  });
});
