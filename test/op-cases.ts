// Valid arguments for every op of the public API, built from a few numbers, so that the tests
// about the calling machinery (promises, concurrency, fuzzing, soak) cover every op without
// op-specific code of their own. A new op adds one entry to OP_CASES; `uncoveredOps` lists the
// exported ops that have none, and those tests report them as todo.
//
// Each case reads the same `OpInput`: three sizes `dims` = [a, b, c] (each op makes its shape
// from them, e.g. LayerNorm x = [a, b, c] over the last dim, channel ops x = (N, C, S) = (a, b, c))
// and `flags` it uses as it can. Saved statistics of a backward op come from the reference
// forward of the same data, so every case is valid whenever its shape is.
import * as reference from '../src/reference';
import type { FloatArray, Tensor } from '../src/api/types';
import { CTORS, makeRng, randn, type DType, type Rng } from './helpers';

export interface OpFlags {
  weight: boolean;
  bias: boolean;
  /** running statistics (BatchNorm, InstanceNorm) */
  running: boolean;
  /** the op's alternative form: two normalized dims (LayerNorm/RMSNorm), 'NHWC' (channel ops) */
  alt: boolean;
  /** eval mode: BatchNorm training: false, InstanceNorm useInputStats: false (uses running stats) */
  eval: boolean;
}

export interface OpInput {
  seed: number;
  dtype: DType;
  dims: readonly [number, number, number];
  flags: OpFlags;
}

export interface OpCase {
  /** Where the options object is in the argument list. */
  optsIndex: number;
  /** The keys `opts.out` accepts ([] when the op takes no `out`). */
  outKeys: readonly string[];
  /** Valid arguments for this input (fresh arrays on every call, the same values for the same input). */
  args(input: OpInput): unknown[];
}

export const ALL_FLAGS: OpFlags = { weight: true, bias: true, running: true, alt: false, eval: false };

type Api = typeof reference;

function data(rng: Rng, dtype: DType, n: number, scale = 1, offset = 0): FloatArray {
  return randn(rng, dtype, n, scale, offset);
}

function positive(rng: Rng, dtype: DType, n: number): FloatArray {
  const a = new CTORS[dtype](n);
  for (let i = 0; i < n; i++) a[i] = 0.5 + rng.uniform();
  return a;
}

/** x (and dy) of a row op: [a, b, c] normalized over [c] or, with flags.alt, [b, c]. */
function rowInputs(i: OpInput) {
  const rng = makeRng(i.seed);
  const [a, b, c] = i.dims;
  const shape = [a, b, c];
  const normalizedShape = i.flags.alt ? [b, c] : c;
  const cols = i.flags.alt ? b * c : c;
  const x: Tensor = { data: data(rng, i.dtype, a * b * c, 2, 0.5), shape };
  const dy: Tensor = { data: data(rng, i.dtype, a * b * c), shape: shape.slice() };
  const weight = i.flags.weight ? data(rng, i.dtype, cols, 0.5, 1) : undefined;
  const bias = i.flags.bias ? data(rng, i.dtype, cols) : undefined;
  return { x, dy, weight, bias, normalizedShape };
}

/** x (and dy) of a channel op: (N, C, S) = (a, b, c), 'NCHW' = [a, b, c] or 'NHWC' = [a, c, b]. */
function channelInputs(i: OpInput) {
  const rng = makeRng(i.seed);
  const [n, ch, s] = i.dims;
  const layout = i.flags.alt ? 'NHWC' as const : 'NCHW' as const;
  const shape = i.flags.alt ? [n, s, ch] : [n, ch, s];
  const x: Tensor = { data: data(rng, i.dtype, n * ch * s, 2, 0.5), shape };
  const dy: Tensor = { data: data(rng, i.dtype, n * ch * s), shape: shape.slice() };
  const weight = i.flags.weight ? data(rng, i.dtype, ch, 0.5, 1) : undefined;
  const bias = i.flags.bias ? data(rng, i.dtype, ch) : undefined;
  const running = i.flags.running || i.flags.eval;
  const runningMean = running ? data(rng, i.dtype, ch, 0.1) : undefined;
  const runningVar = running ? positive(rng, i.dtype, ch) : undefined;
  return { x, dy, weight, bias, runningMean, runningVar, layout, channels: ch, rng };
}

