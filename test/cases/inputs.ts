// The inputs every op's arguments are built from (op-cases.ts): three sizes, flags and a data
// kind, made into seeded tensors in the shape each op family reads them.
import * as reference from '../../src/reference';
import type { Activation, FloatArray, Tensor } from '../../src/api/types';
import { channelsShape, CTORS, makeRng, randn, type DType, type Rng } from '../helpers';

export interface OpFlags {
  weight: boolean;
  bias: boolean;
  /** running statistics (BatchNorm, InstanceNorm) */
  running: boolean;
  /** the op's alternative form: two normalized dims (LayerNorm/RMSNorm), 'NHWC' (channel ops) */
  alt: boolean;
  /** eval mode: BatchNorm training: false, InstanceNorm useInputStats: false (uses running stats) */
  eval: boolean;
  /** the activation a forward fuses (batchNorm, groupNorm, instanceNorm, layerNorm); undefined: none */
  activation?: Activation;
}

/** What x holds: N(0.5, 2), offset by 1e4 (cancellation), or its first 64 values of each sample far off (a bad shift). */
export type DataKind = 'normal' | 'offset' | 'farStart';

export interface OpInput {
  seed: number;
  dtype: DType;
  /** [a, b, c]: a row op's x is [a, b, c] over the last dim (flags.alt: the last two); a channel op's (N, C, S) */
  dims: readonly [number, number, number];
  flags: OpFlags;
  data?: DataKind;
}

export const ALL_FLAGS: OpFlags = { weight: true, bias: true, running: true, alt: false, eval: false };

export function data(rng: Rng, dtype: DType, n: number, scale = 1, offset = 0): FloatArray {
  return randn(rng, dtype, n, scale, offset);
}

function xData(i: OpInput, rng: Rng, n: number, samples: number): FloatArray {
  if (i.data === 'offset') return data(rng, i.dtype, n, 1, 1e4);
  const a = data(rng, i.dtype, n, 2, 0.5);
  if (i.data === 'farStart' && samples > 0) {
    const per = n / samples;
    for (let s = 0; s < samples; s++) for (let k = 0; k < Math.min(64, per); k++) a[s * per + k] = 50 + k;
  }
  return a;
}

function positive(rng: Rng, dtype: DType, n: number): FloatArray {
  const a = new CTORS[dtype](n);
  for (let i = 0; i < n; i++) a[i] = 0.5 + rng.uniform();
  return a;
}

/** x (and dy) of a row op: [a, b, c] normalized over [c] or, with flags.alt, [b, c]. */
export function rowInputs(i: OpInput) {
  const rng = makeRng(i.seed);
  const [a, b, c] = i.dims;
  const shape = [a, b, c];
  const normalizedShape = i.flags.alt ? [b, c] : c;
  const cols = i.flags.alt ? b * c : c;
  const x: Tensor = { data: xData(i, rng, a * b * c, a), shape };
  const dy: Tensor = { data: data(rng, i.dtype, a * b * c), shape: shape.slice() };
  const weight = i.flags.weight ? data(rng, i.dtype, cols, 0.5, 1) : undefined;
  const bias = i.flags.bias ? data(rng, i.dtype, cols) : undefined;
  // eval (unused by the row ops otherwise): Gemma's zero-centered weight, scaled by 1 + weight
  const weightOffset = i.flags.eval && weight ? 1 : undefined;
  return { x, dy, weight, bias, weightOffset, normalizedShape, rows: (a * b * c) / Math.max(cols, 1) };
}

/** An add-norm's inputs: rowInputs, a residual like x, residualBias (flags.running) and dSum like dy. */
export function addNormInputs(i: OpInput) {
  const r = rowInputs(i);
  const rng = makeRng(i.seed + 1);
  const n = r.x.data.length;
  const cols = i.flags.alt ? i.dims[1] * i.dims[2] : i.dims[2];
  const residual: Tensor = { data: i.data === 'offset' ? data(rng, i.dtype, n, 1, -1e4 + 3) : data(rng, i.dtype, n, 1.5, -0.5),
    shape: r.x.shape.slice() };
  const residualBias = i.flags.running ? data(rng, i.dtype, cols, 0.3) : undefined;
  const dSum: Tensor = { data: data(rng, i.dtype, n), shape: r.x.shape.slice() };
  return { ...r, residual, residualBias, dSum };
}

