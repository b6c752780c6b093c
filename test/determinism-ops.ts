// DESIGN §3: results are bitwise identical for every thread count, and (the stated goal) for
// every SIMD path. For every op of the table (its row of op-cases.ts), every supported ISA ×
// threads {1, 2, 3, 8} must reproduce the bits of the first configuration, on inputs big enough
// to be split over threads (≥ 1<<16 values; the kernels run inline below 1<<15) that take each
// kernel path, in both dtypes and layouts, training and eval, and on ill-conditioned data.
//
// The ops are split over three test files (OP_FAMILIES: the row norms, BatchNorm and the sync-BN
// blocks, the rest), so that vitest's two workers share the work: in one file it was the run's
// long tail (10 of the sanitizer step's 15 minutes, most of the emulated arm64 run).
import { describe, expect, it } from 'vitest';
import { OP_TABLE, type OpName } from '../src/api/op-table';
import type { FloatArray } from '../src/api/types';
import { nativeAddon } from '../src/backends/default';
import * as fastnorm from '../src/index';
import { DTYPES, expectBitwiseEqual, isaThreadConfigs } from './helpers';
import { ALL_FLAGS, arraysIn, OP_CASES, OP_NAMES, takesHalf, toHalf, typedArraysIn, type DataKind, type OpFlags, type OpInput } from './op-cases';

const isRowOp = (name: OpName) => /^(layerNorm|rmsNorm|addLayerNorm|addRmsNorm)/.test(name);
const isBatchNormOp = (name: OpName) => name.startsWith('batchNorm');
/** Every op in exactly one family (the last takes whatever the first two do not). */
export const OP_FAMILIES = {
  rows: OP_NAMES.filter(isRowOp),
  batchNorm: OP_NAMES.filter(isBatchNormOp),
  rest: OP_NAMES.filter((name) => !isRowOp(name) && !isBatchNormOp(name)),
};

// Inputs of every op (op-cases.ts: [a, b, c] is a row op's [rows..., cols] and a channel op's
// (N, C, S)), each big enough to be split over threads (≥ 1<<16 values) and chosen for the
// kernel paths it takes.
export const INPUTS: Array<[string, OpInput['dims'], DataKind?]> = [
  ['[300, 4, 64]: many short rows; BatchNorm NCHW short planes, NHWC C = 4 (periodic)', [300, 4, 64]],
  ['[3, 2, 35000]: huge rows (blocked path); NCHW planes of several blocks, NHWC C = 2', [3, 2, 35000]],
  ['[2, 300, 225]: NHWC lane-per-channel path, C = 300 (two channel chunks per tile)', [2, 300, 225]],
  ['[1, 2, 140000]: GroupNorm units beyond L2 (waves at 3 and 8 threads)', [1, 2, 140000]],
  ['[3, 12, 3600], far-off starts (redo passes)', [3, 12, 3600], 'farStart'],
  ['[4, 16, 1100], offset by 1e4', [4, 16, 1100], 'offset'],
];
const FLAGS: Array<[string, OpFlags]> = [
  ['', ALL_FLAGS],
  [', alt (two normalized dims, NHWC), gelu', { ...ALL_FLAGS, alt: true, activation: 'gelu' }],
];
const EVAL_FLAGS: [string, OpFlags] = [', eval (running statistics), NHWC, silu', { ...ALL_FLAGS, alt: true, eval: true, activation: 'silu' }];
/** The flag sets of an op: eval too when its kernel has a mode (training, useInputStats). */
const flagsOf = (name: OpName) =>
  (OP_TABLE[name].kernel.fields as readonly { name: string }[]).some((f) => f.name === 'training' || f.name === 'useInputStats')
    ? [...FLAGS, EVAL_FLAGS] : FLAGS;

type AnyOp = (...args: unknown[]) => unknown;
const sync = fastnorm as unknown as Record<string, AnyOp>;

/** Every array an op's call produced or updated: its result and its arguments (running statistics). */
function outputsOf(name: OpName, argsOf: () => unknown[]): Record<string, FloatArray> {
  const args = argsOf();
  const result = sync[name](...args);
  return Object.fromEntries([...typedArraysIn(result).map(([p, a]) => [`result.${p}`, a]), ...typedArraysIn(args).map(([p, a]) => [`args.${p}`, a])]);
}

