// Shared by the fastnorm/nn tests: building a module from PyTorch's class name and keyword
// arguments, moving a tensor's channel axis last (the NHWC layout) and back, and the semantics
// fixture (PyTorch's own module results, written by test/fixtures/nn/make_semantics.py).
import path from 'node:path';
import type { Tensor } from '../src/api/types';
import * as nn from '../src/nn';
import { REPO_ROOT } from './helpers';

export const SEMANTICS_FILE = path.join(REPO_ROOT, 'test', 'fixtures', 'nn', 'nn-semantics.safetensors');

export type ModuleName = 'BatchNorm1d' | 'BatchNorm2d' | 'BatchNorm3d' | 'InstanceNorm1d' | 'InstanceNorm2d' | 'InstanceNorm3d' |
  'GroupNorm' | 'LayerNorm' | 'RMSNorm';

/** PyTorch's keyword names → fastnorm/nn's option names. */
const OPTION_NAMES: Record<string, string> = {
  eps: 'eps', momentum: 'momentum', affine: 'affine', track_running_stats: 'trackRunningStats',
  elementwise_affine: 'elementwiseAffine', bias: 'bias',
};

export const CHANNEL_MODULES: readonly ModuleName[] = ['BatchNorm1d', 'BatchNorm2d', 'BatchNorm3d', 'InstanceNorm1d', 'InstanceNorm2d',
  'InstanceNorm3d', 'GroupNorm'];

/** `new nn[name](...args, opts)` with PyTorch's keyword arguments translated. */
export function buildModule(name: ModuleName, args: unknown[], kwargs: Record<string, unknown>, extra: Record<string, unknown> = {}): nn.NormModule {
  const opts: Record<string, unknown> = { ...extra };
  for (const [k, v] of Object.entries(kwargs)) {
    if (!(k in OPTION_NAMES)) throw new Error(`no fastnorm/nn option for PyTorch's ${k}`);
    opts[OPTION_NAMES[k]] = v;
  }
  const Ctor = nn[name] as unknown as new (...a: unknown[]) => nn.NormModule;
  return new Ctor(...args, opts);
}

/** The data of `t` with axis `axis` moved last (NCHW → NHWC when axis is the channel axis). */
export function moveAxisLast<A extends Float32Array | Float64Array>(t: { data: A; shape: readonly number[] }, axis: number): { data: A; shape: number[] } {
  const shape = t.shape.slice();
  const outer = shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const c = shape[axis];
  const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const out = new (t.data.constructor as new (n: number) => A)(t.data.length);
  for (let o = 0; o < outer; o++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < inner; i++) out[(o * inner + i) * c + ch] = t.data[(o * c + ch) * inner + i];
  return { data: out, shape: [...shape.slice(0, axis), ...shape.slice(axis + 1), c] };
}

/** The inverse of moveAxisLast: the last axis moved back to `axis`. */
export function moveLastAxisTo<A extends Float32Array | Float64Array>(t: { data: A; shape: readonly number[] }, axis: number): { data: A; shape: number[] } {
  const shape = t.shape.slice();
  const c = shape[shape.length - 1];
  const rest = shape.slice(0, -1);
  const outer = rest.slice(0, axis).reduce((p, d) => p * d, 1);
  const inner = rest.slice(axis).reduce((p, d) => p * d, 1);
  const out = new (t.data.constructor as new (n: number) => A)(t.data.length);
  for (let o = 0; o < outer; o++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < inner; i++) out[(o * c + ch) * inner + i] = t.data[(o * inner + i) * c + ch];
  return { data: out, shape: [...rest.slice(0, axis), c, ...rest.slice(axis)] };
}

/** The channel axis of an NCHW input of a module (0 for an unbatched InstanceNorm input). */
export function channelAxisOf(name: ModuleName, rank: number): number {
  const unbatched = { InstanceNorm1d: 2, InstanceNorm2d: 3, InstanceNorm3d: 4 } as Record<string, number>;
  return unbatched[name] === rank ? 0 : 1;
}

export interface SemanticsCase {
  id: string;
  module: ModuleName;
  args: unknown[];
  kwargs: Record<string, unknown>;
  shape: number[];
  steps: ('train' | 'eval')[];
  dtype: 'float32' | 'float64';
}

export function loadSemantics(): { cases: SemanticsCase[]; tensors: Record<string, nn.TypedTensor>; torch: string } {
  const { metadata } = nn.readSafetensorsHeader(SEMANTICS_FILE);
  const tensors = nn.loadSafetensors(SEMANTICS_FILE);
  return { cases: JSON.parse(metadata!.cases) as SemanticsCase[], tensors, torch: metadata!.torch };
}

/** The tensors of one case with a key prefix, stripped of it. */
export function withPrefix(tensors: Record<string, nn.TypedTensor>, prefix: string): Record<string, nn.TypedTensor> {
  const out: Record<string, nn.TypedTensor> = {};
  for (const [k, v] of Object.entries(tensors)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
  return out;
}

export function asTensor(t: nn.TypedTensor): Tensor {
  return { data: t.data as Float32Array | Float64Array, shape: t.shape.slice() };
}