/** x (and dy) of a channel op: (N, C, S) = (a, b, c), 'NCHW' = [a, b, c] or 'NHWC' = [a, c, b]. */
export function channelInputs(i: OpInput) {
  const rng = makeRng(i.seed);
  const [n, ch, s] = i.dims;
  const layout = i.flags.alt ? 'NHWC' as const : 'NCHW' as const;
  const shape = channelsShape(layout, n, ch, [s]);
  const x: Tensor = { data: xData(i, rng, n * ch * s, n), shape };
  const dy: Tensor = { data: data(rng, i.dtype, n * ch * s), shape: shape.slice() };
  const weight = i.flags.weight ? data(rng, i.dtype, ch, 0.5, 1) : undefined;
  const bias = i.flags.bias ? data(rng, i.dtype, ch) : undefined;
  const running = i.flags.running || i.flags.eval;
  const runningMean = running ? data(rng, i.dtype, ch, 0.1) : undefined;
  const runningVar = running ? positive(rng, i.dtype, ch) : undefined;
  return { x, dy, weight, bias, runningMean, runningVar, layout, channels: ch, rng };
}

/** A divisor of c chosen by the seed (1 when c is 0). */
export function groupsOf(c: number, rng: Rng): number {
  const divisors = [];
  for (let g = 1; g <= c; g++) if (c % g === 0) divisors.push(g);
  return divisors.length === 0 ? 1 : divisors[Math.floor(rng.uniform() * divisors.length)];
}

/**
 * The saved statistics of a backward op: its reference forward (on its own copy of the inputs).
 * Where that forward is invalid (e.g. training with one value per channel) the backward still
 * gets statistics of the right length, so that it is its own validation that answers.
 */
export function savedStats(dtype: DType, length: number, forward: () => { mean?: FloatArray; rstd: FloatArray }): { mean: FloatArray; rstd: FloatArray } {
  try {
    const { mean, rstd } = forward();
    return { mean: mean ?? new CTORS[dtype](length), rstd };
  } catch {
    return { mean: new CTORS[dtype](length), rstd: new CTORS[dtype](length).fill(1) };
  }
}

/** The saved statistics of a batchNorm backward: its reference forward (training or eval as the flags say). */
export function batchNormSaved(i: OpInput): { mean: FloatArray; rstd: FloatArray } {
  const c = channelInputs(i);
  return savedStats(i.dtype, c.channels, () => reference.batchNorm(c.x, { weight: c.weight, bias: c.bias,
    runningMean: c.runningMean, runningVar: c.runningVar, training: !i.flags.eval, layout: c.layout }));
}

/** Deliberately ill-typed arguments of the bad-input cases. */
export const any = (v: unknown) => v as any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** `n` float32 values v, v + 1, ... (the bad-input cases' small arrays). */
export const f32 = (n: number, v = 0.5) => new Float32Array(n).map((_, i) => v + i);

/**
 * The valid float32 arguments the bad-input cases spoil one at a time (fresh arrays on every
 * call): x and dy of `shape`, the saved statistics, and a weight of `channels` values.
 */
export function smallArgs(shape: number[], saved: () => { mean: Float32Array; rstd: Float32Array }, channels: number) {
  const n = shape.reduce((a, b) => a * b, 1);
  return {
    X: (): Tensor<Float32Array> => ({ data: f32(n), shape: shape.slice() }),
    DY: (): Tensor<Float32Array> => ({ data: f32(n, 0.25), shape: shape.slice() }),
    SAVED: saved,
    W: () => f32(channels, 1),
  };
}

/** The buffer of `a` detached (as transferring it to another thread does). */
export function detached<A extends FloatArray>(a: A): A {
  structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] });
  return a;
}
