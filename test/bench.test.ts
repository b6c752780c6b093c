// The benchmark's own machinery (bench/): the interleaved measurement, the output check that keeps
// a peer honest, the ONNX encoder the onnxruntime peer runs, the chart and the half-precision
// targets. No timing is asserted.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index.js';
// @ts-expect-error plain ESM benchmark modules, no type declarations
import { compareOutputs, measure } from '../bench/harness.mjs';
// @ts-expect-error plain ESM benchmark modules, no type declarations
import { renderChart } from '../bench/chart.mjs';
// @ts-expect-error plain ESM benchmark modules, no type declarations
import { singleNodeModel } from '../bench/peers/onnx-model.mjs';
// @ts-expect-error plain ESM benchmark modules, no type declarations
import { activationTargets, halfTargets } from '../bench/targets.mjs';

const budget = { warmSec: 0, minSec: 0.01, sampleSec: 0.001, minSamples: 5, maxSamples: 1000, maxInner: 10000 };

// A runner that reports `perCall` seconds per call and records the round order it was called in.
function fakeRunner(perCall: number, log: string[], name: string, group?: string) {
  return { group, sample: (inner: number) => { log.push(name); return perCall + 0 * inner; } };
}

describe('bench measure', () => {
  it('gives every regular runner the same rounds, slow runners 3 samples, and drops slow variants', async () => {
    const log: string[] = [];
    const runners = [
      fakeRunner(1e-6, log, 'fast'),
      fakeRunner(1e-3, log, 'medium'),
      fakeRunner(10, log, 'slow'), // 10 s per call: over the whole budget
      fakeRunner(2e-6, log, 'variant a', 'peer'),
      fakeRunner(5e-6, log, 'variant b', 'peer'), // 2.5× its group's best: not timed
    ];
    const results = await measure(runners, budget);
    const [fast, medium, slow, a, b] = results;
    expect(fast.samples.length).toBe(medium.samples.length);
    expect(a.samples.length).toBe(fast.samples.length);
    expect(fast.samples.length).toBeGreaterThanOrEqual(budget.minSamples);
    expect(slow.samples.length).toBe(3);
    expect(b.dropped).toBe(true);
    expect(fast.seconds).toBe(1e-6);
    expect(medium.seconds).toBe(1e-3);
    // rounds rotate: the first timed sample after the warm-ups starts with a different runner each round
    const timed = log.slice(log.lastIndexOf('variant b') + 1);
    expect(timed.slice(0, 2)).not.toEqual(timed.slice(4, 6));
  });

  it('accepts runners that return promises (peers in another process)', async () => {
    const results = await measure([{ sample: async () => 2e-6 }, { sample: () => 1e-6 }], budget);
    expect(results[0].seconds).toBe(2e-6);
    expect(results[1].seconds).toBe(1e-6);
  });
});

describe('bench compareOutputs', () => {
  const y = Float32Array.from([1, -2, 3]);
  it('accepts agreement within tol·(1 + scale) and names the output that disagrees', () => {
    expect(compareOutputs({ y }, { y: Float32Array.from([1.001, -2, 3]) }, 1e-3)).toBeNull();
    expect(compareOutputs({ y }, { y: Float32Array.from([1.1, -2, 3]) }, 1e-3)).toMatch(/^y: max \|diff\| 0\.1/);
    expect(compareOutputs({ y }, { y: Float32Array.from([NaN, -2, 3]) }, 1e-3)).toMatch(/^y: max \|diff\| NaN/);
    expect(compareOutputs({ y }, { y: new Float32Array(2) }, 1e-3)).toMatch(/2 values, expected 3/);
    expect(compareOutputs({ y }, { z: y }, 1e-3)).toMatch(/no output to compare/);
  });
});

describe('bench ONNX encoder', () => {
  let ort: any = null;
  try {
    ort = createRequire(__filename)('onnxruntime-node');
  } catch {
    // onnxruntime-node is an optional benchmark peer
  }
  it.skipIf(!ort)('builds a LayerNormalization model that onnxruntime runs and that matches fastnorm', async () => {
    const rows = 3;
    const cols = 37; // odd, around the vector width
    const x = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i) * 3 + 1);
    const w = Float32Array.from({ length: cols }, (_, i) => 0.5 + i / cols);
    const b = Float32Array.from({ length: cols }, (_, i) => i / cols - 0.5);
    const model = singleNodeModel({
      opType: 'LayerNormalization', opset: 21, attributes: { axis: { int: -1 }, epsilon: { float: 1e-5 } },
      inputs: [['X', [rows, cols]], ['S', [cols]], ['B', [cols]]], outputs: [['Y', [rows, cols]]],
    });
    const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
    const out = await session.run({
      X: new ort.Tensor('float32', x, [rows, cols]), S: new ort.Tensor('float32', w, [cols]), B: new ort.Tensor('float32', b, [cols]),
    });
    const expected = fastnorm.reference.layerNorm({ data: x, shape: [rows, cols] }, cols, { weight: w, bias: b, eps: 1e-5 }).y.data;
    expect(compareOutputs({ y: expected }, { y: out.Y.data }, 1e-5)).toBeNull();
    await session.release();
  });
});