/** A divisor of c chosen by the seed (1 when c is 0). */
function groupsOf(c: number, rng: Rng): number {
  const divisors = [];
  for (let g = 1; g <= c; g++) if (c % g === 0) divisors.push(g);
  return divisors.length === 0 ? 1 : divisors[Math.floor(rng.uniform() * divisors.length)];
}

/**
 * The saved statistics of a backward op: its reference forward (on its own copy of the inputs).
 * Where that forward is invalid (e.g. training with one value per channel) the backward still
 * gets statistics of the right length, so that it is its own validation that answers.
 */
function savedStats(dtype: DType, length: number, forward: () => { mean?: FloatArray; rstd: FloatArray }): { mean: FloatArray; rstd: FloatArray } {
  try {
    const { mean, rstd } = forward();
    return { mean: mean ?? new CTORS[dtype](length), rstd };
  } catch {
    return { mean: new CTORS[dtype](length), rstd: new CTORS[dtype](length).fill(1) };
  }
}

function batchNormSaved(i: OpInput): { mean: FloatArray; rstd: FloatArray } {
  const c = channelInputs(i);
  return savedStats(i.dtype, c.channels, () => reference.batchNorm(c.x, { weight: c.weight, bias: c.bias,
    runningMean: c.runningMean, runningVar: c.runningVar, training: !i.flags.eval, layout: c.layout }));
}

export const OP_CASES: Partial<Record<keyof Api, OpCase>> = {
  layerNorm: {
    optsIndex: 2,
    outKeys: ['y', 'mean', 'rstd'],
    args: (i) => {
      const r = rowInputs(i);
      return [r.x, r.normalizedShape, { weight: r.weight, bias: r.bias, eps: 1e-5 }];
    },
  },
  layerNormBackward: {
    optsIndex: 4,
    outKeys: ['dx', 'dweight', 'dbias'],
    args: (i) => {
      const r = rowInputs(i);
      const { mean, rstd } = savedStats(i.dtype, i.dims[0] * (i.flags.alt ? 1 : i.dims[1]), () => reference.layerNorm(r.x, r.normalizedShape));
      return [r.dy, r.x, { mean, rstd }, r.normalizedShape, { weight: r.weight, grads: r.bias ? { bias: true } : undefined }];
    },
  },
  rmsNorm: {
    optsIndex: 2,
    outKeys: ['y', 'rstd'],
    args: (i) => {
      const r = rowInputs(i);
      return [r.x, r.normalizedShape, { weight: r.weight, eps: 1e-6 }];
    },
  },
  rmsNormBackward: {
    optsIndex: 4,
    outKeys: ['dx', 'dweight'],
    args: (i) => {
      const r = rowInputs(i);
      const { rstd } = savedStats(i.dtype, i.dims[0] * (i.flags.alt ? 1 : i.dims[1]), () => reference.rmsNorm(r.x, r.normalizedShape));
      return [r.dy, r.x, { rstd }, r.normalizedShape, { weight: r.weight }];
    },
  },
  batchNorm: {
    optsIndex: 1,
    outKeys: ['y', 'mean', 'rstd'],
    args: (i) => {
      const c = channelInputs(i);
      return [c.x, { weight: c.weight, bias: c.bias, runningMean: c.runningMean, runningVar: c.runningVar, training: !i.flags.eval,
        momentum: 0.1, eps: 1e-5, layout: c.layout }];
    },
  },
  batchNormBackward: {
    optsIndex: 3,
    outKeys: ['dx', 'dweight', 'dbias'],
    args: (i) => {
      const c = channelInputs(i);
      const { mean, rstd } = batchNormSaved(i);
      return [c.dy, c.x, { mean, rstd }, { weight: c.weight, training: !i.flags.eval, layout: c.layout }];
    },
  },
  batchNormStats: {
    optsIndex: 1,
    outKeys: [],
    args: (i) => {
      const c = channelInputs(i);
      return [c.x, { layout: c.layout }];
    },
  },
  batchNormElemt: {
    optsIndex: 2,
    outKeys: ['y'],
    args: (i) => {
      const c = channelInputs(i);
      const { mean, rstd } = batchNormSaved(i);
      return [c.x, { mean, rstd }, { weight: c.weight, bias: c.bias, layout: c.layout }];
    },
  },
  batchNormBackwardReduce: {
    optsIndex: 3,
    outKeys: [],
    args: (i) => {
      const c = channelInputs(i);
      const { mean } = batchNormSaved(i);
      return [c.dy, c.x, { mean }, { layout: c.layout }];
    },
  },
  batchNormBackwardElemt: {
    optsIndex: 4,
    outKeys: ['dx', 'dweight', 'dbias'],
    args: (i) => {
      const c = channelInputs(i);
      const { mean, rstd } = batchNormSaved(i);
      const sums = reference.batchNormBackwardReduce(c.dy, c.x, { mean }, { layout: c.layout });
      return [c.dy, c.x, { mean, rstd }, { ...sums, count: Math.max(1, i.dims[0] * i.dims[2]) }, { weight: c.weight, layout: c.layout }];
    },
  },
  groupNorm: {
    optsIndex: 2,
    outKeys: ['y', 'mean', 'rstd'],
    args: (i) => {
      const c = channelInputs(i);
      return [c.x, groupsOf(c.channels, c.rng), { weight: c.weight, bias: c.bias, eps: 1e-5, layout: c.layout }];
    },
  },
  groupNormBackward: {
    optsIndex: 4,
    outKeys: ['dx', 'dweight', 'dbias'],
    args: (i) => {
      const c = channelInputs(i);
      const groups = groupsOf(c.channels, c.rng);
      const { mean, rstd } = savedStats(i.dtype, i.dims[0] * groups, () => reference.groupNorm(c.x, groups, { layout: c.layout }));
      return [c.dy, c.x, { mean, rstd }, groups, { weight: c.weight, layout: c.layout }];
    },
  },
  instanceNorm: {
    optsIndex: 1,
    outKeys: ['y', 'mean', 'rstd'],
    args: (i) => {
      const c = channelInputs(i);
      return [c.x, { weight: c.weight, bias: c.bias, runningMean: c.runningMean, runningVar: c.runningVar,
        useInputStats: !i.flags.eval, momentum: 0.1, eps: 1e-5, layout: c.layout }];
    },
  },
  instanceNormBackward: {
    optsIndex: 3,
    outKeys: ['dx', 'dweight', 'dbias'],
    args: (i) => {
      const c = channelInputs(i);
      const { mean, rstd } = savedStats(i.dtype, i.dims[0] * c.channels, () => reference.instanceNorm(c.x, {
        runningMean: c.runningMean, runningVar: c.runningVar, useInputStats: !i.flags.eval, layout: c.layout }));
      return [c.dy, c.x, { mean, rstd }, { weight: c.weight, useInputStats: !i.flags.eval, layout: c.layout }];
    },
  },
};

