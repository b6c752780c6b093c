// Large outputs from the addon's recycled blocks (native/binding/output_blocks.cc, used by
// src/api/alloc.ts): a recycled block's earlier values never show through, results are the
// `out` call's bitwise, and the blocks out stay bounded in a synchronous loop (where Node runs
// no finalizer) as in one that yields.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { nativeAddon } from '../src/backends/default';
import * as fastnorm from '../src/index';
import { expectBitwiseEqualDeep, requireNative } from './helpers';

requireNative();
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const turn = () => new Promise((resolve) => setImmediate(resolve));
const LIVE_CAP = 256 * 2 ** 20;

const [rows, cols] = [1024, 512]; // 2 MiB of float32: above the block threshold (1 MiB)
const x = { data: Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i) * 3 + 1), shape: [rows, cols] };
const expected = () => {
  const out = { y: new Float32Array(rows * cols), mean: new Float32Array(rows), rstd: new Float32Array(rows) };
  return fastnorm.layerNorm(x, cols, { out });
};
const stats = () => nativeAddon!._outputBlockStats();

/** Collects what is unreferenced and lets Node run the finalizers it queued. */
async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc();
    await turn();
  }
}

describe('recycled output blocks', () => {
  it('a recycled block, poisoned, comes back fully overwritten: the out call bitwise', async () => {
    await collect();
    for (let i = 0; i < 4; i++) {
      const block = nativeAddon!._allocateOutput(rows * cols * 4);
      expect(block).toBeInstanceOf(ArrayBuffer);
      new Float32Array(block!).fill(Number.NaN);
    }
    await collect();
    nativeAddon!._outputBlockStats(true);
    const got = fastnorm.layerNorm(x, cols);
    expect(stats().reused, 'the output came from a recycled block').toBe(1);
    expectBitwiseEqualDeep(got, expected());
  });

  it('float64 and the backward take blocks as well, with the out call\'s results', async () => {
    await collect();
    nativeAddon!._outputBlockStats(true);
    const x64 = { data: Float64Array.from(x.data), shape: x.shape };
    const fwd = fastnorm.layerNorm(x64, cols);
    const dy = { data: Float64Array.from(x.data, (v) => v * 0.5 - 1), shape: x.shape };
    const bwd = fastnorm.layerNormBackward(dy, x64, fwd, cols);
    const s = stats();
    expect(s.reused + s.fresh).toBeGreaterThanOrEqual(2);
    const outF = { y: new Float64Array(rows * cols), mean: new Float64Array(rows), rstd: new Float64Array(rows) };
    expectBitwiseEqualDeep(fwd, fastnorm.layerNorm(x64, cols, { out: outF }));
    expectBitwiseEqualDeep(bwd, fastnorm.layerNormBackward(dy, x64, outF, cols, { out: { dx: new Float64Array(rows * cols) } }));
  });

  it('a synchronous loop stays within the cap and falls back past it', async () => {
    await collect();
    nativeAddon!._outputBlockStats(true);
    const want = expected();
    for (let i = 0; i < 200; i++) {
      const got = fastnorm.layerNorm(x, cols);
      expect(stats().live).toBeLessThanOrEqual(LIVE_CAP);
      if (i % 50 === 0) expectBitwiseEqualDeep(got, want);
    }
    expect(stats().refused, 'no finalizer ran: past the cap, allocUnsafeSlow').toBeGreaterThan(0);
    await collect();
    expect(stats().live, 'every block back once collected').toBe(0);
  });

  it('a loop that yields recycles its blocks and stays bounded', async () => {
    await collect();
    nativeAddon!._outputBlockStats(true);
    let maxLive = 0;
    for (let i = 0; i < 100; i++) {
      fastnorm.layerNorm(x, cols);
      if (i % 10 === 9) gc();
      await turn();
      maxLive = Math.max(maxLive, stats().live);
    }
    const s = stats();
    expect(s.reused).toBeGreaterThan(s.fresh);
    expect(maxLive).toBeLessThanOrEqual(LIVE_CAP);
    expect(s.idle).toBeLessThanOrEqual(128 * 2 ** 20);
  });
});