describe('bench chart', () => {
  const row = (op: string, kind: string, mode: string, threads: number, speedupVsPeer: number | null) => ({
    op, dir: 'forward', shape: [8, 768], kind, mode, threads, seconds: 1e-3, speedupVsPeer, speedupVsJs: 2,
    fastestPeer: 'pytorch 1T (F)', fastestPeerName: 'pytorch', peer: kind === 'peer' ? 'pytorch' : undefined,
  });
  const machine = { cpu: 'test cpu', cores: 2, fastnorm: { isa: 'avx2' }, node: 'v20', date: '2026-01-01T00:00:00Z', loadavgStart: [1], loadavgEnd: [1] };
  it('draws one panel per op with a marker per native series, from the results JSON alone', () => {
    const rows = ['layerNorm', 'batchNorm NHWC'].flatMap((op) => [
      row(op, 'native', 'out', 1, 1.2), row(op, 'native', 'out', 2, 2.5), row(op, 'native', 'alloc', 2, 0.4),
      row(op, 'peer', 'alloc', 1, null),
    ]);
    const svg: string = renderChart({ machine, mode: 'full', rows });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('>layerNorm</text>');
    expect(svg).toContain('>batchNorm</text>');
    expect(svg).toContain('NHWC forward [8,768]');
    expect((svg.match(/<title>/g) ?? []).length).toBe(6);
    expect(svg).not.toMatch(/NaN|undefined/);
  });
  it('falls back to the speedup over the JS loop when the run had no peer', () => {
    const rows = [row('rmsNorm', 'native', 'out', 1, null), row('rmsNorm', 'native', 'out', 2, null)];
    const svg: string = renderChart({ machine, mode: 'quick', rows });
    expect(svg).toContain('plain-JavaScript loop');
    expect((svg.match(/<title>/g) ?? []).length).toBe(2);
  });
});

describe('bench targets against a twin row (half precision, fused activation)', () => {
  const shape = [4, 8];
  const row = (op: string, dir: string, threads: number, seconds: number, copyFraction = 1, mode = 'out') =>
    ({ op, dir, shape, kind: 'native', mode, threads, seconds, copyFraction });
  const scenario = (op: string, dir: string) => ({ op, dir, shape });
  type Line = { target: string; measured: string; met: boolean };
  it('compares each half row with the float32 row of the same op, direction, shape and thread count', () => {
    const rows = [
      row('layerNorm', 'forward', 1, 1.8), row('layerNorm', 'forward', 2, 1.0),
      row('layerNorm f16', 'forward', 1, 1.0, 0.9), row('layerNorm f16', 'forward', 2, 0.5, 0.86),
      row('layerNorm f16', 'forward', 2, 0.1, 0.1, 'alloc'), // allocating rows do not count
      row('layerNorm bf16', 'forward', 1, 1.0, 0.8), // fast enough, below 85% of copy
      row('batchNorm', 'train bwd', 1, 1.5), row('batchNorm bf16', 'train bwd', 1, 1.0, 0.1), // backward: 1.5×, no copy bar
      row('rmsNorm', 'backward', 1, 1.4), row('rmsNorm f16', 'backward', 1, 1.0),
    ];
    const lines: Line[] = halfTargets(rows, [
      scenario('layerNorm', 'forward'), scenario('layerNorm f16', 'forward'), scenario('layerNorm bf16', 'forward'),
      scenario('batchNorm bf16', 'train bwd'), scenario('rmsNorm f16', 'backward'), scenario('groupNorm f16', 'forward'),
    ]);
    expect(lines.map((l) => [l.target, l.measured, l.met])).toEqual([
      ['layerNorm f16 forward [4,8] out: ≥ 1.7× the float32 op, ≥ 85% of copy', '1T 1.80× 90%, 2T 2.00× 86%', true],
      ['layerNorm bf16 forward [4,8] out: ≥ 1.7× the float32 op, ≥ 85% of copy', '1T 1.80× 80%', false],
      ['batchNorm bf16 train bwd [4,8] out: ≥ 1.5× the float32 op', '1T 1.50×', true],
      ['rmsNorm f16 backward [4,8] out: ≥ 1.5× the float32 op', '1T 1.40×', false],
    ]); // groupNorm f16 has no rows: no line
  });
  it('holds a fused activation to 1.1× the time of the same norm without it', () => {
    const rows = [
      row('groupNorm NHWC', 'forward', 1, 1.0), row('groupNorm NHWC + relu', 'forward', 1, 1.05),
      row('groupNorm NHWC', 'forward', 2, 1.0), row('groupNorm NHWC + relu', 'forward', 2, 1.2),
      row('batchNorm', 'train bwd', 1, 2.0), row('batchNorm + gelu-tanh', 'train bwd', 1, 2.1),
    ];
    const lines: Line[] = activationTargets(rows, [
      scenario('groupNorm NHWC', 'forward'), scenario('groupNorm NHWC + relu', 'forward'), scenario('batchNorm + gelu-tanh', 'train bwd'),
    ]);
    expect(lines.map((l) => [l.target, l.measured, l.met])).toEqual([
      ['groupNorm NHWC + relu forward [4,8] out: ≤ 1.1× the norm without activation', '1T 1.05×, 2T 1.20×', false],
      ['batchNorm + gelu-tanh train bwd [4,8] out: ≤ 1.1× the norm without activation', '1T 1.05×', true],
    ]);
  });
});