/** The cases of ops that the API object exports (an op still being written may not be there yet). */
export function opCasesOf(api: object): Array<[string, OpCase]> {
  return Object.entries(OP_CASES).filter(([name]) => typeof (api as Record<string, unknown>)[name] === 'function') as Array<[string, OpCase]>;
}

/**
 * The ops of the API: the functions `fastnorm/promises` has its own Promise form of. The runtime
 * functions (setNumThreads, getNumThreads, info) and plain-JavaScript helpers (batchNormGatherStats)
 * it re-exports unchanged.
 */
export function opNames(syncApi: object, promisesApi: object): string[] {
  const s = syncApi as Record<string, unknown>;
  const p = promisesApi as Record<string, unknown>;
  return Object.keys(s).filter((name) => typeof s[name] === 'function' && typeof p[name] === 'function' && p[name] !== s[name]).sort();
}

/** Ops without an entry in OP_CASES (tests list them as todo). */
export function uncoveredOps(names: readonly string[]): string[] {
  return names.filter((name) => !(name in OP_CASES));
}

/** Every typed array reachable from a value (arguments or a result), with its path ("2.weight", "y.data"). */
export function typedArraysIn(value: unknown, path = ''): Array<[string, FloatArray]> {
  if (value instanceof Float32Array || value instanceof Float64Array) return [[path, value]];
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return [];
  return Object.entries(value).flatMap(([key, v]) => typedArraysIn(v, path === '' ? key : `${path}.${key}`));
}
