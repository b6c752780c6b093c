// BatchNorm test helpers shared by the test/batch-norm*.test.ts files: shapes in either layout,
// seeded inputs, the channel of a flat index, layout transposition, batch shards and the
// natural magnitude of dx. The closeness checks themselves are helpers.ts's (one definition).
import type { FloatArray, Layout, Tensor } from '../src/api/types';
import { CTORS, makeRng, product, randn, type DType, type Rng } from './helpers';

export const LAYOUTS: Layout[] = ['NCHW', 'NHWC'];

/** The shape of N samples × C channels × spatial dims in the layout: (N, C, *sp) or (N, *sp, C). */
export function bnShape(layout: Layout, n: number, c: number, spatial: readonly number[] = []): number[] {
  return layout === 'NCHW' ? [n, c, ...spatial] : [n, ...spatial, c];
}

/** (N, C, S) of a shape in the layout. */
export function dims(shape: readonly number[], layout: Layout): { n: number; c: number; s: number } {
  const n = shape[0];
  const c = layout === 'NCHW' ? shape[1] : shape[shape.length - 1];
  const s = layout === 'NCHW' ? product(shape.slice(2)) : product(shape.slice(1, -1));
  return { n, c, s };
}

/** channel of every flat index, as a function. */
export function channelIndexer(shape: readonly number[], layout: Layout): (i: number) => number {
  const { c, s } = dims(shape, layout);
  return layout === 'NCHW' ? (i) => Math.floor(i / s) % c : (i) => i % c;
}

/** The same values in the other layout: NCHW (N, C, S) <-> NHWC (N, S, C). */
export function transpose(data: FloatArray, n: number, c: number, s: number, from: Layout): FloatArray {
  const out = new (data.constructor as typeof Float32Array | typeof Float64Array)(data.length);
  for (let ni = 0; ni < n; ni++)
    for (let ci = 0; ci < c; ci++)
      for (let si = 0; si < s; si++) {
        const nchw = (ni * c + ci) * s + si;
        const nhwc = (ni * s + si) * c + ci;
        if (from === 'NCHW') out[nhwc] = data[nchw];
        else out[nchw] = data[nhwc];
      }
  return out;
}

/** Samples [n0, n1) of a tensor (N is the leading dim in both layouts: a contiguous view). */
export function batchSlice<A extends FloatArray>(t: Tensor<A>, n0: number, n1: number): Tensor<A> {
  const per = t.shape[0] === 0 ? 0 : t.data.length / t.shape[0];
  return { data: t.data.subarray(n0 * per, n1 * per) as A, shape: [n1 - n0, ...t.shape.slice(1)] };
}

export interface BnSpec {
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
export function bnInputs(spec: BnSpec) {
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

/** ||rstd_c·dy·w_c||₂ over the finite terms: the natural magnitude of a BatchNorm dx (the size of
 * the terms of dx = w·rstd·(dy − mean(dy) − x̂·mean(dy·x̂)) before they cancel). */
export function bnDxTermsNorm(dy: FloatArray, rstd: ArrayLike<number>, shape: readonly number[], layout: Layout,
  weight?: ArrayLike<number>): number {
  const ch = channelIndexer(shape, layout);
  let s = 0;
  for (let i = 0; i < dy.length; i++) {
    const c = ch(i);
    const t = rstd[c] * dy[i] * (weight ? weight[c] : 1);
    if (Number.isFinite(t)) s += t * t;
  }
  return Math.sqrt(s);
}