/** outputsOf with half-precision outputs too (their bits, as float32 numbers, for the bitwise comparison). */
function halfOutputsOf(name: OpName, argsOf: () => unknown[]): Record<string, FloatArray> {
  const args = argsOf();
  const result = sync[name](...args);
  const asFloat = (a: FloatArray | Uint16Array): FloatArray => (a instanceof Uint16Array ? Float32Array.from(a) : a);
  return Object.fromEntries([...arraysIn(result).map(([p, a]) => [`result.${p}`, asFloat(a)]),
    ...arraysIn(args).map(([p, a]) => [`args.${p}`, asFloat(a)])]);
}

/** The ISA × threads tests of each op of `names`. */
export function describeOpDeterminism(names: readonly OpName[]): void {
  const addon = nativeAddon!;
  const { initial, expectSameBitsEverywhere } = isaThreadConfigs();
  describe.each(names)('%s: bitwise identical for every ISA × threads {1, 2, 3, 8}', (name) => {
    it.each(INPUTS)('%s, both dtypes and layouts (and modes)', (what, dims, data) => {
      for (const dtype of DTYPES) {
        for (const [flagsWhat, flags] of flagsOf(name)) {
          const input: OpInput = { seed: dims[1] * 7 + dims[2], dtype, dims, flags, data };
          // every configuration gets its own copy of the same arguments (running statistics are updated in place)
          const args = OP_CASES[name].args(input);
          expectSameBitsEverywhere(() => outputsOf(name, () => structuredClone(args)), `${name} ${dtype} ${what}${flagsWhat}`);
        }
      }
    });

    // Half precision (float16/bfloat16 tensors, float32 parameters and statistics): two of the
    // inputs' paths in each format (short rows / periodic NHWC, and lane-per-channel NHWC).
    // (batchNormGatherStats takes no tensor: no test, rather than a skipped one, which CI refuses)
    if (takesHalf(name))
      it.each(['float16', 'bfloat16'] as const)('%s tensors: the same bits everywhere', (format) => {
        for (const [what, dims] of [INPUTS[0], INPUTS[2]]) {
          for (const [flagsWhat, flags] of format === 'float16' ? [FLAGS[0]] : [FLAGS[1]]) {
            const args = OP_CASES[name].args({ seed: dims[1] * 5 + dims[2], dtype: 'float32', dims, flags });
            toHalf(args, format);
            expectSameBitsEverywhere(() => halfOutputsOf(name, () => structuredClone(args)), `${name} ${format} ${what}${flagsWhat}`);
          }
        }
      });

    // Streaming stores change how outputs are written, never what: with the threshold at 0 every
    // output (vector tails, odd offsets, tiny planes) takes the streaming path, at ∞ none does.
    it('streaming stores on every output give the bits of regular stores (_setStreamingBytes 0 vs ∞)', () => {
      const previous = addon._setStreamingBytes(0);
      expect(addon._setStreamingBytes(Infinity), 'the hook returns the setting it replaces').toBe(0);
      expect(addon._setStreamingBytes(0)).toBe(Infinity);
      try {
        for (const threads of [1, 3]) {
          fastnorm.setNumThreads(threads);
          for (const dims of [[3, 5, 17], [2, 6, 769], [3, 2, 35000]] as Array<OpInput['dims']>) {
            for (const dtype of DTYPES) {
              for (const [flagsWhat, flags] of flagsOf(name)) {
                const args = OP_CASES[name].args({ seed: dims[2], dtype, dims, flags });
                addon._setStreamingBytes(0);
                const streamed = outputsOf(name, () => structuredClone(args));
                addon._setStreamingBytes(Infinity);
                const regular = outputsOf(name, () => structuredClone(args));
                for (const k of Object.keys(regular)) expectBitwiseEqual(streamed[k], regular[k], `${name} ${dtype} [${dims}]${flagsWhat} ${threads}T ${k}`);
              }
            }
          }
        }
      } finally {
        addon._setStreamingBytes(previous);
        fastnorm.setNumThreads(initial.threads);
      }
    });

    it('the same call repeated at 8 threads gives the same bits (no racy accumulation)', () => {
      const args = OP_CASES[name].args({ seed: 3, dtype: 'float32', dims: [8, 64, 576], flags: ALL_FLAGS });
      fastnorm.setNumThreads(8);
      try {
        const first = outputsOf(name, () => structuredClone(args));
        for (let rep = 0; rep < 3; rep++) {
          const again = outputsOf(name, () => structuredClone(args));
          for (const k of Object.keys(first)) expectBitwiseEqual(again[k], first[k], `${name} ${k} (repeat ${rep})`);
        }
      } finally {
        fastnorm.setNumThreads(initial.threads);
      }
    });
  });
}
